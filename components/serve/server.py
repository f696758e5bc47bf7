"""`distml serve`: the KServe ModelServer (V1 + V2 REST, V2 gRPC) over a model repository.

Health: `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2/models/<name>/ready`,
`GET /v1/models/<name>` (and the gRPC ServerLive / ServerReady / ModelReady calls) are true
only while the model is registered and holds a loaded version.

Hardening (modelserver.py, http.py): binds `host` only; request bodies (and gRPC messages)
over `max_body_bytes` get 413 before they are read; clients that stall their headers or
body are dropped after `client_timeout_s`; KServe's model repository extension (load /
unload by any client) is off unless `repository_extension`; images over `max_image_pixels` are refused from their header;
client errors are 4xx with one log line. Throughput: concurrent requests share model calls
(batcher.py). Images of any size are preprocessed as ingest did (inputs.py).

With `request_log` (a folder, which gets `requests.jsonl`, or a `.jsonl` file) every answered request is
recorded, sampled at `request_log_sample_rate`, for `distml monitor` (request_logging.py).

While it runs, the server records itself in `<repo>/<model_name>/.distml-serve.json` (see
control.py) so `distml deploy --target local` can signal it (SIGHUP = check the
repository now); the file is removed on shutdown.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.model_artifact import check_model_name, list_versions
from distml.components.common.ports import MAX_PORT, bind_problem
from distml.components.serve.control import ServerState
from distml.components.serve.spec import DEFAULTS

log = logging.getLogger("distml.serve")

REQUEST_LOG_FILE = "requests.jsonl"  # in a --request-log folder (a path not ending in .jsonl)


def _import_kserve():
    """Import kserve without letting it parse our command line.

    kserve.model_server parses sys.argv at import time (parse_known_args with
    abbreviations), so a distml flag could be mistaken for one of its own.
    """
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        import kserve
        import kserve.model_server
    finally:
        sys.argv = saved
    return kserve


def serve(
    repo: Path | str,
    model_name: str,
    *,
    served_name: str = DEFAULTS.served_name,
    host: str = DEFAULTS.host,
    http_port: int = DEFAULTS.http_port,
    grpc_port: int = DEFAULTS.grpc_port,
    max_batch_size: int = DEFAULTS.max_batch_size,
    model_batch_size: int = DEFAULTS.model_batch_size,
    batch_wait_ms: float = DEFAULTS.batch_wait_ms,
    max_body_bytes: int = DEFAULTS.max_body_bytes,
    max_image_pixels: int = DEFAULTS.max_image_pixels,
    client_timeout_s: float = DEFAULTS.client_timeout_s,
    repository_extension: bool = DEFAULTS.repository_extension,
    poll_interval_s: float = DEFAULTS.poll_interval_s,
    grace_period_s: int = DEFAULTS.grace_period_s,
    request_log: Path | str = DEFAULTS.request_log,
    request_log_sample_rate: float = DEFAULTS.request_log_sample_rate,
) -> None:
    """Serve the newest version of <repo>/<model_name>/ until SIGTERM/SIGINT; blocks."""
    check_model_name(model_name)
    model_root = Path(repo) / model_name
    if not model_root.is_dir():
        raise UsageError(
            f"{model_root} does not exist: push a model first (`distml select` or `distml deploy --target local`)"
        )
    for flag, value, low in (
        ("--max-batch-size", max_batch_size, 1),
        ("--model-batch-size", model_batch_size, 1),
        ("--max-body-bytes", max_body_bytes, 1024),
        ("--client-timeout", client_timeout_s, 0.1),
        ("--batch-wait-ms", batch_wait_ms, 0),
        ("--max-image-pixels", max_image_pixels, 1),
    ):
        if value < low:
            raise UsageError(f"{flag} must be at least {low:g}, got {value:g}")
    _check_ports(host, http_port, grpc_port)
    if not 0.0 < request_log_sample_rate <= 1.0:
        raise UsageError(f"--request-log-sample-rate must be in (0, 1], got {request_log_sample_rate:g}")
    requests = _request_log(request_log, request_log_sample_rate, served_name or model_name)

    _import_kserve()
    from distml.components.serve.batcher import Batcher
    from distml.components.serve.modelserver import ModelServer
    from distml.components.serve.predictor import DistmlModel
    from distml.components.serve.watcher import VersionWatcher

    state = ServerState(repo, model_name, host, http_port, grpc_port)
    batcher = Batcher(model_batch_size, batch_wait_ms / 1000)
    watcher = VersionWatcher(
        repo, model_name, poll_interval_s, on_swap=state.update, warmup_batch_sizes=batcher.batch_sizes
    )
    model = DistmlModel(
        served_name or model_name,
        watcher,
        max_batch_size,
        batcher,
        max_image_pixels=max_image_pixels,
        request_log=requests,
    )
    if not model.load():
        raise DistmlError(
            f"no loadable version in {model_root} (versions present: {list_versions(repo, model_name) or 'none'}); see the log above"
        )
    server = ModelServer(
        served_name=model.name,
        host=host,
        max_body_bytes=max_body_bytes,
        client_timeout_s=client_timeout_s,
        repository_extension=repository_extension,
        http_port=http_port,
        grpc_port=grpc_port,
        enable_grpc=True,
        workers=1,
        grace_period=grace_period_s,
    )
    signal.signal(signal.SIGHUP, lambda *_: watcher.wake())
    watcher.start()
    if requests is not None:
        log.info(
            "logging requests to %s (sample rate %g); `distml monitor --request-log %s` reads it",
            requests.request_log.path,
            request_log_sample_rate,
            requests.request_log.path.parent,
        )
    log.info(
        "serving %s on %s: http :%d, grpc :%d (polling %s every %gs; repository extension %s)",
        model.name,
        host,
        http_port,
        grpc_port,
        model_root,
        poll_interval_s,
        "ON" if repository_extension else "off",
    )
    try:
        server.start([model])
    finally:
        watcher.stop()
        if requests is not None:
            requests.close()
        state.remove()
        log.info("server stopped")


def _check_ports(host, http_port, grpc_port):
    """Before TensorFlow and KServe start: a port the server cannot listen on is the user's to
    change, in one line (KServe would fail later with a traceback per server)."""
    for flag, port in (("--http-port", http_port), ("--grpc-port", grpc_port)):
        if not 1 <= port <= MAX_PORT:
            raise UsageError(f"{flag} must be between 1 and {MAX_PORT}, got {port}")
    if http_port == grpc_port:
        raise UsageError(f"--http-port and --grpc-port are both {http_port}: give them different ports")
    problem = bind_problem(host, 0)  # any port: is the address this machine's?
    if problem:
        raise UsageError(f"--host {host}: cannot listen there ({problem}); 0.0.0.0 listens on every address")
    for flag, port in (("--http-port", http_port), ("--grpc-port", grpc_port)):
        problem = bind_problem(host, port)
        if problem:
            raise UsageError(f"{flag} {port}: cannot listen on {host}:{port} ({problem}); pass another {flag}")


def _request_log(path, sample_rate, model_name):
    """The background request log writer, or None without a path."""
    if not path:
        return None
    from distml.components.monitor.request_log import RequestLog
    from distml.components.serve.request_logging import BackgroundRequestLog

    path = Path(path)
    if path.suffix != ".jsonl":
        path = path / REQUEST_LOG_FILE
    try:
        return BackgroundRequestLog(RequestLog(path, sample_rate=sample_rate, model_name=model_name))
    except OSError as e:
        raise UsageError(f"--request-log {path}: cannot write there ({e.strerror or e})") from None
