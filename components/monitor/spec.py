"""The monitor component's parameters: the one declaration the CLI, the KFP component, the
Argo template and the core's defaults are derived from (docs/monitoring.md says how to tune
the thresholds). numpy-free, so `distml monitor --help` stays fast."""

from distml.components.common import k8s
from distml.components.common.params import ARGO, CLI, KFP, ComponentSpec, Param
from distml.components.common.repository_params import repository_params

# Where `distml request-sink` stores a cluster's request logs, one folder per served model
# (docs/monitoring.md): the KFP pipeline's and the Argo template's default.
REQUEST_LOGS = f"{k8s.MODELS_MOUNT}/request-logs"

REFERENCE, CURRENT, DECISION, OUTPUTS = (
    "reference (what the model was trained and validated on)",
    "current (what the model sees now); give one",
    "decision",
    "outputs",
)

SPEC = ComponentSpec(
    name="monitor",
    description=(
        "Compare the request log (a folder on a mounted volume: `distml serve` log or what "
        "`distml request-sink` stored) with the training dataset and the served model's "
        "validation predictions. Returns retrain (true when drift was found on enough traffic)."
    ),
    kfp_body="distml.components.monitor.pipeline_step",
    kfp_returns="bool",
    params=(
        Param(
            "reference_dataset",
            artifact="Dataset",
            default="",
            on=frozenset({CLI, KFP}),
            metavar="DIR",
            group=REFERENCE,
            help="the training dataset artifact (from `distml ingest`)",
        ),
        Param(
            "datasets_root",
            str,
            "",
            on=frozenset({CLI}),
            metavar="DIR",
            group=REFERENCE,
            help="instead of --reference-dataset: find the artifact the model was trained on here "
            "(by model.json's fingerprint)",
        ),
        Param(
            "reference_split",
            str,
            "train",
            on=frozenset({CLI}),
            group=REFERENCE,
            help="split whose statistics are the reference inputs",
        ),
        Param(
            "model",
            str,
            "",
            on=frozenset({CLI}),
            metavar="PATH",
            group=REFERENCE,
            help="the served model (artifact or SavedModel version directory)",
        ),
        # The served model: the repository's newest version.
        *repository_params(
            "instead of --model: the newest version in this model repository, a folder under "
            "--models-root or an absolute path",
            group=REFERENCE,
        ),
        Param(
            "request_log",
            str,
            many=True,
            on=frozenset({CLI, KFP}),
            metavar="PATH",
            group=CURRENT,
            help="request log files or folders: `distml serve` JSON lines, KServe logger CloudEvents "
            "(the CLI: this or --current-dataset)",
        ),
        Param(
            "request_log_dir",
            str,
            REQUEST_LOGS,
            on=frozenset({ARGO}),
            help="where `distml request-sink` stores request logs: the monitor reads <request-log-dir>/<model-name>",
        ),
        Param(
            "current_dataset",
            str,
            "",
            on=frozenset({CLI}),
            metavar="DIR",
            group=CURRENT,
            help="a new batch of data, as a dataset artifact",
        ),
        Param(
            "current_splits",
            str,
            None,
            flag="--current-split",
            many=True,
            on=frozenset({CLI}),
            metavar="SPLIT",
            group=CURRENT,
            help="splits of --current-dataset to use (default: all)",
        ),
        Param("psi_threshold", float, 0.2, group=DECISION, help="PSI a feature must reach to drift"),
        Param(
            "alpha",
            float,
            0.01,
            group=DECISION,
            help="false-alarm budget of one run, split over the tests (Bonferroni)",
        ),
        Param("min_samples", int, 200, group=DECISION, help="images needed to decide"),
        Param(
            "max_accuracy_drop",
            float,
            0.05,
            on=frozenset({CLI}),
            group=DECISION,
            help="labelled batches: accuracy drop that triggers retraining",
        ),
        Param("drift_report", artifact="Artifact", output=True, on=frozenset({KFP}), help="drift.json"),
        Param("scores", artifact="Metrics", output=True, on=frozenset({KFP}), help="PSI per feature"),
        Param("report", artifact="Markdown", output=True, on=frozenset({KFP}), help="the drift report"),
        Param(
            "output_dir",
            str,
            on=frozenset({CLI}),
            metavar="DIR",
            group=OUTPUTS,
            help="where drift.json, report.md and the PNG charts go",
        ),
        Param(
            "retrain_out",
            str,
            "",
            on=frozenset({CLI}),
            metavar="FILE",
            group=OUTPUTS,
            help="write 'true' or 'false' here (Argo output parameter)",
        ),
    ),
)

DEFAULTS = SPEC.defaults()
