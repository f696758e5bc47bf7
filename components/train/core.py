"""The train component's core: check the parameters, then run the workers with a launcher.

    train(dataset_dir, model_dir, model_type=..., workers=2, launcher="local") -> metrics dict

Importable without TensorFlow (the launchers start it where it runs), so a KFP wrapper or
an orchestrating step can call it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from distml.components.common import tf_config
from distml.components.common.errors import UsageError
from distml.components.common.files import check_output_dir, check_writable
from distml.components.ingest.reader import load_metadata
from distml.components.train.config import TrainConfig, check, check_workers, config_from_values
from distml.components.train.spec import DEFAULTS, LAUNCHERS

if TYPE_CHECKING:
    from distml.components.train.tfjob import TFJobOptions
    from distml.components.train.trainjob import TrainJobOptions

log = logging.getLogger("distml")


def train(
    dataset_dir: Path | str,
    model_dir: Path | str,
    *,
    model_type: str = DEFAULTS.model_type,
    epochs: int = DEFAULTS.epochs,
    steps_per_epoch: int | None = DEFAULTS.steps_per_epoch,
    batch_size: int = DEFAULTS.batch_size,
    learning_rate: float = DEFAULTS.learning_rate,
    lr_schedule: str = DEFAULTS.lr_schedule,
    seed: int = DEFAULTS.seed,
    workers: int = DEFAULTS.workers,
    launcher: str = DEFAULTS.launcher,
    checkpoint_dir: Path | str | None = DEFAULTS.checkpoint_dir,
    checkpoint_every: int = DEFAULTS.checkpoint_every,
    keep_checkpoints: int = DEFAULTS.keep_checkpoints,
    max_restarts: int = DEFAULTS.max_restarts,
    run_id: str | None = DEFAULTS.run_id,
    version: int | str = DEFAULTS.version,
    precision: str = DEFAULTS.precision,
    startup_timeout: float = DEFAULTS.startup_timeout,
    timeout: float | None = DEFAULTS.timeout,
    tfjob: TFJobOptions | None = None,
    trainjob: TrainJobOptions | None = None,
) -> dict[str, object]:
    """Train one model variant; return its metrics (also in `<model_dir>/metrics.json`).

    The parameters and their defaults are declared in spec.py. `batch_size` is per
    replica. `steps_per_epoch` 0: one pass over the train split. `checkpoint_every` is in
    steps (0: at the end of each epoch). `timeout` in seconds (0: none). `precision`: "auto", "float32" or "mixed_bfloat16" (see precision.py). `tfjob`
    is a `TFJobOptions` for the tfjob launcher, `trainjob` a `TrainJobOptions` for the
    trainjob launcher. A run restarted with the same `run_id` resumes from its latest
    checkpoint.
    """
    config = check(
        TrainConfig(
            dataset_dir=str(dataset_dir),
            model_dir=str(model_dir),
            model_type=model_type,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch or 0,
            batch_size=batch_size,
            learning_rate=learning_rate,
            lr_schedule=lr_schedule,
            seed=seed,
            run_id=run_id or "",
            checkpoint_dir=str(checkpoint_dir or ""),
            checkpoint_every=checkpoint_every,
            keep_checkpoints=keep_checkpoints,
            version=str(version),
            precision=precision,
        )
    )
    check_workers(workers)
    if launcher not in LAUNCHERS:
        raise UsageError(f"unknown launcher {launcher!r} (known: {', '.join(LAUNCHERS)})")
    if max_restarts < 0:
        raise UsageError(f"--max-restarts must be 0 or more, got {max_restarts}")
    if launcher == "tfjob":
        from distml.components.train.tfjob import TFJobOptions, launch_tfjob

        return launch_tfjob(config, workers, tfjob or TFJobOptions(), timeout=timeout or None)
    if launcher == "trainjob":
        from distml.components.train.trainjob import TrainJobOptions, launch_trainjob

        return launch_trainjob(config, workers, trainjob or TrainJobOptions(), timeout=timeout or None)

    check_inputs(config, workers)
    if launcher == "in-process":
        if workers != 1:
            raise UsageError("the in-process launcher runs one worker; use --launcher local for --workers > 1")
        return run_in_process(config)
    from distml.components.train.local import launch_local

    return launch_local(
        config, workers, max_restarts=max_restarts, startup_timeout=startup_timeout, timeout=timeout or None
    )


def check_inputs(config: TrainConfig, workers: int) -> None:
    """Fail before starting any worker if the dataset or the output folder cannot work."""
    metadata = load_metadata(config.dataset_dir)
    train_split = metadata["splits"].get("train")
    if train_split is None:
        raise UsageError(f"dataset {config.dataset_dir} has no train split")
    if workers > len(train_split["shards"]):
        raise UsageError(
            f"{workers} workers but the train split has only {len(train_split['shards'])} shards; "
            f"re-run ingest with --num-shards {workers} or more"
        )
    global_batch = config.batch_size * workers  # one replica per CPU worker
    if global_batch > train_split["num_examples"]:
        raise UsageError(
            f"global batch {global_batch} (--batch-size {config.batch_size} x {workers} workers) "
            f"is larger than the train split ({train_split['num_examples']} examples)"
        )
    from distml.components.train.config import completed_metrics

    if completed_metrics(config) is None:
        # Absent or empty (a mount point is written into), and writable: known before training.
        check_output_dir(config.model_dir, what="--model-dir")
    checkpoints = config.run_checkpoint_dir
    existing = next(p for p in [checkpoints, *checkpoints.parents] if p.exists())
    check_writable(existing, what=f"checkpoint folder {checkpoints} (--checkpoint-dir)")


def run_in_process(config: TrainConfig) -> dict[str, object]:
    """One worker in this process, no TF_CONFIG (debugging, tests, small models)."""
    from distml.components.train.loop import train_worker

    return train_worker(config, tf_config.SINGLE_WORKER, distributed=False)


def run_worker(config: TrainConfig, attempt: int = 0) -> dict[str, object] | None:
    """One worker of a group, configured by TF_CONFIG (a TFJob pod or a local launcher child)
    or by JobSet's names (a TrainJob pod on distml's runtime)."""
    from distml.components.train.loop import train_worker

    task = tf_config.export_from_jobset()  # a Trainer/JobSet pod: TF_CONFIG from JobSet's names
    if not config.run_id:
        from distml.components.train.trainjob import run_id_from_environment

        config = dataclasses.replace(config, run_id=run_id_from_environment())
    attempt = attempt or int(os.environ.get(tf_config.RESTART_ATTEMPT) or 0)
    log.info("%s starting (run %s, attempt %d)", task.name, config.run_id, attempt)
    return train_worker(config, task, distributed=True, attempt=attempt)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig a `distml train` command line describes."""
    return config_from_values(vars(args))


__all__ = ["train", "run_worker", "config_from_args"]
