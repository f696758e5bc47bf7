"""`distml serve` with a trained model: V1/V2 over REST and gRPC through KServe's own clients
and plain HTTP, health endpoints, and every kind of bad input."""

import asyncio
import base64

import numpy as np
import pytest

from tests.serve.conftest import accuracy, local_predictions, make_repo, png_b64
from tests.serve.server import Server

MODEL = "digits"
MAX_BATCH = 8


@pytest.fixture(scope="module")
def served(trained_models, tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("repo"), MODEL, trained_models["cnn"])
    server = Server(repo, MODEL, tmp_path_factory.mktemp("logs") / "serve.log", max_batch_size=MAX_BATCH)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def expected(trained_models, test_images):
    """Eight real test images, their labels and the class ids the served SavedModel gives them."""
    images, labels = test_images[0][:MAX_BATCH], test_images[1][:MAX_BATCH]
    return images, labels, local_predictions(trained_models["cnn"], images)


def pixels_v1(images):
    return {"instances": images.astype(int).tolist()}


def test_health_endpoints(served):
    assert served.get("/v2/health/live") == (200, {"live": True})
    assert served.get("/v2/health/ready") == (200, {"ready": True})
    assert served.get(f"/v2/models/{MODEL}/ready") == (200, {"name": MODEL, "ready": True})
    assert served.get(f"/v1/models/{MODEL}") == (200, {"name": MODEL, "ready": True})
    status, metadata = served.get(f"/v2/models/{MODEL}")
    assert status == 200
    assert metadata["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28, 1]}]
    assert served.get("/v2/models/nope/ready")[0] == 404


def test_v1_plain_http_pixels_and_png(served, expected):
    images, labels, class_ids = expected
    status, body = served.post(f"/v1/models/{MODEL}:predict", pixels_v1(images))
    assert status == 200, body
    assert [p["class_id"] for p in body["predictions"]] == class_ids.tolist()
    assert [p["class_name"] for p in body["predictions"]] == [str(i) for i in class_ids]  # digits: class names "0".."9"
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-3 and len(p["probabilities"]) == 10 for p in body["predictions"])
    assert body["model_version"] == "1"
    assert accuracy(class_ids, labels) >= 0.5

    status, body = served.post(f"/v1/models/{MODEL}:predict", {"instances": [{"b64": png_b64(im)} for im in images]})
    assert status == 200, body
    assert [p["class_id"] for p in body["predictions"]] == class_ids.tolist()
    # What a person who runs `distml serve` reads: no TensorFlow banner, no FastAPI deprecation
    # warning (KServe's ORJSONResponse, on the first request); distml's own lines.
    output = served.log()
    for noise in ("oneDNN", "absl::InitializeLog", "Deprecat"):
        assert noise not in output, noise
    assert f"serving {MODEL} version 1" in output


def test_kserve_rest_client_v1_and_v2(served, expected):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    images, _, class_ids = expected

    async def calls():
        v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
        v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            v1_body = await v1.infer(
                served.base_url, {"instances": [{"b64": png_b64(im)} for im in images]}, model_name=MODEL
            )
            pixels = InferInput("images", list(images.shape), "FP32")
            pixels.set_data_from_numpy(images.astype(np.float32), binary_data=False)
            pngs = InferInput("images", [len(images)], "BYTES", [png_b64(im) for im in images])
            binary = InferInput("images", list(images.shape), "UINT8")  # V2 binary tensor extension
            binary.set_data_from_numpy(images, binary_data=True)
            responses = [
                await v2.infer(served.base_url, InferRequest(MODEL, [tensor]), model_name=MODEL)
                for tensor in (pixels, pngs, binary)
            ]
        finally:
            await v1.close()
            await v2.close()
        return v1_body, responses

    v1_body, responses = asyncio.run(calls())
    assert [p["class_id"] for p in v1_body["predictions"]] == class_ids.tolist()
    for response in responses:
        outputs = {o.name: o for o in response.outputs}
        assert outputs["class_ids"].as_numpy().tolist() == class_ids.tolist()
        assert [str(n) for n in outputs["class_names"].as_numpy()] == [str(i) for i in class_ids]
        assert outputs["probabilities"].as_numpy().reshape(len(images), 10).argmax(1).tolist() == class_ids.tolist()


def test_kserve_grpc_client(served, expected):
    import grpc
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    images, _, class_ids = expected
    pixels = InferInput("images", list(images.shape), "UINT8")
    pixels.set_data_from_numpy(images, binary_data=True)  # raw_input_contents
    raw_pngs = InferInput("images", [len(images)], "BYTES", [base64.b64decode(png_b64(im)) for im in images])
    too_bright = InferInput("images", [1, 28, 28, 1], "FP32")
    too_bright.set_data_from_numpy(np.full((1, 28, 28, 1), 300, np.float32), binary_data=False)

    async def calls():
        client = InferenceGRPCClient(served.grpc_url, retries=2)
        try:
            assert await client.is_server_ready()
            assert await client.is_model_ready(MODEL)
            good = [await client.infer(InferRequest(MODEL, [tensor])) for tensor in (pixels, raw_pngs)]
            with pytest.raises(grpc.RpcError) as bad:
                await client.infer(InferRequest(MODEL, [too_bright]))
            return good, bad.value
        finally:
            await client.close()

    good, bad = asyncio.run(calls())
    for response in good:
        outputs = {o.name: o for o in response.outputs}
        assert outputs["class_ids"].as_numpy().tolist() == class_ids.tolist()
        assert [n.decode() for n in outputs["class_names"].as_numpy()] == [str(i) for i in class_ids]
        assert response.model_version == "1"
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected pixel values 0-255" in bad.details()
    assert "Traceback" not in served.log()


def test_grpc_refuses_negative_dims_overflow_and_unknown_versions(served, expected):
    import grpc
    from kserve import InferenceGRPCClient, InferInput, InferRequest
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

    images = expected[0]
    unbounded = InferInput("images", [2 * len(images), 28, 28, 1], "UINT8")
    unbounded.set_data_from_numpy(np.concatenate([images] * 2))  # 16 images declared as [-1, ...]
    unbounded._shape = [-1, 28, 28, 1]
    overflow = InferInput("images", [1, 28, 28, 1], "UINT8", [300] * 784)
    good = InferInput("images", [1, 28, 28, 1], "UINT8")
    good.set_data_from_numpy(images[:1])

    async def calls():
        client = InferenceGRPCClient(served.grpc_url, retries=0)
        codes = []
        try:
            for request in (
                InferRequest(MODEL, [unbounded]),
                InferRequest(MODEL, [overflow]),
                InferRequest(MODEL, [good], model_version="7"),
            ):
                try:
                    await client.infer(request)
                    codes.append("OK")
                except grpc.RpcError as e:
                    codes.append(e.code())
            served_v1 = await client.infer(InferRequest(MODEL, [good], model_version="1"))
            try:
                await client._client_stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name=MODEL))
                codes.append("OK")
            except grpc.RpcError as e:
                codes.append(e.code())
            return codes, served_v1, await client.is_server_live(), await client.is_model_ready(MODEL)
        finally:
            await client.close()

    codes, served_v1, live, ready = asyncio.run(calls())
    assert codes == [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNIMPLEMENTED,
    ]
    assert served_v1.model_version == "1"
    assert live and ready  # the unload was refused: the model still answers
    assert "Traceback" not in served.log()


def test_versioned_urls_and_unknown_versions(served, expected):
    images, _, class_ids = expected
    body = {
        "inputs": [
            {
                "name": "images",
                "shape": [1, 28, 28, 1],
                "datatype": "FP32",
                "data": images[0].astype(float).reshape(-1).tolist(),
            }
        ]
    }
    status, response = served.post(f"/v2/models/{MODEL}/versions/1/infer", body)
    assert status == 200 and response["model_version"] == "1", response
    assert response["outputs"][0]["data"] == [int(class_ids[0])]
    status, response = served.post(f"/v1/models/{MODEL}/versions/1:predict", pixels_v1(images[:1]))
    assert status == 200 and response["predictions"][0]["class_id"] == int(class_ids[0])
    assert served.get(f"/v2/models/{MODEL}/versions/1/ready") == (200, {"name": MODEL, "ready": True})
    assert served.get(f"/v2/models/{MODEL}/versions/1")[0] == 200
    for path in (f"/v2/models/{MODEL}/versions/99/infer", f"/v1/models/{MODEL}/versions/99:predict"):
        status, response = served.post(path, body)
        assert status == 404 and "serves version 1" in response["error"], (path, status, response)
    assert served.get(f"/v2/models/{MODEL}/versions/99/ready")[0] == 404


def test_no_client_can_unload_the_model(served, expected):
    for action in ("unload", "load"):
        assert served.post(f"/v2/repository/models/{MODEL}/{action}", {})[0] == 404
    assert served.get("/v2/health/live") == (200, {"live": True})
    status, body = served.post(f"/v1/models/{MODEL}:predict", pixels_v1(expected[0][:1]))
    assert status == 200 and body["predictions"][0]["class_id"] == int(expected[2][0])


def _bad_requests(image):
    good_pixels = image.astype(int).tolist()
    v2 = lambda **tensor: {
        "inputs": [
            {
                "name": "images",
                "shape": [1, 28, 28, 1],
                "datatype": "FP32",  # noqa: E731
                "data": image.astype(float).reshape(-1).tolist(),
                **tensor,
            }
        ]
    }
    return {
        # case: (path suffix, body, content type, words the error must contain)
        # Images of another size are resized (test_preprocessing.py); two channels are no image.
        "v1 wrong shape": (
            ":predict",
            {"instances": [[[[0, 0]] * 28] * 28]},
            None,
            "expected shape [28, 28, 1] (or [28, 28]), or an image of any size",
        ),
        "v1 wrong dtype": (":predict", {"instances": [[["a"] * 28] * 28]}, None, "expected numeric pixel values"),
        "v1 out of range": (":predict", {"instances": [[[-5] * 28] * 28]}, None, "expected pixel values 0-255"),
        "v1 empty batch": (":predict", {"instances": []}, None, "empty batch"),
        "v1 batch too large": (
            ":predict",
            {"instances": [good_pixels] * (MAX_BATCH + 1)},
            None,
            f"--max-batch-size {MAX_BATCH}",
        ),
        "v1 undecodable image": (
            ":predict",
            {"instances": [{"b64": "aGVsbG8gd29ybGQ="}]},
            None,
            "expected a PNG or JPEG",
        ),
        "v1 not base64": (":predict", {"instances": [{"b64": "%%%"}]}, None, "base64"),
        "v1 malformed json": (":predict", b'{"instances": [', None, "Unrecognized request format"),
        "v1 no instances": (":predict", {"inputs": []}, None, '"instances"'),
        "v1 not json": (":predict", b"hello", "text/plain", '"instances"'),
        "v2 wrong shape": (
            "/infer",
            v2(shape=[1, 28, 28, 2], data=[0] * 28 * 28 * 2),
            None,
            "expected shape [N, 28, 28, 1] (or [N, h, w, 1 | 3 | 4]",
        ),
        "v2 shape/data mismatch": ("/infer", v2(data=[1, 2, 3]), None, "does not match its declared shape"),
        "v2 wrong dtype": ("/infer", v2(datatype="BOOL"), None, "datatype BOOL is not accepted"),
        "v2 out of range": ("/infer", v2(data=[256.0] * 784), None, "expected pixel values 0-255"),
        "v2 empty batch": ("/infer", v2(shape=[0, 28, 28, 1], data=[]), None, "empty batch"),
        # -1 used to pass the batch check, then numpy inferred the batch from the data.
        "v2 negative batch": (
            "/infer",
            v2(shape=[-1, 28, 28, 1], data=[0] * 784 * (MAX_BATCH + 1)),
            None,
            "non-negative",
        ),
        "v2 uint8 overflow": ("/infer", v2(datatype="UINT8", data=[300] * 784), None, "datatype UINT8"),
        "v2 batch too large": (
            "/infer",
            v2(shape=[MAX_BATCH + 1, 28, 28, 1], data=[0] * 784 * (MAX_BATCH + 1)),
            None,
            "--max-batch-size",
        ),
        "v2 undecodable image": (
            "/infer",
            v2(shape=[1], datatype="BYTES", data=["aGVsbG8gd29ybGQ="]),
            None,
            "expected a PNG or JPEG",
        ),
        "v2 malformed json": ("/infer", b'{"inputs": [{"name": ', None, "expected a V2 inference request"),
        "v2 missing fields": ("/infer", {"inputs": [{"name": "images"}]}, None, "expected a V2 inference request"),
    }


def test_bad_inputs_get_400_with_what_was_expected(served, expected):
    images = expected[0]
    failures = []
    for case, (suffix, body, content_type, words) in _bad_requests(images[0]).items():
        prefix = f"/v1/models/{MODEL}" if suffix == ":predict" else f"/v2/models/{MODEL}"
        status, response = served.post(prefix + suffix, body, content_type or "application/json")
        message = (response or {}).get("error", "")
        if status != 400 or words not in message:
            failures.append(f"{case}: {status} {message!r} (wanted 400 mentioning {words!r})")
    assert not failures, "\n".join(failures)
    # One log line per client error, no traceback.
    log = served.log()
    assert "Traceback" not in log
    assert sum(": 400 " in line for line in log.splitlines()) >= len(_bad_requests(images[0]))
    # The server keeps serving after all of that.
    status, body = served.post(f"/v1/models/{MODEL}:predict", pixels_v1(images[:1]))
    assert status == 200 and body["predictions"][0]["class_id"] == int(expected[2][0])
