"""No train/serve skew: ingest makes examples with components/common/preprocessing.py, records
its parameters, and the same function on a client's original-size image gives the same example."""

import json

import numpy as np

from distml.components.common import preprocessing
from distml.components.ingest.core import ingest
from distml.components.ingest.reader import read_split


def _image_folder(root, size=(64, 48)):
    """Two classes of RGB PNGs of another size than the model's (width x height = 64x48)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    files = []
    for label in ("circle", "square"):
        for split in ("train", "test"):
            (root / split / label).mkdir(parents=True)
            for i in range(2):
                path = root / split / label / f"{i}.png"
                Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
                files.append(path)
    return files


def test_an_original_size_image_preprocessed_as_recorded_equals_the_ingested_example(tmp_path):
    _image_folder(tmp_path / "images")
    metadata = ingest(f"folder:{tmp_path / 'images'}", tmp_path / "ds", num_shards=1, image_size=(32, 32))
    params = metadata["preprocessing"]
    assert params == {"height": 32, "width": 32, "channels": 1, "resample": "bilinear"}
    # One shard, not shuffled: the examples in the folder's order (class, then file name).
    ingested = [
        (image.numpy()[0], int(label.numpy()[0]))
        for image, label in read_split(tmp_path / "ds", "test", batch_size=1, shuffle=False)
    ]
    originals = sorted((tmp_path / "images" / "test").glob("*/*.png"))
    assert len(ingested) == len(originals) == 4
    for original, (example, label) in zip(originals, ingested):
        served = preprocessing.preprocess_encoded(original.read_bytes(), params)  # what a server does
        assert served.shape == (32, 32, 1) and served.dtype == np.uint8
        np.testing.assert_array_equal(served, example)
        assert metadata["class_names"][label] == original.parent.name
    # A nearest-neighbour resize (what a client might do itself) is a different example:
    # the comparison above is sharp enough to catch a skew.
    from PIL import Image

    with Image.open(originals[0]) as image:
        nearest = np.asarray(image.convert("L").resize((32, 32), Image.NEAREST))[..., None]
    assert not np.array_equal(nearest, ingested[0][0])


def test_ingest_makes_every_folder_example_with_the_shared_function(tmp_path, monkeypatch):
    calls = []
    real = preprocessing.preprocess

    def spy(image, params):
        calls.append(params)
        return real(image, params)

    from distml.components.ingest import sources

    monkeypatch.setattr(sources, "preprocess", spy)
    files = _image_folder(tmp_path / "images")
    ingest(f"folder:{tmp_path / 'images'}", tmp_path / "ds", num_shards=1, image_size=(32, 32))
    assert len(calls) == len(files) and all(c == calls[0] for c in calls)


def test_preprocess_takes_arrays_of_any_size_and_channels():
    params = preprocessing.preprocessing_params([28, 28, 1])
    rgb = np.full((60, 40, 3), 200, np.uint8)
    assert preprocessing.preprocess(rgb, params).shape == (28, 28, 1)
    same = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28, 1)
    np.testing.assert_array_equal(preprocessing.preprocess(same, params), same)  # no resize at the right size
    assert preprocessing.preprocess(rgb.astype(np.float32), preprocessing.preprocessing_params([8, 8, 3])).shape == (
        8,
        8,
        3,
    )


def test_the_trained_model_records_the_preprocessing_of_its_dataset(trained_models, digits_dataset):
    metadata = json.loads((digits_dataset / "metadata.json").read_text())
    info = json.loads((trained_models["cnn"] / "1" / "assets.extra" / "model.json").read_text())
    assert info["preprocessing"] == metadata["preprocessing"] == preprocessing.preprocessing_params([28, 28, 1])
