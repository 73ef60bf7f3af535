"""The `facts` source table: its DDL and bulk loading with COPY."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import psycopg

from runner.setup import facts_ddl

FactRow = tuple[str, str, str, dt.datetime | None]
"""(shop_domain, topic, value as JSON text, created_at or None for now())."""


def ensure_facts_table(conn: psycopg.Connection) -> None:
    """Create the facts table and its indexes when the table is missing.

    In production the app owns the table: when it exists nothing is changed, so a dbt user
    without CREATE on its schema still runs.
    """
    if conn.execute("select to_regclass('public.facts')").fetchone()[0] is None:
        conn.execute(facts_ddl())


def copy_facts(
    conn: psycopg.Connection,
    rows: Iterable[FactRow],
    progress: Callable[[int], None] | None = None,
    every: int = 50_000,
) -> int:
    """COPY rows into facts inside the caller's transaction; returns the count.

    Rows stream through: nothing is held in memory beyond one row.
    """
    count = 0
    with (
        conn.cursor() as cur,
        cur.copy("copy public.facts (shop_domain, topic, value, created_at) from stdin") as copy,
    ):
        for shop_domain, topic, value, created_at in rows:
            copy.write_row((shop_domain, topic, value, created_at or dt.datetime.now(dt.UTC)))
            count += 1
            if progress is not None and count % every == 0:
                progress(count)
    if progress is not None:
        progress(count)
    return count


def load_demo(
    conn: psycopg.Connection,
    n_facts: int,
    shops: int = 1,
    seed: int = 42,
    anchor: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Generate demo facts and COPY them in one transaction: all of them land, or none."""
    from runner.demo import iter_demo_facts

    ensure_facts_table(conn)
    rows = iter_demo_facts(n_facts, shops=shops, seed=seed, anchor=anchor)
    with conn.transaction():
        return copy_facts(conn, rows, progress=progress)
