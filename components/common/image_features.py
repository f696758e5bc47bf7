"""Image-level features drift is measured on: one definition for ingest statistics, the
server's request log and the monitor, so the three always compute the same numbers.

Every feature maps an image batch (pixels 0-255, [N, H, W, C], any numeric dtype) to one
value in [0, 1] per image. Cheap: three reductions over the pixels, numpy only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

PIXEL_MAX = 255.0
INK_THRESHOLD = 127.5  # a pixel brighter than mid-grey counts as ink (digits and Fashion-MNIST: light on black)
FEATURE_BINS = 100  # fine histogram of each image feature over [0, 1]: KS and PSI are computed from it
PIXEL_BINS = 32  # pixel-intensity histogram over 0-255, 8 grey levels per bin

IMAGE_FEATURES = {
    "brightness": "mean pixel intensity / 255",
    "contrast": "standard deviation of pixel intensities / 255",
    "ink_fraction": "fraction of pixels brighter than mid-grey",
}


def image_features(images: ArrayLike) -> dict[str, np.ndarray]:
    """{feature: float64 [N]} for a batch of images."""
    flat = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    return {
        "brightness": flat.mean(axis=1, dtype=np.float64) / PIXEL_MAX,
        "contrast": flat.std(axis=1, dtype=np.float64) / PIXEL_MAX,
        "ink_fraction": (flat > INK_THRESHOLD).mean(axis=1, dtype=np.float64),
    }


def feature_histogram(values: ArrayLike, bins: int = FEATURE_BINS) -> np.ndarray:
    """Counts of `values` in `bins` equal bins over [0, 1] (1.0 falls in the last bin)."""
    index = np.clip((np.asarray(values, dtype=np.float64) * bins).astype(np.int64), 0, bins - 1)
    return np.bincount(index, minlength=bins)


def pixel_histogram(images: ArrayLike, bins: int = PIXEL_BINS) -> np.ndarray:
    """Counts of every pixel of `images` in `bins` equal bins over 0-255."""
    pixels = np.asarray(images, dtype=np.float32).reshape(-1)
    index = np.clip((pixels * (bins / 256.0)).astype(np.int64), 0, bins - 1)
    return np.bincount(index, minlength=bins)
