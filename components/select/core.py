"""The select component's core: evaluate candidates, choose the best, bless it, push it, report.

    select_models(dataset_dir, candidates=[...], model_repo=..., output_dir=...) -> selection dict

The returned dict is what `selection.json` holds (format SELECTION_FORMAT):
    dataset            {dir, name, version, fingerprint, split, num_examples, source, splits
                        {split: examples}, image_shape, preprocessing}
    metric, higher_is_better, thresholds {min_accuracy, min_improvement}
    class_names        the dataset's class names (the confusion matrices' row/column order)
    candidates         [{name, model_type, model_dir, saved_model_dir, dataset_fingerprint,
                         same_dataset, training {..., history [per-epoch loss, accuracy,
                         val_loss, val_accuracy]}, metrics {accuracy, loss, macro_precision,
                         macro_recall, macro_f1, num_examples}, per_class [...],
                         confusion_matrix [[...]], eval_seconds}]   in input order
    ranking            candidate names, best first
    winner             the best candidate's name; confusion_matrix: the winner's
    baseline           null or {name, source, model_dir, saved_model_dir, version, metrics, ...}
    baseline_note      why there is no baseline (when there is none)
    blessed, checks [{check, passed, detail}], reason (one line)
    pushed             null or {model_repo, model_name, version, path}
No KFP import here: the KFP wrapper and the CLI both call this.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from distml.components.common import model_artifact
from distml.components.common.errors import UsageError
from distml.components.common.files import atomic_directory, check_output_dir
from distml.components.ingest.reader import data_location, load_metadata, verify_shards
from distml.components.select import blessing
from distml.components.select import candidates as candidates_mod
from distml.components.select.metrics import HIGHER_IS_BETTER
from distml.components.select.report import write_report
from distml.components.select.spec import DEFAULTS

log = logging.getLogger("distml")

SELECTION_FORMAT = "distml.selection/v1"
SELECTION_FILE = "selection.json"
BASELINE_LATEST = "latest"


def select_models(
    dataset_dir: Path | str,
    candidates: Sequence[Path | str] = (),
    *,
    candidates_dir: Path | str | None = None,
    model_repo: Path | str | None = None,
    model_name: str = DEFAULTS.model_name,
    metric: str = DEFAULTS.metric,
    min_accuracy: float = DEFAULTS.min_accuracy,
    min_improvement: float = DEFAULTS.min_improvement,
    baseline: Path | str | None = None,
    output_dir: Path | str | None = None,
    split: str = DEFAULTS.split,
    batch_size: int = DEFAULTS.batch_size,
    follow_location: bool = DEFAULTS.follow_location,
) -> dict[str, object]:
    """Evaluate every candidate on `split`, bless the best, push it to `model_repo` if blessed.

    The parameters and their defaults are declared in spec.py. `baseline` is None, a model path, or "latest" (the newest version in the repository;
    none yet means no baseline). Writes selection.json, report.md and charts to
    `output_dir` when given (absent or empty: a mount point is written into). A pointer
    dataset artifact (metadata only) is read where it points only with `follow_location`.
    Returns the selection dict (see the module docstring).
    """
    _check_arguments(metric, min_accuracy, batch_size, model_name, baseline, model_repo)
    if output_dir is not None:
        check_output_dir(output_dir, what="--output-dir", replace_existing=True)
    dataset_dir = Path(dataset_dir)
    metadata = load_metadata(dataset_dir)
    if split not in metadata["splits"]:
        raise UsageError(
            f"--split {split}: dataset {dataset_dir} has no such split (has {', '.join(metadata['splits'])})"
        )
    # Once here, not per candidate.
    data_dir = data_location(dataset_dir, metadata, follow_location=follow_location)
    verify_shards(data_dir, metadata["splits"][split]["shards"])

    refs = candidates_mod.load_candidates(candidates_mod.candidate_paths(candidates, candidates_dir))
    baseline_ref, baseline_source, baseline_note = _resolve_baseline(baseline, model_repo, model_name)

    from distml.components.select.evaluate import ServingModel, evaluate

    # Load and check every model before evaluating any: a bad one fails in seconds.
    models = [ServingModel(ref, metadata) for ref in refs]
    baseline_model = ServingModel(baseline_ref, metadata) if baseline_ref else None

    evaluated = [
        _entry(model.ref, metadata) | evaluate(model, data_dir, metadata, split, batch_size) for model in models
    ]
    ranking = [c["name"] for c in blessing.rank(evaluated, metric)]
    winner = next(c for c in evaluated if c["name"] == ranking[0])

    baseline_entry = None
    if baseline_model:
        baseline_entry = _entry(baseline_ref, metadata) | evaluate(
            baseline_model, data_dir, metadata, split, batch_size
        )
        baseline_entry["source"] = baseline_source
        baseline_entry["version"] = _version_of(baseline_ref)

    blessed, checks = blessing.bless(
        winner["metrics"],
        metric,
        min_accuracy=min_accuracy,
        baseline_metrics=baseline_entry["metrics"] if baseline_entry else None,
        min_improvement=min_improvement,
    )
    # Blessed: every check passed, say them all. Not blessed: only the failures matter.
    reason = "; ".join(c["detail"] for c in checks if blessed or not c["passed"])

    pushed = None
    if blessed and model_repo:
        version, path = model_artifact.push(winner["saved_model_dir"], model_repo, model_name)
        pushed = {"model_repo": str(model_repo), "model_name": model_name, "version": version, "path": str(path)}

    selection = {
        "format": SELECTION_FORMAT,
        "dataset": {
            "dir": str(dataset_dir),
            "name": metadata.get("name", ""),
            "version": metadata.get("version", ""),
            "fingerprint": metadata["fingerprint"],
            "split": split,
            "num_examples": metadata["splits"][split]["num_examples"],
            "source": metadata.get("source", ""),
            "splits": {name: info["num_examples"] for name, info in metadata["splits"].items()},
            "image_shape": metadata.get("image_shape"),
            "preprocessing": metadata.get("preprocessing"),
        },
        "model_name": model_name,
        "metric": metric,
        "higher_is_better": HIGHER_IS_BETTER[metric],
        "thresholds": {"min_accuracy": min_accuracy, "min_improvement": min_improvement},
        "class_names": list(metadata["class_names"]),
        "candidates": evaluated,
        "ranking": ranking,
        "winner": winner["name"],
        "confusion_matrix": winner["confusion_matrix"],
        "baseline": baseline_entry,
        "baseline_note": baseline_note,
        "blessed": blessed,
        "checks": checks,
        "reason": reason,
        "pushed": pushed,
    }
    log.info(
        "winner %s (%s %.4f): %s%s",
        winner["name"],
        metric,
        winner["metrics"][metric],
        "blessed" if blessed else "not blessed",
        f", pushed as version {pushed['version']}" if pushed else "",
    )
    if output_dir is not None:
        write_outputs(selection, output_dir)
    return selection


def write_outputs(selection: Mapping[str, object], output_dir: Path | str) -> None:
    """selection.json (moved in last: its presence means the report is complete), report.md,
    report.html (self-contained), charts; into `output_dir` (created, or written into when it
    exists: an earlier selection there is replaced, selection.json first removed and last written)."""
    with atomic_directory(output_dir, last=SELECTION_FILE, replace_existing=True) as staging:
        write_report(selection, staging)
        (staging / SELECTION_FILE).write_text(json.dumps(selection, indent=2) + "\n")


def _check_arguments(metric, min_accuracy, batch_size, model_name, baseline, model_repo):
    blessing.check_metric(metric)
    if not 0.0 <= min_accuracy <= 1.0:
        raise UsageError(f"--min-accuracy must be between 0 and 1, got {min_accuracy}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    model_artifact.check_model_name(model_name)
    if baseline == BASELINE_LATEST and not model_repo:
        raise UsageError("--baseline latest needs --model-repo (the baseline is the repository's newest version)")


def _resolve_baseline(baseline, model_repo, model_name):
    """(ModelRef or None, source, note when there is none)."""
    if not baseline:
        return None, None, "none given"
    if baseline == BASELINE_LATEST:
        latest = model_artifact.latest_version(model_repo, model_name)
        if latest is None:
            note = f"{model_artifact.model_base(model_repo, model_name)} has no version yet (first push)"
            log.info("no baseline: %s", note)
            return None, None, note
        version, path = latest
        return candidates_mod.load_ref(path, name=f"{model_name} v{version}"), BASELINE_LATEST, None
    return candidates_mod.load_ref(baseline, name="baseline", flag="--baseline"), str(baseline), None


def _entry(ref, metadata):
    fingerprint = ref.info.get("dataset_fingerprint")
    if fingerprint and fingerprint != metadata["fingerprint"]:
        log.warning(
            "%s was trained on another dataset artifact (fingerprint %s, evaluating on %s)",
            ref.name,
            fingerprint[:12],
            metadata["fingerprint"][:12],
        )
    return {
        "name": ref.name,
        "model_type": ref.info.get("model_type", ""),
        "model_dir": str(ref.model_dir),
        "saved_model_dir": str(ref.saved_model_dir),
        "dataset_fingerprint": fingerprint,
        "same_dataset": fingerprint == metadata["fingerprint"] if fingerprint else None,
        "training": ref.training,
    }


def _version_of(ref):
    name = ref.saved_model_dir.name
    return int(name) if name.isdigit() else name
