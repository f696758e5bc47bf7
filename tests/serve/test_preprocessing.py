"""The model carries its preprocessing (issue #22): a folder of 64x48 RGB images is ingested
(resized to 32x32 grayscale), a model trained on it and served; clients send the original
images (PNG, V1 and V2, and as pixel arrays) and get exactly what the model gives the
ingested examples."""

import base64
import io
import json
import shutil
import time

import numpy as np
import pytest

from distml.components.common.image_features import image_features, pixel_histogram
from tests.serve.server import Server

MODEL = "shapes"
ORIGINAL = (64, 48)  # width x height, what the clients have
TRAINED = (32, 32)


def _shapes_folder(root):
    """Two classes of 64x48 RGB images a small CNN can tell apart: a bright block on the left or the right."""
    from PIL import Image

    rng = np.random.default_rng(3)
    for label, column in (("left", slice(4, 28)), ("right", slice(36, 60))):
        for split, count in (("train", 24), ("test", 4)):
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 60, (ORIGINAL[1], ORIGINAL[0], 3), dtype=np.uint8)
                pixels[8:40, column] = rng.integers(150, 255, 3, dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / label / f"{i}.png")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """(dataset dir, model repo, ingested test examples uint8 [N, 32, 32, 1], their original PNG files)."""
    from distml.components.ingest.core import ingest
    from distml.components.ingest.reader import read_split
    from distml.components.train.core import train

    root = tmp_path_factory.mktemp("shapes")
    _shapes_folder(root / "images")
    ingest(f"folder:{root / 'images'}", root / "dataset", num_shards=1, image_size=TRAINED[::-1])
    train(root / "dataset", root / "model", model_type="cnn", epochs=3, batch_size=8, seed=0)
    shutil.copytree(root / "model" / "1", root / "repo" / MODEL / "1")
    # One shard, not shuffled: the examples in the folder's order (class, then file name).
    (examples,) = [image.numpy() for image, _ in read_split(root / "dataset", "test", batch_size=8, shuffle=False)]
    originals = sorted((root / "images" / "test").glob("*/*.png"))
    assert len(originals) == len(examples) == 8
    return root / "dataset", root / "repo", examples, originals


@pytest.fixture(scope="module")
def server(shapes, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    server = Server(shapes[1], MODEL, logs / "serve.log", extra_args=["--request-log", logs / "requests"])
    server.request_log = logs / "requests"
    yield server
    server.stop()


def _wait_for_lines(path, n, timeout_s=30):
    """The first `n` lines of the request log, once the server's background writer has written them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{path}: fewer than {n} lines after {timeout_s}s")


def _saved_model_probabilities(repo, images):
    import tensorflow as tf

    signature = tf.saved_model.load(str(repo / MODEL / "1")).signatures["serving_default"]
    return signature(images=tf.constant(images, tf.float32))["probabilities"].numpy()


def test_the_server_preprocesses_an_image_bit_for_bit_as_ingest_did(shapes):
    from distml.components.common.preprocessing import params_of
    from distml.components.serve.inputs import decode_image, decode_v1
    from distml.components.serve.loaded_model import load_version

    _, repo, examples, originals = shapes
    served = load_version(repo / MODEL / "1", 1)
    info = json.loads((repo / MODEL / "1" / "assets.extra" / "model.json").read_text())
    assert served.preprocessing == params_of(info) == {"height": 32, "width": 32, "channels": 1, "resample": "bilinear"}
    png = originals[0].read_bytes()
    np.testing.assert_array_equal(decode_image(png, served.preprocessing), examples[0].astype(np.float32))
    # The same image as a pixel array of its original size and channels.
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image).tolist()  # [48, 64, 3]
    np.testing.assert_array_equal(decode_v1({"instances": [pixels]}, served.preprocessing)[0], examples[0])


def test_clients_send_original_size_images_and_get_the_ingested_examples_answers(shapes, server):
    _, repo, examples, originals = shapes
    expected = _saved_model_probabilities(repo, examples)
    assert len(set(expected.argmax(axis=1))) == 2, "the model should tell the two classes apart"
    pngs = [base64.b64encode(path.read_bytes()).decode() for path in originals]

    status, v1 = server.post(f"/v1/models/{MODEL}:predict", {"instances": [{"b64": png} for png in pngs]})
    assert status == 200, v1
    np.testing.assert_allclose([p["probabilities"] for p in v1["predictions"]], expected, atol=1e-5)
    assert [p["class_id"] for p in v1["predictions"]] == expected.argmax(axis=1).tolist()
    assert [p["class_name"] for p in v1["predictions"]] == [path.parent.name for path in originals]
    # What the model was given, as the server's request log measured it: the ingested examples
    # (sharper than the probabilities, which a confident model saturates).
    logged = json.loads(_wait_for_lines(server.request_log / "requests.jsonl", 1)[0])
    features = image_features(examples)
    for name in ("brightness", "contrast", "ink_fraction"):
        np.testing.assert_allclose(logged["inputs"][name], features[name], atol=1e-5, err_msg=name)
    assert logged["inputs"]["pixel_histogram"] == pixel_histogram(examples).tolist()

    body = {"inputs": [{"name": "images", "shape": [len(pngs)], "datatype": "BYTES", "data": pngs}]}
    status, v2 = server.post(f"/v2/models/{MODEL}/infer", body)
    assert status == 200, v2
    probabilities = {o["name"]: o for o in v2["outputs"]}["probabilities"]["data"]
    np.testing.assert_allclose(np.reshape(probabilities, expected.shape), expected, atol=1e-5)

    from PIL import Image

    with Image.open(originals[-1]) as image:
        pixels = np.asarray(image)  # [48, 64, 3] uint8, as a client holds it
    body = {
        "inputs": [
            {"name": "images", "shape": [1, *pixels.shape], "datatype": "UINT8", "data": pixels.ravel().tolist()}
        ]
    }
    status, v2 = server.post(f"/v2/models/{MODEL}/infer", body)
    assert status == 200, v2
    assert {o["name"]: o for o in v2["outputs"]}["class_ids"]["data"] == [int(expected[-1].argmax())]
