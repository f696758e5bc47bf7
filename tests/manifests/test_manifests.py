"""manifests/: schema validity, the names the components use, priorities, Kueue, RBAC."""

import copy

import kubernetes_validate
import pytest
import yaml

from distml.components.common import k8s
from distml.components.common.ports import GRPC_PORT, HTTP_PORT
from tests.manifests.tools import MANIFESTS, OVERLAYS, built_docs, find, kustomize_build, load_docs

BASE = load_docs(MANIFESTS / "base", MANIFESTS / "namespace")  # the files, namespace-free where per namespace
NAMESPACED = (
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "PersistentVolumeClaim",
    "ConfigMap",
    "LocalQueue",
    "NetworkPolicy",
)
PROFILE = MANIFESTS / "profile"
CORE_GROUPS = ("v1", "rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1", "networking.k8s.io/v1")
K8S_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())


@pytest.fixture(scope="module", params=OVERLAYS)
def built(request):
    """(overlay name, documents of `kubectl kustomize manifests/overlays/<name>`)."""
    return request.param, list(yaml.safe_load_all(kustomize_build(request.param)))


def test_every_file_validates_against_the_official_schemas(validate_manifests):
    out = validate_manifests(MANIFESTS)
    assert "0 invalid, 0 not checked" in out, out


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_kinds_validate_strictly(version):
    core = [d for d in load_docs(MANIFESTS) if d["apiVersion"] in CORE_GROUPS]
    assert {d["kind"] for d in core} >= {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
        "ConfigMap",
        "PriorityClass",
        "NetworkPolicy",
    }
    for doc in core:
        kubernetes_validate.validate(doc, version, strict=True)  # raises on any unknown field


def test_strict_validation_is_not_a_no_op():
    pc = copy.deepcopy(find(BASE, "PriorityClass", k8s.PRIORITY_BATCH))
    pc["preemptPolicy"] = "Never"  # a typo kubectl --validate=strict refuses
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pc, K8S_VERSIONS[-1], strict=True)


def test_overlays_build_and_validate(built, validate_manifests, tmp_path):
    name, docs = built
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    out = validate_manifests(path)
    assert "0 invalid, 0 not checked" in out, out
    for doc in docs:
        if doc["apiVersion"] in CORE_GROUPS:
            kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


def test_kueue_objects_use_the_storage_version_v1beta2():
    """v1beta1 is deprecated since Kueue 0.16 made v1beta2 the storage version; the objects
    are written for v1beta2 (and validated against it by test_kustomize_builds_are_valid)."""
    docs = [d for d in load_docs(MANIFESTS) if d["apiVersion"].startswith("kueue.x-k8s.io/")]
    assert {d["kind"] for d in docs} >= {"ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass"}
    assert {d["apiVersion"] for d in docs} == {"kueue.x-k8s.io/v1beta2"}


def test_names_are_the_ones_the_components_use(built):
    _, docs = built
    assert find(docs, "Namespace", k8s.NAMESPACE)
    namespaced = [d for d in docs if d["kind"] in NAMESPACED]
    assert namespaced and all(d["metadata"].get("namespace") == k8s.NAMESPACE for d in namespaced)
    for sa in (k8s.PIPELINE_SERVICE_ACCOUNT, k8s.TRAINER_SERVICE_ACCOUNT, k8s.PREDICTOR_SERVICE_ACCOUNT):
        find(BASE, "ServiceAccount", sa)
    for pvc in (k8s.DATASETS_PVC, k8s.MODELS_PVC):
        assert find(BASE, "PersistentVolumeClaim", pvc)["spec"]["accessModes"] == ["ReadWriteMany"]
    cache = find(BASE, "ConfigMap", k8s.MEMOIZE_CACHE_CONFIGMAP)
    assert cache["metadata"]["labels"]["workflows.argoproj.io/configmap-type"] == "Cache"
    semaphore = find(BASE, "ConfigMap", k8s.GPU_SEMAPHORE_CONFIGMAP)
    assert int(semaphore["data"][k8s.GPU_SEMAPHORE_KEY]) >= 1


def test_priorities_interactive_over_production_over_batch():
    names = (k8s.PRIORITY_INTERACTIVE, k8s.PRIORITY_PRODUCTION, k8s.PRIORITY_BATCH)
    pcs = [find(BASE, "PriorityClass", n) for n in names]
    wpcs = [find(BASE, "WorkloadPriorityClass", n) for n in names]
    values = [pc["value"] for pc in pcs]
    assert values == sorted(values, reverse=True) and len(set(values)) == 3
    assert [w["value"] for w in wpcs] == values  # Kueue and kube-scheduler agree
    for pc in pcs:
        assert pc["globalDefault"] is False  # never change other teams' pods
        assert pc["preemptionPolicy"] in ("PreemptLowerPriority", "Never")  # set on purpose, not defaulted
    assert [pc["preemptionPolicy"] for pc in pcs] == ["PreemptLowerPriority", "PreemptLowerPriority", "Never"]
    assert len({pc["metadata"]["name"] for pc in find(BASE, "PriorityClass")}) == 3


def test_cluster_queue_preempts_by_priority_and_admits_only_distml():
    cq = find(BASE, "ClusterQueue", "distml-cluster-queue")
    assert cq["spec"]["preemption"]["withinClusterQueue"] == "LowerPriority"
    assert cq["spec"]["namespaceSelector"] == {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": [k8s.NAMESPACE]}]
    }
    assert find(BASE, "LocalQueue", k8s.LOCAL_QUEUE)["spec"]["clusterQueue"] == cq["metadata"]["name"]


def quotas(cluster_queue):
    return {
        (flavor["name"], resource["name"]): resource["nominalQuota"]
        for group in cluster_queue["spec"]["resourceGroups"]
        for flavor in group["flavors"]
        for resource in flavor["resources"]
    }


def test_overlay_quotas_flavors_and_storage(built):
    name, docs = built
    cq = find(docs, "ClusterQueue", "distml-cluster-queue")
    q = quotas(cq)
    flavors = {f["metadata"]["name"]: f for f in find(docs, "ResourceFlavor")}
    assert {flavor for flavor, _ in q} <= set(flavors)  # every flavor a quota names exists
    for group in cq["spec"]["resourceGroups"]:  # Kueue: each flavor lists every covered resource
        for flavor in group["flavors"]:
            assert {r["name"] for r in flavor["resources"]} == set(group["coveredResources"])
    assert ("distml-default", "cpu") in q and ("distml-default", "memory") in q
    semaphore = int(find(docs, "ConfigMap", k8s.GPU_SEMAPHORE_CONFIGMAP)["data"][k8s.GPU_SEMAPHORE_KEY])
    modes = {p["metadata"]["name"]: p["spec"]["accessModes"] for p in find(docs, "PersistentVolumeClaim")}
    if name == "gpu":
        gpu_quota = int(q[("distml-gpu", k8s.GPU_RESOURCE)])
        assert gpu_quota >= 1 and 1 <= semaphore <= gpu_quota
        gpu = flavors["distml-gpu"]["spec"]
        placement = k8s.gpu_scheduling(1)  # what the components put on GPU pods
        assert gpu["nodeLabels"] == placement["nodeSelector"]
        assert gpu["tolerations"] == placement["tolerations"]
        # GPUs are their own resource group: CPU-only steps are never pinned to GPU nodes
        gpu_groups = [g for g in cq["spec"]["resourceGroups"] if k8s.GPU_RESOURCE in g["coveredResources"]]
        assert gpu_groups and gpu_groups[0]["coveredResources"] == [k8s.GPU_RESOURCE]
        assert all(m == ["ReadWriteMany"] for m in modes.values())
    else:
        assert not any(resource == k8s.GPU_RESOURCE for _, resource in q)
        assert "distml-gpu" not in flavors
        assert all(m == ["ReadWriteOnce"] for m in modes.values())
    assert set(modes) == {k8s.DATASETS_PVC, k8s.MODELS_PVC}


def test_network_policy_isolates_the_namespace():
    policies = {p["metadata"]["name"]: p["spec"] for p in find(BASE, "NetworkPolicy")}
    predictor_label = {"key": "serving.kserve.io/inferenceservice"}
    # Every pod is selected: non-predictors by one policy, predictors by the other.
    same_namespace, predictors = policies["distml-same-namespace-only"], policies["distml-predictor-ingress"]
    assert same_namespace["podSelector"] == {"matchExpressions": [{**predictor_label, "operator": "DoesNotExist"}]}
    assert same_namespace["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert predictors["podSelector"] == {"matchExpressions": [{**predictor_label, "operator": "Exists"}]}
    # Predictors: only KServe's ingress path (activator, gateways), only the serving ports; no admit-all rule.
    (rule,) = predictors["ingress"]
    (source,) = rule["from"]
    assert source == {
        "namespaceSelector": {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["knative-serving", "istio-system"]}
            ]
        }
    }
    assert sorted(port["port"] for port in rule["ports"]) == [8012, HTTP_PORT, GRPC_PORT]
    assert all(rule.get("from") for spec in policies.values() for rule in spec["ingress"])


def test_the_namespace_component_names_no_namespace():
    """manifests/namespace is everything one namespace needs; the namespace is the caller's
    kustomize parameter (`namespace:`), so no file of it may name one."""
    docs = load_docs(MANIFESTS / "namespace")
    assert {d["kind"] for d in docs} == set(NAMESPACED)
    assert not [d["metadata"]["name"] for d in docs if "namespace" in d["metadata"]]
    pipeline = find(docs, "RoleBinding", k8s.PIPELINE_SERVICE_ACCOUNT)["subjects"]
    assert pipeline == [{"kind": "ServiceAccount", "name": k8s.PIPELINE_SERVICE_ACCOUNT}]


def test_another_namespace_gets_every_object_the_workflows_need(validate_manifests, tmp_path):
    """manifests/profile (a Kubeflow profile's namespace): every per-namespace object the
    library templates and the components name, in that namespace and nowhere else, the
    pipeline account bound there, the memoize RBAC still for Argo's controller."""
    docs = built_docs(PROFILE)
    namespace = yaml.safe_load((PROFILE / "kustomization.yaml").read_text())["namespace"]
    assert namespace != k8s.NAMESPACE
    assert all(d["metadata"]["namespace"] == namespace for d in docs)
    assert k8s.NAMESPACE not in {s.get("namespace") for rb in find(docs, "RoleBinding") for s in rb["subjects"]}
    pipeline = find(docs, "RoleBinding", k8s.PIPELINE_SERVICE_ACCOUNT)["subjects"]
    assert pipeline == [{"kind": "ServiceAccount", "name": k8s.PIPELINE_SERVICE_ACCOUNT, "namespace": namespace}]
    for kind, name in [
        ("ServiceAccount", k8s.PIPELINE_SERVICE_ACCOUNT),
        ("ServiceAccount", k8s.TRAINER_SERVICE_ACCOUNT),
        ("ServiceAccount", k8s.PREDICTOR_SERVICE_ACCOUNT),
        ("PersistentVolumeClaim", k8s.DATASETS_PVC),
        ("PersistentVolumeClaim", k8s.MODELS_PVC),
        ("ConfigMap", k8s.MEMOIZE_CACHE_CONFIGMAP),
        ("ConfigMap", k8s.GPU_SEMAPHORE_CONFIGMAP),
        ("LocalQueue", k8s.LOCAL_QUEUE),
    ]:
        find(docs, kind, name)
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert "0 invalid, 0 not checked" in validate_manifests(path)
    for doc in docs:
        if doc["apiVersion"] in CORE_GROUPS:
            kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
