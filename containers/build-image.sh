#!/bin/sh
# Build one distml image from a wheelhouse (what `make images` / `make images-gpu` run):
#
#   sh containers/build-image.sh cpu|slim|gpu
#
# 1. the base: $BASE_IMAGE if given, else the Dockerfile's digest-pinned python image if the
#    engine has it or can pull it, else (registry out of reach: air-gapped build hosts) an
#    equivalent base built from Debian packages by containers/debian-base.sh (cached);
# 2. the wheelhouse: every wheel requirements/<flavour>.lock names, downloaded on this host
#    by hash (binary wheels only, CPython 3.11 x86-64 Linux) into build/wheelhouse/, plus
#    pip (requirements/installer.lock) and distml's own wheel;
# 3. the build context build/images/<flavour>/: exactly those wheels and the lock, so
#    `docker build` needs no index and no network, and sends nothing else.
set -eu
cd "$(dirname "$0")/.."
flavour=${1:?usage: build-image.sh cpu|slim|gpu}
case $flavour in
    cpu)  dockerfile=containers/Dockerfile;      tag=${IMAGE:-ghcr.io/distml/distml:0.1.0} ;;
    slim) dockerfile=containers/Dockerfile.slim; tag=${IMAGE:-ghcr.io/distml/distml-slim:0.1.0} ;;
    gpu)  dockerfile=containers/Dockerfile.gpu;  tag=${IMAGE:-ghcr.io/distml/distml:0.1.0-gpu} ;;
    *) echo "build-image.sh: error: unknown image flavour '$flavour' (cpu, slim or gpu)" >&2; exit 2 ;;
esac
python=${PYTHON:-.venv/bin/python}
lock=requirements/$flavour.lock
debian_base=${DEBIAN_BASE_TAG:-distml-base:bookworm-python3.11}

say() { echo "images: $*" >&2; }

if [ -z "${BASE_IMAGE:-}" ]; then
    pinned=$(sed -n 's/^ARG BASE_IMAGE=//p' "$dockerfile")
    if docker image inspect "$pinned" >/dev/null 2>&1 || timeout 60 docker pull -q "$pinned" >/dev/null 2>&1; then
        BASE_IMAGE=$pinned
    else
        say "the registry is out of reach (cannot pull $pinned): building on a Debian bookworm base made with debootstrap instead ($debian_base)"
        docker image inspect "$debian_base" >/dev/null 2>&1 || sh containers/debian-base.sh "$debian_base" >/dev/null
        BASE_IMAGE=$debian_base
    fi
fi
say "$tag: base $BASE_IMAGE ($(docker image inspect --format '{{.Id}}' "$BASE_IMAGE"))"

context=build/images/$flavour
say "$tag: preparing the wheelhouse of $lock in $context (downloads cached in build/wheelhouse/)"
"$python" containers/wheelhouse.py "$lock" "$context"

say "$tag: docker build ($(du -sh "$context" | cut -f1) context, no index access)"
start=$(date +%s)
docker build --quiet --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$dockerfile" -t "$tag" "$context" >/dev/null
say "$tag: built in $(( $(date +%s) - start )) s, $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.2f GB", $1/1e9}')"
