"""Finding candidate models; which directory is a model follows the model artifact
contract (common/model_artifact.py): a train output `<model_dir>` (its newest complete
version) or a version directory itself (for example a model repository's `<repo>/<name>/3`).
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from distml.components.common.errors import UsageError
from distml.components.common.model_artifact import (
    TRAINING_METRICS_FILE,
    ModelArtifactError,
    read_model_info,
    resolve_version_dir,
)

log = logging.getLogger("distml")


@dataclass
class ModelRef:
    name: str
    model_dir: Path  # what the user named: an artifact directory or a version directory
    saved_model_dir: Path  # the SavedModel itself: <model_dir>/<version>
    info: dict = field(default_factory=dict)  # assets.extra/model.json
    training: dict = field(default_factory=dict)  # a summary of the artifact's metrics.json


def candidate_paths(candidates=(), candidates_dir=None):
    """Every candidate as (path, the flag that gave it): the paths given, then each
    subdirectory of `candidates_dir` (sorted)."""
    paths = [(Path(p), "--candidates") for p in candidates or ()]
    if candidates_dir is not None:
        candidates_dir = Path(candidates_dir)
        if not candidates_dir.is_dir():
            raise UsageError(f"--candidates-dir {candidates_dir} does not exist or is not a directory")
        # Hidden entries are temporary files of writers still at work (or finished badly).
        paths += [
            (d, f"--candidates-dir {candidates_dir}")
            for d in sorted(candidates_dir.iterdir())
            if d.is_dir() and not d.name.startswith(".")
        ]
    if not paths:
        where = f" ({candidates_dir} has no subdirectories)" if candidates_dir is not None else ""
        raise UsageError(
            f"no candidate models{where}: give --candidates DIR... or --candidates-dir DIR with one model per subdirectory"
        )
    seen = {}
    for p, _ in paths:
        key = p.resolve()
        if key in seen:
            raise UsageError(f"candidate {p} is given twice (also as {seen[key]})")
        seen[key] = p
    return paths


def load_ref(path, name=None, flag=None):
    """A ModelRef for the artifact at `path`; `name` defaults to its model_type. `flag`, the
    flag that gave the path, starts the error when it is not a model."""
    try:
        saved_model_dir = resolve_version_dir(path)
    except ModelArtifactError as e:
        if flag is None:
            raise
        raise ModelArtifactError(f"{flag}: {e}") from None
    info = read_model_info(saved_model_dir)
    training = _training_summary(_read_json(Path(path) / TRAINING_METRICS_FILE))
    return ModelRef(
        name=name or info.get("model_type") or Path(path).name,
        model_dir=Path(path),
        saved_model_dir=saved_model_dir,
        info=info,
        training=training,
    )


def load_candidates(paths):
    """ModelRefs with unique names (the model_type, suffixed -2, -3 ... when types repeat) of
    candidate_paths' (path, flag) pairs."""
    refs = [load_ref(p, flag=flag) for p, flag in paths]
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
