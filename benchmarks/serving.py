"""Serving: `distml serve` with a trained model vs the same server with a model that does no work.

Two `distml serve` processes run side by side on 127.0.0.1:
  real   the `cnn` SavedModel distml's trainer exports (trained briefly on the benchmark dataset)
  noop   a SavedModel with the same `serving_default` signature (images float32 [N,28,28,1] ->
         probabilities [N,10], class_ids [N]) that returns constants: the framework's ceiling
For each concurrency (default 1, 8, 32) and repeat, `hey` (Debian package `hey`) POSTs the
same V1 request, one 28x28x1 image `{"instances": [[[..]]]}`, to /v1/models/NAME:predict
for --duration seconds against each server in turn. Loopback only, bounded in time.

    python -m benchmarks.serving [--concurrency 1 8 32] [--duration 8] [--repeats 2]
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks import data
from benchmarks.common import median, print_machine, save_json, spread, table, workdir
from benchmarks.training import free_ports

DISTML = Path(sys.executable).parent / "distml"


def make_real_model(dataset, out, seed):
    """A real distml model: the trainer's export after a short in-process run."""
    from distml.components.train.core import train

    if not (out / "1" / "saved_model.pb").is_file():
        shutil.rmtree(out, ignore_errors=True)
        train(dataset, out, model_type="cnn", epochs=1, steps_per_epoch=50, batch_size=64, seed=seed, launcher="in-process")
    return out / "1"


def make_noop_model(real_version_dir, out):
    """Same signature and model.json as the real model; returns constants."""
    import tensorflow as tf

    info = json.loads((real_version_dir / "assets.extra" / "model.json").read_text())
    shape, k = info["image_shape"], info["num_classes"]

    class Noop(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.float32, name="images")])
        def serve(self, images):
            n = tf.shape(images)[0]
            return {"probabilities": tf.fill([n, k], 1.0 / k), "class_ids": tf.zeros([n], tf.int64)}

    shutil.rmtree(out, ignore_errors=True)
    module = Noop()
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.serve})
    (out / "assets.extra").mkdir()
    (out / "assets.extra" / "model.json").write_text(json.dumps({**info, "model_type": "noop"}, indent=2))
    return out


class Server:
    def __init__(self, repo, name, log):
        self.name = name
        self.http, self.grpc = free_ports(2)
        self.proc = subprocess.Popen(
            [str(DISTML), "serve", "--repo", str(repo), "--model-name", name, "--http-port", str(self.http),
             "--grpc-port", str(self.grpc), "--poll-interval", "3600", "--grace-period", "2"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        self.url = f"http://127.0.0.1:{self.http}/v1/models/{name}:predict"

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"distml serve {self.name} exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/v1/models/{self.name}", timeout=2) as r:
                    if r.status == 200 and json.loads(r.read()).get("ready"):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"distml serve {self.name} not ready after {timeout} s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def hey(url, body, concurrency, duration):
    """Run hey for `duration` seconds; return req/s, p50/p99 ms, ok and error counts."""
    out = subprocess.run(
        ["hey", "-z", f"{duration}s", "-c", str(concurrency), "-t", "20", "-m", "POST", "-T", "application/json",
         "-D", str(body), url],
        capture_output=True, text=True, timeout=duration + 60).stdout

    def grab(pattern, cast=float):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else None

    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    errors = sum(int(n) for n in re.findall(r"\[(\d+)\]\s+[^\n]*\n", out.split("Error distribution:")[1])) \
        if "Error distribution:" in out else 0
    ok = codes.get(200, 0)
    return {
        "rps": grab(r"Requests/sec:\s+([\d.]+)"),
        "p50_ms": (grab(r"50% in ([\d.]+) secs") or 0) * 1000,
        "p99_ms": (grab(r"99% in ([\d.]+) secs") or 0) * 1000,
        "ok": ok,
        "errors": errors + sum(n for c, n in codes.items() if c != 200),
        "raw": out,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per (model, concurrency, repeat)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--examples", type=int, default=60_000, help="dataset the real model is trained on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    if not shutil.which("hey"):
        sys.exit("serving benchmark needs the load generator hey: apt-get install hey")

    root = workdir(args.workdir)
    print_machine()
    prepared = data.prepare(args.examples, args.seed, root)
    serve_dir = root / "serving"
    repo = serve_dir / "repo"
    real_src = make_real_model(prepared["artifact"], serve_dir / "trained", args.seed)
    noop_src = make_noop_model(real_src, serve_dir / "noop-model")
    from distml.components.common.model_artifact import push

    shutil.rmtree(repo, ignore_errors=True)
    push(real_src, repo, "real", 1)
    push(noop_src, repo, "noop", 1)
    images, _ = data.generate(1, args.seed, offset=7)
    body = serve_dir / "request.json"
    body.write_text(json.dumps({"instances": images.astype(int).tolist()}))

    results = []
    with open(root / "serving.log", "a") as log:
        servers = {name: Server(repo, name, log) for name in ("real", "noop")}
        try:
            for s in servers.values():
                s.wait_ready()
            for s in servers.values():  # warm-up: first requests trace and allocate
                hey(s.url, body, 4, 2)
            print(f"# servers ready: real :{servers['real'].http}, noop :{servers['noop'].http}; "
                  f"{args.duration} s of load per point; log {root / 'serving.log'}", flush=True)
            for rep in range(args.repeats):
                for c in args.concurrency:
                    order = ["real", "noop"] if rep % 2 == 0 else ["noop", "real"]
                    for name in order:
                        r = hey(servers[name].url, body, c, args.duration)
                        log.write(f"\n===== hey {name} c={c} repeat={rep} =====\n{r.pop('raw')}\n")
                        r.update(model=name, concurrency=c, repeat=rep)
                        results.append(r)
                        print(f"#   {name:4s} c={c:<3d} {r['rps']:.0f} req/s  p50 {r['p50_ms']:.1f} ms  "
                              f"p99 {r['p99_ms']:.1f} ms  ok {r['ok']}  errors {r['errors']}", flush=True)
        finally:
            for s in servers.values():
                s.stop()
    save_json(root / "serving.json", {"args": vars(args), "results": results})
    report(results, args)
    return results


def report(results, args):
    rows = []
    for c in args.concurrency:
        for name in ("real", "noop"):
            rs = [r for r in results if r["model"] == name and r["concurrency"] == c]
            rows.append([name, c, spread([r["rps"] for r in rs]), spread([r["p50_ms"] for r in rs], "{:.1f}"),
                         spread([r["p99_ms"] for r in rs], "{:.1f}"), sum(r["ok"] for r in rs),
                         sum(r["errors"] for r in rs)])
    table("distml serve, V1 REST, 1 image per request: median (min-max) over repeats",
          ["model", "concurrency", "req/s", "p50 ms", "p99 ms", "ok", "errors"], rows)
    ratio_rows = []
    for c in args.concurrency:
        ratios = []
        for rep in range(args.repeats):
            real = next((r for r in results if r["model"] == "real" and r["concurrency"] == c and r["repeat"] == rep), None)
            noop = next((r for r in results if r["model"] == "noop" and r["concurrency"] == c and r["repeat"] == rep), None)
            if real and noop and noop["rps"]:
                ratios.append(real["rps"] / noop["rps"])
        errors = sum(r["errors"] for r in results if r["model"] == "real" and r["concurrency"] == c)
        verdict = "" if c != max(args.concurrency) else (
            "met" if median(ratios) is not None and median(ratios) >= 0.7 and errors == 0 else "NOT met")
        ratio_rows.append([c, spread([x * 100 for x in ratios], "{:.0f}%"), errors, verdict])
    table("real model / no-op ceiling, req/s per repeat; target >= 70% at the highest concurrency, no errors",
          ["concurrency", "real / ceiling", "errors (real)", "target"], ratio_rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
