"""The server loads a version only when it follows the model artifact contract: the same
check (common/model_artifact.signature_problem) as select, against the version's model.json."""

import json
import shutil

import numpy as np
import pytest

from distml.components.common.model_artifact import MODEL_INFO
from distml.components.common.preprocessing import PREPROCESSING_KEY, preprocessing_params
from distml.components.serve.loaded_model import ModelLoadError, load_version
from tests.serve.conftest import local_predictions, version_dir


def test_a_version_loads_and_predicts_as_the_savedmodel_does(trained_models, test_images):
    model = load_version(version_dir(trained_models["cnn"]), 1, warmup_batch_sizes=(2,))
    probabilities, class_ids = model.predict(test_images[0].astype(np.float32))
    assert probabilities.shape == (32, 10) and class_ids.dtype == np.int64
    assert class_ids.tolist() == local_predictions(trained_models["cnn"], test_images[0]).tolist()


@pytest.mark.parametrize(
    "change, message",
    [
        # a model.json consistent with itself (its preprocessing makes 14x14 images too)
        (
            {"image_shape": [14, 14, 1], PREPROCESSING_KEY: preprocessing_params([14, 14, 1])},
            "expected float32 [None, 14, 14, 1]",
        ),
        ({"class_names": [str(i) for i in range(12)]}, "it predicts 10 classes, expected 12"),
    ],
)
def test_a_version_whose_signature_disagrees_with_its_model_json_is_refused(trained_models, tmp_path, change, message):
    version = tmp_path / "7"
    shutil.copytree(version_dir(trained_models["cnn"]), version)
    info = json.loads((version / MODEL_INFO).read_text())
    (version / MODEL_INFO).write_text(json.dumps({**info, **change}))
    with pytest.raises(
        ModelLoadError, match=r"does not follow the model artifact contract: .*" + message.replace("[", r"\[")
    ):
        load_version(version, 7)
