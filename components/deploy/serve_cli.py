"""`distml serve`: the distml predictor's container entrypoint (KServe ModelServer)."""


def add_arguments(parser):
    parser.add_argument("--repo", required=True, help="model repository root: serves <repo>/<model-name>/<newest N>/")
    parser.add_argument("--model-name", required=True, help="model folder in the repository (and the served name)")
    parser.add_argument("--served-name", default=None,
                        help="name in the URLs (/v1/models/NAME:predict) if not --model-name (e.g. the InferenceService name)")
    parser.add_argument("--http-port", type=int, default=8080, help="REST port, V1 and V2 (default 8080, KServe's)")
    parser.add_argument("--grpc-port", type=int, default=8081, help="V2 gRPC port (default 8081, KServe's)")
    parser.add_argument("--max-batch-size", type=int, default=64, help="refuse requests with more images (400)")
    parser.add_argument("--poll-interval", type=float, default=2.0,
                        help="seconds between repository checks for a new version (SIGHUP checks at once)")
    parser.add_argument("--grace-period", type=int, default=30, help="seconds in-flight requests get to finish on SIGTERM")


def run(args):
    from distml.components.deploy.server import serve

    serve(
        args.repo,
        args.model_name,
        served_name=args.served_name,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        max_batch_size=args.max_batch_size,
        poll_interval_s=args.poll_interval,
        grace_period_s=args.grace_period,
    )
