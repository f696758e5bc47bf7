"""The serve component's parameters: the one declaration `distml serve`'s flags, the server's
defaults and every command line that starts it are derived from (the distml predictor's
container in deploy's InferenceService, `distml run --serve`, the local deploy's advice).

Only the command line carries them: the server runs inside an InferenceService (built by
deploy), not as a pipeline step. Standard library only: deploy's spec and the slim image
import it.
"""

from distml.components.common.params import CLI, REQUIRED, ComponentSpec, Param
from distml.components.common.ports import GRPC_PORT, HTTP_PORT

ONLY_CLI = frozenset({CLI})

SPEC = ComponentSpec(
    name="serve",
    description="Serve the newest version of <repo>/<model-name>/ with the KServe model server (V1/V2, REST/gRPC).",
    params=(
        Param("repo", str, REQUIRED, on=ONLY_CLI, help="model repository root: serves <repo>/<model-name>/<newest N>/"),
        Param("model_name", str, REQUIRED, on=ONLY_CLI, help="model folder in the repository (and the served name)"),
        Param(
            "served_name",
            str,
            "",
            on=ONLY_CLI,
            help="name in the URLs (/v1/models/NAME:predict) if not --model-name (e.g. the InferenceService name)",
        ),
        Param(
            "host",
            str,
            "127.0.0.1",
            on=ONLY_CLI,
            help="address to bind, REST and gRPC (0.0.0.0 in a container)",
        ),
        Param("http_port", int, HTTP_PORT, on=ONLY_CLI, help="REST port, V1 and V2 (KServe's)"),
        Param("grpc_port", int, GRPC_PORT, on=ONLY_CLI, help="V2 gRPC port (KServe's)"),
        Param(
            "max_batch_size",
            int,
            1024,
            on=ONLY_CLI,
            help="largest client batch in images, refused above with 400",
        ),
        Param(
            "model_batch_size",
            int,
            64,
            on=ONLY_CLI,
            help="most images per model call: larger client batches are split, concurrent requests are merged up to it",
        ),
        Param(
            "batch_wait_ms",
            float,
            0.0,
            on=ONLY_CLI,
            help="how long a model call that is not full waits for more requests (0: batches form from the "
            "requests that arrive while the previous call runs)",
        ),
        Param(
            "max_body_bytes",
            int,
            16 * 2**20,
            on=ONLY_CLI,
            help="largest request body / gRPC message, 413 above (16 MiB)",
        ),
        # 16.8 megapixels (4096 x 4096; a 12-megapixel phone photo passes); PIL's own bomb check
        # allows 89 M. A decoded image costs 1-4 bytes per pixel.
        Param(
            "max_image_pixels",
            int,
            4096 * 4096,
            on=ONLY_CLI,
            help="largest image accepted, in pixels (width x height, from the PNG/JPEG header, before decoding); "
            "smaller images of any size are resized as at ingest (4096x4096)",
        ),
        Param(
            "client_timeout_s",
            float,
            30.0,
            flag="--client-timeout",
            metavar="SECONDS",
            on=ONLY_CLI,
            help="seconds a client gets to send a request's headers and body",
        ),
        Param(
            "repository_extension",
            bool,
            False,
            flag="--enable-repository-extension",
            cli_action="store_true",
            on=ONLY_CLI,
            help="let any client load/unload models (KServe's model repository extension; off by default)",
        ),
        Param(
            "poll_interval_s",
            float,
            2.0,
            flag="--poll-interval",
            metavar="SECONDS",
            on=ONLY_CLI,
            help="seconds between repository checks for a new version (SIGHUP checks at once)",
        ),
        Param(
            "grace_period_s",
            int,
            30,
            flag="--grace-period",
            metavar="SECONDS",
            on=ONLY_CLI,
            help="seconds in-flight requests get to finish on SIGTERM",
        ),
        Param(
            "request_log",
            str,
            "",
            on=ONLY_CLI,
            metavar="PATH",
            help="record every answered request (image statistics and predictions, not the images) as JSON lines "
            "in PATH/requests.jsonl (or in PATH itself if it ends in .jsonl), rotated at 16 MiB, for "
            "`distml monitor --request-log PATH`; empty: off",
        ),
        Param(
            "request_log_sample_rate",
            float,
            1.0,
            on=ONLY_CLI,
            metavar="R",
            help="share of requests recorded, in (0, 1] (1: all)",
        ),
    ),
)

DEFAULTS = SPEC.defaults()


def serve_command(repo: str, model_name: str, **options: object) -> list[str]:
    """`distml serve` with these parameters ({spec name: value}; the others keep their defaults)."""
    unknown = sorted(set(options) - set(SPEC.by_name))
    if unknown:
        raise TypeError(f"distml serve has no parameter {', '.join(unknown)}")
    return ["distml", SPEC.name, *SPEC.cli_args({"repo": str(repo), "model_name": model_name, **options})]
