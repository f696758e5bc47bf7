"""What the KFP deploy step does around the core: read which version select pushed, deploy
it to the target, and record the outcome as the step's artifact. `run_kfp` is what the
generated component.py calls."""

import json
from pathlib import Path

from distml.components.common.errors import UsageError


def run_kfp(*, selection, deployment, model_repo, models_root, **options):
    repo = Path(models_root or ".") / model_repo
    deployment.metadata.update(deploy_step(selection.path, deployment.path, model_repo=str(repo), **options))


def deploy_step(
    selection_path,
    deployment_path,
    *,
    model_repo,
    model_name,
    target,
    service_name,
    namespace,
    runtime,
    image,
    gpus,
    min_replicas,
    max_replicas,
    canary_traffic_percent,
    timeout,
    cpu,
    memory,
    priority_class,
    request_logger_url,
):
    from distml.components.deploy.core import deploy_kserve, deploy_local

    selection = json.loads(Path(selection_path).read_text())
    pushed = selection.get("pushed")
    if not pushed:
        raise UsageError("the selection pushed no model version: nothing to deploy")
    if target == "local":
        result = deploy_local(model_repo, model_name)
        summary = {"target": "local", "version": result["version"], "serve_command": result["serve_command"]}
    elif target == "kserve":
        from distml.components.deploy.manifest import service_name_for, storage_uri_for

        service_name = service_name_for(model_name, service_name)
        result = deploy_kserve(
            service_name,
            runtime=runtime,
            model_name=model_name,
            model_version=str(pushed["version"]),
            storage_uri=storage_uri_for(model_name, model_repo),  # where select pushed it
            namespace=namespace,
            image=(image or None) if runtime == "distml" else None,
            cpu=cpu,
            memory=memory,
            gpus=gpus,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            canary_traffic_percent=canary_traffic_percent,
            priority_class=priority_class or None,
            request_logger_url=request_logger_url,
            timeout_s=timeout,
        )
        summary = {
            "target": "kserve",
            "version": pushed["version"],
            "service": service_name,
            "namespace": namespace,
            "url": result.get("url", ""),
            "action": result.get("action", ""),
        }
    else:
        raise UsageError(f"unknown serving target {target!r}: use kserve or local")
    Path(deployment_path).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
