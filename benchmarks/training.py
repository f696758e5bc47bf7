"""Training throughput: distml's trainer vs the naive tf-keras `model.fit` baseline.

For each worker count W (default 1 and 2) and each repeat, side by side in one run:
  distml          `distml.components.train.train(..., launcher="local", workers=W)`: W local
                  worker processes, MultiWorkerMirroredStrategy, custom loop, the ingest reader
                  (file-level sharding, parallel batched parsing, prefetch), precision "auto"
  distml-float32  the same with precision="float32": what the input pipeline and the loop
                  give without mixed bfloat16
  step-ceiling    benchmarks/step_ceiling.py, with 1 worker only: distml's replica step on one
                  in-memory batch, no pipeline, no strategy: the fastest any trainer of this model,
                  batch and precision can go here, so its ratio bounds distml's
  baseline        benchmarks/baseline_worker.py in .venv-bench: W processes, tf-keras model.fit,
                  DATA auto-shard over an unsharded TFRecordDataset, cache() + shuffle(), no prefetch
Same model (cnn), per-replica batch, epochs and steps per epoch, same dataset (benchmarks.data).

Throughput = examples / seconds inside the training loop, per epoch as each side times it:
"steady" uses epochs 2.., "all" every epoch (epoch 1 includes tracing, the baseline's cache
fill). Per worker = total / W. Wall = the whole call, process start to model written.

    python -m benchmarks.training [--workers 1 2] [--repeats 2] [--epochs 3] [--steps-per-epoch 200|0=full pass]
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import data
from benchmarks.common import BENCH_VENV, median, print_machine, save_json, spread, table, workdir
from distml.components.common.ports import free_ports

HERE = Path(__file__).resolve().parent
TRAINERS = ["distml", "distml-float32", "step-ceiling", "baseline"]


def ensure_bench_venv():
    python = BENCH_VENV / "bin" / "python"
    subprocess.run(["sh", str(HERE / "setup_bench_venv.sh"), str(BENCH_VENV)], check=True)
    return python


def throughput(epochs, global_batch, first=0):
    chosen = epochs[first:] or epochs
    steps = sum(e["steps"] for e in chosen)
    seconds = sum(e["seconds"] for e in chosen)
    return steps * global_batch / seconds if seconds else None


def run_distml(dataset, out, workers, epochs, steps, batch, seed, timeout, log, precision="auto"):
    from distml.components.train.core import train

    started = time.monotonic()
    with contextlib.redirect_stderr(log):
        metrics = train(
            dataset,
            out / "model",
            model_type="cnn",
            epochs=epochs,
            steps_per_epoch=steps,
            batch_size=batch,
            seed=seed,
            workers=workers,
            launcher="local",
            max_restarts=0,
            startup_timeout=300,
            timeout=timeout,
            precision=precision,
        )
    wall = time.monotonic() - started
    return {
        "epochs": metrics["history"],
        "global_batch_size": metrics["global_batch_size"],
        "wall_s": wall,
        "precision": metrics["precision"],
        "test_accuracy": metrics["final"].get("test_accuracy"),
    }


def run_step_ceiling(dataset, out, epochs, steps, batch, seed, timeout, log):
    result = out / "step-ceiling.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.step_ceiling",
        "--dataset",
        str(dataset),
        "--epochs",
        str(epochs),
        "--steps-per-epoch",
        str(steps),
        "--batch-size",
        str(batch),
        "--seed",
        str(seed),
        "--result",
        str(result),
    ]
    started = time.monotonic()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(
        command, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=True, timeout=timeout, cwd=HERE.parent
    )
    return {**json.loads(result.read_text()), "wall_s": time.monotonic() - started}


def run_baseline(python, dataset, out, workers, epochs, steps, batch, seed, timeout, log):
    out.mkdir(parents=True, exist_ok=True)
    result = out / "baseline.json"
    addresses = [f"localhost:{p}" for p in free_ports(workers)]
    command = [
        str(python),
        str(HERE / "baseline_worker.py"),
        "--dataset",
        str(dataset),
        "--epochs",
        str(epochs),
        "--steps-per-epoch",
        str(steps),
        "--batch-size",
        str(batch),
        "--seed",
        str(seed),
        "--result",
        str(result),
    ]
    started = time.monotonic()
    procs = []
    try:
        for i in range(workers):
            tf_config = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})
            env = {**os.environ, "TF_CONFIG": tf_config, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        deadline = started + timeout
        for p in procs:
            p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()  # SIGKILL: TensorFlow catches SIGTERM
                p.wait()
    codes = [p.returncode for p in procs]
    if any(codes) or not result.is_file():
        raise RuntimeError(f"baseline workers exited with {codes}; see {log.name}")
    wall = time.monotonic() - started
    return {**json.loads(result.read_text()), "wall_s": wall}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60_000, help="train examples in the generated dataset")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        default=200,
        help="0: one pass over the train split at the largest global batch (default 200)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="per replica (distml's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per training run")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)

    root = workdir(args.workdir)
    print_machine()
    python = ensure_bench_venv()
    prepared = data.prepare(args.examples, args.seed, root)
    dataset = prepared["artifact"]
    steps = args.steps_per_epoch or args.examples // (args.batch_size * max(args.workers))
    runs_dir = root / "training"
    log_path = root / "training.log"
    print(
        f"# dataset {dataset} ({args.examples} train examples); {args.epochs} epochs x {steps} steps, "
        f"per-replica batch {args.batch_size}; worker logs in {log_path}",
        flush=True,
    )

    results = []
    with open(log_path, "a") as log:
        for rep in range(args.repeats):
            for w in args.workers:
                # Rotate which side goes first so a load change on the shared machine hits all.
                order = TRAINERS[rep % len(TRAINERS) :] + TRAINERS[: rep % len(TRAINERS)]
                for name in order:
                    if name == "step-ceiling" and w != 1:
                        continue
                    out = runs_dir / f"{name}-w{w}-r{rep}"
                    shutil.rmtree(out, ignore_errors=True)
                    out.mkdir(parents=True)
                    print(f"# repeat {rep + 1}/{args.repeats}: {name}, {w} worker(s) ...", flush=True)
                    log.write(f"\n===== {name} workers={w} repeat={rep} =====\n")
                    log.flush()
                    if name == "step-ceiling":
                        r = run_step_ceiling(
                            dataset, out, args.epochs, steps, args.batch_size, args.seed, args.timeout, log
                        )
                    elif name != "baseline":
                        precision = "float32" if name == "distml-float32" else "auto"
                        r = run_distml(
                            dataset,
                            out,
                            w,
                            args.epochs,
                            steps,
                            args.batch_size,
                            args.seed,
                            args.timeout,
                            log,
                            precision,
                        )
                    else:
                        r = run_baseline(
                            python, dataset, out, w, args.epochs, steps, args.batch_size, args.seed, args.timeout, log
                        )
                    gb = r["global_batch_size"]
                    row = {
                        "impl": name,
                        "workers": w,
                        "repeat": rep,
                        "global_batch": gb,
                        "steady": throughput(r["epochs"], gb, first=1),
                        "all": throughput(r["epochs"], gb),
                        "epoch1": throughput(r["epochs"][:1], gb),
                        "wall_s": r["wall_s"],
                        "epochs": r["epochs"],
                        "precision": r.get("precision", "float32"),
                        "test_accuracy": r.get("test_accuracy"),
                    }
                    results.append(row)
                    print(
                        f"#   steady {row['steady']:.0f} ex/s, all epochs {row['all']:.0f} ex/s, wall {row['wall_s']:.1f} s",
                        flush=True,
                    )
                    shutil.rmtree(out, ignore_errors=True)
    save_json(root / "training.json", {"args": vars(args), "results": results})
    report(results, args)
    return results


def report(results, args):
    rows = []
    for w in args.workers:
        for name in TRAINERS:
            rs = [r for r in results if r["impl"] == name and r["workers"] == w]
            if not rs:
                continue
            accuracies = [r["test_accuracy"] for r in rs if r["test_accuracy"] is not None]
            rows.append(
                [
                    name,
                    rs[0]["precision"],
                    w,
                    rs[0]["global_batch"],
                    spread([r["steady"] for r in rs]),
                    spread([r["steady"] / w for r in rs]),
                    spread([r["all"] for r in rs]),
                    spread([r["epoch1"] for r in rs]),
                    spread([r["wall_s"] for r in rs], "{:.1f}"),
                    spread(accuracies, "{:.3f}") if accuracies else "not measured",
                ]
            )
    table(
        "Training throughput, examples/s: median (min-max) over repeats",
        [
            "trainer",
            "precision",
            "workers",
            "global batch",
            "steady total",
            "steady per worker",
            "all epochs total",
            "epoch 1",
            "wall s",
            "test accuracy",
        ],
        rows,
    )
    ratio_rows = []
    for w in args.workers:
        for name in TRAINERS[:-1]:
            steady, whole, wall = [], [], []
            for rep in range(args.repeats):
                d = next((r for r in results if r["impl"] == name and r["workers"] == w and r["repeat"] == rep), None)
                b = next(
                    (r for r in results if r["impl"] == "baseline" and r["workers"] == w and r["repeat"] == rep), None
                )
                if d and b:
                    steady.append(d["steady"] / b["steady"])
                    whole.append(d["all"] / b["all"])
                    if name != "step-ceiling":  # it exports nothing: its wall time compares with none
                        wall.append(b["wall_s"] / d["wall_s"])
            if not steady:
                continue
            target = ""
            if name == "distml":  # the training loop over every epoch, as users run it
                target = "met" if median(whole) is not None and median(whole) >= 2 else "NOT met"
            ratio_rows.append(
                [name, w, spread(steady, "{:.2f}"), spread(whole, "{:.2f}"), spread(wall, "{:.2f}"), target]
            )
    table(
        "distml / baseline, per repeat (side by side): median (min-max); target >= 2x",
        ["trainer", "workers", "steady ex/s ratio", "all-epochs ex/s ratio", "wall-time speed-up", "target 2x"],
        ratio_rows,
    )


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
