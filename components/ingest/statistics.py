"""Per-split statistics of a dataset artifact, what drift is measured against.

Computed while ingest writes the examples (no second pass), in batches, numpy only, and
written as `statistics.json` beside `metadata.json`:

    format        STATISTICS_FORMAT
    fingerprint   the dataset artifact's fingerprint (the statistics describe exactly it)
    image_shape, num_classes, class_names
    features      {name: description} of the image-level features (common/image_features.py)
    splits        {split: {
        num_examples
        class_counts        [K] examples per label (class balance)
        pixels              {histogram [32] over 0-255, mean, std, skewness, kurtosis, min, max}
        image_features      {brightness|contrast|ink_fraction: {histogram [100] over [0, 1], mean, std, min, max}}
    }}
"""

import json

import numpy as np

from distml.components.common.files import sha256_file, write_text_atomic
from distml.components.common.image_features import (
    FEATURE_BINS,
    IMAGE_FEATURES,
    PIXEL_BINS,
    feature_histogram,
    image_features,
    pixel_histogram,
)

STATISTICS_FORMAT = "distml.statistics/v1"
STATISTICS_FILE = "statistics.json"
BATCH = 1024


class SplitStatistics:
    """Running statistics of one split; images are buffered and reduced a batch at a time."""

    def __init__(self, num_classes):
        self.num_examples = 0
        self.class_counts = np.zeros(num_classes, dtype=np.int64)
        self.pixel_hist = np.zeros(PIXEL_BINS, dtype=np.int64)
        self.pixel_sums = np.zeros(4, dtype=np.float64)  # sum of x, x^2, x^3, x^4 (x in 0-1)
        self.pixel_count = 0
        self.pixel_min, self.pixel_max = np.inf, -np.inf
        self.feature_hists = {f: np.zeros(FEATURE_BINS, dtype=np.int64) for f in IMAGE_FEATURES}
        self.feature_sums = {f: np.zeros(2, dtype=np.float64) for f in IMAGE_FEATURES}
        self.feature_min = {f: np.inf for f in IMAGE_FEATURES}
        self.feature_max = {f: -np.inf for f in IMAGE_FEATURES}
        self._images, self._labels = [], []

    def add(self, image, label):
        self._images.append(image)
        self._labels.append(label)
        if len(self._images) >= BATCH:
            self.flush()

    def add_batch(self, images, labels):
        self.flush()
        self._reduce(np.asarray(images), np.asarray(labels))

    def flush(self):
        if self._images:
            images, labels = np.stack(self._images), np.asarray(self._labels)
            self._images, self._labels = [], []
            self._reduce(images, labels)

    def _reduce(self, images, labels):
        if not len(images):
            return
        self.num_examples += len(images)
        self.class_counts += np.bincount(labels.astype(np.int64), minlength=len(self.class_counts))[
            : len(self.class_counts)
        ]
        self.pixel_hist += pixel_histogram(images)
        x = images.astype(np.float64).reshape(-1) / 255.0
        self.pixel_sums += [x.sum(), (x**2).sum(), (x**3).sum(), (x**4).sum()]
        self.pixel_count += x.size
        self.pixel_min, self.pixel_max = min(self.pixel_min, x.min()), max(self.pixel_max, x.max())
        for name, values in image_features(images).items():
            self.feature_hists[name] += feature_histogram(values)
            self.feature_sums[name] += [values.sum(), (values**2).sum()]
            self.feature_min[name] = min(self.feature_min[name], values.min())
            self.feature_max[name] = max(self.feature_max[name], values.max())

    def result(self):
        self.flush()
        if not self.num_examples:
            return {"num_examples": 0, "class_counts": self.class_counts.tolist()}
        return {
            "num_examples": self.num_examples,
            "class_counts": self.class_counts.tolist(),
            "pixels": {
                "histogram": self.pixel_hist.tolist(),
                "min": _r(self.pixel_min * 255),
                "max": _r(self.pixel_max * 255),
                **_moments(self.pixel_sums, self.pixel_count, scale=255.0),
            },
            "image_features": {
                name: {
                    "histogram": self.feature_hists[name].tolist(),
                    "mean": _r(self.feature_sums[name][0] / self.num_examples),
                    "std": _r(_std(self.feature_sums[name], self.num_examples)),
                    "min": _r(self.feature_min[name]),
                    "max": _r(self.feature_max[name]),
                }
                for name in IMAGE_FEATURES
            },
        }


class DatasetStatistics:
    """Statistics of every split of one artifact, as ingest writes it."""

    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.splits = {}

    def add(self, split, image, label):
        if split not in self.splits:
            self.splits[split] = SplitStatistics(self.num_classes)
        self.splits[split].add(image, label)

    def result(self, metadata):
        return {
            "format": STATISTICS_FORMAT,
            "fingerprint": metadata["fingerprint"],
            "image_shape": metadata["image_shape"],
            "num_classes": metadata["num_classes"],
            "class_names": metadata["class_names"],
            "features": dict(IMAGE_FEATURES),
            "splits": {split: stats.result() for split, stats in self.splits.items()},
        }

    def write(self, directory, metadata):
        """Write statistics.json into `directory`; return the entry metadata.json records for it."""
        path = directory / STATISTICS_FILE
        write_text_atomic(path, json.dumps(self.result(metadata), indent=1) + "\n")
        return {"file": STATISTICS_FILE, "format": STATISTICS_FORMAT, "sha256": sha256_file(path)}


def _std(sums, n):
    return max(sums[1] / n - (sums[0] / n) ** 2, 0.0) ** 0.5


def _moments(sums, n, scale):
    """Mean and std (in pixel units), skewness and excess kurtosis, from raw power sums."""
    m1, m2, m3, m4 = (s / n for s in sums)
    var = max(m2 - m1**2, 0.0)
    std = var**0.5
    if std == 0:
        skew = kurt = 0.0
    else:
        skew = (m3 - 3 * m1 * m2 + 2 * m1**3) / std**3
        kurt = (m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4) / var**2 - 3.0
    return {"mean": _r(m1 * scale), "std": _r(std * scale), "skewness": _r(skew), "kurtosis": _r(kurt)}


def _r(value):
    return round(float(value), 6)
