"""KFP wrapper of the deploy component: a thin call into the core."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Output

from distml.components.common.k8s import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def deploy(
    selection: Input[Artifact],
    deployment: Output[Artifact],
    model_repo: str,
    model_name: str = "distml-classifier",
    target: str = "kserve",
    service_name: str = "distml-classifier",
    # Literal defaults: KFP embeds this function's source, so they cannot name module
    # constants (they are the values in components/common/k8s.py; a test checks that).
    namespace: str = "distml",
    runtime: str = "tfserving",
    image: str = "ghcr.io/distml/distml:0.1.0",
    gpus: int = 0,
    min_replicas: int = 1,
    max_replicas: int = 1,
    canary_traffic_percent: int = -1,
    timeout_s: int = 600,
):
    """Deploy the version `select` pushed: a KServe InferenceService (target kserve; create or
    patch, wait for Ready, roll back on failure) or the local model repository (target local).

    canary_traffic_percent: -1 sends all traffic to the new version.
    """
    from distml.components.deploy.pipeline_step import deploy_step

    result = deploy_step(
        selection.path, deployment.path, model_repo=model_repo, model_name=model_name, target=target,
        service_name=service_name, namespace=namespace, runtime=runtime, image=image, gpus=gpus,
        min_replicas=min_replicas, max_replicas=max_replicas,
        canary_traffic_percent=None if canary_traffic_percent < 0 else canary_traffic_percent,
        timeout_s=timeout_s,
    )
    deployment.metadata.update(result)
