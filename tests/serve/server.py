"""Start `distml serve` as a user would (a subprocess on free ports) and talk to it."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from distml.components.common.ports import free_ports

START_TIMEOUT_S = 120


class Server:
    def __init__(self, repo, model_name, log_path, max_batch_size=8, poll_interval=0.5, grace_period=10, extra_args=()):
        self.model_name = model_name
        self.http_port, self.grpc_port = free_ports(2)
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.grpc_url = f"127.0.0.1:{self.grpc_port}"
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distml",
                "serve",
                "--repo",
                str(repo),
                "--model-name",
                model_name,
                "--http-port",
                str(self.http_port),
                "--grpc-port",
                str(self.grpc_port),
                "--max-batch-size",
                str(max_batch_size),
                "--poll-interval",
                str(poll_interval),
                "--grace-period",
                str(grace_period),
                *map(str, extra_args),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        self._wait_ready()

    def log(self):
        return open(self.log_path).read()

    def memory_mb(self):
        """(current RSS, peak RSS) of the server process in MB, from /proc."""
        fields = dict(line.split(":", 1) for line in open(f"/proc/{self.process.pid}/status"))
        return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"distml serve exited {self.process.returncode}:\n{self.log()}")
            try:
                if self.get("/v2/health/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"distml serve not ready after {START_TIMEOUT_S}s:\n{self.log()}")

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.request("POST", path, data, {"content-type": content_type})

    def request(self, method, path, data=None, headers=None):
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()
