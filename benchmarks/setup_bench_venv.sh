#!/bin/sh
# Create the baseline's virtualenv (default .venv-bench) from requirements/bench.lock.
# Idempotent: does nothing when the venv already matches the lock.
# Usage: sh benchmarks/setup_bench_venv.sh [VENV_DIR]   (PYTHON=python3.11 to choose the interpreter)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$here/../.venv-bench}
python=${PYTHON:-python3}
lock=$here/../requirements/bench.lock
stamp=$venv/.installed
if [ -f "$stamp" ] && cmp -s "$stamp" "$lock"; then
    exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --progress-bar off --require-hashes --no-deps -r "$lock"
cp "$lock" "$stamp"
echo "baseline virtualenv ready: $venv" >&2
