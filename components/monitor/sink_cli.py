"""`distml request-sink`: receive KServe inference logger CloudEvents, store them for `distml monitor`."""

import logging

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
    from distml.components.monitor.sink import RequestSink, make_server

    sink = RequestSink(args.log_dir, args.max_bytes, args.backups)
    server = make_server(sink, args.host, args.port)
    log.info("request sink on http://%s:%d/, storing under %s", args.host, server.server_address[1], args.log_dir)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        log.info("request sink stopped after %d events", sink.stored)
