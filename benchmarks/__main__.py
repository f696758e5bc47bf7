"""Run every benchmark and print their result tables: `python -m benchmarks` (`make bench`).

    python -m benchmarks [--only training serving ...] [--quick] [--workdir DIR]

Each benchmark also runs alone with its own flags (python -m benchmarks.training --help).
--quick: a smaller run for a smoke test (12,000 examples, one repeat, fewer steps), not for results.
Defaults take about 10-15 minutes on a 2-core machine, plus ~5 minutes the first time to
generate the dataset (cached in build/bench) and to create .venv-bench.
"""

import argparse
import io
import sys
import time
import traceback
from contextlib import redirect_stdout

from benchmarks import ingestion, pipeline, serving, training
from benchmarks.common import print_machine

BENCHMARKS = {"ingestion": ingestion, "training": training, "serving": serving, "pipeline": pipeline}
QUICK = {
    "ingestion": ["--examples", "12000", "--repeats", "1", "--no-digits"],
    "training": ["--examples", "12000", "--repeats", "1", "--steps-per-epoch", "30"],
    "serving": ["--examples", "12000", "--repeats", "1", "--duration", "3"],
    "pipeline": ["--", "--epochs", "1", "--model-types", "cnn"],
}


class Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)

    print_machine()
    tables, failed = {}, []
    for name in args.only:
        # --workdir first: the pipeline's quick arguments end with "-- distml run arguments"
        argv_ = (["--workdir", args.workdir] if args.workdir else []) + (QUICK[name] if args.quick else [])
        print(f"\n## {name}", flush=True)
        captured = io.StringIO()
        started = time.monotonic()
        try:
            with redirect_stdout(Tee(sys.stdout, captured)):
                BENCHMARKS[name].main(argv_)
        except (Exception, SystemExit) as e:  # one failing benchmark does not hide the others
            failed.append(name)
            print(f"benchmark {name} failed: {e}", flush=True)
            if not isinstance(e, SystemExit):
                traceback.print_exc()
        text = captured.getvalue()
        tables[name] = (text[text.index("\n### ") :] if "\n### " in text else ""), time.monotonic() - started
    print("\n\n# Summary")
    for name, (text, seconds) in tables.items():
        print(f"\n## {name} ({seconds:.0f} s)\n")
        if text:
            print(text.strip())
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
