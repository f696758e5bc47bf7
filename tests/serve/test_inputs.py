"""The server's request validation (components/serve/inputs.py) on its own: numpy and Pillow,
no server, no TensorFlow. The served paths are in test_serve.py and test_hardening.py; these
pin each rule and its message, and are the `make mutation` target `request_inputs`."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from distml.components.common.preprocessing import preprocess, preprocessing_params
from distml.components.serve import inputs
from distml.components.serve.inputs import (
    InvalidRequest,
    PixelBatch,
    check_batch_size,
    check_pixels,
    decode_image,
    decode_v1,
    decode_v2,
    parse_v1_pixels,
    preprocess_pixels,
)

GRAY = preprocessing_params([8, 8, 1])
RGB = preprocessing_params([6, 5, 3])  # H != W: a swapped height and width shows


def encoded(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def gradient(h, w, channels=None):
    values = (np.arange(h * w).reshape(h, w) * 7 % 256).astype(np.uint8)
    return values if channels is None else np.repeat(values[..., None], channels, axis=-1)


class Tensor:
    """What decode_v2 reads of KServe's InferInput: name, datatype, shape, as_numpy()."""

    def __init__(self, datatype, shape, data=None, name="images", error=None):
        self.name, self.datatype, self.shape, self._data, self._error = name, datatype, shape, data, error

    def as_numpy(self):
        if self._error:
            raise self._error
        assert self._data is not None, "as_numpy read although the declared shape was enough to refuse"
        return np.asarray(self._data)


def refused(match, call, *args, **kwargs):
    with pytest.raises(InvalidRequest, match=match or None) as error:
        call(*args, **kwargs)
    return str(error.value)


# batch size


def test_an_empty_batch_is_refused_and_the_limit_is_inclusive():
    refused(r"^empty batch: expected at least one instance$", check_batch_size, 0, None)
    check_batch_size(1, None)
    check_batch_size(4, 4)
    check_batch_size(5, None)
    check_batch_size(5, 0)  # 0: no limit
    refused(
        r"^batch of 5 instances is larger than the server's --max-batch-size 4$",
        check_batch_size,
        5,
        4,
    )


# pixel values


def test_pixel_values_0_and_255_pass_as_float32():
    values = check_pixels(np.array([[0, 255]], np.uint8), "x")
    assert values.dtype == np.float32 and values.tolist() == [[0.0, 255.0]]
    assert check_pixels(np.array([0.0, 254.5]), "x").dtype == np.float32


@pytest.mark.parametrize(
    "values, shown",
    [([-1, 3], "[-1, 3]"), ([0, 256], "[0, 256]"), ([-0.5, 255.5], "[-0.5, 255.5]")],
)
def test_pixel_values_outside_0_255_are_refused_with_their_range(values, shown):
    assert refused("", check_pixels, np.array(values), "instance 2") == (
        f"instance 2: expected pixel values 0-255, got values in {shown}"
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_are_refused(bad):
    assert refused("", check_pixels, np.array([1.0, bad]), "x") == (
        "x: expected pixel values 0-255, got NaN or infinity"
    )


@pytest.mark.parametrize(
    "array, named",
    [
        (np.array([True, False]), "booleans"),
        (np.array(["a"]), "strings"),
        (np.array([b"a"]), "bytes"),
        (np.array([1, "a", None], dtype=object), "non-numeric values (strings, objects or mixed)"),
        (np.array([1 + 2j]), "complex128"),
    ],
)
def test_non_numeric_pixels_are_named(array, named):
    assert refused("", check_pixels, array, "x") == f"x: expected numeric pixel values 0-255, got {named}"


# encoded images


def test_png_and_jpeg_raw_or_base64_are_preprocessed_as_at_ingest():
    image = gradient(20, 30)
    png = encoded(image)
    want = preprocess(Image.open(io.BytesIO(png)), GRAY).astype(np.float32)
    for data in (png, base64.b64encode(png), base64.b64encode(png).decode()):
        got = decode_image(data, GRAY)
        assert got.dtype == np.float32 and got.shape == (8, 8, 1)
        np.testing.assert_array_equal(got, want)
    jpeg = encoded(gradient(16, 16, 3), "JPEG")
    assert decode_image(jpeg, RGB).shape == (6, 5, 3)


def test_an_image_of_another_format_is_named():
    gif = base64.b64encode(encoded(gradient(4, 4), "GIF"))  # raw, it would not even be taken for an image
    assert refused("", decode_image, gif, GRAY, "instance 0") == "instance 0: expected a PNG or JPEG image, got GIF"


def test_bytes_that_are_no_image_or_a_broken_one_are_refused():
    assert refused("", decode_image, base64.b64encode(b"hello"), GRAY) == (
        "image: the bytes are not an image; expected a PNG or JPEG file"
    )
    truncated = encoded(gradient(20, 20))[:60]
    assert refused(
        r"^image: could not decode the image \(.+\); expected a complete PNG or JPEG file$",
        decode_image,
        truncated,
        GRAY,
    )


def test_data_neither_image_bytes_nor_base64_is_refused():
    assert refused("", decode_image, "not base64!", GRAY) == (
        "image: expected PNG/JPEG bytes or their base64 encoding, got neither"
    )
    assert refused("", decode_image, 12, GRAY, "instance 1") == (
        "instance 1: expected base64-encoded PNG/JPEG as a string, got int"
    )


def test_the_pixel_limit_is_read_from_the_header_and_is_inclusive():
    png = encoded(gradient(10, 12))  # 12 wide, 10 high
    assert decode_image(png, GRAY, max_pixels=120).shape == (8, 8, 1)
    assert refused("", decode_image, png, GRAY, "image 3", max_pixels=119) == (
        "image 3: a 12x10 image is larger than this server's limit of 119 pixels "
        "(distml serve --max-image-pixels); expected an image of at most that many pixels, "
        "resized to the model's 8x8 as at ingest"
    )


def test_the_pixel_limit_names_width_then_height_of_arrays_too():
    array = gradient(3, 40)  # 40 wide, 3 high
    message = refused("", preprocess_pixels, array, RGB, "x", max_pixels=100)
    assert message.startswith("x: a 40x3 image is larger than this server's limit of 100 pixels")
    assert message.endswith("resized to the model's 5x6 as at ingest")
    assert preprocess_pixels(array, RGB, "x", max_pixels=120).shape == (6, 5, 3)


def test_the_default_pixel_limit_is_the_servers():
    from distml.components.serve.spec import DEFAULTS

    side = int(DEFAULTS.max_image_pixels**0.5)
    assert side * side == DEFAULTS.max_image_pixels
    wide = encoded(np.zeros((side, side + 1), np.uint8))  # compresses to a few kB: refused from its header
    refused(
        f"^image: a {side + 1}x{side} image is larger than this server's limit of {side * side} pixels",
        decode_image,
        wide,
        GRAY,
    )
    refused(
        f"^x: a {side}x{side + 1} image is larger", preprocess_pixels, np.zeros((side + 1, side), np.uint8), GRAY, "x"
    )


# pixel arrays (V1 instances)


def test_an_instance_of_the_model_s_shape_is_used_as_sent():
    image = gradient(8, 8)[..., None]
    for instance in (image.tolist(), image[..., 0].tolist()):  # [H, W, 1] or [H, W]
        got = decode_v1({"instances": [instance]}, GRAY)
        assert got.dtype == np.float32 and got.shape == (1, 8, 8, 1)
        np.testing.assert_array_equal(got[0], image)


def test_instances_of_other_sizes_and_channels_are_preprocessed_as_at_ingest():
    for array, params in ((gradient(13, 9), GRAY), (gradient(13, 9, 4), GRAY), (gradient(6, 5), RGB)):
        got = decode_v1({"instances": [array.tolist()]}, params)
        np.testing.assert_array_equal(got[0], preprocess(array, params))


def test_a_gray_model_s_shape_without_channels_is_no_rgb_model_s_shape():
    got = decode_v1({"instances": [gradient(6, 5).tolist()]}, RGB)  # [H, W]: a gray image, made RGB
    assert got.shape == (1, 6, 5, 3) and (got[..., 0] == got[..., 2]).all()


@pytest.mark.parametrize("shape", [[8, 8, 2], [8, 8, 1, 1], [8], [1, 0], [3, 0], [2, 8, 5]])
def test_instances_of_no_image_shape_are_refused(shape):
    message = refused("", decode_v1, {"instances": [np.zeros(shape).tolist()]}, GRAY)
    assert message == (
        "instance 0: expected shape [8, 8, 1] (or [8, 8]), or an image of any size [h, w], [h, w, 1], "
        f"[h, w, 3] or [h, w, 4] (resized as at ingest); got {shape}"
    )


def test_a_ragged_or_textual_instance_is_refused():
    assert "got a ragged list" in refused(
        "^instance 0: expected a nested list of shape", decode_v1, {"instances": [[[1, 2], [3]]]}, GRAY
    )
    assert refused("", decode_v1, {"instances": [[["1", "2"]]]}, RGB) == (
        'instance 0: expected numeric pixel values 0-255, got strings (send images as {"b64": ...})'
    )
    assert refused("", decode_v1, {"instances": [[[1, None]]]}, GRAY).endswith(
        "got non-numeric values (strings, objects or mixed)"
    )


def test_booleans_of_the_model_s_shape_are_refused_by_value():
    booleans = np.ones((8, 8, 1), bool).tolist()
    assert refused("", decode_v1, {"instances": [booleans]}, GRAY) == (
        "instance 0: expected numeric pixel values 0-255, got booleans"
    )


def test_each_instance_is_named_by_its_index():
    good = gradient(8, 8).tolist()
    refused(r"^instance 1: expected pixel values 0-255", decode_v1, {"instances": [good, [[300] * 8] * 8]}, GRAY)


def test_an_instance_in_tf_serving_s_named_input_form_is_unwrapped():
    image = gradient(8, 8)
    got = decode_v1({"instances": [{"images": image.tolist()}]}, GRAY)
    np.testing.assert_array_equal(got[0, ..., 0], image)
    b64 = {"images": {"b64": base64.b64encode(encoded(image)).decode()}}
    np.testing.assert_array_equal(decode_v1({"instances": [b64]}, GRAY)[0, ..., 0], image)


def test_b64_objects_are_decoded_and_other_objects_refused():
    image = gradient(8, 8)
    got = decode_v1({"instances": [{"b64": base64.b64encode(encoded(image)).decode()}]}, GRAY)
    np.testing.assert_array_equal(got[0, ..., 0], image)
    assert refused("", decode_v1, {"instances": [{"b64": "x", "extra": 1}]}, GRAY) == (
        "instance 0: expected a pixel array or {\"b64\": \"<base64 PNG/JPEG>\"}, got an object with keys ['b64', 'extra']"
    )
    assert refused("", decode_v1, {"instances": [{"images": 1, "b64": "x"}]}, GRAY).endswith(
        "got an object with keys ['b64', 'images']"
    )
    assert refused("", decode_v1, {"instances": [{"b64": 5}]}, GRAY) == (
        'instance 0: expected "b64" to be a base64 string, got int'
    )


def test_an_instance_that_is_no_array_or_object_is_refused():
    assert refused("", decode_v1, {"instances": ["abc"]}, GRAY) == (
        "instance 0: expected a pixel array of shape [8, 8, 1] (or [8, 8]) (or [h, w], [h, w, 1], [h, w, 3] or "
        '[h, w, 4] of any size) or {"b64": "<base64 PNG/JPEG>"}, got str'
    )
    assert refused("", decode_v1, {"instances": [1]}, RGB).startswith(
        "instance 0: expected a pixel array of shape [6, 5, 3] (or [h, w]"
    )


def test_a_v1_body_must_be_an_object_with_a_list_of_instances():
    for body in ([], {"inputs": []}, "instances"):
        assert refused("", decode_v1, body, GRAY) == 'expected a JSON object {"instances": [...]} (V1 protocol)'
    assert refused("", decode_v1, {"instances": {"a": 1}}, GRAY) == 'expected "instances" to be a list, got dict'
    refused("^empty batch", decode_v1, {"instances": []}, GRAY)
    refused("--max-batch-size 1$", decode_v1, {"instances": [gradient(8, 8).tolist()] * 2}, GRAY, max_batch_size=1)


# the V1 fast path


def body(instances, **extra):
    return json.dumps({"instances": instances, **extra}).encode()


@pytest.mark.parametrize("params", [GRAY, RGB])
def test_the_fast_path_parses_as_json_does(params):
    h, w, c = params["height"], params["width"], params["channels"]
    images = np.random.default_rng(0).integers(0, 256, (3, h, w, c))
    parsed = parse_v1_pixels(body(images.tolist()), [h, w, c])
    assert parsed.images.dtype == np.float32
    np.testing.assert_array_equal(parsed.images, images)
    np.testing.assert_array_equal(decode_v1(parsed, params), decode_v1({"instances": images.tolist()}, params))


def test_the_fast_path_takes_gray_images_without_channels_numbers_of_any_form_and_whitespace():
    images = np.random.default_rng(1).integers(0, 256, (2, 8, 8))
    text = json.dumps({"instances": images.tolist()}, indent=1).encode()  # newlines and spaces
    np.testing.assert_array_equal(parse_v1_pixels(text, [8, 8, 1]).images[..., 0], images)
    floats = images.astype(float) / 2
    np.testing.assert_array_equal(parse_v1_pixels(body(floats.tolist()), [8, 8, 1]).images[..., 0], floats)
    big = images.copy()
    big[0, 0, 0] = 1_234_567_890  # more digits than the integer parser takes: read as float
    assert parse_v1_pixels(body(big.tolist()), [8, 8, 1]).images[0, 0, 0, 0] == np.float32(1_234_567_890)
    signed = parse_v1_pixels(b'{"instances": [[[1e2, +3], [2.5E-1, 0]]]}', [2, 2, 1])
    assert signed.images[..., 0].tolist() == [[[100.0, 3.0], [0.25, 0.0]]]


def test_the_integer_parser_reads_every_digit_position():
    text = b"0,7,10,255,123456789,1000000"
    assert inputs._parse_unsigned_ints(text).tolist() == [0, 7, 10, 255, 123456789, 1000000]
    assert inputs._parse_unsigned_ints(b"42").tolist() == [42]


@pytest.mark.parametrize(
    "payload",
    [
        body(np.zeros((1, 8, 8, 3)).tolist()),  # another channel count: the generic path resizes
        body(np.zeros((1, 7, 8, 1)).tolist()),
        body([np.zeros((8, 8, 1)).tolist(), np.zeros((8, 8)).tolist()]),  # mixed forms
        body([]),
        body(np.zeros((1, 8, 8, 1)).tolist(), extra=1),  # another key
        body([{"b64": "x"}]),
        b'{"instances": [[[1, 2]]]',  # not JSON
        b'{"instances": [[[1--2]]]}',  # no 8x8 skeleton
    ],
)
def test_the_fast_path_leaves_everything_else_to_the_json_path(payload):
    assert parse_v1_pixels(payload, [8, 8, 1]) is None


def test_the_fast_path_refuses_numbers_that_do_not_fill_the_skeleton():
    good = body(np.zeros((1, 8, 8, 1), int).tolist())
    assert parse_v1_pixels(good, [8, 8, 1]).images.shape == (1, 8, 8, 1)
    assert parse_v1_pixels(good.replace(b"0", b"", 1), [8, 8, 1]) is None  # an empty number
    assert parse_v1_pixels(good.replace(b"0", b"1-2", 1), [8, 8, 1]) is None  # no number
    assert parse_v1_pixels(good.replace(b"0", b"1,2", 1), [8, 8, 1]) is None  # one too many


def test_the_skeleton_of_a_shape():
    assert inputs._skeleton(()) == b""
    assert inputs._skeleton((2,)) == b"[,]"
    assert inputs._skeleton((2, 1)) == b"[[],[]]"
    assert inputs._skeleton((1, 3)) == b"[[,,]]"


def test_a_fast_parsed_batch_is_checked_and_preprocessed_for_the_model_served_now():
    images = np.random.default_rng(2).integers(0, 256, (2, 6, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(decode_v1(PixelBatch(images), RGB), images)
    # parsed for a gray 6x5x3 model... served now: the 8x8x1 one (a swap in between)
    swapped = decode_v1(PixelBatch(images), GRAY)
    np.testing.assert_array_equal(swapped, np.stack([preprocess(i, GRAY) for i in images]))
    refused("^instances: expected pixel values 0-255", decode_v1, PixelBatch(images + 300), RGB)
    refused(r"^instance 1: expected pixel values 0-255", decode_v1, PixelBatch(images + [[[[0]]], [[[300]]]]), GRAY)
    refused("--max-batch-size 1$", decode_v1, PixelBatch(images), RGB, max_batch_size=1)
    refused("^empty batch", decode_v1, PixelBatch(images[:0]), RGB)
    refused("^instance 0: a 5x6 image is larger", decode_v1, PixelBatch(images), GRAY, max_pixels=29)


# V2


def test_v2_numeric_tensors_of_the_model_s_shape_are_used_as_sent():
    images = np.random.default_rng(3).integers(0, 256, (2, 6, 5, 3))
    for datatype in ("UINT8", "INT64", "FP32", "FP64"):
        got = decode_v2([Tensor(datatype, [2, 6, 5, 3], images)], RGB)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, images)
    gray = images[..., 0]
    np.testing.assert_array_equal(decode_v2([Tensor("FP32", [2, 6, 5], gray)], GRAY)[..., 0].shape, (2, 8, 8))
    flat = decode_v2([Tensor("UINT8", [2, 8, 8], np.zeros((2, 8, 8)))], GRAY)  # [N, H, W] for a gray model
    assert flat.shape == (2, 8, 8, 1)


def test_v2_tensors_of_other_sizes_are_preprocessed_as_at_ingest():
    images = np.random.default_rng(4).integers(0, 256, (2, 10, 7, 4)).astype(np.uint8)
    got = decode_v2([Tensor("UINT8", [2, 10, 7, 4], images)], RGB)
    np.testing.assert_array_equal(got, np.stack([preprocess(i, RGB) for i in images]))
    refused(
        r"^input 'images' image 1: expected pixel values",
        decode_v2,
        [Tensor("FP32", [2, 3, 3], [np.zeros((3, 3)), np.full((3, 3), 256.0)])],
        GRAY,
    )


def test_v2_bytes_tensors_hold_one_encoded_image_each():
    image = gradient(12, 12)
    png = encoded(image)
    for shape, data in (([2], [png, base64.b64encode(png)]), ([1, 1], [[png]])):
        got = decode_v2([Tensor("BYTES", shape, np.array(data, dtype=object))], GRAY)
        assert got.shape == (shape[0], 8, 8, 1)
        np.testing.assert_array_equal(got[0], preprocess(image, GRAY))
    refused(
        "^input 'images' image 0: the bytes are not an image",
        decode_v2,
        [Tensor("BYTES", [1], np.array([base64.b64encode(b"x")], dtype=object))],
        GRAY,
    )


@pytest.mark.parametrize("shape", [[2, 2], [1, 1, 1], []])
def test_v2_bytes_tensors_of_another_shape_are_refused(shape):
    message = refused("", decode_v2, [Tensor("BYTES", shape)], GRAY)
    expected = (
        f"input 'images': expected a BYTES tensor of shape [N] (one encoded image each), got {shape}"
        if shape
        else "input 'images': expected a shape of non-negative integers, got []"
    )
    assert message == expected


@pytest.mark.parametrize("shape", [[-1, 8, 8, 1], [1, 8.0, 8, 1], [1, True, 8, 1], [1, "8", 8, 1]])
def test_v2_shapes_must_be_non_negative_integers(shape):
    assert refused("", decode_v2, [Tensor("FP32", shape)], GRAY) == (
        f"input 'images': expected a shape of non-negative integers, got {shape}"
    )


def test_v2_one_input_tensor_of_a_numeric_datatype():
    expected = (
        "one input tensor: numeric (e.g. FP32) of shape [N, 6, 5, 3] (or [N, h, w, 1 | 3 | 4] or [N, h, w] of "
        "any size, resized as at ingest) with pixel values 0-255, or BYTES of shape [N] with PNG/JPEG images"
    )
    assert refused("", decode_v2, [], RGB) == f"expected {expected}; got 0 input tensors"
    two = [Tensor("FP32", [1, 6, 5, 3]), Tensor("FP32", [1, 6, 5, 3])]
    assert refused("", decode_v2, two, RGB) == f"expected {expected}; got 2 input tensors"
    for datatype in ("BOOL", "FP8", "fp32", "STRING"):
        assert refused("", decode_v2, [Tensor(datatype, [1, 6, 5, 3], name="x")], RGB) == (
            f"input 'x': datatype {datatype} is not accepted; expected {expected}"
        )
    for datatype in sorted(inputs._NUMERIC_V2_TYPES):
        assert decode_v2([Tensor(datatype, [1, 6, 5, 3], np.zeros((1, 6, 5, 3)))], RGB).shape == (1, 6, 5, 3)


@pytest.mark.parametrize("shape", [[1, 6, 5, 2], [1, 6, 5, 3, 1], [1, 6], [1, 0, 5, 3], [1, 6, 0]])
def test_v2_numeric_shapes_that_are_no_image_are_refused_before_the_data_is_read(shape):
    assert refused("", decode_v2, [Tensor("FP32", shape)], RGB) == (
        "input 'images': expected shape [N, 6, 5, 3] (or [N, h, w, 1 | 3 | 4] or [N, h, w] of any size, "
        f"resized as at ingest), got {shape}"
    )


def test_v2_batch_and_pixel_limits_are_checked_before_the_data_is_read():
    refused("^empty batch", decode_v2, [Tensor("FP32", [0, 6, 5, 3])], RGB)
    refused("--max-batch-size 2$", decode_v2, [Tensor("FP32", [3, 6, 5, 3])], RGB, max_batch_size=2)
    refused("--max-batch-size 2$", decode_v2, [Tensor("BYTES", [3])], RGB, max_batch_size=2)
    refused(
        "^input 'images': a 40x3 image is larger than this server's limit of 119 pixels",
        decode_v2,
        [Tensor("UINT8", [1, 3, 40])],
        RGB,
        max_pixels=119,
    )
    ok = decode_v2([Tensor("UINT8", [1, 3, 40], np.zeros((1, 3, 40)))], RGB, max_pixels=120)
    assert ok.shape == (1, 6, 5, 3)
    # the model's own shape is not limited (the limit guards resizing)
    assert decode_v2([Tensor("UINT8", [1, 6, 5, 3], np.zeros((1, 6, 5, 3)))], RGB, max_pixels=1).shape == (1, 6, 5, 3)


@pytest.mark.parametrize("error", [ValueError("bad"), TypeError("bad"), OverflowError("bad")])
def test_v2_data_that_does_not_match_its_declaration_is_refused(error):
    expected_prefix = "input 'images': data does not match its declared shape [1, 6, 5, 3] and datatype FP32 (bad); expected one input tensor"
    assert refused("", decode_v2, [Tensor("FP32", [1, 6, 5, 3], error=error)], RGB).startswith(expected_prefix)
    assert "datatype BYTES (bad)" in refused("", decode_v2, [Tensor("BYTES", [1], error=error)], RGB)


def test_v2_out_of_range_values_of_the_model_s_shape_are_refused():
    data = np.zeros((1, 6, 5, 3), np.int64)
    data[0, 1, 2, 0] = 256
    refused(
        r"^input 'images': expected pixel values 0-255, got values in \[0, 256\]$",
        decode_v2,
        [Tensor("INT64", [1, 6, 5, 3], data)],
        RGB,
    )


# Rules the first mutation run showed untested (docs/testing.md)


def test_a_batch_under_the_limit_passes():
    check_batch_size(3, 4)


def test_pixels_of_the_model_s_shape_are_not_rounded_but_other_sizes_are_as_at_ingest():
    halves = np.full((8, 8), 0.5)
    for instance in (halves, halves[..., None]):  # [H, W] or [H, W, 1]: used as sent
        assert (decode_v1({"instances": [instance.tolist()]}, GRAY) == 0.5).all()
    assert (decode_v2([Tensor("FP32", [1, 8, 8], halves[None])], GRAY) == 0.5).all()
    assert (decode_v1({"instances": [np.full((9, 8), 0.5).tolist()]}, GRAY) == 0.0).all()  # rint, as ingest


def test_a_gray_image_without_channels_sent_to_an_rgb_model_is_resized_not_taken_as_is():
    gray = gradient(6, 5)
    got = decode_v2([Tensor("UINT8", [1, 6, 5], gray[None])], RGB)
    np.testing.assert_array_equal(got[0], preprocess(gray, RGB))


def test_images_one_pixel_high_and_of_each_channel_count_are_preprocessed():
    for array in (gradient(1, 3), gradient(13, 9, 1), gradient(13, 9, 3), gradient(13, 9, 4)):
        got = decode_v1({"instances": [array.tolist()]}, GRAY)
        np.testing.assert_array_equal(got[0], preprocess(array, GRAY))


def test_a_fast_parsed_batch_of_a_larger_shape_is_resized():
    images = np.random.default_rng(5).integers(0, 256, (2, 10, 10, 1)).astype(np.float32)
    got = decode_v1(PixelBatch(images), GRAY)
    np.testing.assert_array_equal(got, np.stack([preprocess(i, GRAY) for i in images]))


def test_the_fast_path_counts_instances_of_small_images_right():
    images = np.random.default_rng(6).integers(0, 256, (50, 2, 2, 1))
    np.testing.assert_array_equal(parse_v1_pixels(body(images.tolist()), [2, 2, 1]).images, images)
    np.testing.assert_array_equal(parse_v1_pixels(body(images[..., 0].tolist()), [2, 2, 1]).images, images)


@pytest.mark.parametrize(
    "instances",
    [
        b"[[[[1], [2], [3]], [[4]]]]",  # four numbers, as many as a 2x2x1 image, but ragged
        b"[[[[1]], [[2], [3], [4]]]]",
        b"[[[1, 2, 3], [4]]]",
        b"[[[1], [2, 3, 4]]]",
    ],
)
def test_the_fast_path_leaves_ragged_bodies_with_the_right_count_to_the_json_path(instances):
    assert parse_v1_pixels(b'{"instances": ' + instances + b"}", [2, 2, 1]) is None


def test_objects_without_b64_are_refused():
    for item, keys in (({}, "[]"), ({"x": 1}, "['x']")):
        assert refused("", decode_v1, {"instances": [item]}, GRAY) == (
            f'instance 0: expected a pixel array or {{"b64": "<base64 PNG/JPEG>"}}, got an object with keys {keys}'
        )


def test_base64_with_characters_outside_the_alphabet_is_refused():
    png = base64.b64encode(encoded(gradient(8, 8))).decode()
    assert refused("", decode_image, png + "!", GRAY) == (
        "image: expected PNG/JPEG bytes or their base64 encoding, got neither"
    )


def test_v2_datatype_is_read_by_value():
    png = encoded(gradient(8, 8))
    bytes_type = "".join(["BY", "TES"])  # as parsed from a request: not the module's own literal
    assert decode_v2([Tensor(bytes_type, [1], np.array([png], dtype=object))], GRAY).shape == (1, 8, 8, 1)


def test_v2_bytes_of_shape_n_by_1_count_n_images():
    png = encoded(gradient(8, 8))
    got = decode_v2([Tensor("BYTES", [2, 1], np.array([[png], [png]], dtype=object))], GRAY)
    assert got.shape == (2, 8, 8, 1)
    refused("--max-batch-size 2$", decode_v2, [Tensor("BYTES", [3, 1])], GRAY, max_batch_size=2)
    assert refused("", decode_v2, [Tensor("BYTES", [1, 0])], GRAY) == (
        "input 'images': expected a BYTES tensor of shape [N] (one encoded image each), got [1, 0]"
    )


@pytest.mark.parametrize("numbers", [b"1 2", b"1\n2", b"1. 5", b"1 e2", b"- 1"])
def test_the_fast_path_does_not_join_numbers_split_by_whitespace(numbers):
    """`[[[1 2]]]` is no JSON: the fast path read it as 12 (its whitespace dropped) and served it."""
    assert parse_v1_pixels(b'{"instances": [[[' + numbers + b"]]]}", [1, 1, 1]) is None
    with pytest.raises(ValueError):
        json.loads(b'{"instances": [[[' + numbers + b"]]]}")
