#!/usr/bin/env bash
# Makes a local stand-in for python:3.11-slim-bookworm when no registry can be reached: a minimal
# Debian 12 (bookworm) root file system made by Debian's mmdebstrap from the Debian mirror, with
# Debian's Python 3.11 (and its venv module and headers: the build stage compiles pyfarmhash), imported
# with buildah as one layer and committed as IMAGE.
#
# Usage: docker/base_image.sh [IMAGE]   (default localhost/audioclf-base:3.11-bookworm)
# Needs root (or a user namespace), mmdebstrap and buildah: apt-get install mmdebstrap buildah.
# docker/build.sh calls it when it builds with buildah and the default base cannot be pulled.
#
# It differs from the official image in one way that matters: Python is Debian's 3.11.2 in /usr/bin,
# not 3.11.x built from source in /usr/local/bin. /usr/local/bin/python and python3 link to it, so the
# Dockerfile's commands (python, python3) run unchanged.
set -euo pipefail

image="${1:-localhost/audioclf-base:3.11-bookworm}"
storage=(--storage-driver "${BUILDAH_STORAGE_DRIVER:-overlay}")
for tool in mmdebstrap buildah; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "base_image: $tool is not installed. Install it (Debian/Ubuntu: sudo apt-get install $tool)." >&2
    exit 1
  fi
done

work="$(mktemp -d "${TMPDIR:-/var/tmp}/audioclf-base.XXXXXX")"
container=""
cleanup() {
  if [ -n "$container" ]; then buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

packages=ca-certificates,python3.11,python3.11-venv,python3.11-dev,libpython3.11-dev
echo "base_image: mmdebstrap bookworm (minbase + $packages) ..." >&2
# --variant=minbase: essential packages and apt only, like Docker's debian:bookworm-slim.
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --customize-hook='chroot "$1" ln -sf /usr/bin/python3.11 /usr/local/bin/python' \
  --customize-hook='chroot "$1" ln -sf /usr/bin/python3.11 /usr/local/bin/python3' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  bookworm "$work/rootfs.tar" http://deb.debian.org/debian

container="$(buildah "${storage[@]}" from scratch)"
buildah "${storage[@]}" add "$container" "$work/rootfs.tar" /
buildah "${storage[@]}" config \
  --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 \
  --cmd python3 \
  --label org.opencontainers.image.description="Debian 12 (bookworm) minbase + Debian's Python 3.11, made by docker/base_image.sh" \
  "$container"
buildah "${storage[@]}" commit --quiet --rm "$container" "$image" >/dev/null
container=""
echo "base_image: committed $image ($(buildah "${storage[@]}" images --format '{{.Size}}' "$image"))" >&2
