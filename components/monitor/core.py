"""The monitor component's core: is what the model now sees still what it was trained for?

    monitor(reference_dataset=..., model=..., request_logs=[...] | current_dataset=..., output_dir=...) -> report dict

Reference: the training dataset artifact's statistics (its `train` split: inputs and class
balance) and the served model's predictions on the held-out split (`validation`, else
`test`): what the model's outputs looked like when it was blessed.
Current: the request log (the local server's JSON lines or KServe logger CloudEvents), or a
new dataset artifact (a fresh batch of labelled data: then class balance and accuracy too).

The report (drift.json, format REPORT_FORMAT; report.md and PNG charts beside it):
    reference {dataset, fingerprint, split, prediction_split, model, num_images}
    current   {source, num_images, num_requests, num_predictions, versions, skipped}
    thresholds {psi, alpha, alpha_per_test, min_samples, max_accuracy_drop}
    features  [{name, group, kind, psi, test, statistic, p_value, drifted, reference_mean, current_mean}]
    drifted   names of the drifted features
    status    "drift" | "no drift" | "insufficient data";  retrain  true | false;  reason (one line)
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from distml.components.common.errors import UsageError
from distml.components.common.files import write_text_atomic
from distml.components.common.image_features import IMAGE_FEATURES
from distml.components.common.model_artifact import MODEL_INFO
from distml.components.common.preprocessing import params_of
from distml.components.ingest.reader import load_metadata
from distml.components.monitor import drift, profiles
from distml.components.monitor.request_log import read_traffic
from distml.components.monitor.spec import DEFAULTS

log = logging.getLogger("distml")

REPORT_FORMAT = "distml.drift-report/v1"
REPORT_JSON = "drift.json"


def monitor(
    reference_dataset: Path | str | None = None,
    *,
    datasets_root: Path | str | None = None,
    model: Path | str | None = None,
    model_repo: Path | str | None = None,
    model_name: str | None = DEFAULTS.model_name,
    request_logs: Sequence[Path | str] = (),
    current_dataset: Path | str | None = None,
    current_splits: Sequence[str] | None = None,
    reference_split: str = DEFAULTS.reference_split,
    output_dir: Path | str | None = None,
    psi_threshold: float = DEFAULTS.psi_threshold,
    alpha: float = DEFAULTS.alpha,
    min_samples: int = DEFAULTS.min_samples,
    max_accuracy_drop: float = DEFAULTS.max_accuracy_drop,
) -> dict[str, object]:
    """Compare the current population with the reference; return the report (and write it to `output_dir`).

    The parameters and their defaults are declared in spec.py."""
    _check_arguments(request_logs, current_dataset, psi_threshold, alpha, min_samples, max_accuracy_drop)
    saved_model_dir = resolve_model(model, model_repo, model_name)
    reference_dataset = resolve_reference_dataset(reference_dataset, datasets_root, saved_model_dir)
    metadata = load_metadata(reference_dataset)
    if reference_split not in metadata["splits"]:
        raise UsageError(
            f"--reference-split {reference_split}: the reference dataset {reference_dataset} has no such split "
            f"(has {', '.join(metadata['splits'])})"
        )

    loaded = profiles.Model(saved_model_dir, metadata) if saved_model_dir else None
    reference, prediction_split = reference_profile(reference_dataset, metadata, loaded, reference_split)

    skipped, requests, versions, unpaired = [], None, {}, 0
    if current_dataset is not None:
        current = profiles.dataset_profile(current_dataset, current_splits, loaded, metadata)
    else:
        traffic = read_traffic(request_logs, metadata["image_shape"], params_of(metadata))
        current = profiles.traffic_profile(traffic, metadata["num_classes"], ", ".join(map(str, request_logs)))
        skipped, requests, versions, unpaired = traffic.skipped, traffic.requests, traffic.versions, traffic.unpaired

    thresholds = dict(psi=psi_threshold, alpha=alpha, min_samples=min_samples, max_accuracy_drop=max_accuracy_drop)
    features = compare(reference, current, psi_threshold, alpha, max_accuracy_drop)
    report = _report(
        reference,
        current,
        features,
        metadata,
        reference_split,
        prediction_split,
        saved_model_dir,
        thresholds,
        requests,
        versions,
        skipped,
        unpaired,
    )
    log.info("monitor: %s on %d images (%s)", report["status"], current["num_images"], report["reason"])
    if output_dir is not None:
        write_outputs(report, output_dir)
    return report


def reference_profile(
    dataset_dir: Path | str, metadata: Mapping[str, object], model: profiles.Model | None = None, split: str = "train"
) -> tuple[dict[str, object], str]:
    """(profile, prediction split): the inputs' statistics of `split` and, with a model, its
    predictions on the held-out split (validation, else test)."""
    stats = profiles.load_statistics(dataset_dir, metadata)
    reference = profiles.statistics_profile(stats["splits"][split], f"{dataset_dir} ({split})")
    prediction_split = next((s for s in ("validation", "test") if s in metadata["splits"]), split)
    if model is not None:
        reference["predictions"] = profiles.dataset_predictions(model, dataset_dir, metadata, [prediction_split])
    return reference, prediction_split


def decide(
    reference: Mapping[str, object], current: Mapping[str, object], thresholds: Mapping[str, float]
) -> tuple[bool, list[str], list[dict[str, object]]]:
    """(retrain, drifted feature names, features) for two profiles: what the benchmark repeats."""
    features = compare(reference, current, thresholds["psi"], thresholds["alpha"], thresholds["max_accuracy_drop"])
    enough = (current["num_images"] or (current["predictions"] or {}).get("num", 0)) >= thresholds["min_samples"]
    drifted = [f["name"] for f in features if f["drifted"]]
    return bool(enough and drifted), drifted, features


def compare(
    reference: Mapping[str, object],
    current: Mapping[str, object],
    psi_threshold: float,
    alpha: float,
    max_accuracy_drop: float,
) -> list[dict[str, object]]:
    """Score every feature both profiles have; decide which drifted (see drift.py)."""
    rows = []
    if current["num_images"]:  # a KServe logger in `response` mode sends predictions only
        for name in IMAGE_FEATURES:
            rows.append(
                _row(
                    name,
                    "inputs",
                    "continuous",
                    drift.continuous_scores(reference["inputs"][name], current["inputs"][name]),
                    _mean(reference["inputs"][name]),
                    _mean(current["inputs"][name]),
                )
            )
        rows.append(
            _row(
                "pixel_intensity",
                "inputs",
                "histogram",
                drift.histogram_scores(reference["pixel_histogram"], current["pixel_histogram"]),
                _mean(reference["pixel_histogram"], 256),
                _mean(current["pixel_histogram"], 256),
            )
        )
    ref_pred, cur_pred = reference["predictions"], current["predictions"]
    if ref_pred and cur_pred and cur_pred["num"]:
        rows.append(
            _row(
                "predicted_class",
                "predictions",
                "categorical",
                drift.categorical_scores(ref_pred["class_counts"], cur_pred["class_counts"]),
                None,
                None,
            )
        )
        rows.append(
            _row(
                "confidence",
                "predictions",
                "continuous",
                drift.continuous_scores(ref_pred["confidence"], cur_pred["confidence"]),
                _mean(ref_pred["confidence"]),
                _mean(cur_pred["confidence"]),
            )
        )
    if reference["labels"] is not None and current["labels"] is not None:
        rows.append(
            _row(
                "label_class",
                "labels",
                "categorical",
                drift.categorical_scores(reference["labels"], current["labels"]),
                None,
                None,
            )
        )

    tested = [r for r in rows if r["p_value"] is not None]
    alpha_per_test = alpha / max(len(tested), 1)  # Bonferroni: alpha bounds the false-alarm rate of the whole run
    for r in rows:
        significant = r["p_value"] is None or r["p_value"] < alpha_per_test
        r["drifted"] = bool(significant and r["psi"] >= psi_threshold)

    if ref_pred and cur_pred and ref_pred.get("accuracy") is not None and cur_pred.get("accuracy") is not None:
        drop = ref_pred["accuracy"] - cur_pred["accuracy"]
        rows.append(
            {
                "name": "accuracy",
                "group": "performance",
                "kind": "metric",
                "psi": None,
                "test": "drop",
                "statistic": round(drop, 6),
                "p_value": None,
                "drifted": bool(drop > max_accuracy_drop),
                "reference_mean": round(ref_pred["accuracy"], 6),
                "current_mean": round(cur_pred["accuracy"], 6),
            }
        )
    for r in rows:
        r["alpha_per_test"] = alpha_per_test if r["p_value"] is not None else None
    return rows


def _row(name, group, kind, scores, reference_mean, current_mean):
    return {
        "name": name,
        "group": group,
        "kind": kind,
        "psi": round(scores["psi"], 6),
        "test": scores["test"],
        "statistic": None if scores["statistic"] is None else round(scores["statistic"], 6),
        "p_value": scores["p_value"],
        "reference_mean": reference_mean,
        "current_mean": current_mean,
    }


def _mean(hist, scale=1.0):
    """Mean of a histogram over [0, scale) from its bin centres."""
    hist = np.asarray(hist, dtype=np.float64)
    if not hist.sum():
        return None
    centres = (np.arange(len(hist)) + 0.5) / len(hist) * scale
    return round(float((hist * centres).sum() / hist.sum()), 4)


def _report(
    reference,
    current,
    features,
    metadata,
    reference_split,
    prediction_split,
    model_dir,
    thresholds,
    requests,
    versions,
    skipped,
    unpaired=0,
):
    drifted = [f["name"] for f in features if f["drifted"]]
    n = current["num_images"] or (current["predictions"] or {}).get("num", 0)
    tested = [f for f in features if f["p_value"] is not None]
    if n < thresholds["min_samples"]:
        status, retrain = "insufficient data", False
        reason = f"{n} images, fewer than --min-samples {thresholds['min_samples']}: no decision"
    elif drifted:
        status, retrain = "drift", True
        reason = "drift in " + ", ".join(f"{f['name']} ({_score_text(f)})" for f in features if f["drifted"])
    else:
        status, retrain = "no drift", False
        worst = max((f for f in features if f["psi"] is not None), key=lambda f: f["psi"])
        reason = f"no feature drifted; largest PSI {worst['psi']:.3f} ({worst['name']})"
    return {
        "format": REPORT_FORMAT,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "reference": {
            "dataset": reference["source"],
            "fingerprint": metadata["fingerprint"],
            "split": reference_split,
            "prediction_split": prediction_split if reference["predictions"] else None,
            "model": str(model_dir) if model_dir else None,
            "num_images": reference["num_images"],
            "accuracy": (reference["predictions"] or {}).get("accuracy"),
        },
        "current": {
            "source": current["source"],
            "num_images": current["num_images"],
            "num_requests": requests,
            "num_predictions": (current["predictions"] or {}).get("num", 0),
            "versions": versions,
            "skipped": len(skipped),
            "skipped_first": [f"{w}: {why}" for w, why in skipped[:5]],
            "unpaired_events": unpaired,
        },
        "thresholds": {**thresholds, "alpha_per_test": thresholds["alpha"] / max(len(tested), 1)},
        "class_names": metadata["class_names"],
        "features": features,
        "drifted": drifted,
        "status": status,
        "retrain": retrain,
        "reason": reason,
        "histograms": {"reference": _histograms(reference), "current": _histograms(current)},
    }


def _score_text(f):
    if f["kind"] == "metric":
        return f"accuracy {f['reference_mean']:.3f} -> {f['current_mean']:.3f}"
    p = f" p={f['p_value']:.1e}" if f["p_value"] is not None else ""
    return f"PSI {f['psi']:.2f}{p}"


def _histograms(profile):
    """What the charts are drawn from (kept in drift.json so a report can be redrawn)."""
    out = {"inputs": profile["inputs"], "pixel_intensity": profile["pixel_histogram"], "label_class": profile["labels"]}
    if profile["predictions"]:
        out["predicted_class"] = profile["predictions"]["class_counts"]
        out["confidence"] = profile["predictions"]["confidence"]
    return out


def write_outputs(report: Mapping[str, object], output_dir: Path | str) -> None:
    """report.md and charts, then drift.json last (its presence means the report is complete)."""
    from distml.components.monitor.report import write_report

    output_dir = Path(output_dir)
    write_report(report, output_dir)
    write_text_atomic(output_dir / REPORT_JSON, json.dumps(report, indent=1) + "\n")


def resolve_model(model: Path | str | None, model_repo: Path | str | None, model_name: str | None) -> Path | None:
    """The SavedModel to judge: --model PATH, or the newest version of --model-repo/--model-name (the served one)."""
    from distml.components.common.model_artifact import resolve_version_dir

    if model:
        return resolve_version_dir(model)
    if model_repo:
        from distml.components.common.model_artifact import latest_version

        if not model_name:
            raise UsageError("--model-repo needs --model-name")
        latest = latest_version(model_repo, model_name)
        if latest is None:
            raise UsageError(f"{Path(model_repo) / model_name} has no model version: nothing is served yet")
        return latest[1]
    return None


def resolve_reference_dataset(
    reference_dataset: Path | str | None, datasets_root: Path | str | None, saved_model_dir: Path | str | None
) -> Path:
    """--reference-dataset, or the dataset under --datasets-root the model was trained on
    (model.json's dataset_fingerprint against each artifact's metadata.json)."""
    if reference_dataset:
        return Path(reference_dataset)
    if not datasets_root:
        raise UsageError(
            "give --reference-dataset DIR (the training dataset artifact), or --datasets-root DIR with a model"
        )
    if not saved_model_dir:
        raise UsageError(
            "--datasets-root finds the training data from the model's model.json: give --model or --model-repo too"
        )
    info_path = Path(saved_model_dir) / MODEL_INFO
    if not info_path.is_file():
        raise UsageError(f"{saved_model_dir} has no {MODEL_INFO} naming its dataset: give --reference-dataset")
    fingerprint = json.loads(info_path.read_text()).get("dataset_fingerprint")
    root = Path(datasets_root)
    for metadata_path in sorted(root.glob("*/metadata.json")):
        try:
            if json.loads(metadata_path.read_text()).get("fingerprint") == fingerprint:
                return metadata_path.parent
        except ValueError:
            continue
    raise UsageError(
        f"no dataset artifact under {root} has fingerprint {str(fingerprint)[:12]} (the one {saved_model_dir} was trained on)"
    )


def _check_arguments(request_logs, current_dataset, psi_threshold, alpha, min_samples, max_accuracy_drop):
    if bool(request_logs) == (current_dataset is not None):
        raise UsageError("give exactly one current population: --request-log PATH... or --current-dataset DIR")
    if psi_threshold <= 0:
        raise UsageError(f"--psi-threshold must be above 0, got {psi_threshold}")
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be in (0, 1), got {alpha}")
    if min_samples < 1:
        raise UsageError(f"--min-samples must be at least 1, got {min_samples}")
    if not 0 <= max_accuracy_drop <= 1:
        raise UsageError(f"--max-accuracy-drop must be in [0, 1], got {max_accuracy_drop}")
