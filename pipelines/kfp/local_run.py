"""`distml run`: the train-and-deploy pipeline on this machine with kfp.local.

The same pipeline and components as on a cluster, with the local launcher (worker
processes on localhost) instead of TFJobs, the shards and models in the work directory
instead of volumes, and the local model repository instead of KServe. kfp.local's cache
(in the work directory) makes a repeated run with the same inputs execute nothing.
"""

import contextlib
import dataclasses
import datetime
import json
import logging
import sys
import time
import warnings
from pathlib import Path

from distml.components.common.errors import DistmlError, UsageError
from distml.components.train.config import TrainConfig, check_workers
from distml.components.train.config import check as check_training
from distml.pipelines.kfp.local_output import StepOutput, strip_colors
from distml.pipelines.kfp.local_progress import StepBoard, steps_stop_on_sigterm, track_steps
from distml.pipelines.kfp.train_and_deploy import MODEL_TYPES

log = logging.getLogger("distml")

DEFAULT_WORKDIR = "distml-output"


def run_locally(workdir=DEFAULT_WORKDIR, *, model_types=tuple(MODEL_TYPES), cache=True, out=None, **arguments):
    """Run the pipeline, showing its progress on `out` (stdout); return a summary dict (also
    written to <workdir>/last-run.json): variants, winner, steps, report paths, model paths.

    `arguments` are the pipeline's parameters (epochs=..., workers=...); the others keep
    the pipeline's defaults, but for where things run: local worker processes, no GPUs,
    the work directory instead of volumes, the local model repository instead of KServe."""
    from kfp import local

    from distml.pipelines.kfp.train_and_deploy import I, T, build_pipeline

    if not model_types:
        raise UsageError("give at least one model type")
    # A typo or an impossible value fails here, in train's own words, not after ingest inside a training step.
    training = {f.name: arguments[f.name] for f in dataclasses.fields(TrainConfig) if f.name in arguments}
    for model_type in model_types:
        check_training(TrainConfig(dataset_dir="", model_dir="", **training, model_type=model_type))
    workers = arguments.get("workers", T.workers)
    check_workers(workers)
    num_shards = arguments.get("num_shards", 0)
    if 0 < num_shards < workers:
        raise UsageError(f"--num-shards {num_shards} is fewer than --workers {workers}: every worker needs a shard")
    from distml.components.ingest.sources import resolved_dataset_version

    # kfp.local caches ingest on its inputs: the data's version makes new files a new input.
    dataset = arguments.get("dataset", I.dataset)
    arguments.setdefault(
        "dataset_version", resolved_dataset_version(dataset, data_dir=arguments.get("tfds_data_dir") or None)
    )
    workdir = Path(workdir).resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    stamp = f"{datetime.datetime.now():%Y%m%d-%H%M%S}"
    log_path = workdir / "logs" / f"run-{stamp}.log"
    model_repo = workdir / "model-repo"
    out = out or sys.stdout

    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(workdir / "pipeline-root"),
        enable_caching=cache,
        cache_root=str(workdir / "cache"),
        raise_on_error=True,
    )
    pipeline = without_retries(build_pipeline(for_cluster=False))
    # SubprocessRunner runs the components in this Python, which has distml: the warning
    # that the distml image is "not a Python image" does not apply.
    warnings.filterwarnings("ignore", message="You may be attemping to run a task that uses custom")
    board = StepBoard(["ingest", *(f"train {t}" for t in model_types), "select", "deploy"], out)
    board.print(
        f"distml run: {dataset}, model variants {', '.join(model_types)} ({workers} worker{'s' * (workers > 1)} each); "
        f"full log: {log_path}"
    )
    started = time.monotonic()
    with open(log_path, "w") as log_file:
        output = StepOutput(out, log_file, width=board.width)
        with track_steps(board, log_file), steps_stop_on_sigterm(), contextlib.redirect_stdout(output):
            try:
                task = pipeline(
                    model_types=list(model_types),
                    **arguments,
                    launcher="local",
                    gpus=0,
                    serving_target="local",
                    store_root="",
                    models_root=str(workdir / "models"),
                    model_repo=str(model_repo),
                )
            except RuntimeError as e:
                reason, usage = failure_reason(board, output, e)
                # A step's usage error is distml run's: the same exit status 2 as the component's.
                raise (UsageError if usage else DistmlError)(f"{reason} (full log: {log_path})") from None
    board.finish("the winner was not blessed")
    selection = json.loads(Path(task.output.uri).read_text())
    report = write_run_report(selection, workdir / "reports" / stamp)
    summary = summarize(selection, time.monotonic() - started, model_repo, selection["model_name"], log_path)
    summary["steps"] = board.records()
    summary["executed_steps"] = [s["step"] for s in summary["steps"] if s["status"] == "done"]
    summary["report"] = report
    (workdir / "last-run.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def without_retries(pipeline):
    """The pipeline's retries are for a cluster's transient failures (a pod evicted, a node
    lost); here a failed step fails the same way again, after a back-off of minutes."""
    spec = pipeline.pipeline_spec
    dags = [spec.root.dag] + [c.dag for c in spec.components.values() if c.HasField("dag")]
    for dag in dags:
        for task in dag.tasks.values():
            task.ClearField("retry_policy")
    return pipeline


def failure_reason(board, output, error):
    """One line: the step that failed and the error it printed; and whether that error was a
    usage error (the components' flags are distml run's too: its advice holds here)."""
    failed = [label for label, step in board.steps.items() if step["status"] == "failed"]
    if not failed:
        return f"the pipeline failed: {strip_colors(str(error).splitlines()[0])}", False
    kind, detail = output.last_error(failed[0]) or ("", "")
    return f"step {failed[0]} failed" + (f": {detail}" if detail else ""), kind == UsageError.__name__


def write_run_report(selection, report_dir):
    """The selection report (report.html, report.md, charts) where a person finds it; their paths."""
    from distml.components.select.report import CHARTS, HTML_REPORT_FILE, REPORT_FILE, write_report

    write_report(selection, report_dir)
    return {
        "html": str(report_dir / HTML_REPORT_FILE),
        "markdown": str(report_dir / REPORT_FILE),
        "charts": [str(report_dir / chart) for chart in CHARTS if (report_dir / chart).is_file()],
    }


def summarize(selection, wall_time_s, model_repo, model_name, log_path):
    variants = [
        {
            "model_type": c["name"],
            "accuracy": c["metrics"]["accuracy"],
            "loss": c["metrics"]["loss"],
            "train_time_s": (c.get("training") or {}).get("wall_time_s"),
            "model_dir": c["model_dir"],
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
        "class_names": selection["class_names"],
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
    steps = summary["steps"]
    if not summary["executed_steps"]:
        rows.append("steps:   none executed: every step's inputs were unchanged, all came from the cache")
    else:
        rows.append(
            "steps:   "
            + ", ".join(
                f"{s['name']} {s['status']}"
                + (f" ({s['seconds']:.0f} s)" if s["status"] == "done" and s["seconds"] else "")
                for s in steps
            )
        )
    report = summary["report"]
    rows.append(f"report:  {report['html']}  (open it in a browser; Markdown: {report['markdown']})")
    rows.append(f"charts:  {', '.join(report['charts'])}")
    if summary["model_path"]:
        rows.append(f"model:   {summary['model_path']} (the winner, pushed to the model repository)")
    rows.append("trained: " + ", ".join(f"{v['model_type']} {v['model_dir']}" for v in summary["variants"]))
    rows.append(f"total:   {summary['wall_time_s']:.1f} s; full log: {summary['log']}")
    return "\n".join(rows)
