#!/usr/bin/env bash
# Prepare a fresh machine: a virtual environment with the pinned packages, and with `test`
# also the test packages and Debian's Chromium for the browser tests. Safe to run again:
# it reinstalls only when the requirement files changed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-app}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$python" -m venv .venv
fi

requirements=requirements.txt
[ "$mode" = test ] && requirements=requirements-dev.txt
stamp=".venv/.installed-$mode-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing $requirements (a few minutes the first time)"
  .venv/bin/python -m pip install --disable-pip-version-check -q -r "$requirements"
  touch "$stamp"
fi

# OpenVINO and NNCF send anonymous telemetry by default; a local tool should not.
.venv/bin/opt_in_out --opt_out >/dev/null 2>&1 || true

if [ "$mode" = test ] && ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  sudo=""
  [ "$(id -u)" != 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
