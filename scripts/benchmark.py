"""Speed figures: generate+load demo facts, build staging full and incrementally, build the rest.

Usage: python scripts/benchmark.py --facts 1000000 [--repeat 3] [--select staging ...]

Each figure runs in a fresh database `bench_<n>` on the embedded server (or the configured
profile's server) and prints min / median / max seconds over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner import db, dbt
from runner.facts import copy_facts, ensure_facts_table, load_demo


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build(target: db.Target, select: list[str], *extra: str) -> None:
    run = dbt.invoke(target, ["build", "--select", *select, *extra])
    dbt.require_success(run)


def add_new_facts(target: db.Target, share: float, seed: int) -> int:
    """Append `share` new facts: the tail of a longer generated stream, so they are realistic."""
    from runner.demo import iter_demo_facts

    with db.connect(target) as conn:
        total = conn.execute("select count(*) from facts").fetchone()[0]
        extra = max(1, int(total * share))
        stream = iter_demo_facts(total + extra, seed=seed + 1)
        rows = (row for i, row in enumerate(stream) if i >= total)
        with conn.transaction():
            return copy_facts(conn, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--select", nargs="+", default=["staging", "facts_quarantine"])
    parser.add_argument("--incremental-share", type=float, default=0.01)
    args = parser.parse_args()

    base = db.resolve_target()
    figures: dict[str, list[float]] = {}
    for i in range(args.repeat):
        target = db.embedded_target(base.project_dir, base.home, dbname=f"bench_{i}")
        db.drop_database(target)
        target = db.embedded_target(base.project_dir, base.home, dbname=f"bench_{i}")
        with db.connect(target) as conn:
            ensure_facts_table(conn)

        def load(target: db.Target = target) -> None:
            with db.connect(target) as conn:
                load_demo(conn, args.facts, seed=args.seed)

        figures.setdefault(f"generate+load {args.facts:,} facts", []).append(timed(load))
        figures.setdefault("build full", []).append(
            timed(lambda target=target: build(target, args.select, "--full-refresh"))
        )
        share = args.incremental_share
        figures.setdefault(f"append {share:.0%} new facts", []).append(
            timed(lambda target=target, share=share: add_new_facts(target, share, args.seed))
        )
        figures.setdefault(f"build incremental (+{share:.0%})", []).append(
            timed(lambda target=target: build(target, args.select))
        )
        db.drop_database(target)
        print(f"run {i + 1}/{args.repeat} done", file=sys.stderr)

    print(f"\nselect: {' '.join(args.select)}; {args.repeat} runs")
    print(f"{'figure':<40} {'min':>8} {'median':>8} {'max':>8}")
    for name, values in figures.items():
        print(f"{name:<40} {min(values):8.1f} {statistics.median(values):8.1f} {max(values):8.1f}")


if __name__ == "__main__":
    main()
