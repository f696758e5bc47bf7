"""Reading an ingest artifact: the API training and selection use.

Each worker reads a disjoint subset of the shard files (file-level sharding, chosen from
the `tf.distribute.InputContext`), never "read everything and drop".
"""

import json
import os
from pathlib import Path

from distml.components.common.errors import DataIntegrityError, UsageError
from distml.components.common.files import sha256_file

METADATA_FILE = "metadata.json"


def load_metadata(artifact_dir):
    path = Path(artifact_dir) / METADATA_FILE
    if not path.is_file():
        raise UsageError(f"{artifact_dir} is not a dataset artifact (no {METADATA_FILE}); run `distml ingest` first")
    return json.loads(path.read_text())


def data_location(artifact_dir, metadata=None):
    """Where the shards are: the artifact itself, or the shared-volume copy a pointer
    artifact (metadata.json alone, as the KFP ingest step outputs on a cluster) names."""
    metadata = metadata or load_metadata(artifact_dir)
    first_shard = metadata["splits"]["train"]["shards"][0]["file"]
    if (Path(artifact_dir) / first_shard).exists():
        return Path(artifact_dir)
    location = Path(metadata.get("location", artifact_dir))
    if not (location / METADATA_FILE).is_file():
        raise UsageError(f"dataset {artifact_dir} points to {location}, which is not reachable from here (is the volume mounted?)")
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
            raise DataIntegrityError(f"shard {path} has {size} bytes, metadata says {shard['num_bytes']}: corrupted or truncated")
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
):
    """A tf.data pipeline of (image uint8 [H,W,C], label int64), batched if `batch_size`.

    Parallel interleave over this worker's shards, shuffle with `seed`, batched parsing
    and decoding in parallel, prefetch. The order is reproducible for a seed (parallel
    stages keep their order); with `shuffle=False` it is the artifact's.
    """
    import tensorflow as tf

    metadata = load_metadata(artifact_dir)
    shards = shard_files(artifact_dir, split, input_context, metadata)
    location = data_location(artifact_dir, metadata)
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
