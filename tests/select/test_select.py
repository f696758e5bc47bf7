"""Selection over real trained candidates (the session's `trained_models`)."""

import json
import os
import shutil

import numpy as np
import pytest

from distml.cli import main
from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.model_artifact import directory_digest
from distml.components.select.core import select_models
from tests.conftest import run_cli

MODEL_NAME = "distml-classifier"


def repo_versions(repo):
    base = repo / MODEL_NAME
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


@pytest.fixture(scope="module")
def first_selection(trained_models, digits_dataset, tmp_path_factory):
    """All three candidates selected into an empty repository, with a report."""
    root = tmp_path_factory.mktemp("select")
    selection = select_models(
        digits_dataset,
        list(trained_models.values()),
        model_repo=root / "repo",
        output_dir=root / "out",
    )
    return selection, root


def test_best_accuracy_wins_and_is_pushed_as_version_1(first_selection, trained_models):
    selection, root = first_selection
    accuracy = {c["name"]: c["metrics"]["accuracy"] for c in selection["candidates"]}
    assert set(accuracy) == set(trained_models)  # names are the model types
    assert accuracy[selection["winner"]] == max(accuracy.values())
    assert selection["ranking"][0] == selection["winner"]
    assert selection["blessed"] and selection["baseline"] is None

    pushed = root / "repo" / MODEL_NAME / "1"
    assert selection["pushed"]["version"] == 1 and selection["pushed"]["path"] == str(pushed)
    assert repo_versions(root / "repo") == ["1"]  # no temporary directory left behind
    winner_dir = trained_models[selection["winner"]] / "1"
    assert directory_digest(pushed) == directory_digest(winner_dir)  # the same model, byte for byte
    assert json.loads((pushed / "assets.extra" / "model.json").read_text())["version"] == "1"


def test_outputs_selection_json_report_and_charts(first_selection):
    selection, root = first_selection
    out = root / "out"
    assert json.loads((out / "selection.json").read_text()) == selection
    report = (out / "report.md").read_text()
    assert f"**Winner: {selection['winner']}**, blessed and pushed as version 1" in report
    for name in selection["ranking"]:
        assert f"| {name} |" in report
    for chart in ("metric_by_candidate.png", "confusion_matrix.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # What the KFP wrapper turns into ClassificationMetrics.
    matrix = np.array(selection["confusion_matrix"])
    assert matrix.shape == (len(selection["class_names"]),) * 2
    assert matrix.sum() == selection["dataset"]["num_examples"]


def test_metrics_match_the_keras_model_on_the_test_split(first_selection, trained_models, digits_dataset):
    """The serving signature's accuracy equals an independent evaluation of model.keras."""
    import keras

    from distml.components.ingest.reader import read_split

    selection, _ = first_selection
    winner = next(c for c in selection["candidates"] if c["name"] == selection["winner"])
    model = keras.models.load_model(trained_models[winner["name"]] / "model.keras")
    predictions, labels = [], []
    for images, batch_labels in read_split(digits_dataset, "test", batch_size=128, shuffle=False):
        predictions.append(np.argmax(model.predict_on_batch(images.numpy().astype("float32")), axis=1))
        labels.append(batch_labels.numpy())
    predictions, labels = np.concatenate(predictions), np.concatenate(labels)
    assert winner["metrics"]["num_examples"] == len(labels)
    # Same weights, two graphs: allow one borderline example to round the other way.
    assert abs(winner["metrics"]["accuracy"] - np.mean(predictions == labels)) <= 1 / len(labels)


def test_metrics_match_what_training_measured_on_the_test_split(first_selection, trained_models):
    """train evaluates its export with Keras' loss function; select's numpy metrics agree."""
    for candidate in first_selection[0]["candidates"]:
        final = json.loads((trained_models[candidate["name"]] / "metrics.json").read_text())["final"]
        assert candidate["metrics"]["num_examples"] == final["test_examples"]
        assert candidate["metrics"]["accuracy"] == pytest.approx(final["test_accuracy"])
        assert candidate["metrics"]["loss"] == pytest.approx(final["test_loss"], rel=1e-4)


def test_threshold_above_every_candidate_blesses_none_and_pushes_nothing(
    trained_models, digits_dataset, tmp_path, capsys
):
    repo, out = tmp_path / "repo", tmp_path / "out"
    args = [
        "select",
        "--dataset-dir",
        digits_dataset,
        "--candidates",
        *trained_models.values(),
        "--model-repo",
        repo,
        "--output-dir",
        out,
        "--min-accuracy",
        "1.0",
        "--blessed-out",
        out / "blessed",
        "--pushed-version-out",
        out / "version",
    ]
    result = run_cli(*args)  # the container entrypoint, as Argo and KFP run it
    assert result.returncode == 0
    assert json.loads(result.stdout.splitlines()[-1])["blessed"] is False
    assert (out / "blessed").read_text() == "false"
    assert (out / "version").read_text() == ""
    assert repo_versions(repo) == []
    selection = json.loads((out / "selection.json").read_text())
    assert not selection["blessed"] and selection["pushed"] is None
    assert "below --min-accuracy 1" in selection["reason"]

    capsys.readouterr()
    assert main([*map(str, args), "--fail-if-not-blessed"]) == 1
    stderr = capsys.readouterr().err.strip().splitlines()
    assert stderr[-1].startswith(f"distml select: error: {selection['winner']} is not blessed: accuracy ")
    assert repo_versions(repo) == []


def test_baseline_better_than_every_candidate_blocks_the_push(
    first_selection, trained_models, digits_dataset, tmp_path
):
    """The repository's latest version (2) is the best model; the other two cannot beat it,
    though they would beat version 1, the worst model."""
    repo = tmp_path / "repo"
    accuracies = {c["name"]: c["metrics"]["accuracy"] for c in first_selection[0]["candidates"]}
    best, worst = max(accuracies, key=accuracies.get), min(accuracies, key=accuracies.get)
    best_accuracy = accuracies[best]
    # The test's power: the runner-up beats version 1 by more than the margin, so a baseline
    # read from the wrong version would let it be blessed.
    assert sorted(accuracies.values())[1] > accuracies[worst] + 0.001, accuracies
    shutil.copytree(trained_models[worst] / "1", repo / MODEL_NAME / "1")
    shutil.copytree(first_selection[1] / "repo" / MODEL_NAME / "1", repo / MODEL_NAME / "2")  # the best candidate
    others = [d for name, d in trained_models.items() if name != best]
    out = tmp_path / "out"
    code = main(
        [
            "select",
            "--dataset-dir",
            str(digits_dataset),
            "--candidates",
            *map(str, others),
            "--model-repo",
            str(repo),
            "--baseline",
            "latest",
            "--min-improvement",
            "0.001",
            "--output-dir",
            str(out),
            "--blessed-out",
            str(out / "blessed"),
            "--pushed-version-out",
            str(out / "version"),
        ]
    )
    assert code == 0
    selection = json.loads((out / "selection.json").read_text())
    assert selection["baseline"]["source"] == "latest" and selection["baseline"]["version"] == 2
    assert selection["baseline"]["metrics"]["accuracy"] == best_accuracy
    assert not selection["blessed"] and "is below --min-improvement 0.001" in selection["reason"]
    assert (out / "blessed").read_text() == "false" and (out / "version").read_text() == ""
    assert repo_versions(repo) == ["1", "2"]


def test_best_candidate_as_baseline_with_margin_is_not_blessed(
    first_selection, trained_models, digits_dataset, tmp_path
):
    best = first_selection[0]["winner"]
    selection = select_models(
        digits_dataset,
        list(trained_models.values()),
        model_repo=tmp_path / "repo",
        baseline=trained_models[best],
        min_improvement=0.01,
    )
    assert selection["winner"] == best
    assert "improvement +0.0000 is below --min-improvement 0.01" in selection["reason"]
    assert not selection["blessed"] and selection["pushed"] is None
    assert repo_versions(tmp_path / "repo") == []


def test_versions_increment_across_pushes(trained_models, digits_dataset, tmp_path):
    repo = tmp_path / "repo"
    candidates_dir = tmp_path / "candidates"  # the layout Argo's fan-out writes
    for name, model_dir in trained_models.items():
        shutil.copytree(model_dir, candidates_dir / name)
    (candidates_dir / ".partial-upload").mkdir()  # hidden: not a candidate
    pushed = [
        select_models(digits_dataset, candidates_dir=candidates_dir, model_repo=repo, baseline="latest")
        for _ in range(3)
    ]
    assert [s["pushed"]["version"] for s in pushed] == [1, 2, 3]
    assert pushed[0]["baseline"] is None and pushed[2]["baseline"]["version"] == 2
    assert repo_versions(repo) == ["1", "2", "3"]
    for version in ("1", "2", "3"):
        info = json.loads((repo / MODEL_NAME / version / "assets.extra" / "model.json").read_text())
        assert info["version"] == version


def test_failed_push_leaves_the_repository_as_it_was(trained_models, digits_dataset, tmp_path):
    repo = tmp_path / "repo"
    model_dir = next(iter(trained_models.values()))
    select_models(digits_dataset, [model_dir], model_repo=repo)
    before = directory_digest(repo)
    # A dangling symlink in the winner makes the copy fail after most files are written.
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    os.symlink(tmp_path / "missing", broken / "1" / "variables" / "extra.shard")
    with pytest.raises(DistmlError, match="repository is unchanged"):
        select_models(digits_dataset, [broken], model_repo=repo)
    assert directory_digest(repo) == before
    assert repo_versions(repo) == ["1"]


def test_bad_candidates_fail_with_one_clear_error(trained_models, digits_dataset, tmp_path):
    with pytest.raises(UsageError, match="no candidate models"):
        select_models(digits_dataset, [])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="has no subdirectories"):
        select_models(digits_dataset, candidates_dir=tmp_path / "empty")
    with pytest.raises(UsageError, match="is not a model"):
        select_models(digits_dataset, [digits_dataset])
    model_dir = next(iter(trained_models.values()))
    with pytest.raises(UsageError, match="given twice"):
        select_models(digits_dataset, [model_dir, model_dir])
    no_info = tmp_path / "no-info"
    shutil.copytree(model_dir, no_info)
    (no_info / "1" / "assets.extra" / "model.json").unlink()
    with pytest.raises(UsageError, match="has no assets.extra/model.json"):
        select_models(digits_dataset, [no_info])
    with pytest.raises(UsageError, match="--baseline latest needs --model-repo"):
        select_models(digits_dataset, [model_dir], baseline="latest")


def test_model_with_other_input_shape_than_the_dataset_is_refused(trained_models, tmp_path):
    from distml.components.ingest.core import ingest

    small = tmp_path / "digits-8x8"
    ingest("digits", small, num_shards=1, image_size=(8, 8))
    with pytest.raises(UsageError, match=r"takes images of shape 28x28x1 but the dataset has 8x8x1"):
        select_models(small, list(trained_models.values()))


def test_cli_usage_errors_are_one_line(digits_dataset, trained_models, tmp_path):
    result = run_cli(
        "select",
        "--dataset-dir",
        digits_dataset,
        "--candidates",
        tmp_path / "nope",
        "--output-dir",
        tmp_path / "out",
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"distml select: error: --candidates: model {tmp_path / 'nope'} does not exist or is not a directory"
    ]
    # Each error names the flag that gave the value.
    (tmp_path / "models" / "empty").mkdir(parents=True)
    for flags, error in (
        (
            ["--candidates-dir", tmp_path / "models"],
            f"--candidates-dir {tmp_path / 'models'}: {tmp_path / 'models' / 'empty'} is not a model",
        ),
        (
            ["--candidates", trained_models["cnn"], "--baseline", tmp_path / "nope"],
            f"--baseline: model {tmp_path / 'nope'} does not exist",
        ),
        (
            ["--candidates", tmp_path, "--split", "validation"],
            f"--split validation: dataset {digits_dataset} has no such split (has train, test)",
        ),
    ):
        result = run_cli(
            "select", "--dataset-dir", digits_dataset, *flags, "--output-dir", tmp_path / "out", check=False
        )
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"distml select: error: {error}"), line


def test_dataset_pointer_artifact_reads_the_shards_where_they_are(trained_models, digits_dataset, tmp_path):
    """On a cluster KFP's dataset artifact is metadata.json alone, naming the shared volume's copy."""
    pointer = tmp_path / "dataset-pointer"
    pointer.mkdir()
    shutil.copy(digits_dataset / "metadata.json", pointer)
    with pytest.raises(UsageError, match="holds metadata only .* pass follow_location=True"):
        select_models(pointer, [trained_models["cnn"]])  # never silently read from elsewhere
    selection = select_models(pointer, [trained_models["cnn"]], follow_location=True)
    assert selection["dataset"]["num_examples"] == selection["candidates"][0]["metrics"]["num_examples"] > 0


def test_output_dir_that_exists_empty_is_written_into_never_replaced(trained_models, digits_dataset, tmp_path):
    """What an orchestrator gives (a mount point, or a folder it created): written into."""
    out = tmp_path / "out"
    out.mkdir()
    before = os.stat(out).st_ino
    select_models(digits_dataset, [trained_models["cnn"]], output_dir=out)
    assert os.stat(out).st_ino == before
    from distml.components.select.report import CHARTS, HTML_REPORT_FILE

    assert sorted(p.name for p in out.iterdir()) == sorted([*CHARTS, HTML_REPORT_FILE, "report.md", "selection.json"])
    (tmp_path / "read-only").mkdir(mode=0o555)
    if os.access(tmp_path / "read-only", os.W_OK):
        return  # root writes anywhere: the read-only case is the mount test's
    with pytest.raises(UsageError, match="is not writable"):
        select_models(digits_dataset, [trained_models["cnn"]], output_dir=tmp_path / "read-only" / "out")
