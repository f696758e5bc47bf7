"""checkov's Kubernetes policies on the cluster objects and on every pod distml defines.

Deliberate exceptions are listed here with their reason and in docs/cluster.md; any other
failed check fails the test."""

import json
import os
import subprocess

import pytest
import yaml

from distml.components.common import k8s
from tests.manifests.pods import all_pods, kfp_pods, pod
from tests.manifests.tools import MANIFESTS, OVERLAYS, REPO, kustomize_usable, load_docs, tool

EXCEPTIONS = {
    "CKV_K8S_8": "liveness probe: batch pods (steps, TFJob workers) run to completion; restarting one "
    "worker mid-collective kills the whole group. KServe/Knative probe the predictor itself.",
    "CKV_K8S_9": "readiness probe: same; no Service routes to batch pods.",
    "CKV_K8S_15": "imagePullPolicy Always: images are immutable version tags (or digests, docs/containers.md); "
    "re-pulling a multi-GB TensorFlow image per worker only slows start-up.",
    "CKV_K8S_43": "image digest: the code names version tags; pin digests at deploy time through the "
    "`image` parameter (docs/containers.md).",
    "CKV_K8S_40": "high UID (>10000): the images' user is UID 1000 (k8s.py RUN_AS_USER), enforced by "
    "runAsNonRoot and runAsUser; a collision with a host UID matters only without the "
    "restricted settings every distml pod has.",
    "CKV_K8S_22": "read-only root filesystem: TensorFlow, TFDS and KServe write caches under $HOME and /tmp; "
    "not set in k8s.py yet (docs/cluster.md).",
}
# Only for pods running as distml-pipeline: they call the Kubernetes API, so their token
# is mounted on purpose (every other distml pod has automountServiceAccountToken: false).
PIPELINE_EXCEPTIONS = {
    "CKV_K8S_38": "service-account token mounted: workflow/KFP steps create TFJobs and InferenceServices.",
}
# A pod no hardened setting protects: checkov must flag it, or this test proves nothing.
INSECURE = pod(
    "insecure-control",
    {
        "containers": [{"name": "main", "image": "busybox", "securityContext": {"privileged": True}}],
        "hostNetwork": True,
    },
)
INSECURE_MUST_FAIL = {"CKV_K8S_16", "CKV_K8S_19", "CKV_K8S_11", "CKV_K8S_13", "CKV_K8S_20"}


@pytest.fixture(scope="module")
def checkov_failures(tmp_path_factory):
    """{resource: {check ids}} from one checkov run over everything (checkov starts slowly)."""
    checkov = tool("checkov")
    folder = tmp_path_factory.mktemp("checkov")
    ok, _ = kustomize_usable()
    if ok:
        from tests.manifests.tools import kustomize_build

        for overlay in OVERLAYS:
            (folder / f"overlay-{overlay}.yaml").write_text(kustomize_build(overlay))
    else:  # without kubectl, the base files themselves
        (folder / "base.yaml").write_text(yaml.safe_dump_all(load_docs(MANIFESTS / "base", MANIFESTS / "namespace")))
    (folder / "pods.yaml").write_text(yaml.safe_dump_all(all_pods() + kfp_pods()))
    (folder / "control.yaml").write_text(yaml.safe_dump(INSECURE))
    result = subprocess.run(
        [
            checkov,
            "--directory",
            str(folder),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_EXPERIMENTAL_IMAGE_REFERENCING": "False"},
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failures = {}
    for r in reports:
        for check in r["results"]["failed_checks"]:
            failures.setdefault(check["resource"], set()).add(check["check_id"])
    assert sum(r["summary"]["resource_count"] for r in reports) >= len(all_pods()) + len(kfp_pods()) + 10
    return failures


def test_checkov_catches_an_insecure_pod(checkov_failures):
    flagged = checkov_failures.get(f"Pod.distml.{INSECURE['metadata']['name']}", set())
    assert INSECURE_MUST_FAIL <= flagged, flagged


def test_cluster_objects_pass_every_check(checkov_failures):
    bad = {r: ids for r, ids in checkov_failures.items() if not r.startswith("Pod.")}
    assert not bad


def test_every_pod_passes_all_but_the_documented_exceptions(checkov_failures):
    pipeline_pods = {
        f"Pod.{p['metadata']['namespace']}.{p['metadata']['name']}"
        for p in all_pods() + kfp_pods()
        if p["spec"].get("serviceAccountName") == k8s.PIPELINE_SERVICE_ACCOUNT
    }
    bad = {}
    for resource, ids in checkov_failures.items():
        if not resource.startswith("Pod.") or "insecure-control" in resource:
            continue
        allowed = set(EXCEPTIONS) | (set(PIPELINE_EXCEPTIONS) if resource in pipeline_pods else set())
        if ids - allowed:
            bad[resource] = sorted(ids - allowed)
    assert not bad, "\n".join(f"{r}: {ids}" for r, ids in bad.items())


def test_exceptions_are_documented():
    doc = (REPO / "docs" / "cluster.md").read_text()
    assert all(check in doc for check in {**EXCEPTIONS, **PIPELINE_EXCEPTIONS})


@pytest.mark.parametrize("p", all_pods() + kfp_pods(), ids=lambda p: p["metadata"]["name"])
def test_pod_runs_restricted_with_resources(p):
    """The pod-security settings themselves, whatever checkov's policy set says."""
    spec = p["spec"]
    pod_sc = spec.get("securityContext") or {}
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c.get("securityContext") or {}
        where = f"{p['metadata']['name']}/{c['name']}"
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc["capabilities"].get("add"), where
        assert not sc.get("privileged"), where
        seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
        assert seccomp.get("type") == "RuntimeDefault", where
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind) or {}), f"{where}: {kind}"


def test_the_kfp_step_pods_are_seen():
    pods = {p["metadata"]["name"]: p for p in kfp_pods()}
    assert set(pods) == {
        "kfp-exec-data-version",
        "kfp-exec-ingest",
        "kfp-exec-train",
        "kfp-exec-select",
        "kfp-exec-deploy",
    }
    for p in pods.values():  # what the pipeline itself sets (kfp-kubernetes, the task API)
        (container,) = p["spec"]["containers"]
        assert {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True}.items() <= container[
            "securityContext"
        ].items()
        step = p["metadata"]["name"].removeprefix("kfp-exec-").replace("-", "_")  # KFP: data_version -> data-version
        assert container["resources"] == k8s.STEP_RESOURCES[step]
        assert "tolerations" not in p["spec"]  # no step pod asks for a GPU
        assert p["metadata"]["labels"][k8s.QUEUE_LABEL] == k8s.LOCAL_QUEUE
        assert {v["persistentVolumeClaim"]["claimName"] for v in p["spec"]["volumes"]} == {
            k8s.DATASETS_PVC,
            k8s.MODELS_PVC,
        }
