"""`distml run` end to end: the pipeline on kfp.local, memoization, and --serve."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distml.components.deploy.core import serve_command
from distml.components.serve.control import read_server_state
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
    # Progress while it runs: each step's state under its variant's name, then its own lines.
    for line in (
        "==> ingest: running",
        "==> ingest: done",
        "==> train cnn: running",
        "==> train dropout: done",
        "==> select: done",
        "==> deploy: done",
    ):
        assert line in out, line
    assert re.search(r"^train cnn +\| worker 1: ", out, re.M) and "epoch 1/1" in out
    # Both trainings' ends reach the console (kfp.local's threads used to swallow one).
    for variant in ("cnn", "dropout"):
        assert re.search(
            rf"^train {variant} +\| worker 0: model written to .*/variant-{variant}/train/model", out, re.M
        )
        assert re.search(rf"^train {variant} +\| worker 1 finished$", out, re.M)
    # Noise stays in the log file.
    for noise in (
        "Got executor_input",
        "for-loop-",
        "oneDNN",
        "absl::InitializeLog",
        "Variant folder",
        "Generating splits",
    ):
        assert noise not in out + cold_run.stderr, noise
    # The summary names the report, the charts, the models and the command to serve the winner.
    assert "<- winner" in out and "blessed: yes" in out
    summary = json.loads((workdir / "last-run.json").read_text())
    assert {v["model_type"] for v in summary["variants"]} == {"cnn", "dropout"}
    assert all(v["train_time_s"] > 0 for v in summary["variants"])
    assert all(v["model_dir"].endswith(f"/variant-{v['model_type']}/train/model") for v in summary["variants"])
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [
        ("ingest", "done"),
        ("train cnn", "done"),
        ("train dropout", "done"),
        ("select", "done"),
        ("deploy", "done"),
    ]
    assert summary["executed_steps"].count("train") == 2 and "ingest" in summary["executed_steps"]
    report = summary["report"]
    assert f"report:  {report['html']}" in out and report["markdown"] in out
    assert (
        "Training curves" in Path(report["html"]).read_text()
        and "data:image/png;base64," in Path(report["html"]).read_text()
    )
    assert len(report["charts"]) == 3 and all(Path(c).is_file() and c in out for c in report["charts"])
    serve = summary["serve"]
    assert f"serve it:  {serve['command']}" in out
    assert f"--http-port {serve['http_port']} --grpc-port {serve['grpc_port']}" in serve["command"]
    assert (workdir / "model-repo" / "distml-classifier" / "1" / "saved_model.pb").is_file()
    assert summary["model_path"] in out
    kfp_report = next(workdir.glob("pipeline-root/train-and-deploy-*/select/report"))
    assert "data:image/png;base64," in kfp_report.read_text()  # charts inlined for the KFP UI
    # Per-epoch history with validation points, as the report's curves need.
    metrics = json.loads((Path(summary["variants"][0]["model_dir"]) / "metrics.json").read_text())
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(metrics["history"][0])
    deployment = json.loads(next(workdir.glob("pipeline-root/train-and-deploy-*/**/deploy/deployment")).read_text())
    assert deployment == {
        "target": "local",
        "version": 1,
        "serve_command": serve_command(workdir / "model-repo", "distml-classifier"),
    }


def test_second_run_with_the_same_inputs_executes_nothing(cold_run, workdir):
    again = run_cli("run", "--workdir", workdir, "--epochs", "1", *TINY, timeout=300)
    assert "none executed" in again.stdout
    assert "==> train dropout: cached" in again.stdout
    summary = json.loads((workdir / "last-run.json").read_text())
    assert summary["executed_steps"] == []
    assert {s["status"] for s in summary["steps"]} == {"cached"}
    assert Path(summary["report"]["html"]).is_file()  # a report for this run too
    assert not (workdir / "model-repo" / "distml-classifier" / "2").exists()  # nothing pushed twice


def as_in_a_terminal():
    # Tests started in the background (`make test &` in a script) inherit SIGINT ignored, and
    # Python keeps it so; a run in a terminal, where Ctrl-C comes from, has the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_serving_until_signal(workdir, args, send, signum):
    """`distml run ... --serve` until it serves, then `send(pid, signum)`; (process, output)."""
    command = [sys.executable, "-m", "distml", "run", "--workdir", str(workdir), *args, *TINY, "--serve"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=as_in_a_terminal,
    )
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
    # --serve: one real prediction from the served model, on the ports the summary printed.
    serve = summary["serve"]
    assert f"serve it:  {serve['command']}" in out
    assert f"serving on http://127.0.0.1:{serve['http_port']} (REST) and 127.0.0.1:{serve['grpc_port']} (gRPC)" in out
    true_class = re.search(r":predict with a test image of class '([^']+)':", out).group(1)
    assert true_class in summary["class_names"]
    prediction = json.loads(out.split(f"of class {true_class!r}:")[1].split("\n", 1)[1].splitlines()[0])
    assert prediction["predictions"][0]["class_id"] in range(10)
    assert "Deprecat" not in out and "oneDNN" not in out  # the server's and TensorFlow's chatter: in the log


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
            if re.search(r"\| worker 1: worker ready:", line):
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
    for flags, error in (
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--learning-rate", "-1"], "--learning-rate must be positive, got -1.0"),
        (["--workers", "0"], "--workers must be at least 1, got 0"),
    ):
        result = run_cli("run", "--workdir", tmp_path, *flags, check=False)
        assert result.returncode == 2 and result.stderr.strip() == f"distml run: error: {error}", result.stderr
    assert not (tmp_path / "pipeline-root").exists()


def test_a_failing_step_is_one_line_naming_the_step_and_its_error(tmp_path):
    result = run_cli("run", "--workdir", tmp_path, "--dataset", f"folder:{tmp_path}/no-such-folder", check=False)
    assert result.returncode == 2, result.stderr  # the step's usage error is distml run's
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("distml run: error: step ingest failed: dataset folder ")
    assert "no-such-folder does not exist (full log: " in last
    assert "Traceback" not in result.stdout + result.stderr
    log = Path(last.rsplit("(full log: ", 1)[1].rstrip(")")).read_text()
    assert log.count("Executing task 'ingest'") == 1  # no cluster-style retries of a step that fails alike
    # Offline TFDS: a usage error at once, not retried, its advice naming flags distml run has.
    result = run_cli("run", "--workdir", tmp_path, "--dataset", "tfds:fashion_mnist", check=False, timeout=300)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("distml run: error: step ingest failed: cannot download tfds:fashion_mnist")
    assert "pass --data-dir " in last and "--dataset digits" in last
    assert "--data-dir" in run_cli("run", "--help").stdout
    log = Path(last.rsplit("(full log: ", 1)[1].rstrip(")")).read_text()
    assert log.count("Executing task 'ingest'") == 1
