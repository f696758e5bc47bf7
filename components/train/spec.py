"""The train component's parameters: the one declaration the CLI, the KFP component, the
Argo template, the worker command line and the core's defaults are derived from."""

from distml.components.common import k8s
from distml.components.common.params import ARGO, CLI, KFP, ComponentSpec, Param
from distml.components.train.models import MODELS
from distml.components.train.precision import PRECISIONS

# The launchers a cluster step picks from with its `launcher` parameter (KFP run parameter,
# Argo workflow parameter and enum); the default is `launcher`'s cluster_default.
CLUSTER_LAUNCHERS = ("tfjob", "trainjob")
LAUNCHERS = ("in-process", "local", *CLUSTER_LAUNCHERS)
WORKER_LAUNCHER = "worker"  # internal: one worker of a group (TFJob or TrainJob pod, local child)
RUNTIME_KINDS = ("ClusterTrainingRuntime", "TrainingRuntime")  # Kubeflow Trainer v2
LR_SCHEDULES = ("constant", "cosine", "exponential")
CLEAN_POD_POLICIES = ("None", "Running", "All")

DATA, TRAINING, WORKERS, TFJOB = (
    "data and model",
    "training",
    "workers and fault tolerance",
    "tfjob and trainjob launchers",
)
TRAINJOB = "trainjob launcher"

SPEC = ComponentSpec(
    name="train",
    description="Train one model variant with MultiWorkerMirroredStrategy.",
    kfp_body="distml.components.train.pipeline_step",
    params=(
        Param(
            "dataset",
            artifact="Dataset",
            argo_name="dataset-dir",
            metavar="DIR",
            group=DATA,
            help="ingest artifact directory (from `distml ingest`)",
        ),
        Param(
            "model",
            artifact="Model",
            output=True,
            flag="--model-dir",
            argo_name="model-dir",
            metavar="DIR",
            group=DATA,
            help="output directory for the model artifact (must not exist or be empty)",
        ),
        Param(
            "metrics", artifact="Metrics", output=True, on=frozenset({KFP}), help="the final metrics, for the KFP UI"
        ),
        Param("model_type", str, "cnn", metavar="TYPE", group=DATA, help=f"one of: {', '.join(MODELS)}"),
        Param("version", str, "1", on=frozenset({CLI}), group=DATA, help="SavedModel version folder under --model-dir"),
        Param("epochs", int, 5, group=TRAINING, help="passes over the train split"),
        Param("steps_per_epoch", int, 0, group=TRAINING, help="0: one pass over the train split"),
        Param("batch_size", int, 64, group=TRAINING, help="per replica (the global batch is this x replicas)"),
        Param("learning_rate", float, 1e-3, group=TRAINING, help="initial learning rate"),
        Param("lr_schedule", str, "constant", choices=LR_SCHEDULES, group=TRAINING, help="learning rate schedule"),
        Param("seed", int, 0, group=TRAINING, help="seed of the initial weights and the shuffling"),
        Param(
            "precision",
            str,
            "auto",
            choices=PRECISIONS,
            group=TRAINING,
            help="compute precision; auto: mixed_bfloat16 where the CPU/GPU has native bfloat16, "
            "else float32 (the exported model is float32 either way)",
        ),
        # On a laptop one in-process worker; on a cluster a TFJob of 2 (see README, "Defaults").
        Param(
            "launcher",
            str,
            "in-process",
            cluster_default="tfjob",
            choices=(*LAUNCHERS, WORKER_LAUNCHER),  # Argo takes CLUSTER_LAUNCHERS (pipelines/argo/library.py)
            group=WORKERS,
            help="in-process: one worker here; local: --workers processes on localhost; "
            "tfjob: a Kubeflow TFJob; trainjob: a Kubeflow Trainer v2 TrainJob; "
            "worker: internal, one worker configured by TF_CONFIG (or JobSet's env)",
        ),
        Param("workers", int, 1, cluster_default=2, group=WORKERS, help="workers (one replica each)"),
        Param(
            "checkpoint_dir",
            str,
            "",
            on=frozenset({CLI, ARGO}),
            group=WORKERS,
            help="where run checkpoints go (empty: <model-dir>/../.checkpoints); one subfolder per run",
        ),
        Param(
            "checkpoint_every",
            int,
            0,
            on=frozenset({CLI}),
            metavar="STEPS",
            group=WORKERS,
            help="0: at the end of each epoch only",
        ),
        Param(
            "keep_checkpoints",
            bool,
            False,
            on=frozenset({CLI}),
            cli_action="store_true",
            group=WORKERS,
            help="keep the run's checkpoints after success",
        ),
        Param(
            "run_id",
            str,
            "",
            on=frozenset({CLI}),
            group=WORKERS,
            help="resume this run from its checkpoints (empty: a new run)",
        ),
        Param(
            "max_restarts",
            int,
            3,
            on=frozenset({CLI}),
            group=WORKERS,
            help="local launcher: restarts of the worker group",
        ),
        Param(
            "startup_timeout",
            float,
            300.0,
            on=frozenset({CLI}),
            group=WORKERS,
            help="local launcher: seconds for all workers to join",
        ),
        # A cluster run is bounded (a stuck TFJob holds GPUs); on a laptop Ctrl-C is enough.
        Param(
            "timeout",
            int,
            0,
            cluster_default=14400,
            argo_name="train-deadline-seconds",
            group=WORKERS,
            help="seconds before the whole run is stopped (0: no limit)",
        ),
        Param("attempt", int, 0, on=frozenset({CLI}), help="==SUPPRESS=="),  # set by the local launcher
        Param(
            "image",
            str,
            "",
            on=frozenset({CLI, KFP}),
            group=TFJOB,
            help=f"worker image when --gpus is 0 (empty: {k8s.IMAGE}; trainjob: the runtime's)",
        ),
        # The pipelines name both images (a GPU training never runs the CPU image on the GPUs
        # it holds); on the command line empty leaves the choice to the launcher.
        Param(
            "gpu_image",
            str,
            "",
            cluster_default=k8s.GPU_IMAGE,
            group=TFJOB,
            help=f"worker image when --gpus is above 0 (empty: {k8s.GPU_IMAGE}; trainjob: the GPU runtime's)",
        ),
        Param(
            "namespace",
            str,
            k8s.NAMESPACE,
            on=frozenset({CLI, KFP}),
            group=TFJOB,
            help="namespace of the TFJob or TrainJob",
        ),
        Param("tfjob_name", str, "", on=frozenset({CLI}), group=TFJOB, help="empty: train-<model type>-<run id>"),
        Param("cpu", str, "2", group=TFJOB, help="CPU request and limit per worker"),
        Param("memory", str, "4Gi", group=TFJOB, help="memory request and limit per worker"),
        # CPU by default everywhere: a GPU is an explicit choice (and the -gpu image).
        Param("gpus", int, 0, group=TFJOB, help=f"{k8s.GPU_RESOURCE} per worker (NCCL between them)"),
        Param(
            "queue",
            str,
            "",
            cluster_default=k8s.LOCAL_QUEUE,
            on=frozenset({CLI, KFP}),
            group=TFJOB,
            help=f"Kueue LocalQueue (e.g. {k8s.LOCAL_QUEUE}; empty: none)",
        ),
        Param(
            "priority_class",
            str,
            "",
            cluster_default=k8s.PRIORITY_PRODUCTION,
            on=frozenset({CLI, KFP}),
            group=TFJOB,
            help=f"PriorityClass / Kueue WorkloadPriorityClass ({k8s.PRIORITY_INTERACTIVE}, "
            f"{k8s.PRIORITY_PRODUCTION}, {k8s.PRIORITY_BATCH}; empty: none)",
        ),
        Param("backoff_limit", int, 3, on=frozenset({CLI}), group=TFJOB, help="worker restarts before the TFJob fails"),
        Param("clean_pod_policy", str, "Running", choices=CLEAN_POD_POLICIES, on=frozenset({CLI}), group=TFJOB),
        Param(
            "dry_run",
            bool,
            False,
            on=frozenset({CLI}),
            cli_action="store_true",
            group=TFJOB,
            help="print the TFJob or TrainJob manifest (YAML) instead of submitting it",
        ),
        Param("trainjob_name", str, "", on=frozenset({CLI}), group=TRAINJOB, help="empty: train-<model type>-<run id>"),
        Param(
            "runtime",
            str,
            "",
            on=frozenset({CLI}),
            group=TRAINJOB,
            help="training runtime (empty: distml-tensorflow, or distml-tensorflow-gpu with --gpus)",
        ),
        Param(
            "runtime_kind",
            str,
            RUNTIME_KINDS[0],
            choices=RUNTIME_KINDS,
            on=frozenset({CLI}),
            group=TRAINJOB,
            help="ClusterTrainingRuntime, or a namespaced TrainingRuntime in --namespace",
        ),
        Param(
            "models_root",
            str,
            k8s.MODELS_MOUNT,
            on=frozenset({KFP}),
            help="the models volume: where the TFJob's pods write before the result is copied into the artifact",
        ),
        Param(
            "metrics_out", str, "", on=frozenset({CLI}), help="also write metrics.json here (for orchestrator outputs)"
        ),
    ),
)

DEFAULTS = SPEC.defaults()
