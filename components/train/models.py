"""The model registry: one builder function per model type.

Every model takes raw pixel values (0-255, any numeric dtype cast to float32) and rescales
inside, so training and serving see the same input. `precision` is a Keras dtype policy for
every layer but the softmax classifier, which stays float32 (mixed-precision practice: its
probabilities and the loss need the range). Adding a model type is one builder plus one
entry in MODELS. Builders import Keras inside, so listing the types (for
`distml train --help`) needs no TensorFlow.
"""

from distml.components.common.errors import UsageError
from distml.components.common.model_artifact import INPUT_NAME, PROBABILITIES


def _conv_stack(keras, x, extra, dtype):
    """Conv32-Pool-Conv64-Pool-Conv64, with `extra(x)` applied after every convolution."""
    for filters, pool in ((32, True), (64, True), (64, False)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation=None if extra else "relu", dtype=dtype)(x)
        if extra:
            x = extra(x)
        if pool:
            x = keras.layers.MaxPooling2D(2, dtype=dtype)(x)
    return x


def _build(image_shape, num_classes, name, dtype, after_conv=None, before_dense=None):
    import keras

    inputs = keras.Input(shape=tuple(image_shape), dtype="float32", name=INPUT_NAME)
    x = keras.layers.Rescaling(1.0 / 255, name="rescale", dtype=dtype)(inputs)
    x = _conv_stack(keras, x, after_conv(keras, dtype) if after_conv else None, dtype)
    x = keras.layers.Flatten(dtype=dtype)(x)
    x = keras.layers.Dense(64, activation="relu", dtype=dtype)(x)
    if before_dense:
        x = before_dense(keras, dtype)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=PROBABILITIES, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def cnn(image_shape, num_classes, precision):
    """Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense (the book's baseline)."""
    return _build(image_shape, num_classes, "cnn", precision)


def dropout(image_shape, num_classes, precision):
    """The CNN with Dropout(0.5) before the classifier."""
    return _build(
        image_shape,
        num_classes,
        "dropout",
        precision,
        before_dense=lambda keras, dtype: keras.layers.Dropout(0.5, dtype=dtype),
    )


def batch_norm(image_shape, num_classes, precision):
    """The CNN with BatchNormalization + ReLU after every convolution."""

    def bn_relu(keras, dtype):
        def apply(x):
            # momentum 0.9: the moving statistics settle within tens of steps, so short runs on
            # small datasets serve as well as they train (0.99 needs hundreds of steps).
            normalized = keras.layers.BatchNormalization(momentum=0.9, dtype=dtype)(x)
            return keras.layers.ReLU(dtype=dtype)(normalized)

        return apply

    return _build(image_shape, num_classes, "batch_norm", precision, after_conv=bn_relu)


MODELS = {
    "cnn": cnn,
    "dropout": dropout,
    "batch_norm": batch_norm,
}


def check_model_type(model_type):
    if model_type not in MODELS:
        raise UsageError(f"unknown model type {model_type!r} (known: {', '.join(MODELS)})")
    return model_type


def build_model(model_type, image_shape, num_classes, precision="float32"):
    """`precision`: "float32" or "mixed_bfloat16" (bfloat16 compute, float32 variables)."""
    return MODELS[check_model_type(model_type)](image_shape, num_classes, precision)
