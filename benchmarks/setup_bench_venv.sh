#!/bin/sh
# Create the baseline's virtualenv (default .venv-bench) from benchmarks/requirements-baseline.txt.
# Idempotent: does nothing when the venv already matches the requirements file.
# Usage: sh benchmarks/setup_bench_venv.sh [VENV_DIR]   (PYTHON=python3.11 to choose the interpreter)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$here/../.venv-bench}
python=${PYTHON:-python3}
req=$here/requirements-baseline.txt
stamp=$venv/.installed
if [ -f "$stamp" ] && cmp -s "$stamp" "$req"; then
    exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r "$req"
cp "$req" "$stamp"
echo "baseline virtualenv ready: $venv" >&2
