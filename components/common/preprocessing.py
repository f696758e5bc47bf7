"""The image preprocessing ingest applies, in one function that serving applies too.

Ingest turns every source image (a folder's PNG/JPEG of any size, a TFDS image of another
size) into the model's input with `preprocess(image, params)`; the same `params` are
recorded in the dataset's metadata.json and in the model's model.json (key
`preprocessing`), so a server holding only the model can turn a client's original image
into exactly the example the model was trained on: no train/serve skew.

    params = {"height": H, "width": W, "channels": 1 | 3, "resample": "bilinear"}

Needs numpy and Pillow, not TensorFlow (the server's request path uses it).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from PIL.Image import Image as PILImage

PREPROCESSING_KEY = "preprocessing"
RESAMPLE = "bilinear"


def preprocessing_params(image_shape: Sequence[int]) -> dict[str, object]:
    """The parameters for images of `image_shape` [H, W, C] (what ingest writes)."""
    height, width, channels = (int(d) for d in image_shape)
    if channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {channels}")
    return {"height": height, "width": width, "channels": channels, "resample": RESAMPLE}


def params_of(info: Mapping[str, object]) -> dict[str, object]:
    """The preprocessing parameters a dataset's metadata.json or a model's model.json records
    (older artifacts without them: what their image_shape implies)."""
    return info.get(PREPROCESSING_KEY) or preprocessing_params(info["image_shape"])


def preprocess(image: PILImage | ArrayLike, params: Mapping[str, object]) -> np.ndarray:
    """A PIL image, or a uint8 array [h, w], [h, w, 1], [h, w, 3] or [h, w, 4] of any size
    -> uint8 array [H, W, C]: converted to grayscale (C=1) or RGB (C=3), then resized to
    H x W with bilinear resampling (not resized when it already is H x W)."""
    from PIL import Image

    height, width, channels = params["height"], params["width"], params["channels"]
    if params.get("resample", RESAMPLE) != RESAMPLE:
        raise ValueError(f"unknown resampling {params['resample']!r} (known: {RESAMPLE})")
    if not isinstance(image, Image.Image):
        image = _as_pil(np.asarray(image))
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8).reshape(height, width, channels)


def preprocess_encoded(data: bytes, params: Mapping[str, object]) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 array [H, W, C], as `preprocess`."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return preprocess(image, params)


def _as_pil(array):
    from PIL import Image

    if array.dtype != np.uint8:
        if array.dtype.kind not in "iuf":
            raise ValueError(f"expected pixel values 0-255, got {array.dtype}")
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"expected an image array [h, w], [h, w, 1], [h, w, 3] or [h, w, 4], got {list(array.shape)}")
    return Image.fromarray(array)
