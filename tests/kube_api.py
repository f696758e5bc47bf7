"""A fake Kubernetes API server on localhost for the code that talks to a cluster (there is none
here): the real `kubernetes` client connects to it through a kubeconfig, so requests, JSON
merge patches and `ApiException`s (with the API server's status codes and Status bodies)
are the real client's.

It stores custom objects by URL, bumps metadata.generation when a write changes the spec
(as the API server does), and lets a test play the controller: `on_read(obj, reads)` may
set obj["status"] before each GET returns it. `fail[(verb, kind)] = (code, reason)` makes a
request fail the way the API server refuses it; `(code, reason, n)` lets the first n through.
"""

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

CUSTOM = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$"
)
PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
POD = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)$")


def merge(target, patch):
    """RFC 7386 JSON merge patch, as the API server applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def status_body(code, reason, message):
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeKubernetes:
    def __init__(self):
        self.objects = {}  # (plural, namespace, name) -> object
        self.reads = {}  # (plural, namespace, name) -> GETs so far
        self.requests = []  # (verb, path, body)
        self.queries = []  # {query parameter: [values]} of each request, in the same order
        self.on_read = {}  # plural -> callable(obj, reads)
        self.fail = {}  # (verb, plural) -> (code, reason)
        self.pods = []  # dicts (V1Pod JSON) listed for any selector, read by name
        self.lock = threading.Lock()

    # -- server --
    def start(self, tmp_path):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, verb):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with fake.lock:
                    code, reply = fake.handle(verb, self.path, body, self.headers.get("Content-Type"))
                self._send(code, reply)

            def do_GET(self):
                self._handle("get")

            def do_POST(self):
                self._handle("create")

            def do_PATCH(self):
                self._handle("patch")

            def do_DELETE(self):
                self._handle("delete")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for the serving loop's next poll: 0.5 s by default, paid by every test
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": host}}],
                    "users": [{"name": "fake", "user": {"token": "t"}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "distml"}}
                    ],
                }
            )
        )
        return kubeconfig

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # -- API semantics --
    def handle(self, verb, path, body, content_type):
        url = urlsplit(path)
        self.requests.append((verb, url.path, copy.deepcopy(body)))
        self.queries.append(parse_qs(url.query))
        pod = POD.match(url.path)
        if pod and verb == "get":  # a pod reading itself (by name, e.g. to own what it creates)
            for item in self.pods:
                if (
                    item["metadata"]["name"] == pod["name"]
                    and item["metadata"].get("namespace", pod["ns"]) == pod["ns"]
                ):
                    return 200, item
            return 404, status_body(404, "NotFound", f'pods "{pod["name"]}" not found')
        pods = PODS.match(url.path)
        if pods and verb == "get":
            selector = parse_qs(url.query).get("labelSelector", [""])[0]
            self.requests[-1] = (verb, url.path, {"labelSelector": selector})
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self.pods}
        match = CUSTOM.match(url.path)
        if not match:
            return 404, status_body(404, "NotFound", f"the server could not find the requested resource ({path})")
        plural, ns, name = match["plural"], match["ns"], match["name"]
        name = name or ((body or {}).get("metadata") or {}).get("name")
        if (verb, plural) in self.fail:
            code, reason, *allowed = self.fail[(verb, plural)]
            if not allowed or allowed[0] <= 0:
                return code, status_body(code, reason, f"{plural} {name} {reason} (injected)")
            self.fail[(verb, plural)] = (code, reason, allowed[0] - 1)
        if verb == "create":
            name = body["metadata"]["name"]
            key = (plural, ns, name)
            if key in self.objects:
                return 409, status_body(409, "AlreadyExists", f'{plural}.{match["group"]} "{name}" already exists')
            obj = copy.deepcopy(body)
            obj["metadata"].update(generation=1, namespace=ns, uid=f"uid-{name}", resourceVersion="1")
            self.objects[key] = obj
            return 201, obj
        key = (plural, ns, name)
        if key not in self.objects:
            return 404, status_body(404, "NotFound", f'{plural}.{match["group"]} "{name}" not found')
        obj = self.objects[key]
        if verb == "get":
            self.reads[key] = self.reads.get(key, 0) + 1
            if plural in self.on_read:
                self.on_read[plural](obj, self.reads[key])
            return 200, obj
        if verb == "patch":
            assert content_type == "application/merge-patch+json", content_type
            patched = merge(obj, body)
            if patched.get("spec") != obj.get("spec"):
                patched["metadata"]["generation"] = obj["metadata"]["generation"] + 1
            self.objects[key] = patched
            return 200, patched
        if verb == "delete":
            del self.objects[key]
            return 200, status_body(200, "", "") | {"status": "Success"}
        return 405, status_body(405, "MethodNotAllowed", verb)
