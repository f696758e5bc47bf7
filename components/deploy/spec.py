"""The deploy component's parameters: the one declaration the CLI, the KFP component, the
Argo templates and the InferenceService builder's defaults are derived from."""

from dataclasses import replace

from distml.components.common import k8s
from distml.components.common.params import ARGO, CLI, KFP, REQUIRED, ComponentSpec, Param
from distml.components.common.repository_params import MODEL_REPO, MODELS_ROOT
from distml.components.serve.spec import DEFAULTS as SERVE_DEFAULTS

TARGETS = ("local", "kserve")
RUNTIMES = ("tfserving", "distml")
DEPLOYMENT_MODES = ("", "Standard", "Knative")
# KServe 0.16 renamed the modes; the old names still reach the builder from older scripts.
DEPRECATED_DEPLOYMENT_MODES = {"RawDeployment": "Standard", "Serverless": "Knative"}
# TF Serving must know every op of the SavedModel: run the release of the TensorFlow that
# trains (requirements/*.lock), not KServe's bundled default (2.6.2 in its runtime).
TF_SERVING_VERSION = "2.21.0"
LOCAL, KSERVE = "--target local", "--target kserve"

SPEC = ComponentSpec(
    name="deploy",
    description=(
        "Deploy the version `select` pushed: a KServe InferenceService (target kserve; create or "
        "patch, wait for Ready, roll back on failure) or the local model repository (target local)."
    ),
    kfp_body="distml.components.deploy.pipeline_step",
    params=(
        Param("selection", artifact="Artifact", on=frozenset({KFP}), help="selection.json from select"),
        Param("deployment", artifact="Artifact", output=True, on=frozenset({KFP}), help="what was deployed"),
        Param(
            "target",
            str,
            REQUIRED,
            cluster_default="kserve",
            choices=TARGETS,
            on=frozenset({CLI, KFP}),
            help="local: the local model repository (served by `distml serve`); kserve: an InferenceService",
        ),
        Param("model_name", str, k8s.MODEL_NAME, help="model folder in the repository"),
        Param(
            "model_version",
            str,
            "",
            on=frozenset({CLI, ARGO}),
            help="the version being rolled out (select's pushed version): a new value makes a new predictor revision",
        ),
        Param(
            "result_out",
            str,
            "",
            on=frozenset({CLI}),
            help="also write the result JSON here (for orchestrator outputs)",
        ),
        replace(
            MODEL_REPO,
            flag="--repo",
            on=frozenset({CLI, KFP}),
            group=LOCAL,
            help="model repository: a folder under models_root or an absolute path (local: required)",
        ),
        replace(
            MODELS_ROOT, on=frozenset({KFP}), help="what a relative model_repo is under: the models volume on a cluster"
        ),
        Param(
            "model_dir",
            str,
            "",
            on=frozenset({CLI}),
            group=LOCAL,
            help="model to deploy: a train output <model_dir> or a <version> dir; empty: the newest version in the repository",
        ),
        Param(
            "version",
            str,
            "",
            on=frozenset({CLI}),
            group=LOCAL,
            help="which <model_dir>/<version> to deploy when it holds several",
        ),
        Param(
            "wait",
            float,
            0.0,
            on=frozenset({CLI}),
            group=LOCAL,
            help="seconds to wait for a running server to switch to the version",
        ),
        Param(
            "service_name",
            str,
            "",
            flag="--name",
            on=frozenset({CLI, KFP}),
            group=KSERVE,
            help="InferenceService name (empty: the model name)",
        ),
        Param("namespace", str, k8s.NAMESPACE, on=frozenset({CLI, KFP}), group=KSERVE),
        Param(
            "runtime",
            str,
            "tfserving",
            choices=RUNTIMES,
            on=frozenset({CLI, KFP}),
            group=KSERVE,
            help="tfserving: KServe's TensorFlow Serving runtime; distml: the distml image running `distml serve`",
        ),
        Param(
            "storage_uri",
            str,
            "",
            on=frozenset({CLI}),
            group=KSERVE,
            help=f"model folder with numbered versions (empty: where select pushes, "
            f"pvc://{k8s.MODELS_PVC}/<--repo, default {k8s.MODEL_REPO_FOLDER}>/<model-name>)",
        ),
        Param(
            "image",
            str,
            "",
            on=frozenset({CLI, KFP}),
            group=KSERVE,
            help="distml predictor image (empty: the distml image, -gpu with gpus)",
        ),
        Param(
            "runtime_version",
            str,
            "",
            on=frozenset({CLI}),
            group=KSERVE,
            help=f"tfserving image tag (empty: {TF_SERVING_VERSION}, -gpu with gpus: the TensorFlow release that trains)",
        ),
        Param("cpu", str, "1", on=frozenset({CLI, KFP}), group=KSERVE),
        Param("memory", str, "2Gi", on=frozenset({CLI, KFP}), group=KSERVE),
        Param("gpus", int, 0, on=frozenset({CLI, KFP}), group=KSERVE),
        Param("min_replicas", int, 1, on=frozenset({CLI, KFP}), group=KSERVE),
        Param("max_replicas", int, 1, on=frozenset({CLI, KFP}), group=KSERVE),
        Param(
            "canary_traffic_percent",
            int,
            -1,
            on=frozenset({CLI, KFP}),
            group=KSERVE,
            help="send this share of traffic to the new model (Knative: a canary revision; Standard: a canary "
            "Deployment, KServe >= 0.20); rollback returns it to the previous model; -1: all of it",
        ),
        Param("service_account", str, k8s.PREDICTOR_SERVICE_ACCOUNT, on=frozenset({CLI}), group=KSERVE),
        Param(
            "priority_class",
            str,
            k8s.PRIORITY_PRODUCTION,
            on=frozenset({CLI, KFP}),
            group=KSERVE,
            help="PriorityClass of predictor pods (empty: none)",
        ),
        Param(
            "deployment_mode",
            str,
            "",
            choices=DEPLOYMENT_MODES,
            on=frozenset({CLI}),
            group=KSERVE,
            help="KServe deployment mode annotation: Standard (Deployments) or Knative (empty: the cluster's)",
        ),
        Param(
            "max_batch_size",
            int,
            SERVE_DEFAULTS.max_batch_size,
            on=frozenset({CLI}),
            group=KSERVE,
            help="distml predictor: largest accepted client batch (split into model batches)",
        ),
        Param(
            "request_logger_url",
            str,
            "",
            on=frozenset({CLI, KFP}),
            group=KSERVE,
            help="KServe's inference logger: post every request and response as a CloudEvent to this URL "
            "(a `distml request-sink`, e.g. http://distml-request-sink.distml.svc.cluster.local/) for "
            "`distml monitor`; empty: no logger",
        ),
        Param(
            "timeout",
            int,
            600,
            on=frozenset({CLI, KFP}),
            group=KSERVE,
            help="seconds to wait for Ready before rolling back",
        ),
        Param(
            "rollback",
            bool,
            True,
            flag="--no-rollback",
            cli_action="store_false",
            on=frozenset({CLI}),
            group=KSERVE,
            help="leave a failed rollout in place",
        ),
        Param(
            "dry_run",
            bool,
            False,
            cli_action="store_true",
            on=frozenset({CLI}),
            group=KSERVE,
            help="print the InferenceService YAML; change nothing",
        ),
        Param(
            "manifest_out", str, "", on=frozenset({CLI}), group=KSERVE, help="also write the InferenceService YAML here"
        ),
    ),
)

DEFAULTS = SPEC.defaults()
