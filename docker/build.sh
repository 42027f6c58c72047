#!/usr/bin/env bash
# Builds the image of docker/Dockerfile and tags it from the project version (setup.py VERSION):
#   <repo>:<version>            the tag pipeline/config.py names by default (kubeflow.image)
#   <repo>:<version>-<git sha>  an immutable tag per commit (with -dirty when the checkout has changes)
#
# Usage: docker/build.sh [--repo REPO] [--push] [--dry-run]
#   --repo REPO  image repository (default: $IMAGE_REPO, else ghcr.io/audioclf/audioclf)
#   --push       push both tags after the build (log in first: docker login ghcr.io)
#   --dry-run    print the docker commands instead of running them (needs no Docker)
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: docker/build.sh [--repo REPO] [--push] [--dry-run]"
repo="${IMAGE_REPO:-ghcr.io/audioclf/audioclf}"
push=0 dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --repo)
      if [ $# -lt 2 ] || [ -z "$2" ]; then echo "build: --repo needs a value. $usage" >&2; exit 2; fi
      repo="$2"; shift ;;
    --repo=*) repo="${1#--repo=}" ;;
    --push) push=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "build: unknown argument $1. $usage" >&2; exit 2 ;;
  esac
  shift
done
repo="${repo%/}"

if [ "$dry_run" = 0 ]; then
  if ! command -v docker >/dev/null 2>&1; then
    echo "build: docker is not installed (or not on the PATH). Install Docker Engine" \
         "(https://docs.docker.com/engine/install/), or run with --dry-run to print the commands." >&2
    exit 1
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "build: docker cannot reach a Docker daemon. Start it ('sudo systemctl start docker'), set" \
         "DOCKER_HOST, or run with --dry-run to print the commands." >&2
    exit 1
  fi
fi

# setup.py's VERSION, read as text: importing setup.py would run setup().
version="$(sed -nE 's/^VERSION[[:space:]]*=[[:space:]]*["'\'']([^"'\'']+)["'\''][[:space:]]*$/\1/p' setup.py)"
if [ -z "$version" ] || [[ "$version" == *$'\n'* ]]; then
  echo "build: cannot read the version from setup.py (expected one line like: VERSION = \"0.1.0\")." >&2
  exit 1
fi

tags=("$repo:$version")
revision="unknown"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && git rev-parse --verify -q HEAD >/dev/null; then
  revision="$(git rev-parse HEAD)"
  sha_tag="$version-$(git rev-parse --short HEAD)"
  if [ -n "$(git status --porcelain)" ]; then
    echo "build: the checkout has uncommitted changes; the commit tag gets '-dirty'." >&2
    sha_tag="$sha_tag-dirty"
    revision="$revision-dirty"
  fi
  tags+=("$repo:$sha_tag")
fi

# BuildKit: the Dockerfile uses a pip cache mount. linux/amd64: the lock was resolved for x86-64
# only (not every one of its native wheels exists for ARM Linux), so an ARM laptop builds amd64 too.
build_cmd=(docker build --platform linux/amd64 --file docker/Dockerfile
           --build-arg "VERSION=$version" --build-arg "REVISION=$revision")
for tag in "${tags[@]}"; do build_cmd+=(--tag "$tag"); done
build_cmd+=(.)

show() { printf '%q ' "$@" | sed 's/ $//'; echo; }
run() {
  if [ "$dry_run" = 1 ]; then show "$@"; else echo "+ $(show "$@")" >&2; "$@"; fi
}

export DOCKER_BUILDKIT=1
run "${build_cmd[@]}"
if [ "$push" = 1 ]; then
  for tag in "${tags[@]}"; do run docker push "$tag"; done
fi

image="${tags[${#tags[@]}-1]}"
{
  if [ "$dry_run" = 1 ]; then echo "build: dry run, nothing was built."; fi
  if [ "$push" = 0 ]; then echo "build: not pushed (add --push once the tags are right)."; fi
  echo "Compile the pipeline for this image with:"
  echo "  .venv/bin/audioclf compile --image $image --output pipeline.yaml"
  if [ "$image" != "$repo:$version" ]; then
    echo "(or --image $repo:$version, the default kubeflow.image, which moves with every build of $version)"
  fi
} >&2
