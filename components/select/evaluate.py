"""Evaluating a model the way it will be served: through its `serving_default` signature."""

import logging
import math
import time

from distml.components.common.errors import UsageError
from distml.components.common.model_artifact import INPUT_NAME, SIGNATURE, predict, signature_problem
from distml.components.common.progress import progress
from distml.components.ingest.reader import read_split
from distml.components.select.metrics import ConfusionAccumulator

log = logging.getLogger("distml")


class ServingModel:
    """A loaded SavedModel's serving signature, checked against the dataset it is evaluated on."""

    def __init__(self, ref, dataset_metadata):
        import tensorflow as tf

        self.ref = ref
        try:
            self._loaded = tf.saved_model.load(str(ref.saved_model_dir))
        except (OSError, ValueError, tf.errors.OpError) as e:
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(
                f"model {ref.name} ({ref.saved_model_dir}) cannot be loaded as a SavedModel: {first_line}"
            ) from None
        if SIGNATURE not in self._loaded.signatures:
            raise UsageError(f"model {ref.name} ({ref.saved_model_dir}) has no {SIGNATURE!r} signature")
        self.fn = self._loaded.signatures[SIGNATURE]
        self._check(dataset_metadata)

    def _check(self, metadata):
        ref = self.ref
        problem = signature_problem(self.fn)
        if problem:
            raise UsageError(f"model {ref.name} ({ref.saved_model_dir}): {problem}")
        model_shape = list(self.fn.structured_input_signature[1][INPUT_NAME].shape)[1:]
        data_shape = list(metadata["image_shape"])
        if model_shape != data_shape:
            raise UsageError(
                f"model {ref.name} takes images of shape {_shape(model_shape)} but the dataset has "
                f"{_shape(data_shape)}: evaluate it on the dataset it was trained for"
            )
        problem = signature_problem(self.fn, num_classes=metadata["num_classes"])
        if problem:
            raise UsageError(f"model {ref.name}: {problem} (the dataset's number of classes)")
        class_names = ref.info.get("class_names")
        if class_names is not None and list(class_names) != list(metadata["class_names"]):
            raise UsageError(
                f"model {ref.name} was trained with other class names than the dataset's ({class_names[:3]}... vs {metadata['class_names'][:3]}...)"
            )

    def predict(self, images):
        """(probabilities [N,K] float, class_ids [N] int) for uint8 images [N,H,W,C]."""
        return predict(self.fn, images)


def evaluate(model, dataset_dir, metadata, split, batch_size):
    """Metrics of `model` over the whole split, read in the artifact's order."""
    num_classes = metadata["num_classes"]
    accumulator = ConfusionAccumulator(num_classes)
    dataset = read_split(dataset_dir, split, batch_size=batch_size, shuffle=False, verify=False)
    num_batches = math.ceil(metadata["splits"][split]["num_examples"] / batch_size)
    start = time.monotonic()
    for images, labels in progress(dataset, total=num_batches, desc=f"evaluate {model.ref.name} (batches)"):
        probabilities, class_ids = model.predict(images)
        if class_ids.min() < 0 or class_ids.max() >= num_classes:
            raise UsageError(f"model {model.ref.name} returned class ids outside 0..{num_classes - 1}")
        accumulator.add(labels.numpy(), probabilities, class_ids)
    result = accumulator.result(metadata["class_names"])
    seconds = time.monotonic() - start
    result["eval_seconds"] = round(seconds, 3)
    m = result["metrics"]
    log.info(
        "%s: accuracy %.4f, loss %.4f on %d %s examples (%.1f s)",
        model.ref.name,
        m["accuracy"],
        m["loss"],
        m["num_examples"],
        split,
        seconds,
    )
    return result


def _shape(shape):
    return "x".join("?" if d is None else str(d) for d in shape)
