"""`distml run` end to end: the pipeline on kfp.local, memoization, and --serve."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from distml.components.deploy.core import serve_command
from distml.components.deploy.server import read_server_state
from tests.conftest import run_cli
from tests.processes import live_descendants, still_alive

TINY = ["--model-types", "cnn,dropout", "--workers", "2", "--steps-per-epoch", "4", "--min-accuracy", "0.0"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("distml-run")


@pytest.fixture(scope="module")
def cold_run(workdir):
    return run_cli("run", "--workdir", workdir, "--epochs", "1", *TINY, timeout=900)


def test_cold_run_trains_selects_and_pushes(cold_run, workdir):
    out = cold_run.stdout
    # Progress while it runs: steps, workers, epochs.
    assert "Executing task 'ingest'" in out and "Executing task 'train'" in out
    assert "[worker 1]" in out and "epoch 1/1" in out
    assert "Got executor_input" not in out  # kfp.local's JSON dumps stay in the log file
    # The summary.
    assert "<- winner" in out and "blessed: yes" in out
    assert "distml serve --repo" in out
    summary = json.loads((workdir / "last-run.json").read_text())
    assert {v["model_type"] for v in summary["variants"]} == {"cnn", "dropout"}
    assert all(v["train_time_s"] > 0 for v in summary["variants"])
    assert summary["executed_steps"].count("train") == 2 and "ingest" in summary["executed_steps"]
    assert (workdir / "model-repo" / "distml-classifier" / "1" / "saved_model.pb").is_file()
    report = next(workdir.glob("pipeline-root/train-and-deploy-*/select/report"))
    assert "data:image/png;base64," in report.read_text()  # charts inlined for the KFP UI
    deployment = json.loads(next(workdir.glob("pipeline-root/train-and-deploy-*/condition-2/deploy/deployment")).read_text()
                            if list(workdir.glob("pipeline-root/train-and-deploy-*/condition-2/deploy/deployment"))
                            else next(workdir.glob("pipeline-root/train-and-deploy-*/deploy/deployment")).read_text())
    command = serve_command(workdir / "model-repo", "distml-classifier")
    assert deployment == {"target": "local", "version": 1, "serve_command": command}
    assert f"serve it:  {command}" in out


def test_second_run_with_the_same_inputs_executes_nothing(cold_run, workdir):
    again = run_cli("run", "--workdir", workdir, "--epochs", "1", *TINY, timeout=300)
    assert "none executed" in again.stdout
    summary = json.loads((workdir / "last-run.json").read_text())
    assert summary["executed_steps"] == []
    assert not (workdir / "model-repo" / "distml-classifier" / "2").exists()  # nothing pushed twice


def as_in_a_terminal():
    # Tests started in the background (`make test &` in a script) inherit SIGINT ignored, and
    # Python keeps it so; a run in a terminal, where Ctrl-C comes from, has the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_serving_until_signal(workdir, args, send, signum):
    """`distml run ... --serve` until it serves, then `send(pid, signum)`; (process, output)."""
    command = [sys.executable, "-m", "distml", "run", "--workdir", str(workdir), *args, *TINY, "--serve"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=as_in_a_terminal)
    lines = []
    deadline = time.monotonic() + 600
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("serving on http://127.0.0.1:") or time.monotonic() > deadline:
                break
        send(process.pid, signum)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return process, "".join(lines)


def send_to_another_thread(pid, signum):
    """Ctrl-C as it can land: on one of the process's threads (TensorFlow's) not its main one.
    kill() on a thread id delivers a process-wide signal to that thread if it can take it."""
    for tid in sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid):
        try:
            return os.kill(tid, signum)
        except ProcessLookupError:  # that thread has just ended
            continue
    os.kill(pid, signum)


def test_changing_epochs_reruns_training_not_ingestion_and_serves(cold_run, workdir):
    process, out = run_serving_until_signal(workdir, ["--epochs", "2"], send_to_another_thread, signal.SIGINT)
    assert process.returncode == 0, out[-3000:]
    summary = json.loads((workdir / "last-run.json").read_text())
    executed = summary["executed_steps"]
    assert "ingest" not in executed
    assert executed.count("train") == 2 and "select" in executed and "deploy" in executed
    # --serve: one real prediction from the served model.
    prediction = json.loads(out.split(":predict with a test image of class")[1].split("\n", 1)[1].splitlines()[0])
    assert prediction["predictions"][0]["class_id"] in range(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_server_stops_with_the_run_however_the_run_ends(cold_run, workdir, sig):
    """SIGTERM: the run stops its server and exits 143. SIGKILL: the kernel sends the server
    SIGTERM (PR_SET_PDEATHSIG). Either way no server is left holding the ports."""
    process, out = run_serving_until_signal(workdir, ["--epochs", "1"], os.kill, sig)
    assert "none executed" in out  # memoized, and served all the same
    assert process.returncode == (128 + sig if sig == signal.SIGTERM else -sig), out[-3000:]
    deadline = time.monotonic() + 60
    while read_server_state(workdir / "model-repo", "distml-classifier") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read_server_state(workdir / "model-repo", "distml-classifier") is None


def test_sigterm_mid_training_stops_every_process_of_the_run(tmp_path):
    command = [sys.executable, "-m", "distml", "run", "--workdir", str(tmp_path), "--epochs", "50", *TINY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "[worker 1]" in line and "worker ready:" in line:
                break
        tree = live_descendants(process.pid)  # kfp.local's step processes and their workers
        assert len(tree) >= 3, "".join(lines)
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 30
        while still_alive(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not still_alive(tree)
    finally:
        if process.poll() is None:
            process.kill()
    assert "distml run: terminated (SIGTERM)" in process.stdout.read()
    assert not (tmp_path / "model-repo" / "distml-classifier").exists()


def test_bad_arguments_fail_at_once_in_one_line(tmp_path):
    result = run_cli("run", "--workdir", tmp_path, "--model-types", "cnn,resnet9000", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "resnet9000" in result.stderr.strip().splitlines()[-1]
    result = run_cli("run", "--workdir", tmp_path, "--workers", "4", "--num-shards", "2", check=False)
    assert result.returncode == 2 and "--num-shards 2 is fewer than --workers 4" in result.stderr
    assert not (tmp_path / "pipeline-root").exists()
