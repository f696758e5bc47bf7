"""`distml deploy`: the deploy component's container entrypoint."""

import inspect
import sys

from distml.components.common.errors import UsageError
from distml.components.deploy.spec import SPEC


def add_arguments(parser):
    SPEC.add_arguments(parser)


def run(args):
    from distml.components.deploy.core import deploy_kserve, deploy_local, result_json
    from distml.components.deploy.manifest import build_inference_service, service_name_for

    if args.target == "local":
        if not args.model_repo:
            raise UsageError("--target local needs --repo")
        result = deploy_local(
            args.model_repo, args.model_name, args.model_dir or None, version=args.version or None, wait_s=args.wait
        )
        _report_local(result)
    else:
        result = deploy_kserve(
            service_name_for(args.model_name, args.service_name),
            dry_run=args.dry_run,
            timeout_s=args.timeout,
            rollback=args.rollback,
            manifest_out=args.manifest_out or None,
            # every builder option the command line has a flag for ("" means the builder's default)
            **{
                name: getattr(args, name)
                for name in inspect.signature(build_inference_service).parameters
                if name != "name" and hasattr(args, name)
            },
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
        print(
            f"no server running for {result['model_name']}; start one with:\n  {result['serve_command']}",
            file=sys.stderr,
        )
    elif server.get("serving_version") == result["version"]:
        print(
            f"server pid {server['pid']} (http :{server['http_port']}) serves version {result['version']}",
            file=sys.stderr,
        )
    else:
        print(
            f"signalled server pid {server['pid']} (http :{server['http_port']}); it switches to version "
            f"{result['version']} once the version loads",
            file=sys.stderr,
        )
    print(result_json(result))
