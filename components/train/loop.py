"""One worker's training (TensorFlow is imported here): MultiWorkerMirroredStrategy, a custom
training loop, checkpoints, and the final model written by the chief.

Keras 3 `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so
the loop is written out: `distribute_datasets_from_function` with file-level sharding by
the ingest reader, `strategy.run`, and `tf.nn.compute_average_loss` over the global batch.
"""

import contextlib
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from distml.components.common import preprocessing
from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.files import (
    TMP_MARK,
    atomic_directory,
    owned_temporary,
    remove_stale_temporaries,
    temporary_name,
    write_text_atomic,
)
from distml.components.common.model_artifact import TRAINING_METRICS_FILE
from distml.components.ingest.reader import load_metadata, read_split
from distml.components.train.checkpoints import prepare_resume
from distml.components.train.config import READY_MARKER, completed_metrics  # noqa: F401 (also imported from here)
from distml.components.train.export import evaluate_saved_model, export_model
from distml.components.train.models import build_model
from distml.components.train.precision import resolve_precision
from distml.components.train.step import make_replica_step

log = logging.getLogger("distml")

METRICS_FILE = TRAINING_METRICS_FILE
PROGRESS_INTERVAL_S = 10.0
EXIT_BARRIER_TIMEOUT_MS = 600_000  # the chief exports and evaluates meanwhile
LEAVE_TIMEOUT_MS = 60_000  # from the end barrier to a worker's last word to the chief
RESTORE_BARRIER_TIMEOUT_MS = 600_000  # the chief reads every checkpoint back meanwhile
SCRATCH_PREFIX = "distml-"
# A finished worker's TensorFlow objects, kept until the process exits (the worker CLI exits
# right after training): destroying them when `_train` returns can block for seconds behind
# PreemptionCheckpointHandler's watcher thread, which waits on the coordination service
# until a peer's exit (or heartbeat timeout) releases it.
_KEPT_UNTIL_EXIT = []


def make_strategy(distributed):
    """MWMS (NCCL between GPUs, ring on CPU) for a worker group; the default strategy in-process."""
    import tensorflow as tf

    if not distributed:
        return tf.distribute.get_strategy()
    collective = tf.distribute.experimental.CommunicationImplementation
    implementation = collective.NCCL if tf.config.list_physical_devices("GPU") else collective.RING
    options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def learning_rate(config, total_steps):
    import keras

    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total_steps)
    if config.lr_schedule == "exponential":  # down to a tenth of the rate by the last step
        return keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, decay_steps=total_steps, decay_rate=0.1
        )
    return config.learning_rate


def write_scalars(writer, step, values):
    """TensorBoard scalars without the tensorboard package (tf.summary.scalar needs it)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    with writer.as_default(step=step):
        for name, value in values.items():
            tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata.SerializeToString())
    writer.flush()


def worker_input(strategy, task, dataset_dir, global_batch, *, seed, verify=True, on_gpu=None):
    """This worker's training batches: its own shards of the train split, repeated and shuffled.

    On CPU a worker is one replica and iterates its own pipeline (a distributed dataset would
    pass every batch through a MultiDeviceIterator, which pays only when it prefetches onto
    GPUs); on GPU `distribute_datasets_from_function` splits it over the local replicas. Either
    way worker `task.rank` of `task.num_workers` reads shards[rank::num_workers].
    """
    import tensorflow as tf

    def dataset_fn(input_context):
        return read_split(
            dataset_dir,
            "train",
            input_context,
            batch_size=input_context.get_per_replica_batch_size(global_batch),
            # A resumed run continues with a different order instead of replaying the first batches.
            shuffle=True,
            seed=seed,
            repeat=True,
            drop_remainder=True,
            verify=verify,
        )

    if on_gpu is None:
        on_gpu = bool(tf.config.list_physical_devices("GPU"))
    if on_gpu:
        return strategy.distribute_datasets_from_function(dataset_fn)
    return dataset_fn(tf.distribute.InputContext(task.num_workers, task.rank, task.num_workers))


class History:
    """Per-epoch metrics that survive restarts: saved beside each checkpoint, keyed by step."""

    def __init__(self, directory, enabled):
        self.directory = Path(directory)
        self.enabled = enabled  # only the chief writes
        self.epochs = []
        self.started_at = time.time()

    def _path(self, step):
        return self.directory / f"history-{step}.json"

    def restore(self, step, steps_per_epoch):
        """The epochs completed by `step`, from the newest history saved at or before it.

        (A checkpoint that PreemptionCheckpointHandler saved has no history file of its own.)
        """
        saved = [p for p in self.directory.glob("history-*.json") if self._step(p) <= step]
        if step and saved:
            history = json.loads(max(saved, key=self._step).read_text())
            self.epochs = [e for e in history["epochs"] if e["epoch"] * steps_per_epoch <= step]
            self.started_at = history["started_at"]

    @staticmethod
    def _step(path):
        return int(path.stem.split("-")[1])

    def save(self, step):
        if not self.enabled:
            return
        write_text_atomic(self._path(step), json.dumps({"epochs": self.epochs, "started_at": self.started_at}))
        saved = sorted(self.directory.glob("history-*.json"), key=self._step)
        for old in saved[:-3]:  # more than the checkpoints kept
            old.unlink(missing_ok=True)


def train_worker(config, task, distributed, attempt=0):
    """Train `config` as `task` of the group; the chief returns the metrics it wrote, others None."""
    done = completed_metrics(config)
    if done is not None:
        log.info("run %s already finished; its model is in %s", config.run_id, config.model_dir)
        return done if task.is_chief else None
    if task.is_chief:
        return _train(config, task, distributed, attempt, None)
    # Non-chief workers write their (identical) checkpoints and model copy to a local scratch
    # folder, removed on every exit this process sees; a SIGKILLed worker's is removed by
    # the next worker to start on this machine (its owner lock is free).
    scratch_root = Path(tempfile.gettempdir())
    remove_stale_temporaries(scratch_root, match=is_scratch_name)
    with owned_temporary(scratch_root / temporary_name(f"{SCRATCH_PREFIX}{config.run_id}-{task.name}")) as scratch_dir:
        return _train(config, task, distributed, attempt, scratch_dir)


def is_scratch_name(name):
    return name.startswith(f".{SCRATCH_PREFIX}") and TMP_MARK in name


def _train(config, task, distributed, attempt, scratch_dir):
    import keras
    import tensorflow as tf

    metadata = load_metadata(config.dataset_dir)
    train_examples = metadata["splits"]["train"]["num_examples"]
    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(distributed)
    precision, why = resolve_precision(config.precision)
    log.info(
        "%s %s: cluster of %d workers, %d replicas, %s (%s)",
        READY_MARKER,
        task.name,
        task.num_workers,
        strategy.num_replicas_in_sync,
        precision,
        why,
    )

    global_batch = config.batch_size * strategy.num_replicas_in_sync
    if global_batch > train_examples:
        raise UsageError(
            f"global batch {global_batch} (--batch-size {config.batch_size} x {strategy.num_replicas_in_sync} "
            f"replicas) is larger than the train split ({train_examples} examples)"
        )
    steps_per_epoch = config.steps_per_epoch or train_examples // global_batch
    total_steps = config.epochs * steps_per_epoch
    # <run dir>/checkpoints (the chief's; every worker restores from it), history-<step>.json,
    # tensorboard/, and workertemp_<i>/ where PreemptionCheckpointHandler puts non-chief saves.
    run_dir = config.run_checkpoint_dir
    checkpoint_dir = run_dir / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)

    with strategy.scope():
        model = build_model(config.model_type, metadata["image_shape"], metadata["num_classes"], precision)
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate(config, total_steps))
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)

    # The chief sets damaged checkpoints aside so that every worker restores the newest
    # intact one; the others wait for it.
    restorable = prepare_resume(checkpoint_dir) if task.is_chief else None
    preemption = None
    if distributed:
        from tensorflow.python.eager import context

        context.context().wait_at_barrier(f"distml-restore-{config.run_id}", RESTORE_BARRIER_TIMEOUT_MS)
        # Restores the chief's latest checkpoint on every worker, and on SIGTERM (pod
        # eviction) saves one at a step all workers agree on, then exits for a restart.
        preemption = tf.distribute.experimental.PreemptionCheckpointHandler(
            strategy.cluster_resolver, checkpoint, str(checkpoint_dir)
        )
    elif restorable is not None:
        checkpoint.restore(str(restorable))
    manager = tf.train.CheckpointManager(
        checkpoint, str(checkpoint_dir if task.is_chief else scratch_dir), max_to_keep=2
    )
    start_step = int(step.numpy())
    history = History(run_dir, enabled=task.is_chief)
    history.restore(start_step, steps_per_epoch)
    if start_step:
        log.info("restored checkpoint at step %d of %d (attempt %d)", start_step, total_steps, attempt)

    iterator = iter(
        worker_input(
            strategy, task, config.dataset_dir, global_batch, seed=config.seed + start_step, verify=start_step == 0
        )
    )

    with strategy.scope():
        # Loss and correct predictions summed on each replica, all-reduced only when read at
        # the end of an epoch: a cross-worker reduction per step would cost a collective each.
        epoch_sums = tf.Variable(
            [0.0, 0.0],
            trainable=False,
            name="epoch_sums",
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.SUM,
        )

    step_fn = make_replica_step(model, optimizer, global_batch, epoch_sums)

    @tf.function
    def train_step(iterator):
        strategy.run(step_fn, args=next(iterator))
        step.assign_add(1)

    @tf.function
    def read_epoch_sums():
        return epoch_sums.read_value()

    def run_step():
        return preemption.run(train_step, iterator) if preemption else train_step(iterator)

    def save(at_step):
        manager.save()
        history.save(at_step)
        if task.is_chief:
            log.info("checkpoint saved at step %d", at_step)

    summary = tf.summary.create_file_writer(str(run_dir / "tensorboard")) if task.is_chief else None
    eval_split = _eval_split(metadata)
    current = start_step
    while current < total_steps:
        epoch = current // steps_per_epoch
        epoch_end = (epoch + 1) * steps_per_epoch
        epoch_sums.assign(tf.zeros([2]))
        epoch_steps = 0
        started = last_report = time.monotonic()
        while current < epoch_end:
            run_step()
            current += 1
            epoch_steps += 1
            if config.checkpoint_every and current % config.checkpoint_every == 0 and current < epoch_end:
                save(current)
            if task.is_chief and time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
                last_report = time.monotonic()
                log.info(
                    "epoch %d/%d: step %d/%d",
                    epoch + 1,
                    config.epochs,
                    current - epoch * steps_per_epoch,
                    steps_per_epoch,
                )
        loss_total, correct_total = read_epoch_sums().numpy()
        seconds = time.monotonic() - started
        examples = epoch_steps * global_batch
        record = {
            "epoch": epoch + 1,
            "steps": epoch_steps,
            "loss": float(loss_total) / examples,
            "accuracy": float(correct_total) / examples,
            "examples_per_sec": examples / seconds,
            "seconds": seconds,
        }
        if task.is_chief and eval_split:  # the training curves' validation points
            record.update(evaluate_in_memory(model, config.dataset_dir, eval_split))
        history.epochs.append(record)
        if task.is_chief:
            val = (
                f"; val_loss {record['val_loss']:.4f}, val_accuracy {record['val_accuracy']:.4f}"
                if "val_loss" in record
                else ""
            )
            log.info(
                "epoch %d/%d: loss %.4f, accuracy %.4f, %.0f examples/s%s",
                epoch + 1,
                config.epochs,
                record["loss"],
                record["accuracy"],
                record["examples_per_sec"],
                val,
            )
            write_scalars(
                summary,
                current,
                {
                    k: record[k]
                    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "examples_per_sec")
                    if k in record
                },
            )
        save(current)

    if precision != "float32":  # serve in float32 wherever the model lands
        model = float32_copy(model, config, metadata)
    result = _write_model(
        config,
        task,
        model,
        metadata,
        run_dir,
        scratch_dir,
        history,
        {
            "model_type": config.model_type,
            "run_id": config.run_id,
            "num_workers": task.num_workers,
            "replicas": strategy.num_replicas_in_sync,
            "per_replica_batch_size": config.batch_size,
            "global_batch_size": global_batch,
            "epochs": config.epochs,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps,
            "steps": current,
            "learning_rate": config.learning_rate,
            "lr_schedule": config.lr_schedule,
            "seed": config.seed,
            "precision": precision,
            "resumed_from_step": start_step,
            "attempt": attempt,
        },
    )
    if distributed:
        leave_group(config.run_id, task, preemption)
        _KEPT_UNTIL_EXIT.append(locals())
    return result


def leave_group(run_id, task, preemption):
    """Leave the group together, the chief last: it hosts the coordination service, and
    every other worker must be done with the service before it goes.

    A coordination-service barrier first (not a collective: a peer that exits right after
    a collective can leave the other waiting on its last message). But the chief learns the
    barrier passed before the others' answers are sent, and a chief that exited at once could
    close the service under a worker still waiting for its answer: that worker failed with
    "Socket closed" although the run was done. So each worker tells the chief it is out
    (its last call to the service), and the chief waits for all of them. Before the barrier,
    PreemptionCheckpointHandler's watcher is stopped: its blocking read of the service
    would fail once the chief is gone."""
    from tensorflow.python.eager import context
    from tensorflow.python.framework import errors

    # What the handler's __del__ does; called here because its objects are kept until exit.
    preemption._stop_cluster_wise_termination_watcher_thread()
    service = context.context()
    service.wait_at_barrier(f"distml-end-{run_id}", EXIT_BARRIER_TIMEOUT_MS)
    left = f"distml-left-{run_id}"
    if not task.is_chief:
        with contextlib.suppress(errors.UnavailableError):  # the chief had our word and left
            service.set_config_key_value(f"{left}/{task.rank}", "1")
        return
    for rank in range(1, task.num_workers):
        try:
            service.get_config_key_value(f"{left}/{rank}", LEAVE_TIMEOUT_MS)
        except errors.OpError as e:  # it passed the barrier, so the run is complete anyway
            log.warning("worker %d did not confirm it left the group (%s); leaving", rank, e.message)


def _eval_split(metadata):
    """Where the per-epoch validation points come from: the validation split, else test."""
    return next((s for s in ("validation", "test") if s in metadata["splits"]), None)


def evaluate_in_memory(model, dataset_dir, split, batch_size=256):
    """val_loss and val_accuracy of the model being trained on a whole split (the chief only:
    reading mirrored variables needs no collective)."""
    import keras
    import tensorflow as tf

    loss_sum, correct, count = 0.0, 0, 0
    for images, labels in read_split(dataset_dir, split, batch_size=batch_size, shuffle=False, verify=False):
        probabilities = tf.cast(model(tf.cast(images, tf.float32), training=False), tf.float32)
        loss_sum += float(tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, probabilities)))
        correct += int(tf.reduce_sum(tf.cast(tf.argmax(probabilities, axis=-1) == labels, tf.int32)))
        count += int(tf.shape(labels)[0])
    return {"val_split": split, "val_loss": loss_sum / count, "val_accuracy": correct / count}


def float32_copy(model, config, metadata):
    copy = build_model(config.model_type, metadata["image_shape"], metadata["num_classes"], "float32")
    copy.set_weights(model.get_weights())
    return copy


def _write_model(config, task, model, metadata, run_dir, scratch_dir, history, metrics):
    """Every worker exports (variables may need collective reads); only the chief's copy is kept."""
    model_info = {
        "model_type": config.model_type,
        "image_shape": metadata["image_shape"],
        "preprocessing": preprocessing.params_of(metadata),  # what serving applies to a client's image
        "num_classes": metadata["num_classes"],
        "class_names": metadata["class_names"],
        "dataset_fingerprint": metadata["fingerprint"],
        "version": config.version,
    }
    if not task.is_chief:
        export_model(model, scratch_dir / "model", config.version, model_info)
        return None

    import tensorflow as tf

    try:
        with atomic_directory(config.model_dir, last=METRICS_FILE) as staging:
            final = _export_and_score(config, model, metadata, model_info, run_dir, history, metrics, staging)
    except (OSError, tf.errors.OpError) as e:  # a full or read-only volume: a restart would fail the same way
        why = (
            e.message
            if isinstance(e, tf.errors.OpError)
            else f"{e.strerror or e}{f' ({e.filename})' if e.filename else ''}"
        )
        raise DistmlError(
            f"writing the model to {config.model_dir} failed: {str(why).strip().splitlines()[0]}"
        ) from None
    if not config.keep_checkpoints:
        shutil.rmtree(run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            run_dir.parent.rmdir()  # the default .checkpoints folder, once no run uses it
    log.info(
        "model written to %s: %s",
        config.model_dir,
        ", ".join(f"{k} {v:.4f}" for k, v in final.items() if isinstance(v, float)),
    )
    return metrics


def _export_and_score(config, model, metadata, model_info, run_dir, history, metrics, staging):
    """The SavedModel, its score on the eval split, metrics.json and TensorBoard logs, into `staging`."""
    saved_model_dir = export_model(model, staging, config.version, model_info)
    last = history.epochs[-1] if history.epochs else {}
    final = {"loss": last.get("loss"), "accuracy": last.get("accuracy")}
    eval_split = next((s for s in ("test", "validation") if s in metadata["splits"]), None)
    if eval_split:
        final.update(evaluate_saved_model(saved_model_dir, config.dataset_dir, eval_split))
    epochs = history.epochs
    metrics.update(
        {
            "history": epochs,
            "final": final,
            "examples_per_sec": sum(e["steps"] for e in epochs)
            * metrics["global_batch_size"]
            / max(sum(e["seconds"] for e in epochs), 1e-9),
            "wall_time_s": time.time() - history.started_at,
            "dataset_fingerprint": metadata["fingerprint"],
            "version": config.version,
        }
    )
    tensorboard = run_dir / "tensorboard"
    if tensorboard.is_dir():
        shutil.copytree(tensorboard, staging / "tensorboard")
    (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return final
