"""`distml train`: the train component's container entrypoint."""

import argparse
import json
import logging
import os
import sys

from distml.components.train.config import LAUNCHERS, LR_SCHEDULES, WORKER_LAUNCHER
from distml.components.train.models import MODELS
from distml.components.train.precision import PRECISIONS


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "model types:\n" + "\n".join(
        f"  {name:<12} {(builder.__doc__ or '').strip().splitlines()[0]}" for name, builder in MODELS.items())
    data = parser.add_argument_group("data and model")
    data.add_argument("--dataset", dest="dataset_dir", required=True, help="ingest artifact directory (from `distml ingest`)")
    data.add_argument("--model-dir", required=True, help="output directory for the model artifact (must not exist or be empty)")
    data.add_argument("--model-type", default="cnn", metavar="TYPE", help=f"one of: {', '.join(MODELS)} (default: cnn)")
    data.add_argument("--version", default="1", help="SavedModel version folder under --model-dir (default: 1)")

    hyper = parser.add_argument_group("training")
    hyper.add_argument("--epochs", type=int, default=5)
    hyper.add_argument("--steps-per-epoch", type=int, default=None, help="default: one pass over the train split")
    hyper.add_argument("--batch-size", type=int, default=64, help="per replica (the global batch is this x replicas)")
    hyper.add_argument("--learning-rate", type=float, default=1e-3)
    hyper.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant")
    hyper.add_argument("--seed", type=int, default=0)
    hyper.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="compute precision; auto: mixed_bfloat16 where the CPU/GPU has native bfloat16, "
                            "else float32 (the exported model is float32 either way)")

    group = parser.add_argument_group("workers and fault tolerance")
    group.add_argument("--launcher", choices=(*LAUNCHERS, WORKER_LAUNCHER), default="in-process",
                       help="in-process: one worker here; local: --workers processes on localhost; "
                            "tfjob: a Kubeflow TFJob; trainjob: a Kubeflow Trainer v2 TrainJob; "
                            "worker: internal, one worker configured by TF_CONFIG (or JobSet's env)")
    group.add_argument("--workers", type=int, default=1)
    group.add_argument("--checkpoint-dir", default=None,
                       help="where run checkpoints go (default: <model-dir>/../.checkpoints); one subfolder per run")
    group.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS", help="0: at the end of each epoch only")
    group.add_argument("--keep-checkpoints", action="store_true", help="keep the run's checkpoints after success")
    group.add_argument("--run-id", default=None, help="resume this run from its checkpoints (default: a new run)")
    group.add_argument("--max-restarts", type=int, default=3, help="local launcher: restarts of the worker group")
    group.add_argument("--startup-timeout", type=float, default=300.0, help="local launcher: seconds for all workers to join")
    group.add_argument("--timeout", type=float, default=None, help="seconds before the whole run is stopped")
    group.add_argument("--attempt", type=int, default=0, help=argparse.SUPPRESS)  # set by the local launcher

    from distml.components.train.tfjob import add_tfjob_arguments

    add_tfjob_arguments(parser.add_argument_group("tfjob and trainjob launchers"))
    from distml.components.train.trainjob import add_trainjob_arguments

    add_trainjob_arguments(parser.add_argument_group("trainjob launcher"))
    parser.add_argument("--metrics-out", default=None, help="also write metrics.json here (for orchestrator outputs)")


def run(args):
    from distml.components.train import core

    if args.launcher == WORKER_LAUNCHER:
        core.run_worker(core.config_from_args(args), attempt=args.attempt)
        # The work is done and written; TensorFlow's interpreter teardown (coordination
        # service shutdown, thread pools) would add seconds per worker for nothing.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    from distml.components.train.tfjob import tfjob_options_from_args
    from distml.components.train.trainjob import trainjob_options_from_args

    metrics = core.train(
        args.dataset_dir, args.model_dir, model_type=args.model_type, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule, seed=args.seed, workers=args.workers, launcher=args.launcher,
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, max_restarts=args.max_restarts, run_id=args.run_id,
        version=args.version, precision=args.precision, startup_timeout=args.startup_timeout, timeout=args.timeout,
        tfjob=tfjob_options_from_args(args), trainjob=trainjob_options_from_args(args),
    )
    if "manifest" in metrics:  # --launcher tfjob/trainjob --dry-run
        import yaml

        print(yaml.safe_dump(metrics["manifest"], sort_keys=False), end="")
        return 0
    if args.metrics_out:
        with open(args.metrics_out, "w") as f:
            json.dump(metrics, f, indent=2)
    summary = {"model_dir": args.model_dir, **metrics}
    print(json.dumps({k: summary[k] for k in ("model_dir", "model_type", "run_id", "tfjob", "trainjob", "status", "final",
                                               "wall_time_s") if k in summary}))
    return 0
