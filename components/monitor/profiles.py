"""Profiles: one summary shape for every population the monitor compares.

    {"source": str, "num_images": int,
     "inputs": {feature: fine histogram [100] over [0, 1]}, "pixel_histogram": [32],
     "labels": class counts [K] or None (served traffic has no labels),
     "predictions": None or {"num": int, "class_counts": [K], "confidence": histogram [100],
                             "accuracy": float or None}}

The reference comes from the training data's statistics (statistics.json, written by
ingest) and from the model's predictions on the held-out split; the current one from the
request log, or from a new dataset artifact.
"""

import json
import logging
import math
from pathlib import Path

import numpy as np

from distml.components.common.errors import UsageError
from distml.components.common.image_features import IMAGE_FEATURES, feature_histogram
from distml.components.common.model_artifact import SIGNATURE, predict, read_model_info, signature_problem
from distml.components.common.progress import progress
from distml.components.ingest.reader import load_metadata, read_split
from distml.components.ingest.statistics import STATISTICS_FILE, STATISTICS_FORMAT, SplitStatistics

log = logging.getLogger("distml")

BATCH_SIZE = 256


def load_statistics(dataset_dir, metadata):
    """statistics.json of a dataset artifact; computed now (one read) for artifacts ingested
    before ingest wrote it."""
    path = Path(dataset_dir) / STATISTICS_FILE
    if path.is_file():
        stats = json.loads(path.read_text())
        if stats.get("format") == STATISTICS_FORMAT and stats.get("fingerprint") == metadata["fingerprint"]:
            return stats
    log.info("%s has no statistics of this format; computing them from the data", dataset_dir)
    splits = {}
    for split in metadata["splits"]:
        acc = SplitStatistics(metadata["num_classes"])
        for images, labels in read_split(dataset_dir, split, batch_size=BATCH_SIZE, shuffle=False):
            acc.add_batch(images.numpy(), labels.numpy())
        splits[split] = acc.result()
    return {"format": STATISTICS_FORMAT, "fingerprint": metadata["fingerprint"], "splits": splits}


def statistics_profile(split_stats, source):
    return {
        "source": source,
        "num_images": split_stats["num_examples"],
        "inputs": {name: split_stats["image_features"][name]["histogram"] for name in IMAGE_FEATURES},
        "pixel_histogram": split_stats["pixels"]["histogram"],
        "labels": split_stats["class_counts"],
        "predictions": None,
    }


def traffic_profile(traffic, num_classes, source):
    predictions = None
    if traffic.num_predictions:
        predictions = {
            "num": traffic.num_predictions,
            "class_counts": np.bincount(traffic.class_ids, minlength=num_classes)[:num_classes].tolist(),
            "confidence": feature_histogram(traffic.confidence).tolist(),
            "accuracy": None,
        }
    return {
        "source": source,
        "num_images": traffic.num_images,
        "inputs": {name: feature_histogram(traffic.features[name]).tolist() for name in IMAGE_FEATURES},
        "pixel_histogram": traffic.pixel_histogram.tolist(),
        "labels": None,
        "predictions": predictions,
    }


class Model:
    """A SavedModel's `serving_default` signature (the model artifact contract)."""

    def __init__(self, saved_model_dir, metadata):
        import tensorflow as tf

        self.path = Path(saved_model_dir)
        try:
            self._loaded = tf.saved_model.load(str(self.path))
            self._fn = self._loaded.signatures[SIGNATURE]
        except (OSError, ValueError, KeyError, tf.errors.OpError) as e:
            raise UsageError(
                f"model {self.path} cannot be loaded as a SavedModel with a {SIGNATURE} signature: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
            ) from None
        # A model measured against another dataset's statistics and classes would report drift
        # (or none) about data it never saw: the reference must be the data it was trained on.
        problem = signature_problem(self._fn, metadata["image_shape"], metadata["num_classes"])
        info = read_model_info(self.path)
        class_names = info.get("class_names")
        if not problem and class_names is not None and list(class_names) != list(metadata["class_names"]):
            problem = f"its classes are {_names(class_names)}, the dataset's {_names(metadata['class_names'])}"
        if problem:
            raise UsageError(
                f"model {self.path} does not fit the reference dataset: {problem}; "
                "--reference-dataset must be the dataset it was trained on (--datasets-root finds it)"
            )
        fingerprint = info.get("dataset_fingerprint")
        if fingerprint and fingerprint != metadata["fingerprint"]:
            log.warning(
                "model %s was trained on dataset %s, the reference is %s: the drift is measured against other data",
                self.path,
                str(fingerprint)[:12],
                metadata["fingerprint"][:12],
            )

    def predict(self, images):
        return predict(self._fn, images)


def _names(names, shown=4):
    return ", ".join(names[:shown]) + (f", ... ({len(names)})" if len(names) > shown else "")


def dataset_predictions(model, dataset_dir, metadata, splits):
    """The model's predictions over `splits` of a dataset artifact, with its accuracy there."""
    num_classes = metadata["num_classes"]
    class_ids, confidence, correct = [], [], 0
    total = sum(math.ceil(metadata["splits"][s]["num_examples"] / BATCH_SIZE) for s in splits)
    batches = (batch for s in splits for batch in read_split(dataset_dir, s, batch_size=BATCH_SIZE, shuffle=False))
    for images, labels in progress(batches, total, desc=f"predict {'+'.join(splits)} (batches)"):
        probabilities, ids = model.predict(images)
        class_ids.append(ids)
        confidence.append(probabilities.max(axis=1))
        correct += int((ids == labels.numpy()).sum())
    class_ids, confidence = np.concatenate(class_ids), np.concatenate(confidence)
    return {
        "num": int(len(class_ids)),
        "class_counts": np.bincount(class_ids, minlength=num_classes)[:num_classes].tolist(),
        "confidence": feature_histogram(confidence).tolist(),
        "accuracy": correct / len(class_ids),
    }


def dataset_profile(dataset_dir, splits=None, model=None, model_metadata=None):
    """A dataset artifact as the current population (a new batch of data): its statistics,
    and the model's predictions on it when a model is given."""
    metadata = load_metadata(dataset_dir)
    if model_metadata is not None and list(metadata["image_shape"]) != list(model_metadata["image_shape"]):
        raise UsageError(
            f"dataset {dataset_dir} has images {metadata['image_shape']}, the reference has {model_metadata['image_shape']}"
        )
    splits = splits or list(metadata["splits"])
    unknown = [s for s in splits if s not in metadata["splits"]]
    if unknown:
        raise UsageError(f"dataset {dataset_dir} has no split {unknown[0]!r} (has {', '.join(metadata['splits'])})")
    stats = load_statistics(dataset_dir, metadata)
    profile = merge_profiles(
        [statistics_profile(stats["splits"][s], s) for s in splits], f"{dataset_dir} ({'+'.join(splits)})"
    )
    if model is not None:
        profile["predictions"] = dataset_predictions(model, dataset_dir, metadata, splits)
    return profile


def merge_profiles(profiles, source):
    first = profiles[0]
    return {
        "source": source,
        "num_images": sum(p["num_images"] for p in profiles),
        "inputs": {name: np.sum([p["inputs"][name] for p in profiles], axis=0).tolist() for name in first["inputs"]},
        "pixel_histogram": np.sum([p["pixel_histogram"] for p in profiles], axis=0).tolist(),
        "labels": np.sum([p["labels"] for p in profiles], axis=0).tolist() if first["labels"] is not None else None,
        "predictions": None,
    }
