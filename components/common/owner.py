"""The step's pod as the owner of the objects a step creates (TrainJob, TFJob, ...), so that
Kubernetes' garbage collector deletes them when the pipeline's pod goes (a cancelled run,
a deleted workflow), even if the step could not clean up itself.

Owner references cannot cross namespaces: an object created in another namespace than the
pod's gets none (with a warning). `controller` is false on purpose: Kueue treats an object
whose controller owner is a workload it manages as that workload's child and does not
queue it on its own (with Kueue's pod integration on, step pods can be such workloads).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes.client import CoreV1Api

log = logging.getLogger("distml")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def pod_identity(
    environ: Mapping[str, str] | None = None, namespace_file: Path | str = SERVICE_ACCOUNT_NAMESPACE
) -> tuple[str, str] | None:
    """(pod name, namespace) of the pod this process runs in, or None outside a pod.

    POD_NAME / POD_NAMESPACE (downward API `metadata.name` / `metadata.namespace`) when set; else the hostname, which Kubernetes
    sets to the pod's name (Argo and KFP step pods set no hostname of their own)."""
    environ = os.environ if environ is None else environ
    if "KUBERNETES_SERVICE_HOST" not in environ:
        return None
    name = environ.get("POD_NAME") or environ.get("HOSTNAME")
    namespace = environ.get("POD_NAMESPACE")
    if not namespace:
        try:
            namespace = Path(namespace_file).read_text().strip()
        except OSError:
            return None
    return (name, namespace) if name and namespace else None


def step_pod_owner(
    core: CoreV1Api,
    namespace: str,
    environ: Mapping[str, str] | None = None,
    namespace_file: Path | str = SERVICE_ACCOUNT_NAMESPACE,
) -> dict[str, object] | None:
    """The ownerReference (API dict) naming this pod, for an object in `namespace`; None when
    there is no pod, it is in another namespace, or it cannot be read. The pod's UID comes
    from POD_UID (downward API `metadata.uid`) when set, else from reading the pod."""
    from kubernetes.client.exceptions import ApiException

    environ = os.environ if environ is None else environ
    identity = pod_identity(environ, namespace_file)
    if identity is None:
        return None
    name, pod_namespace = identity
    if pod_namespace != namespace:
        log.warning(
            "this pod runs in namespace %s, the job in %s: the job gets no owner and outlives a cancelled step",
            pod_namespace,
            namespace,
        )
        return None
    uid = environ.get("POD_UID")
    if not uid:
        try:
            uid = core.read_namespaced_pod(name, pod_namespace).metadata.uid
        except ApiException as e:
            log.warning(
                "could not read this pod %s/%s (%s %s): the job gets no owner", pod_namespace, name, e.status, e.reason
            )
            return None
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": name,
        "uid": uid,
        "controller": False,
        "blockOwnerDeletion": False,
    }


# What a step pod's container gets from the downward API so it can own what it creates
# without reading its own pod: {env name: pod field}.
OWNER_FIELDS = {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace", "POD_UID": "metadata.uid"}


def owner_env() -> list[dict[str, object]]:
    """The container env (API dicts) that sets OWNER_FIELDS from the downward API."""
    return [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in OWNER_FIELDS.items()]
