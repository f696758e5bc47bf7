"""Every pod distml defines, as a plain v1 Pod, so pod-level checks (checkov's Kubernetes
policies, the restricted pod-security settings) apply to TFJob workers, Argo steps and
predictors alike.

Sources: the shared settings in components/common/k8s.py (what every component puts on
its pods), and every checked-in generated manifest (Argo templates, the TFJobs and
InferenceServices they embed, any TFJob / InferenceService YAML, the Trainer runtimes)."""

import hashlib
import re

import yaml

from distml.components.common import k8s
from tests.manifests.tools import REPO

ARGO_EXPR = re.compile(r"\{\{.*?\}\}")
GENERATED = ("pipelines/argo", "components", "pipelines/kfp", "docs", "manifests/trainer")


def dns_name(name):
    name = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if len(name) > 63:
        name = f"{name[:54]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def pod(name, spec, namespace=None, labels=None):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": dns_name(name), "namespace": namespace or k8s.NAMESPACE, "labels": labels or {}},
        "spec": spec,
    }


def shared_settings_pods():
    """Pods built only from k8s.py, as the components build them."""

    def spec(sa, automount, command, gpus=0, **extra):
        return {
            "serviceAccountName": sa,
            "automountServiceAccountToken": automount,
            "securityContext": k8s.pod_security_context(),
            "containers": [
                {
                    "name": "main",
                    "image": k8s.GPU_IMAGE if gpus else k8s.IMAGE,
                    "command": command,
                    "securityContext": k8s.container_security_context(),
                    "resources": k8s.resources(cpu="2", memory="4Gi", gpus=gpus),
                }
            ],
            **k8s.gpu_scheduling(gpus),
            **extra,
        }

    return [
        pod(
            "k8s-py-tfjob-worker-gpu",
            spec(
                k8s.TRAINER_SERVICE_ACCOUNT,
                False,
                ["distml", "train"],
                gpus=1,
                priorityClassName=k8s.PRIORITY_PRODUCTION,
            ),
        ),
        pod("k8s-py-workflow-step", spec(k8s.PIPELINE_SERVICE_ACCOUNT, True, ["distml", "ingest"])),
        pod(
            "k8s-py-predictor",
            spec(k8s.PREDICTOR_SERVICE_ACCOUNT, False, ["distml", "serve"]),
            labels={"serving.kserve.io/inferenceservice": "distml"},
        ),
    ]


def pods_of(doc, where):
    """Pods a Kubernetes object defines (TFJob, InferenceService, Argo kinds; nested manifests)."""
    if not isinstance(doc, dict):
        return
    kind, meta = doc.get("kind"), doc.get("metadata") or {}
    name, namespace = meta.get("name") or meta.get("generateName") or "x", meta.get("namespace")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        yield doc
    elif kind == "TFJob":
        for replica, rs in (spec.get("tfReplicaSpecs") or {}).items():
            template = rs.get("template") or {}
            yield pod(
                f"{where}-{name}-{replica}",
                template.get("spec") or {},
                namespace,
                (template.get("metadata") or {}).get("labels"),
            )
    elif kind in ("ClusterTrainingRuntime", "TrainingRuntime"):  # Kubeflow Trainer v2: a JobSet template
        for rjob in ((spec.get("template") or {}).get("spec") or {}).get("replicatedJobs") or []:
            template = ((rjob.get("template") or {}).get("spec") or {}).get("template") or {}
            yield pod(
                f"{where}-{name}-{rjob.get('name')}",
                template.get("spec") or {},
                namespace,
                (template.get("metadata") or {}).get("labels"),
            )
    elif kind == "InferenceService":
        for component in ("predictor", "transformer", "explainer"):
            c = spec.get(component) or {}
            if c.get("containers"):  # the distml predictor image; `model:` runtimes are KServe's own pods
                pod_fields = {k: v for k, v in c.items() if k in POD_SPEC_FIELDS}
                yield pod(
                    f"{where}-{name}-{component}", pod_fields, namespace, {"serving.kserve.io/inferenceservice": name}
                )
    elif kind in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow"):
        wf = spec.get("workflowSpec") if kind == "CronWorkflow" else spec
        yield from argo_pods(wf or {}, f"{where}-{name}", namespace)


POD_SPEC_FIELDS = {
    "containers",
    "initContainers",
    "securityContext",
    "serviceAccountName",
    "automountServiceAccountToken",
    "nodeSelector",
    "tolerations",
    "affinity",
    "priorityClassName",
    "volumes",
    "hostNetwork",
    "hostPID",
    "hostIPC",
}


PARAM_REF = re.compile(r"\{\{\s*(?:inputs|workflow)\.parameters\.([\w-]+)\s*\}\}")


def resolve(text, params):
    """Argo expressions -> the parameters' defaults where known (e.g. the image), else a placeholder."""
    text = PARAM_REF.sub(lambda m: str(params[m[1]]) if m[1] in params else m[0], text)
    return ARGO_EXPR.sub("argo-expr", text)


def argo_pods(wf, where, namespace):
    workflow_params = {
        p["name"]: p["value"] for p in (wf.get("arguments") or {}).get("parameters") or [] if "value" in p
    }
    for t in wf.get("templates") or []:
        params = {
            **workflow_params,
            **{
                p["name"]: p.get("default", p.get("value"))
                for p in (t.get("inputs") or {}).get("parameters") or []
                if p.get("default", p.get("value")) is not None
            },
        }
        main = t.get("container") or t.get("script")
        if main:
            container = {k: v for k, v in main.items() if k != "source"}
            container.setdefault("name", "main")
            container["image"] = resolve(str(container.get("image", "")), params)
            spec = {
                "serviceAccountName": t.get("serviceAccountName") or wf.get("serviceAccountName"),
                "automountServiceAccountToken": t.get(
                    "automountServiceAccountToken", wf.get("automountServiceAccountToken")
                ),
                "securityContext": t.get("securityContext") or wf.get("securityContext"),
                "containers": [container],
                "nodeSelector": t.get("nodeSelector") or wf.get("nodeSelector"),
                "tolerations": t.get("tolerations") or wf.get("tolerations"),
                "priorityClassName": t.get("priorityClassName") or wf.get("podPriorityClassName"),
                "volumes": wf.get("volumes"),
            }
            yield pod(
                f"{where}-{t.get('name')}",
                {k: v for k, v in spec.items() if v is not None},
                namespace,
                (t.get("metadata") or {}).get("labels"),
            )
        manifest = (t.get("resource") or {}).get("manifest")
        if isinstance(manifest, str):
            # Argo substitutes {{...}} before parsing; a placeholder string stands in for each.
            yield from pods_of(yaml.safe_load(resolve(manifest, params)), f"{where}-{t.get('name')}")


def generated_pods():
    pods = []
    for folder in GENERATED:
        for f in sorted((REPO / folder).rglob("*.yaml")):
            if ".venv" in f.parts:
                continue
            try:
                docs = list(yaml.safe_load_all(f.read_text()))
            except yaml.YAMLError:
                continue  # not a manifest (the KFP IR is checked by its own tests)
            for doc in docs:
                pods += list(pods_of(doc, f.stem))
    return pods


def all_pods():
    return shared_settings_pods() + generated_pods()


KFP_PIPELINE = "pipelines/kfp/compiled/train_and_deploy.yaml"


# What the KFP backend (>= 2.16) puts on every step's user container besides what the
# pipeline asks for: backend/src/v2/compiler/argocompiler/security_context.go
# (applyUserContainerSecurityContext, applyPodSeccompProfileOnly; kubeflow/pipelines#12782).
KFP_BACKEND_CONTAINER_DEFAULTS = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
# The IR's resource fields and where the backend's driver puts them (driver.go, initPodSpecPatch).
KFP_RESOURCES = {
    "resourceCpuRequest": ("requests", "cpu"),
    "resourceCpuLimit": ("limits", "cpu"),
    "resourceMemoryRequest": ("requests", "memory"),
    "resourceMemoryLimit": ("limits", "memory"),
}


def kfp_pods():
    """The step pods of the compiled KFP pipeline, as the KFP backend would create them: each
    executor's container (IR deploymentSpec, with its requests and limits) with its
    kfp-kubernetes settings (platform spec: the container's securityContext, which the
    driver applies to the container, volumes, node selector, tolerations, labels) and the
    backend's own container security defaults."""
    ir, platform = yaml.safe_load_all((REPO / KFP_PIPELINE).read_text())
    kubernetes = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    pods = []
    for executor, spec in ir["deploymentSpec"]["executors"].items():
        container = spec["container"]
        settings = kubernetes.get(executor, {})
        requested = {
            k: int(v) if k in ("runAsUser", "runAsGroup") else v
            for k, v in (settings.get("securityContext") or {}).items()
        }
        resources = {}
        for field, (kind, name) in KFP_RESOURCES.items():
            if field in (container.get("resources") or {}):
                resources.setdefault(kind, {})[name] = str(container["resources"][field])
        mounts = settings.get("pvcMount") or []
        pod_spec = {
            "serviceAccountName": k8s.PIPELINE_SERVICE_ACCOUNT,  # the run's (docs/cluster.md)
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": k8s.IMAGE,
                    "command": container.get("command"),
                    "args": container.get("args"),
                    "securityContext": {**KFP_BACKEND_CONTAINER_DEFAULTS, **requested},
                    **({"resources": resources} if resources else {}),
                    "volumeMounts": [{"name": m["constant"], "mountPath": m["mountPath"]} for m in mounts],
                }
            ],
            "volumes": [{"name": m["constant"], "persistentVolumeClaim": {"claimName": m["constant"]}} for m in mounts],
            **({"nodeSelector": settings["nodeSelector"]["labels"]} if settings.get("nodeSelector") else {}),
            **({"tolerations": settings["tolerations"]} if settings.get("tolerations") else {}),
        }
        pods.append(pod(f"kfp-{executor}", pod_spec, labels=(settings.get("podMetadata") or {}).get("labels")))
    return pods
