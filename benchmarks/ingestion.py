"""Ingestion: examples/s of distml's ingest reader per worker vs `tfds.load(...)` with
`as_supervised=True` on the same data, in one process, alternating, repeated.

Datasets:
  generated  the benchmark dataset (benchmarks.data, default 60,000 train images): the TFDS
             copy (PNG-encoded images, 8 shards) and the ingest artifact made from it (raw uint8, 8 shards)
  digits     the offline TFDS builder `distml_digits` (1,437 train images) and its ingest artifact

Per worker i of W (default W = 1 and 2), each side reads worker i's part of the train split:
  reader  read_split(artifact, "train", InputContext(W, i), batch_size=B, shuffle=True, seed=0)
  tfds    tfds.load(name, split="train", as_supervised=True, shuffle_files=True,
                    read_config=tfds.ReadConfig(input_context=InputContext(W, i), shuffle_seed=0))
          .shuffle(10000, seed=0).batch(B).prefetch(AUTOTUNE)
Both iterate to the end (at least --min-seconds, repeating passes for small data) and count examples.

    python -m benchmarks.ingestion [--workers 1 2] [--batch-size 64] [--repeats 3] [--no-digits]
"""

import argparse
import sys
import time

from benchmarks import data
from benchmarks.common import print_machine, save_json, spread, table, workdir


def count(make_dataset, min_seconds):
    """Examples/s over whole passes, repeated until min_seconds have passed."""
    examples, started = 0, time.perf_counter()
    while True:
        for _, labels in make_dataset():
            examples += int(labels.shape[0])
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return examples / elapsed, examples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--no-digits", dest="digits", action="store_false")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)

    import tensorflow as tf
    import tensorflow_datasets as tfds

    from distml.components.ingest.core import ingest
    from distml.components.ingest.reader import read_split

    root = workdir(args.workdir)
    print_machine()
    prepared = data.prepare(args.examples, args.seed, root)
    sets = [("generated", data.NAME, str(prepared["tfds_dir"]), prepared["artifact"], prepared["metadata"])]
    if args.digits:
        from distml.components.ingest import digits_builder

        digits_dir = root / "tfds-digits"
        b = digits_builder.DistmlDigits(data_dir=str(digits_dir))
        if not b.is_prepared():
            b.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=8))
        artifact = root / "datasets" / "digits"
        meta = ingest("digits", artifact, data_dir=str(digits_dir), num_shards=8, seed=args.seed)
        sets.append(("digits", "distml_digits", str(digits_dir), artifact, meta))

    B = args.batch_size
    results = []
    for rep in range(args.repeats):
        for set_name, tfds_name, tfds_dir, artifact, _meta in sets:
            for w in args.workers:
                for i in range(w):
                    ctx = tf.distribute.InputContext(num_input_pipelines=w, input_pipeline_id=i, num_replicas_in_sync=w)

                    def reader():
                        return read_split(
                            artifact, "train", ctx, batch_size=B, shuffle=True, seed=args.seed, verify=False
                        )

                    def tfds_load():
                        ds = tfds.load(
                            tfds_name,
                            split="train",
                            as_supervised=True,
                            shuffle_files=True,
                            data_dir=tfds_dir,
                            download=False,
                            read_config=tfds.ReadConfig(input_context=ctx, shuffle_seed=args.seed),
                        )
                        return ds.shuffle(10_000, seed=args.seed).batch(B).prefetch(tf.data.AUTOTUNE)

                    sides = [("reader", reader), ("tfds", tfds_load)]
                    if rep % 2:
                        sides.reverse()
                    for side, make in sides:
                        rate, n = count(make, args.min_seconds)
                        results.append(
                            {
                                "dataset": set_name,
                                "impl": side,
                                "workers": w,
                                "worker": i,
                                "repeat": rep,
                                "examples_per_s": rate,
                                "examples": n,
                            }
                        )
                    last = results[-2:]
                    print(
                        f"# {set_name} W={w} worker {i} repeat {rep}: "
                        + ", ".join(f"{r['impl']} {r['examples_per_s']:.0f} ex/s" for r in last),
                        flush=True,
                    )
    save_json(root / "ingestion.json", {"args": vars(args), "results": results})
    report(results, args, sets)
    return results


def report(results, args, sets):
    rows = []
    for set_name, *_rest, meta in sets:
        for w in args.workers:

            def per_worker(impl):
                return [
                    r["examples_per_s"]
                    for r in results
                    if r["dataset"] == set_name and r["workers"] == w and r["impl"] == impl
                ]

            ratios = []
            for rep in range(args.repeats):
                for i in range(w):
                    pick = lambda impl: next(
                        r["examples_per_s"]
                        for r in results
                        if r["dataset"] == set_name
                        and r["workers"] == w
                        and r["worker"] == i
                        and r["repeat"] == rep
                        and r["impl"] == impl
                    )
                    ratios.append(pick("reader") / pick("tfds"))
            n = meta["splits"]["train"]["num_examples"]
            rows.append(
                [set_name, n, w, spread(per_worker("reader")), spread(per_worker("tfds")), spread(ratios, "{:.1f}x")]
            )
    table(
        f"Ingestion, examples/s per worker (batch {args.batch_size}, shuffled): median (min-max) over workers and repeats",
        ["dataset", "train examples", "workers", "ingest reader", "tfds.load as_supervised", "reader / tfds"],
        rows,
    )


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
