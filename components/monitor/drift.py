"""Drift scores between a reference and a current distribution, both given as histograms.

- PSI (population stability index), sum (c - r) ln(c / r) over bins: how much the
  distribution moved, independent of sample size (the effect size). Continuous features
  are scored on ~10 bins of equal reference mass, categorical ones per class.
- Kolmogorov-Smirnov for continuous features (two-sample, on the fine histograms: the
  largest CDF gap on a 1/100 grid, slightly conservative): is the move more than sampling
  noise at this sample size (the p-value).
- Chi-square test of homogeneity for categorical ones (class balance, predicted class).

A feature drifts when both say so: the p-value is below the (Bonferroni-corrected) alpha
AND the PSI reaches its threshold. The test keeps small samples from raising false
alarms; the PSI keeps huge samples from flagging moves too small to matter.
"""

import numpy as np
from scipy import special, stats

PSI_BINS = 10
# Each bin's count gets this pseudo-count before proportions are taken: empty bins would
# make PSI infinite, and it shrinks the small-sample bias of PSI.
PSEUDO_COUNT = 0.5


def proportions(counts):
    counts = np.asarray(counts, dtype=np.float64) + PSEUDO_COUNT
    return counts / counts.sum()


def psi(reference_counts, current_counts):
    r, c = proportions(reference_counts), proportions(current_counts)
    return float(np.sum((c - r) * np.log(c / r)))


def equal_mass_groups(reference_counts, groups=PSI_BINS):
    """Bin edges (indices into the fine histogram) grouping it into ~`groups` bins of equal reference mass."""
    counts = np.asarray(reference_counts, dtype=np.float64)
    cdf = np.cumsum(counts) / counts.sum()
    edges = np.searchsorted(cdf, np.arange(1, groups) / groups, side="left") + 1
    return np.unique(np.concatenate([[0], edges, [len(counts)]]))


def regroup(counts, edges):
    counts = np.asarray(counts)
    return np.array([counts[a:b].sum() for a, b in zip(edges[:-1], edges[1:])])


def continuous_scores(reference_hist, current_hist):
    """PSI and KS of two fine histograms over the same bins."""
    reference_hist, current_hist = np.asarray(reference_hist), np.asarray(current_hist)
    n_ref, n_cur = int(reference_hist.sum()), int(current_hist.sum())
    edges = equal_mass_groups(reference_hist)
    d = float(np.max(np.abs(np.cumsum(reference_hist) / n_ref - np.cumsum(current_hist) / n_cur)))
    n_eff = n_ref * n_cur / (n_ref + n_cur)
    return {
        "psi": psi(regroup(reference_hist, edges), regroup(current_hist, edges)),
        "test": "ks",
        "statistic": d,
        "p_value": float(special.kolmogorov(np.sqrt(n_eff) * d)) if d > 0 else 1.0,
    }


def categorical_scores(reference_counts, current_counts):
    """PSI and chi-square homogeneity test of two count vectors over the same categories."""
    reference_counts, current_counts = np.asarray(reference_counts), np.asarray(current_counts)
    table = np.stack([reference_counts, current_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        chi2, p_value = 0.0, 1.0
    else:
        chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    return {
        "psi": psi(reference_counts, current_counts),
        "test": "chi2",
        "statistic": float(chi2),
        "p_value": float(p_value),
    }


def histogram_scores(reference_hist, current_hist):
    """PSI only: pixel intensities within an image are not independent draws, so a test
    over all pixels would call any difference significant."""
    return {"psi": psi(reference_hist, current_hist), "test": None, "statistic": None, "p_value": None}
