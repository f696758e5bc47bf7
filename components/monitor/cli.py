"""`distml monitor`: the monitor component's container entrypoint (Argo runs this)."""

import json
from pathlib import Path

from distml.components.common.model_artifact import repository_path
from distml.components.monitor.spec import SPEC


def add_arguments(parser):
    SPEC.add_arguments(parser)


def run(args):
    from distml.components.monitor.core import monitor

    report = monitor(
        args.reference_dataset or None,
        datasets_root=args.datasets_root or None,
        model=args.model or None,
        model_repo=repository_path(args.model_repo, args.models_root),
        model_name=args.model_name,
        request_logs=args.request_log,
        current_dataset=args.current_dataset or None,
        current_splits=args.current_splits,
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
