"""RBAC: least privilege per ServiceAccount, nothing cluster-wide, no wildcards."""

import pytest

from distml.components.common import k8s
from tests.manifests.tools import MANIFESTS, built_docs, find, load_docs

RAW = load_docs(MANIFESTS)
ESCALATING_VERBS = {"escalate", "bind", "impersonate", "*"}


@pytest.fixture(scope="module", autouse=True)
def docs():
    """The base as kustomize builds it: the namespace component's objects in namespace distml."""
    global DOCS
    DOCS = built_docs(MANIFESTS / "base")
    return DOCS


def bound_rules(service_account, namespace=k8s.NAMESPACE):
    """Every rule a ServiceAccount (in namespace distml unless told) gets through RoleBindings."""
    rules = []
    for rb in find(DOCS, "RoleBinding"):
        if any(
            s["kind"] == "ServiceAccount"
            and s["name"] == service_account
            and s.get("namespace", rb["metadata"]["namespace"]) == namespace
            for s in rb["subjects"]
        ):
            assert rb["roleRef"]["kind"] == "Role"
            rules += find(DOCS, "Role", rb["roleRef"]["name"])["rules"]
    return rules


def allowed(rules, group, resource, verb, name=None):
    return any(
        group in r["apiGroups"]
        and resource in r["resources"]
        and verb in r["verbs"]
        and (not r.get("resourceNames") or name in r["resourceNames"])
        for r in rules
    )


def test_nothing_cluster_wide_and_no_wildcards():
    assert not [d for d in RAW + DOCS if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    for role in find(DOCS, "Role"):
        assert role["metadata"]["namespace"] == k8s.NAMESPACE
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field] and all("*" not in v for v in rule[field]), rule
            assert not set(rule["verbs"]) & ESCALATING_VERBS, rule
            assert not rule.get("nonResourceURLs")
    for rb in find(DOCS, "RoleBinding"):
        assert rb["roleRef"]["name"] != "cluster-admin" and rb["roleRef"]["kind"] == "Role"


@pytest.mark.parametrize("service_account", [k8s.TRAINER_SERVICE_ACCOUNT, k8s.PREDICTOR_SERVICE_ACCOUNT])
def test_trainer_and_predictor_have_no_api_access(service_account):
    sa = find(DOCS, "ServiceAccount", service_account)
    assert sa["automountServiceAccountToken"] is False
    assert bound_rules(service_account) == []


PIPELINE_NEEDS = [
    # (group, resource, verb): who needs it
    *[
        ("kubeflow.org", "tfjobs", v) for v in ("create", "get", "list", "watch", "patch", "delete")
    ],  # train tfjob launcher, Argo resource template
    *[
        ("trainer.kubeflow.org", "trainjobs", v) for v in ("create", "get", "list", "watch", "patch", "delete")
    ],  # trainjob launcher
    *[
        ("serving.kserve.io", "inferenceservices", v) for v in ("create", "get", "list", "watch", "patch", "delete")
    ],  # deploy, Argo apply
    ("apps", "deployments", "get"),  # deploy: KServe Standard mode's predictor Deployment
    *[("", "configmaps", v) for v in ("get", "list", "watch")],  # settings, KFP's kfp-launcher
    ("argoproj.io", "workflowtaskresults", "create"),  # Argo >= 3.4 executor
    ("argoproj.io", "workflowtaskresults", "patch"),
    *[("", "pods", v) for v in ("get", "list", "watch")],  # failing worker's reason
    ("", "pods/log", "get"),
]
PIPELINE_MUST_NOT = [
    ("", "configmaps", "create"),
    ("", "configmaps", "patch"),
    ("", "configmaps", "delete"),
    ("", "configmaps", "update"),
    ("", "pods", "create"),
    ("", "pods", "delete"),
    ("", "pods/exec", "create"),
    ("", "secrets", "list"),
    ("", "secrets", "watch"),
    ("", "serviceaccounts", "create"),
    ("", "persistentvolumeclaims", "delete"),
    ("rbac.authorization.k8s.io", "roles", "create"),
    ("rbac.authorization.k8s.io", "rolebindings", "create"),
    ("argoproj.io", "workflows", "create"),
    ("argoproj.io", "workflowtaskresults", "delete"),
    ("kueue.x-k8s.io", "clusterqueues", "patch"),
    ("scheduling.k8s.io", "priorityclasses", "create"),
    ("kubeflow.org", "tfjobs", "update"),
    ("trainer.kubeflow.org", "trainjobs", "update"),
    ("trainer.kubeflow.org", "clustertrainingruntimes", "create"),
    ("trainer.kubeflow.org", "trainingruntimes", "create"),
    ("jobset.x-k8s.io", "jobsets", "delete"),
    ("apps", "deployments", "patch"),
    ("apps", "deployments", "list"),
]


def test_pipeline_account_gets_what_the_components_need():
    rules = bound_rules(k8s.PIPELINE_SERVICE_ACCOUNT)
    missing = [need for need in PIPELINE_NEEDS if not allowed(rules, *need)]
    assert not missing
    assert find(DOCS, "ServiceAccount", k8s.PIPELINE_SERVICE_ACCOUNT)["automountServiceAccountToken"] is True


def test_pipeline_account_gets_nothing_more():
    rules = bound_rules(k8s.PIPELINE_SERVICE_ACCOUNT)
    granted = [need for need in PIPELINE_MUST_NOT if allowed(rules, *need)]
    assert not granted
    # The one Secret it reads (KFP's artifact-store credentials) is named; no other Secret.
    assert allowed(rules, "", "secrets", "get", "mlpipeline-minio-artifact")
    assert not allowed(rules, "", "secrets", "get", "some-other-secret")
    # Every grant is accounted for: only the resources listed above appear.
    resources = {(g, res) for r in rules for g in r["apiGroups"] for res in r["resources"]}
    assert resources == {
        ("kubeflow.org", "tfjobs"),
        ("kubeflow.org", "tfjobs/status"),
        ("trainer.kubeflow.org", "trainjobs"),
        ("trainer.kubeflow.org", "trainjobs/status"),
        ("serving.kserve.io", "inferenceservices"),
        ("serving.kserve.io", "inferenceservices/status"),
        ("apps", "deployments"),
        ("", "pods"),
        ("", "pods/log"),
        ("", "events"),
        ("", "configmaps"),
        ("", "secrets"),
        ("argoproj.io", "workflowtaskresults"),
    }
    for r in rules:  # read-only on everything but the two custom resources and task results
        if set(r["resources"]) & {
            "pods",
            "pods/log",
            "events",
            "configmaps",
            "secrets",
            "tfjobs/status",
            "trainjobs/status",
            "inferenceservices/status",
            "deployments",
        }:
            assert set(r["verbs"]) <= {"get", "list", "watch"}, r


def test_the_argo_controller_may_write_the_memoize_cache_and_nothing_else():
    """Argo's controller saves memoized outputs into the cache ConfigMap under its own
    account (get, update; create if it was deleted); Argo's install grants it only read."""
    rules = bound_rules("argo", namespace="argo")
    assert allowed(rules, "", "configmaps", "update", k8s.MEMOIZE_CACHE_CONFIGMAP)
    assert allowed(rules, "", "configmaps", "get", k8s.MEMOIZE_CACHE_CONFIGMAP)
    assert allowed(rules, "", "configmaps", "create")
    assert not allowed(rules, "", "configmaps", "update", k8s.GPU_SEMAPHORE_CONFIGMAP)
    assert not allowed(rules, "", "configmaps", "delete", k8s.MEMOIZE_CACHE_CONFIGMAP)
    assert {(g, res) for r in rules for g in r["apiGroups"] for res in r["resources"]} == {("", "configmaps")}
    (binding,) = [rb for rb in find(DOCS, "RoleBinding") if rb["roleRef"]["name"] == "distml-memoize-cache"]
    assert binding["metadata"]["namespace"] == k8s.NAMESPACE  # only the cache in this namespace
