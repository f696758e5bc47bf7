"""Fixtures for the deploy tests: real test images and model repositories built from the
session's trained models (`trained_models` in tests/conftest.py)."""

import base64
import io
import shutil

import numpy as np
import pytest


@pytest.fixture(scope="session")
def test_images(digits_dataset):
    """(uint8 images [32, 28, 28, 1], int64 labels [32]) from the dataset's test split."""
    from distml.components.ingest.reader import read_split

    images, labels = next(iter(read_split(digits_dataset, "test", batch_size=32, shuffle=False)))
    return images.numpy(), labels.numpy()


def png_b64(image):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0]).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def version_dir(model_dir):
    return model_dir / "1"


def make_repo(root, model_name, *model_dirs):
    """<root>/<model_name>/1, 2, ... copied from the given trained models' version dirs."""
    for number, model_dir in enumerate(model_dirs, 1):
        shutil.copytree(version_dir(model_dir), root / model_name / str(number))
    return root


def local_predictions(model_dir, images):
    """Class ids from the SavedModel itself, loaded in this process: what the server must answer."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(version_dir(model_dir))).signatures["serving_default"]
    return signature(images=tf.constant(images, tf.float32))["class_ids"].numpy()


def accuracy(class_ids, labels):
    return float(np.mean(np.asarray(class_ids) == np.asarray(labels)))
