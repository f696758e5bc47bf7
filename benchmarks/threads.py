"""A/B: distml's multi-worker local training with every worker's TensorFlow pools sized to
all the machine's cores (TensorFlow's default) vs the local launcher's share of cores/W
threads per worker (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS), alternating, repeated.

Not part of `python -m benchmarks`; it backs the launcher's choice (components/train/local.py).

    python -m benchmarks.threads [--workers 2] [--repeats 3] [--epochs 3] [--steps-per-epoch 200]
"""

import argparse
import os
import shutil
import sys
from contextlib import contextmanager

from benchmarks import data
from benchmarks.common import print_machine, save_json, spread, table, workdir
from benchmarks.training import run_distml, throughput


@contextmanager
def environment(values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    root = workdir(args.workdir)
    print_machine()
    dataset = data.prepare(args.examples, args.seed, root)["artifact"]
    cores = str(len(os.sched_getaffinity(0)))
    variants = {
        f"all {cores} cores per worker (TF default)": {
            "TF_NUM_INTRAOP_THREADS": cores,
            "TF_NUM_INTEROP_THREADS": cores,
        },
        "cores/W per worker (launcher)": {},
    }
    results = []
    with open(root / "threads.log", "a") as log:
        for rep in range(args.repeats):
            names = list(variants) if rep % 2 == 0 else list(reversed(variants))
            for name in names:
                out = root / "threads" / f"r{rep}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                with environment(variants[name]):
                    r = run_distml(
                        dataset, out, args.workers, args.epochs, args.steps_per_epoch, 64, args.seed, 900, log
                    )
                gb = r["global_batch_size"]
                row = {
                    "variant": name,
                    "repeat": rep,
                    "steady": throughput(r["epochs"], gb, first=1),
                    "all": throughput(r["epochs"], gb),
                    "wall_s": r["wall_s"],
                }
                results.append(row)
                print(
                    f"# {name}: steady {row['steady']:.0f} ex/s, all {row['all']:.0f} ex/s, wall {row['wall_s']:.1f} s",
                    flush=True,
                )
                shutil.rmtree(out, ignore_errors=True)
    save_json(root / "threads.json", {"args": vars(args), "results": results})
    table(
        f"distml, {args.workers} local workers: examples/s total, median (min-max)",
        ["variant", "steady", "all epochs", "wall s"],
        [
            [
                v,
                spread([r["steady"] for r in results if r["variant"] == v]),
                spread([r["all"] for r in results if r["variant"] == v]),
                spread([r["wall_s"] for r in results if r["variant"] == v], "{:.1f}"),
            ]
            for v in variants
        ],
    )
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
