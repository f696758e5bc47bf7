"""Remove from the image's virtualenv what nothing needs at run time (the build stage runs it
with the venv's python after installing the lock):

    python prune.py /opt/distml

- C/C++ headers and static libraries (tensorflow/include alone is ~290 MB): for compiling
  extensions against a package, which no image step does;
- the packages' own test suites (`tests` folders of numpy, scipy, pandas, scikit-learn,
  pyarrow, ...: ~120 MB), which nothing imports.

The distributions stay installed (their metadata is untouched), so the venv still holds
exactly the lock; the container tests run every component on the pruned image.
"""

import shutil
import sys
from pathlib import Path

HEADER_DIRS = {"include"}
TEST_DIRS = {"tests"}
STATIC_SUFFIXES = {".a", ".h", ".hpp", ".hh", ".pxd", ".pyx"}


def size(path):
    if path.is_dir():
        return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file())
    return path.lstat().st_size


def prune(venv):
    site = next(Path(venv).glob("lib/python3*/site-packages"))
    removed = 0
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts)):
        if not path.exists() or path.is_symlink():
            continue
        relative = path.relative_to(site)
        if path.is_dir() and (
            (path.name in HEADER_DIRS and len(relative.parts) <= 3)
            or (path.name in TEST_DIRS and len(relative.parts) >= 2)
        ):
            removed += size(path)
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in STATIC_SUFFIXES:
            removed += size(path)
            path.unlink()
    print(f"prune: removed {removed / 1e6:.0f} MB of headers, static libraries and test suites", file=sys.stderr)


if __name__ == "__main__":
    prune(sys.argv[1])
