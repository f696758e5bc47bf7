"""`distml run`: the whole train-and-deploy pipeline on this machine (kfp.local), offline."""

import json
import signal
import time

from distml.components.common.errors import UsageError


def model_type_list(text):
    types = [t.strip() for t in text.split(",") if t.strip()]
    if not types:
        raise UsageError("--model-types needs at least one model type")
    return types


def add_arguments(parser):
    from distml.components.common.params import KFP
    from distml.components.ingest.spec import SPEC as INGEST
    from distml.components.select.spec import SPEC as SELECT
    from distml.components.train.spec import SPEC as TRAIN
    from distml.pipelines.kfp.local_run import DEFAULT_WORKDIR
    from distml.pipelines.kfp.train_and_deploy import MODEL_TYPES

    parser.add_argument(
        "--workdir",
        default=DEFAULT_WORKDIR,
        help=f"artifacts, cache, model repository and logs (default: ./{DEFAULT_WORKDIR})",
    )
    parser.add_argument("--model-types", default=",".join(MODEL_TYPES), help="comma-separated (default: %(default)s)")
    # The pipeline's parameters, as the components declare them (local worker processes, not pods).
    INGEST.add_arguments(parser, names=PIPELINE_FLAGS["ingest"])
    TRAIN.add_arguments(parser, names=PIPELINE_FLAGS["train"], defaults={"workers": TRAIN["workers"].default_for(KFP)})
    SELECT.add_arguments(parser, names=PIPELINE_FLAGS["select"])
    parser.add_argument(
        "--no-cache", dest="cache", action="store_false", help="run every step even if its inputs are unchanged"
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="afterwards start `distml serve`, send it one real test image, and keep serving until Ctrl-C",
    )


# The pipeline parameters `distml run` has flags for, by the component that declares them.
PIPELINE_FLAGS = {
    "ingest": ("dataset", "tfds_data_dir", "num_shards"),
    "train": ("workers", "epochs", "steps_per_epoch", "batch_size", "learning_rate", "lr_schedule", "precision"),
    "select": ("min_accuracy", "min_improvement", "model_name"),
}


def run(args):
    from distml.pipelines.kfp import local_serve
    from distml.pipelines.kfp.local_run import format_summary, run_locally

    summary = run_locally(
        args.workdir,
        model_types=model_type_list(args.model_types),
        cache=args.cache,
        **{name: getattr(args, name) for names in PIPELINE_FLAGS.values() for name in names},
    )
    if summary["model_path"]:
        # The ports printed are the ports --serve uses: 8080/8081 when free, else two free ones.
        summary["serve"] = local_serve.serve_plan(summary["model_repo"], summary["model_name"])
        local_serve.record(summary, args.workdir)
    print()
    print(format_summary(summary))
    if not summary["model_path"]:
        print("\nnothing was pushed, so there is nothing new to serve")
        return 0
    print(f"\nserve it:  {summary['serve']['command']}")
    if args.serve:
        serve_and_predict(summary)
    return 0


def serve_and_predict(summary):
    from distml.pipelines.kfp import local_serve

    plan = summary["serve"]
    http_port, grpc_port = plan["http_port"], plan["grpc_port"]
    server = local_serve.start_server(
        summary["model_repo"], summary["model_name"], http_port, grpc_port, summary["log"]
    )
    try:
        image, label = local_serve.one_test_image(summary["dataset_dir"], summary["log"])
        prediction = local_serve.predict_v1(http_port, summary["model_name"], image)
        print(
            f"\nPOST /v1/models/{summary['model_name']}:predict with a test image of class "
            f"{summary['class_names'][label]!r}:"
        )
        print(json.dumps(prediction)[:600])
        print(
            f"\nserving on http://127.0.0.1:{http_port} (REST) and 127.0.0.1:{grpc_port} (gRPC); "
            f"its log: {summary['log']}; Ctrl-C to stop"
        )
        # Poll instead of server.wait(): Ctrl-C's SIGINT may land on one of TensorFlow's
        # threads, and then nothing interrupts a main thread blocked in waitpid().
        while server.poll() is None:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
