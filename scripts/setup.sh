#!/usr/bin/env bash
# Sets up everything `audioclf` needs on a fresh machine, and nothing twice:
#   - ffmpeg (pydub decodes non-WAV/FLAC formats through it), installed with apt when possible;
#   - .venv/ from requirements/lock.txt (the one lock: local runs, CI and the Docker image use it),
#     with the project installed editable. Re-installed only when the lock or setup files change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

if ! command -v ffmpeg >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "setup: installing ffmpeg with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
  elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
    echo "setup: installing ffmpeg with sudo apt-get" >&2
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
  else
    echo "setup: ffmpeg is missing. Install it (Debian/Ubuntu: 'sudo apt-get install ffmpeg'," \
         "macOS: 'brew install ffmpeg') and run this again." >&2
    exit 1
  fi
fi

version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$version" != "3.11" ]; then
  echo "setup: requirements/lock.txt was resolved for Python 3.11, but $PYTHON is $version." \
       "Run with PYTHON=/path/to/python3.11." >&2
  exit 1
fi

stamp="$(cat requirements/lock.txt setup.py pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f .venv/.installed ] && [ "$(cat .venv/.installed)" = "$stamp" ]; then
  exit 0
fi
echo "setup: creating .venv from requirements/lock.txt (first time: a few minutes, about 3.6 GB)" >&2
rm -rf .venv
"$PYTHON" -m venv .venv
# tfx 1.16 and ml-pipelines-sdk declare Python < 3.11 although their dependencies ship 3.11 wheels;
# the lock is complete, so nothing is resolved here (--no-deps).
quiet() { { "$@" 2>&1; } | { grep -v "^WARNING: Location .* is ignored" || true; }; }  # local pip-config noise
quiet .venv/bin/pip install -q --disable-pip-version-check --no-deps --ignore-requires-python -r requirements/lock.txt
quiet .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/pip check
echo "$stamp" > .venv/.installed
echo "setup: .venv is ready" >&2
