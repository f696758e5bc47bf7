"""The whole KFP pipeline with kfp.local.DockerRunner: every step (ingest, train per variant,
select, deploy) a container of the CPU image, as the pods' user with the pipeline root a
volume writable through its group; then the same run again, all from kfp.local's cache."""

import json
import os
import re
import warnings

import pytest

from distml.components.common import k8s
from distml.pipelines.kfp.local_output import strip_colors
from tests.containers.engine import fs_group_volume

# The first test to run builds the images (session fixture): minutes on a cold cache.
pytestmark = pytest.mark.timeout(3600)

MODEL = "digits"


def run_pipeline(root, cache):
    from kfp import local

    from distml.pipelines.kfp.train_and_deploy import build_pipeline

    # The component's command replaces the image's ENTRYPOINT on a cluster (a pod's `command`);
    # docker's `command` replaces only CMD, so clear the entrypoint as the KFP driver's pod would.
    # The pipeline root is bind-mounted at the same path, as DockerRunner does.
    local.init(
        runner=local.DockerRunner(
            entrypoint=[],
            user=f"{k8s.RUN_AS_USER}:{k8s.RUN_AS_USER}",
            group_add=[str(k8s.RUN_AS_USER)],
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        ),
        pipeline_root=str(root),
        enable_caching=True,
        cache_root=str(cache),
        raise_on_error=True,
    )
    warnings.filterwarnings("ignore", message="You may be attemping to run a task that uses custom")
    pipeline = build_pipeline(for_cluster=False)
    return pipeline(
        dataset="digits",
        num_shards=2,
        model_types=["cnn", "dropout"],
        workers=1,
        epochs=1,
        steps_per_epoch=5,
        batch_size=32,
        learning_rate=0.001,
        gpus=0,
        launcher="in-process",
        min_accuracy=0.0,
        min_improvement=0.0,
        serving_target="local",
        store_root="",
        models_root=str(root / "models"),
        model_repo=str(root / "repo"),
        model_name=MODEL,
    )


IMAGE_PARAMETER = "{{$.inputs.parameters['pipelinechannel--image']}}"


@pytest.fixture
def image_parameter_resolved(monkeypatch, images):
    """The pipeline sets each task's image from its `image` parameter; kfp 2.17's local
    DockerRunner passes that placeholder to docker unresolved ("invalid reference format"),
    where a cluster's driver substitutes it. Substitute it as the driver does, with the value
    this run passes (the parameter's default, the CPU image just built)."""
    from kfp.local import docker_task_handler

    original = docker_task_handler.DockerTaskHandler.__init__

    def init(self, image, *args, **kwargs):
        original(self, images["cpu"] if image == IMAGE_PARAMETER else image, *args, **kwargs)

    monkeypatch.setattr(docker_task_handler.DockerTaskHandler, "__init__", init)


def test_pipeline_with_every_step_a_container_then_all_cached(images, image_parameter_resolved, tmp_path, capfd):
    pytest.importorskip("docker", reason="the docker SDK (dev extra) runs kfp.local.DockerRunner")
    assert k8s.IMAGE == images["cpu"]  # the pipeline's default image is the one just built
    root = fs_group_volume(tmp_path / "pipeline-root", k8s.RUN_AS_USER)
    cache = tmp_path / "cache"
    umask = os.umask(0o002)  # what kfp.local creates on the host stays writable through the group
    try:
        first = run_pipeline(root, cache)
        first_log = strip_colors(capfd.readouterr().out)
        second = run_pipeline(root, cache)
        second_log = strip_colors(capfd.readouterr().out)
    finally:
        os.umask(umask)

    executed = re.findall(r"Executing task '([^']+)'", first_log)
    assert len(executed) == 5, first_log[-5000:]  # ingest, train x2, select, deploy
    assert f"Found image '{images['cpu']}'" in first_log
    selection = json.loads(open(first.output.uri).read())
    assert selection["blessed"] and selection["winner"] in ("cnn", "dropout"), selection
    assert list((root / "repo" / MODEL).iterdir())
    assert re.findall(r"Executing task '([^']+)'", second_log) == [], second_log[-5000:]
    assert open(second.output.uri).read() == open(first.output.uri).read()
