#!/usr/bin/env bash
# Fresh machine to built marts: install, start the embedded PostgreSQL, load demo facts, build.
# Usage: bash scripts/demo.sh [FACTS]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/hotdash ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
fi
. .venv/bin/activate
hotdash db up
hotdash demo --facts "${1:-100000}" --if-empty
hotdash build
