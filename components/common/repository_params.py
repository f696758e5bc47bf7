"""The model repository's parameters, declared once for the components that find a model
there (select pushes the blessed one, deploy serves it, monitor judges the served one):
`<models_root>/<model_repo>/<model_name>/<N>/`; `model_artifact.repository_path` joins the
first two. Each component says in its own words what it does with the repository."""

from dataclasses import replace

from distml.components.common import k8s
from distml.components.common.params import CLI, KFP, Param

# A bare command line has no repository unless told; a cluster has one, the folder of the
# models volume every path shares (the component READMEs say so).
MODEL_REPO = Param("model_repo", str, "", cluster_default=k8s.MODEL_REPO_FOLDER, metavar="DIR")
MODELS_ROOT = Param(
    "models_root",
    str,
    "",
    cluster_default=k8s.MODELS_MOUNT,
    on=frozenset({CLI, KFP}),
    metavar="DIR",
    help="what a relative --model-repo is under (empty: the working directory)",
)
MODEL_NAME = Param("model_name", str, k8s.MODEL_NAME, help="model name in the repository")


def repository_params(model_repo_help: str, group: str | None = None) -> tuple[Param, Param, Param]:
    """MODEL_REPO (with `model_repo_help`), MODELS_ROOT and MODEL_NAME, in the CLI group `group`."""
    return (
        replace(MODEL_REPO, help=model_repo_help, group=group),
        replace(MODELS_ROOT, group=group),
        replace(MODEL_NAME, group=group),
    )
