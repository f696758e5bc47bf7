"""KServe's inference logger on the InferenceService: `spec.predictor.logger`.

The KServe agent beside the predictor then posts every request and response as a
CloudEvent to `url` (see request_log.py for the format the monitor reads), so the
cluster path needs nothing inside the model server.
"""

from distml.components.common.errors import UsageError

MODES = ("all", "request", "response")


def predictor_logger(url, mode="all", metadata_headers=()):
    """The `logger` object of an InferenceService predictor spec."""
    if not url or "://" not in url:
        raise UsageError(
            f"the request logger needs a sink URL such as http://distml-request-sink.<namespace>/, got {url!r}"
        )
    if mode not in MODES:
        raise UsageError(f"request logger mode must be one of {', '.join(MODES)}, got {mode!r}")
    logger = {"mode": mode, "url": url}
    if metadata_headers:
        logger["metadataHeaders"] = list(metadata_headers)
    return logger


def with_request_logger(inference_service, url, mode="all", metadata_headers=()):
    """Set `spec.predictor.logger` on an InferenceService dict (in place); return it."""
    inference_service["spec"]["predictor"]["logger"] = predictor_logger(url, mode, metadata_headers)
    return inference_service
