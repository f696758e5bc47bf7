"""The reader API: file-level sharding per worker, verification, errors."""

import collections

import pytest
import tensorflow as tf

from distml.components.common.errors import DataIntegrityError, UsageError
from distml.components.ingest.reader import read_split, shard_files


def _context(index, workers):
    return tf.distribute.InputContext(num_input_pipelines=workers, input_pipeline_id=index)


def _examples(ds):
    return collections.Counter((img.tobytes(), int(label)) for img, label in ds.as_numpy_iterator())


def test_two_workers_read_disjoint_shards_whose_union_is_the_split(digits_dataset):
    files = [{s["file"] for s in shard_files(digits_dataset, "train", _context(i, 2))} for i in range(2)]
    assert files[0].isdisjoint(files[1]) and len(files[0]) == len(files[1]) == 4
    worker_examples = [_examples(read_split(digits_dataset, "train", _context(i, 2), shuffle=False)) for i in range(2)]
    whole = _examples(read_split(digits_dataset, "train", shuffle=False))
    assert sum(whole.values()) == 1437
    assert worker_examples[0] + worker_examples[1] == whole
    assert sum(worker_examples[0].values()) + sum(worker_examples[1].values()) == 1437


def test_batches_have_the_declared_shape_and_dtype(digits_dataset):
    images, labels = next(iter(read_split(digits_dataset, "test", batch_size=32, seed=3)))
    assert images.shape == (32, 28, 28, 1) and images.dtype == tf.uint8
    assert labels.shape == (32,) and labels.dtype == tf.int64


def test_shuffle_is_seeded(digits_dataset):
    def first_labels(seed):
        return next(iter(read_split(digits_dataset, "train", batch_size=64, seed=seed)))[1].numpy().tolist()

    assert first_labels(7) == first_labels(7)
    assert first_labels(7) != first_labels(8)


def test_more_workers_than_shards_is_a_clear_error(digits_dataset):
    with pytest.raises(UsageError, match="8 shards but 9 workers.*--num-shards 9"):
        read_split(digits_dataset, "train", _context(0, 9))


def test_corrupted_shard_is_named(tmp_path, digits_dataset):
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(digits_dataset, copy)
    victim = copy / "train-00003-of-00008.tfrecord"
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError, match="train-00003-of-00008.tfrecord.*sha256"):
        read_split(copy, "train")
    victim.write_bytes(bytes(data[:-10]))
    with pytest.raises(DataIntegrityError, match="train-00003-of-00008.tfrecord.*truncated"):
        read_split(copy, "train")
    # A worker whose shards are intact still reads.
    assert read_split(copy, "train", _context(0, 2)) is not None


def test_unknown_split_and_missing_artifact(tmp_path, digits_dataset):
    with pytest.raises(UsageError, match="no split 'validation'"):
        read_split(digits_dataset, "validation")
    with pytest.raises(UsageError, match="not a dataset artifact"):
        read_split(tmp_path, "train")
