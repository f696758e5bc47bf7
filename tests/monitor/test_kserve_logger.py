"""The InferenceService's `spec.predictor.logger`, checked against KServe's CRD schema."""

import pytest
import yaml

from distml.components.common.errors import UsageError
from distml.components.deploy.manifest import build_inference_service
from distml.components.monitor.kserve_logger import predictor_logger, with_request_logger
from tests.conftest import run_cli


def test_logger_on_both_predictors_is_valid_kserve(tmp_path, validate_manifests):
    for runtime in ("tfserving", "distml"):
        isvc = with_request_logger(
            build_inference_service("digits", runtime=runtime),
            "http://distml-request-sink.distml.svc.cluster.local/",
            metadata_headers=["x-request-id"],
        )
        assert isvc["spec"]["predictor"]["logger"] == {
            "mode": "all",
            "url": "http://distml-request-sink.distml.svc.cluster.local/",
            "metadataHeaders": ["x-request-id"],
        }
        path = tmp_path / f"{runtime}.yaml"
        path.write_text(yaml.safe_dump(isvc))
        validate_manifests(path)


def test_bad_logger_settings_are_refused():
    with pytest.raises(UsageError, match="sink URL"):
        predictor_logger("")
    with pytest.raises(UsageError, match="mode"):
        predictor_logger("http://sink/", mode="everything")


SINK = "http://distml-request-sink.distml.svc.cluster.local/"


def test_deploy_sets_the_logger_when_given_a_sink_url(tmp_path, validate_manifests):
    assert "logger" not in build_inference_service("digits")["spec"]["predictor"]  # default: none
    canary = build_inference_service(
        "digits",
        runtime="tfserving",  # KServe serves Standard-mode canaries of model predictors only
        request_logger_url=SINK,
        deployment_mode="Standard",
        canary_traffic_percent=10,
        model_version="2",
    )
    assert canary["spec"]["predictor"]["logger"] == {"mode": "all", "url": SINK}
    assert canary["spec"]["canary"][0]["predictor"]["logger"] == {"mode": "all", "url": SINK}  # the canary logs too
    # As a user deploys: the flag of the deploy component's declaration.
    manifest = tmp_path / "isvc.yaml"
    run_cli("deploy", "--target", "kserve", "--dry-run", "--request-logger-url", SINK, "--manifest-out", manifest)
    isvc = yaml.safe_load(manifest.read_text())
    assert isvc["spec"]["predictor"]["logger"] == {"mode": "all", "url": SINK}
    (tmp_path / "canary.yaml").write_text(yaml.safe_dump(canary))
    validate_manifests(manifest, tmp_path / "canary.yaml")
    with pytest.raises(UsageError, match="sink URL"):
        build_inference_service("digits", request_logger_url="distml-request-sink")
