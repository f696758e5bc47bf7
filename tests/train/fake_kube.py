"""An in-memory Kubernetes API server behind the real `kubernetes` client.

It replaces only the HTTP layer (`ApiClient.call_api`): the real CustomObjectsApi and
CoreV1Api check their arguments, build the REST paths and raise the real ApiException,
so code tested against it makes the calls it would make against a cluster. A `controller`
callback plays the operator: it may change an object each time it is read.
"""

import copy
import re

from kubernetes import client
from kubernetes.client.exceptions import ApiException

CUSTOM_ITEM = re.compile(r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(/(?P<name>[^/]+))?$")
POD_ITEM = re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/pods(/(?P<name>[^/]+))?$")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (what the client sends for a dict body on custom objects)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeApiServer:
    client_side_validation = True

    def __init__(self, controller=None):
        self.objects = {}  # (group/version, namespace, plural, name) -> object
        self.pods = {}  # (namespace, name) -> V1Pod-shaped dict
        self.requests = []  # (method, path, query params, body)
        self.controller = controller or (lambda obj: None)
        self._deserializer = client.ApiClient()
        self.next_uid = 0

    # what the generated API classes call on their api_client
    def select_header_accept(self, accepts):
        return accepts[0] if accepts else None

    def select_header_content_type(self, content_types, method=None, body=None):
        if method == "PATCH" and "application/merge-patch+json" in content_types:
            return "application/merge-patch+json"
        return content_types[0] if content_types else "application/json"

    def call_api(self, resource_path, method, path_params=None, query_params=None, header_params=None, body=None,
                 response_type=None, **_):
        path = resource_path
        for key, value in (path_params or {}).items():
            path = path.replace("{" + key + "}", str(value))
        self.requests.append((method, path, dict(query_params or []), copy.deepcopy(body)))
        if m := CUSTOM_ITEM.match(path):
            data = self._custom(method, m, body)
        elif m := POD_ITEM.match(path):
            data = self._pods(method, m, query_params)
        else:
            raise ApiException(status=404, reason="Not Found")
        if response_type and response_type != "object":
            return self._deserializer._ApiClient__deserialize(data, response_type)
        return data

    def _custom(self, method, m, body):
        key = (f"{m['group']}/{m['version']}", m["ns"], m["plural"], m["name"])
        if method == "POST":
            key = (*key[:3], body["metadata"]["name"])
            if key in self.objects:
                raise ApiException(status=409, reason="Conflict")
            obj = copy.deepcopy(body)
            self.next_uid += 1
            obj["metadata"]["uid"] = f"uid-{self.next_uid}"
            self.objects[key] = obj
            return copy.deepcopy(obj)
        if key not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        if method == "GET":
            self.controller(self.objects[key])
            return copy.deepcopy(self.objects[key])
        if method == "PATCH":
            self.objects[key] = merge_patch(self.objects[key], body)
            return copy.deepcopy(self.objects[key])
        if method == "DELETE":
            del self.objects[key]
            return {"kind": "Status", "status": "Success"}
        raise ApiException(status=405, reason="Method Not Allowed")

    def _pods(self, method, m, query_params):
        if method != "GET":
            raise ApiException(status=405, reason="Method Not Allowed")
        if m["name"]:
            pod = self.pods.get((m["ns"], m["name"]))
            if pod is None:
                raise ApiException(status=404, reason="Not Found")
            return pod
        selector = dict(query_params or []).get("labelSelector", "")
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        items = [p for (ns, _), p in self.pods.items() if ns == m["ns"]
                 and all(p["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}

    def apis(self):
        """(CustomObjectsApi, CoreV1Api) of the real client, talking to this server."""
        return client.CustomObjectsApi(api_client=self), client.CoreV1Api(api_client=self)
