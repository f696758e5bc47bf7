"""The naive baseline: one worker of a multi-worker `model.fit`, written the common way.

Runs in the baseline's own virtualenv (.venv-bench: tensorflow + tf-keras, see
requirements/bench.lock), configured by TF_CONFIG like a TFJob pod; does not import distml.

- tf-keras `model.fit` (TF_USE_LEGACY_KERAS=1) under MultiWorkerMirroredStrategy;
- the input pipeline of the tutorials: every train shard in one TFRecordDataset, a
  per-record `map(parse)`, `cache()`, `shuffle(10000)`, `repeat()`, `batch(global batch)`,
  no prefetch, and the DATA auto-shard policy (each worker reads everything, keeps 1/N);
- the same model as distml's `cnn` (components/train/models.py), Adam(1e-3), the same
  per-replica batch and steps.

The chief writes {"epochs": [{"steps", "seconds"}], ...} to --result as JSON.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_cnn(keras, shape, num_classes):
    """distml's `cnn`: Rescaling, Conv32-Pool-Conv64-Pool-Conv64, Flatten, Dense64, Dense(K)."""
    inputs = keras.Input(shape=tuple(shape), dtype="float32", name="images")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    for filters, pool in ((32, True), (64, True), (64, False)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        if pool:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True, help="a distml ingest artifact (metadata.json + TFRecord shards)")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--steps-per-epoch", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True, help="per replica")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--result", required=True)
    args = parser.parse_args()

    import tensorflow as tf
    import tf_keras

    keras = tf.keras  # tf-keras, with TF_USE_LEGACY_KERAS=1
    assert keras.Model is tf_keras.Model, "tf.keras is not tf-keras: set TF_USE_LEGACY_KERAS=1"
    started = time.perf_counter()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    workers = strategy.num_replicas_in_sync
    global_batch = args.batch_size * workers

    with open(os.path.join(args.dataset, "metadata.json")) as f:
        metadata = json.load(f)
    files = [os.path.join(args.dataset, s["file"]) for s in metadata["splits"]["train"]["shards"]]
    shape = metadata["image_shape"]
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        image = tf.reshape(tf.io.decode_raw(example["image"], tf.uint8), shape)
        return tf.cast(image, tf.float32), example["label"]

    dataset = (
        tf.data.TFRecordDataset(files).map(parse).cache().shuffle(10_000, seed=args.seed).repeat().batch(global_batch)
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)

    keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        model = build_cnn(keras, shape, metadata["num_classes"])
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )

    epochs = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epochs.append(
                {
                    "epoch": epoch + 1,
                    "steps": args.steps_per_epoch,
                    "seconds": time.perf_counter() - self.t0,
                    "loss": float(logs.get("loss", float("nan"))),
                    "accuracy": float(logs.get("accuracy", float("nan"))),
                }
            )

    setup_s = time.perf_counter() - started
    model.fit(dataset, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, callbacks=[Timer()], verbose=0)
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    if task.get("index", 0) == 0:
        with open(args.result, "w") as f:
            json.dump(
                {
                    "epochs": epochs,
                    "num_workers": workers,
                    "global_batch_size": global_batch,
                    "setup_s": setup_s,
                    "tensorflow": tf.__version__,
                    "keras": tf_keras.__version__,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
