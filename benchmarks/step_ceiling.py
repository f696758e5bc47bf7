"""The ceiling of distml's training step on this machine: the trainer's own replica step
(components/train/step.py) on one batch held in memory, repeated, in one process, with no
input pipeline, no distribution strategy, no checkpoints. No trainer with this model, batch
and precision can run faster here; benchmarks/training.py runs it beside the trainers, so
its ratio to the baseline is the largest speed-up the step allows.

Run by benchmarks/training.py in a fresh process, like the trainers:

    python -m benchmarks.step_ceiling --dataset DIR --epochs 3 --steps-per-epoch 200 --batch-size 64 --result F
"""

import argparse
import json
import time
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="a distml ingest artifact (the batch is its first one)")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--steps-per-epoch", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from distml.components.ingest.reader import load_metadata, read_split
    from distml.components.train.models import build_model
    from distml.components.train.precision import resolve_precision
    from distml.components.train.step import make_replica_step

    metadata = load_metadata(args.dataset)
    keras.utils.set_random_seed(args.seed)
    precision, _ = resolve_precision(args.precision)
    model = build_model("cnn", metadata["image_shape"], metadata["num_classes"], precision)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    optimizer.build(model.trainable_variables)
    epoch_sums = tf.Variable([0.0, 0.0], trainable=False)
    images, labels = next(
        iter(
            read_split(
                args.dataset, "train", batch_size=args.batch_size, shuffle=False, drop_remainder=True, verify=False
            )
        )
    )
    step_fn = make_replica_step(model, optimizer, args.batch_size, epoch_sums)
    train_step = tf.function(lambda: step_fn(images, labels))

    epochs = []
    for _ in range(args.epochs):  # timed like the training loop: tracing falls in epoch 1
        epoch_sums.assign(tf.zeros([2]))
        started = time.monotonic()
        for _ in range(args.steps_per_epoch):
            train_step()
        epoch_sums.numpy()  # waits for the last step
        epochs.append({"steps": args.steps_per_epoch, "seconds": time.monotonic() - started})
    Path(args.result).write_text(
        json.dumps({"epochs": epochs, "global_batch_size": args.batch_size, "precision": precision})
    )


if __name__ == "__main__":
    main()
