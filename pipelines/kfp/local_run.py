"""`distml run`: the train-and-deploy pipeline on this machine with kfp.local.

The same pipeline and components as on a cluster, with the local launcher (worker
processes on localhost) instead of TFJobs, the shards and models in the work directory
instead of volumes, and the local model repository instead of KServe. kfp.local's cache
(in the work directory) makes a repeated run with the same inputs execute nothing.
"""

import contextlib
import datetime
import json
import logging
import re
import sys
import time
import warnings
from pathlib import Path

from distml.components.common.errors import DistmlError, UsageError
from distml.components.train.models import check_model_type
from distml.pipelines.kfp.local_output import KfpOutputFilter, strip_colors
from distml.pipelines.kfp.train_and_deploy import MODEL_TYPES

log = logging.getLogger("distml")

DEFAULT_WORKDIR = "distml-output"


def run_locally(workdir=DEFAULT_WORKDIR, *, model_types=tuple(MODEL_TYPES), cache=True, **arguments):
    """Run the pipeline; return a summary dict (also written to <workdir>/last-run.json).

    `arguments` are the pipeline's parameters (epochs=..., workers=...); the others keep
    the pipeline's defaults, but for where things run: local worker processes, no GPUs,
    the work directory instead of volumes, the local model repository instead of KServe."""
    from kfp import local

    from distml.pipelines.kfp.train_and_deploy import T, build_pipeline

    if not model_types:
        raise UsageError("give at least one model type")
    for model_type in model_types:
        check_model_type(model_type)  # a typo fails here, not minutes later inside a training step
    workers = arguments.get("workers", T.workers)
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    num_shards = arguments.get("num_shards", 0)
    if 0 < num_shards < workers:
        raise UsageError(f"--num-shards {num_shards} is fewer than --workers {workers}: every worker needs a shard")
    workdir = Path(workdir).resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    log_path = workdir / "logs" / f"run-{datetime.datetime.now():%Y%m%d-%H%M%S}.log"
    model_repo = workdir / "model-repo"

    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(workdir / "pipeline-root"),
        enable_caching=cache,
        cache_root=str(workdir / "cache"),
        raise_on_error=True,
    )
    pipeline = build_pipeline(for_cluster=False)
    # SubprocessRunner runs the components in this Python, which has distml: the warning
    # that the distml image is "not a Python image" does not apply.
    warnings.filterwarnings("ignore", message="You may be attemping to run a task that uses custom")
    started = time.monotonic()
    with open(log_path, "w") as log_file, contextlib.redirect_stdout(KfpOutputFilter(sys.stdout, log_file)):
        try:
            task = pipeline(
                model_types=list(model_types), **arguments, launcher="local", gpus=0, serving_target="local",
                store_root="", models_root=str(workdir / "models"), model_repo=str(model_repo),
            )
        except RuntimeError as e:
            reason = strip_colors(str(e).splitlines()[0])
            raise DistmlError(f"the pipeline failed: {reason} (full log: {log_path})") from None
    selection = json.loads(Path(task.output.uri).read_text())
    summary = summarize(selection, time.monotonic() - started, model_repo, selection["model_name"], log_path)
    summary["executed_steps"] = executed_steps(log_path)
    (workdir / "last-run.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def executed_steps(log_path):
    """The steps this run executed (the others came from the cache), from kfp.local's log."""
    return re.findall(r"Executing task '([^']+)'", Path(log_path).read_text(errors="replace"))


def summarize(selection, wall_time_s, model_repo, model_name, log_path):
    variants = [
        {
            "model_type": c["name"],
            "accuracy": c["metrics"]["accuracy"],
            "loss": c["metrics"]["loss"],
            "train_time_s": (c.get("training") or {}).get("wall_time_s"),
        }
        for c in selection["candidates"]
    ]
    pushed = selection.get("pushed")
    return {
        "variants": variants,
        "winner": selection["winner"],
        "blessed": selection["blessed"],
        "reason": selection["reason"],
        "model_path": pushed["path"] if pushed else None,
        "model_repo": str(model_repo),
        "model_name": model_name,
        "dataset_dir": selection["dataset"]["dir"],
        "wall_time_s": round(wall_time_s, 1),
        "log": str(log_path),
    }


def format_summary(summary):
    rows = [f"{'variant':<12} {'accuracy':>9} {'loss':>8} {'train time':>11}"]
    for v in summary["variants"]:
        train_time = f"{v['train_time_s']:.1f} s" if v["train_time_s"] is not None else "-"
        mark = "  <- winner" if v["model_type"] == summary["winner"] else ""
        rows.append(f"{v['model_type']:<12} {v['accuracy']:>9.4f} {v['loss']:>8.4f} {train_time:>11}{mark}")
    rows.append("")
    rows.append(f"blessed: {'yes' if summary['blessed'] else 'no'} ({summary['reason']})")
    if summary["model_path"]:
        rows.append(f"model:   {summary['model_path']}")
    executed = summary["executed_steps"]
    planned = 1 + len(summary["variants"]) + 1 + bool(summary["blessed"])  # ingest, trains, select, deploy
    if not executed:
        rows.append("steps:   none executed: every step's inputs were unchanged, all came from the cache")
    else:
        cached = planned - len(executed)
        rows.append(f"steps:   {len(executed)} executed ({', '.join(executed)})" + (f", {cached} from the cache" if cached > 0 else ""))
    rows.append(f"total:   {summary['wall_time_s']:.1f} s; full log: {summary['log']}")
    return "\n".join(rows)
