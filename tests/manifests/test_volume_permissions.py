"""The optional volume-permissions Job (manifests/volume-permissions): what it would do on a
cluster whose storage ignores fsGroup, checked here: its manifest (schemas, the volumes the
training pods mount, root with only CHOWN and FOWNER, Pod Security baseline), and its
command run for real with exactly those capabilities on two fresh root-owned folders."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from distml.components.common import k8s, volume_permissions
from tests.manifests.tools import MANIFESTS, built_docs, find

# Pod Security Standards, baseline: the only capabilities a container may add.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The Job as a namespace's kustomization with both components builds it."""
    folder = tmp_path_factory.mktemp("with-volume-permissions")
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "team-a",
                # kustomize takes only relative paths
                "components": [os.path.relpath(MANIFESTS / c, folder) for c in ("namespace", "volume-permissions")],
            }
        )
    )
    docs = built_docs(folder)
    return find(docs, "Job", volume_permissions.NAME), docs


def test_the_job_validates_and_mounts_the_volumes_the_training_pods_use(job, validate_manifests, tmp_path):
    job, docs = job
    assert job["metadata"]["namespace"] == "team-a"
    kubernetes_validate.validate(job, kubernetes_validate.utils.latest_version(), strict=True)
    path = tmp_path / "namespace.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert "0 invalid, 0 not checked" in validate_manifests(path)
    pod = job["spec"]["template"]["spec"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    pvcs = {p["metadata"]["name"] for p in find(docs, "PersistentVolumeClaim")}
    assert set(claims.values()) == pvcs == {k8s.DATASETS_PVC, k8s.MODELS_PVC}
    training_volumes, training_mounts = k8s.training_volumes(0)
    trained = {v["persistentVolumeClaim"]["claimName"]: v["name"] for v in training_volumes}
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert {claims[n]: mounts[n] for n in mounts} == {
        claim: next(m["mountPath"] for m in training_mounts if m["name"] == name) for claim, name in trained.items()
    }


def test_root_with_only_chown_and_fowner_within_pod_security_baseline(job):
    pod = job[0]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}
    assert set(context["capabilities"]["add"]) <= BASELINE_CAPABILITIES
    assert context["allowPrivilegeEscalation"] is False and context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not context.get("privileged") and not pod.get("hostNetwork") and not pod.get("hostPID")
    assert pod["automountServiceAccountToken"] is False
    assert container["resources"]["limits"] == container["resources"]["requests"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and util-linux setpriv")
def test_the_command_with_only_those_capabilities_makes_fresh_volumes_writable_by_uid_1000():
    """The container's command, on two root-owned folders standing in for the volume roots,
    run as root with every capability but CHOWN and FOWNER dropped (as drop ALL + add does)."""
    top = Path(tempfile.mkdtemp(prefix="distml-volumes-"))  # pytest's tmp_path is not traversable by UID 1000
    top.chmod(0o755)
    try:
        check_command(top)
    finally:
        shutil.rmtree(top)


def check_command(top):
    roots = [top / "datasets", top / "models"]
    for root in roots:
        root.mkdir()
        os.chown(root, 0, 0)
        root.chmod(0o755)
    command = volume_permissions.command(mounts=[str(r) for r in roots])
    caps = ",".join(f"+{c.lower()}" for c in volume_permissions.CAPABILITIES)
    result = subprocess.run(
        ["setpriv", f"--bounding-set=-all,{caps}", "--inh-caps=-all", *command], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for root in roots:
        info = root.stat()
        assert (info.st_uid, info.st_gid) == (k8s.RUN_AS_USER, k8s.RUN_AS_USER)
        assert info.st_mode & 0o7777 == 0o2775  # setgid: what UID 1000 creates below keeps group 1000
    written = subprocess.run(
        [
            "setpriv",
            f"--reuid={k8s.RUN_AS_USER}",
            f"--regid={k8s.RUN_AS_USER}",
            "--clear-groups",
            "touch",
            str(roots[1] / "m"),
        ],
        capture_output=True,
        text=True,
    )
    assert written.returncode == 0, written.stderr
    without_fowner = subprocess.run(
        ["setpriv", "--bounding-set=-all,+chown", "--inh-caps=-all", "chmod", "2775", str(roots[0])],
        capture_output=True,
        text=True,
    )
    assert without_fowner.returncode != 0  # the root now belongs to 1000: FOWNER is what lets root chmod it
