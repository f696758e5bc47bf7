"""`distml serve`: the KServe ModelServer (V1 + V2 REST, V2 gRPC) over a model repository.

Readiness and liveness are KServe's own endpoints: `GET /v2/health/live`,
`GET /v2/health/ready`, `GET /v2/models/<name>/ready`, `GET /v1/models/<name>` (and
the gRPC ServerLive / ServerReady / ModelReady calls).

While it runs, the server records itself in `<repo>/<model_name>/.distml-serve.json`
(pid, ports, version served) so `distml deploy --target local` can signal it (SIGHUP =
check the repository now) and see the switch; the file is removed on shutdown.
"""

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.files import write_text_atomic
from distml.components.common.model_artifact import check_model_name, list_versions

log = logging.getLogger("distml.deploy")

STATE_FILE = ".distml-serve.json"


def state_path(repo, model_name):
    return Path(repo) / model_name / STATE_FILE


def read_server_state(repo, model_name):
    """The state a running server wrote, or None when no live server serves this model."""
    try:
        state = json.loads(state_path(repo, model_name).read_text())
        os.kill(int(state["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError):
        return None
    return state


class ServerState:
    """Best-effort record of a running server (a read-only repository mount just skips it)."""

    def __init__(self, repo, model_name, http_port, grpc_port):
        self.path = state_path(repo, model_name)
        self.fields = {"pid": os.getpid(), "http_port": http_port, "grpc_port": grpc_port, "model_name": model_name}

    def update(self, model):
        self.fields.update(serving_version=model.version, switched_at=time.time())
        try:
            write_text_atomic(self.path, json.dumps(self.fields, indent=2) + "\n")
        except OSError as e:
            log.debug("not recording server state in %s: %s", self.path, e)

    def remove(self):
        try:
            if json.loads(self.path.read_text()).get("pid") == os.getpid():
                self.path.unlink()
        except (OSError, ValueError):
            pass


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


def _bad_request_for_malformed_bodies(app):
    """FastAPI answers a V2 body that fails to parse with 422; the V2 protocol (and V1) say 400."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    async def handler(_, exc):
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse(
            status_code=400,
            content={"error": f"malformed request body ({problems}); expected a V2 inference request "
                     '{"inputs": [{"name", "shape", "datatype", "data"}]}'},
        )

    app.add_exception_handler(RequestValidationError, handler)


def serve(repo, model_name, *, served_name=None, http_port=8080, grpc_port=8081, max_batch_size=64,
          poll_interval_s=2.0, grace_period_s=30):
    """Serve the newest version of <repo>/<model_name>/ until SIGTERM/SIGINT; blocks."""
    check_model_name(model_name)
    model_root = Path(repo) / model_name
    if not model_root.is_dir():
        raise UsageError(f"{model_root} does not exist: push a model first (`distml select` or `distml deploy --target local`)")
    if max_batch_size < 1:
        raise UsageError(f"--max-batch-size must be at least 1, got {max_batch_size}")

    kserve = _import_kserve()
    from distml.components.deploy.predictor import DistmlModel
    from distml.components.deploy.watcher import VersionWatcher

    state = ServerState(repo, model_name, http_port, grpc_port)
    watcher = VersionWatcher(repo, model_name, poll_interval_s, on_swap=state.update)
    model = DistmlModel(served_name or model_name, watcher, max_batch_size)
    if not model.load():
        raise DistmlError(
            f"no loadable version in {model_root} (versions present: {list_versions(repo, model_name) or 'none'}); see the log above"
        )
    server = kserve.ModelServer(http_port=http_port, grpc_port=grpc_port, enable_grpc=True, workers=1,
                                grace_period=grace_period_s)
    _bad_request_for_malformed_bodies(kserve.model_server.app)
    signal.signal(signal.SIGHUP, lambda *_: watcher.wake())
    watcher.start()
    log.info("serving %s on http :%d, grpc :%d (polling %s every %gs)", model.name, http_port, grpc_port, model_root, poll_interval_s)
    try:
        server.start([model])
    finally:
        watcher.stop()
        state.remove()
        log.info("server stopped")
