#!/usr/bin/env bash
# Builds one of the project's images and tags it from the project version (setup.py VERSION):
#   --image main (default)  docker/Dockerfile: every pipeline step and the TFJob workers run it
#       --variant cpu       <repo>:<version>        the tag pipeline/config.py names (kubeflow.image)
#       --variant gpu       <repo>:<version>-gpu    the same plus TensorFlow's CUDA wheels
#   --image serving         docker/Dockerfile.serving: the KServe model server, <repo>-serving:<version>
# and each also <tag>-<git sha> (with -dirty when the checkout has changes), an immutable tag per commit.
#
# Usage: docker/build.sh [--image main|serving] [--variant cpu|gpu] [--engine docker|buildah]
#                        [--base IMAGE] [--ca-cert FILE] [--repo REPO] [--push] [--dry-run]
#   --engine    docker (needs a running Docker engine) or buildah (daemonless; Debian: apt-get install
#               buildah). Default: docker when a Docker engine answers, else buildah when installed.
#   --base      the base image of both stages (default python:3.11-slim-bookworm). With buildah, when that
#               cannot be pulled (no registry), a local Debian 12 + Python 3.11 base is made with
#               mmdebstrap (docker/base_image.sh) and used instead.
#   --ca-cert   a CA bundle pip trusts while it downloads the locks (a build secret, not kept in the
#               image), for a network whose TLS proxy re-signs PyPI's certificates. Default: $PIP_CERT
#               when it names a file (the bundle the host's pip trusts), else none.
#   --repo      image repository (default: $IMAGE_REPO, else ghcr.io/audioclf/audioclf; serving adds -serving)
#   --push      push the tags after the build (log in first: docker login / buildah login)
#   --dry-run   print the build commands instead of running them (needs neither engine)
# Environment: BUILDAH_STORAGE_DRIVER (default overlay; vfs where overlay mounts are not allowed).
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: docker/build.sh [--image main|serving] [--variant cpu|gpu] [--engine docker|buildah] [--base IMAGE] [--ca-cert FILE] [--repo REPO] [--push] [--dry-run]"
repo="${IMAGE_REPO:-ghcr.io/audioclf/audioclf}"
image_kind=main variant=cpu engine="" base="" push=0 dry_run=0
ca_cert=""
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then ca_cert="$PIP_CERT"; fi
value() {   # the value of option $1 given as "$2": refuses an empty or missing one
  if [ -z "${2:-}" ]; then echo "build: $1 needs a value. $usage" >&2; exit 2; fi
}
while [ $# -gt 0 ]; do
  case "$1" in
    --repo|--image|--variant|--engine|--base|--ca-cert)
      value "$1" "${2:-}"
      case "$1" in
        --repo) repo="$2" ;; --image) image_kind="$2" ;; --variant) variant="$2" ;;
        --engine) engine="$2" ;; --base) base="$2" ;; --ca-cert) ca_cert="$2" ;;
      esac
      shift ;;
    --repo=*) repo="${1#--repo=}" ;;
    --push) push=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "build: unknown argument $1. $usage" >&2; exit 2 ;;
  esac
  shift
done
repo="${repo%/}"
case "$image_kind" in
  main) dockerfile=docker/Dockerfile ;;
  serving) dockerfile=docker/Dockerfile.serving; repo="$repo-serving" ;;
  *) echo "build: --image must be main or serving, not '$image_kind'." >&2; exit 2 ;;
esac
case "$variant" in
  cpu) suffix="" ;;
  gpu) suffix="-gpu"
       if [ "$image_kind" = serving ]; then
         echo "build: the serving image has no GPU variant (it predicts on CPU); leave out --variant gpu." >&2
         exit 2
       fi ;;
  *) echo "build: --variant must be cpu or gpu, not '$variant'." >&2; exit 2 ;;
esac

docker_works() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
if [ -z "$engine" ]; then
  if [ "$dry_run" = 1 ] || docker_works; then engine=docker
  elif command -v buildah >/dev/null 2>&1; then engine=buildah
  elif command -v docker >/dev/null 2>&1; then
    echo "build: docker cannot reach a Docker daemon and buildah is not installed. Start Docker" \
         "('sudo systemctl start docker') or set DOCKER_HOST, install buildah (Debian/Ubuntu: sudo" \
         "apt-get install buildah), or run with --dry-run to print the commands." >&2
    exit 1
  else
    echo "build: docker is not installed (or not on the PATH), and neither is buildah. Install Docker" \
         "Engine (https://docs.docker.com/engine/install/) or buildah (Debian/Ubuntu: sudo apt-get install" \
         "buildah), or run with --dry-run to print the commands." >&2
    exit 1
  fi
fi
case "$engine" in
  docker)
    if [ "$dry_run" = 0 ] && ! docker_works; then
      echo "build: docker is not installed or cannot reach a Docker daemon. Start it, use --engine buildah," \
           "or run with --dry-run to print the commands." >&2
      exit 1
    fi ;;
  buildah)
    if [ "$dry_run" = 0 ] && ! command -v buildah >/dev/null 2>&1; then
      echo "build: buildah is not installed (Debian/Ubuntu: sudo apt-get install buildah)." >&2
      exit 1
    fi ;;
  *) echo "build: --engine must be docker or buildah, not '$engine'." >&2; exit 2 ;;
esac
buildah_cmd=(buildah --storage-driver "${BUILDAH_STORAGE_DRIVER:-overlay}")

# setup.py's VERSION, read as text: importing setup.py would run setup().
version="$(sed -nE 's/^VERSION[[:space:]]*=[[:space:]]*["'\'']([^"'\'']+)["'\''][[:space:]]*$/\1/p' setup.py)"
if [ -z "$version" ] || [[ "$version" == *$'\n'* ]]; then
  echo "build: cannot read the version from setup.py (expected one line like: VERSION = \"0.1.0\")." >&2
  exit 1
fi

tags=("$repo:$version$suffix")
revision="unknown"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && git rev-parse --verify -q HEAD >/dev/null; then
  revision="$(git rev-parse HEAD)"
  sha_tag="$version$suffix-$(git rev-parse --short HEAD)"
  if [ -n "$(git status --porcelain)" ]; then
    echo "build: the checkout has uncommitted changes; the commit tag gets '-dirty'." >&2
    sha_tag="$sha_tag-dirty"
    revision="$revision-dirty"
  fi
  tags+=("$repo:$sha_tag")
fi

show() { printf '%q ' "$@" | sed 's/ $//'; echo; }
run() {
  if [ "$dry_run" = 1 ]; then show "$@"; else echo "+ $(show "$@")" >&2; "$@"; fi
}

# buildah without a reachable registry: the default base is made locally (docker/base_image.sh).
default_base=python:3.11-slim-bookworm
local_base=localhost/audioclf-base:3.11-bookworm
if [ "$engine" = buildah ] && [ -z "$base" ] && [ "$dry_run" = 0 ]; then
  if ! "${buildah_cmd[@]}" inspect --type image "$default_base" >/dev/null 2>&1 \
     && ! "${buildah_cmd[@]}" pull --quiet "$default_base" >/dev/null 2>&1; then
    echo "build: cannot pull $default_base (no registry reachable?); using the local base $local_base." >&2
    if ! "${buildah_cmd[@]}" inspect --type image "$local_base" >/dev/null 2>&1; then
      BUILDAH_STORAGE_DRIVER="${BUILDAH_STORAGE_DRIVER:-overlay}" docker/base_image.sh "$local_base"
    fi
    base="$local_base"
  fi
fi

build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision")
if [ "$image_kind" = main ]; then build_args+=(--build-arg "VARIANT=$variant"); fi
if [ -n "$base" ]; then build_args+=(--build-arg "BASE_IMAGE=$base"); fi
if [ -n "$ca_cert" ]; then
  if [ ! -f "$ca_cert" ]; then echo "build: --ca-cert $ca_cert: no such file." >&2; exit 1; fi
  build_args+=(--secret "id=ca-cert,src=$ca_cert")
fi
# linux/amd64: the locks were resolved for x86-64 only (not every native wheel exists for ARM Linux).
if [ "$engine" = docker ]; then
  # BuildKit: the Dockerfiles use a pip cache mount.
  export DOCKER_BUILDKIT=1
  build_cmd=(docker build --platform linux/amd64 --file "$dockerfile" "${build_args[@]}")
  push_cmd=(docker push)
else
  # --layers: each instruction's result is cached, so a source change does not reinstall the lock;
  # the pip cache mount keeps downloaded wheels between builds (under /var/tmp).
  build_cmd=("${buildah_cmd[@]}" bud --isolation chroot --layers --platform linux/amd64 --file "$dockerfile"
             "${build_args[@]}")
  push_cmd=("${buildah_cmd[@]}" push)
fi
for tag in "${tags[@]}"; do build_cmd+=(--tag "$tag"); done
build_cmd+=(.)

started=$SECONDS
run "${build_cmd[@]}"
if [ "$push" = 1 ]; then
  for tag in "${tags[@]}"; do run "${push_cmd[@]}" "$tag"; done
fi

image="${tags[${#tags[@]}-1]}"
{
  if [ "$dry_run" = 1 ]; then
    echo "build: dry run, nothing was built."
  else
    if [ "$engine" = docker ]; then size="$(docker image inspect --format '{{.Size}}' "$image") bytes"
    else size="$("${buildah_cmd[@]}" images --format '{{.Size}}' "$image" 2>/dev/null || echo '?')"; fi
    echo "build: built $image with $engine in $((SECONDS - started)) s; uncompressed size $size."
  fi
  if [ "$push" = 0 ]; then echo "build: not pushed (add --push once the tags are right)."; fi
  case "$image_kind/$variant" in
    main/cpu)
      echo "Compile the pipeline for this image with:"
      echo "  .venv/bin/audioclf compile --image $image --output pipeline.yaml"
      if [ "$image" != "$repo:$version" ]; then
        echo "(or --image $repo:$version, the default kubeflow.image, which moves with every build of $version)"
      fi ;;
    main/gpu)
      echo "Train on GPUs with this image: kubeflow.image: $image and kubeflow.trainer.gpus: 1 (kubeflow/README.md)." ;;
    serving/*)
      echo "The KServe deploy step serves with this image (kubeflow/README.md, Deploying with KServe)." ;;
  esac
} >&2
