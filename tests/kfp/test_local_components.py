"""KFP components run through kfp.local.SubprocessRunner(use_venv=False) on tiny inputs.
(The whole pipeline runs in test_distml_run; this is the not-blessed path.)"""

import json
from pathlib import Path

import pytest
from kfp import dsl, local

from distml.components.deploy.component import deploy
from distml.components.ingest.component import ingest
from distml.components.select.component import select
from distml.components.train.component import train


@pytest.fixture
def kfp_local(tmp_path):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    return tmp_path


def test_not_blessed_means_no_push_and_no_deploy(kfp_local):
    repo = kfp_local / "repo"

    @dsl.pipeline(name="select-strict")
    def strict() -> dsl.Artifact:
        data = ingest(dataset="digits", num_shards=2, store_root="").outputs["dataset_artifact"]
        with dsl.ParallelFor(["cnn"]) as model_type:
            t = train(
                dataset=data, model_type=model_type, epochs=1, steps_per_epoch=2, workers=1, launcher="in-process"
            )
        s = select(dataset=data, candidates=dsl.Collected(t.outputs["model"]), model_repo=str(repo), min_accuracy=0.999)
        with dsl.If(s.outputs["Output"] == True):  # noqa: E712
            deploy(selection=s.outputs["selection"], model_repo=str(repo), target="local")
        return s.outputs["selection"]

    selection = json.loads(Path(strict().output.uri).read_text())
    assert selection["blessed"] is False and selection["pushed"] is None
    assert not (repo / "distml-classifier").exists()
    assert not list(kfp_local.glob("root/select-strict-*/deploy"))
    # The report as one page, an HTML artifact the KFP UI shows (issue #22).
    (page,) = kfp_local.glob("root/select-strict-*/select/report_html")
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "not blessed" in html.lower() and "data:image/png;base64," in html
