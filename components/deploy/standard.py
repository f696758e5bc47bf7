"""Standard (Deployment) mode: whether KServe's Deployment runs the spec distml just applied.

In Standard mode the InferenceService status names no revision, and what it says can be stale:
KServe's PropagateRawStatus sets PredictorReady from the predictor Deployment's Available
condition, which stays True through a rolling update (and before KServe has written the new
pod template at all), and copies observedGeneration from that Deployment (kserve#6081). So
the wait reads the Deployment itself, `<service>-predictor` (a canary's:
`<service>-<canary name>-predictor`, KServe's PredictorServiceName):
- KServe copies the InferenceService's annotations into its pod template, distml's
  last-applied spec among them: equal to the one just applied = KServe has written this spec
  into the Deployment (KServe reports the Deployment's status from before its own update);
- then `kubectl rollout status`'s rules on the Deployment's own generation and replicas.
A canary (KServe >= 0.20) is also judged by KServe's own words: the `CanaryPredictorReady`
condition and the canary's `status.canaryStatuses` entry.

Each function returns (state, reason), state "ready", "failed" or "pending".
"""

from distml.components.deploy.spec import DEPRECATED_DEPLOYMENT_MODES

STANDARD = "Standard"
STANDARD_MODES = (STANDARD, *(old for old, new in DEPRECATED_DEPLOYMENT_MODES.items() if new == STANDARD))
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
CANARY_READY = "CanaryPredictorReady"
# Deployment API: group, version, plural (read through the same custom-objects client)
DEPLOYMENTS = ("apps", "v1", "deployments")


def is_standard(obj: dict) -> bool:
    """Whether KServe runs this InferenceService as Deployments: the mode KServe reports, else
    the one asked for."""
    reported = (obj.get("status") or {}).get("deploymentMode")
    asked = ((obj.get("metadata") or {}).get("annotations") or {}).get(DEPLOYMENT_MODE_ANNOTATION)
    return (reported or asked) in STANDARD_MODES


def deployment_name(service: str, predictor_name: str = "") -> str:
    """The predictor Deployment KServe creates (constants.PredictorServiceName)."""
    return f"{service}-{predictor_name}-predictor" if predictor_name else f"{service}-predictor"


def new_model_deployment(manifest: dict) -> str:
    """The Deployment that runs the model being rolled out: the canary's, else the stable one."""
    canaries = manifest["spec"].get("canary") or []
    name = canaries[0]["predictor"]["name"] if canaries else ""
    return deployment_name(manifest["metadata"]["name"], name)


def rollout_status(deployment: dict | None, name: str, annotation: str, applied: str) -> tuple[str, str]:
    """Whether Deployment `name` runs the spec whose `annotation` is `applied`, with every replica
    updated and available (kubectl rollout status)."""
    if deployment is None:
        return "pending", f"Deployment {name} not created yet"
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    template = (spec.get("template") or {}).get("metadata") or {}
    if (template.get("annotations") or {}).get(annotation) != applied:
        return "pending", f"Deployment {name} does not run the new spec yet"
    if int(deployment["metadata"].get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return "pending", f"Deployment {name}: the update is not observed yet"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return "failed", f"Deployment {name}: ProgressDeadlineExceeded: {condition.get('message', '')}".rstrip(": ")
    wanted = int(spec.get("replicas", 1))
    updated, replicas = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        return "pending", f"Deployment {name}: {updated} of {wanted} replicas updated"
    if replicas > updated:
        return "pending", f"Deployment {name}: {replicas - updated} old replicas pending termination"
    if available < updated:
        return "pending", f"Deployment {name}: {available} of {updated} updated replicas available"
    return "ready", f"Deployment {name} rolled out"


def canary_status(obj: dict, canary_name: str) -> tuple[str, str]:
    """The canary's readiness as KServe reports it: CanaryPredictorReady and its own entry in
    status.canaryStatuses (the condition alone may still describe the previous canary)."""
    status = obj.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == CANARY_READY), {})
    entry = next((c for c in status.get("canaryStatuses") or [] if c.get("name") == canary_name), None)
    if entry is None:
        return "pending", f"KServe reports no canary {canary_name} yet"
    if condition.get("status") != "True" or entry.get("ready") is not True:
        reason = condition.get("reason") or "not ready"
        return "pending", f"canary {canary_name} is not ready yet ({CANARY_READY}={condition.get('status')}: {reason})"
    return "ready", f"canary {canary_name} ready with {entry.get('trafficPercent')}% of the traffic"
