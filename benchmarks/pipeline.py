"""Pipeline: `distml run --workdir DIR` cold (empty DIR), then again memoized (same DIR).

The documented CLI of `distml run` (pipelines/kfp/run_cli.py): kfp.local runs the
train-and-deploy pipeline with caching in <DIR>/cache. The memoized run has the same inputs,
so every step should come from the cache. Timed from outside (process start to exit); the
executed steps are read from <DIR>/last-run.json (`executed_steps`). Target: memoized < 10% of cold.

    python -m benchmarks.pipeline [--repeats 1] [-- EXTRA distml run ARGS, e.g. --epochs 2]
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import print_machine, save_json, spread, table, workdir

DISTML = Path(sys.executable).parent / "distml"


def run_once(run_dir, extra, log, timeout):
    started = time.monotonic()
    proc = subprocess.run(
        [str(DISTML), "run", "--workdir", str(run_dir), *extra],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"distml run exited with {proc.returncode}; see {log.name}")
    summary_path = Path(run_dir) / "last-run.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return {
        "seconds": seconds,
        "executed_steps": summary.get("executed_steps"),
        "reported_s": summary.get("wall_time_s"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="cold + memoized pairs, each in a fresh work folder")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per distml run")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("extra", nargs="*", help="arguments for distml run (after --)")
    args = parser.parse_args(argv)

    root = workdir(args.workdir)
    print_machine()
    if not DISTML.exists():
        sys.exit(f"{DISTML} not found: install distml in this interpreter's environment (make install)")
    help_text = subprocess.run([str(DISTML), "run", "--help"], capture_output=True, text=True).stdout
    if "--workdir" not in help_text:
        sys.exit("`distml run --workdir` is not available in this checkout yet")
    results = []
    with open(root / "pipeline.log", "a") as log:
        for rep in range(args.repeats):
            run_dir = root / "pipeline" / f"run-{rep}"
            shutil.rmtree(run_dir, ignore_errors=True)
            for kind in ("cold", "memoized"):
                print(
                    f"# repeat {rep + 1}/{args.repeats}: distml run --workdir {run_dir} {' '.join(args.extra)} ({kind}) ...",
                    flush=True,
                )
                log.write(f"\n===== {kind} repeat={rep} =====\n")
                log.flush()
                r = run_once(run_dir, args.extra, log, args.timeout)
                r.update(kind=kind, repeat=rep)
                results.append(r)
                print(f"#   {r['seconds']:.1f} s, executed steps: {r['executed_steps']}", flush=True)
            shutil.rmtree(run_dir, ignore_errors=True)
    save_json(root / "pipeline.json", {"args": vars(args), "results": results})
    report(results, args)
    return results


def report(results, args):
    cold = [r["seconds"] for r in results if r["kind"] == "cold"]
    memo = [r["seconds"] for r in results if r["kind"] == "memoized"]
    ratios = [m / c for c, m in zip(cold, memo)]
    executed = sorted({s for r in results if r["kind"] == "memoized" for s in (r["executed_steps"] or [])})
    table(
        f"distml run {' '.join(args.extra)} (seconds, process start to exit): median (min-max)",
        ["cold s", "memoized s", "memoized / cold", "steps executed when memoized", "target < 10%"],
        [
            [
                spread(cold, "{:.1f}"),
                spread(memo, "{:.1f}"),
                spread([x * 100 for x in ratios], "{:.1f}%"),
                ", ".join(executed) or "none",
                "met" if ratios and max(ratios) < 0.10 else "NOT met",
            ]
        ],
    )


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
