"""Alerts for the operator: rules evaluated at the end of every build, kept in marts.alerts.

An alert is one row per episode: it opens the first time its condition holds, is updated while
the condition holds (severity, message, value, threshold, last_seen_at: no new row every night),
and is resolved (resolved_at, resolved_by_run) by the first evaluation that finds the condition
gone. When the condition comes back, a new row opens. The table lives in schema marts, so
apply_security secures it like every mart: the operator and the AI read their shop's rows only.

The rules (README "Alerts"; thresholds are dbt vars, docs/vars.md):
  goal_pace            the current month's run rate per day (growth_metrics) against the net
                       revenue per day needed to reach the goal by the year's end
  slow_mover_capital   capital tied up in variants to discontinue or discount (inventory_alerts)
  quarantine_share     share of the recently stored facts the judge quarantined (ops.facts_triage)
  stale_feed           a shop's newest fact of a staged topic is older than the topic's thresholds
                       in var freshness (warn, then critical): one alert per shop and topic
  build_failed         the latest build failed or was abandoned (ops.build_runs), every shop
  contract_errors      the latest build recorded error-level contract results, every shop

A rule whose table is missing (the first build failed before the marts existed) is skipped:
its open alerts stay as they are, neither updated nor resolved.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from runner import settings
from runner.db import Target, connect, relation_exists
from runner.facts import facts_table
from runner.setup import apply_ddl

TABLE = "marts.alerts"
SEVERITIES = ("critical", "warn")  # highest first
DATA_RULES = ("goal_pace", "slow_mover_capital", "quarantine_share", "stale_feed")
BUILD_RULES = ("build_failed", "contract_errors")
RULES = DATA_RULES + BUILD_RULES
SLOW_MOVER_ACTIONS = ("discontinue", "discount_50_pct", "discount_25_pct")
# Serializes evaluations (a build already holds the build lock; this covers a direct call).
LOCK_SQL = "select pg_advisory_xact_lock(hashtext('hotdash.alerts'))"

# The relations each rule reads ({facts}: the facts table of var facts_schema): a rule whose
# relation is missing is skipped.
NEEDS: dict[str, tuple[str, ...]] = {
    "goal_pace": ("marts.growth_metrics",),
    "slow_mover_capital": ("marts.inventory_alerts",),
    "quarantine_share": ("ops.facts_triage",),
    "stale_feed": ("{facts}",),
    "build_failed": ("ops.build_runs",),
    "contract_errors": ("ops.build_runs", "ops.contract_results"),
}


@dataclass(frozen=True)
class Condition:
    """A rule's condition holding for one shop (and subject) now."""

    shop_domain: str
    rule: str
    severity: str
    message: str
    value: decimal.Decimal | None = None
    threshold: decimal.Decimal | None = None
    subject: str = ""


@dataclass
class Summary:
    """What one evaluation did."""

    evaluated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # rules whose tables are missing
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    open_by_severity: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        open_total = sum(self.open_by_severity.values())
        parts = [f"{n} {sev}" for sev in SEVERITIES if (n := self.open_by_severity.get(sev))]
        text = (
            f"alerts: {self.opened} opened, {self.updated} still open, {self.resolved} resolved;"
            f" {open_total} open" + (f" ({', '.join(parts)})" if parts else "")
        )
        if self.skipped:
            text += f"; skipped (table missing): {', '.join(self.skipped)}"
        return text


def ensure_alerts_table(conn: psycopg.Connection) -> None:
    """Create marts.alerts when missing (the DDL of macros/setup/ddl.sql, serialized as the ops
    tables' DDL is)."""
    apply_ddl(conn, "hotdash_alerts_ddl")


def _dec(value: Any) -> decimal.Decimal:
    """A var as an exact decimal (0.9 stays 0.9, not the nearest binary float)."""
    return decimal.Decimal(str(value))


def _money(value: decimal.Decimal) -> str:
    return f"{value:,.2f}"


# The net revenue per day each shop needs to reach the goal by the year's end (`needed`): its
# current month's remaining_to_goal / the days of the year after the as-of date, at least 1.
# goal_pace compares the run rate with it; the briefing (runner/briefing.py) shows both.
# {growth_metrics} is the mart.
GOAL_PACE_SQL = """
    select
        shop_domain,
        as_of_date,
        revenue_goal,
        remaining_to_goal,
        run_rate_net_revenue_per_day as run_rate,
        make_date(extract(year from as_of_date)::integer, 12, 31) as year_end,
        make_date(extract(year from as_of_date)::integer, 12, 31) - as_of_date as days_left,
        remaining_to_goal
        / greatest(make_date(extract(year from as_of_date)::integer, 12, 31) - as_of_date, 1)
            as needed
    from {growth_metrics}
    where is_current_month
"""


def goal_pace(conn: psycopg.Connection, vars: settings.Settings) -> list[Condition]:
    warn, critical = (
        _dec(vars.get("goal_pace_warn_ratio")),
        _dec(vars.get("goal_pace_critical_ratio")),
    )
    query = sql.SQL(
        """
        with paced as ("""
        + GOAL_PACE_SQL
        + """)

        select
            shop_domain, run_rate, needed, revenue_goal, remaining_to_goal, year_end, days_left,
            case when run_rate < needed * %(critical)s then 'critical' else 'warn' end
        from paced
        where remaining_to_goal > 0 and run_rate is not null and run_rate < needed * %(warn)s
        order by shop_domain
        """
    ).format(growth_metrics=sql.Identifier("marts", "growth_metrics"))
    rows = conn.execute(query, {"warn": warn, "critical": critical}).fetchall()
    out = []
    for shop, rate, needed, goal, remaining, year_end, days_left, severity in rows:
        share = rate / needed * 100
        ratio = critical if severity == "critical" else warn
        out.append(
            Condition(
                shop,
                "goal_pace",
                severity,
                f"net revenue run rate {_money(rate)}/day is {share:.1f}% of the"
                f" {_money(needed)}/day needed to reach the {goal:,.0f} goal by {year_end}"
                f" ({_money(remaining)} to go in {days_left} days; {severity} below"
                f" {ratio * 100:.0f}%)",
                value=rate,
                threshold=round(needed, 2),
            )
        )
    return out


def slow_mover_capital(conn: psycopg.Connection, vars: settings.Settings) -> list[Condition]:
    limit = _dec(vars.get("alert_slow_mover_capital"))
    rows = conn.execute(
        """
        select shop_domain, sum(capital_tied_up), count(*) filter (where capital_tied_up > 0)
        from marts.inventory_alerts
        where recommended_action = any(%(actions)s)
        group by shop_domain
        having sum(capital_tied_up) > %(limit)s
        order by shop_domain
        """,
        {"actions": list(SLOW_MOVER_ACTIONS), "limit": limit},
    ).fetchall()
    return [
        Condition(
            shop,
            "slow_mover_capital",
            "warn",
            f"{_money(capital)} of capital tied up in {variants:,} variants to discontinue or"
            f" discount (above {_money(limit)}): see `hotdash export inventory-alerts`",
            value=capital,
            threshold=limit,
        )
        for shop, capital, variants in rows
    ]


def quarantine_share(conn: psycopg.Connection, vars: settings.Settings) -> list[Condition]:
    limit = _dec(vars.get("alert_quarantine_share"))
    days = int(vars.get("alert_quarantine_window_days"))
    rows = conn.execute(
        """
        select
            shop_domain,
            count(*) filter (where reason is not null) as quarantined,
            count(*) as judged
        from ops.facts_triage
        where fact_created_at >= now() - make_interval(days => %(days)s)
        group by shop_domain
        having count(*) filter (where reason is not null)::numeric / count(*) > %(limit)s
        order by shop_domain
        """,
        {"days": days, "limit": limit},
    ).fetchall()
    return [
        Condition(
            shop,
            "quarantine_share",
            "warn",
            f"{quarantined:,} of {judged:,} facts stored in the last {days} days were quarantined"
            f" ({quarantined / judged:.2%}, above {limit:.2%}): see staging.facts_quarantine",
            value=round(decimal.Decimal(quarantined) / judged, 6),
            threshold=limit,
        )
        for shop, quarantined, judged in rows
    ]


def _hours(span: dt.timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def stale_feed(conn: psycopg.Connection, vars: settings.Settings) -> list[Condition]:
    """Per shop and staged topic: warn when the newest fact is older than the topic's
    warn_after_hours, critical beyond its error_after_hours (var freshness; the statuses of
    `hotdash status`). A shop that never sent a topic has no feed of it to go stale."""
    from runner.status import freshness

    out = []
    for feed in freshness(conn, vars):
        if feed.topic not in vars.topics or feed.status == "fresh":
            continue
        late = feed.status == "warn"
        limit = feed.thresholds.warn_after if late else feed.thresholds.error_after
        out.append(
            Condition(
                feed.shop_domain,
                "stale_feed",
                "warn" if late else "critical",
                f"no {feed.topic} fact for {int(feed.age.total_seconds() // 3600)} h (the newest"
                f" stored {feed.latest_created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC;"
                f" {'late' if late else 'stale'} after {_hours(limit)}): is the app still"
                " receiving this topic's webhooks?",
                value=round(decimal.Decimal(feed.age.total_seconds()) / 3600, 2),
                threshold=decimal.Decimal(limit.total_seconds()) / 3600,
                subject=feed.topic,
            )
        )
    return out


LATEST_BUILD_SQL = """
select run_id, status, failed_step, error_message, exit_code
from ops.build_runs
where status in ('success', 'failed', 'abandoned')
order by started_at desc
limit 1
"""


def shops(conn: psycopg.Connection, facts_schema: str) -> list[str]:
    """Every shop known to the facts (one index probe per shop) or to the marts."""
    found: set[str] = set()
    facts = facts_table(facts_schema)
    if relation_exists(conn, facts.as_string(conn)):
        query = sql.SQL("""
            with recursive shops as (
                (select shop_domain from {facts} order by shop_domain limit 1)
                union all
                select (
                    select facts.shop_domain from {facts} as facts
                    where facts.shop_domain > shops.shop_domain
                    order by facts.shop_domain limit 1
                )
                from shops
                where shops.shop_domain is not null
            )
            select shop_domain from shops where shop_domain is not null
        """).format(facts=facts)
        found.update(shop for (shop,) in conn.execute(query))
    if relation_exists(conn, "marts.growth_metrics"):
        found.update(
            shop
            for (shop,) in conn.execute("select distinct shop_domain from marts.growth_metrics")
        )
    return sorted(found)


def build_failed(conn: psycopg.Connection, shop_list: Sequence[str]) -> list[Condition]:
    latest = conn.execute(LATEST_BUILD_SQL).fetchone()
    if latest is None or latest[1] == "success":
        return []
    run_id, status, step, error, exit_code = latest
    first = (error or "").strip().splitlines()[0] if error else "no error recorded"
    message = (
        f"the latest build {str(run_id)[:8]} {status}"
        + (f" in step {step}" if step else "")
        + (f" (exit {exit_code})" if exit_code is not None else "")
        + f": {first}; the marts may be out of date (`hotdash status`)"
    )
    return [Condition(shop, "build_failed", "critical", message) for shop in shop_list]


def contract_errors(conn: psycopg.Connection, shop_list: Sequence[str]) -> list[Condition]:
    latest = conn.execute(LATEST_BUILD_SQL).fetchone()
    if latest is None:
        return []
    run_id = latest[0]
    count, names = conn.execute(
        "select count(*), string_agg(distinct suite || '.' || expectation, ', ')"
        " from ops.contract_results where run_id = %s and status = 'error'",
        (run_id,),
    ).fetchone()
    if not count:
        return []
    message = (
        f"the latest build {str(run_id)[:8]} recorded {count} error-level contract"
        f" result(s): {names[:200]} (ops.contract_results, `hotdash contracts`)"
    )
    return [
        Condition(shop, "contract_errors", "critical", message, value=decimal.Decimal(count))
        for shop in shop_list
    ]


def conditions(
    conn: psycopg.Connection, vars: settings.Settings, rules: Iterable[str], summary: Summary
) -> list[Condition]:
    """The conditions that hold now, for the rules whose tables exist (the others go to
    summary.skipped)."""
    found: list[Condition] = []
    shop_list: list[str] | None = None
    for rule in rules:
        needs = [relation.format(facts=vars.facts_relation) for relation in NEEDS[rule]]
        if not all(relation_exists(conn, relation) for relation in needs):
            summary.skipped.append(rule)
            continue
        summary.evaluated.append(rule)
        if rule in DATA_RULES:
            found += {
                "goal_pace": goal_pace,
                "slow_mover_capital": slow_mover_capital,
                "quarantine_share": quarantine_share,
                "stale_feed": stale_feed,
            }[rule](conn, vars)
        else:
            if shop_list is None:
                shop_list = shops(conn, vars.facts_schema)
            found += (build_failed if rule == "build_failed" else contract_errors)(conn, shop_list)
    return found


def evaluate(
    target: Target, run_id: uuid.UUID | str | None, rules: Sequence[str] = RULES
) -> Summary:
    """Evaluate `rules` and bring marts.alerts up to date, in one transaction: update the open
    alerts whose condition holds, open the new ones, resolve the open ones (of the evaluated
    rules) whose condition is gone. run_id: the build that evaluates (opened_by_run,
    resolved_by_run)."""
    unknown = [rule for rule in rules if rule not in RULES]
    if unknown:
        raise ValueError(f"unknown alert rule(s): {', '.join(unknown)}")
    vars = settings.of(target)
    summary = Summary()
    run = str(run_id) if run_id is not None else None
    with connect(target) as conn:
        ensure_alerts_table(conn)
        with conn.transaction():
            conn.execute(LOCK_SQL)
            now = conditions(conn, vars, rules, summary)
            conn.execute(
                "create temporary table alerts_now (shop_domain text, rule text, subject text,"
                " severity text, message text, value numeric, threshold numeric) on commit drop"
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into alerts_now values (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            c.shop_domain,
                            c.rule,
                            c.subject,
                            c.severity,
                            c.message,
                            c.value,
                            c.threshold,
                        )
                        for c in now
                    ],
                )
            summary.updated = conn.execute(
                """
                update marts.alerts as alerts set
                    severity = now_.severity, message = now_.message, value = now_.value,
                    threshold = now_.threshold, last_seen_at = now()
                from alerts_now as now_
                where
                    alerts.resolved_at is null
                    and (alerts.shop_domain, alerts.rule, alerts.subject)
                    = (now_.shop_domain, now_.rule, now_.subject)
                """
            ).rowcount
            summary.opened = conn.execute(
                """
                insert into marts.alerts (shop_domain, rule, subject, severity, message, value,
                    threshold, opened_by_run)
                select now_.shop_domain, now_.rule, now_.subject, now_.severity, now_.message,
                    now_.value, now_.threshold, %s::uuid
                from alerts_now as now_
                where not exists (
                    select 1 from marts.alerts as alerts
                    where
                        alerts.resolved_at is null
                        and (alerts.shop_domain, alerts.rule, alerts.subject)
                        = (now_.shop_domain, now_.rule, now_.subject)
                )
                """,
                (run,),
            ).rowcount
            summary.resolved = conn.execute(
                """
                update marts.alerts as alerts set resolved_at = now(), resolved_by_run = %s::uuid
                where
                    alerts.resolved_at is null
                    and alerts.rule = any(%s)
                    and not exists (
                        select 1 from alerts_now as now_
                        where (alerts.shop_domain, alerts.rule, alerts.subject)
                        = (now_.shop_domain, now_.rule, now_.subject)
                    )
                """,
                (run, summary.evaluated),
            ).rowcount
            summary.open_by_severity = dict(
                conn.execute(
                    "select severity, count(*) from marts.alerts where resolved_at is null"
                    " group by severity"
                ).fetchall()
            )
    return summary


@dataclass(frozen=True)
class Alert:
    shop_domain: str
    rule: str
    subject: str
    severity: str
    message: str
    value: decimal.Decimal | None
    threshold: decimal.Decimal | None
    opened_at: dt.datetime
    last_seen_at: dt.datetime
    resolved_at: dt.datetime | None
    opened_by_run: uuid.UUID | None
    resolved_by_run: uuid.UUID | None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, decimal.Decimal):
                value = float(value)
            elif isinstance(value, (dt.datetime, uuid.UUID)):
                value = str(value) if isinstance(value, uuid.UUID) else value.isoformat()
            out[key] = value
        return out


RESOLVED_DAYS = 30  # `hotdash alerts --all` lists the alerts resolved within this many days


def list_alerts(
    conn: psycopg.Connection, shop: str | None = None, include_resolved: bool = False
) -> list[Alert]:
    """Open alerts (and with include_resolved those resolved in the last RESOLVED_DAYS days),
    critical first, then by shop, rule and opening time. Empty when the table does not exist."""
    if not relation_exists(conn, TABLE):
        return []
    rows = conn.execute(
        """
        select shop_domain, rule, subject, severity, message, value, threshold, opened_at,
            last_seen_at, resolved_at, opened_by_run, resolved_by_run
        from marts.alerts
        where
            (%(shop)s::text is null or shop_domain = %(shop)s)
            and (
                resolved_at is null
                or (%(all)s and resolved_at >= now() - make_interval(days => %(days)s))
            )
        order by
            resolved_at is not null, case severity when 'critical' then 0 else 1 end,
            shop_domain, rule, subject, opened_at
        """,
        {"shop": shop, "all": include_resolved, "days": RESOLVED_DAYS},
    ).fetchall()
    return [Alert(*row) for row in rows]


def at_or_above(alerts: Iterable[Alert], severity: str) -> list[Alert]:
    """The open alerts at or above `severity` (warn: every open alert; critical: critical)."""
    rank = SEVERITIES.index(severity)
    return [a for a in alerts if a.resolved_at is None and SEVERITIES.index(a.severity) <= rank]


def raised(
    conn: psycopg.Connection, vars: settings.Settings, severity: str, shop: str | None = None
) -> list[tuple[str, str, str, str]]:
    """(shop, rule, subject, severity) at or above `severity`, of `shop` when given: the open
    alerts, and the feeds late or stale now (rule stale_feed, evaluated on the spot: a feed that
    stops is seen without waiting for a build, also when builds stop)."""
    rank = SEVERITIES.index(severity)
    found = {(a.shop_domain, a.rule, a.subject): a.severity for a in list_alerts(conn, shop)}
    if relation_exists(conn, vars.facts_relation):
        for c in stale_feed(conn, vars):
            if shop is None or c.shop_domain == shop:
                key = (c.shop_domain, c.rule, c.subject)
                found[key] = min(found.get(key, c.severity), c.severity, key=SEVERITIES.index)
    return [(*key, sev) for key, sev in sorted(found.items()) if SEVERITIES.index(sev) <= rank]
