"""Turn request payloads into a float32 image batch [N, H, W, C], or say what was expected.

Clients send images as they have them: every image of another size or channel count is
turned into the model's input by the function ingest made the training examples with
(`components/common/preprocessing.py`, with the parameters the model's model.json
records), so serving sees exactly what training saw (no train/serve skew).

Accepted forms (H, W, C and the preprocessing from the served model's model.json):
- V1 `{"instances": [...]}`: each instance a pixel array [h, w], [h, w, 1], [h, w, 3] or
  [h, w, 4] of values 0-255, of any size, or `{"b64": "<base64 PNG/JPEG>"}` of any size (the
  TF Serving / KServe V1 convention); `{"images": <either>}` (TF Serving's named-input row
  form) is unwrapped.
- V2 (REST or gRPC): one input tensor, numeric [N, h, w, c] (or [N, h, w]) of values 0-255,
  or BYTES [N] (or [N, 1]) of PNG/JPEG images, raw or base64-encoded.
Arrays already [H, W, C] are used as sent; others are preprocessed as at ingest (values
rounded to 0-255 integers, converted to grayscale or RGB, resized bilinearly to H x W).
An image of more than `max_pixels` pixels is refused from its header (PNG/JPEG) or its
declared shape, before anything is decoded.

Every rejection raises `InvalidRequest` with a message naming what was expected; the
server maps it to HTTP 400 / gRPC INVALID_ARGUMENT. Needs numpy and Pillow, not TensorFlow.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from distml.components.common.model_artifact import INPUT_NAME
from distml.components.common.preprocessing import preprocess
from distml.components.serve.spec import DEFAULTS

if TYPE_CHECKING:
    from kserve import InferInput

PIXEL_MIN, PIXEL_MAX = 0.0, 255.0
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
DEFAULT_MAX_IMAGE_PIXELS = DEFAULTS.max_image_pixels
_NUMERIC_V2_TYPES = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}


class InvalidRequest(ValueError):
    """The request cannot be served as sent; the message says what was expected."""


def _shape_text(image_shape):
    h, w, c = image_shape
    alt = f" (or [{h}, {w}])" if c == 1 else ""
    return f"[{h}, {w}, {c}]{alt}"


def check_batch_size(n: int, max_batch_size: int | None) -> None:
    if n == 0:
        raise InvalidRequest("empty batch: expected at least one instance")
    if max_batch_size and n > max_batch_size:
        raise InvalidRequest(f"batch of {n} instances is larger than the server's --max-batch-size {max_batch_size}")


def check_pixels(array: np.ndarray, what: str) -> np.ndarray:
    """Pixel values must be finite numbers in 0-255 (the model rescales inside)."""
    if array.dtype.kind not in "iuf":
        raise InvalidRequest(f"{what}: expected numeric pixel values 0-255, got {_dtype_text(array)}")
    values = array.astype(np.float32, copy=False)
    if not np.isfinite(values).all():
        raise InvalidRequest(f"{what}: expected pixel values 0-255, got NaN or infinity")
    low, high = float(values.min()), float(values.max())
    if low < PIXEL_MIN or high > PIXEL_MAX:
        raise InvalidRequest(f"{what}: expected pixel values 0-255, got values in [{low:g}, {high:g}]")
    return values


def _dtype_text(array):
    kinds = {"b": "booleans", "U": "strings", "S": "bytes", "O": "non-numeric values (strings, objects or mixed)"}
    return kinds.get(array.dtype.kind, str(array.dtype))


def decode_image(
    data: bytes | str, params: Mapping[str, object], what: str = "image", max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> np.ndarray:
    """PNG/JPEG bytes (raw or base64, bytes or str) of any size -> float32 [H, W, C] in 0-255,
    preprocessed with `params` (the model's preprocessing) as ingest preprocessed its images."""
    from PIL import Image, UnidentifiedImageError

    raw = _image_bytes(data, what)
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.format not in ("PNG", "JPEG"):
                raise InvalidRequest(f"{what}: expected a PNG or JPEG image, got {image.format}")
            # The size comes from the header: refuse before decoding (a small file can hold a huge image).
            _check_pixel_count(*image.size, max_pixels, params, what)
            pixels = preprocess(image, params)
    except InvalidRequest:
        raise
    except UnidentifiedImageError:
        raise InvalidRequest(f"{what}: the bytes are not an image; expected a PNG or JPEG file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidRequest(
            f"{what}: could not decode the image ({e}); expected a complete PNG or JPEG file"
        ) from None
    return pixels.astype(np.float32)


def _check_pixel_count(width, height, max_pixels, params, what):
    if width * height > max_pixels:
        raise InvalidRequest(
            f"{what}: a {width}x{height} image is larger than this server's limit of {max_pixels} pixels "
            f"(distml serve --max-image-pixels); expected an image of at most that many pixels, "
            f"resized to the model's {params['width']}x{params['height']} as at ingest"
        )


def _image_shape(params):
    return params["height"], params["width"], params["channels"]


def _is_image_array_shape(shape):
    """[h, w] or [h, w, 1 | 3 | 4] with h, w >= 1: an image `preprocess` takes."""
    return len(shape) in (2, 3) and all(d >= 1 for d in shape[:2]) and (len(shape) == 2 or shape[2] in (1, 3, 4))


def preprocess_pixels(
    array: np.ndarray, params: Mapping[str, object], what: str, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Checked pixels [h, w(, c)] of another size or channel count -> float32 [H, W, C], as ingest."""
    _check_pixel_count(array.shape[1], array.shape[0], max_pixels, params, what)
    values = check_pixels(array, what)
    return preprocess(values, params).astype(np.float32)


def _image_bytes(data, what):
    if isinstance(data, bytes) and data.startswith(_IMAGE_MAGIC):
        return data
    if isinstance(data, (bytes, str)):
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"{what}: expected PNG/JPEG bytes or their base64 encoding, got neither") from None
    raise InvalidRequest(f"{what}: expected base64-encoded PNG/JPEG as a string, got {type(data).__name__}")


_IMAGE_SHAPES = "[h, w], [h, w, 1], [h, w, 3] or [h, w, 4]"


def _pixel_array(value, params, what, max_pixels):
    image_shape = _image_shape(params)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise InvalidRequest(
            f"{what}: expected a nested list of shape {_shape_text(image_shape)} (or an image {_IMAGE_SHAPES} of any size), got a ragged list"
        ) from None
    h, w, c = image_shape
    if array.dtype.kind in "US":
        raise InvalidRequest(
            f'{what}: expected numeric pixel values 0-255, got strings (send images as {{"b64": ...}})'
        )
    if array.dtype.kind not in "biuf":
        return check_pixels(array, what)  # says what the values are
    if array.shape == (h, w) and c == 1:
        array = array[..., None]
    if array.shape == (h, w, c):
        return check_pixels(array, what)
    if _is_image_array_shape(array.shape):
        return preprocess_pixels(array, params, what, max_pixels)
    raise InvalidRequest(
        f"{what}: expected shape {_shape_text(image_shape)}, or an image of any size {_IMAGE_SHAPES} "
        f"(resized as at ingest); got {list(array.shape)}"
    )


_V1_PIXELS = re.compile(rb'\s*\{\s*"instances"\s*:\s*(\[[-+.eE0-9,\[\]\s]*\])\s*\}\s*', re.DOTALL)
_NOT_SKELETON = b"0123456789.eE+- \t\r\n"
# whitespace inside what would be one number once whitespace is dropped ("1 2"): not JSON
_SPLIT_NUMBER = re.compile(rb"[-+.eE0-9]\s+[-+.eE0-9]")


@functools.lru_cache(maxsize=8)
def _skeleton(shape):
    """The brackets and commas of a JSON array of `shape` with the numbers taken out."""
    if not shape:
        return b""
    return b"[" + b",".join([_skeleton(shape[1:])] * shape[0]) + b"]"


class PixelBatch:
    """A V1 body already parsed by `parse_v1_pixels` (not a dict: KServe checks dicts' "instances")."""

    __slots__ = ("images",)

    def __init__(self, images: np.ndarray) -> None:
        self.images = images


def parse_v1_pixels(body: bytes, image_shape: Sequence[int]) -> PixelBatch | None:
    """Fast path for the common V1 body `{"instances": <numbers nested as [N, H, W, C]>}`:
    float32 [N, H, W, C] parsed in C without building a Python object per pixel, or None
    when the body is anything else (the generic JSON path then parses it and says what is wrong)."""
    match = _V1_PIXELS.fullmatch(body)
    if match is None:
        return None
    text = match[1]
    if _SPLIT_NUMBER.search(text):
        return None
    skeleton = text.translate(None, _NOT_SKELETON)
    h, w, c = image_shape
    for shape in ((h, w, c), (h, w)) if c == 1 else ((h, w, c),):
        one = _skeleton(shape)
        n = (len(skeleton) + 1) // (len(one) + 1) if len(skeleton) > 2 else 0
        if n and skeleton == b"[" + b",".join([one] * n) + b"]":
            break
    else:
        return None
    numbers = text.translate(None, b"[] \t\r\n")
    values = _parse_unsigned_ints(numbers) if _UNSIGNED_INTS.fullmatch(numbers) else None
    if values is None:
        try:
            values = np.array(numbers.split(b","), dtype=np.float32)
        except ValueError:
            return None
    if values.size != n * h * w * c:
        return None
    return PixelBatch(values.astype(np.float32, copy=False).reshape(n, h, w, c))


_UNSIGNED_INTS = re.compile(rb"(?:[0-9]{1,9},)*[0-9]{1,9}")
_POWERS_OF_TEN = 10 ** np.arange(10, dtype=np.int64)


def _parse_unsigned_ints(text):
    """b"0,12,255" (matching _UNSIGNED_INTS) -> int64 [0, 12, 255], with array operations only."""
    chars = np.frombuffer(text, np.uint8)
    is_comma = chars == ord(",")
    commas = np.flatnonzero(is_comma)
    starts = np.concatenate(([0], commas + 1))
    ends = np.append(commas, len(chars))
    place = ends[np.cumsum(is_comma)] - 1 - np.arange(len(chars))  # 0 for a number's last digit, 0-8
    values = (chars.astype(np.int64) - ord("0")) * _POWERS_OF_TEN[place]
    values[is_comma] = 0
    return np.add.reduceat(values, starts)


def decode_v1(
    payload: object,
    params: Mapping[str, object],
    max_batch_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """A V1 body (or its PixelBatch) -> float32 [N, H, W, C]; `params`: the model's preprocessing."""
    if isinstance(payload, PixelBatch):  # parsed for the version served then; a swap may have come since
        images = payload.images
        check_batch_size(len(images), max_batch_size)
        if images.shape[1:] == _image_shape(params):
            return check_pixels(images, "instances")
        return np.stack(
            [preprocess_pixels(image, params, f"instance {i}", max_pixels) for i, image in enumerate(images)]
        )
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InvalidRequest('expected a JSON object {"instances": [...]} (V1 protocol)')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise InvalidRequest(f'expected "instances" to be a list, got {type(instances).__name__}')
    check_batch_size(len(instances), max_batch_size)
    return np.stack([_decode_instance(item, params, f"instance {i}", max_pixels) for i, item in enumerate(instances)])


def _decode_instance(item, params, what, max_pixels):
    if isinstance(item, dict) and set(item) == {INPUT_NAME}:
        item = item[INPUT_NAME]
    if isinstance(item, dict):
        if set(item) != {"b64"}:
            raise InvalidRequest(
                f'{what}: expected a pixel array or {{"b64": "<base64 PNG/JPEG>"}}, got an object with keys {sorted(item)}'
            )
        if not isinstance(item["b64"], str):
            raise InvalidRequest(f'{what}: expected "b64" to be a base64 string, got {type(item["b64"]).__name__}')
        return decode_image(item["b64"], params, what, max_pixels)
    if isinstance(item, list):
        return _pixel_array(item, params, what, max_pixels)
    raise InvalidRequest(
        f"{what}: expected a pixel array of shape {_shape_text(_image_shape(params))} (or {_IMAGE_SHAPES} of any size) "
        f'or {{"b64": "<base64 PNG/JPEG>"}}, got {type(item).__name__}'
    )


def decode_v2(
    infer_inputs: Sequence[InferInput],
    params: Mapping[str, object],
    max_batch_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """V2 inputs (objects with .name, .datatype, .shape, .as_numpy()) -> float32 [N, H, W, C];
    `params`: the model's preprocessing."""
    h, w, c = _image_shape(params)
    expected = (
        f"one input tensor: numeric (e.g. FP32) of shape [N, {h}, {w}, {c}] (or [N, h, w, 1 | 3 | 4] or "
        "[N, h, w] of any size, resized as at ingest) with pixel values 0-255, "
        "or BYTES of shape [N] with PNG/JPEG images"
    )
    if len(infer_inputs) != 1:
        raise InvalidRequest(f"expected {expected}; got {len(infer_inputs)} input tensors")
    tensor = infer_inputs[0]
    datatype, shape = tensor.datatype, list(tensor.shape)
    what = f"input {tensor.name!r}"
    # Everything below is decided from the declared shape, before the data is converted.
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidRequest(f"{what}: expected a shape of non-negative integers, got {shape}")
    if datatype == "BYTES":
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise InvalidRequest(f"{what}: expected a BYTES tensor of shape [N] (one encoded image each), got {shape}")
        check_batch_size(shape[0], max_batch_size)
        items = _as_numpy(tensor, what, expected).reshape(-1)
        return np.stack([decode_image(item, params, f"{what} image {i}", max_pixels) for i, item in enumerate(items)])
    if datatype not in _NUMERIC_V2_TYPES:
        raise InvalidRequest(f"{what}: datatype {datatype} is not accepted; expected {expected}")
    exact = shape[1:] in ([h, w, c], [h, w] if c == 1 else None)
    if not exact and not _is_image_array_shape(shape[1:]):
        raise InvalidRequest(
            f"{what}: expected shape [N, {h}, {w}, {c}] (or [N, h, w, 1 | 3 | 4] or [N, h, w] of any size, "
            f"resized as at ingest), got {shape}"
        )
    check_batch_size(shape[0], max_batch_size)
    if not exact:
        _check_pixel_count(shape[2], shape[1], max_pixels, params, what)
    array = _as_numpy(tensor, what, expected)
    if exact:
        return check_pixels(array, what).reshape(shape[0], h, w, c)
    array = array.reshape(shape)
    return np.stack(
        [preprocess_pixels(image, params, f"{what} image {i}", max_pixels) for i, image in enumerate(array)]
    )


def _as_numpy(tensor, what, expected):
    try:
        return tensor.as_numpy()
    except (ValueError, TypeError, OverflowError) as e:
        raise InvalidRequest(
            f"{what}: data does not match its declared shape {list(tensor.shape)} and datatype {tensor.datatype} ({e}); expected {expected}"
        ) from None
