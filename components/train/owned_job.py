"""What both cluster launchers (TFJob, TrainJob) do around their wait: the step owns the job it
creates, and a wait cut short deletes it.

- The job gets an ownerReference to the step's pod (components/common/owner.py), so
  Kubernetes' garbage collector deletes it with the pod (a deleted workflow or KFP run), even
  when the step could not clean up itself (SIGKILL, a lost node).
- A retried step finds the job of the same run (same name, same `distml.io/run-id` label): it
  waits for it if it runs or finished, replaces it if it failed (the replacement resumes from
  the run's checkpoints), and adds its own pod as an owner. A job of another run with that
  name is left alone.
- The wait's timeout, SIGTERM (a cancelled KFP run, an Argo step stopped or past its
  deadline) and Ctrl-C delete the job (foreground: its pods too) before the step exits, so it
  holds no GPUs. A job that failed is kept for its pods' logs; its owner takes it along.
"""

import logging
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from distml.components.common.errors import DistmlError
from distml.components.common.processes import Terminated, raise_terminated

log = logging.getLogger("distml")

RUN_LABEL = "distml.io/run-id"


class JobFailed(DistmlError):
    """The job reached its Failed condition (kept for its logs, not deleted)."""


@dataclass(frozen=True)
class JobAPI:
    """Where a job kind lives in the API, and which of its conditions means it failed."""

    group: str
    version: str
    plural: str
    kind: str
    failed_type: str = "Failed"

    def failed(self, status):
        for c in (status or {}).get("conditions", []):
            if c.get("type") == self.failed_type and c.get("status") == "True":
                return c
        return None


@contextmanager
def sigterm_raises():
    """SIGTERM raises Terminated in the block. `distml` installs that handler itself; a KFP
    step's Python (kfp's executor) has none, and SIGTERM would end it before it cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield  # someone decided already (distml's CLI: raise_terminated)
        return
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_owned(api, custom, core, manifest, wait, *, environ=None):
    """Create (or adopt) `manifest` owned by this pod, return `wait()`'s result; delete the
    job when the wait ends early (its timeout, SIGTERM, Ctrl-C)."""
    from distml.components.common.owner import step_pod_owner

    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    owner = step_pod_owner(core, namespace, environ)
    if owner:
        manifest = {**manifest, "metadata": {**manifest["metadata"], "ownerReferences": [owner]}}
    with sigterm_raises():
        create_or_adopt(api, custom, manifest, owner)
        try:
            return wait()
        except JobFailed:
            raise  # kept for its pods' logs; its owner, the step's pod, takes it along
        except (DistmlError, Terminated, KeyboardInterrupt):
            delete_job(api, custom, name, namespace)  # timed out, or the step was stopped: free the workers
            raise


def create_or_adopt(api, custom, manifest, owner):
    from kubernetes.client.exceptions import ApiException

    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    try:
        custom.create_namespaced_custom_object(api.group, api.version, namespace, api.plural, manifest)
        log.info("created %s %s/%s", api.kind, namespace, name)
        return
    except ApiException as e:
        if e.status != 409:
            raise DistmlError(f"could not create {api.kind} {namespace}/{name}: {e.status} {e.reason}") from None
    existing = custom.get_namespaced_custom_object(api.group, api.version, namespace, api.plural, name)
    if existing.get("metadata", {}).get("labels", {}).get(RUN_LABEL) != manifest["metadata"]["labels"][RUN_LABEL]:
        raise DistmlError(
            f"{api.kind} {namespace}/{name} already exists and belongs to another run; "
            f"choose another name (--{api.kind.lower()}-name) or delete it"
        )
    if api.failed(existing.get("status")):
        log.info(
            "%s %s/%s of this run failed before; replacing it (it resumes from its checkpoints)",
            api.kind,
            namespace,
            name,
        )
        delete_job(api, custom, name, namespace, wait=True)
        custom.create_namespaced_custom_object(api.group, api.version, namespace, api.plural, manifest)
        return
    log.info("%s %s/%s of this run already exists; waiting for it", api.kind, namespace, name)
    if owner:
        owners = existing["metadata"].get("ownerReferences", [])
        if all(o.get("uid") != owner["uid"] for o in owners):
            body = {"metadata": {"ownerReferences": [*owners, owner]}}
            custom.patch_namespaced_custom_object(api.group, api.version, namespace, api.plural, name, body)


def delete_job(api, custom, name, namespace, *, wait=False, poll_interval_s=1.0, timeout_s=120.0):
    """Delete the job and (foreground) what it created; gone already is fine."""
    from kubernetes.client.exceptions import ApiException

    try:
        custom.delete_namespaced_custom_object(
            api.group, api.version, namespace, api.plural, name, propagation_policy="Foreground"
        )
        log.info("deleted %s %s/%s", api.kind, namespace, name)
    except ApiException as e:
        if e.status != 404:
            log.warning(
                "could not delete %s %s/%s (%s %s): kubectl -n %s delete %s %s",
                api.kind,
                namespace,
                name,
                e.status,
                e.reason,
                namespace,
                api.kind.lower(),
                name,
            )
        return
    deadline = time.monotonic() + timeout_s
    while wait:
        try:
            custom.get_namespaced_custom_object(api.group, api.version, namespace, api.plural, name)
        except ApiException as e:
            if e.status == 404:
                return
            raise
        if time.monotonic() > deadline:
            raise DistmlError(f"{api.kind} {namespace}/{name} was not deleted within {timeout_s:.0f} s")
        time.sleep(poll_interval_s)
