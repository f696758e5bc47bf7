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
