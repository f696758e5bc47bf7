"""What every benchmark shares: the work folder, the machine description, result tables."""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = ROOT / "build" / "bench"  # build/ is git-ignored
BENCH_VENV = Path(os.environ.get("DISTML_BENCH_VENV", ROOT / ".venv-bench"))


def workdir(path=None):
    path = Path(path or DEFAULT_WORKDIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    """The facts docs/benchmarks.md records with every result."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    from importlib import metadata

    versions = {}
    for name in ("tensorflow-cpu", "tensorflow", "keras", "tensorflow-datasets", "kserve", "kfp", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    load = os.getloadavg()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": _run(["nproc"]),
        "cpu": cpu,
        "memory": _run(["free", "-h"]).splitlines()[1] if _run(["free", "-h"]) else "",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def print_machine(file=None):
    file = file or sys.stdout
    m = machine()
    print(
        f"# {m['date']}  nproc={m['nproc']}  cpu={m['cpu']}  python {m['python']}  load {m['loadavg_at_start']}",
        file=file,
    )
    print("# " + "  ".join(f"{k} {v}" for k, v in m["versions"].items()), file=file)
    print(f"# free -h: {m['memory']}", file=file)


def table(title, headers, rows, file=None):
    """A Markdown table (pastes straight into docs/benchmarks.md)."""
    file = file or sys.stdout
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n### {title}\n", file=file)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |", file=file)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=file)
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |", file=file)
    file.flush()


def spread(values, fmt="{:.0f}"):
    """'median (min-max)' of repeated measurements."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def save_json(path, data):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
