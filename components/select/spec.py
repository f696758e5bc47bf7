"""The select component's parameters: the one declaration the CLI, the KFP component, the
Argo template and the core's defaults are derived from."""

from distml.components.common.params import ARGO, CLI, KFP, ComponentSpec, Param
from distml.components.common.repository_params import repository_params

# select.metrics.HIGHER_IS_BETTER's keys, repeated so `distml --help` needs no numpy.
METRICS = ("accuracy", "loss", "macro_precision", "macro_recall", "macro_f1")

SPEC = ComponentSpec(
    name="select",
    description=(
        "Evaluate every candidate on the test split, bless the best (threshold, and beating the "
        "deployed baseline), push it to <model_repo>/<model_name>/<N>/ if blessed. Returns blessed."
    ),
    kfp_body="distml.components.select.pipeline_step",
    kfp_returns="bool",
    params=(
        Param(
            "dataset",
            artifact="Dataset",
            flag="--dataset-dir",
            argo_name="dataset-dir",
            metavar="DIR",
            help="dataset artifact written by `distml ingest`",
        ),
        Param(
            "candidates",
            artifact="Model",
            many=True,
            on=frozenset({CLI, KFP}),
            help="candidate model artifacts (from `distml train`)",
        ),
        Param(
            "candidates_dir",
            str,
            "",
            on=frozenset({CLI, ARGO}),
            metavar="DIR",
            help="a directory whose every subdirectory is a candidate (where a fan-out writes its models)",
        ),
        Param("selection", artifact="Artifact", output=True, on=frozenset({KFP}), help="selection.json"),
        Param("evaluation", artifact="Metrics", output=True, on=frozenset({KFP}), help="every candidate's metrics"),
        Param(
            "confusion_matrix", artifact="ClassificationMetrics", output=True, on=frozenset({KFP}), help="the winner's"
        ),
        Param("report", artifact="Markdown", output=True, on=frozenset({KFP}), help="the selection report"),
        Param(
            "report_html",
            artifact="HTML",
            output=True,
            on=frozenset({KFP}),
            help="the same report as one self-contained page (charts inlined): the KFP UI shows it",
        ),
        Param(
            "output_dir",
            str,
            on=frozenset({CLI, ARGO}),
            metavar="DIR",
            help="where selection.json, report.md and the PNG charts go",
        ),
        *repository_params(
            "model repository to push the blessed winner to, as <repo>/<model-name>/<N>/: a folder under "
            "--models-root or an absolute path (empty: only evaluate)"
        ),
        Param(
            "metric", str, "accuracy", choices=METRICS, help="what the winner is chosen by (loss is lower-is-better)"
        ),
        Param("min_accuracy", float, 0.8, help="bless only if the winner's accuracy reaches this (0-1)"),
        Param(
            "min_improvement",
            float,
            0.0,
            help="with a baseline: bless only if the winner beats it by at least this much in --metric "
            "(0: no regression; negative tolerates a small regression)",
        ),
        # On a cluster the version in the repository is the one deployed: beat it. A bare
        # command line may have no repository to compare with.
        Param(
            "baseline",
            str,
            "",
            cluster_default="latest",
            metavar="PATH|latest",
            help="model to beat (the one deployed): a model artifact, or 'latest' = the newest version in the repository",
        ),
        Param(
            "follow_location",
            bool,
            False,
            cli_action="store_true",
            on=frozenset({CLI}),
            help="a dataset artifact holding metadata only (a KFP pointer): read the shards where it says",
        ),
        Param(
            "fail_if_not_blessed",
            bool,
            False,
            cli_action="store_true",
            on=frozenset({CLI}),
            help="exit 1 when the winner is not blessed (default: exit 0, push nothing)",
        ),
        Param("split", str, "test", on=frozenset({CLI}), help="split to evaluate on"),
        Param("batch_size", int, 256, on=frozenset({CLI}), help="evaluation batch size"),
        Param(
            "blessed_out",
            str,
            "",
            on=frozenset({CLI}),
            metavar="FILE",
            help="write 'true' or 'false' here (Argo output parameter)",
        ),
        Param(
            "pushed_version_out",
            str,
            "",
            on=frozenset({CLI}),
            metavar="FILE",
            help="write the pushed version number here, empty when nothing was pushed (Argo output parameter)",
        ),
    ),
)

DEFAULTS = SPEC.defaults()
