"""The select component: evaluate candidate models on a dataset's test split, choose the best,
bless it against thresholds and a baseline, and push it to a versioned model repository.

The core is `distml.components.select.core.select_models`; `distml select` is its CLI.

KFP component: `from distml.components.select import select` (loaded on first use).
"""

from distml.components.common.kfp_export import kfp_component_getattr

__getattr__ = kfp_component_getattr(__name__, "select")
