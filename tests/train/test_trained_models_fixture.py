"""The shared `trained_models` fixture follows the model artifact contract."""

import json

import numpy as np


def test_trained_models_follow_the_artifact_contract(trained_models, digits_dataset):
    import tensorflow as tf

    from distml.components.ingest.reader import read_split

    images, labels = next(iter(read_split(digits_dataset, "test", batch_size=360, shuffle=False)))
    assert set(trained_models) == {"cnn", "dropout", "batch_norm"}
    for model_type, model_dir in trained_models.items():
        info = json.loads((model_dir / "1" / "assets.extra" / "model.json").read_text())
        assert info["model_type"] == model_type and info["num_classes"] == 10 and info["image_shape"] == [28, 28, 1]
        assert {"dataset_fingerprint", "class_names", "version"} <= set(info)
        metrics = json.loads((model_dir / "metrics.json").read_text())
        assert metrics["model_type"] == model_type and metrics["num_workers"] == 1
        assert (model_dir / "model.keras").is_file()
        serve = tf.saved_model.load(str(model_dir / "1")).signatures["serving_default"]
        out = serve(images=tf.cast(images, tf.float32))
        assert out["probabilities"].shape == (360, 10) and out["class_ids"].dtype == tf.int64
        accuracy = float(np.mean(out["class_ids"].numpy() == labels.numpy()))
        assert accuracy > 0.6, f"{model_type}: test accuracy {accuracy}"
        assert abs(accuracy - metrics["final"]["test_accuracy"]) < 1e-6
