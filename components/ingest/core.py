"""The ingest component's core: a dataset source -> a sharded, versioned TFRecord artifact.

Artifact layout (a directory):
    metadata.json                          see `write_artifact`; its `fingerprint` is the memoization key
    train-00000-of-00008.tfrecord ...      one record per example: raw uint8 image bytes + int64 label
    test-00000-of-00008.tfrecord ...
    validation-...                          only with --validation-fraction
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from distml.components.common.errors import UsageError
from distml.components.common.files import atomic_directory, check_output_dir, check_writable, sha256_file
from distml.components.common.progress import progress
from distml.components.ingest.metadata import ARTIFACT_FORMAT, METADATA_FILE, checksums, fingerprint, load_metadata
from distml.components.ingest.sources import open_source
from distml.components.ingest.spec import DEFAULTS
from distml.components.ingest.statistics import DatasetStatistics

log = logging.getLogger("distml")

TARGET_SHARD_BYTES = 64 << 20
MIN_DEFAULT_SHARDS = 8


def default_num_shards(num_examples: int, image_shape: Sequence[int]) -> int:
    """Enough shards for 8 parallel readers, and no shard much above 64 MB."""
    total_bytes = num_examples * math.prod(image_shape)
    return max(MIN_DEFAULT_SHARDS, math.ceil(total_bytes / TARGET_SHARD_BYTES))


def ingest(
    dataset: str,
    output_dir: Path | str | None = None,
    *,
    store_root: Path | str | None = None,
    num_shards: int | None = DEFAULTS.num_shards,
    validation_fraction: float = DEFAULTS.validation_fraction,
    seed: int = DEFAULTS.seed,
    data_dir: Path | str | None = None,
    download: bool = DEFAULTS.download,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    test_fraction: float = DEFAULTS.test_fraction,
    allow_empty_classes: bool = DEFAULTS.allow_empty_classes,
) -> dict[str, object]:
    """Write `dataset` as sharded TFRecords to `output_dir`; return the artifact's metadata.

    If `output_dir` already holds an artifact with the same fingerprint it is reused.
    `output_dir` may be absent or an empty directory (a mount point, or one an orchestrator
    created: it is written into, never replaced). With `store_root` instead (a shared
    volume on a cluster), the artifact goes to `<store_root>/<fingerprint>`, so every run
    that asks for the same data shares one copy; the returned metadata's `location` says
    where it is. The parameters and their defaults are declared in spec.py; `num_shards` 0
    (or None): enough for 8 readers, no shard above 64 MB. A folder source with an empty class is refused unless `allow_empty_classes`.
    """
    if (output_dir is None) == (store_root is None):
        raise ValueError("give exactly one of output_dir and store_root")
    if num_shards is not None and num_shards < 0:
        raise UsageError(f"--num-shards must be 0 (automatic) or more, got {num_shards}")
    if not 0 <= validation_fraction < 1:
        raise UsageError(f"--validation-fraction must be in [0, 1), got {validation_fraction}")
    # Before any work: an output that cannot be written fails now, not after the dataset is read.
    if output_dir is not None and not (Path(output_dir) / METADATA_FILE).is_file():
        check_output_dir(output_dir, what="--output")
    elif store_root is not None:
        Path(store_root).mkdir(parents=True, exist_ok=True)
        check_writable(store_root, what=f"dataset store {store_root}")
    source = open_source(
        dataset,
        data_dir=data_dir,
        download=download,
        image_size=image_size,
        channels=channels,
        test_fraction=test_fraction,
        seed=seed,
        allow_empty_classes=allow_empty_classes,
    )
    if not num_shards:
        num_shards = default_num_shards(source.split_sizes["train"], source.image_shape)
    params = {
        "num_shards": num_shards,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "image_shape": list(source.image_shape),
    }
    key = fingerprint(source.identity, params, source.image_shape, source.class_names)
    output_dir = Path(output_dir) if output_dir is not None else Path(store_root) / key[:20]
    existing = _existing_metadata(output_dir)
    if existing is not None:
        if existing.get("fingerprint") == key:
            log.info("%s already holds this dataset (fingerprint %s); reusing it", output_dir, key[:12])
            return existing
        raise UsageError(f"{output_dir} already holds a different dataset artifact; choose another --output")

    split_sizes = _split_sizes(source.split_sizes, validation_fraction)
    for split, size in split_sizes.items():
        if size < num_shards:
            raise UsageError(f"split {split} has {size} examples, fewer than --num-shards {num_shards}")

    with atomic_directory(output_dir, last=METADATA_FILE) as tmp:
        splits = {}
        statistics = DatasetStatistics(len(source.class_names))
        for split in source.split_sizes:
            splits.update(_write_split(source, split, tmp, num_shards, validation_fraction, seed, statistics))
        metadata = {
            "format": ARTIFACT_FORMAT,
            "fingerprint": key,
            "location": str(output_dir.resolve()),
            "source": source.spec,
            "source_identity": source.identity,
            "name": source.identity.get("name", source.spec),
            "version": source.identity.get("version", "content:" + source.identity.get("content_sha256", "")[:12]),
            "params": params,
            "features": {
                "image": {"dtype": "uint8", "shape": list(source.image_shape), "encoding": "raw"},
                "label": {"dtype": "int64", "num_classes": len(source.class_names)},
            },
            "image_shape": list(source.image_shape),
            # How every image was made into the model's input (serving repeats it: no skew).
            "preprocessing": source.preprocessing,
            "num_classes": len(source.class_names),
            "class_names": source.class_names,
            "splits": splits,
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        metadata["statistics"] = statistics.write(tmp, metadata)
        metadata["checksums"] = checksums(metadata)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    counts = ", ".join(f"{s}={v['num_examples']}" for s, v in splits.items())
    log.info("ingested %s into %s: %s examples in %d shards per split", source.spec, output_dir, counts, num_shards)
    return metadata


def _existing_metadata(output_dir):
    if (output_dir / METADATA_FILE).is_file():
        return load_metadata(output_dir)  # verified: a damaged artifact is not reused
    check_output_dir(output_dir, what="--output")
    return None


def _split_sizes(source_sizes, validation_fraction):
    sizes = dict(source_sizes)
    if validation_fraction:
        sizes["validation"] = round(sizes["train"] * validation_fraction)
        sizes["train"] -= sizes["validation"]
    return sizes


def _is_validation(index, fraction, seed):
    h = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < fraction


def _write_split(source, split, out_dir, num_shards, validation_fraction, seed, statistics):
    """Round-robin the split's examples over shards (balanced, each a mix of classes)."""
    import tensorflow as tf

    targets = [split]
    if split == "train" and validation_fraction:
        targets.append("validation")
    names = {t: [f"{t}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)] for t in targets}
    writers = {t: [tf.io.TFRecordWriter(str(out_dir / n)) for n in names[t]] for t in targets}
    counts = {t: [0] * num_shards for t in targets}
    seen = {t: 0 for t in targets}
    try:
        examples = source.examples(split)
        for index, (image, label) in enumerate(progress(examples, source.split_sizes[split], f"ingest {split}")):
            target = "validation" if len(targets) > 1 and _is_validation(index, validation_fraction, seed) else split
            shard = seen[target] % num_shards
            writers[target][shard].write(_serialize(tf, image, label))
            counts[target][shard] += 1
            statistics.add(target, image, label)
            seen[target] += 1
    finally:
        for shard_writers in writers.values():
            for w in shard_writers:
                w.close()
    result = {}
    for t in targets:
        if min(counts[t]) == 0:
            raise UsageError(f"split {t} has {seen[t]} examples, too few for {num_shards} shards")
        shards = []
        for name, count in zip(names[t], counts[t]):
            path = out_dir / name
            shards.append(
                {"file": name, "num_examples": count, "num_bytes": os.path.getsize(path), "sha256": sha256_file(path)}
            )
        result[t] = {"num_examples": seen[t], "shards": shards}
    return result


def _serialize(tf, image, label):
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
