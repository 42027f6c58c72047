#!/usr/bin/env bash
# Sets up everything `audioclf` needs on a fresh machine, and nothing twice:
#   - ffmpeg and g++ (see below), installed with apt when possible;
#   - .venv/ from requirements/lock.txt (the one lock: local runs, CI and the Docker image use it),
#     with the project installed editable, by scripts/install_lock.sh (which the image runs too).
#     Re-installed only when the lock or setup files change;
#   - .venv-serving/ from requirements/serving-lock.txt, for the model server (`audioclf serve`).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

# System packages: ffmpeg (pydub decodes non-WAV/FLAC formats through it) and a C++ compiler (one
# locked package, pyfarmhash, ships no Python 3.11 wheel and is built from source).
scripts/system_packages.sh ffmpeg=ffmpeg c++=g++

# pyproject.toml counts up to its first [tool.*] table: test and lint settings do not reinstall anything.
stamp="$( (cat requirements/lock.txt setup.py scripts/install_lock.sh; sed '/^\[tool\./,$d' pyproject.toml) | sha256sum | cut -d' ' -f1)"
if [ ! -f .venv/.installed ] || [ "$(cat .venv/.installed)" != "$stamp" ]; then
  echo "setup: creating .venv from requirements/lock.txt (first time: a few minutes, about 3.6 GB)" >&2
  rm -rf .venv
  # The same script (same lock, same pip flags) builds the Docker image's /opt/venv.
  PYTHON="$PYTHON" scripts/install_lock.sh .venv --editable
  echo "$stamp" > .venv/.installed
  echo "setup: .venv is ready" >&2
fi

# The model server's environment (`audioclf serve`, serving/): its own lock, since kserve needs newer
# packages than TFX allows beside it. It runs the checkout's code (no project install).
serving_stamp="$(cat requirements/serving-lock.txt scripts/install_lock.sh | sha256sum | cut -d' ' -f1)"
if [ ! -f .venv-serving/.installed ] || [ "$(cat .venv-serving/.installed)" != "$serving_stamp" ]; then
  echo "setup: creating .venv-serving from requirements/serving-lock.txt (first time: a few minutes, about 2.3 GB)" >&2
  rm -rf .venv-serving
  PYTHON="$PYTHON" scripts/install_lock.sh .venv-serving --lock-only --lock requirements/serving-lock.txt
  echo "$serving_stamp" > .venv-serving/.installed
  echo "setup: .venv-serving is ready" >&2
fi
