"""The deploy component: put a blessed model where it is served.

- `deploy_local`: make a version available in a local model repository and tell a running
  `distml serve` (SIGHUP), or say how to start one.
- `deploy_kserve`: build the InferenceService and roll it out (or just return its YAML).

Importable without TensorFlow, kserve or kfp (the slim image and the KFP wrapper use it).
"""

from __future__ import annotations

import json
import logging
import shlex
import time
from collections.abc import Mapping
from pathlib import Path

import yaml

from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.model_artifact import (
    ModelArtifactError,
    check_model_name,
    directory_digest,
    latest_version,
    model_base,
    push,
    resolve_version_dir,
)
from distml.components.common.ports import GRPC_PORT, HTTP_PORT
from distml.components.deploy.manifest import build_inference_service
from distml.components.deploy.spec import DEFAULTS
from distml.components.serve.control import read_server_state, signal_server
from distml.components.serve.spec import serve_command as command_line

log = logging.getLogger("distml.deploy")


def serve_command(repo: Path | str, model_name: str, http_port: int = HTTP_PORT, grpc_port: int = GRPC_PORT) -> str:
    """The shell command that serves <repo>/<model_name> here."""
    return shlex.join(command_line(str(repo), model_name, http_port=http_port, grpc_port=grpc_port))


def deploy_local(
    repo: Path | str,
    model_name: str,
    model_dir: Path | str | None = None,
    *,
    version: int | str | None = None,
    wait_s: float = 0.0,
    poll_s: float = 0.2,
) -> dict[str, object]:
    """Push `model_dir`'s version into <repo>/<model_name>/ (unless it is already the newest) and
    signal a running server; with `wait_s`, wait until that server serves it.

    Without `model_dir`, deploys the newest version already in the repository (what
    `distml select` pushed). Returns {"repo", "model_name", "version", "pushed", "server", "serve_command"}.
    """
    check_model_name(model_name)
    if model_dir is not None:
        try:
            version_dir = resolve_version_dir(model_dir, version)
        except ModelArtifactError as e:
            raise ModelArtifactError(f"--model-dir: {e}") from None
        number, pushed = _push_unless_newest(version_dir, repo, model_name)
    else:
        latest, pushed = latest_version(repo, model_name), False
        if latest is None:
            raise UsageError(f"{model_base(repo, model_name)} holds no complete model version: pass --model-dir")
        number = latest[0]
    result = {
        "repo": str(repo),
        "model_name": model_name,
        "version": number,
        "pushed": pushed,
        "server": None,
        "serve_command": serve_command(repo, model_name),
    }
    state = read_server_state(repo, model_name)  # only a verified live server: a stale file is removed
    if state is None or not signal_server(state):  # SIGHUP: check the repository now, not at the next poll
        return result
    result["server"] = state
    if wait_s:
        result["server"] = _wait_for_switch(repo, model_name, number, wait_s, poll_s)
    return result


def _push_unless_newest(version_dir, repo, model_name):
    latest = latest_version(repo, model_name)
    if latest is not None and directory_digest(latest[1]) == directory_digest(version_dir):
        log.info("%s is already version %d of %s: nothing to push", version_dir, latest[0], model_name)
        return latest[0], False
    number, _ = push(version_dir, repo, model_name)
    return number, True


def _wait_for_switch(repo, model_name, version, wait_s, poll_s):
    deadline = time.monotonic() + wait_s
    while True:
        state = read_server_state(repo, model_name)
        if state is None:
            raise DistmlError(f"the server serving {model_name} stopped before switching to version {version}")
        if state.get("serving_version") == version:
            return state
        if time.monotonic() >= deadline:
            raise DistmlError(
                f"server pid {state['pid']} still serves version {state.get('serving_version')} of {model_name} "
                f"{wait_s:g}s after version {version} was pushed; its log says why (a version that fails to load is skipped)"
            )
        time.sleep(poll_s)


def manifest_yaml(manifest: Mapping[str, object]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)


def deploy_kserve(
    name: str,
    *,
    dry_run: bool = False,
    timeout_s: float = DEFAULTS.timeout,
    rollback: bool = True,
    manifest_out: Path | str | None = None,
    **manifest_options: object,
) -> dict[str, object]:
    """Build the InferenceService (see manifest.build_inference_service for the options) and,
    unless `dry_run`, create or patch it, wait for Ready and roll back on failure.

    Returns {"manifest": dict, "yaml": str} plus, when applied, the rollout summary
    {"name", "namespace", "action", "ready", "url"}.
    """
    manifest = build_inference_service(name, **manifest_options)
    text = manifest_yaml(manifest)
    if manifest_out:
        Path(manifest_out).write_text(text)
    result = {"manifest": manifest, "yaml": text}
    if dry_run:
        return result
    if timeout_s <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout_s}")
    from distml.components.deploy.rollout import kubernetes_api, rollout

    result.update(rollout(kubernetes_api(), manifest, timeout_s=timeout_s, rollback=rollback))
    return result


def result_json(result: Mapping[str, object]) -> str:
    return json.dumps({k: v for k, v in result.items() if k not in ("manifest", "yaml")}, indent=2)
