"""`distml select`: the select component's container entrypoint (KFP and Argo run this)."""

import json
from pathlib import Path

from distml.components.common.errors import DistmlError

# select.metrics.HIGHER_IS_BETTER's keys, repeated so `distml --help` needs no numpy.
METRICS = ("accuracy", "loss", "macro_precision", "macro_recall", "macro_f1")


def add_arguments(parser):
    parser.add_argument("--dataset-dir", required=True, help="dataset artifact written by `distml ingest`")
    parser.add_argument("--follow-location", action="store_true",
                        help="a dataset artifact holding metadata only (a KFP pointer): read the shards where it says")
    parser.add_argument("--split", default="test", help="split to evaluate on (default: test)")
    parser.add_argument("--candidates", nargs="+", default=[], metavar="DIR", help="candidate model artifacts (from `distml train`)")
    parser.add_argument("--candidates-dir", default=None, metavar="DIR",
                        help="a directory whose every subdirectory is a candidate (where a fan-out writes its models)")
    parser.add_argument("--model-repo", default=None, metavar="DIR",
                        help="model repository to push the blessed winner to, as <repo>/<model-name>/<N>/ (omit to only evaluate)")
    parser.add_argument("--model-name", default="distml-classifier", help="model name in the repository (default: distml-classifier)")
    parser.add_argument("--metric", default="accuracy", choices=METRICS, help="what the winner is chosen by (default: accuracy; loss is lower-is-better)")
    parser.add_argument("--min-accuracy", type=float, default=0.0, help="bless only if the winner's accuracy reaches this (0-1)")
    parser.add_argument("--min-improvement", type=float, default=0.0,
                        help="with a baseline: bless only if the winner beats it by at least this much in --metric "
                             "(default 0: no regression; negative tolerates a small regression)")
    parser.add_argument("--baseline", default=None, metavar="PATH|latest",
                        help="model to beat (the one deployed): a model artifact, or 'latest' = the newest version in the repository")
    parser.add_argument("--fail-if-not-blessed", action="store_true", help="exit 1 when the winner is not blessed (default: exit 0, push nothing)")
    parser.add_argument("--output-dir", required=True, help="where selection.json, report.md and the PNG charts go")
    parser.add_argument("--batch-size", type=int, default=256, help="evaluation batch size (default: 256)")
    parser.add_argument("--blessed-out", default=None, metavar="FILE", help="write 'true' or 'false' here (Argo output parameter)")
    parser.add_argument("--pushed-version-out", default=None, metavar="FILE",
                        help="write the pushed version number here, empty when nothing was pushed (Argo output parameter)")


def run(args):
    from distml.components.select.core import select_models

    selection = select_models(
        args.dataset_dir,
        args.candidates,
        candidates_dir=args.candidates_dir,
        model_repo=args.model_repo or None,
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
    print(json.dumps({
        "winner": selection["winner"],
        "metric": selection["metric"],
        "value": next(c["metrics"][selection["metric"]] for c in selection["candidates"] if c["name"] == selection["winner"]),
        "blessed": selection["blessed"],
        "pushed_version": pushed["version"] if pushed else None,
        "reason": selection["reason"],
    }))
    if not selection["blessed"] and args.fail_if_not_blessed:
        raise DistmlError(f"{selection['winner']} is not blessed: {selection['reason']}")
    return 0


def _write_value(path, value):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(value)
