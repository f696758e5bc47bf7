#!/bin/sh
# Build an equivalent of the pinned python:3.11-slim-bookworm base from Debian packages, for
# machines that cannot reach an image registry (air-gapped build hosts): debootstrap a
# minimal Debian bookworm with Debian's python3 (3.11) from the mirror the host's apt
# sources name, strip what no image needs, and `docker import` it.
#
#   sh containers/debian-base.sh [TAG]     (root; needs debootstrap and a running engine)
#
# Prints the image ID (content address: the same packages give the same layer).
set -eu
tag=${1:-distml-base:bookworm-python3.11}
mirror=${DEBIAN_MIRROR:-$(
    { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
      grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'
    } | grep -m1 '/debian/\?$' || echo http://deb.debian.org/debian)}
rootfs=$(mktemp -d /tmp/distml-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "building base image $tag from Debian bookworm ($mirror) with debootstrap" >&2
# python3-venv is not needed: the images create their virtualenv --without-pip and run pip
# from its wheel. ca-certificates: HTTPS clients (kserve storage, kubernetes) need the CA bundle.
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$rootfs" "$mirror" \
    >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
# Nothing at run time reads apt's caches, docs, manuals or translations.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/locale/* "$rootfs"/var/log/* "$rootfs"/tmp/*
# Fixed mtimes: a rebuild from the same packages imports the same layer.
find "$rootfs" -depth -newermt @0 -exec touch --no-dereference --date=@0 {} + 2>/dev/null || true
tar --numeric-owner --sort=name -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "debootstrap bookworm minbase + python3 from $mirror" - "$tag"
