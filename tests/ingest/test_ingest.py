"""The ingest component: sharded artifact, fingerprint, atomic writes, sources."""

import json

import numpy as np
import pytest

from distml.components.common.errors import UsageError
from distml.components.ingest.core import ingest
from distml.components.ingest.reader import load_metadata


def test_digits_artifact_counts_add_up(digits_dataset):
    meta = load_metadata(digits_dataset)
    assert meta["image_shape"] == [28, 28, 1]
    assert meta["num_classes"] == 10 and meta["class_names"] == [str(d) for d in range(10)]
    assert {s: v["num_examples"] for s, v in meta["splits"].items()} == {"train": 1437, "test": 360}
    for split in meta["splits"].values():
        assert len(split["shards"]) == 8
        assert sum(s["num_examples"] for s in split["shards"]) == split["num_examples"]
        counts = [s["num_examples"] for s in split["shards"]]
        assert max(counts) - min(counts) <= 1  # round-robin keeps shards balanced
        for shard in split["shards"]:
            path = digits_dataset / shard["file"]
            assert path.stat().st_size == shard["num_bytes"]
            assert len(shard["sha256"]) == 64


def test_fingerprint_is_stable_and_tracks_every_parameter(tmp_path, digits_dataset):
    base = load_metadata(digits_dataset)["fingerprint"]
    again = ingest("digits", tmp_path / "again", num_shards=8)
    assert again["fingerprint"] == base
    variants = [
        {"num_shards": 4},
        {"num_shards": 8, "seed": 1, "validation_fraction": 0.1},
        {"num_shards": 8, "validation_fraction": 0.1},
        {"num_shards": 8, "image_size": (32, 32)},
    ]
    seen = {base}
    for i, params in enumerate(variants):
        key = ingest("digits", tmp_path / f"v{i}", **params)["fingerprint"]
        assert key not in seen, params
        seen.add(key)


def test_validation_split_is_taken_from_train(tmp_path):
    meta = ingest("digits", tmp_path / "ds", num_shards=2, validation_fraction=0.2)
    sizes = {s: v["num_examples"] for s, v in meta["splits"].items()}
    assert sizes["train"] + sizes["validation"] == 1437 and sizes["test"] == 360
    assert 0.15 < sizes["validation"] / 1437 < 0.25


def test_existing_artifact_is_reused_and_a_different_one_refused(tmp_path, digits_dataset):
    out = tmp_path / "ds"
    first = ingest("digits", out, num_shards=2)
    assert ingest("digits", out, num_shards=2)["created_at"] == first["created_at"]
    with pytest.raises(UsageError, match="different dataset"):
        ingest("digits", out, num_shards=3)


def test_failed_ingest_leaves_nothing_behind(tmp_path):
    from PIL import Image

    root = tmp_path / "images"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((10, 10), i * 20, np.uint8)).save(root / label / f"{i}.png")
    (root / "b" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    with pytest.raises(UsageError, match="broken.png"):
        ingest(f"folder:{root}", out, num_shards=1, test_fraction=0.3)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [root]  # no temporary directory left either


def test_folder_source_with_generated_pngs(tmp_path, caplog):
    import logging

    from PIL import Image

    caplog.set_level(logging.INFO, logger="distml")

    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for label in ("cat", "dog", "fish"):
        (root / label).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    meta = ingest(f"folder:{root}", tmp_path / "ds", num_shards=2, test_fraction=0.3)
    assert meta["class_names"] == ["cat", "dog", "fish"]
    assert meta["image_shape"] == [28, 28, 1]
    # Said, not done silently: the images are resized, and serving will do the same.
    resized = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resizing ")]
    assert len(resized) == 2 and resized[0].startswith("resizing train images (30x40, e.g. ")
    assert resized[0].endswith(
        " to 28x28, grayscale; the model records this and serving does the same to a client's image"
    )
    total = sum(v["num_examples"] for v in meta["splits"].values())
    assert total == 30 and meta["splits"]["test"]["num_examples"] > 0
    # Same files, different location: same content, same fingerprint.
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(root, copy)
    assert (
        ingest(f"folder:{copy}", tmp_path / "ds2", num_shards=2, test_fraction=0.3)["fingerprint"]
        == meta["fingerprint"]
    )


def test_too_many_shards_for_a_split_is_refused(tmp_path):
    with pytest.raises(UsageError, match="fewer than --num-shards"):
        ingest("digits", tmp_path / "ds", num_shards=400)


def test_metadata_is_json_with_source_identity(digits_dataset):
    meta = json.loads((digits_dataset / "metadata.json").read_text())
    assert meta["source"] == "digits"
    assert meta["source_identity"] == {"kind": "tfds", "name": "distml_digits", "version": "1.0.0"}
    assert meta["features"]["image"] == {"dtype": "uint8", "shape": [28, 28, 1], "encoding": "raw"}
