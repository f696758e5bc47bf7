"""Both cluster launchers own the job they create (components/train/owned_job.py): an owner
reference to the step's pod, adoption by a retried step, and deletion when the wait is cut
short: a timeout, or SIGTERM sent to a real launcher process (a cancelled KFP run, an Argo
step stopped or past its deadline). The real kubernetes client against tests/kube_api.py."""

import copy
import signal
import subprocess
import sys
import time

import pytest

from distml.components.common import k8s
from distml.components.common.errors import DistmlError
from distml.components.train.tfjob import TFJobFailed, TFJobOptions, launch_tfjob, tfjob_manifest
from tests.conftest import load_fixture
from tests.train.cluster_config import CLUSTER_CONFIG

CONFIG = CLUSTER_CONFIG
NAME = "train-cnn-r20260101-abc123"
TFJOBS = load_fixture("tfjob/statuses.yaml")
TRAINJOBS = load_fixture("trainjob/statuses.yaml")
# A step pod whose downward API gives its name, namespace and UID (owner.OWNER_FIELDS).
IN_POD = {
    "KUBERNETES_SERVICE_HOST": "10.0.0.1",
    "POD_NAME": "train-step-pod",
    "POD_NAMESPACE": k8s.NAMESPACE,
    "POD_UID": "pod-uid-7",
}
OWNER = {
    "apiVersion": "v1",
    "kind": "Pod",
    "name": "train-step-pod",
    "uid": "pod-uid-7",
    "controller": False,
    "blockOwnerDeletion": False,
}
FAST = TFJobOptions(poll_interval_s=0)


def job_requests(kube, plural):
    return [(verb, body) for verb, path, body in kube.requests if f"/{plural}" in path]


def test_the_tfjob_is_owned_by_the_step_pod_from_the_downward_api(kube):
    kube.on_read["tfjobs"] = lambda obj, reads: obj.update(status=TFJOBS["succeeded"])
    assert launch_tfjob(CONFIG, 2, FAST, timeout=30, environ=IN_POD)["status"] == "Succeeded"
    (created,) = [body for verb, body in job_requests(kube, "tfjobs") if verb == "create"]
    assert created["metadata"]["ownerReferences"] == [OWNER]
    assert not any(path.endswith("/pods/train-step-pod") for _, path, _ in kube.requests)  # the UID came from env


def test_a_timed_out_tfjob_is_deleted_in_the_foreground(kube):
    kube.on_read["tfjobs"] = lambda obj, reads: obj.update(status=TFJOBS["running"])
    with pytest.raises(DistmlError, match="did not finish within"):
        launch_tfjob(CONFIG, 2, FAST, timeout=0.01, environ=IN_POD)
    delete = [q for (verb, path, _), q in zip(kube.requests, kube.queries) if verb == "delete"]
    assert delete == [{"propagationPolicy": ["Foreground"]}]
    assert not kube.objects


def test_a_failed_tfjob_is_kept_for_its_logs(kube):
    kube.on_read["tfjobs"] = lambda obj, reads: obj.update(status=TFJOBS["failed"])
    with pytest.raises(TFJobFailed, match="has failed because 1 Worker"):
        launch_tfjob(CONFIG, 2, FAST, timeout=30, environ=IN_POD)
    assert "delete" not in [verb for verb, _ in job_requests(kube, "tfjobs")] and kube.objects


def test_a_retried_step_replaces_its_failed_tfjob_and_adopts_a_running_one(kube):
    failed = tfjob_manifest(CONFIG, 2)
    failed["status"] = TFJOBS["failed"]
    kube.objects[("tfjobs", k8s.NAMESPACE, NAME)] = failed
    kube.on_read["tfjobs"] = lambda obj, reads: obj.setdefault("status", copy.deepcopy(TFJOBS["succeeded"]))
    launch_tfjob(CONFIG, 2, FAST, timeout=30, environ=IN_POD)
    assert [verb for verb, _ in job_requests(kube, "tfjobs")][:5] == ["create", "get", "delete", "get", "create"]
    other = tfjob_manifest(CONFIG, 2)
    other["metadata"]["labels"]["distml.io/run-id"] = "someone-else"
    kube.objects[("tfjobs", k8s.NAMESPACE, NAME)] = other
    with pytest.raises(DistmlError, match="belongs to another run"):
        launch_tfjob(CONFIG, 2, FAST, timeout=30, environ=IN_POD)


ARGS = ["--dataset", CONFIG.dataset_dir, "--model-dir", CONFIG.model_dir, "--run-id", CONFIG.run_id, "--timeout", "600"]
# The distml CLI (its own SIGTERM handler), and the launcher called as a library the way the
# KFP step calls it, in a Python that installed no handler (kfp's executor).
LIBRARY = (
    "import sys; from distml.components.train.core import train; "
    f"train({CONFIG.dataset_dir!r}, {CONFIG.model_dir!r}, run_id={CONFIG.run_id!r}, launcher=sys.argv[1], timeout=600)"
)


@pytest.mark.parametrize(
    "launcher, how",
    [("tfjob", "cli"), ("trainjob", "cli"), ("tfjob", "library")],
)
def test_sigterm_to_the_launcher_process_deletes_its_job(kube, tmp_path, launcher, how):
    plural, running = ("tfjobs", TFJOBS["running"]) if launcher == "tfjob" else ("trainjobs", TRAINJOBS["running"])
    kube.on_read[plural] = lambda obj, reads: obj.update(status=copy.deepcopy(running))
    if how == "cli":
        command = [sys.executable, "-m", "distml", "train", "--launcher", launcher, *ARGS]
    else:
        command = [sys.executable, "-c", LIBRARY, launcher]
    import os

    env = {**os.environ, **IN_POD}  # KUBECONFIG (the kube fixture) reaches the fake server
    log = tmp_path / "launcher.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not any(verb == "get" for verb, _ in job_requests(kube, plural)):  # created, now waiting
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    verbs = [verb for verb, _ in job_requests(kube, plural)]
    assert verbs[0] == "create" and verbs[-1] == "delete", (verbs, log.read_text())
    assert job_requests(kube, plural)[0][1]["metadata"]["ownerReferences"] == [OWNER]
    delete = [q for (verb, path, _), q in zip(kube.requests, kube.queries) if verb == "delete"]
    assert delete == [{"propagationPolicy": ["Foreground"]}]
    assert not kube.objects and code != 0


SLIM = (
    "import runpy, sys\n"
    "class NoML:\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name.split('.')[0] in ('tensorflow', 'keras', 'numpy', 'tensorflow_datasets'):\n"
    "            raise ImportError(f'{name} is not in the slim image')\n"
    "sys.meta_path.insert(0, NoML())\n"
    "sys.argv = ['distml', *sys.argv[1:]]\n"
    "runpy.run_module('distml', run_name='__main__')\n"
)


def test_the_trainjob_launcher_runs_without_tensorflow_or_numpy(kube, tmp_path):
    """The Argo train-trainjob step runs it in the slim image (no TensorFlow, no NumPy)."""
    import os

    kube.on_read["trainjobs"] = lambda obj, reads: obj.update(status=copy.deepcopy(TRAINJOBS["complete"]))
    out = tmp_path / "metrics"
    command = [sys.executable, "-c", SLIM, "train", "--launcher", "trainjob", *ARGS, "--metrics-out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **IN_POD}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"trainjob": "' + NAME in out.read_text()
