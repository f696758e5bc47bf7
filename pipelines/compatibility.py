"""Which release of each cluster component distml needs, and which field needs it: declared
once, here. `distml compile` renders docs/compatibility.md from it; tests/test_compatibility.py
checks that every field listed is in the objects distml generates (a row cannot outlive its
field), that each minimum is its newest row, and that no document promises an older release.

A component's minimum is the newest version among its needs; each need names where the
objects use it, and `used` finds it in them (`Objects`, read from the generated files and
the builders).
"""

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import yaml

SOURCE_ROOT = Path(__file__).resolve().parent.parent
DOC = "docs/compatibility.md"


def version_key(version: str) -> tuple[int, ...]:
    """ "v3.6" / "2.21.0" -> (3, 6) / (2, 21, 0), compared numerically."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


class Objects:
    """What distml puts on a cluster, as plain dicts: the generated Argo YAML (with the TFJobs
    and InferenceServices its resource templates embed), the compiled KFP pipelines (pipeline
    and platform spec), the kustomize manifests, and InferenceServices from the builder."""

    def __init__(self, root: Path = SOURCE_ROOT):
        self.root = Path(root)

    def _load(self, pattern: str) -> list[dict]:
        return [
            doc
            for path in sorted(self.root.glob(pattern))
            if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text())
            if doc
        ]

    @cached_property
    def argo(self) -> list[dict]:
        return self._load("pipelines/argo/generated/*.yaml")

    @cached_property
    def argo_resources(self) -> list[dict]:
        """The objects Argo resource templates create, each `{{...}}` tag read as 0 (some stand
        unquoted where the API wants an integer)."""
        return [
            yaml.safe_load(re.sub(r"\{\{[^{}]*\}\}", "0", manifest))
            for doc in self.argo
            for manifest in values(doc, "spec.templates[].resource.manifest")
        ]

    @cached_property
    def kfp(self) -> list[dict]:
        return self._load("pipelines/kfp/compiled/*.yaml")

    @cached_property
    def kfp_executors(self) -> list[dict]:
        """The compiled pipelines' executors (their containers)."""
        return [e for doc in self.kfp for e in ((doc.get("deploymentSpec") or {}).get("executors") or {}).values()]

    @cached_property
    def kfp_platform_executors(self) -> list[dict]:
        """The kfp-kubernetes settings of each executor (the platform spec)."""
        return [
            e
            for doc in self.kfp
            for e in anywhere([doc], "platforms.kubernetes.deploymentSpec.executors")
            for e in e.values()
        ]

    @cached_property
    def manifests(self) -> list[dict]:
        return self._load("manifests/**/*.yaml")

    @cached_property
    def inference_services(self) -> list[dict]:
        from distml.components.deploy.manifest import build_inference_service

        return [
            build_inference_service("digits"),
            build_inference_service("digits", runtime="distml", deployment_mode="Standard"),
            build_inference_service("digits", deployment_mode="Knative", canary_traffic_percent=10),
            build_inference_service("digits", deployment_mode="Standard", canary_traffic_percent=10, model_version="2"),
        ]


def values(obj, path: str) -> list:
    """Every value at a dotted path; `[]` steps into each element of a list."""
    found = [obj]
    for step in path.split("."):
        each = step.endswith("[]")
        key = step.removesuffix("[]")
        found = [item[key] for item in found if isinstance(item, dict) and key in item]
        if each:
            found = [element for item in found if isinstance(item, list) for element in item]
    return found


def anywhere(docs: list[dict], path: str) -> list:
    return [value for doc in docs for value in values(doc, path)]


@dataclass(frozen=True)
class Need:
    version: str
    what: str  # Markdown: the field or feature
    where: str  # which of distml's objects use it
    used: Callable[[Objects], bool] = field(repr=False)


@dataclass(frozen=True)
class Component:
    name: str
    needs: tuple[Need, ...]
    note: str = ""

    @property
    def minimum(self) -> str:
        return max((need.version for need in self.needs), key=version_key)


def _tf_serving_version() -> str:
    from distml.components.deploy.spec import TF_SERVING_VERSION

    return TF_SERVING_VERSION


def _kinds(docs, kind):
    return [doc for doc in docs if doc.get("kind") == kind]


COMPONENTS = (
    Component(
        "Argo Workflows",
        (
            Need(
                "v3.6",
                "CronWorkflow `spec.schedules` (a list; v3.6 replaced `schedule`)",
                "both CronWorkflows",
                lambda o: bool(anywhere(_kinds(o.argo, "CronWorkflow"), "spec.schedules")),
            ),
            Need(
                "v3.6",
                "`synchronization.semaphores` (a list; v3.6 replaced `semaphore`)",
                "the train templates (GPU semaphore)",
                lambda o: bool(anywhere(o.argo, "spec.templates[].synchronization.semaphores")),
            ),
        ),
        "v4 is the schema the YAML is generated for (Hera 7) and validated against.",
    ),
    Component(
        "Kubeflow Pipelines backend",
        (
            Need(
                "2.16",
                "step pods' `securityContext` from kfp-kubernetes (`runAsUser`/`runAsGroup`/`runAsNonRoot`, "
                "kubeflow/pipelines#12832), and the backend's own `allowPrivilegeEscalation: false`, dropped "
                "capabilities and seccomp `RuntimeDefault` on step containers (#12782)",
                "every step of the compiled pipelines",
                lambda o: any("runAsUser" in (e.get("securityContext") or {}) for e in o.kfp_platform_executors),
            ),
            Need(
                "2.4",
                "container images from a pipeline parameter (`set_container_image`, kubeflow/pipelines#11404: older "
                "backends start the literal placeholder as the image and fail with InspectFailed)",
                "every step (`image`, `gpu_image` run parameters)",
                lambda o: any("{{$.inputs.parameters" in e["container"]["image"] for e in o.kfp_executors),
            ),
        ),
        "compiled with the kfp SDK of requirements/dev.lock.",
    ),
    Component(
        "Training Operator",
        (
            Need(
                "v1.9",
                "TFJob `kubeflow.org/v1` as v1.9's CRD accepts it (the tests validate against it); the Training "
                "Operator v1 is maintained only on its release-1.9 branch",
                "`distml train --launcher tfjob`, the Argo `train-tfjob` templates",
                lambda o: any(
                    r.get("kind") == "TFJob" and r.get("apiVersion") == "kubeflow.org/v1" for r in o.argo_resources
                ),
            ),
        ),
    ),
    Component(
        "Kubeflow Trainer",
        (
            Need(
                "v2.2",
                "TrainJob `trainer.kubeflow.org/v1alpha1` on distml's ClusterTrainingRuntime; Kueue's TrainJob "
                "admission writes `spec.runtimePatches`, added in 2.2 (docs/trainer.md)",
                "`distml train --launcher trainjob`, `manifests/trainer`",
                lambda o: bool(_kinds(o.manifests, "ClusterTrainingRuntime")),
            ),
        ),
    ),
    Component(
        "Kueue",
        (
            Need(
                "v0.16",
                "`kueue.x-k8s.io/v1beta2` objects (the storage version since 0.16; v1beta1 is deprecated)",
                "ResourceFlavors, ClusterQueue, LocalQueue, WorkloadPriorityClasses in `manifests/`",
                lambda o: any(d.get("apiVersion") == "kueue.x-k8s.io/v1beta2" for d in o.manifests),
            ),
        ),
        "its TFJob integration is deprecated (removal planned around 0.20): prefer TrainJob.",
    ),
    Component(
        "KServe",
        (
            Need(
                "v0.16",
                "deployment modes named `Standard` / `Knative` (`serving.kserve.io/deploymentMode`; the old "
                "`RawDeployment` / `Serverless` are still accepted by `distml deploy`)",
                "`distml deploy --deployment-mode`",
                lambda o: any(
                    (isvc["metadata"].get("annotations") or {}).get("serving.kserve.io/deploymentMode") == "Standard"
                    for isvc in o.inference_services
                ),
            ),
            Need(
                "v0.19",
                "gRPC in `Standard` mode: a second container port named `grpc`, routed behind the service's host "
                "(kserve/kserve#5451)",
                "the distml predictor in `Standard` mode",
                lambda o: any(
                    p.get("name") == "grpc"
                    for p in anywhere(o.inference_services, "spec.predictor.containers[].ports[]")
                ),
            ),
            Need(
                "v0.20",
                "canary in `Standard` mode: `spec.canary`, with the `CanaryPredictorReady` condition and "
                "`status.canaryStatuses` the rollout waits for (a `Knative` canary, `canaryTrafficPercent`, is older)",
                "`distml deploy --canary-traffic-percent` in `Standard` mode",
                lambda o: bool(anywhere(o.inference_services, "spec.canary")),
            ),
        ),
    ),
    Component(
        "TF Serving (KServe's `tfserving` runtime)",
        (
            Need(
                _tf_serving_version(),
                "`runtimeVersion`: the TensorFlow release that trains the models (KServe's bundled default, 2.6.2, "
                "cannot load ops newer models use)",
                "`distml deploy --runtime tfserving`",
                lambda o: (
                    _tf_serving_version() in anywhere(o.inference_services, "spec.predictor.model.runtimeVersion")
                ),
            ),
        ),
    ),
)


def render() -> dict[str, str]:
    lines = [
        "# Compatibility: the cluster components distml needs",
        "",
        "<!-- Generated by `distml compile` from pipelines/compatibility.py; edit that file. -->",
        "",
        "The oldest release of each component that has everything distml's generated objects use,",
        "and the field that needs it. `tests/test_compatibility.py` finds every field below in the",
        "generated objects and fails when a document promises an older release. The objects are",
        "validated against the newest schemas (`../shared/tools/validate-manifests`: Argo v4, KServe,",
        "Training Operator v1.9, Trainer v2, Kueue v1beta2).",
        "",
        "| component | minimum |",
        "|---|---|",
        *(f"| {c.name} | {c.minimum} |" for c in COMPONENTS),
        "",
        "| component | version | what needs it | used by |",
        "|---|---|---|---|",
        *(f"| {c.name} | {n.version} | {n.what} | {n.where} |" for c in COMPONENTS for n in c.needs),
        "",
        *(f"- {c.name}: {c.note}" for c in COMPONENTS if c.note),
        "",
    ]
    return {DOC: "\n".join(lines)}
