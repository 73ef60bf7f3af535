"""Load that runs next to builds: writers that commit facts while a build judges them, readers
that query the marts while they are rebuilt. Used by tests/pytest/test_live.py and by
`python scripts/benchmark.py --live`."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from hotdash_demo import KNOWN_TOPICS, iter_demo_facts
from runner import db
from tests.pytest.helpers import scalar


@dataclass
class WriterStats:
    committed: int = 0
    rolled_back: int = 0
    errors: list[str] = field(default_factory=list)


def writer(target: db.Target, seed: int, stop: threading.Event, stats: WriterStats) -> None:
    """Insert demo facts in small transactions until stopped: some held open for a while (across
    a judge), some rolled back (their ids never commit)."""
    rng = random.Random(seed)
    rows = iter_demo_facts(100_000, shops=2, seed=seed)
    insert = "insert into facts (shop_domain, topic, value, created_at) values (%s, %s, %s, %s)"
    try:
        with psycopg.connect(target.conninfo) as conn:
            while not stop.is_set():
                batch = [next(rows) for _ in range(rng.randint(1, 5))]
                for shop, topic, value, created_at in batch:
                    conn.execute(insert, (shop, topic, value, created_at))
                if rng.random() < 0.3:
                    time.sleep(rng.uniform(0.05, 1.5))
                if rng.random() < 0.1:
                    conn.rollback()
                    stats.rolled_back += len(batch)
                else:
                    conn.commit()
                    stats.committed += len(batch)
                time.sleep(rng.uniform(0, 0.02))
    except Exception as exc:  # reported by the test
        stats.errors.append(repr(exc))


STAGED = KNOWN_TOPICS  # the topics the models stage


def unjudged(target: db.Target) -> int:
    """Facts of staged topics that are not in ops.facts_triage (each fact is there at most once:
    its fact_id is unique)."""
    return int(
        scalar(
            target,
            "select count(*) from facts where topic = any(%s) and not exists"
            " (select 1 from ops.facts_triage t where t.fact_id = facts.id)",
            (list(STAGED),),
        )
    )


READERS = {"hotdash_operator": "count(*)", "hotdash_ai_readonly": "count(shop_domain)"}


def mart_counts(target: db.Target, marts: list[str], shop: str) -> dict[str, int]:
    return {
        mart: int(scalar(target, f"select count(*) from {mart} where shop_domain = %s", (shop,)))
        for mart in marts
    }


def reader(
    target: db.Target,
    role: str,
    shop: str,
    marts: list[str],
    stop: threading.Event,
    seen: list[tuple[str, int]],
    errors: list[str],
) -> None:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        conn.execute("select set_config('app.shop_domain', %s, false)", (shop,))
        while not stop.is_set():
            for mart in marts:
                statement = f"select {READERS[role]} from {mart}"
                try:
                    seen.append((mart, conn.execute(statement).fetchone()[0]))
                except psycopg.Error as exc:
                    errors.append(f"{role} {mart}: {exc}".strip())
