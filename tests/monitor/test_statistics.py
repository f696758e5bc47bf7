"""Ingest writes per-split statistics beside metadata.json, recorded there with their hash."""

import json

import numpy as np

from distml.components.common.files import sha256_file
from distml.components.common.image_features import image_features
from distml.components.ingest.reader import load_metadata, read_split


def test_ingest_records_statistics_of_every_split(digits_dataset):
    metadata = load_metadata(digits_dataset)
    path = digits_dataset / "statistics.json"
    assert metadata["statistics"] == {
        "file": "statistics.json",
        "format": "distml.statistics/v1",
        "sha256": sha256_file(path),
    }
    stats = json.loads(path.read_text())
    assert stats["fingerprint"] == metadata["fingerprint"]
    assert set(stats["splits"]) == set(metadata["splits"])
    for split, s in stats["splits"].items():
        n = metadata["splits"][split]["num_examples"]
        assert s["num_examples"] == n and sum(s["class_counts"]) == n
        assert sum(s["pixels"]["histogram"]) == n * 28 * 28
        for feature in s["image_features"].values():
            assert sum(feature["histogram"]) == n


def test_statistics_match_the_written_examples(digits_dataset):
    stats = json.loads((digits_dataset / "statistics.json").read_text())["splits"]["test"]
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in read_split(digits_dataset, "test", shuffle=False)))
    images, labels = np.stack(images), np.array(labels)
    assert stats["class_counts"] == np.bincount(labels, minlength=10).tolist()
    features = image_features(images)
    for name, values in features.items():
        assert abs(stats["image_features"][name]["mean"] - values.mean()) < 1e-5
        assert abs(stats["image_features"][name]["std"] - values.std()) < 1e-5
    pixels = images.astype(np.float64).reshape(-1)
    assert abs(stats["pixels"]["mean"] - pixels.mean()) < 1e-3
    assert abs(stats["pixels"]["std"] - pixels.std()) < 1e-3
    centred = (pixels - pixels.mean()) / pixels.std()
    assert abs(stats["pixels"]["skewness"] - (centred**3).mean()) < 1e-4
    assert abs(stats["pixels"]["kurtosis"] - ((centred**4).mean() - 3)) < 1e-4
