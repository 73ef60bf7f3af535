"""Backfill speed and memory: a demo bulk-operation file of N lines through `hotdash backfill`.

Usage: HOTDASH_HOME=... python scripts/benchmark_backfill.py [--lines 1000000] [--shop bench.myshopify.com]

Writes the file (gzipped) with hotdash_demo.bulk, runs `hotdash backfill` on it in a process of
its own (the target the environment names), and prints lines per second and the peak RSS of that
process; then runs it again, which must add no fact (idempotent by shop, object, id, version).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from hotdash_demo.bulk import write_bulk_orders  # noqa: E402


def run(path: Path, shop: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, last output line) of one `hotdash backfill` process."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT_DIR))
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "runner.cli", "backfill", str(path), "--shop", shop],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"hotdash backfill failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak, proc.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--shop", default="bench-backfill.myshopify.com")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"bulk-orders-{args.lines}.jsonl.gz"
        start = time.monotonic()
        anchor = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        write_bulk_orders(path, args.lines, seed=args.seed, anchor=anchor)
        print(
            f"wrote {args.lines:,} lines ({path.stat().st_size / 2**20:.1f} MiB gzipped)"
            f" in {time.monotonic() - start:.1f}s"
        )
        for label in ("first run", "re-run"):
            seconds, peak, summary = run(path, args.shop)
            print(
                f"{label}: {seconds:.1f}s, {args.lines / seconds:,.0f} lines/s,"
                f" peak RSS {peak:.0f} MiB (max over runs so far) | {summary}"
            )


if __name__ == "__main__":
    main()
