"""Prepare the build context of one image: the wheelhouse `docker build` installs from.

    .venv/bin/python containers/wheelhouse.py requirements/cpu.lock build/images/cpu

- every distribution the lock names is downloaded by hash into build/wheelhouse/ (kept
  across builds: pip skips what it already has), for CPython 3.11 on x86-64 Linux whatever
  the host runs;
- a distribution published only as source (kfp-server-api, promise) is built into a wheel
  here, from the sdist whose hash the lock checked, with the build backend .venv has from
  dev.lock; the context's copy of the lock names that wheel by its own hash;
- the context gets exactly those wheels, that lock, pip's wheel (requirements/installer.lock:
  the Dockerfile runs pip from it), distml's own wheel built from this checkout, and
  containers/prune.py.

Nothing else is in the context: the build needs no index and no network.
"""

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build" / "wheelhouse"
INSTALLER_LOCK = REPO / "requirements" / "installer.lock"
# The images' platform, which the locks are resolved for.
PLATFORM = [
    "--implementation",
    "cp",
    "--python-version",
    "3.11",
    *[
        arg
        for tag in (
            "manylinux_2_28_x86_64",
            "manylinux_2_27_x86_64",
            "manylinux_2_17_x86_64",
            "manylinux2014_x86_64",
            "linux_x86_64",
            "any",
        )
        for arg in ("--platform", tag)
    ],
]
SDIST = re.compile(r"^(.+)-([^-]+)\.(tar\.gz|zip)$")
NOISE = "is ignored: it is neither a file nor a directory"  # this host's pip config names absent indexes


def pip(*args):
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        err = "\n".join(line for line in result.stderr.splitlines() if NOISE not in line)
        sys.exit(f"wheelhouse: error: pip {args[0]} failed:\n{err or result.stdout}")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def fetch(lock, dest):
    """The files `lock` names into dest: downloaded into CACHE once, then copied from it."""
    common = ["--quiet", "--progress-bar", "off", "--require-hashes", "--no-deps", *PLATFORM, "-r", str(lock)]
    pip("download", *common, "-d", str(CACHE))
    pip("download", *common, "--no-index", "--find-links", str(CACHE), "-d", str(dest))


def wheel_from_sdist(sdist):
    """The wheel built from `sdist`, kept in CACHE/built/<sdist sha256>/: built once, so every
    later context holds the same bytes and docker's cache of the install layer holds."""
    built = CACHE / "built" / sha256(sdist)
    wheels = list(built.glob("*.whl"))
    if not wheels:
        staging = built.with_suffix(".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(staging), str(sdist))
        staging.rename(built)
        wheels = list(built.glob("*.whl"))
    (wheel,) = wheels
    return wheel


def build_source_only(wheels, lock_text):
    """Turn each sdist in `wheels` into a wheel; return the lock with those entries re-hashed."""
    for sdist in sorted(wheels.iterdir()):
        match = SDIST.match(sdist.name)
        if not match:
            continue
        wheel = Path(shutil.copy(wheel_from_sdist(sdist), wheels))
        sdist.unlink()
        name = canonical(match[1])
        entry = re.compile(
            rf"^({'|'.join(re.escape(v) for v in {name, match[1]})})==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]+)+)",
            re.M | re.I,
        )
        found = entry.search(lock_text)
        if not found:
            sys.exit(f"wheelhouse: error: {sdist.name} is not in the lock")
        replacement = f"{found[1]}=={found[2]} \\\n    --hash=sha256:{sha256(wheel)}"
        lock_text = lock_text[: found.start()] + replacement + lock_text[found.end() :]
        print(f"wheelhouse: built {wheel.name} from its hash-checked sdist (no wheel on PyPI)", file=sys.stderr)
    return lock_text


def main(lock, context):
    lock, context = Path(lock), Path(context)
    if context.exists():
        shutil.rmtree(context)
    wheels, installer, own = context / "wheels", context / "installer", context / "distml"
    for d in (wheels, installer, own):
        d.mkdir(parents=True)
    fetch(lock, wheels)
    fetch(INSTALLER_LOCK, installer)
    (context / "requirements.lock").write_text(build_source_only(wheels, lock.read_text()))
    shutil.copy(REPO / "containers" / "prune.py", installer / "prune.py")
    pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(own), str(REPO))
    for leftover in [REPO / "build" / "lib", *REPO.glob("build/bdist.*"), *REPO.glob("*.egg-info")]:
        shutil.rmtree(leftover, ignore_errors=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
