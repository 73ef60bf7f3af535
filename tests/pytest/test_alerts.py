"""Alerts (runner/alerts.py, marts.alerts): each rule at its threshold on both sides, the
lifecycle of one alert, the build's wiring, row-level security and the CLI. The marts the rules
read are made by hand with only the columns the rules read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg import sql

from runner import alerts, db, grants, settings
from runner.errors import BuildError
from runner.pipeline import BuildOptions, Step, alert_rules, build
from tests.pytest.helpers import PROJECT_DIR, insert_facts, query, run_dbt, scalar

HOTDASH = Path(sys.executable).parent / "hotdash"
SHOP_A = "a.myshopify.com"
SHOP_B = "b.myshopify.com"


def run(target: db.Target, *statements: str) -> None:
    with db.connect(target) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def growth(target: db.Target, rows: list[tuple]) -> None:
    """marts.growth_metrics: (shop, as_of_date, is_current_month, remaining_to_goal, run_rate)."""
    run(
        target,
        "create schema if not exists marts",
        "drop table if exists marts.growth_metrics",
        "create table marts.growth_metrics (shop_domain text, as_of_date date,"
        " is_current_month boolean, revenue_goal numeric, remaining_to_goal numeric,"
        " run_rate_net_revenue_per_day numeric)",
    )
    with db.connect(target) as conn:
        for shop, as_of, current, remaining, rate in rows:
            conn.execute(
                "insert into marts.growth_metrics values (%s, %s, %s, 10000000, %s, %s)",
                (shop, as_of, current, remaining, rate),
            )


def open_alerts(target: db.Target, rule: str | None = None) -> list[tuple]:
    return query(
        target,
        "select shop_domain, rule, severity, value, threshold from marts.alerts"
        " where resolved_at is null and (%s::text is null or rule = %s)"
        " order by shop_domain, rule",
        (rule, rule),
    )


# --- goal_pace ---------------------------------------------------------------------------------


def test_goal_pace_warns_below_90_and_is_critical_below_60_percent_of_the_needed_rate(target):
    # 2026-12-01: 30 days left after it (to 2026-12-31); 30,000 to go: 1,000.00 a day needed.
    as_of = "2026-12-01"
    growth(
        target,
        [
            ("s1.myshopify.com", as_of, True, 30000, Decimal("900.00")),  # 90 %: not below
            ("s2.myshopify.com", as_of, True, 30000, Decimal("899.99")),  # warn
            ("s3.myshopify.com", as_of, True, 30000, Decimal("600.00")),  # 60 %: warn
            ("s4.myshopify.com", as_of, True, 30000, Decimal("599.99")),  # critical
            ("s5.myshopify.com", as_of, True, 0, Decimal("-10")),  # goal reached: no alert
            ("s6.myshopify.com", "2026-11-30", False, 30000, Decimal("0")),  # past month
            ("s7.myshopify.com", as_of, True, 30000, None),  # no run rate
        ],
    )
    summary = alerts.evaluate(target, uuid.uuid4(), ["goal_pace"])
    assert (summary.opened, summary.evaluated) == (3, ["goal_pace"])
    assert open_alerts(target) == [
        ("s2.myshopify.com", "goal_pace", "warn", Decimal("899.99"), Decimal("1000.00")),
        ("s3.myshopify.com", "goal_pace", "warn", Decimal("600.00"), Decimal("1000.00")),
        ("s4.myshopify.com", "goal_pace", "critical", Decimal("599.99"), Decimal("1000.00")),
    ]
    assert scalar(
        target, "select message from marts.alerts where shop_domain = 's4.myshopify.com'"
    ) == (
        "net revenue run rate 599.99/day is 60.0% of the 1,000.00/day needed to reach the"
        " 10,000,000 goal by 2026-12-31 (30,000.00 to go in 30 days; critical below 60%)"
    )


def test_goal_pace_ratios_are_vars(target):
    growth(target, [(SHOP_A, "2026-12-01", True, 30000, Decimal("949.99"))])
    strict = settings.with_vars(target, "{goal_pace_warn_ratio: 0.95}")
    alerts.evaluate(strict, None, ["goal_pace"])
    assert [row[:3] for row in open_alerts(target)] == [(SHOP_A, "goal_pace", "warn")]


# --- slow_mover_capital ------------------------------------------------------------------------


def inventory(target: db.Target, rows: list[tuple]) -> None:
    run(
        target,
        "create schema if not exists marts",
        "drop table if exists marts.inventory_alerts",
        "create table marts.inventory_alerts (shop_domain text, recommended_action text,"
        " capital_tied_up numeric)",
    )
    with db.connect(target) as conn:
        for row in rows:
            conn.execute("insert into marts.inventory_alerts values (%s, %s, %s)", row)


def test_slow_mover_capital_above_50000_warns_and_at_50000_does_not(target):
    inventory(
        target,
        [
            # A: 30,000 + 15,000 + 5,000 = 50,000.00 exactly; reorder and monitor do not count
            (SHOP_A, "discontinue", Decimal("30000")),
            (SHOP_A, "discount_50_pct", Decimal("15000")),
            (SHOP_A, "discount_25_pct", Decimal("5000")),
            (SHOP_A, "reorder", Decimal("99999")),
            (SHOP_A, "monitor", Decimal("99999")),
            # B: 20,000 + 30,000.01 = 50,000.01; unknown capital counts for nothing
            (SHOP_B, "discount_25_pct", Decimal("20000")),
            (SHOP_B, "discontinue", Decimal("30000.01")),
            (SHOP_B, "discontinue", None),
        ],
    )
    alerts.evaluate(target, uuid.uuid4(), ["slow_mover_capital"])
    assert open_alerts(target) == [
        (SHOP_B, "slow_mover_capital", "warn", Decimal("50000.01"), Decimal("50000"))
    ]
    assert scalar(target, "select message from marts.alerts") == (
        "50,000.01 of capital tied up in 2 variants to discontinue or discount (above"
        " 50,000.00): see `hotdash export inventory-alerts`"
    )


# --- quarantine_share --------------------------------------------------------------------------


def triage(target: db.Target) -> None:
    """A: 2 of 100 recent facts quarantined (2 %, not above), and 10 quarantined 8 days ago
    (outside the 7-day window); B: 3 of 100 (3 %)."""
    run(
        target,
        "create table ops.facts_triage (shop_domain text, reason text, fact_created_at timestamptz)",
        "insert into ops.facts_triage select 'a.myshopify.com',"
        " case when n <= 2 then 'bad' end, now() - interval '6 days 23 hours'"
        " from generate_series(1, 100) as n",
        "insert into ops.facts_triage select 'a.myshopify.com', 'bad',"
        " now() - interval '8 days' from generate_series(1, 10)",
        "insert into ops.facts_triage select 'b.myshopify.com',"
        " case when n <= 3 then 'bad' end, now() - interval '1 hour'"
        " from generate_series(1, 100) as n",
    )


def test_quarantine_share_above_2_percent_of_the_last_7_days_warns(target):
    triage(target)
    alerts.evaluate(target, uuid.uuid4(), ["quarantine_share"])
    assert open_alerts(target) == [
        (SHOP_B, "quarantine_share", "warn", Decimal("0.030000"), Decimal("0.02"))
    ]
    assert scalar(target, "select message from marts.alerts") == (
        "3 of 100 facts stored in the last 7 days were quarantined (3.00%, above 2.00%):"
        " see staging.facts_quarantine"
    )


# --- stale_feed ----------------------------------------------------------------------------------


def fact_at(target: db.Target, shop: str, topic: str, age: str) -> None:
    """One fact of `topic` stored `age` (an interval) ago."""
    run(
        target,
        "insert into facts (shop_domain, topic, value, created_at)"
        f" values ('{shop}', '{topic}', '{{}}', now() - interval '{age}')",
    )


def stale(target: db.Target) -> list[tuple]:
    return query(
        target,
        "select shop_domain, subject, severity, threshold from marts.alerts"
        " where rule = 'stale_feed' and resolved_at is null order by shop_domain, subject",
    )


def test_stale_feed_warns_past_warn_after_and_is_critical_past_error_after_per_topic(target):
    """Orders: 24 h / 72 h; customers: 168 h / 336 h (var freshness). A minute on each side of
    each threshold; a topic that is not staged never alerts."""
    fact_at(target, SHOP_A, "shopify.orders", "23 hours 59 minutes")
    fact_at(target, SHOP_A, "shopify.customers", "168 hours 1 minute")
    fact_at(target, SHOP_A, "shopify.checkouts", "900 hours")
    fact_at(target, SHOP_B, "shopify.orders", "24 hours 1 minute")
    fact_at(target, SHOP_B, "shopify.customers", "167 hours 59 minutes")
    fact_at(target, SHOP_B, "shopify.refunds", "336 hours 1 minute")
    fact_at(target, SHOP_B, "shopify.inventory_levels", "71 hours 59 minutes")
    fact_at(target, "c.myshopify.com", "shopify.orders", "72 hours 1 minute")
    alerts.evaluate(target, uuid.uuid4(), ["stale_feed"])
    assert stale(target) == [
        (SHOP_A, "shopify.customers", "warn", Decimal(168)),
        (SHOP_B, "shopify.inventory_levels", "warn", Decimal(24)),
        (SHOP_B, "shopify.orders", "warn", Decimal(24)),
        (SHOP_B, "shopify.refunds", "critical", Decimal(336)),
        ("c.myshopify.com", "shopify.orders", "critical", Decimal(72)),
    ]
    message = scalar(
        target,
        "select message from marts.alerts where shop_domain = %s and subject = 'shopify.orders'",
        (SHOP_B,),
    )
    assert message.startswith("no shopify.orders fact for 24 h (the newest stored ")
    assert message.endswith(
        " UTC; late after 24 h): is the app still receiving this topic's webhooks?"
    )


def test_stale_feed_resolves_when_a_fact_arrives_and_follows_the_var(target):
    fact_at(target, SHOP_A, "shopify.orders", "30 hours")
    alerts.evaluate(target, uuid.uuid4(), ["stale_feed"])
    assert stale(target) == [(SHOP_A, "shopify.orders", "warn", Decimal(24))]
    # The same thresholds under --vars: 40 h / 80 h leaves a 30-hour-old feed fresh.
    relaxed = settings.with_vars(
        target,
        '{"freshness": {"default": {"warn_after_hours": 40, "error_after_hours": 80}}}',
    )
    alerts.evaluate(relaxed, uuid.uuid4(), ["stale_feed"])
    assert stale(target) == []
    alerts.evaluate(target, uuid.uuid4(), ["stale_feed"])
    fact_at(target, SHOP_A, "shopify.orders", "1 minute")
    summary = alerts.evaluate(target, uuid.uuid4(), ["stale_feed"])
    assert (summary.opened, summary.resolved, stale(target)) == (0, 1, [])
    assert scalar(target, "select count(*) from marts.alerts where resolved_at is not null") == 2


def test_status_fail_on_sees_a_stale_feed_before_any_build_evaluates_it(target):
    fact_at(target, SHOP_A, "shopify.orders", "72 hours 1 minute")
    fact_at(target, SHOP_B, "shopify.orders", "24 hours 1 minute")
    critical = hotdash(target, "status", "--fail-on", "critical")
    assert critical.returncode == 12, critical.stderr
    assert f"{SHOP_A} stale_feed shopify.orders (critical)" in critical.stderr
    assert SHOP_B not in critical.stderr
    assert hotdash(target, "status", "--shop", SHOP_B, "--fail-on", "critical").returncode == 0
    assert hotdash(target, "status", "--shop", SHOP_B, "--fail-on", "warn").returncode == 12
    assert scalar(target, "select to_regclass('marts.alerts') is null") is True


def test_source_freshness_is_a_build_step_that_reports_and_never_fails(target):
    from runner.pipeline import load_project_step, source_freshness_step

    fact_at(target, SHOP_A, "shopify.orders", "80 hours")
    fact_at(target, SHOP_A, "shopify.refunds", "200 hours")
    fact_at(target, SHOP_A, "shopify.customers", "1 hour")
    steps = [
        Step("load project", load_project_step),
        Step("source freshness", source_freshness_step),
    ]
    report = build(target, BuildOptions(skip_contracts=True), steps=steps)
    assert report.error is None
    (step,) = [s for s in report.steps if s.name == "source freshness"]
    # Orders stale past 72 h, refunds late past 168 h, customers fresh; a topic no shop ever sent
    # has no loaded-at time, which dbt counts an error: the step reports them all, fails nothing.
    assert (step.status, step.summary) == (
        "success",
        "12 feeds: 10 error, 1 pass, 1 warn (chatwoot_conversations error,"
        " chatwoot_messages error, ga4_landing_pages error, instagram_media error,"
        " instagram_media_insights error, search_console_search_analytics error,"
        " shopify_inventory_items error, shopify_inventory_levels error, shopify_orders error,"
        " shopify_products error, shopify_refunds warn)",
    )
    nodes = query(
        target,
        "select name, status from ops.build_run_nodes where resource_type = 'source'"
        " and name in ('shopify_orders', 'shopify_refunds', 'shopify_customers') order by 1",
    )
    assert nodes == [
        ("shopify_customers", "pass"),
        ("shopify_orders", "error"),
        ("shopify_refunds", "warn"),
    ]


def test_dbt_source_freshness_judges_the_stalest_shop_by_the_same_thresholds(target):
    """dbt's sources per topic read var freshness: orders warn past 24 h (the stalest of two
    shops), refunds pass at 30 h (168 h), and the same feeds in `hotdash status`."""
    fact_at(target, SHOP_A, "shopify.orders", "1 hour")
    fact_at(target, SHOP_B, "shopify.orders", "30 hours")
    fact_at(target, SHOP_B, "shopify.refunds", "30 hours")
    result = run_dbt(
        target,
        "source",
        "freshness",
        "--select",
        "source:app.shopify_orders",
        "source:app.shopify_refunds",
        ok=False,
    )
    sources = [n for n in result.nodes if n.resource_type == "source"]
    assert sorted((n.name, n.status) for n in sources) == [
        ("shopify_orders", "warn"),
        ("shopify_refunds", "pass"),
    ]
    from runner.status import freshness

    with db.connect(target) as conn:
        feeds = freshness(conn, settings.of(target))
    assert [(f.shop_domain, f.topic, f.status) for f in feeds] == [
        (SHOP_A, "shopify.orders", "fresh"),
        (SHOP_B, "shopify.orders", "warn"),
        (SHOP_B, "shopify.refunds", "fresh"),
    ]


# --- build_failed and contract_errors ----------------------------------------------------------


def record_build(target: db.Target, status: str, minutes_ago: int, **extra: object) -> uuid.UUID:
    run_id = uuid.uuid4()
    with db.connect(target) as conn:
        conn.execute(
            "insert into ops.build_runs (run_id, started_at, ended_at, status, error_message,"
            " failed_step, exit_code) values (%s, now() - make_interval(mins => %s),"
            " now() - make_interval(mins => %s), %s, %s, %s, %s)",
            (
                run_id,
                minutes_ago,
                minutes_ago - 1,
                status,
                extra.get("error"),
                extra.get("step"),
                extra.get("exit_code"),
            ),
        )
    return run_id


def contract_result(target: db.Target, run_id: uuid.UUID, status: str) -> None:
    run(
        target,
        "insert into ops.contract_results (run_id, stage, suite, expectation, severity, success,"
        f" status) values ('{run_id}', 'marts', 'growth_metrics', 'rows', 'error',"
        f" {status == 'pass'}, '{status}')",
    )


def test_build_failed_opens_for_every_shop_and_a_later_success_resolves_it(target):
    insert_facts(target, [(SHOP_A, "shopify.orders", {}), (SHOP_B, "shopify.orders", {})])
    record_build(target, "success", 30)
    failed = record_build(target, "failed", 20, error="dbt failed\nmore", step="dbt build")
    record_build(target, "cancelled", 10)  # an interrupted build says nothing either way
    record_build(target, "running", 1)
    alerts.evaluate(target, failed, alerts.BUILD_RULES)
    assert open_alerts(target) == [
        (SHOP_A, "build_failed", "critical", None, None),
        (SHOP_B, "build_failed", "critical", None, None),
    ]
    assert scalar(target, "select min(message) from marts.alerts") == (
        f"the latest build {str(failed)[:8]} failed in step dbt build: dbt failed;"
        " the marts may be out of date (`hotdash status`)"
    )
    ok = record_build(target, "success", 0)
    alerts.evaluate(target, ok, alerts.BUILD_RULES)
    assert open_alerts(target) == []
    assert query(target, "select distinct resolved_by_run from marts.alerts") == [(ok,)]
    record_build(target, "abandoned", -1)
    alerts.evaluate(target, None, alerts.BUILD_RULES)
    assert [row[:3] for row in open_alerts(target)] == [
        (SHOP_A, "build_failed", "critical"),
        (SHOP_B, "build_failed", "critical"),
    ]


def test_contract_errors_of_the_latest_build_are_critical_for_every_shop(target):
    insert_facts(target, [(SHOP_A, "shopify.orders", {})])
    older = record_build(target, "failed", 20)
    contract_result(target, older, "error")  # not the latest build's
    latest = record_build(target, "success", 10)
    contract_result(target, latest, "warn")
    contract_result(target, latest, "pass")
    alerts.evaluate(target, latest, ["contract_errors"])
    assert open_alerts(target) == []
    contract_result(target, latest, "error")
    alerts.evaluate(target, latest, ["contract_errors"])
    assert open_alerts(target) == [(SHOP_A, "contract_errors", "critical", Decimal("1"), None)]


# --- lifecycle ---------------------------------------------------------------------------------


def test_an_alert_opens_once_follows_its_condition_and_resolves_then_a_new_one_opens(target):
    growth(target, [(SHOP_A, "2026-12-01", True, 30000, Decimal("899.99"))])
    first, second, third, fourth = (uuid.uuid4() for _ in range(4))
    alerts.evaluate(target, first, ["goal_pace"])
    ((opened_at, seen_1),) = query(target, "select opened_at, last_seen_at from marts.alerts")

    # still below the pace, now critical: the same row, updated
    run(target, "update marts.growth_metrics set run_rate_net_revenue_per_day = 500")
    summary = alerts.evaluate(target, second, ["goal_pace"])
    assert (summary.opened, summary.updated, summary.resolved) == (0, 1, 0)
    rows = query(
        target,
        "select opened_at, last_seen_at, severity, value, opened_by_run, resolved_at"
        " from marts.alerts",
    )
    assert len(rows) == 1
    assert rows[0][0] == opened_at and rows[0][1] > seen_1
    assert rows[0][2:] == ("critical", Decimal("500"), first, None)

    # on pace: resolved by this run
    run(target, "update marts.growth_metrics set run_rate_net_revenue_per_day = 1000")
    summary = alerts.evaluate(target, third, ["goal_pace"])
    assert (summary.opened, summary.updated, summary.resolved) == (0, 0, 1)
    assert query(
        target, "select resolved_at >= last_seen_at, resolved_by_run from marts.alerts"
    ) == [(True, third)]

    # below again: a new alert, the old one stays resolved
    run(target, "update marts.growth_metrics set run_rate_net_revenue_per_day = 899.99")
    alerts.evaluate(target, fourth, ["goal_pace"])
    assert query(
        target,
        "select opened_by_run, resolved_by_run, severity from marts.alerts order by opened_at",
    ) == [(first, third, "critical"), (fourth, None, "warn")]


def test_a_rule_whose_mart_is_missing_is_skipped_not_resolved(target):
    inventory(target, [(SHOP_A, "discontinue", Decimal("60000"))])
    alerts.evaluate(target, uuid.uuid4(), ["slow_mover_capital"])
    run(target, "drop table marts.inventory_alerts")
    summary = alerts.evaluate(target, uuid.uuid4(), alerts.RULES)
    assert "slow_mover_capital" in summary.skipped and summary.resolved == 0
    assert [row[:2] for row in open_alerts(target)] == [(SHOP_A, "slow_mover_capital")]


# --- wiring: hotdash build ---------------------------------------------------------------------


def boom(ctx) -> None:
    raise BuildError("boom happened")


def test_a_failed_build_opens_build_failed_and_the_next_successful_build_resolves_it(target):
    insert_facts(target, [(SHOP_A, "shopify.orders", {}), (SHOP_B, "shopify.orders", {})])
    with pytest.raises(BuildError):
        build(target, BuildOptions(), steps=[Step("breaks", boom)])
    assert [row[:3] for row in open_alerts(target)] == [
        (SHOP_A, "build_failed", "critical"),
        (SHOP_B, "build_failed", "critical"),
    ]
    report = build(target, BuildOptions(), steps=[Step("fine", lambda ctx: "ok")])
    assert report.alerts is not None and report.alerts.resolved == 2
    assert open_alerts(target) == []
    assert query(target, "select distinct resolved_by_run from marts.alerts") == [(report.run_id,)]


def test_an_error_in_evaluation_changes_nothing_of_the_build(target, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("alerts are broken")

    monkeypatch.setattr(alerts, "evaluate", broken)
    report = build(target, BuildOptions(), steps=[Step("fine", lambda ctx: "ok")])
    assert (report.status, report.alerts_error) == ("success", "RuntimeError: alerts are broken")
    with pytest.raises(BuildError, match="boom happened") as err:
        build(target, BuildOptions(), steps=[Step("breaks", boom)])
    assert err.value.build_report.alerts_error == "RuntimeError: alerts are broken"


# --- row-level security ------------------------------------------------------------------------


def test_the_operator_reads_only_its_shops_alerts(target):
    inventory(
        target,
        [(SHOP_A, "discontinue", Decimal("60000")), (SHOP_B, "discontinue", Decimal("70000"))],
    )
    alerts.evaluate(target, uuid.uuid4(), ["slow_mover_capital"])
    grants.apply_security(target)
    operator = settings.project_security(PROJECT_DIR).roles.operator
    assert scalar(
        target, "select relforcerowsecurity from pg_class where oid = 'marts.alerts'::regclass"
    )
    with db.connect(target) as conn:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(operator)))
        seen = {}
        for shop in (SHOP_A, SHOP_B, ""):
            conn.execute("select set_config('app.shop_domain', %s, false)", (shop,))
            seen[shop] = conn.execute("select shop_domain, value from marts.alerts").fetchall()
        conn.rollback()
    assert seen == {
        SHOP_A: [(SHOP_A, Decimal("60000"))],
        SHOP_B: [(SHOP_B, Decimal("70000"))],
        "": [],
    }
    assert grants.verify_security(target) == []


# --- CLI ---------------------------------------------------------------------------------------


def hotdash(target: db.Target, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTDASH_DATABASE": str(scalar(target, "select current_database()"))}
    env.pop("HOTDASH_SHOP_DOMAIN", None)
    return subprocess.run(
        [str(HOTDASH), *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def test_alerts_json_and_status_fail_on(target):
    insert_facts(target, [(SHOP_A, "shopify.orders", {}), (SHOP_B, "shopify.orders", {})])
    inventory(target, [(SHOP_B, "discontinue", Decimal("60000"))])
    failed = record_build(target, "failed", 10, error="boom", step="dbt build", exit_code=6)
    alerts.evaluate(target, failed, ["slow_mover_capital", "build_failed"])

    listed = hotdash(target, "alerts", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["severity"], r["shop_domain"], r["rule"]) for r in rows] == [
        ("critical", SHOP_A, "build_failed"),
        ("critical", SHOP_B, "build_failed"),
        ("warn", SHOP_B, "slow_mover_capital"),
    ]
    assert rows[2]["value"] == 60000 and rows[2]["resolved_at"] is None
    assert rows[2]["opened_by_run"] == str(failed)
    only_a = json.loads(hotdash(target, "alerts", "--shop", SHOP_A, "--json").stdout)
    assert [r["rule"] for r in only_a] == ["build_failed"]

    critical = hotdash(target, "status", "--fail-on", "critical")
    assert critical.returncode == 12, critical.stderr
    assert "2 open alert(s) at or above critical" in critical.stdout

    ok = record_build(target, "success", 0)
    alerts.evaluate(target, ok, ["slow_mover_capital", "build_failed"])
    assert hotdash(target, "status", "--fail-on", "critical").returncode == 0
    assert hotdash(target, "status", "--fail-on", "warn").returncode == 12
    assert hotdash(target, "status", "--shop", SHOP_A, "--fail-on", "warn").returncode == 0
    assert hotdash(target, "status").returncode == 0

    resolved = json.loads(hotdash(target, "alerts", "--all", "--json").stdout)
    assert [(r["rule"], r["resolved_by_run"]) for r in resolved] == [
        ("slow_mover_capital", None),
        ("build_failed", str(ok)),
        ("build_failed", str(ok)),
    ]


def test_a_select_build_evaluates_only_the_build_rules_and_skip_contracts_leaves_theirs():
    assert alert_rules(BuildOptions()) == list(alerts.RULES)
    assert alert_rules(BuildOptions(select=("staging",))) == ["build_failed", "contract_errors"]
    assert alert_rules(BuildOptions(select=("staging",), skip_contracts=True)) == ["build_failed"]
