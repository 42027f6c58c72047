#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages named on the command line whose command is missing, with apt-get
# (as root, or through sudo); otherwise says what to install and exits 1.
#   Usage: scripts/system_packages.sh COMMAND=PACKAGE ...   e.g. ffmpeg=ffmpeg c++=g++
# scripts/setup.sh uses it for the checkout's tools, `make image` for the image builder (buildah).
set -euo pipefail

missing=()
for pair in "$@"; do
  command="${pair%%=*}" package="${pair#*=}"
  command -v "$command" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "setup: installing ${missing[*]} with apt-get" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  echo "setup: installing ${missing[*]} with sudo apt-get" >&2
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: ${missing[*]} missing. Install (Debian/Ubuntu: 'sudo apt-get install ${missing[*]}'," \
       "macOS: 'brew install ${missing[*]}' and the Xcode command line tools) and run this again." >&2
  exit 1
fi
