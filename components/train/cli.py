"""`distml train`: the train component's container entrypoint."""

import argparse
import inspect
import json
import logging
import os
import sys

from distml.components.train.models import MODELS
from distml.components.train.spec import SPEC, WORKER_LAUNCHER


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "model types:\n" + "\n".join(
        f"  {name:<12} {(builder.__doc__ or '').strip().splitlines()[0]}" for name, builder in MODELS.items()
    )
    SPEC.add_arguments(parser)


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

    keywords = inspect.signature(core.train).parameters  # every core keyword the command line has a flag for
    metrics = core.train(
        args.dataset,
        args.model,
        tfjob=tfjob_options_from_args(args),
        trainjob=trainjob_options_from_args(args),
        **{name: getattr(args, name) for name in keywords if hasattr(args, name)},
    )
    if "manifest" in metrics:  # --launcher tfjob/trainjob --dry-run
        import yaml

        print(yaml.safe_dump(metrics["manifest"], sort_keys=False), end="")
        return 0
    if args.metrics_out:
        with open(args.metrics_out, "w") as f:
            json.dump(metrics, f, indent=2)
    summary = {"model_dir": args.model, **metrics}
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("model_dir", "model_type", "run_id", "tfjob", "trainjob", "status", "final", "wall_time_s")
                if k in summary
            }
        )
    )
    return 0
