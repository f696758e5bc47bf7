#!/bin/sh
# Refresh every lock in this folder on purpose (`make lock`), then regenerate the checked-in
# generated files with the new versions. The locks are what this repository installs; the
# ranges in pyproject.toml are what a library user of distml needs.
#
#   dev.lock        .venv: make run, make test, CI (extras tf, serve, dev + the build backend)
#   cpu.lock        the CPU image (tf, serve)      } resolved inside dev.lock's versions,
#   slim.lock       the slim image (base only)     } so images run what the tests ran
#   gpu.lock        the GPU image (gpu, serve)     }
#   installer.lock  pip, run from its wheel to install an image's lock (never installed in it)
#   tools.lock      .venv-tools: linters that pin what .venv cannot share, and uv itself
#   bench.lock      .venv-bench: the tf-keras model.fit baseline of the benchmarks
#   mutation.lock   .venv-mutation: cosmic-ray for `make mutation`
#
# All are resolved for CPython 3.11 on x86-64 Linux (the images' and CI's platform), with
# hashes, whatever machine refreshes them.
set -eu
cd "$(dirname "$0")/.."
uv=${UV:-.venv-tools/bin/uv}
compile() {
    out=$1; shift
    "$uv" pip compile --quiet --generate-hashes --python-version 3.11 \
        --python-platform x86_64-manylinux_2_28 --no-header \
        --output-file "requirements/$out" "$@"
}
# The build backend (pyproject's build-system.requires) is locked too: `pip install -e .`
# runs without build isolation, from the lock.
python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
    | compile dev.lock pyproject.toml - --extra tf --extra serve --extra dev
compile cpu.lock pyproject.toml --extra tf --extra serve -c requirements/dev.lock
compile slim.lock pyproject.toml -c requirements/dev.lock
compile gpu.lock pyproject.toml --extra gpu --extra serve -c requirements/dev.lock
compile installer.lock requirements/installer.in
compile tools.lock requirements/tools.in
compile bench.lock requirements/bench.in -c requirements/dev.lock
compile mutation.lock requirements/mutation.in
echo "locks refreshed; regenerating the generated files with the locked versions" >&2
make --no-print-directory install compile
