"""What `hotdash status` shows: the last recorded builds and how fresh the facts are."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg
from psycopg import sql

from runner import ops
from runner.errors import DatabaseError
from runner.facts import facts_table
from runner.settings import FeedThresholds, Settings

# The newest fact per (shop_domain, topic), found by skipping through the index
# facts_shop_topic_created_at_idx (shop_domain, topic, created_at): one index probe per pair
# instead of a scan of every fact.
FRESHNESS_SQL = sql.SQL("""
with recursive pairs as (
    (
        select facts.shop_domain, facts.topic
        from {facts} as facts
        where %(shop)s::text is null or facts.shop_domain = %(shop)s
        order by facts.shop_domain, facts.topic
        limit 1
    )
    union all
    select later.shop_domain, later.topic
    from pairs
    cross join lateral (
        select facts.shop_domain, facts.topic
        from {facts} as facts
        where
            (facts.shop_domain, facts.topic) > (pairs.shop_domain, pairs.topic)
            and (%(shop)s::text is null or facts.shop_domain = %(shop)s)
        order by facts.shop_domain, facts.topic
        limit 1
    ) as later
)

select
    pairs.shop_domain,
    pairs.topic,
    newest.created_at as latest_created_at,
    now() - newest.created_at as age
from pairs
cross join lateral (
    select facts.created_at
    from {facts} as facts
    where facts.shop_domain = pairs.shop_domain and facts.topic = pairs.topic
    order by facts.created_at desc
    limit 1
) as newest
order by pairs.shop_domain, pairs.topic
""")


@dataclass(frozen=True)
class Freshness:
    shop_domain: str
    topic: str
    latest_created_at: dt.datetime
    age: dt.timedelta
    status: str  # fresh, warn, stale: the topic's thresholds in var freshness
    thresholds: FeedThresholds


def freshness_sql(schema: str = "public") -> sql.Composed:
    """FRESHNESS_SQL on the facts table of `schema`."""
    return FRESHNESS_SQL.format(facts=facts_table(schema))


def freshness(conn: psycopg.Connection, vars: Settings, shop: str | None = None) -> list[Freshness]:
    """Newest fact and its age per shop and topic (of one shop when given), in the facts table
    of var facts_schema, judged by the topic's thresholds (var freshness)."""
    schema = vars.facts_schema
    query = freshness_sql(schema)
    try:
        rows = conn.execute(query, {"shop": shop}).fetchall()
    except psycopg.errors.UndefinedTable as exc:
        raise DatabaseError(
            f"the facts table {schema}.facts does not exist in this database",
            hint="`hotdash load FILE` or `hotdash demo` creates and fills it",
        ) from exc
    result = []
    for shop_domain, topic, latest, age in rows:
        thresholds = vars.freshness(topic)
        result.append(
            Freshness(shop_domain, topic, latest, age, thresholds.status(age), thresholds)
        )
    return result


@dataclass(frozen=True)
class Status:
    runs: list[ops.RunSummary]
    freshness: list[Freshness]


def status(
    conn: psycopg.Connection, vars: Settings, runs: int = 10, shop: str | None = None
) -> Status:
    """Recent builds (a running build whose session is gone is marked abandoned first) and
    the freshness of every feed. A user who may only read ops.build_runs still gets the
    status; the next build then records the abandoned run (ops.pipeline_health shows it)."""
    from runner.lock import mark_abandoned

    try:
        with conn.transaction():
            mark_abandoned(conn)
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction):
        pass
    return Status(runs=ops.recent_runs(conn, runs), freshness=freshness(conn, vars, shop))
