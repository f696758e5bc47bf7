"""Issue 23's six one-line breakages: apply each in place, run the tests meant to catch it,
restore the file, and say whether they failed (they must). docs/testing.md lists them.

    .venv/bin/python tests/mutation/breakages.py [NAME ...]

Like `make mutation`, it edits the sources while it runs (and restores them, also when
interrupted): do not edit them meanwhile. The tests train and serve real models: minutes.
"""

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTEST = [str(REPO / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]

# name -> (file, the line's text as it is, as broken, the tests that must fail)
BREAKAGES = {
    "every worker reads all shards": (
        "components/train/loop.py",
        '            "train",\n            input_context,\n',
        '            "train",\n            None,\n',
        ["tests/train/test_distributed.py::test_each_epoch_every_example_is_read_once_by_exactly_one_worker"],
    ),
    "loss averaged per replica": (
        "components/train/step.py",
        "loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)",
        "loss = tf.reduce_mean(per_example)",
        ["tests/train/test_distributed.py::test_one_step_on_two_workers_equals_one_step_on_the_global_batch"],
    ),
    "deploy --target local does not signal the server": (
        "components/deploy/core.py",
        "if state is None or not signal_server(state):",
        "if state is None or not bool(state):",
        [
            "tests/serve/test_hot_swap.py::test_swap_to_pushed_version_without_failing_requests",
            "tests/serve/test_hot_swap.py::test_broken_version_is_logged_and_old_one_keeps_serving",
        ],
    ),
    "TFJob wait reads the first True condition": (
        "components/train/tfjob.py",
        "return current[-1] if current else {}",
        "return current[0] if current else {}",
        ["tests/train/test_tfjob.py"],
    ),
    "server grace period 0": (
        "components/serve/server.py",
        "grace_period=grace_period_s,",
        "grace_period=0,",
        ["tests/serve/test_hot_swap.py::test_sigterm_finishes_in_flight_requests_and_exits_cleanly"],
    ),
    "baseline latest picks the oldest version": (
        "components/common/model_artifact.py",
        "for path in reversed(_numeric_dirs(folder)):\n        if is_version_dir(path):\n            return int",
        "for path in _numeric_dirs(folder):\n        if is_version_dir(path):\n            return int",
        [
            "tests/select/test_select.py::test_baseline_better_than_every_candidate_blocks_the_push",
            "tests/select/test_metrics_and_blessing.py::test_latest_version_is_the_newest_complete_one",
        ],
    ),
}


def check(name):
    relative, original, broken, tests = BREAKAGES[name]
    path = REPO / relative
    source = path.read_text()
    assert source.count(original) == 1, f"{name}: {relative} no longer holds the line to break exactly once"
    started = time.monotonic()
    try:
        path.write_text(source.replace(original, broken))
        result = subprocess.run([*PYTEST, "-rf", *tests], cwd=REPO, capture_output=True, text=True)
    finally:
        path.write_text(source)
    failed = [line.split(" ")[1] for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    caught = result.returncode == 1 and bool(failed)
    verdict = "caught" if caught else f"NOT CAUGHT (pytest exit {result.returncode})"
    print(f"{name} ({relative}): {verdict} in {time.monotonic() - started:.0f} s", flush=True)
    for test in failed:
        print(f"    failed: {test}", flush=True)
    if not caught:
        print(result.stdout[-3000:], flush=True)
    return caught


if __name__ == "__main__":
    names = sys.argv[1:] or list(BREAKAGES)
    missed = [name for name in names if not check(name)]
    sys.exit(1 if missed else 0)
