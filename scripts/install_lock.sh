#!/usr/bin/env bash
# Installs the one lock, requirements/lock.txt, and then this project into a new virtualenv.
# scripts/setup.sh (the developer .venv, --editable) and docker/Dockerfile (/opt/venv) both install
# through this script, so a checkout and the image get exactly the same packages with the same flags
# (docker/dockerfile_test.py checks that neither installs any other way).
#
# Usage: scripts/install_lock.sh VENV_DIR [--editable] [--lock-only | --project-only] [--lock FILE]
#   VENV_DIR        the virtualenv to create; it must not exist yet (or be empty)
#   --editable      install the project editable (a developer checkout); default: a regular install
#                   into site-packages (the image)
#   --lock-only     create VENV_DIR and install the lock, not the project (the image installs the lock
#                   in its own layer, so editing a source file does not reinstall 3.6 GB)
#   --project-only  install the project into a VENV_DIR made earlier with --lock-only
#   --lock FILE     another lock (default requirements/lock.txt): requirements/serving-lock.txt makes the
#                   model server's environment (with --lock-only: the server runs the checkout's code)
# Environment: PYTHON, the Python 3.11 that creates the venv (default python3).
set -euo pipefail

usage="usage: scripts/install_lock.sh VENV_DIR [--editable] [--lock-only | --project-only] [--lock FILE]"
venv="" editable="" lock=1 project=1 lock_file="requirements/lock.txt" next_is_lock=""
for arg in "$@"; do
  if [ -n "$next_is_lock" ]; then lock_file="$arg"; next_is_lock=""; continue; fi
  case "$arg" in
    --lock) next_is_lock=1 ;;
    --editable) editable=1 ;;
    --lock-only) project=0 ;;
    --project-only) lock=0 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "install_lock: unknown option $arg. $usage" >&2; exit 2 ;;
    *)
      if [ -n "$venv" ]; then echo "install_lock: one VENV_DIR only, got '$venv' and '$arg'. $usage" >&2; exit 2; fi
      venv="$arg" ;;
  esac
done
if [ -z "$venv" ]; then echo "install_lock: VENV_DIR is missing. $usage" >&2; exit 2; fi
if [ -n "$next_is_lock" ]; then echo "install_lock: --lock needs a FILE. $usage" >&2; exit 2; fi
if [ "$lock$project" = "00" ]; then
  echo "install_lock: --lock-only and --project-only exclude each other; give neither to install both." >&2
  exit 2
fi

# VENV_DIR is relative to the caller's directory; pip runs from the repository root (the lock's and
# setup.py's folder).
mkdir -p "$(dirname "$venv")"
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# Local pip-config noise ("WARNING: Location ... is ignored") is dropped; pip's exit status is kept.
quiet() { { "$@" 2>&1; } | { grep -v "^WARNING: Location .* is ignored" || true; }; }

if [ "$lock" = 1 ]; then
  if [ -e "$venv" ] && [ -n "$(ls -A "$venv")" ]; then
    echo "install_lock: $venv already exists. Remove it (rm -rf $venv) or name another folder." >&2
    exit 1
  fi
  version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [ "$version" != "3.11" ]; then
    echo "install_lock: requirements/lock.txt was resolved for Python 3.11, but $PYTHON is $version." \
         "Run with PYTHON=/path/to/python3.11." >&2
    exit 1
  fi
  if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
    # Not fatal: pip may have built these wheels before and cached them.
    echo "install_lock: no C++ compiler found; the lock's pyfarmhash (and crcmod) have no Python 3.11" \
         "wheels and are built from source. If pip fails on them, install one" \
         "(Debian/Ubuntu: 'sudo apt-get install g++') and run this again." >&2
  fi
  "$PYTHON" -m venv "$venv"
  # tfx 1.16 and ml-pipelines-sdk declare Python < 3.11 although their dependencies ship 3.11 wheels;
  # the lock is complete, so nothing is resolved here (--no-deps).
  quiet "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --ignore-requires-python \
    -r "$lock_file"
fi

if [ "$project" = 1 ]; then
  if [ ! -x "$venv/bin/pip" ]; then
    echo "install_lock: $venv is not a virtualenv made by this script. Run" \
         "'scripts/install_lock.sh $venv --lock-only' first (or leave out --project-only)." >&2
    exit 1
  fi
  # The lock holds setuptools and wheel (TFX needs them at run time), so the build uses those
  # (--no-build-isolation) instead of downloading others.
  target=(.)
  if [ -n "$editable" ]; then target=(-e .); fi
  quiet "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation "${target[@]}"
fi

"$venv/bin/pip" check
