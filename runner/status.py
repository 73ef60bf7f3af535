"""What `hotdash status` shows: the last recorded builds and how fresh the facts are."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from runner import ops
from runner.errors import DatabaseError
from runner.facts import facts_table

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

SOURCES_YML = Path(__file__).resolve().parent.parent / "models" / "staging" / "_app__sources.yml"


@dataclass(frozen=True)
class Freshness:
    shop_domain: str
    topic: str
    latest_created_at: dt.datetime
    age: dt.timedelta
    status: str  # fresh, warn, stale (the thresholds of dbt source freshness on facts)


def freshness_thresholds(path: Path = SOURCES_YML) -> tuple[dt.timedelta, dt.timedelta]:
    """warn_after and error_after of the facts source, read from its dbt YAML (24 h / 72 h)."""
    warn, error = dt.timedelta(hours=24), dt.timedelta(hours=72)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
        for source in doc.get("sources", []):
            for table in source.get("tables", []):
                if table.get("name") != "facts":
                    continue
                config = table.get("config", {}).get("freshness") or table.get("freshness") or {}
                spans = []
                for key in ("warn_after", "error_after"):
                    spec = config.get(key) or {}
                    spans.append(dt.timedelta(**{f"{spec['period']}s": spec["count"]}))
                warn, error = spans
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        pass  # the defaults above
    return warn, error


def freshness_sql(schema: str = "public") -> sql.Composed:
    """FRESHNESS_SQL on the facts table of `schema`."""
    return FRESHNESS_SQL.format(facts=facts_table(schema))


def freshness(
    conn: psycopg.Connection, shop: str | None = None, schema: str = "public"
) -> list[Freshness]:
    """Newest fact and its age per shop and topic (of one shop when given), in the facts table
    of `schema` (settings.of(target).facts_schema)."""
    warn, error = freshness_thresholds()
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
        status = "stale" if age > error else "warn" if age > warn else "fresh"
        result.append(Freshness(shop_domain, topic, latest, age, status))
    return result


@dataclass(frozen=True)
class Status:
    runs: list[ops.RunSummary]
    freshness: list[Freshness]


def status(
    conn: psycopg.Connection, runs: int = 10, shop: str | None = None, schema: str = "public"
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
    return Status(runs=ops.recent_runs(conn, runs), freshness=freshness(conn, shop, schema))
