"""Parameters and inputs a user can get wrong: one-line errors before any worker starts."""

import argparse
import json

import pytest

from distml.components.common.errors import UsageError
from distml.components.train.cli import add_arguments
from distml.components.train.config import TrainConfig, check, worker_args
from distml.components.train.core import config_from_args, train
from distml.components.train.models import MODELS
from tests.conftest import run_cli


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model_type": "resnet9000"}, r"unknown model type 'resnet9000' \(known: cnn, dropout, batch_norm\)"),
        ({"workers": 0, "launcher": "local"}, r"--workers must be at least 1"),
        ({"batch_size": 2000}, r"global batch 2000 .* larger than the train split \(1437 examples\)"),
        ({"batch_size": 800, "workers": 2, "launcher": "local"}, r"global batch 1600 .* larger than the train split"),
        ({"workers": 9, "launcher": "local"}, r"9 workers but the train split has only 8 shards"),
        ({"epochs": 0}, r"--epochs must be at least 1"),
        ({"lr_schedule": "warp"}, r"unknown --lr-schedule 'warp'"),
        ({"precision": "float8"}, r"unknown --precision 'float8' \(known: auto, float32, mixed_bfloat16\)"),
        ({"launcher": "slurm"}, r"unknown launcher 'slurm'"),
        ({"workers": 2}, r"in-process launcher runs one worker"),
        ({"run_id": "Bad Run"}, r"--run-id must be lowercase"),
    ],
)
def test_bad_parameters_are_usage_errors(digits_dataset, tmp_path, kwargs, message):
    with pytest.raises(UsageError, match=message):
        train(digits_dataset, tmp_path / "model", **kwargs)
    assert not (tmp_path / "model").exists()


def test_missing_dataset_artifact(tmp_path):
    with pytest.raises(UsageError, match=r"is not a dataset artifact .* run `distml ingest` first"):
        train(tmp_path / "nowhere", tmp_path / "model")


def test_non_empty_model_dir_is_refused(digits_dataset, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "old.txt").write_text("x")
    with pytest.raises(UsageError, match="is not empty"):
        train(digits_dataset, tmp_path / "model")


def test_cli_prints_one_line_and_exits_2(tmp_path):
    result = run_cli("train", "--dataset", tmp_path / "nowhere", "--model-dir", tmp_path / "m", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"distml train: error: {tmp_path / 'nowhere'} is not a dataset artifact (no metadata.json); run `distml ingest` first"
    ]


def test_help_lists_every_model_type():
    result = run_cli("train", "--help")
    for name in MODELS:
        assert f"  {name} " in result.stdout
    assert "batch_norm" in result.stdout and "--launcher {in-process,local,tfjob,trainjob,worker}" in result.stdout


def test_worker_arguments_reproduce_the_config():
    config = check(
        TrainConfig(
            dataset_dir="/d",
            model_dir="/m",
            model_type="dropout",
            epochs=3,
            steps_per_epoch=7,
            batch_size=16,
            learning_rate=0.0025,
            lr_schedule="cosine",
            seed=5,
            checkpoint_dir="/c",
            checkpoint_every=4,
            keep_checkpoints=True,
            version="3",
            precision="mixed_bfloat16",
        )
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--launcher", "worker", *worker_args(config)])
    assert config_from_args(args) == config


def test_each_model_type_trains_a_few_steps(digits_dataset, tmp_path):
    """Every registered model builds for the dataset's shape, trains, and exports the serving contract."""
    import tensorflow as tf

    for model_type in MODELS:
        model_dir = tmp_path / model_type
        metrics = train(
            digits_dataset,
            model_dir,
            model_type=model_type,
            epochs=1,
            steps_per_epoch=3,
            batch_size=8,
            lr_schedule="cosine",
        )
        assert metrics["steps"] == 3 and metrics["history"][0]["steps"] == 3
        info = json.loads((model_dir / "1" / "assets.extra" / "model.json").read_text())
        assert info["model_type"] == model_type
        loaded = tf.saved_model.load(str(model_dir / "1"))
        out = loaded.signatures["serving_uint8"](images=tf.zeros([2, 28, 28, 1], tf.uint8))
        assert out["probabilities"].shape == (2, 10) and out["class_ids"].shape == (2,)


def test_a_run_resumes_from_its_checkpoints_and_keeps_its_history(digits_dataset, tmp_path):
    """Same run id, model type and model folder name: the second call continues the first run."""
    common = dict(model_type="cnn", batch_size=32, run_id="resume-me", checkpoint_dir=tmp_path / "checkpoints")
    first = train(digits_dataset, tmp_path / "a" / "model", epochs=1, keep_checkpoints=True, **common)
    assert first["steps"] == 44 and first["resumed_from_step"] == 0
    assert (tmp_path / "checkpoints" / "model-cnn-resume-me" / "checkpoints").is_dir()
    second = train(digits_dataset, tmp_path / "b" / "model", epochs=2, **common)
    assert second["resumed_from_step"] == 44 and second["steps"] == 88
    assert [e["epoch"] for e in second["history"]] == [1, 2]
    assert second["history"][0] == first["history"][0]
    assert not (tmp_path / "checkpoints").exists()  # removed after success without --keep-checkpoints
