"""Writing the model artifact (its contract: common/model_artifact.py): the TF Serving
SavedModel with its signatures, model.json and the Keras file; and scoring it.
"""

import json
from pathlib import Path

from distml.components.common.model_artifact import (
    CLASS_IDS,
    INPUT_NAME,
    KERAS_FILE,
    MODEL_INFO,
    OUTPUTS,
    PROBABILITIES,
    SIGNATURE,
    UINT8_SIGNATURE,
)


def export_model(model, out_dir, version, model_info):
    """Write the SavedModel, its model.json and the Keras file into `out_dir`."""
    import keras
    import tensorflow as tf

    shape = list(model_info["image_shape"])

    def serve(images):
        probabilities = model(images, training=False)
        return dict(zip(OUTPUTS, (probabilities, tf.argmax(probabilities, axis=-1, output_type=tf.int64)), strict=True))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[tf.TensorSpec([None, *shape], tf.float32, name=INPUT_NAME)])
    archive.add_endpoint(
        UINT8_SIGNATURE,
        lambda images: serve(tf.cast(images, tf.float32)),
        input_signature=[tf.TensorSpec([None, *shape], tf.uint8, name=INPUT_NAME)],
    )
    saved_model_dir = Path(out_dir) / version
    archive.write_out(str(saved_model_dir), verbose=False)
    (saved_model_dir / MODEL_INFO).parent.mkdir(exist_ok=True)
    (saved_model_dir / MODEL_INFO).write_text(json.dumps(model_info, indent=2) + "\n")
    model.save(Path(out_dir) / KERAS_FILE)
    return saved_model_dir


def evaluate_saved_model(saved_model_dir, dataset_dir, split, batch_size=256):
    """Loss and accuracy of the exported signature on a whole split: what serving will see."""
    import keras
    import tensorflow as tf

    from distml.components.ingest.reader import read_split

    serve = tf.saved_model.load(str(saved_model_dir)).signatures[SIGNATURE]
    loss_sum, correct, count = 0.0, 0, 0
    for images, labels in read_split(dataset_dir, split, batch_size=batch_size, shuffle=False):
        out = serve(**{INPUT_NAME: tf.cast(images, tf.float32)})
        loss_sum += float(tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, out[PROBABILITIES])))
        correct += int(tf.reduce_sum(tf.cast(out[CLASS_IDS] == labels, tf.int32)))
        count += int(tf.shape(labels)[0])
    return {f"{split}_loss": loss_sum / count, f"{split}_accuracy": correct / count, f"{split}_examples": count}
