"""`distml deploy`: the deploy component's container entrypoint."""

import sys

from distml.components.common import k8s
from distml.components.common.errors import UsageError


def add_arguments(parser):
    parser.add_argument("--target", choices=("local", "kserve"), required=True,
                        help="local: the local model repository (served by `distml serve`); kserve: an InferenceService")
    parser.add_argument("--model-name", default=None,
                        help="model folder in the repository (local: required; kserve: default --name)")
    parser.add_argument("--result-out", default=None, help="also write the result JSON here (for orchestrator outputs)")

    local = parser.add_argument_group("--target local")
    local.add_argument("--repo", default=None, help="model repository root (local: required)")
    local.add_argument("--model-dir", default=None,
                       help="model to deploy: a train output <model_dir> or a <version> dir; default: the newest version in the repository")
    local.add_argument("--version", default=None, help="which <model_dir>/<version> to deploy when it holds several")
    local.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a running server to switch to the version")

    cluster = parser.add_argument_group("--target kserve")
    cluster.add_argument("--name", default=None, help="InferenceService name (default: --model-name)")
    cluster.add_argument("--namespace", default=k8s.NAMESPACE)
    cluster.add_argument("--runtime", choices=("tfserving", "distml"), default="tfserving",
                         help="tfserving: KServe's TensorFlow Serving runtime; distml: the distml image running `distml serve`")
    cluster.add_argument("--storage-uri", default=None,
                         help=f"model folder with numbered versions (default pvc://{k8s.MODELS_PVC}/<model-name>)")
    cluster.add_argument("--image", default=None, help="distml predictor image (default: the distml image, -gpu with --gpus)")
    cluster.add_argument("--runtime-version", default=None, help="tfserving image tag, e.g. 2.6.2-gpu for GPUs")
    cluster.add_argument("--cpu", default="1")
    cluster.add_argument("--memory", default="2Gi")
    cluster.add_argument("--gpus", type=int, default=0)
    cluster.add_argument("--min-replicas", type=int, default=1)
    cluster.add_argument("--max-replicas", type=int, default=1)
    cluster.add_argument("--canary-traffic-percent", type=int, default=None,
                         help="send this share of traffic to the new revision (Serverless mode); rollback sets it to 0")
    cluster.add_argument("--service-account", default=k8s.PREDICTOR_SERVICE_ACCOUNT)
    cluster.add_argument("--priority-class", default=k8s.PRIORITY_PRODUCTION, help="PriorityClass of predictor pods ('' for none)")
    cluster.add_argument("--deployment-mode", choices=("Serverless", "RawDeployment"), default=None,
                         help="KServe deployment mode annotation (default: the cluster's)")
    cluster.add_argument("--max-batch-size", type=int, default=1024, help="distml predictor: largest accepted client batch")
    cluster.add_argument("--timeout", type=float, default=600, help="seconds to wait for Ready before rolling back")
    cluster.add_argument("--no-rollback", dest="rollback", action="store_false", help="leave a failed rollout in place")
    cluster.add_argument("--dry-run", action="store_true", help="print the InferenceService YAML; change nothing")
    cluster.add_argument("--manifest-out", default=None, help="also write the InferenceService YAML here")


def run(args):
    from distml.components.deploy.core import deploy_kserve, deploy_local, result_json

    if args.target == "local":
        if not args.repo or not args.model_name:
            raise UsageError("--target local needs --repo and --model-name")
        result = deploy_local(args.repo, args.model_name, args.model_dir, version=args.version, wait_s=args.wait)
        _report_local(result)
    else:
        name = args.name or args.model_name
        if not name:
            raise UsageError("--target kserve needs --name or --model-name")
        result = deploy_kserve(
            name,
            dry_run=args.dry_run,
            timeout_s=args.timeout,
            rollback=args.rollback,
            manifest_out=args.manifest_out,
            runtime=args.runtime,
            model_name=args.model_name,
            storage_uri=args.storage_uri,
            namespace=args.namespace,
            image=args.image,
            cpu=args.cpu,
            memory=args.memory,
            gpus=args.gpus,
            min_replicas=args.min_replicas,
            max_replicas=args.max_replicas,
            canary_traffic_percent=args.canary_traffic_percent,
            service_account=args.service_account,
            priority_class=args.priority_class or None,
            deployment_mode=args.deployment_mode,
            runtime_version=args.runtime_version,
            max_batch_size=args.max_batch_size,
        )
        if args.dry_run:
            sys.stdout.write(result["yaml"])
        else:
            print(result_json(result))
    if args.result_out:
        with open(args.result_out, "w") as f:
            f.write(result_json(result) + "\n")


def _report_local(result):
    from distml.components.deploy.core import result_json

    where = f"{result['repo']}/{result['model_name']}/{result['version']}"
    print(f"{'pushed' if result['pushed'] else 'already in the repository'}: {where}", file=sys.stderr)
    server = result["server"]
    if server is None:
        print(f"no server running for {result['model_name']}; start one with:\n  {result['serve_command']}", file=sys.stderr)
    elif server.get("serving_version") == result["version"]:
        print(f"server pid {server['pid']} (http :{server['http_port']}) serves version {result['version']}", file=sys.stderr)
    else:
        print(f"signalled server pid {server['pid']} (http :{server['http_port']}); it switches to version "
              f"{result['version']} once the version loads", file=sys.stderr)
    print(result_json(result))
