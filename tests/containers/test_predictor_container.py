"""The InferenceService `distml deploy --target kserve --runtime distml` generates, its
predictor run as KServe runs it: the manifest's container (command, args, env, ports,
security context, read-only root filesystem if asked) with the model volume where the
manifest (or its storageUri) puts it, ready when its readiness probe passes, then answered
by the kserve SDK's REST (V1, V2) and gRPC clients."""

import asyncio
import re

import numpy as np
import pytest
import yaml

from distml.components.common import k8s
from tests.conftest import run_cli
from tests.containers import pods
from tests.containers.engine import fs_group_volume

# The first test to run builds the images (session fixture): minutes on a cold cache.
pytestmark = pytest.mark.timeout(3600)

MODEL = "digits"
MODEL_MOUNT = "/mnt/models"  # where KServe puts the model of a storageUri


def predictor_pod(isvc, claims):
    """The predictor's pod spec, with a pvc:// storageUri mounted as KServe mounts it:
    the claim's path read-only at /mnt/models."""
    predictor = isvc["spec"]["predictor"]
    pod = {k: v for k, v in predictor.items() if k in ("securityContext", "containers", "volumes")}
    uri = predictor.get("model", {}).get("storageUri") or next(
        (e["value"] for e in pods.single_container(pod).get("env", []) if e["name"] == "STORAGE_URI"), None
    )
    if uri:
        match = re.match(r"pvc://([^/]+)/?(.*)$", uri)
        assert match, f"storageUri {uri}: only pvc:// is available here"
        pod["volumes"] = [
            *pod.get("volumes", []),
            {"name": "kserve-pvc-source", "persistentVolumeClaim": {"claimName": match[1], "readOnly": True}},
        ]
        container = pods.single_container(pod)
        container.setdefault("volumeMounts", []).append(
            {"name": "kserve-pvc-source", "mountPath": MODEL_MOUNT, "subPath": match[2], "readOnly": True}
        )
    return pod


def flag(args, name):
    return args[args.index(name) + 1] if name in args else None


def test_predictor_container_answers_kserve_clients(images, trained_models, digits_dataset, tmp_path, network):
    import tensorflow as tf
    from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

    from distml.components.ingest.reader import read_split

    models = tmp_path / "models"  # the models volume; select pushes to its MODEL_REPO_FOLDER
    repo = models / k8s.MODEL_REPO_FOLDER
    run_cli("deploy", "--target", "local", "--repo", repo, "--model-name", MODEL, "--model-dir", trained_models["cnn"])
    fs_group_volume(models, k8s.RUN_AS_USER)
    isvc = yaml.safe_load(
        run_cli("deploy", "--target", "kserve", "--runtime", "distml", "--model-name", MODEL, "--dry-run").stdout
    )
    pod = predictor_pod(isvc, {k8s.MODELS_PVC: models})
    container = pods.single_container(pod)
    name = f"{isvc['metadata']['name']}-predictor"
    pods.create(
        name,
        pod,
        network=network.name,
        claims={k8s.MODELS_PVC: models},
        namespace=isvc["metadata"]["namespace"],
        labels=isvc["metadata"].get("labels"),
        image=images["cpu"],
    )
    pods.docker("start", name)
    base = f"http://{network.ip(name)}"
    pods.wait_http_probe(base, container["readinessProbe"], timeout=180, container=name)
    pods.wait_http_probe(base, {**container["livenessProbe"], "initialDelaySeconds": 0}, timeout=30, container=name)

    http_port = next(p["containerPort"] for p in container["ports"])
    grpc_port = flag(container.get("args", []), "--grpc-port")
    images_, labels = next(iter(read_split(digits_dataset, "test", batch_size=8, shuffle=False)))
    images_ = images_.numpy()
    version = sorted(p.name for p in (repo / MODEL).iterdir())[-1]
    signature = tf.saved_model.load(str(repo / MODEL / version)).signatures["serving_default"]
    expected = signature(images=tf.constant(images_, tf.float32))["class_ids"].numpy().tolist()

    async def calls():
        v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=2))
        v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=2))
        grpc_client = InferenceGRPCClient(f"{network.ip(name)}:{grpc_port}", retries=2)
        try:
            url = f"{base}:{http_port}"
            v1_body = await v1.infer(url, {"instances": images_.astype(int).tolist()}, model_name=MODEL)
            tensor = InferInput("images", list(images_.shape), "FP32")
            tensor.set_data_from_numpy(images_.astype(np.float32), binary_data=False)
            v2_response = await v2.infer(url, InferRequest(MODEL, [tensor]), model_name=MODEL)
            pixels = InferInput("images", list(images_.shape), "UINT8")
            pixels.set_data_from_numpy(images_, binary_data=True)
            assert await grpc_client.is_model_ready(MODEL)
            grpc_response = await grpc_client.infer(InferRequest(MODEL, [pixels]))
            return v1_body, v2_response, grpc_response
        finally:
            await v1.close()
            await v2.close()
            await grpc_client.close()

    v1_body, v2_response, grpc_response = asyncio.run(calls())
    assert [p["class_id"] for p in v1_body["predictions"]] == expected
    for response in (v2_response, grpc_response):
        outputs = {o.name: o for o in response.outputs}
        assert outputs["class_ids"].as_numpy().tolist() == expected
    assert np.mean(np.array(expected) == labels.numpy()) >= 0.5
