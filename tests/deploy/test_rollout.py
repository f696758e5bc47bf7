"""Rollout decisions: patches, readiness from conditions, rollback plans, and the apply loop
driven through the real kubernetes client against a fake API server (tests/kube_api.py), with
InferenceService statuses recorded from KServe (tests/fixtures/kserve/, sources in the file)."""

import json
from http import HTTPStatus

import pytest

from distml.components.common.errors import DistmlError
from distml.components.deploy.core import deploy_kserve
from distml.components.deploy.manifest import build_inference_service
from distml.components.deploy.rollout import (
    LAST_APPLIED,
    apply_patch,
    assess,
    kubernetes_api,
    needs_new_revision,
    object_patch,
    plan_rollback,
    rollout,
    with_last_applied,
)
from tests.conftest import load_fixture, run_cli
from tests.kube_api import merge

STATUSES = load_fixture("kserve/inferenceservice-statuses.yaml")
OLD_REVISION = "digits-predictor-default-00001"


def recorded(name):
    """An InferenceService built by distml with a recorded status and generation."""
    obj = build_inference_service("digits")
    obj["metadata"]["generation"] = STATUSES[name]["generation"]
    obj["status"] = STATUSES[name]["status"]
    return obj


@pytest.mark.parametrize(
    "name, stale_revision, state, words",
    [
        ("ready", None, "ready", "Ready=True"),
        # observedGeneration (copied from the Knative Service) behind metadata.generation: still Ready.
        ("ready-observed-generation-lagging", OLD_REVISION, "ready", "Ready=True"),
        # Ready, observedGeneration ahead, but the old revision still serves: not our update yet.
        ("stale-ready-after-update", OLD_REVISION, "pending", f"{OLD_REVISION} still serves"),
        ("updating", OLD_REVISION, "pending", "RevisionMissing"),
        ("updated", OLD_REVISION, "ready", "Ready=True"),
        ("revision-failed", OLD_REVISION, "failed", "exec format error"),
        ("model-load-failed", None, "failed", "ModelLoadFailed: Invalid Storage URI provided"),
    ],
)
def test_assess_recorded_statuses(name, stale_revision, state, words):
    verdict = assess(recorded(name), stale_revision)
    assert verdict.state == state and words in verdict.reason


def test_assess_without_status_or_with_a_new_revision_not_ready():
    assert assess({"status": {}}).state == "pending"
    creating = {
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "components": {"predictor": {"latestCreatedRevision": "d-00002", "latestReadyRevision": "d-00001"}},
        }
    }
    assert assess(creating).reason == "revision d-00002 is not ready yet (traffic still on d-00001)"


def test_only_a_traffic_change_needs_no_new_revision():
    assert not needs_new_revision({"spec": {"predictor": {"canaryTrafficPercent": 0}}})
    assert not needs_new_revision({"metadata": {"labels": {"a": "b"}}})
    assert needs_new_revision({"spec": {"predictor": {"model": {"runtime": "distml"}}}})
    assert needs_new_revision(
        {"spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"storageUri": "pvc://m/2"}}}}
    )
    assert needs_new_revision({"spec": {"transformer": {}}})


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


class Controller:
    """Plays KServe's controller on the fake API server: after each write of ours, the next
    recorded status appears on the following reads (the last one stays)."""

    def __init__(self, kube, *names):
        self.kube, self.names, self.shown = kube, list(names), 0
        kube.on_read["inferenceservices"] = self.on_read

    def on_read(self, obj, reads):
        writes = [r for r in self.kube.requests if r[0] in ("create", "patch")]
        if writes and self.names:
            obj["status"] = STATUSES[self.names.pop(0)]["status"]
            self.shown += 1


def existing(kube, manifest, status="ready"):
    """`manifest` already deployed (by distml: it carries the last-applied annotation)."""
    obj = with_last_applied(manifest)
    obj["metadata"].update(generation=1, namespace="distml")
    obj["status"] = STATUSES[status]["status"]
    kube.objects[("inferenceservices", "distml", manifest["metadata"]["name"])] = obj
    return obj


def live(kube):
    return kube.objects.get(("inferenceservices", "distml", "digits"))


def run(manifest, **kwargs):
    clock = iter(range(0, 10_000, 5))
    return rollout(
        kubernetes_api(), manifest, timeout_s=60, poll_s=5, sleep=lambda s: None, clock=lambda: next(clock), **kwargs
    )


def test_create_then_ready(kube):
    Controller(kube, "updating", "ready")
    result = run(build_inference_service("digits"))
    assert result == {
        "name": "digits",
        "namespace": "distml",
        "action": "created",
        "ready": True,
        "url": "http://digits.distml.example.com",
    }
    assert [r[0] for r in kube.requests] == ["get", "create", "get", "get"]
    assert json.loads(live(kube)["metadata"]["annotations"][LAST_APPLIED]) == build_inference_service("digits")["spec"]


def test_an_update_waits_past_the_stale_ready_for_its_revision(kube):
    existing(kube, build_inference_service("digits"))
    controller = Controller(kube, "stale-ready-after-update", "updating", "updated")
    result = run(build_inference_service("digits", runtime="distml"))
    assert result["action"] == "patched" and result["ready"]
    assert controller.shown == 3  # not fooled by the first, stale, Ready
    assert live(kube)["metadata"]["generation"] == 2


def test_an_update_is_ready_though_observed_generation_lags(kube):
    existing(kube, build_inference_service("digits"))
    Controller(kube, "updating", "ready-observed-generation-lagging")
    result = run(build_inference_service("digits", runtime="distml"))
    assert result["action"] == "patched" and result["ready"]
    assert live(kube)["spec"] == build_inference_service("digits", runtime="distml")["spec"]  # not rolled back


def test_reapplying_the_same_spec_changes_nothing(kube):
    manifest = build_inference_service("digits")
    existing(kube, manifest)
    assert run(manifest)["action"] == "unchanged"
    assert [r[0] for r in kube.requests] == ["get", "get"]


def test_failed_update_restores_previous_spec(kube):
    previous = existing(kube, build_inference_service("digits"))
    Controller(kube, "revision-failed")
    with pytest.raises(DistmlError, match="exec format error.*rolled back: restored the previous spec"):
        run(build_inference_service("digits", runtime="distml"))
    assert live(kube)["spec"] == previous["spec"]
    assert live(kube)["metadata"]["annotations"] == previous["metadata"]["annotations"]


def test_update_that_times_out_is_rolled_back(kube):
    previous = existing(kube, build_inference_service("digits"))
    Controller(kube, "stale-ready-after-update", "updating")
    with pytest.raises(
        DistmlError, match=r"not Ready after 60s: .*RevisionMissing.*rolled back: restored the previous spec"
    ):
        run(build_inference_service("digits", runtime="distml"))
    assert live(kube)["spec"] == previous["spec"]


def test_new_service_that_never_gets_ready_is_deleted_after_timeout(kube):
    Controller(kube, "updating")
    with pytest.raises(DistmlError, match="not Ready after 60s.*deleted the InferenceService"):
        run(build_inference_service("digits"))
    assert live(kube) is None


def test_no_rollback_leaves_the_failed_update_in_place(kube):
    existing(kube, build_inference_service("digits"))
    Controller(kube, "revision-failed")
    with pytest.raises(DistmlError, match=r"left as is \(--no-rollback\)"):
        run(build_inference_service("digits", runtime="distml"), rollback=False)
    assert live(kube)["spec"] == build_inference_service("digits", runtime="distml")["spec"]


def test_failed_canary_sets_traffic_to_zero(kube):
    existing(kube, build_inference_service("digits"))
    Controller(kube, "revision-failed")
    with pytest.raises(DistmlError, match="canary traffic set to 0"):
        run(build_inference_service("digits", runtime_version="2.14.1", canary_traffic_percent=10))
    assert live(kube)["spec"]["predictor"]["canaryTrafficPercent"] == 0


def test_rollback_that_fails_says_so(kube):
    existing(kube, build_inference_service("digits"))
    Controller(kube, "revision-failed")
    kube.fail[("patch", "inferenceservices")] = (409, "Conflict", 1)  # the update passes, the rollback not
    with pytest.raises(
        DistmlError,
        match=r"exec format error.*; rollback failed too: rolling back InferenceService "
        r"digits: 409 Conflict: inferenceservices digits Conflict \(injected\)",
    ):
        run(build_inference_service("digits", runtime="distml"))


@pytest.mark.parametrize(
    "verb, code, reason, action",
    [
        ("get", 403, "Forbidden", "reading"),
        ("create", 422, "Invalid", "applying"),
        ("patch", 403, "Forbidden", "applying"),
    ],
)
def test_api_errors_are_one_line_with_the_servers_message(kube, verb, code, reason, action):
    if verb == "patch":
        existing(kube, build_inference_service("digits"))
    kube.fail[(verb, "inferenceservices")] = (code, reason)
    with pytest.raises(DistmlError) as error:
        run(build_inference_service("digits", runtime="distml"))
    assert str(error.value) == (
        f"{action} InferenceService digits: {code} {HTTPStatus(code).phrase}: "
        f"inferenceservices digits {reason} (injected)"
    )
    assert len(str(error.value).splitlines()) == 1


def test_deploy_kserve_applies_and_waits(kube, tmp_path):
    Controller(kube, "ready")
    result = deploy_kserve("digits", timeout_s=30, manifest_out=tmp_path / "isvc.yaml")
    assert (result["action"], result["ready"], result["url"]) == ("created", True, "http://digits.distml.example.com")
    created = [r[2] for r in kube.requests if r[0] == "create"]
    assert created == [with_last_applied(result["manifest"])]
    assert (tmp_path / "isvc.yaml").read_text() == result["yaml"]


def test_the_kfp_deploy_step_serves_the_runs_model_name_from_where_select_pushed(kube, tmp_path):
    """The KFP UI's model_name (a pipeline parameter feeding select and deploy) names the
    InferenceService, whose storage is the folder select pushed to."""
    from distml.components.common import k8s
    from distml.components.common.model_artifact import repository_path
    from distml.components.deploy.pipeline_step import deploy_step
    from distml.components.deploy.spec import SPEC as DEPLOY

    Controller(kube, "ready")
    (tmp_path / "selection.json").write_text(json.dumps({"pushed": {"version": 4}}))
    d = DEPLOY.defaults("kfp")
    repo = repository_path(d.model_repo, d.models_root)  # what run_kfp passes; select pushes under it
    summary = deploy_step(
        tmp_path / "selection.json",
        tmp_path / "deployment.json",
        model_repo=str(repo),
        model_name="fashion-v2",
        **{
            p.name: getattr(d, p.name)
            for p in DEPLOY.on("kfp")
            if not p.artifact and p.name not in ("model_repo", "models_root", "model_name")
        }
        | {"timeout": 30},
    )
    (created,) = [r[2] for r in kube.requests if r[0] == "create"]
    assert created["metadata"]["name"] == summary["service"] == "fashion-v2"
    model = created["spec"]["predictor"]["model"]
    assert model["storageUri"] == f"pvc://{k8s.MODELS_PVC}/{(repo / 'fashion-v2').relative_to(k8s.MODELS_MOUNT)}"


def test_deploy_cli_reports_a_failed_rollout_in_one_line(kube):
    existing(kube, build_inference_service("digits"))
    Controller(kube, "revision-failed")
    result = run_cli("deploy", "--target", "kserve", "--model-name", "digits", "--runtime", "distml", check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("distml deploy: error: InferenceService digits failed: IngressReady=True; ")
    assert "Ready=False (RevisionFailed: " in last and last.endswith(
        "exec format error.); RoutesReady=True; rolled back: restored the previous spec"
    )
    assert live(kube)["spec"] == build_inference_service("digits")["spec"]  # rolled back


# Standard mode canary (KServe >= 0.20, kserve/kserve#5672): named canaries in spec.canary and
# an aggregate CanaryReady condition. Not recorded from a cluster: conditions in the shape
# that PR describes, on top of the recorded Ready status.
def with_canary_ready(status_name, canary_status, reason=None):
    status = json.loads(json.dumps(STATUSES[status_name]["status"]))
    status["conditions"].append(
        {"type": "CanaryReady", "status": canary_status, **({"reason": reason} if reason else {})}
    )
    return status


def standard_canary(version="2", percent=20):
    return build_inference_service(
        "digits", runtime="distml", deployment_mode="Standard", canary_traffic_percent=percent, model_version=version
    )


def test_standard_canary_runs_beside_the_live_stable_predictor():
    from distml.components.deploy.rollout import place_canary

    stable = build_inference_service("digits", runtime="distml", deployment_mode="Standard", model_version="1")
    placed = place_canary(standard_canary(), stable)
    assert placed["spec"]["predictor"] == stable["spec"]["predictor"]  # version 1 keeps serving
    assert placed["spec"]["canary"][0]["predictor"]["annotations"]["distml.io/model-version"] == "2"
    first = place_canary(standard_canary(), None)  # nothing to compare with: all traffic to it
    assert "canary" not in first["spec"]
    assert first["spec"]["predictor"]["annotations"]["distml.io/model-version"] == "2"


def test_standard_canary_is_ready_only_with_canary_ready():
    obj = standard_canary()
    obj["status"] = with_canary_ready("ready", "Unknown")
    assert assess(obj).state == "pending"
    obj["status"] = with_canary_ready("ready", "False", "ProgressDeadlineExceeded")
    assert assess(obj).state == "failed"
    obj["status"] = with_canary_ready("ready", "True")
    assert assess(obj).state == "ready"


def test_failed_standard_canary_is_removed_and_the_stable_model_keeps_serving(kube):
    stable = build_inference_service("digits", runtime="distml", deployment_mode="Standard", model_version="1")
    previous = existing(kube, stable)
    kube.on_read["inferenceservices"] = lambda obj, reads: (
        obj.update(status=with_canary_ready("ready", "False", "ProgressDeadlineExceeded"))
        if obj["spec"].get("canary")
        else None
    )
    with pytest.raises(DistmlError, match=r"canary removed \(the previous model serves all traffic\)"):
        run(standard_canary())
    assert live(kube)["spec"].get("canary") is None
    assert live(kube)["spec"]["predictor"] == previous["spec"]["predictor"]


def test_the_timeout_holds_on_a_clock_that_never_hits_the_deadline_exactly(kube):
    Controller(kube, "updating")
    clock = iter(range(0, 10_000, 7))
    with pytest.raises(DistmlError, match="not Ready after 60s"):
        rollout(
            kubernetes_api(),
            build_inference_service("digits"),
            timeout_s=60,
            poll_s=7,
            sleep=lambda s: None,
            clock=lambda: next(clock),
        )
    assert sum(1 for r in kube.requests if r[0] == "get") == 1 + 9  # the first read, then polls until 63 s


def test_an_api_error_while_waiting_is_one_line(kube):
    kube.fail[("get", "inferenceservices")] = (500, "InternalError", 1)  # the first read (404) passes
    with pytest.raises(DistmlError, match=r"^reading InferenceService digits: 500 Internal Server Error: "):
        run(build_inference_service("digits"))


def test_a_canary_not_ready_for_a_reason_that_may_pass_is_pending():
    obj = standard_canary()
    obj["status"] = with_canary_ready("ready", "False", "MinimumReplicasUnavailable")
    assert assess(obj).state == "pending"


def test_a_new_model_version_annotation_alone_needs_a_new_revision():
    assert needs_new_revision({"spec": {"predictor": {"annotations": {"distml.io/model-version": "3"}}}})


def test_an_api_error_without_a_body_is_reported_by_its_reason():
    from kubernetes.client.exceptions import ApiException

    from distml.components.deploy.rollout import _api_error

    error = ApiException(status=503, reason="Service Unavailable")
    assert str(_api_error("reading", "digits", error)) == (
        "reading InferenceService digits: 503 Service Unavailable: Service Unavailable"
    )


def test_a_failed_update_is_rolled_back_at_once_not_at_the_timeout(kube):
    existing(kube, build_inference_service("digits"))
    Controller(kube, "revision-failed")
    with pytest.raises(DistmlError) as error:
        run(build_inference_service("digits", runtime="distml"))
    assert "not Ready after" not in str(error.value)
    assert [r[0] for r in kube.requests] == ["get", "patch", "get", "patch"]  # one read, then the rollback


def test_each_new_reason_to_wait_is_logged_once(kube, caplog):
    caplog.set_level("INFO", logger="distml.deploy")
    Controller(kube, "updating", "updating", "updating", "ready")
    run(build_inference_service("digits"))
    assert caplog.text.count("waiting for digits: ") == 1


@pytest.mark.parametrize("code, reason", [(403, "Forbidden"), (500, "InternalError")])
def test_reading_the_previous_service_fails_on_any_error_but_not_found(kube, code, reason):
    kube.fail[("get", "inferenceservices")] = (code, reason)
    with pytest.raises(DistmlError, match=f"^reading InferenceService digits: {code} "):
        run(build_inference_service("digits"))
    assert not any(r[0] == "create" for r in kube.requests)


def test_an_update_over_an_unfinished_rollout_waits_for_its_own_revision(kube):
    # the previous rollout's revision 00002 never became ready: 00001 serves, and a Ready
    # while it still serves is not this update's
    existing(kube, build_inference_service("digits"), status="updating")
    controller = Controller(kube, "stale-ready-after-update", "updated")
    assert run(build_inference_service("digits", runtime="distml"))["ready"]
    assert controller.shown == 2


def test_reapplying_the_spec_of_a_failed_service_rolls_nothing_back(kube):
    manifest = build_inference_service("digits")
    existing(kube, manifest, status="revision-failed")
    with pytest.raises(DistmlError, match="the spec was already deployed, nothing to roll back$"):
        run(manifest)
    assert [r[0] for r in kube.requests] == ["get", "get"]


def test_canary_conditions_are_read_by_value_as_the_api_server_sends_them():
    # statuses arrive as JSON: their strings are not the interned literals of the code
    obj = standard_canary()
    obj["status"] = json.loads(json.dumps(with_canary_ready("ready", "True")))
    assert assess(obj).state == "ready"
    obj["status"] = json.loads(json.dumps(with_canary_ready("ready", "False", "ProgressDeadlineExceeded")))
    assert assess(obj).state == "failed"


def test_a_failed_standard_canary_service_is_failed_whatever_its_canary_says():
    obj = standard_canary()
    obj["status"] = with_canary_ready("revision-failed", "Unknown")  # Ready=False (RevisionFailed)
    assert assess(obj).state == "failed"


def test_the_last_applied_spec_does_not_depend_on_key_order():
    manifest = build_inference_service("digits")
    reordered = json.loads(json.dumps(manifest))
    reordered["spec"]["predictor"] = dict(reversed(list(reordered["spec"]["predictor"].items())))
    annotation = lambda m: with_last_applied(m)["metadata"]["annotations"][LAST_APPLIED]  # noqa: E731
    assert annotation(reordered) == annotation(manifest)


def test_a_patch_read_back_from_json_is_judged_by_its_keys_values():
    # object_patch works on JSON round trips: keys are not the interned literals of the code
    assert not needs_new_revision(json.loads('{"spec": {"predictor": {"canaryTrafficPercent": 0}}}'))
    assert needs_new_revision(json.loads('{"spec": {"predictor": {"minReplicas": 2}}}'))
