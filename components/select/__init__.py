"""The select component: evaluate candidate models on a dataset's test split, choose the best,
bless it against thresholds and a baseline, and push it to a versioned model repository.

The core is `distml.components.select.core.select_models`; `distml select` is its CLI.
"""
