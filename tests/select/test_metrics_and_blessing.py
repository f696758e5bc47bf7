"""Metrics against scikit-learn, ranking ties, and the blessing rules (no TensorFlow)."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support

from distml.components.common.errors import UsageError
from distml.components.select import spec
from distml.components.select.blessing import TOLERANCE, bless, rank
from distml.components.select.metrics import HIGHER_IS_BETTER, ConfusionAccumulator, classification_metrics


def test_metrics_match_scikit_learn_over_batches():
    rng = np.random.default_rng(0)
    num_classes, n = 4, 203
    labels = rng.integers(0, num_classes, n)
    logits = rng.normal(size=(n, num_classes)) + 2.0 * np.eye(num_classes)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predictions = probabilities.argmax(axis=1)
    predictions[predictions == 3] = 2  # class 3 is never predicted: precision 0, not NaN

    accumulator = ConfusionAccumulator(num_classes)
    for start in range(0, n, 64):
        batch = slice(start, start + 64)
        accumulator.add(labels[batch], probabilities[batch], predictions[batch])
    result = accumulator.result(["a", "b", "c", "d"])

    m = result["metrics"]
    assert m["num_examples"] == n
    assert m["accuracy"] == pytest.approx(accuracy_score(labels, predictions))
    assert m["loss"] == pytest.approx(log_loss(labels, probabilities, labels=range(num_classes)), rel=1e-6)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=range(num_classes), zero_division=0
    )
    assert [c["precision"] for c in result["per_class"]] == pytest.approx(precision)
    assert [c["recall"] for c in result["per_class"]] == pytest.approx(recall)
    assert [c["f1"] for c in result["per_class"]] == pytest.approx(f1)
    assert [c["support"] for c in result["per_class"]] == support.tolist()
    assert m["macro_f1"] == pytest.approx(f1.mean())
    assert result["confusion_matrix"] == confusion_matrix(labels, predictions, labels=range(num_classes)).tolist()
    assert result["per_class"][3]["precision"] == 0.0


def candidate(name, accuracy, loss):
    return {"name": name, "metrics": {"accuracy": accuracy, "loss": loss}}


def test_rank_by_accuracy_breaks_ties_by_loss_then_name():
    ranked = rank(
        [candidate("b", 0.9, 0.3), candidate("c", 0.9, 0.2), candidate("a", 0.8, 0.1), candidate("a2", 0.9, 0.3)],
        "accuracy",
    )
    assert [c["name"] for c in ranked] == ["c", "a2", "b", "a"]


def test_rank_by_loss_prefers_lower():
    ranked = rank([candidate("x", 0.9, 0.5), candidate("y", 0.8, 0.4)], "loss")
    assert [c["name"] for c in ranked] == ["y", "x"]


def test_cli_offers_every_metric():
    assert spec.METRICS == tuple(HIGHER_IS_BETTER)


def test_rank_rejects_unknown_metric():
    with pytest.raises(UsageError, match="unknown --metric"):
        rank([candidate("x", 0.9, 0.5)], "auc")


def test_bless_needs_min_accuracy():
    blessed, checks = bless({"accuracy": 0.89, "loss": 0.4}, "accuracy", min_accuracy=0.9)
    assert not blessed
    assert "below --min-accuracy 0.9" in checks[0]["detail"]
    assert bless({"accuracy": 0.9, "loss": 0.4}, "accuracy", min_accuracy=0.9)[0]


def test_bless_against_baseline_needs_min_improvement():
    winner = {"accuracy": 0.93, "loss": 0.30}
    assert bless(winner, "accuracy", baseline_metrics={"accuracy": 0.92, "loss": 0.3}, min_improvement=0.01)[
        0
    ]  # 0.93-0.92 in floats
    assert not bless(winner, "accuracy", baseline_metrics={"accuracy": 0.925, "loss": 0.3}, min_improvement=0.01)[0]
    assert bless(winner, "accuracy", baseline_metrics={"accuracy": 0.93, "loss": 0.3})[0]  # default: no regression
    assert not bless(winner, "accuracy", baseline_metrics={"accuracy": 0.94, "loss": 0.3})[0]
    # A negative margin tolerates a small regression, as TFX's absolute change thresholds do.
    assert bless(winner, "accuracy", baseline_metrics={"accuracy": 0.94, "loss": 0.3}, min_improvement=-0.02)[0]


def test_bless_on_loss_means_lower():
    winner = {"accuracy": 0.9, "loss": 0.30}
    assert bless(winner, "loss", baseline_metrics={"accuracy": 0.9, "loss": 0.35}, min_improvement=0.05)[0]
    assert not bless(winner, "loss", baseline_metrics={"accuracy": 0.9, "loss": 0.29})[0]


def test_latest_version_is_the_newest_complete_one(tmp_path):
    from distml.components.common.model_artifact import latest_version

    assert latest_version(tmp_path, "m") is None
    for version in (1, 2, 10):
        (tmp_path / "m" / str(version) / "assets.extra").mkdir(parents=True)
        (tmp_path / "m" / str(version) / "saved_model.pb").write_bytes(b"x")
        (tmp_path / "m" / str(version) / "assets.extra" / "model.json").write_text("{}")
    (tmp_path / "m" / "11").mkdir()  # a version still being written: no SavedModel yet
    (tmp_path / "m" / ".incoming").mkdir()
    assert latest_version(tmp_path, "m") == (10, tmp_path / "m" / "10")  # numeric order, not "2" > "10"


def test_min_accuracy_is_reached_exactly_and_within_float_error_only():
    blessed, checks = bless({"accuracy": 0.9, "loss": 0.4}, "accuracy", min_accuracy=0.9)
    assert blessed and checks == [
        {"check": "min_accuracy", "passed": True, "detail": "accuracy 0.9000 reaches --min-accuracy 0.9"}
    ]
    assert bless({"accuracy": 0.9 - 1e-12, "loss": 0.4}, "accuracy", min_accuracy=0.9)[0]  # an ulp-sized miss
    blessed, checks = bless({"accuracy": 0.9 - 1e-6, "loss": 0.4}, "accuracy", min_accuracy=0.9)
    assert not blessed and checks[0]["detail"] == "accuracy 0.9000 is below --min-accuracy 0.9"


def test_improvement_on_loss_counts_a_lower_loss_as_better():
    blessed, checks = bless(
        {"accuracy": 0.9, "loss": 0.30}, "loss", baseline_metrics={"accuracy": 0.9, "loss": 0.35}, min_improvement=0.05
    )
    assert blessed and checks[1]["detail"] == (
        "loss 0.3000 vs baseline 0.3500: improvement +0.0500 reaches --min-improvement 0.05"
    )


def test_a_zero_probability_costs_a_finite_loss_as_in_keras():
    accumulator = ConfusionAccumulator(2)
    accumulator.add([0], np.array([[0.0, 1.0]]), [1])
    assert accumulator.result(["a", "b"])["metrics"]["loss"] == pytest.approx(-np.log(1e-7))


def test_a_class_never_present_has_recall_zero_not_nan():
    result = classification_metrics([[3, 1, 0], [0, 2, 0], [0, 0, 0]], 1.0, ["a", "b", "c"])
    assert [c["recall"] for c in result["per_class"]] == [0.75, 1.0, 0.0]
    assert [c["precision"] for c in result["per_class"]] == [1.0, 2 / 3, 0.0]
    assert result["metrics"]["macro_recall"] == pytest.approx(1.75 / 3)


def test_rank_by_another_metric_than_accuracy_follows_that_metric():
    a = {"name": "a", "metrics": {"accuracy": 0.9, "loss": 0.3, "macro_f1": 0.70}}
    b = {"name": "b", "metrics": {"accuracy": 0.8, "loss": 0.4, "macro_f1": 0.85}}
    assert [c["name"] for c in rank([a, b], "macro_f1")] == ["b", "a"]


@pytest.mark.parametrize("metric", ["accuracy", "macro_precision", "macro_recall", "macro_f1"])
def test_every_higher_is_better_metric_ranks_and_blesses_the_higher_value_first(metric):
    low = {"name": "low", "metrics": {"accuracy": 0.9, "loss": 0.3, metric: 0.5}}
    high = {"name": "high", "metrics": {"accuracy": 0.9, "loss": 0.3, metric: 0.6}}
    assert [c["name"] for c in rank([low, high], metric)] == ["high", "low"]
    assert bless(high["metrics"], metric, baseline_metrics=low["metrics"])[0]
    assert not bless(low["metrics"], metric, baseline_metrics=high["metrics"])[0]


def test_a_tie_on_the_metric_goes_to_the_higher_accuracy():
    a = {"name": "a", "metrics": {"accuracy": 0.8, "loss": 0.3}}
    b = {"name": "b", "metrics": {"accuracy": 0.9, "loss": 0.3}}
    assert [c["name"] for c in rank([a, b], "loss")] == ["b", "a"]


def test_a_class_predicted_once_has_its_precision_and_f1():
    # class 0: predicted once, right (precision 1); class 1: p = r = 1/2, so p + r = 1
    result = classification_metrics([[1, 0, 0], [0, 1, 1], [0, 1, 3]], 1.0, ["a", "b", "c"])
    assert [c["precision"] for c in result["per_class"]] == [1.0, 0.5, 0.75]
    assert [c["recall"] for c in result["per_class"]] == [1.0, 0.5, 0.75]
    assert [c["f1"] for c in result["per_class"]] == pytest.approx([1.0, 0.5, 0.75])


def test_the_tolerance_bounds_are_inclusive_in_the_verdict_and_its_detail():
    # accuracy or gain exactly at the bound minus TOLERANCE still passes
    blessed, checks = bless({"accuracy": 0.0, "loss": 1.0}, "accuracy", min_accuracy=TOLERANCE)
    assert blessed and checks[0]["detail"] == f"accuracy 0.0000 reaches --min-accuracy {TOLERANCE:g}"
    same = {"accuracy": 0.5, "loss": 1.0}
    assert bless(same, "accuracy", baseline_metrics=same, min_improvement=TOLERANCE)[0]


def test_min_accuracy_defaults_to_zero():
    blessed, checks = bless({"accuracy": 0.0, "loss": 1.0}, "accuracy")
    assert blessed and checks[0]["detail"] == "accuracy 0.0000 reaches --min-accuracy 0"


def test_no_examples_is_an_error_not_nan_metrics():
    with pytest.raises(ValueError, match="no examples were evaluated"):
        classification_metrics([[0, 0], [0, 0]], 0.0, ["a", "b"])
