#!/usr/bin/env bash
# The test suite: pytest against the embedded PostgreSQL (set up on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
fi
. .venv/bin/activate
python -m pytest "$@"
