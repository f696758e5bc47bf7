"""Apply an InferenceService, wait for Ready, roll back on failure.

The decisions are pure functions of the objects (`apply_patch`, `assess`,
`plan_rollback`), tested without a cluster against statuses recorded from KServe; `rollout` drives them through a kubernetes
`CustomObjectsApi`. Updates are JSON merge patches computed like `kubectl apply`: fields
we set are compared with the live object, fields we set last time and no longer want
are removed, fields other controllers set are left alone.
"""

import json
import logging
import time
from dataclasses import dataclass

from distml.components.common import k8s
from distml.components.common.errors import DistmlError
from distml.components.deploy import standard

log = logging.getLogger("distml.deploy")

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
LAST_APPLIED = "distml.io/last-applied-spec"
# Reasons after which waiting longer will not help (KServe modelStatus, Knative revisions, Deployments).
FAILED_TRANSITIONS = {"BlockedByFailedLoad", "InvalidSpec"}
FAILED_REASONS = {
    "RevisionFailed",
    "RevisionMissing",
    "ContainerMissing",
    "ProgressDeadlineExceeded",
    "InvalidSpec",
    "ModelLoadFailed",
    "RuntimeNotRecognized",
    "NoSupportingRuntime",
    "InvalidPredictorSpec",
}


@dataclass(frozen=True)
class Assessment:
    state: str  # "ready", "failed" or "pending"
    reason: str


def with_last_applied(manifest):
    """The manifest carrying its own spec in an annotation, for the next apply's three-way diff."""
    manifest = json.loads(json.dumps(manifest))
    annotations = manifest["metadata"].setdefault("annotations", {})
    annotations[LAST_APPLIED] = json.dumps(manifest["spec"], sort_keys=True, separators=(",", ":"))
    return manifest


def last_applied_spec(obj):
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    return json.loads(text) if text else {}


def apply_patch(last_applied, live, desired):
    """JSON merge patch taking `live` to `desired` for the fields we manage (three-way, as kubectl apply)."""
    last_applied = last_applied if isinstance(last_applied, dict) else {}
    live = live if isinstance(live, dict) else {}
    patch = {}
    for key, value in desired.items():
        if isinstance(value, dict) and isinstance(live.get(key), dict):
            sub = apply_patch(last_applied.get(key), live[key], value)
            if sub:
                patch[key] = sub
        elif live.get(key) != value:
            patch[key] = value
    for key in last_applied:
        if key not in desired and key in live:
            patch[key] = None
    return patch


def object_patch(live, desired):
    """Patch for metadata labels/annotations and spec; {} when the live object already matches."""
    desired = with_last_applied(desired)
    last = {"spec": last_applied_spec(live)}
    live_part = {
        "metadata": {k: live["metadata"].get(k) or {} for k in ("labels", "annotations")},
        "spec": live.get("spec") or {},
    }
    want = {"metadata": {k: desired["metadata"].get(k, {}) for k in ("labels", "annotations")}, "spec": desired["spec"]}
    return apply_patch(last, live_part, want)


def describe_conditions(status):
    parts = []
    for c in (status or {}).get("conditions") or []:
        text = f"{c.get('type')}={c.get('status')}"
        detail = ": ".join(x for x in (c.get("reason"), c.get("message")) if x)
        parts.append(f"{text} ({detail})" if detail else text)
    return "; ".join(parts) or "no conditions reported yet"


def predictor_revisions(obj):
    """(latestCreatedRevision, latestReadyRevision) of the predictor (Knative mode), else Nones."""
    predictor = ((obj.get("status") or {}).get("components") or {}).get("predictor") or {}
    return predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")


def place_canary(manifest, previous):
    """A Standard-mode canary (spec.canary) runs beside the model that serves now: the live
    stable predictor stays under spec.predictor. With nothing deployed yet there is nothing
    to compare against, so the new model takes all traffic."""
    if not manifest["spec"].get("canary"):
        return manifest
    manifest = json.loads(json.dumps(manifest))
    stable = ((previous or {}).get("spec") or {}).get("predictor")
    if stable:
        manifest["spec"]["predictor"] = stable
    else:
        manifest["spec"].pop("canary")
    return manifest


def assess(obj, stale_revision=None, deployment=None):
    """ready / failed / pending, with the reason, from an InferenceService's status.

    Judged from the conditions and the predictor's revisions, never from
    status.observedGeneration: KServe copies that from the Knative Service or Deployment
    (kserve#6081), so it neither tracks this object's generation nor says the status is fresh.
    `stale_revision`: the revision that served before an update that must create a new one;
    a Ready while it still serves is the old revision's. In Standard mode, which has no
    revisions, `deployment` is the Deployment of the model being rolled out
    (standard.new_model_deployment), read by the caller: Ready counts once it runs the
    spec applied and is rolled out (components/deploy/standard.py).
    """
    status = obj.get("status") or {}
    model_status = status.get("modelStatus") or {}
    failure = model_status.get("lastFailureInfo") or {}
    if model_status.get("transitionStatus") in FAILED_TRANSITIONS:
        detail = ": ".join(x for x in (failure.get("reason"), failure.get("message")) if x)
        return Assessment("failed", f"model {model_status['transitionStatus']}" + (f" ({detail})" if detail else ""))
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if (conditions.get("Ready") or {}).get("status") != "True":
        for c in conditions.values():
            if c.get("status") == "False" and c.get("reason") in FAILED_REASONS:
                return Assessment("failed", describe_conditions(status))
        return Assessment("pending", describe_conditions(status))
    if standard.is_standard(obj):
        return _assess_standard(obj, deployment)
    created, serving = predictor_revisions(obj)
    if created and serving and created != serving:
        return Assessment("pending", f"revision {created} is not ready yet (traffic still on {serving})")
    if stale_revision and serving == stale_revision:
        return Assessment("pending", f"the update has no revision yet ({stale_revision} still serves)")
    return Assessment("ready", describe_conditions(status))


def _assess_standard(obj, deployment):
    applied = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    name = standard.new_model_deployment(obj)
    state, reason = standard.rollout_status(deployment, name, LAST_APPLIED, applied)
    if state == "ready" and (obj.get("spec") or {}).get("canary"):
        state, reason = standard.canary_status(obj, obj["spec"]["canary"][0]["predictor"]["name"])
    if state == "ready":
        return Assessment("ready", f"{reason}; {describe_conditions(obj.get('status'))}")
    return Assessment(state, reason)


def needs_new_revision(patch):
    """Whether a patch changes the predictor beyond its traffic split (which moves traffic
    between existing revisions without creating one)."""
    spec = (patch or {}).get("spec") or {}
    rest = {k: v for k, v in spec.items() if k != "predictor"}
    predictor = {k: v for k, v in (spec.get("predictor") or {}).items() if k != "canaryTrafficPercent"}
    return bool(rest or predictor)


def plan_rollback(previous, desired, live):
    """What undoes a failed rollout: ("delete", None), ("patch", merge patch, summary) or ("none", None).

    - the service did not exist before: delete it (nothing half-deployed remains);
    - a Knative canary rollout: canaryTrafficPercent 0 sends all traffic back to the last
      ready revision at once (KServe's documented rollback);
    - a Standard-mode canary (KServe >= 0.20): removing the canary entry removes its
      Deployment, the stable predictor keeps serving;
    - otherwise: restore the previous spec.
    """
    if previous is None:
        return "delete", None, "deleted the InferenceService this rollout created"
    if desired["spec"].get("canary"):
        return "patch", {"spec": {"canary": None}}, "canary removed (the previous model serves all traffic)"
    if (desired["spec"].get("predictor") or {}).get("canaryTrafficPercent") is not None:
        return (
            "patch",
            {"spec": {"predictor": {"canaryTrafficPercent": 0}}},
            "canary traffic set to 0 (all traffic on the previous revision)",
        )
    restore = {
        "metadata": {"annotations": (previous["metadata"].get("annotations") or {})},
        "spec": previous.get("spec") or {},
    }
    live_part = {"metadata": {"annotations": live["metadata"].get("annotations") or {}}, "spec": live.get("spec") or {}}
    # "Last applied" = what this rollout set, so fields it added and the previous spec lacks are removed.
    patch = apply_patch(
        {"spec": desired["spec"], "metadata": {"annotations": {LAST_APPLIED: None}}}, live_part, restore
    )
    return "patch", patch, "restored the previous spec"


def kubernetes_api():
    """CustomObjectsApi from the pod's service account, else the local kubeconfig."""
    from kubernetes import client

    k8s.load_client_config()
    return client.CustomObjectsApi()


def _api_error(action, name, e, kind="InferenceService"):
    try:
        message = json.loads(e.body).get("message", e.body)
    except (TypeError, ValueError):
        message = e.body or e.reason
    return DistmlError(f"{action} {kind} {name}: {e.status} {e.reason}: {message}")


def rollout(api, manifest, *, timeout_s=600, poll_s=5, rollback=True, sleep=time.sleep, clock=time.monotonic):
    """Create or patch, wait for Ready, roll back on failure/timeout. Returns a summary dict."""
    from kubernetes.client.exceptions import ApiException

    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    ref = dict(group=GROUP, version=VERSION, namespace=namespace, plural=PLURAL, name=name)
    try:
        previous = api.get_namespaced_custom_object(**ref)
    except ApiException as e:
        if e.status != 404:
            raise _api_error("reading", name, e) from None
        previous = None
    manifest = place_canary(manifest, previous)
    stale_revision = None
    try:
        if previous is None:
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, with_last_applied(manifest))
            action = "created"
        else:
            patch = object_patch(previous, manifest)
            if patch:
                api.patch_namespaced_custom_object(body=patch, **ref)
            action = "patched" if patch else "unchanged"
            if needs_new_revision(patch):
                stale_revision = predictor_revisions(previous)[1]
    except ApiException as e:
        raise _api_error("applying", name, e) from None
    log.info("InferenceService %s/%s %s; waiting up to %ds for Ready", namespace, name, action, timeout_s)

    deadline = clock() + timeout_s
    last_logged = None
    while True:
        try:
            live = api.get_namespaced_custom_object(**ref)
        except ApiException as e:
            raise _api_error("reading", name, e) from None
        verdict = assess(live, stale_revision, _new_model_deployment(api, live) if standard.is_standard(live) else None)
        if verdict.state == "ready":
            url = (live.get("status") or {}).get("url")
            log.info("InferenceService %s is Ready at %s", name, url)
            return {"name": name, "namespace": namespace, "action": action, "ready": True, "url": url}
        if verdict.state == "failed" or clock() >= deadline:
            why = verdict.reason if verdict.state == "failed" else f"not Ready after {timeout_s}s: {verdict.reason}"
            raise DistmlError(
                f"InferenceService {name} failed: {why}; {_roll_back(api, ref, previous, manifest, live, rollback, action)}"
            )
        if verdict.reason != last_logged:
            log.info("waiting for %s: %s", name, verdict.reason)
            last_logged = verdict.reason
        sleep(poll_s)


def _new_model_deployment(api, live):
    """The Deployment running the model being rolled out (Standard mode), None before KServe creates it."""
    from kubernetes.client.exceptions import ApiException

    name = standard.new_model_deployment(live)
    group, version, plural = standard.DEPLOYMENTS
    try:
        return api.get_namespaced_custom_object(group, version, live["metadata"]["namespace"], plural, name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise _api_error("reading", name, e, kind="Deployment") from None


def _roll_back(api, ref, previous, manifest, live, enabled, action):
    from kubernetes.client.exceptions import ApiException

    if action == "unchanged":
        return "the spec was already deployed, nothing to roll back"
    if not enabled:
        return "left as is (--no-rollback)"
    kind, body, summary = plan_rollback(previous, manifest, live)
    try:
        if kind == "delete":
            api.delete_namespaced_custom_object(**ref)
        elif body:
            api.patch_namespaced_custom_object(body=body, **ref)
    except ApiException as e:
        return f"rollback failed too: {_api_error('rolling back', ref['name'], e)}"
    log.warning("rolled back %s: %s", ref["name"], summary)
    return f"rolled back: {summary}"
