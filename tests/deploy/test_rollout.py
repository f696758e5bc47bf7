"""Rollout decisions: patches, readiness from conditions, rollback plans, and the apply loop
driven through an in-memory stand-in for the Kubernetes API (no cluster here)."""

import copy
import json

import pytest
from kubernetes.client.exceptions import ApiException

from distml.components.common.errors import DistmlError
from distml.components.deploy.manifest import build_inference_service
from distml.components.deploy.rollout import (
    LAST_APPLIED,
    apply_patch,
    assess,
    object_patch,
    plan_rollback,
    rollout,
    with_last_applied,
)


def merge(target, patch):
    """RFC 7386 JSON merge patch, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def status(ready, reason=None, message=None, observed=1, **extra):
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    if reason:
        condition.update(reason=reason, message=message or "")
    return {"observedGeneration": observed, "conditions": [condition], **extra}


def isvc(generation=1, **status_fields):
    obj = build_inference_service("digits")
    obj["metadata"]["generation"] = generation
    obj["status"] = status_fields
    return obj


@pytest.mark.parametrize("status_fields, state, words", [
    (status(True), "ready", "Ready=True"),
    (status(False, "RevisionFailed", "Container failed with: ImagePullBackOff"), "failed", "ImagePullBackOff"),
    (status(False, "PredictorConfigurationReady not ready"), "pending", "Ready=False"),
    ({}, "pending", "not reconciled generation 1"),
    (status(True, observed=0), "pending", "not reconciled generation 1"),
    (status(True, modelStatus={"transitionStatus": "BlockedByFailedLoad",
                               "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "no servable version"}}),
     "failed", "ModelLoadFailed: no servable version"),
    (status(True, components={"predictor": {"latestCreatedRevision": "digits-00002", "latestReadyRevision": "digits-00001"}}),
     "pending", "revision digits-00002 is not ready yet"),
])
def test_assess_reads_conditions(status_fields, state, words):
    verdict = assess(isvc(**status_fields))
    assert verdict.state == state and words in verdict.reason


def test_patch_is_empty_when_live_matches_and_removes_only_fields_we_set():
    desired = build_inference_service("digits", canary_traffic_percent=10)
    live = with_last_applied(desired)
    live["metadata"]["labels"]["owner"] = "someone-else"
    live["spec"]["predictor"]["model"]["protocolVersion"] = "v1"  # defaulted by KServe's webhook
    assert object_patch(live, desired) == {}

    without_canary = build_inference_service("digits")
    patch = object_patch(live, without_canary)
    assert patch["spec"] == {"predictor": {"canaryTrafficPercent": None}}
    patched = merge(live, patch)
    assert patched["metadata"]["labels"]["owner"] == "someone-else"
    assert patched["spec"]["predictor"]["model"]["protocolVersion"] == "v1"
    assert json.loads(patched["metadata"]["annotations"][LAST_APPLIED]) == without_canary["spec"]


def test_apply_patch_three_way():
    assert apply_patch({"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}, {"a": 5}) == {"a": 5, "b": None}
    assert apply_patch({}, {"x": {"y": 1, "z": 2}}, {"x": {"y": 1}}) == {}


def test_rollback_plans():
    previous = with_last_applied(build_inference_service("digits", runtime_version="2.6.2"))
    desired = build_inference_service("digits", runtime="distml")
    live = merge(previous, object_patch(previous, desired))
    kind, patch, summary = plan_rollback(previous, desired, live)
    assert kind == "patch" and "previous spec" in summary
    assert merge(live, patch)["spec"] == previous["spec"]

    canary = build_inference_service("digits", canary_traffic_percent=10)
    assert plan_rollback(previous, canary, live)[:2] == ("patch", {"spec": {"predictor": {"canaryTrafficPercent": 0}}})
    assert plan_rollback(None, desired, live)[0] == "delete"


class FakeCluster:
    """CustomObjectsApi's five calls over one stored object; `statuses` play the controller."""

    def __init__(self, existing=None, statuses=()):
        self.obj = copy.deepcopy(existing)
        self.statuses = list(statuses)
        self.calls = []

    def _check_exists(self):
        if self.obj is None:
            raise ApiException(status=404, reason="Not Found")

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        self._check_exists()
        if self.statuses and self.calls:  # the controller reacts to our writes
            self.obj["status"] = {**self.statuses.pop(0), "observedGeneration": self.obj["metadata"]["generation"]}
        return copy.deepcopy(self.obj)

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self.calls.append(("create", body))
        self.obj = {**copy.deepcopy(body), "status": {}}
        self.obj["metadata"]["generation"] = 1
        return copy.deepcopy(self.obj)

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body):
        self._check_exists()
        self.calls.append(("patch", body))
        generation = self.obj["metadata"]["generation"] + ("spec" in body)
        self.obj = merge(self.obj, body)
        self.obj["metadata"]["generation"] = generation
        return copy.deepcopy(self.obj)

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.calls.append(("delete", None))
        self.obj = None


def run(cluster, manifest, **kwargs):
    clock = iter(range(0, 10_000, 5))
    return rollout(cluster, manifest, timeout_s=60, poll_s=5, sleep=lambda s: None, clock=lambda: next(clock), **kwargs)


def test_create_then_ready():
    cluster = FakeCluster(statuses=[{}, status(False, "Pending"), status(True, url="http://digits.distml.example.com")])
    result = run(cluster, build_inference_service("digits"))
    assert result["action"] == "created" and result["ready"]
    assert [c[0] for c in cluster.calls] == ["create"]


def test_reapplying_the_same_spec_changes_nothing():
    manifest = build_inference_service("digits")
    cluster = FakeCluster(existing={**with_last_applied(manifest), "status": status(True)})
    cluster.obj["metadata"]["generation"] = 1
    assert run(cluster, manifest)["action"] == "unchanged"
    assert cluster.calls == []


def test_failed_update_restores_previous_spec():
    previous = with_last_applied(build_inference_service("digits"))
    previous["metadata"]["generation"] = 1
    cluster = FakeCluster(existing=previous, statuses=[status(False, "RevisionFailed", "exec format error")])
    with pytest.raises(DistmlError, match="exec format error.*rolled back: restored the previous spec"):
        run(cluster, build_inference_service("digits", runtime="distml"))
    assert cluster.obj["spec"] == previous["spec"]


def test_new_service_that_never_gets_ready_is_deleted_after_timeout():
    cluster = FakeCluster(statuses=[status(False, "Pending")] * 100)
    with pytest.raises(DistmlError, match="not Ready after 60s.*deleted the InferenceService"):
        run(cluster, build_inference_service("digits"))
    assert cluster.obj is None


def test_failed_canary_sets_traffic_to_zero():
    previous = with_last_applied(build_inference_service("digits"))
    previous["metadata"]["generation"] = 1
    cluster = FakeCluster(existing=previous, statuses=[status(False, "RevisionFailed", "OOMKilled")])
    with pytest.raises(DistmlError, match="canary traffic set to 0"):
        run(cluster, build_inference_service("digits", runtime_version="2.14.1", canary_traffic_percent=10))
    assert cluster.obj["spec"]["predictor"]["canaryTrafficPercent"] == 0
