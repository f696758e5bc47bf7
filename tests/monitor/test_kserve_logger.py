"""The InferenceService's `spec.predictor.logger`, checked against KServe's CRD schema."""

import pytest
import yaml

from distml.components.common.errors import UsageError
from distml.components.deploy.manifest import build_inference_service
from distml.components.monitor.kserve_logger import predictor_logger, with_request_logger


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
