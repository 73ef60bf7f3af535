"""Helpers the suites share: put facts in, run dbt, read results."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path

from runner import db, dbt
from runner.facts import copy_facts

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Shopify's own REST fixtures (MIT, see LICENSE there), copied unchanged.
FIXTURES_DIR = PROJECT_DIR / "tests" / "fixtures" / "shopify-rest"
FIXTURE_TOPICS = {
    "order": "shopify.orders",
    "refund": "shopify.refunds",
    "customer": "shopify.customers",
    "product": "shopify.products",
    "inventory_item": "shopify.inventory_items",
    "inventory_level": "shopify.inventory_levels",
}


def insert_facts(
    target: db.Target,
    rows: Sequence[tuple[str, str, object]],
    created_at: datetime.datetime | None = None,
) -> list[int]:
    """Insert (shop_domain, topic, payload) rows; a str payload is stored as the JSON text it is.

    created_at defaults to now(); a fixed value makes two databases comparable row for row.
    """
    ids = []
    with db.connect(target) as conn:
        for shop, topic, payload in rows:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            (fact_id,) = conn.execute(
                "insert into facts (shop_domain, topic, value, created_at)"
                " values (%s, %s, %s::jsonb, coalesce(%s, now())) returning id",
                (shop, topic, text, created_at),
            ).fetchone()
            ids.append(fact_id)
    return ids


def load_fixtures(target: db.Target, shop: str = "fixture.myshopify.com") -> int:
    """Load Shopify's fixture payloads through the same COPY path as every other load."""
    rows = []
    for name, topic in FIXTURE_TOPICS.items():
        inner = json.loads((FIXTURES_DIR / f"{name}.json").read_text())[name]
        rows.append((shop, topic, json.dumps(inner), None))
    with db.connect(target) as conn:
        return copy_facts(conn, rows)


def run_dbt(target: db.Target, *args: str, ok: bool = True) -> dbt.DbtRun:
    run = dbt.invoke(target, list(args))
    if ok:
        assert run.success, [(n.name, n.status, n.message) for n in run.failed] or run.exception
    return run


def build_staging(target: db.Target, *extra: str) -> dbt.DbtRun:
    """dbt build of the judge, the quarantine and every staging model, with their tests."""
    return run_dbt(target, "build", "--select", "+facts_quarantine", "staging", *extra)


def query(target: db.Target, sql: str, params: Sequence[object] = ()) -> list[tuple]:
    with db.connect(target) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(target: db.Target, sql: str, params: Sequence[object] = ()) -> object:
    rows = query(target, sql, params)
    return rows[0][0] if rows else None


def failing_rows(target: db.Target, test: str, columns: str) -> tuple[list[int], list[tuple]]:
    """Run the singular dbt test `test` with --store-failures: (its failure counts, the sorted
    `columns` of the rows it stored)."""
    run = run_dbt(target, "test", "--select", test, "--store-failures", ok=False)
    (schema,) = query(
        target, "select table_schema from information_schema.tables where table_name = %s", (test,)
    )[0]
    rows = sorted(query(target, f"select {columns} from {schema}.{test}"))
    return [n.failures for n in run.nodes if n.resource_type == "test"], rows


# Where a row came from in a run, not what it says: differs between an incremental build and a
# full refresh of the same facts (the judge batch numbers).
BOOKKEEPING_COLUMNS = ("judge_batch", "parent_judge_batch")


def table_rows(target: db.Target, table: str) -> list[tuple]:
    """Every row of `table` (schema.name) but its bookkeeping columns, sorted."""
    schema, name = table.split(".", 1)
    columns = [
        row[0]
        for row in query(
            target,
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, name),
        )
        if row[0] not in BOOKKEEPING_COLUMNS
    ]
    select = ", ".join(f'"{c}"' for c in columns)
    return sorted(query(target, f"select {select} from {table}"), key=repr)


def assert_facts_vacuumed(target: db.Target, stdout: str, vacuumed: bool) -> None:
    """A load command's output says whether it vacuumed and analyzed the facts table, and
    PostgreSQL's counts of both agree (once, or not at all, since the database was made)."""
    assert stdout.rstrip().endswith("; facts table vacuumed and analyzed") is vacuumed
    assert query(
        target,
        "select vacuum_count, analyze_count from pg_stat_user_tables where relid = 'facts'::regclass",
    ) == [(int(vacuumed), int(vacuumed))]
