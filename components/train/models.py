"""The model registry: one builder function per model type.

Every model takes raw pixel values (0-255, any numeric dtype cast to float32) and rescales
inside, so training and serving see the same input. Adding a model type is one builder
plus one entry in MODELS. Builders import Keras inside, so listing the types (for
`distml train --help`) needs no TensorFlow.
"""

from distml.components.common.errors import UsageError


def _conv_stack(keras, x, extra):
    """Conv32-Pool-Conv64-Pool-Conv64, with `extra(x)` applied after every convolution."""
    for filters, pool in ((32, True), (64, True), (64, False)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation=None if extra else "relu")(x)
        if extra:
            x = extra(x)
        if pool:
            x = keras.layers.MaxPooling2D(2)(x)
    return x


def _build(image_shape, num_classes, name, after_conv=None, before_dense=None):
    import keras

    inputs = keras.Input(shape=tuple(image_shape), dtype="float32", name="images")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = _conv_stack(keras, x, after_conv(keras) if after_conv else None)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    if before_dense:
        x = before_dense(keras)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def cnn(image_shape, num_classes):
    """Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense (the book's baseline)."""
    return _build(image_shape, num_classes, "cnn")


def dropout(image_shape, num_classes):
    """The CNN with Dropout(0.5) before the classifier."""
    return _build(image_shape, num_classes, "dropout", before_dense=lambda keras: keras.layers.Dropout(0.5))


def batch_norm(image_shape, num_classes):
    """The CNN with BatchNormalization + ReLU after every convolution."""

    def bn_relu(keras):
        def apply(x):
            # momentum 0.9: the moving statistics settle within tens of steps, so short runs on
            # small datasets serve as well as they train (0.99 needs hundreds of steps).
            return keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))

        return apply

    return _build(image_shape, num_classes, "batch_norm", after_conv=bn_relu)


MODELS = {
    "cnn": cnn,
    "dropout": dropout,
    "batch_norm": batch_norm,
}


def check_model_type(model_type):
    if model_type not in MODELS:
        raise UsageError(f"unknown model type {model_type!r} (known: {', '.join(MODELS)})")
    return model_type


def build_model(model_type, image_shape, num_classes):
    return MODELS[check_model_type(model_type)](image_shape, num_classes)
