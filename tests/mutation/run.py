"""`make mutation`: cosmic-ray over distml's pure-Python cores, each target with the fast unit
tests that cover it; prints killed/survived per target and the overall kill rate, and writes
the surviving mutants (diffs) to .mutation/survivors-<target>.txt for review.

cosmic-ray mutates the files in place, one mutant at a time, and restores them: do not edit
the sources while it runs. The run ends by checking that every mutated file is back as it
was. Results are recorded in docs/testing.md.

    .venv-mutation/bin/python tests/mutation/run.py [--sample N] [--recheck] [--cold] [TARGET ...]

--sample N runs a random sample (seeded) of N mutants per target instead of all of them: an
estimate of the kill rate when the machine cannot spare the half hour a full run takes.
--recheck re-runs, with today's tests, only the mutants that survived the last run (after
tests were added to kill them), and prints which are killed now.
--report prints the last run's figures per target, and those after --recheck.
--cold runs each mutant's tests in a new interpreter instead of one forked from a warm one
(tests/mutation/warm_pytest.py): slower (docs/testing.md has the times), same verdicts.
"""

import argparse
import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".mutation"
BIN = Path(sys.executable).parent
PYTHON = REPO / ".venv" / "bin" / "python"
# stop at the first failure; no shuffling, cache or unused plugin; a hung test fails after 30 s
PYTEST_ARGS = "-x -q -p no:randomly -p no:cacheprovider -p no:anyio --timeout=30"
MUTANT_TIMEOUT_S = 120  # cosmic-ray's, for the whole test run of one mutant

# target -> (modules to mutate, the tests that cover them)
TARGETS = {
    "selection": (
        ["components/select/blessing.py", "components/select/metrics.py"],
        ["tests/select/test_metrics_and_blessing.py"],
    ),
    "versions": (
        ["components/common/model_artifact.py"],
        [
            "tests/deploy/test_versions.py",
            "tests/select/test_metrics_and_blessing.py::test_latest_version_is_the_newest_complete_one",
            # the one TensorFlow test: signature_problem reads real signatures (last: with -x,
            # only mutants that the others miss pay the TensorFlow import)
            "tests/select/test_signature_contract.py",
        ],
    ),
    "tf_config": (
        ["components/common/tf_config.py"],
        ["tests/train/test_tf_config.py", "tests/train/test_tf_config_jobset.py"],
    ),
    "tfjob": (
        ["components/train/tfjob.py"],
        ["tests/train/test_tfjob.py -k 'not validates and not cli_dry_run and not import and not without_a_cluster'"],
    ),
    # both build and patch InferenceServices: each module's mutants face both test files
    "inference_service": (
        ["components/deploy/manifest.py"],
        ["tests/deploy/test_manifest.py tests/deploy/test_rollout.py -k 'not validates and not cli'"],
    ),
    "rollout": (
        ["components/deploy/rollout.py"],
        ["tests/deploy/test_rollout.py tests/deploy/test_manifest.py -k 'not validates and not cli'"],
    ),
    "trainjob": (
        ["components/train/trainjob.py"],
        ["tests/train/test_trainjob.py -k 'not validate'"],
    ),
    # the model server's input validation: what a request may hold, and the 400 that says why not
    "request_inputs": (
        ["components/serve/inputs.py"],
        ["tests/serve/test_inputs.py"],
    ),
}
# Operators left out: replacing an arithmetic operator by a bitwise, shift, power or modulo one
# (x + 1 -> x << 1, ...) multiplies the mutants by five and tells nothing the Add/Sub/Mul/Div
# swaps do not.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_.*_(BitOr|BitAnd|BitXor|LShift|RShift|Pow|Mod|FloorDiv)$",
    r"core/ReplaceBinaryOperator_(BitOr|BitAnd|BitXor|LShift|RShift|Pow|Mod|FloorDiv)_.*",
]


def test_command(tests, warm_socket):
    """The command cosmic-ray runs for each mutant: pytest on `tests`, through the warm
    interpreter listening on `warm_socket` if there is one."""
    if warm_socket:
        runner = f"{PYTHON} -S {REPO / 'tests' / 'mutation' / 'warm_pytest.py'} run {warm_socket}"
    else:
        runner = f"{PYTHON} -m pytest"
    return f"{runner} {PYTEST_ARGS} {' '.join(tests)}"


@contextlib.contextmanager
def warm_pytest(cold):
    """Start tests/mutation/warm_pytest.py's server for the run (unless `cold`); yield its socket."""
    if cold:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="distml-mutation-") as folder:
        socket_path = Path(folder) / "pytest.sock"
        server = subprocess.Popen(
            [PYTHON, REPO / "tests" / "mutation" / "warm_pytest.py", "serve", socket_path],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            ready = server.stdout.readline()
            if not ready.startswith("warm pytest ready"):
                raise SystemExit(f"tests/mutation/warm_pytest.py did not start (exit {server.wait()})")
            yield socket_path
        finally:
            server.kill()
            server.wait()


def config(name, modules, tests, warm_socket):
    lines = [
        "[cosmic-ray]",
        f"module-path = {json.dumps([str(REPO / m) for m in modules])}",
        f"timeout = {float(MUTANT_TIMEOUT_S)}",
        "excluded-modules = []",
        f"test-command = {json.dumps(test_command(tests, warm_socket))}",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "[cosmic-ray.filters.operators-filter]",
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}",
    ]
    path = WORK / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def digest(paths):
    return {p: hashlib.sha256((REPO / p).read_bytes()).hexdigest() for p in paths}


def keep_sample(session, size, seed=0):
    """Mark all but `size` randomly chosen pending mutants as skipped."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sorted(item.job_id for item in db.pending_work_items)
        chosen = set(random.Random(seed).sample(pending, min(size, len(pending))))
        for job_id in pending:
            if job_id not in chosen:
                db.set_result(job_id, WorkResult(output="not in the sample", worker_outcome=WorkerOutcome.SKIPPED))
    return len(pending)


def run(*command, **kwargs):
    return subprocess.run([str(c) for c in command], cwd=REPO, check=True, text=True, **kwargs)


def main(names, sample=None, warm_socket=None):
    WORK.mkdir(exist_ok=True)
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    rows = []
    for name in names or TARGETS:
        modules, tests = TARGETS[name]
        before = digest(modules)
        originals = {m: (REPO / m).read_bytes() for m in modules}
        cfg, session = config(name, modules, tests, warm_socket), WORK / f"{name}.sqlite"
        started = time.monotonic()
        run(BIN / "cosmic-ray", "init", "--force", cfg, session)
        (WORK / f"recheck-{name}.json").unlink(missing_ok=True)  # it rechecked the previous run's survivors
        run(BIN / "cr-filter-operators", session, cfg)
        population = keep_sample(session, sample) if sample else None
        run(BIN / "cosmic-ray", "baseline", cfg)
        try:
            run(BIN / "cosmic-ray", "exec", cfg, session)
        finally:  # an interrupted run must not leave a mutant in the sources
            for module, content in originals.items():
                if (REPO / module).read_bytes() != content:
                    (REPO / module).write_bytes(content)
        assert digest(modules) == before, f"{name}: a mutated file was not restored: git diff {' '.join(modules)}"
        survivors = run(BIN / "cr-report", "--surviving-only", "--show-diff", session, capture_output=True).stdout
        (WORK / f"survivors-{name}.txt").write_text(survivors)
        counts = outcomes(session)
        tested = f"{counts['killed'] + counts['survived']}" + (f" of {population}" if population else "")
        rows.append(
            f"| {name} | {', '.join(modules)} | {tested} | {counts['killed']} | {counts['survived']} | "
            f"{rate(counts['killed'], counts['survived'])} | {counts['incompetent']} | {time.monotonic() - started:.0f} s |"
        )
        print(rows[-1], flush=True)
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        "\n| target | modules | mutants | killed | survived | kill rate | not applicable | time |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    print("\n".join(rows))
    report(names)


def rate(killed, survived):
    return f"{killed / max(killed + survived, 1):.1%}"


def outcomes(session):
    """{killed, survived, incompetent} over the mutants a session ran (not the filtered or
    unsampled ones). Incompetent: cosmic-ray could not apply the mutation (e.g. its exception
    replacer on a tuple of exceptions); counted neither way."""
    dump = run(BIN / "cosmic-ray", "dump", session, capture_output=True).stdout
    counts = {"killed": 0, "survived": 0, "incompetent": 0}
    for line in dump.splitlines():
        _, result = json.loads(line)
        if not result or result.get("worker_outcome") == "skipped":
            continue
        outcome = result.get("test_outcome")
        counts[
            "killed" if outcome in ("killed", None) and result.get("worker_outcome") != "exception" else outcome
        ] += 1
    return counts


def report(names):
    """The last run's figures per target and, after `--recheck`, those after the review."""
    print(
        "\n| target | mutants | killed | survived | kill rate | survivors killed by added tests | "
        "survived after | kill rate after |\n|---|---|---|---|---|---|---|---|"
    )
    totals = dict.fromkeys(("mutants", "killed", "survived", "rechecked_killed"), 0)
    for name in names or TARGETS:
        session = WORK / f"{name}.sqlite"
        if not session.exists():
            continue
        counts = outcomes(session)
        recheck_file = WORK / f"recheck-{name}.json"
        rechecked = json.loads(recheck_file.read_text()) if recheck_file.exists() else None
        now_killed = sum(r["killed"] for r in rechecked) if rechecked is not None else 0
        mutants = counts["killed"] + counts["survived"]
        after = (
            f"{counts['survived'] - now_killed} | {rate(counts['killed'] + now_killed, counts['survived'] - now_killed)}"
            if rechecked is not None
            else "- | -"
        )
        print(
            f"| {name} | {mutants} | {counts['killed']} | {counts['survived']} | "
            f"{rate(counts['killed'], counts['survived'])} | {now_killed if rechecked is not None else '-'} | {after} |"
        )
        for key, value in (("mutants", mutants), ("killed", counts["killed"]), ("survived", counts["survived"])):
            totals[key] += value
        totals["rechecked_killed"] += now_killed
    left = totals["survived"] - totals["rechecked_killed"]
    print(
        f"| **all** | **{totals['mutants']}** | **{totals['killed']}** | **{totals['survived']}** | "
        f"**{rate(totals['killed'], totals['survived'])}** | **{totals['rechecked_killed']}** | **{left}** | "
        f"**{rate(totals['killed'] + totals['rechecked_killed'], left)}** |"
    )


def recheck(names, warm_socket=None):
    """Apply each surviving mutant of the last run again, run its target's tests, restore."""
    import shlex

    from cosmic_ray.mutating import apply_mutation
    from cosmic_ray.plugins import get_operator

    still = 0
    for name in names or TARGETS:
        session = WORK / f"{name}.sqlite"
        if not session.exists():
            continue
        modules, tests = TARGETS[name]
        command = shlex.split(test_command(tests, warm_socket))
        dump = run(BIN / "cosmic-ray", "dump", session, capture_output=True).stdout
        results = []
        for line in dump.splitlines():
            item, result = json.loads(line)
            if not result or result.get("test_outcome") != "survived":
                continue
            (mutation,) = item["mutations"]
            module = Path(mutation["module_path"])
            original = module.read_bytes()
            try:
                operator = get_operator(mutation["operator_name"])(**(mutation.get("operator_args") or {}))
                apply_mutation(module, operator, mutation["occurrence"])
                killed = subprocess.run(command, cwd=REPO, capture_output=True).returncode != 0
            finally:
                module.write_bytes(original)
            still += not killed
            results.append(
                {
                    "module": str(module.relative_to(REPO)),
                    "line": mutation["start_pos"][0],
                    "operator": mutation["operator_name"],
                    "occurrence": mutation["occurrence"],
                    "killed": killed,
                }
            )
            print(
                f"{'killed  ' if killed else 'SURVIVES'} {name} {module.relative_to(REPO)}:{mutation['start_pos'][0]} "
                f"{mutation['operator_name']} #{mutation['occurrence']}",
                flush=True,
            )
        (WORK / f"recheck-{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    report(names)
    return still


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=None, help="mutants per target (default: all)")
    parser.add_argument("--recheck", action="store_true", help="re-run the last run's survivors only")
    parser.add_argument("--cold", action="store_true", help="a new interpreter per mutant (no warm fork)")
    parser.add_argument("--report", action="store_true", help="print the last run's (and recheck's) figures")
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], default=[])
    args = parser.parse_args()
    if args.report:
        report(args.targets)
        sys.exit(0)
    with warm_pytest(args.cold) as warm_socket:
        if args.recheck:
            recheck(args.targets, warm_socket)
        else:
            main(args.targets, args.sample, warm_socket)
