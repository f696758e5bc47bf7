"""KServe's Standard (Deployment) mode: a rollout is judged from the predictor Deployment KServe
writes and from KServe's canary status, never from Ready alone (stale through a rolling update)
or observedGeneration (the Deployment's, kserve#6081). Statuses transcribed from KServe v0.20
and Kubernetes' Deployment controller: tests/fixtures/kserve/standard-mode.yaml (sources there).
The rollout loop runs the real kubernetes client against the fake API server (tests/kube_api.py)."""

import json

import pytest

from distml.components.common.errors import DistmlError, UsageError
from distml.components.deploy import standard
from distml.components.deploy.manifest import KSERVE_CONTAINER, build_inference_service
from distml.components.deploy.rollout import LAST_APPLIED, assess, kubernetes_api, rollout, with_last_applied
from tests.conftest import load_fixture

RECORDED = load_fixture("kserve/standard-mode.yaml")
PREVIOUS = "previous spec"


def manifest(**options):
    return build_inference_service("digits", deployment_mode="Standard", **options)


def canary(version="2", percent=20):
    return manifest(canary_traffic_percent=percent, model_version=version)


def service(status, desired=None):
    """The live InferenceService: `desired` applied by distml, with a recorded status."""
    obj = with_last_applied(desired or manifest())
    obj["metadata"].update(generation=2, namespace="distml")
    obj["status"] = json.loads(json.dumps(RECORDED["services"][status]))
    return obj


def deployment(name, applied):
    obj = json.loads(json.dumps(RECORDED["deployments"][name]))
    annotations = obj["spec"]["template"]["metadata"]["annotations"]
    annotations[LAST_APPLIED] = {"<applied>": applied, "<previous>": PREVIOUS}[annotations[LAST_APPLIED]]
    return obj


def judged(status, deployment_name, desired=None):
    obj = service(status, desired)
    applied = obj["metadata"]["annotations"][LAST_APPLIED]
    return assess(obj, None, deployment(deployment_name, applied) if deployment_name else None)


def test_the_deployments_judged_are_the_ones_kserve_names():
    assert standard.new_model_deployment(manifest()) == RECORDED["deployments"]["updated"]["metadata"]["name"]
    placed = with_last_applied(canary())
    assert standard.new_model_deployment(placed) == RECORDED["deployments"]["canary-available"]["metadata"]["name"]


@pytest.mark.parametrize(
    "status, deployment_name, state, words",
    [
        # Ready (Available stays True through a rolling update) before KServe wrote the new template
        ("rolling-update", None, "pending", "Deployment digits-predictor not created yet"),
        ("rolling-update", "previous-spec", "pending", "does not run the new spec yet"),
        ("rolling-update", "not-observed", "pending", "the update is not observed yet"),
        ("rolling-update", "rolling", "pending", "1 old replicas pending termination"),
        ("rolling-update", "old-pod-terminating", "pending", "1 old replicas pending termination"),
        ("rolling-update", "progress-deadline-exceeded", "failed", "ProgressDeadlineExceeded: ReplicaSet"),
        ("progress-deadline-exceeded", "progress-deadline-exceeded", "failed", "Ready=False (ProgressDeadlineExceeded"),
        ("ready", "updated", "ready", "Deployment digits-predictor rolled out; IngressReady=True"),
        ("rolling-update", "updated", "ready", "rolled out"),
    ],
)
def test_standard_mode_is_judged_by_the_deployment_running_the_applied_spec(status, deployment_name, state, words):
    verdict = judged(status, deployment_name)
    assert verdict.state == state and words in verdict.reason


def test_a_deployment_with_fewer_updated_or_available_replicas_than_wanted_is_pending():
    obj = service("ready")
    applied = obj["metadata"]["annotations"][LAST_APPLIED]
    scaled = deployment("updated", applied)
    scaled["spec"]["replicas"] = 2
    assert assess(obj, None, scaled).reason == "Deployment digits-predictor: 1 of 2 replicas updated"
    starting = deployment("canary-starting", applied)
    assert "0 of 1 updated replicas available" in assess(obj, None, starting).reason


@pytest.mark.parametrize(
    "status, deployment_name, state, words",
    [
        ("canary-not-ready", "canary-starting", "pending", "0 of 1 updated replicas available"),
        ("canary-not-ready", "canary-available", "pending", "CanaryPredictorReady=False: CanariesNotReady"),
        ("canary-ready", "canary-available", "ready", "canary v2 ready with 20% of the traffic"),
    ],
)
def test_a_standard_canary_is_ready_when_its_deployment_and_kserve_say_so(status, deployment_name, state, words):
    verdict = judged(status, deployment_name, canary())
    assert verdict.state == state and words in verdict.reason


def test_a_canary_status_naming_the_previous_canary_is_not_this_one():
    obj = service("canary-ready", canary(version="3"))  # KServe still reports canary v2
    available = deployment("canary-available", obj["metadata"]["annotations"][LAST_APPLIED])
    verdict = assess(obj, None, available)
    assert verdict.state == "pending" and verdict.reason == "KServe reports no canary v3 yet"


def test_the_old_mode_name_kserve_may_report_is_standard_too():
    obj = service("rolling-update")
    obj["status"]["deploymentMode"] = "RawDeployment"
    del obj["metadata"]["annotations"][standard.DEPLOYMENT_MODE_ANNOTATION]
    assert "does not run the new spec" in assess(obj, None, deployment("previous-spec", "x")).reason
    obj["status"]["deploymentMode"] = "Serverless"
    assert assess(obj, None, None).state == "ready"  # Knative: revisions decide (tests/deploy/test_rollout.py)


# -- the rollout loop against the fake API server --


class Cluster:
    """Plays KServe and the Deployment controller: after our write, each read shows the next
    recorded InferenceService status / Deployment (the last one stays), the Deployment's
    template carrying the spec KServe copied from the InferenceService."""

    def __init__(self, kube, statuses, deployments, name="digits-predictor"):
        self.kube, self.statuses, self.deployments = kube, list(statuses), list(deployments)
        self.key = ("deployments", "distml", name)
        kube.on_read["inferenceservices"] = self.service_read
        kube.on_read["deployments"] = self.deployment_read
        kube.objects[self.key] = {}  # replaced on read

    def written(self):
        return any(r[0] in ("create", "patch") for r in self.kube.requests)

    def service_read(self, obj, reads):
        if self.written() and self.statuses:
            obj["status"] = json.loads(json.dumps(RECORDED["services"][self.statuses.pop(0)]))

    def deployment_read(self, obj, reads):
        if self.deployments:
            applied = self.kube.objects[("inferenceservices", "distml", "digits")]["metadata"]["annotations"]
            obj.clear()
            obj.update(deployment(self.deployments.pop(0), applied[LAST_APPLIED]))


def deployed(kube, desired):
    obj = service("ready", desired)
    obj["metadata"]["generation"] = 1
    kube.objects[("inferenceservices", "distml", "digits")] = obj
    return obj


def run(desired):
    clock = iter(range(0, 10_000, 5))
    return rollout(kubernetes_api(), desired, timeout_s=60, poll_s=5, sleep=lambda s: None, clock=lambda: next(clock))


def test_an_update_waits_past_the_stale_ready_until_the_deployment_rolled_out(kube):
    deployed(kube, manifest(model_version="1"))
    cluster = Cluster(kube, ["rolling-update"], ["previous-spec", "rolling", "old-pod-terminating", "updated"])
    assert run(manifest(model_version="2"))["ready"]
    assert not cluster.deployments  # every step of the rolling update was seen
    reads = [r[1] for r in kube.requests if r[0] == "get"]
    assert reads.count("/apis/apps/v1/namespaces/distml/deployments/digits-predictor") == 4


def test_an_update_whose_deployment_misses_its_progress_deadline_is_rolled_back(kube):
    previous = deployed(kube, manifest(model_version="1"))
    Cluster(kube, ["rolling-update"], ["rolling", "progress-deadline-exceeded"])
    with pytest.raises(DistmlError, match=r"ProgressDeadlineExceeded.*rolled back: restored the previous spec$"):
        run(manifest(model_version="2"))
    assert kube.objects[("inferenceservices", "distml", "digits")]["spec"] == previous["spec"]


def test_a_standard_canary_rolls_out_beside_the_stable_predictor(kube):
    stable = deployed(kube, manifest(model_version="1"))
    Cluster(kube, ["canary-not-ready", "canary-ready"], ["canary-starting", "canary-available"], "digits-v2-predictor")
    assert run(canary())["ready"]
    live = kube.objects[("inferenceservices", "distml", "digits")]
    assert live["spec"]["predictor"] == stable["spec"]["predictor"]  # version 1 keeps serving
    assert live["spec"]["canary"][0]["predictor"]["annotations"]["distml.io/model-version"] == "2"


def test_a_failed_standard_canary_is_removed_and_the_stable_model_keeps_serving(kube):
    stable = deployed(kube, manifest(model_version="1"))
    Cluster(kube, ["canary-not-ready"], ["canary-starting", "progress-deadline-exceeded"], "digits-v2-predictor")
    with pytest.raises(DistmlError, match=r"canary removed \(the previous model serves all traffic\)$"):
        run(canary())
    live = kube.objects[("inferenceservices", "distml", "digits")]
    assert "canary" not in live["spec"] and live["spec"]["predictor"] == stable["spec"]["predictor"]


def test_reading_the_deployment_refused_is_one_line_naming_it(kube):
    deployed(kube, manifest(model_version="1"))
    Cluster(kube, ["rolling-update"], ["updated"])
    kube.fail[("get", "deployments")] = (403, "Forbidden")
    with pytest.raises(DistmlError, match=r"^reading Deployment digits-predictor: 403 Forbidden: "):
        run(manifest(model_version="2"))


# -- the canary KServe's webhook accepts (v0.20 validateCanarySpecs) --


def test_the_standard_canary_has_no_replica_bounds_and_a_model():
    (entry,) = canary()["spec"]["canary"]
    assert "maxReplicas" not in entry["predictor"] and "minReplicas" not in entry["predictor"]
    assert entry["predictor"]["model"]["modelFormat"] == {"name": "tensorflow"}
    # the CRD requires the canary model's container name; KServe merges it into its runtime's
    assert entry["predictor"]["model"]["name"] == KSERVE_CONTAINER


def test_a_standard_canary_of_the_distml_runtime_is_refused_in_one_line():
    with pytest.raises(UsageError, match=r"canary in Standard mode needs --runtime tfserving.*Knative"):
        manifest(runtime="distml", canary_traffic_percent=10)
    knative = build_inference_service("digits", runtime="distml", deployment_mode="Knative", canary_traffic_percent=10)
    assert knative["spec"]["predictor"]["canaryTrafficPercent"] == 10
