"""Reading an ingest artifact: the API training and selection use.

Each worker reads a disjoint subset of the shard files (file-level sharding, chosen from
the `tf.distribute.InputContext`), never "read everything and drop".
"""

import os
from pathlib import Path

from distml.components.common.errors import DataIntegrityError, UsageError
from distml.components.common.files import sha256_file
from distml.components.ingest.metadata import METADATA_FILE, load_metadata

__all__ = [
    "METADATA_FILE",
    "load_metadata",
    "data_location",
    "shard_files",
    "verify_shards",
    "read_split",
    "num_examples",
]


def data_location(artifact_dir, metadata=None, *, follow_location=False):
    """Where the shards are: the artifact itself when it holds any of them (a missing one is
    then an error naming it, never a reason to look elsewhere); with `follow_location`, the
    shared-volume copy that a pointer artifact (metadata.json alone, as the KFP ingest step
    outputs on a cluster) names, once it is checked to be the same dataset."""
    artifact_dir = Path(artifact_dir)
    metadata = metadata or load_metadata(artifact_dir)
    shards = [s["file"] for split in metadata["splits"].values() for s in split["shards"]]
    if any((artifact_dir / name).exists() for name in shards):
        return artifact_dir
    location = Path(metadata.get("location") or artifact_dir)
    if location.resolve() == artifact_dir.resolve():
        raise DataIntegrityError(
            f"shard {artifact_dir / shards[0]} is missing (the dataset {artifact_dir} holds none of its shards)"
        )
    if not follow_location:
        raise UsageError(
            f"dataset {artifact_dir} holds metadata only (no shards such as {shards[0]}); its metadata names "
            f"{location} as their place: pass follow_location=True (KFP steps do) to read them from there"
        )
    if not (location / METADATA_FILE).is_file():
        raise UsageError(
            f"dataset {artifact_dir} points to {location}, which is not reachable from here (is the volume mounted?)"
        )
    if load_metadata(location)["fingerprint"] != metadata["fingerprint"]:
        raise DataIntegrityError(
            f"dataset {artifact_dir} points to {location}, which holds another dataset (fingerprints differ)"
        )
    return location


def shard_files(artifact_dir, split, input_context=None, metadata=None):
    """The shard entries this worker reads: shards[i::num_workers] for worker i."""
    metadata = metadata or load_metadata(artifact_dir)
    if split not in metadata["splits"]:
        raise UsageError(f"dataset {artifact_dir} has no split {split!r} (has {', '.join(metadata['splits'])})")
    shards = metadata["splits"][split]["shards"]
    if input_context is None:
        return shards
    workers, index = input_context.num_input_pipelines, input_context.input_pipeline_id
    if len(shards) < workers:
        raise UsageError(
            f"split {split} has {len(shards)} shards but {workers} workers read it; "
            f"re-run ingest with --num-shards {workers} or more"
        )
    return shards[index::workers]


def verify_shards(artifact_dir, shards):
    """Fail naming the file if a shard's size or sha256 differs from the metadata."""
    for shard in shards:
        path = Path(artifact_dir) / shard["file"]
        if not path.is_file():
            raise DataIntegrityError(f"shard {path} is missing")
        size = os.path.getsize(path)
        if size != shard["num_bytes"]:
            raise DataIntegrityError(
                f"shard {path} has {size} bytes, metadata says {shard['num_bytes']}: corrupted or truncated"
            )
        if sha256_file(path) != shard["sha256"]:
            raise DataIntegrityError(f"shard {path} does not match its sha256 in metadata: corrupted")


def read_split(
    artifact_dir,
    split,
    input_context=None,
    *,
    batch_size=None,
    shuffle=True,
    seed=0,
    repeat=False,
    drop_remainder=False,
    verify=True,
    shuffle_buffer=10_000,
    follow_location=False,
):
    """A tf.data pipeline of (image uint8 [H,W,C], label int64), batched if `batch_size`.

    Parallel interleave over this worker's shards, shuffle with `seed`, batched parsing
    and decoding in parallel, prefetch. The order is reproducible for a seed (parallel
    stages keep their order); with `shuffle=False` it is the artifact's.
    """
    import tensorflow as tf

    metadata = load_metadata(artifact_dir)
    shards = shard_files(artifact_dir, split, input_context, metadata)
    location = data_location(artifact_dir, metadata, follow_location=follow_location)
    if verify:
        verify_shards(location, shards)
    shape = metadata["image_shape"]
    files = [str(location / s["file"]) for s in shards]

    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(records):
        parsed = tf.io.parse_example(records, spec)
        images = tf.io.decode_raw(parsed["image"], tf.uint8)
        return tf.reshape(images, [-1, *shape]), parsed["label"]

    # Parse whole batches: one parse_example call per batch is far cheaper than per record.
    ds = ds.batch(batch_size or 256, drop_remainder=drop_remainder if batch_size else False)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if not batch_size:
        ds = ds.unbatch()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)


def num_examples(artifact_dir, split, input_context=None):
    """How many examples this worker's shards hold."""
    return sum(s["num_examples"] for s in shard_files(artifact_dir, split, input_context))
