#!/usr/bin/env bash
# The test suite: pytest against the embedded PostgreSQL (set up on first use), in parallel: one
# worker per CPU (pytest-xdist), each with its own embedded server and dbt target folder; the
# tests of a module that builds one database for all of them stay on one worker (xdist_group).
# HOTDASH_TEST_WORKERS=0 runs them in this process, one after the other. The 20 slowest tests are
# listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
fi
. .venv/bin/activate
python -m pytest -n "${HOTDASH_TEST_WORKERS:-auto}" --dist loadgroup --durations=20 "$@"
