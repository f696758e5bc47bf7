"""The demonstration: a trained model serves in-distribution traffic (no drift), then
inverted digits and a class imbalance (drift, retrain); the request log is written with
the real writer and judged by `distml monitor` as a user runs it."""

import json

import numpy as np
import pytest

from benchmarks.drift_shifts import load_split, serve_to_log, shifted_sample
from distml.components.common.model_artifact import resolve_version_dir
from distml.components.ingest.reader import load_metadata
from distml.components.monitor.core import monitor
from distml.components.monitor.profiles import Model
from distml.components.monitor.request_log import RequestLog
from tests.conftest import run_cli

N = 300


@pytest.fixture(scope="module")
def served(digits_dataset, trained_models):
    model = Model(resolve_version_dir(trained_models["cnn"]), load_metadata(digits_dataset))
    images, labels = load_split(digits_dataset, "test")
    return model, images, labels


def traffic_log(tmp_path, served, shift=None, severity=0.0, seed=0):
    model, images, labels = served
    log = RequestLog(tmp_path / "log" / "requests.jsonl", model_name="distml-classifier")
    serve_to_log(model, shifted_sample(images, labels, N, np.random.default_rng(seed), shift, severity), log)
    return tmp_path / "log"


def test_in_distribution_traffic_reports_no_drift(digits_dataset, trained_models, served, tmp_path):
    report = monitor(
        digits_dataset,
        model=trained_models["cnn"],
        request_logs=[traffic_log(tmp_path, served)],
        output_dir=tmp_path / "out",
    )
    assert report["status"] == "no drift" and report["retrain"] is False, report["reason"]
    assert report["current"]["num_images"] == report["current"]["num_predictions"] == N
    assert {f["name"] for f in report["features"]} == {
        "brightness",
        "contrast",
        "ink_fraction",
        "pixel_intensity",
        "predicted_class",
        "confidence",
    }
    assert json.loads((tmp_path / "out" / "drift.json").read_text())["retrain"] is False
    assert "**No drift" in (tmp_path / "out" / "report.md").read_text()


def test_inverted_digits_drift_and_the_cli_says_retrain(digits_dataset, trained_models, served, tmp_path):
    logs = traffic_log(tmp_path, served, "invert", 1.0)
    result = run_cli(
        "monitor",
        "--reference-dataset",
        digits_dataset,
        "--model",
        trained_models["cnn"],
        "--request-log",
        logs,
        "--output-dir",
        tmp_path / "out",
        "--retrain-out",
        tmp_path / "retrain",
    )
    summary = json.loads(result.stdout)
    assert summary["retrain"] is True and {"brightness", "ink_fraction", "predicted_class"} <= set(summary["drifted"])
    assert (tmp_path / "retrain").read_text() == "true"
    assert {"report.md", "drift.json", "distributions.png", "psi_by_feature.png"} <= {
        p.name for p in (tmp_path / "out").iterdir()
    }


def test_class_imbalance_drifts_the_predictions(digits_dataset, trained_models, served, tmp_path):
    report = monitor(
        digits_dataset, model=trained_models["cnn"], request_logs=[traffic_log(tmp_path, served, "imbalance", 0.6)]
    )
    assert report["retrain"] is True and "predicted_class" in report["drifted"]


def test_too_little_traffic_decides_nothing(digits_dataset, trained_models, served, tmp_path):
    report = monitor(digits_dataset, request_logs=[traffic_log(tmp_path, served, "invert", 1.0)], min_samples=N + 1)
    assert report["status"] == "insufficient data" and report["retrain"] is False
    assert report["reference"]["model"] is None and "predicted_class" not in {f["name"] for f in report["features"]}
    (tmp_path / "empty").mkdir()  # the cron's first run: the sink has stored nothing yet
    report = monitor(digits_dataset, request_logs=[tmp_path / "empty"], output_dir=tmp_path / "out")
    assert report["status"] == "insufficient data" and report["features"] == []
    assert "Not enough data" in (tmp_path / "out" / "report.md").read_text()


def test_a_labelled_batch_is_judged_on_accuracy_too_and_the_training_data_is_found_by_fingerprint(
    digits_dataset, trained_models, tmp_path
):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "some-key").symlink_to(digits_dataset)
    report = monitor(
        datasets_root=tmp_path / "datasets",
        model=trained_models["cnn"],
        current_dataset=digits_dataset,
        current_splits=["test"],
    )
    assert report["retrain"] is False  # the very data it was validated on
    accuracy = next(f for f in report["features"] if f["name"] == "accuracy")
    assert accuracy["reference_mean"] == accuracy["current_mean"] and not accuracy["drifted"]
    assert "label_class" in {f["name"] for f in report["features"]}


def test_bad_input_is_one_line(digits_dataset, tmp_path):
    result = run_cli("monitor", "--reference-dataset", digits_dataset, "--output-dir", tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "distml monitor: error: give exactly one current population: --request-log PATH... or --current-dataset DIR"
    )
    result = run_cli(
        "monitor",
        *("--reference-dataset", digits_dataset, "--reference-split", "validation"),
        *("--request-log", tmp_path / "no-log", "--output-dir", tmp_path),
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"distml monitor: error: --reference-split validation: the reference dataset {digits_dataset} has no such "
        "split (has train, test)"
    )
    result = run_cli(
        *("monitor", "--reference-dataset", digits_dataset, "--request-log", tmp_path / "no-log"),
        *("--output-dir", tmp_path),
        check=False,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"distml monitor: error: --request-log {tmp_path / 'no-log'} does not exist"


def test_a_model_is_measured_only_against_the_data_it_was_trained_on(trained_models, tmp_path, caplog):
    from PIL import Image

    from distml.components.common.errors import UsageError
    from distml.components.ingest.core import ingest

    for split in ("train", "test"):
        for name in ("cat", "dog", "fox"):
            (tmp_path / "pets" / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((28, 28), 40 * i + 10, np.uint8)).save(
                    tmp_path / "pets" / split / name / f"{i}.png"
                )
    pets = tmp_path / "pets-artifact"
    ingest(f"folder:{tmp_path / 'pets'}", pets, num_shards=1)
    with pytest.raises(UsageError) as error:
        monitor(pets, model=trained_models["cnn"], current_dataset=pets)
    assert str(error.value) == (
        f"model {resolve_version_dir(trained_models['cnn'])} does not fit the reference dataset: it predicts 10 "
        "classes, expected 3; --reference-dataset must be the dataset it was trained on (--datasets-root finds it)"
    )
    # The same classes ingested otherwise (another split): measured, with a warning that says so.
    other = tmp_path / "digits-other-split"
    ingest("digits", other, num_shards=1, validation_fraction=0.3)
    monitor(other, model=trained_models["cnn"], current_dataset=other, current_splits=["test"])
    trained_on = load_metadata(other)["fingerprint"][:12]
    assert any(
        r.levelname == "WARNING"
        and "was trained on dataset" in r.message
        and f"the reference is {trained_on}" in r.message
        for r in caplog.records
    ), caplog.text
