"""The drift scores: PSI, KS on fine histograms, chi-square on counts."""

import numpy as np
from scipy import stats

from distml.components.common.image_features import feature_histogram
from distml.components.monitor import drift


def test_psi_is_zero_for_identical_and_grows_with_the_shift():
    counts = [100, 200, 300, 400]
    assert drift.psi(counts, counts) == 0
    assert 0 < drift.psi(counts, [110, 200, 300, 390]) < drift.psi(counts, [400, 300, 200, 100])


def test_ks_on_fine_histograms_agrees_with_the_exact_two_sample_test():
    rng = np.random.default_rng(0)
    ref, same, moved = rng.beta(5, 10, 5000), rng.beta(5, 10, 300), rng.beta(5, 10, 300) + 0.08
    for current in (same, moved):
        scores = drift.continuous_scores(feature_histogram(ref), feature_histogram(current))
        exact = stats.ks_2samp(ref, current)
        assert abs(scores["statistic"] - exact.statistic) <= 0.02  # binning to 1/100 moves D by at most a bin's mass
    assert drift.continuous_scores(feature_histogram(ref), feature_histogram(same))["p_value"] > 0.05
    assert drift.continuous_scores(feature_histogram(ref), feature_histogram(moved))["p_value"] < 1e-4


def test_chi_square_sees_a_class_imbalance():
    reference = [100] * 10
    assert drift.categorical_scores(reference, [30, 31, 29, 30, 30, 30, 31, 29, 30, 30])["p_value"] > 0.5
    skewed = drift.categorical_scores(reference, [120, 20, 20, 20, 20, 20, 20, 20, 20, 20])
    assert skewed["p_value"] < 1e-10 and skewed["psi"] > 0.3


def _profile(values, class_counts):
    inputs = {name: feature_histogram(values).tolist() for name in ("brightness", "contrast", "ink_fraction")}
    return {
        "num_images": len(values),
        "inputs": inputs,
        "pixel_histogram": [1] * 32,
        "labels": None,
        "predictions": {
            "num": int(sum(class_counts)),
            "class_counts": class_counts,
            "confidence": feature_histogram(np.full(int(sum(class_counts)), 0.95)).tolist(),
            "accuracy": None,
        },
    }


def test_a_feature_drifts_only_when_the_move_is_both_significant_and_large():
    from distml.components.monitor.core import compare

    rng = np.random.default_rng(0)
    reference = _profile(rng.beta(20, 40, 200_000), [1000] * 10)

    def drifted(values, classes=(1000,) * 10):
        rows = compare(
            reference, _profile(values, list(classes)), psi_threshold=0.2, alpha=0.01, max_accuracy_drop=0.05
        )
        return {r["name"]: r for r in rows}

    tiny_but_certain = drifted(rng.beta(20, 40, 200_000) + 0.01)["brightness"]  # p ~ 0, PSI ~ 0.03
    assert tiny_but_certain["p_value"] < 1e-10 and tiny_but_certain["psi"] < 0.2 and not tiny_but_certain["drifted"]
    large_but_noisy = drifted(rng.beta(20, 40, 12) + 0.05)["brightness"]  # 12 images: PSI high, test not convinced
    assert large_but_noisy["psi"] >= 0.2 and large_but_noisy["p_value"] > large_but_noisy["alpha_per_test"]
    assert not large_but_noisy["drifted"]
    both = drifted(rng.beta(20, 40, 500) + 0.05)["brightness"]
    assert both["drifted"]
    rows = drifted(rng.beta(20, 40, 500), classes=[600] + [100] * 9)
    assert rows["predicted_class"]["drifted"] and not rows["brightness"]["drifted"]
    # Bonferroni over the five tests (three inputs, predicted class, confidence; the pixel histogram has none).
    assert rows["brightness"]["alpha_per_test"] == 0.01 / 5 and rows["pixel_intensity"]["alpha_per_test"] is None
