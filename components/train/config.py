"""The training parameters, their checks, and the per-run paths derived from them.

A `TrainConfig` travels unchanged from the core to every worker: the local launcher and
the TFJob manifest turn it into `distml train --launcher worker ...` arguments
(`worker_args`), the worker's CLI parses it back.
"""

import dataclasses
import datetime
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from distml.components.common.errors import UsageError
from distml.components.common.model_artifact import TRAINING_METRICS_FILE
from distml.components.train.models import check_model_type
from distml.components.train.precision import check_precision
from distml.components.train.spec import DEFAULTS, LR_SCHEDULES, SPEC, WORKER_LAUNCHER

CHECKPOINTS_FOLDER = ".checkpoints"


@dataclass(frozen=True)
class TrainConfig:
    dataset_dir: str
    model_dir: str
    model_type: str = DEFAULTS.model_type
    epochs: int = DEFAULTS.epochs
    steps_per_epoch: int = DEFAULTS.steps_per_epoch  # 0: one pass over the train split
    batch_size: int = DEFAULTS.batch_size  # per replica
    learning_rate: float = DEFAULTS.learning_rate
    lr_schedule: str = DEFAULTS.lr_schedule
    seed: int = DEFAULTS.seed
    run_id: str = DEFAULTS.run_id  # same for every worker and every restart of one run
    checkpoint_dir: str = DEFAULTS.checkpoint_dir  # parent of the run's checkpoint folder
    checkpoint_every: int = DEFAULTS.checkpoint_every  # steps between checkpoints; 0: only at the end of each epoch
    keep_checkpoints: bool = DEFAULTS.keep_checkpoints
    version: str = DEFAULTS.version
    precision: str = DEFAULTS.precision  # see precision.py

    @property
    def run_checkpoint_dir(self):
        """Unique per model directory, model type and run; stable across restarts of the run."""
        root = Path(self.checkpoint_dir) if self.checkpoint_dir else Path(self.model_dir).parent / CHECKPOINTS_FOLDER
        return root / f"{Path(self.model_dir).name}-{self.model_type}-{self.run_id}"


def new_run_id():
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


RUN_ID_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")


def check(config):
    """Raise UsageError for parameters that cannot work; return the config with a run id."""
    check_model_type(config.model_type)
    check_precision(config.precision)
    for name in ("epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(config, name)}")
    if config.steps_per_epoch < 0:
        raise UsageError(f"--steps-per-epoch must be 0 (one pass) or more, got {config.steps_per_epoch}")
    if not config.learning_rate > 0:
        raise UsageError(f"--learning-rate must be positive, got {config.learning_rate}")
    if config.lr_schedule not in LR_SCHEDULES:
        raise UsageError(f"unknown --lr-schedule {config.lr_schedule!r} (known: {', '.join(LR_SCHEDULES)})")
    if config.checkpoint_every < 0:
        raise UsageError(
            f"--checkpoint-every must be 0 (each epoch) or a number of steps, got {config.checkpoint_every}"
        )
    if not re.fullmatch(r"[A-Za-z0-9._-]+", config.version):
        raise UsageError(f"--version must be a plain folder name (e.g. 1), got {config.version!r}")
    run_id = config.run_id or new_run_id()
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise UsageError(f"--run-id must be lowercase letters, digits and '-' (at most 40), got {run_id!r}")
    return dataclasses.replace(config, run_id=run_id)


def check_workers(workers):
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")


# TrainConfig fields whose CLI parameter has another name (the artifacts).
FIELD_TO_PARAM = {"dataset_dir": "dataset", "model_dir": "model"}


def worker_args(config):
    """The `distml train` arguments that make a worker run exactly `config` (values or
    orchestrator placeholders: the Argo template renders its worker command from here)."""
    values = {FIELD_TO_PARAM.get(f.name, f.name): getattr(config, f.name) for f in dataclasses.fields(config)}
    return SPEC.cli_args({name: value for name, value in values.items() if value not in (None, "")})


WORKER_COMMAND = ["distml", SPEC.name, SPEC["launcher"].cli_flag, WORKER_LAUNCHER]  # + worker_args(config)


def worker_command(config):
    return [*WORKER_COMMAND, *worker_args(config)]


def config_from_values(values):
    """The TrainConfig a set of parameter values ({spec name: value}) describes."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(
        **{
            field: values[FIELD_TO_PARAM.get(field, field)]
            for field in fields
            if FIELD_TO_PARAM.get(field, field) in values
        }
    )


# A worker logs this once its strategy is up (for MWMS: every peer has joined); the local
# launcher's start-up timeout waits for it from every worker.
READY_MARKER = "worker ready:"


def completed_metrics(config):
    """The metrics of this run if its model is already written (a worker restarted after the
    end, a launcher that mounts the models volume). No TensorFlow: launchers call it."""
    path = Path(config.model_dir) / TRAINING_METRICS_FILE
    if path.is_file():
        metrics = json.loads(path.read_text())
        if metrics.get("run_id") == config.run_id:
            return metrics
    return None
