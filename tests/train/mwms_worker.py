"""One MultiWorkerMirroredStrategy worker for tests/train/test_distributed.py, run as
`python -m tests.train.mwms_worker MODE OUT ARGS_JSON` with TF_CONFIG set (or unset: one worker).

- `read`: read one epoch of this worker's training batches through `loop.worker_input`, on the
  CPU path and on the GPU path (`distribute_datasets_from_function`), and write the example
  ids it saw (each example's pixels hold its index) and the input contexts.
- `step`: build the CNN under the strategy, run one `make_replica_step` on this worker's slice
  of a fixed global batch, and write the updated weights and the all-reduced loss sum.
"""

import json
import sys

import numpy as np


def example_ids(images):
    pixels = images.numpy().reshape(images.shape[0], -1).astype(np.int64)
    assert (pixels == pixels[:, :1]).all(), "an example image is not constant"
    return pixels[:, 0].tolist()


def read(strategy, task, args):
    import tensorflow as tf

    from distml.components.train.loop import worker_input

    global_batch = args["per_replica_batch"] * strategy.num_replicas_in_sync
    result = {"rank": task.rank, "num_workers": task.num_workers}
    for path in ("cpu", "gpu"):
        contexts = []
        if path == "gpu":  # record the InputContext the strategy hands the dataset function
            import distml.components.train.loop as loop

            original = loop.read_split

            def recording(dataset_dir, split, input_context, **kwargs):
                contexts.append(input_context and [input_context.num_input_pipelines, input_context.input_pipeline_id])
                return original(dataset_dir, split, input_context, **kwargs)

            loop.read_split = recording
        data = worker_input(strategy, task, args["dataset"], global_batch, seed=args["seed"], on_gpu=path == "gpu")
        iterator = iter(data)
        ids = []
        for _ in range(args["steps"]):
            images, _labels = next(iterator)
            for local in strategy.experimental_local_results(images):
                ids.extend(example_ids(tf.convert_to_tensor(local)))
        result[path] = {"ids": ids, "contexts": contexts}
    return result


def step(strategy, task, args):
    import keras
    import tensorflow as tf

    from distml.components.train.models import build_model
    from distml.components.train.step import make_replica_step

    rng = np.random.default_rng(args["seed"])
    global_batch = args["global_batch"]
    images = rng.integers(0, 256, size=(global_batch, 8, 8, 1)).astype(np.uint8)
    labels = rng.integers(0, 4, size=(global_batch,)).astype(np.int64)
    share = global_batch // task.num_workers
    mine = slice(task.rank * share, (task.rank + 1) * share)

    keras.utils.set_random_seed(args["seed"])
    with strategy.scope():
        model = build_model("cnn", [8, 8, 1], 4)
        # SGD, not the loop's Adam: Adam's update is invariant to the gradient's scale, so only a
        # plain gradient step shows whether the loss was averaged over the global batch.
        optimizer = keras.optimizers.SGD(learning_rate=0.5)
        optimizer.build(model.trainable_variables)
        epoch_sums = tf.Variable(
            [0.0, 0.0],
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.SUM,
        )
    initial = [w.copy() for w in model.get_weights()]
    step_fn = make_replica_step(model, optimizer, global_batch, epoch_sums)

    @tf.function
    def train_step(x, y):
        strategy.run(step_fn, args=(x, y))

    train_step(tf.constant(images[mine]), tf.constant(labels[mine]))
    loss_sum, correct = tf.function(epoch_sums.read_value)().numpy()
    return {
        "rank": task.rank,
        "loss_sum": float(loss_sum),
        "correct": float(correct),
        "updates": [(w - w0).tolist() for w, w0 in zip(model.get_weights(), initial)],
    }


def main():
    mode, out, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    from distml.components.common import tf_config
    from distml.components.train.loop import make_strategy

    task = tf_config.from_environment()
    strategy = make_strategy(distributed=task.num_workers > 1)
    result = {"read": read, "step": step}[mode](strategy, task, args)
    with open(out, "w") as f:
        json.dump(result, f)
    if task.num_workers > 1:  # leave together, as the training loop does
        from tensorflow.python.eager import context

        context.context().wait_at_barrier("mwms-worker-end", 60_000)


if __name__ == "__main__":
    main()
