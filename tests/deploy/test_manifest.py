"""InferenceService manifests: built as documented and valid against the KServe CRD."""

import pytest
import yaml

from distml.components.common import k8s
from distml.components.common.errors import UsageError
from distml.components.common.model_artifact import repository_path
from distml.components.common.params import KFP
from distml.components.common.ports import GRPC_PORT, HTTP_PORT
from distml.components.deploy.core import deploy_kserve
from distml.components.deploy.manifest import build_inference_service, storage_uri_for
from distml.components.select.spec import SPEC as SELECT
from tests.conftest import run_cli

VARIANTS = {
    "tfserving": dict(runtime="tfserving"),
    "distml": dict(runtime="distml", max_batch_size=32),
    "canary": dict(runtime="tfserving", canary_traffic_percent=10, min_replicas=1, max_replicas=3),
    "gpu": dict(runtime="distml", gpus=1, deployment_mode="Standard"),
    "standard-canary": dict(runtime="distml", deployment_mode="Standard", canary_traffic_percent=20, model_version="3"),
    "tfserving-gpu": dict(runtime="tfserving", gpus=2, storage_uri="pvc://distml-models/repo/digits"),
}


def test_every_variant_validates_against_the_kserve_crd(tmp_path, validate_manifests):
    for variant, options in VARIANTS.items():
        deploy_kserve("digits", dry_run=True, manifest_out=tmp_path / f"{variant}.yaml", **options)
    validate_manifests(*sorted(tmp_path.glob("*.yaml")))


def test_tfserving_predictor_reads_the_model_folder_with_restricted_pods():
    isvc = build_inference_service("digits")
    predictor = isvc["spec"]["predictor"]
    assert isvc["metadata"]["namespace"] == k8s.NAMESPACE
    assert predictor["model"]["modelFormat"] == {"name": "tensorflow"}
    assert predictor["model"]["storageUri"] == f"pvc://{k8s.MODELS_PVC}/{k8s.MODEL_REPO_FOLDER}/digits"
    assert predictor["serviceAccountName"] == k8s.PREDICTOR_SERVICE_ACCOUNT
    assert predictor["priorityClassName"] == k8s.PRIORITY_PRODUCTION
    assert predictor["securityContext"] == k8s.pod_security_context()
    assert predictor["model"]["securityContext"] == k8s.container_security_context()
    assert "canaryTrafficPercent" not in predictor and "nodeSelector" not in predictor


def test_distml_predictor_serves_the_repository_on_the_pvc():
    isvc = build_inference_service(
        "digits-prod", runtime="distml", model_name="digits", storage_uri="pvc://distml-models/repo/digits", gpus=1
    )
    predictor = isvc["spec"]["predictor"]
    container = predictor["containers"][0]
    args = dict(zip(container["args"][::2], container["args"][1::2]))
    assert container["command"] == ["distml", "serve"]
    assert args["--repo"] == f"{k8s.MODELS_MOUNT}/repo" and args["--model-name"] == "digits"
    assert args["--served-name"] == "digits-prod"
    assert args["--host"] == "0.0.0.0"  # distml serve binds loopback unless told
    assert container["image"] == k8s.GPU_IMAGE
    assert container["resources"]["limits"][k8s.GPU_RESOURCE] == "1"
    assert predictor["volumes"] == [
        {"name": "models", "persistentVolumeClaim": {"claimName": "distml-models", "readOnly": True}}
    ]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/digits-prod/ready"
    assert predictor["tolerations"] and predictor["nodeSelector"]


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(name="Digits"), "lowercase"),
        (dict(canary_traffic_percent=120), "0-100"),
        (dict(deployment_mode="ModelMesh"), "unknown deployment mode"),
        (dict(min_replicas=3, max_replicas=1), "min"),
        (dict(runtime="distml", storage_uri="s3://bucket/digits"), "pvc://"),
        (dict(runtime="triton"), "unknown runtime"),
    ],
)
def test_impossible_requests_are_usage_errors(options, words):
    name = options.pop("name", "digits")
    with pytest.raises(UsageError, match=words):
        build_inference_service(name, **options)


def test_tf_serving_runs_the_tensorflow_release_that_trains():
    """KServe's bundled TF Serving (2.6.2) is older than the models' TensorFlow; the pinned
    runtimeVersion is the trainer's release from the lock, -gpu with GPUs."""
    import re

    from tests.conftest import REPO

    locked = re.search(r"^tensorflow-cpu==(\S+) ", (REPO / "requirements" / "dev.lock").read_text(), re.M)[1]
    assert build_inference_service("digits")["spec"]["predictor"]["model"]["runtimeVersion"] == locked
    assert build_inference_service("digits", gpus=1)["spec"]["predictor"]["model"]["runtimeVersion"] == f"{locked}-gpu"
    chosen = build_inference_service("digits", runtime_version="2.20.0")
    assert chosen["spec"]["predictor"]["model"]["runtimeVersion"] == "2.20.0"


@pytest.mark.parametrize("old, new", [("RawDeployment", "Standard"), ("Serverless", "Knative")])
def test_deployment_modes_use_kserves_current_names(old, new):
    annotation = "serving.kserve.io/deploymentMode"
    assert build_inference_service("digits", deployment_mode=old)["metadata"]["annotations"][annotation] == new
    assert build_inference_service("digits", deployment_mode=new)["metadata"]["annotations"][annotation] == new


def test_canary_is_a_traffic_percent_in_knative_and_a_named_canary_in_standard_mode():
    knative = build_inference_service("digits", canary_traffic_percent=10, deployment_mode="Knative")
    assert knative["spec"]["predictor"]["canaryTrafficPercent"] == 10 and "canary" not in knative["spec"]
    standard = build_inference_service(
        "digits", canary_traffic_percent=10, deployment_mode="Standard", model_version="7"
    )
    assert "canaryTrafficPercent" not in standard["spec"]["predictor"]
    (canary,) = standard["spec"]["canary"]
    assert canary["trafficPercent"] == 10 and canary["predictor"]["name"] == "v7"
    assert canary["predictor"]["annotations"]["distml.io/model-version"] == "7"


def test_cli_dry_run_prints_yaml_and_changes_nothing():
    result = run_cli(
        "deploy",
        "--target",
        "kserve",
        "--model-name",
        "digits",
        "--runtime",
        "distml",
        "--canary-traffic-percent",
        "20",
        "--dry-run",
    )
    isvc = yaml.safe_load(result.stdout)
    assert isvc["kind"] == "InferenceService" and isvc["spec"]["predictor"]["canaryTrafficPercent"] == 20
    bad = run_cli("deploy", "--target", "kserve", "--model-name", "Bad_Name", "--dry-run", check=False)
    assert bad.returncode == 2 and "lowercase" in bad.stderr and "Traceback" not in bad.stderr


def test_a_new_model_version_rolls_out_a_new_predictor_revision():
    """Every path (KFP deploy step, `distml deploy`, the Argo templates) builds the service here
    with the version being rolled out: the storage URI (the model's folder) stays the same, so
    without the annotation a new version would be an empty patch and never reach the pods."""
    from distml.components.deploy.rollout import object_patch, with_last_applied

    first = build_inference_service("digits", model_version="1")
    second = build_inference_service("digits", model_version="2")
    assert first["spec"]["predictor"]["annotations"] == {"distml.io/model-version": "1"}
    live = with_last_applied(first)
    assert object_patch(live, build_inference_service("digits", model_version="1")) == {}
    assert object_patch(live, second)["spec"]["predictor"]["annotations"] == {"distml.io/model-version": "2"}


def test_deployment_mode_annotation_only_when_asked_and_canary_in_knative():
    from distml.components.deploy.manifest import DEPLOYMENT_MODE_ANNOTATION

    assert "annotations" not in build_inference_service("digits")["metadata"]
    for mode in ("Knative", "Standard"):
        assert build_inference_service("digits", deployment_mode=mode)["metadata"]["annotations"] == {
            DEPLOYMENT_MODE_ANNOTATION: mode
        }
    canary = build_inference_service("digits", canary_traffic_percent=10, deployment_mode="Knative")
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_distml_predictor_probes_ask_the_model_and_the_server():
    (container,) = build_inference_service("digits", runtime="distml")["spec"]["predictor"]["containers"]
    port = container["ports"][0]["containerPort"]
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/v2/models/digits/ready", "port": port},
        "periodSeconds": 5,
        "failureThreshold": 3,
    }
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/v2/health/live", "port": port},
        "initialDelaySeconds": 30,
        "periodSeconds": 10,
        "failureThreshold": 3,
    }


def test_service_names_up_to_45_characters():
    assert build_inference_service("d" * 45)["metadata"]["name"] == "d" * 45
    with pytest.raises(UsageError, match="at most 45 characters"):
        build_inference_service("d" * 46)


@pytest.mark.parametrize("model_repo", [SELECT.defaults(KFP).model_repo, f"{k8s.MODELS_MOUNT}/team-a/repo"])
def test_the_default_storage_uri_is_where_select_pushes(model_repo):
    pushed = repository_path(model_repo, k8s.MODELS_MOUNT) / "digits"  # select's <repo>/<model>/<N>/ parent
    expected = f"pvc://{k8s.MODELS_PVC}/{pushed.relative_to(k8s.MODELS_MOUNT).as_posix()}"
    assert storage_uri_for("digits", model_repo) == expected
    isvc = build_inference_service("digits", model_repo=model_repo)
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == expected
    with pytest.raises(UsageError, match="not on the models volume"):
        storage_uri_for("digits", "/srv/models")


def test_cli_default_storage_uri_is_the_cluster_repository():
    result = run_cli("deploy", "--target", "kserve", "--model-name", "fashion", "--dry-run")
    uri = yaml.safe_load(result.stdout)["spec"]["predictor"]["model"]["storageUri"]
    assert uri == storage_uri_for("fashion", SELECT.defaults(KFP).model_repo) == "pvc://distml-models/repo/fashion"


def test_distml_predictor_declares_grpc_where_kserve_can_route_it():
    def ports(mode):
        container = build_inference_service("digits", runtime="distml", deployment_mode=mode)["spec"]["predictor"][
            "containers"
        ][0]
        args = dict(zip(container["args"][::2], container["args"][1::2]))
        assert (args["--http-port"], args["--grpc-port"]) == (str(HTTP_PORT), str(GRPC_PORT))
        return {p["name"]: p["containerPort"] for p in container["ports"]}

    assert ports("Standard") == {"http1": HTTP_PORT, "grpc": GRPC_PORT}
    # Knative serves one port per container and refuses a second.
    assert ports("Knative") == ports("") == {"http1": HTTP_PORT}


def test_the_distml_predictor_listens_where_kserve_routes_and_mounts_the_models_read_only():
    (container,) = build_inference_service("digits", runtime="distml")["spec"]["predictor"]["containers"]
    args = dict(zip(container["args"][::2], container["args"][1::2]))
    assert container["ports"][0] == {"name": "http1", "containerPort": 8080, "protocol": "TCP"}
    assert args["--http-port"] == "8080" and args["--grpc-port"] == "8081"
    assert container["volumeMounts"] == [{"name": "models", "mountPath": k8s.MODELS_MOUNT, "readOnly": True}]


@pytest.mark.parametrize(
    "options",
    [
        dict(min_replicas=0, max_replicas=1),  # scale to zero
        dict(min_replicas=1, max_replicas=1),
        dict(min_replicas=1, max_replicas=3),
        dict(canary_traffic_percent=100),
    ],
)
def test_replica_and_canary_bounds_are_inclusive(options):
    build_inference_service("digits", **options)


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(min_replicas=-1), "replicas need 0 <= min"),
        (dict(min_replicas=0, max_replicas=0), "max >= 1"),
        (dict(canary_traffic_percent=101), "0-100, got 101"),
    ],
)
def test_replicas_and_canary_just_out_of_bounds_are_refused(options, words):
    with pytest.raises(UsageError, match=words):
        build_inference_service("digits", **options)


def test_a_zero_canary_is_a_canary_without_traffic_and_a_negative_one_is_none():
    assert build_inference_service("digits", canary_traffic_percent=0)["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert (
        "canaryTrafficPercent" not in build_inference_service("digits", canary_traffic_percent=-1)["spec"]["predictor"]
    )


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(gpus=-1), "--gpus must be 0 or more, got -1"),
        (dict(max_batch_size=0), "--max-batch-size must be at least 1, got 0"),
        (dict(deployment_mode="ModelMesh"), r"\(known: Standard, Knative\)$"),
        (dict(runtime="distml", storage_uri="pvc://distml-models"), "expected --storage-uri pvc://<claim>/"),
        (dict(runtime="distml", storage_uri="pvc://distml-models/"), "expected --storage-uri pvc://<claim>/"),
    ],
)
def test_other_values_just_out_of_bounds_are_refused(options, words):
    with pytest.raises(UsageError, match=words):
        build_inference_service("digits", **options)


def test_a_batch_of_one_is_allowed():
    (container,) = build_inference_service("digits", runtime="distml", max_batch_size=1)["spec"]["predictor"][
        "containers"
    ]
    assert container["args"][container["args"].index("--max-batch-size") + 1] == "1"


def test_runtime_and_mode_are_compared_by_value_as_a_command_line_gives_them():
    # argparse hands over strings built at run time, not the interned literals of the code
    tfserving, standard = "".join(["tf", "serving"]), "".join(["Stan", "dard"])
    assert "model" in build_inference_service("digits", runtime=tfserving)["spec"]["predictor"]
    spec = build_inference_service("digits", deployment_mode=standard, model_version=3, canary_traffic_percent=10)[
        "spec"
    ]
    assert spec["canary"][0]["predictor"]["name"] == "v3"
