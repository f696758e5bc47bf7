"""`distml serve`: the distml predictor's container entrypoint (KServe ModelServer)."""

import argparse

from distml.components.serve.server import DEFAULTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    parser.add_argument("--repo", required=True, help="model repository root: serves <repo>/<model-name>/<newest N>/")
    parser.add_argument("--model-name", required=True, help="model folder in the repository (and the served name)")
    parser.add_argument(
        "--served-name",
        default=None,
        help="name in the URLs (/v1/models/NAME:predict) if not --model-name (e.g. the InferenceService name)",
    )
    parser.add_argument(
        "--host",
        default=d["host"],
        help=f"address to bind, REST and gRPC (default {d['host']}; 0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--http-port", type=int, default=d["http_port"], help="REST port, V1 and V2 (default 8080, KServe's)"
    )
    parser.add_argument("--grpc-port", type=int, default=d["grpc_port"], help="V2 gRPC port (default 8081, KServe's)")
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=d["max_batch_size"],
        help=f"largest client batch in images, refused above with 400 (default {d['max_batch_size']})",
    )
    parser.add_argument(
        "--model-batch-size",
        type=int,
        default=d["model_batch_size"],
        help="most images per model call: larger client batches are split, concurrent requests "
        f"are merged up to it (default {d['model_batch_size']})",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=d["batch_wait_ms"],
        help="how long a model call that is not full waits for more requests (default 0: batches "
        "form from the requests that arrive while the previous call runs)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=d["max_body_bytes"],
        help=f"largest request body / gRPC message, 413 above (default {d['max_body_bytes']}, 16 MiB)",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=d["max_image_pixels"],
        help="largest image accepted, in pixels (width x height, from the PNG/JPEG header, before decoding); "
        f"smaller images of any size are resized as at ingest (default {d['max_image_pixels']}, 4096x4096)",
    )
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=d["client_timeout_s"],
        help=f"seconds a client gets to send a request's headers and body (default {d['client_timeout_s']:g})",
    )
    parser.add_argument(
        "--enable-repository-extension",
        action="store_true",
        help="let any client load/unload models (KServe's model repository extension; off by default)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=d["poll_interval_s"],
        help="seconds between repository checks for a new version (SIGHUP checks at once)",
    )
    parser.add_argument(
        "--grace-period",
        type=int,
        default=d["grace_period_s"],
        help="seconds in-flight requests get to finish on SIGTERM",
    )

    parser.add_argument(
        "--request-log",
        default=None,
        metavar="PATH",
        help="record every answered request (image statistics and predictions, not the images) as JSON lines "
        "in PATH/requests.jsonl (or in PATH itself if it ends in .jsonl), rotated at 16 MiB, for "
        "`distml monitor --request-log PATH`; default: off",
    )
    parser.add_argument(
        "--request-log-sample-rate",
        type=float,
        default=d["request_log_sample_rate"],
        metavar="R",
        help="share of requests recorded, in (0, 1] (default 1: all)",
    )


def run(args: argparse.Namespace) -> None:
    from distml.components.serve.server import serve

    serve(
        args.repo,
        args.model_name,
        served_name=args.served_name,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        max_batch_size=args.max_batch_size,
        model_batch_size=args.model_batch_size,
        batch_wait_ms=args.batch_wait_ms,
        max_body_bytes=args.max_body_bytes,
        max_image_pixels=args.max_image_pixels,
        client_timeout_s=args.client_timeout,
        repository_extension=args.enable_repository_extension,
        poll_interval_s=args.poll_interval,
        grace_period_s=args.grace_period,
        request_log=args.request_log,
        request_log_sample_rate=args.request_log_sample_rate,
    )
