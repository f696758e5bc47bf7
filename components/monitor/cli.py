"""`distml monitor`: the monitor component's container entrypoint."""

import json
from pathlib import Path

from distml.components.monitor.defaults import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_ACCURACY_DROP,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_PSI_THRESHOLD,
)


def add_arguments(parser):
    ref = parser.add_argument_group("reference (what the model was trained and validated on)")
    ref.add_argument(
        "--reference-dataset", default=None, metavar="DIR", help="the training dataset artifact (from `distml ingest`)"
    )
    ref.add_argument(
        "--datasets-root",
        default=None,
        metavar="DIR",
        help="instead of --reference-dataset: find the artifact the model was trained on here (by model.json's fingerprint)",
    )
    ref.add_argument(
        "--reference-split", default="train", help="split whose statistics are the reference inputs (default: train)"
    )
    ref.add_argument(
        "--model", default=None, metavar="PATH", help="the served model (artifact or SavedModel version directory)"
    )
    ref.add_argument(
        "--model-repo", default=None, metavar="DIR", help="instead of --model: the newest version in this repository"
    )
    ref.add_argument(
        "--model-name", default="distml-classifier", help="model name in --model-repo (default: distml-classifier)"
    )
    cur = parser.add_argument_group("current (what the model sees now); give one")
    cur.add_argument(
        "--request-log",
        nargs="+",
        default=[],
        metavar="PATH",
        help="request log files or folders: `distml serve` JSON lines, KServe logger CloudEvents",
    )
    cur.add_argument(
        "--current-dataset", default=None, metavar="DIR", help="a new batch of data, as a dataset artifact"
    )
    cur.add_argument(
        "--current-split", nargs="+", default=None, help="splits of --current-dataset to use (default: all)"
    )
    th = parser.add_argument_group("decision")
    th.add_argument(
        "--psi-threshold",
        type=float,
        default=DEFAULT_PSI_THRESHOLD,
        help=f"PSI a feature must reach to drift (default {DEFAULT_PSI_THRESHOLD})",
    )
    th.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"false-alarm budget of one run, split over the tests (Bonferroni; default {DEFAULT_ALPHA})",
    )
    th.add_argument(
        "--min-samples",
        type=int,
        default=DEFAULT_MIN_SAMPLES,
        help=f"images needed to decide (default {DEFAULT_MIN_SAMPLES})",
    )
    th.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=DEFAULT_MAX_ACCURACY_DROP,
        help=f"labelled batches: accuracy drop that triggers retraining (default {DEFAULT_MAX_ACCURACY_DROP})",
    )
    out = parser.add_argument_group("outputs")
    out.add_argument("--output-dir", required=True, help="where drift.json, report.md and the PNG charts go")
    out.add_argument(
        "--retrain-out", default=None, metavar="FILE", help="write 'true' or 'false' here (Argo output parameter)"
    )


def run(args):
    from distml.components.monitor.core import monitor

    report = monitor(
        args.reference_dataset or None,
        datasets_root=args.datasets_root or None,
        model=args.model or None,
        model_repo=args.model_repo or None,
        model_name=args.model_name,
        request_logs=args.request_log,
        current_dataset=args.current_dataset or None,
        current_splits=args.current_split,
        reference_split=args.reference_split,
        output_dir=args.output_dir,
        psi_threshold=args.psi_threshold,
        alpha=args.alpha,
        min_samples=args.min_samples,
        max_accuracy_drop=args.max_accuracy_drop,
    )
    if args.retrain_out:
        Path(args.retrain_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.retrain_out).write_text("true" if report["retrain"] else "false")
    print(
        json.dumps(
            {
                "status": report["status"],
                "retrain": report["retrain"],
                "reason": report["reason"],
                "drifted": report["drifted"],
                "num_images": report["current"]["num_images"],
            }
        )
    )
    return 0
