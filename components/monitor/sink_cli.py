"""`distml request-sink`: receive KServe inference logger CloudEvents, store them for `distml monitor`."""

import errno
import logging
from pathlib import Path

log = logging.getLogger("distml")


def add_arguments(parser):
    parser.add_argument("--log-dir", required=True, help="events go to <log-dir>/<inferenceservicename>/events.jsonl")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument(
        "--max-bytes", type=int, default=16 << 20, help="rotate a service's file past this size (default 16 MiB)"
    )
    parser.add_argument("--backups", type=int, default=3, help="rotated files kept per service (default 3)")


def run(args):
    from distml.components.common.errors import UsageError
    from distml.components.common.ports import MAX_PORT
    from distml.components.monitor.request_log import MIN_MAX_BYTES
    from distml.components.monitor.sink import RequestSink, make_server

    # Checked here: the files are opened on a service's first event, in a request's thread.
    if args.max_bytes < MIN_MAX_BYTES:
        raise UsageError(f"--max-bytes must be at least {MIN_MAX_BYTES}, got {args.max_bytes}")
    if args.backups < 0:
        raise UsageError(f"--backups must be 0 or more, got {args.backups}")
    if not 0 <= args.port <= MAX_PORT:
        raise UsageError(f"--port must be between 0 (any free port) and {MAX_PORT}, got {args.port}")
    try:
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--log-dir {args.log_dir}: cannot create it ({e.strerror or e})") from None
    sink = RequestSink(args.log_dir, args.max_bytes, args.backups)
    try:
        server = make_server(sink, args.host, args.port)
    except OSError as e:
        problem = "in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        raise UsageError(
            f"--port {args.port}: cannot listen on {args.host}:{args.port} ({problem}); pass another --port or --host"
        ) from None
    log.info("request sink on http://%s:%d/, storing under %s", args.host, server.server_address[1], args.log_dir)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        log.info("request sink stopped after %d events", sink.stored)
