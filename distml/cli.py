"""The `distml` command: one subcommand per component (each is that component's container
entrypoint), plus `run` and `compile`.

Every subcommand module exposes `add_arguments(parser)` and `run(args)`, and imports
TensorFlow only inside `run`, so `--help` and pipeline compilation stay fast.
"""

import argparse
import importlib
import logging
import os
import signal
import sys
import threading

from distml import __version__
from distml.components.common.console import log_library_warnings, quiet_native_banners
from distml.components.common.errors import DistmlError
from distml.components.common.processes import Terminated, raise_terminated

SUBCOMMANDS = {
    "ingest": ("distml.components.ingest.cli", "turn a dataset into a sharded, versioned TFRecord artifact"),
    "dataset-version": (
        "distml.components.ingest.version_cli",
        "print the version of the data behind a dataset (KFP's dataset_version: a new one invalidates the cache)",
    ),
    "train": (
        "distml.components.train.cli",
        "train a model with MultiWorkerMirroredStrategy (in-process, local workers or TFJob)",
    ),
    "select": (
        "distml.components.select.cli",
        "evaluate candidate models, bless the best, push it to a model repository",
    ),
    "deploy": (
        "distml.components.deploy.cli",
        "deploy a blessed model: KServe InferenceService or the local model repository",
    ),
    "serve": (
        "distml.components.serve.cli",
        "serve the newest model version with the KServe model server (V1/V2, REST/gRPC)",
    ),
    "monitor": (
        "distml.components.monitor.cli",
        "compare served traffic or new data with the training data: drift report, retrain yes/no",
    ),
    "request-sink": (
        "distml.components.monitor.sink_cli",
        "store KServe inference logger CloudEvents as JSON lines for `distml monitor`",
    ),
    "run": ("distml.pipelines.kfp.run_cli", "run the whole train-and-deploy pipeline locally with kfp.local"),
    "compile": ("distml.pipelines.compile_cli", "regenerate every generated file (component.yaml, KFP and Argo YAML)"),
}


def build_parser(argv=()):
    """The parser; only the subcommand named in `argv` is imported and given its arguments,
    so one command neither waits for nor breaks on another's imports (KFP, kserve)."""
    parser = argparse.ArgumentParser(
        prog="distml",
        description="Distributed TensorFlow components for Kubeflow Pipelines and Argo Workflows.",
    )
    parser.add_argument("--version", action="version", version=f"distml {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in argv if arg in SUBCOMMANDS), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(handler=module.run)
    return parser


def configure_logging(verbose):
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # distml's own progress at INFO; libraries (absl/TFDS, kfp) only when they warn.
    logging.getLogger("distml").setLevel(logging.DEBUG if verbose else logging.INFO)
    # TensorFlow's C++ start-up chatter hides the lines that matter.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet_native_banners()  # what TF_CPP_MIN_LOG_LEVEL does not silence: to the debug log
    log_library_warnings()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    configure_logging(args.verbose)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, raise_terminated)  # subcommands may install their own
    try:
        return args.handler(args) or 0
    except DistmlError as e:
        print(f"distml {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"distml {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"distml {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
