"""`signature_problem` (the serving signature contract, common/model_artifact.py) against real
TensorFlow signatures: concrete functions traced here, no model trained."""

import pytest
import tensorflow as tf

from distml.components.common.model_artifact import signature_problem


def signature(inputs, num_classes=10, outputs=("probabilities", "class_ids")):
    """A concrete function taking `inputs` ({name: TensorSpec}) and returning `outputs`:
    probabilities [None, num_classes], class_ids [None]."""

    def serve(**tensors):
        batch = tf.shape(next(iter(tensors.values())))[0]
        made = {"probabilities": tf.zeros([batch, num_classes]), "class_ids": tf.zeros([batch], tf.int64)}
        return {name: made[name] for name in outputs}

    return tf.function(serve).get_concrete_function(**inputs)


def images(shape=(28, 28, 1), dtype=tf.float32, name="images"):
    return {name: tf.TensorSpec([None, *shape], dtype)}


def test_a_signature_that_follows_the_contract_has_no_problem():
    fn = signature(images())
    assert signature_problem(fn) is None
    assert signature_problem(fn, image_shape=(28, 28, 1), num_classes=10) is None
    # numbers compared by value: past 256, equal ints are distinct objects
    assert signature_problem(signature(images(), num_classes=1000), num_classes=int("1000")) is None


@pytest.mark.parametrize(
    "inputs, image_shape, problem",
    [
        ({**images(), **images(name="extra")}, None, "must take one input 'images', takes ['extra', 'images']"),
        (images(name="pixels"), None, "must take one input 'images', takes ['pixels']"),
        (images(dtype=tf.uint8), None, "input 'images' is uint8 [None, 28, 28, 1], expected float32"),
        (images(dtype=tf.float16), None, "input 'images' is float16 [None, 28, 28, 1], expected float32"),
        (images((14, 14, 1)), (28, 28, 1), "is float32 [None, 14, 14, 1], expected float32 [None, 28, 28, 1]"),
        (images((32, 32, 3)), (28, 28, 1), "is float32 [None, 32, 32, 3], expected float32 [None, 28, 28, 1]"),
        (images((None, None, 1)), (28, 28, 1), "is float32 [None, ?, ?, 1], expected float32 [None, 28, 28, 1]"),
    ],
)
def test_inputs_other_than_one_float32_images_tensor_of_the_image_shape_are_named(inputs, image_shape, problem):
    assert problem in signature_problem(signature(inputs), image_shape=image_shape)


def test_a_missing_output_is_named():
    assert signature_problem(signature(images(), outputs=("probabilities",))) == (
        "signature serving_default lacks outputs ['class_ids']"
    )


@pytest.mark.parametrize("predicted, expected", [(10, 3), (3, 10)])
def test_another_number_of_classes_is_named(predicted, expected):
    fn = signature(images(), num_classes=predicted)
    assert signature_problem(fn) is None  # no number of classes asked for
    assert signature_problem(fn, num_classes=expected) == f"it predicts {predicted} classes, expected {expected}"
