"""Serving: `distml serve` with a trained model vs the same server with a model that does no work,
and (with --baseline-rev) this code vs an older commit's, measured interleaved.

`distml serve` processes run side by side on 127.0.0.1:
  real   the `cnn` SavedModel distml's trainer exports (trained briefly on the benchmark dataset)
  noop   a SavedModel with the same `serving_default` signature (images float32 [N,28,28,1] ->
         probabilities [N,10], class_ids [N]) that returns constants: the framework's ceiling
With --baseline-rev REV, the same two models are also served by the code of commit REV
(`git archive` into the work folder, run with PYTHONPATH), so before and after share the
machine's state: on a shared machine, back-to-back runs differ by more than the change.
For each repeat and concurrency (default 1, 8, 32), `hey` (Debian package `hey`) POSTs the
same V1 request, one 28x28x1 image `{"instances": [[[..]]]}`, to /v1/models/NAME:predict
for --duration seconds against each server in turn (order rotating). Loopback only.

    python -m benchmarks.serving [--concurrency 1 8 32] [--duration 8] [--repeats 2] [--baseline-rev daab8d1]
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
        train(
            dataset,
            out,
            model_type="cnn",
            epochs=1,
            steps_per_epoch=50,
            batch_size=64,
            seed=seed,
            launcher="in-process",
        )
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


def baseline_tree(rev, out):
    """Commit `rev`'s sources, importable with PYTHONPATH=out (distml.components -> components/, as installed)."""
    root = Path(__file__).resolve().parent.parent
    if not (out / "distml" / "components").exists():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(root), "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
        for name in ("components", "pipelines"):
            (out / "distml" / name).symlink_to(Path("..") / name)
    return out


class Server:
    def __init__(self, repo, name, log, pythonpath=None):
        self.name = name
        self.http, self.grpc = free_ports(2)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
        self.proc = subprocess.Popen(
            [
                str(DISTML),
                "serve",
                "--repo",
                str(repo),
                "--model-name",
                name,
                "--http-port",
                str(self.http),
                "--grpc-port",
                str(self.grpc),
                "--poll-interval",
                "3600",
                "--grace-period",
                "2",
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.http}/v1/models/{name}:predict"

    def wait_ready(self, timeout=600):  # four servers start at once, on a machine that may be busy
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
        [
            "hey",
            "-z",
            f"{duration}s",
            "-c",
            str(concurrency),
            "-t",
            "20",
            "-m",
            "POST",
            "-T",
            "application/json",
            "-D",
            str(body),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout

    def grab(pattern, cast=float):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else None

    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    errors = (
        sum(int(n) for n in re.findall(r"\[(\d+)\]\s+[^\n]*\n", out.split("Error distribution:")[1]))
        if "Error distribution:" in out
        else 0
    )
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
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per (server, concurrency, repeat)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--examples", type=int, default=60_000, help="dataset the real model is trained on")
    parser.add_argument(
        "--baseline-rev", default=None, help="also serve with this commit's code, interleaved ('before')"
    )
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
    codes = {"after": None}
    if args.baseline_rev:
        codes = {"before": baseline_tree(args.baseline_rev, serve_dir / f"baseline-{args.baseline_rev}"), **codes}

    results = []
    with open(root / "serving.log", "a") as log:
        servers = {
            (code, name): Server(repo, name, log, path) for code, path in codes.items() for name in ("real", "noop")
        }
        try:
            for s in servers.values():
                s.wait_ready()
            for s in servers.values():  # warm-up: first requests trace and allocate
                hey(s.url, body, 4, 2)
            print(
                f"# servers ready: {', '.join(f'{c}/{n} :{s.http}' for (c, n), s in servers.items())}; "
                f"{args.duration} s of load per point; log {root / 'serving.log'}",
                flush=True,
            )
            keys = list(servers)
            for rep in range(args.repeats):
                for c in args.concurrency:
                    shift = rep % len(keys)
                    for code, name in keys[shift:] + keys[:shift]:
                        r = hey(servers[code, name].url, body, c, args.duration)
                        log.write(f"\n===== hey {code} {name} c={c} repeat={rep} =====\n{r.pop('raw')}\n")
                        r.update(code=code, model=name, concurrency=c, repeat=rep, load=os.getloadavg()[0])
                        results.append(r)
                        print(
                            f"#   {code:6s} {name:4s} c={c:<3d} {r['rps']:.0f} req/s  p50 {r['p50_ms']:.1f} ms  "
                            f"p99 {r['p99_ms']:.1f} ms  ok {r['ok']}  errors {r['errors']}  load {r['load']:.1f}",
                            flush=True,
                        )
        finally:
            for s in servers.values():
                s.stop()
    save_json(root / "serving.json", {"args": vars(args), "results": results})
    report(results, args, list(codes))
    return results


def _point(results, code, name, c, rep):
    return next(
        (r for r in results if (r["code"], r["model"], r["concurrency"], r["repeat"]) == (code, name, c, rep)), None
    )


def report(results, args, codes):
    rows = []
    for c in args.concurrency:
        for code in codes:
            for name in ("real", "noop"):
                rs = [r for r in results if r["code"] == code and r["model"] == name and r["concurrency"] == c]
                rows.append(
                    [
                        code,
                        name,
                        c,
                        spread([r["rps"] for r in rs]),
                        spread([r["p50_ms"] for r in rs], "{:.1f}"),
                        spread([r["p99_ms"] for r in rs], "{:.1f}"),
                        sum(r["ok"] for r in rs),
                        sum(r["errors"] for r in rs),
                    ]
                )
    table(
        "distml serve, V1 REST, 1 image per request: median (min-max) over repeats",
        ["code", "model", "concurrency", "req/s", "p50 ms", "p99 ms", "ok", "errors"],
        rows,
    )

    top, low = max(args.concurrency), min(args.concurrency)
    reps = range(args.repeats)
    real = {
        c: [r for r in results if r["code"] == "after" and r["model"] == "real" and r["concurrency"] == c]
        for c in args.concurrency
    }
    scaling = [
        _point(results, "after", "real", top, k)["rps"] / _point(results, "after", "real", low, k)["rps"] for k in reps
    ]
    p99 = median([r["p99_ms"] for r in real[top]])
    errors = sum(r["errors"] for rs in real.values() for r in rs)
    checks = [
        [
            f"real req/s at c={top} / at c={low}",
            spread(scaling, "{:.2f}"),
            ">= 1",
            "met" if median(scaling) >= 1 else "NOT met",
        ],
        [f"real p99 at c={top}", f"{p99:.1f} ms", "<= 100 ms", "met" if p99 <= 100 else "NOT met"],
        ["errors (real)", errors, "0", "met" if errors == 0 else "NOT met"],
    ]
    if "before" in codes:
        speedup = [
            _point(results, "after", "real", top, k)["rps"] / _point(results, "before", "real", top, k)["rps"]
            for k in reps
        ]
        checks.append(
            [
                f"real req/s at c={top}, after / before",
                spread(speedup, "{:.1f}x"),
                ">= 3x",
                "met" if median(speedup) >= 3 else "NOT met",
            ]
        )
    ceiling = [
        _point(results, "after", "real", top, k)["rps"] / _point(results, "after", "noop", top, k)["rps"] for k in reps
    ]
    checks.append([f"real / no-op ceiling at c={top}", spread([x * 100 for x in ceiling], "{:.0f}%"), "(context)", ""])
    table("targets (ratios per repeat, from points measured back to back)", ["measure", "value", "target", ""], checks)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
