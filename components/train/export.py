"""Writing the model artifact: TF Serving SavedModel, model.json, Keras file; and scoring it.

    <model_dir>/<version>/                     SavedModel, signature `serving_default`:
        images float32 [None,H,W,C] (raw 0-255) -> probabilities float32 [None,K], class_ids int64 [None]
        (`serving_uint8` takes the same images as uint8)
    <model_dir>/<version>/assets.extra/model.json
    <model_dir>/model.keras
"""

import json
from pathlib import Path

MODEL_JSON = "model.json"
KERAS_FILE = "model.keras"
SIGNATURE = "serving_default"


def export_model(model, out_dir, version, model_info):
    """Write the SavedModel, its model.json and the Keras file into `out_dir`."""
    import keras
    import tensorflow as tf

    shape = list(model_info["image_shape"])

    def serve(images):
        probabilities = model(images, training=False)
        return {
            "probabilities": probabilities,
            "class_ids": tf.argmax(probabilities, axis=-1, output_type=tf.int64),
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[tf.TensorSpec([None, *shape], tf.float32, name="images")])
    archive.add_endpoint(
        "serving_uint8",
        lambda images: serve(tf.cast(images, tf.float32)),
        input_signature=[tf.TensorSpec([None, *shape], tf.uint8, name="images")],
    )
    saved_model_dir = Path(out_dir) / version
    archive.write_out(str(saved_model_dir), verbose=False)
    extra = saved_model_dir / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / MODEL_JSON).write_text(json.dumps(model_info, indent=2) + "\n")
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
        out = serve(images=tf.cast(images, tf.float32))
        loss_sum += float(tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, out["probabilities"])))
        correct += int(tf.reduce_sum(tf.cast(out["class_ids"] == labels, tf.int32)))
        count += int(tf.shape(labels)[0])
    return {f"{split}_loss": loss_sum / count, f"{split}_accuracy": correct / count, f"{split}_examples": count}
