"""Finding candidate models and checking that each follows the model artifact contract.

A model artifact (what `distml train` writes) is `<model_dir>/<version>/` holding a
SavedModel, with `assets.extra/model.json` describing it. A bare version directory (for
example a model repository's `<repo>/<name>/3`) is accepted too.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from distml.components.common.errors import UsageError

log = logging.getLogger("distml")

MODEL_INFO_FILE = Path("assets.extra") / "model.json"
TRAINING_METRICS_FILE = "metrics.json"


@dataclass
class ModelRef:
    name: str
    model_dir: Path  # what the user named: an artifact directory or a version directory
    saved_model_dir: Path  # the SavedModel itself: <model_dir>/<version>
    info: dict = field(default_factory=dict)  # assets.extra/model.json, {} when absent
    training: dict = field(default_factory=dict)  # a summary of the artifact's metrics.json


def find_saved_model(path):
    """The SavedModel directory of a model artifact: `path` itself or its highest numeric version."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"model {path} does not exist or is not a directory")
    if (path / "saved_model.pb").is_file():
        return path
    versions = [d for d in path.iterdir() if d.is_dir() and (d / "saved_model.pb").is_file()]
    if not versions:
        raise UsageError(f"{path} is not a model: no <version>/saved_model.pb in it (expected the output of `distml train`)")
    numeric = [d for d in versions if d.name.isdigit()]
    if numeric:
        return max(numeric, key=lambda d: int(d.name))
    if len(versions) == 1:
        return versions[0]
    names = ", ".join(sorted(d.name for d in versions))
    raise UsageError(f"{path} holds several SavedModel versions ({names}) and none is numeric: name the version directory")


def candidate_paths(candidates=(), candidates_dir=None):
    """Every candidate: the paths given, then each subdirectory of `candidates_dir` (sorted)."""
    paths = [Path(p) for p in candidates or ()]
    if candidates_dir is not None:
        candidates_dir = Path(candidates_dir)
        if not candidates_dir.is_dir():
            raise UsageError(f"--candidates-dir {candidates_dir} does not exist or is not a directory")
        # Hidden entries are temporary files of writers still at work (or finished badly).
        paths += sorted(d for d in candidates_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not paths:
        where = f" ({candidates_dir} has no subdirectories)" if candidates_dir is not None else ""
        raise UsageError(f"no candidate models{where}: give --candidates DIR... or --candidates-dir DIR with one model per subdirectory")
    seen = {}
    for p in paths:
        key = p.resolve()
        if key in seen:
            raise UsageError(f"candidate {p} is given twice (also as {seen[key]})")
        seen[key] = p
    return paths


def load_ref(path, name=None, *, require_info=True):
    """A ModelRef for the artifact at `path`; `name` defaults to its model_type.

    Candidates must carry model.json (it is pushed with them); a baseline may lack it.
    """
    saved_model_dir = find_saved_model(path)
    info = _read_json(saved_model_dir / MODEL_INFO_FILE)
    if not info and require_info:
        raise UsageError(f"{saved_model_dir} has no {MODEL_INFO_FILE}: not a model written by `distml train`")
    if not info:
        log.warning("%s has no %s; its class names and dataset cannot be checked", saved_model_dir, MODEL_INFO_FILE)
    training = _training_summary(_read_json(Path(path) / TRAINING_METRICS_FILE))
    return ModelRef(
        name=name or info.get("model_type") or Path(path).name,
        model_dir=Path(path),
        saved_model_dir=saved_model_dir,
        info=info,
        training=training,
    )


def load_candidates(paths):
    """ModelRefs with unique names: the model_type, suffixed -2, -3 ... when types repeat."""
    refs = [load_ref(p) for p in paths]
    taken = set()
    for ref in refs:
        base, n = ref.name, 1
        while ref.name in taken:
            n += 1
            ref.name = f"{base}-{n}"
        taken.add(ref.name)
    return refs


def _read_json(path):
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UsageError(f"{path} is not valid JSON: {e}") from None


def _training_summary(metrics):
    """What the report shows of how a candidate was trained (metrics.json is otherwise free-form)."""
    keys = ("model_type", "num_workers", "wall_time_s", "examples_per_sec")
    summary = {k: metrics[k] for k in keys if k in metrics}
    if isinstance(metrics.get("final"), dict):
        summary["final"] = metrics["final"]
    if isinstance(metrics.get("history"), list):  # per epoch: the report's training curves
        keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "val_split")
        summary["history"] = [{k: e[k] for k in keys if k in e} for e in metrics["history"] if isinstance(e, dict)]
    return summary
