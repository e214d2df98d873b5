#!/usr/bin/env bash
# Set up with the test packages and Chromium, lint, then run the whole test suite
# (core, AppTest pages, and end-to-end tests in headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
