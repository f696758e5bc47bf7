"""One model version loaded from the repository, checked against the model artifact contract.

Imports TensorFlow inside `load`: the server imports this, the deploy core does not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distml.components.common.errors import DistmlError
from distml.components.common.model_artifact import SIGNATURE, predict, read_model_info, signature_problem
from distml.components.common.preprocessing import RESAMPLE, params_of

log = logging.getLogger("distml.serve")


class ModelLoadError(DistmlError):
    """A version directory does not hold a servable model."""


@dataclass(frozen=True)
class LoadedModel:
    version: int
    path: Path
    image_shape: tuple
    class_names: list
    preprocessing: dict  # what ingest did to the training images; the server does it to clients' images
    _signature: object = field(repr=False)
    _keepalive: object = field(repr=False)  # the loaded SavedModel owns the signature's variables

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [N, H, W, C] pixels 0-255 -> (probabilities float32 [N, K], class_ids int64 [N])."""
        probabilities, class_ids = predict(self._signature, images)
        return probabilities, class_ids.astype(np.int64)


def load_version(version_dir: Path | str, version: int, warmup_batch_sizes: Iterable[int] = ()) -> LoadedModel:
    """Load, check the signature against model.json, and run one warm-up batch (plus one of each
    `warmup_batch_sizes`: oneDNN builds its kernels per input shape, 30-110 ms each on first use here)."""
    import tensorflow as tf

    version_dir = Path(version_dir)
    try:
        info = read_model_info(version_dir)
        image_shape = tuple(int(d) for d in info["image_shape"])
        class_names = [str(name) for name in info["class_names"]]
        preprocessing = _preprocessing(info, image_shape)
        loaded = tf.saved_model.load(str(version_dir))
    except Exception as e:  # a corrupt or half-written version must not take the server down
        raise ModelLoadError(f"cannot load {version_dir}: {type(e).__name__}: {e}") from e
    signature = loaded.signatures.get(SIGNATURE)
    if signature is None:
        raise ModelLoadError(f"{version_dir} has no {SIGNATURE!r} signature (has {sorted(loaded.signatures)})")
    problem = signature_problem(signature, image_shape, len(class_names))
    if problem:
        raise ModelLoadError(f"{version_dir} does not follow the model artifact contract: {problem}")
    model = LoadedModel(version, version_dir, image_shape, class_names, preprocessing, signature, loaded)
    try:
        probabilities, class_ids = model.predict(np.zeros((1, *image_shape), np.float32))
    except Exception as e:
        raise ModelLoadError(f"{version_dir} fails on a warm-up batch: {type(e).__name__}: {e}") from e
    if probabilities.shape != (1, len(class_names)) or class_ids.shape != (1,):
        raise ModelLoadError(
            f"{version_dir} returns probabilities {list(probabilities.shape)} and class_ids {list(class_ids.shape)} "
            f"for one image; model.json names {len(class_names)} classes"
        )
    try:
        for n in warmup_batch_sizes:
            model.predict(np.zeros((n, *image_shape), np.float32))
    except Exception as e:
        raise ModelLoadError(f"{version_dir} fails on a warm-up batch of {n}: {type(e).__name__}: {e}") from e
    return model


def _preprocessing(info, image_shape):
    """model.json's preprocessing (read once per version, not per request), checked against its image_shape."""
    params = params_of(info)
    shape = tuple(int(params[key]) for key in ("height", "width", "channels"))
    if shape != image_shape:
        raise ValueError(
            f"model.json's preprocessing makes {list(shape)} images, its image_shape is {list(image_shape)}"
        )
    if params.get("resample", RESAMPLE) != RESAMPLE:
        raise ValueError(
            f"model.json's preprocessing resamples with {params['resample']!r}, this server knows {RESAMPLE}"
        )
    return {**params, "height": shape[0], "width": shape[1], "channels": shape[2]}
