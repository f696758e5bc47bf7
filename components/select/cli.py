"""`distml select`: the select component's container entrypoint (KFP and Argo run this)."""

import json
from pathlib import Path

from distml.components.common.errors import DistmlError
from distml.components.common.model_artifact import repository_path
from distml.components.select.spec import SPEC


def add_arguments(parser):
    SPEC.add_arguments(parser)


def run(args):
    from distml.components.select.core import select_models

    selection = select_models(
        args.dataset,
        args.candidates,
        candidates_dir=args.candidates_dir or None,
        model_repo=repository_path(args.model_repo, args.models_root),
        model_name=args.model_name,
        metric=args.metric,
        min_accuracy=args.min_accuracy,
        min_improvement=args.min_improvement,
        baseline=args.baseline or None,  # Argo passes "" for an unset optional parameter
        output_dir=args.output_dir,
        split=args.split,
        batch_size=args.batch_size,
        follow_location=args.follow_location,
    )
    pushed = selection["pushed"]
    _write_value(args.blessed_out, "true" if selection["blessed"] else "false")
    _write_value(args.pushed_version_out, str(pushed["version"]) if pushed else "")
    print(
        json.dumps(
            {
                "winner": selection["winner"],
                "metric": selection["metric"],
                "value": next(
                    c["metrics"][selection["metric"]]
                    for c in selection["candidates"]
                    if c["name"] == selection["winner"]
                ),
                "blessed": selection["blessed"],
                "pushed_version": pushed["version"] if pushed else None,
                "reason": selection["reason"],
            }
        )
    )
    if not selection["blessed"] and args.fail_if_not_blessed:
        raise DistmlError(f"{selection['winner']} is not blessed: {selection['reason']}")
    return 0


def _write_value(path, value):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(value)
