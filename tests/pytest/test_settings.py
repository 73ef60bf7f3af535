"""One reading of the project's settings: a build's --vars reach dbt, the contracts, the grants and
the facts readers alike, and no test or check depends on a var's default."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner import db, pipeline, settings
from runner.errors import ConfigError
from runner.facts import load_demo
from runner.status import freshness
from tests.pytest.helpers import PROJECT_DIR, query, run_dbt, scalar

HOTDASH = Path(sys.executable).parent / "hotdash"

# Every documented var that shapes what a build computes, away from its default
# (dbt_project.yml): time zone, goal, windows, thresholds, the facts' schema and the PII columns.
NON_DEFAULT_VARS = {
    "reporting_timezone": "America/Chicago",
    "revenue_goal": 2500000,
    "goal_run_rate_months": 6,
    "sales_window_days": 60,
    "velocity_fast_min_units_per_month": 8,
    "velocity_medium_min_units_per_month": 2,
    "discount_50_pct_above_months_of_cover": 10,
    "discount_25_pct_above_months_of_cover": 5,
    "reorder_below_months_of_cover": 2,
    "cash_recovery_rate": {
        "discontinue": 0.4,
        "discount_50_pct": 0.3,
        "discount_25_pct": 0.2,
        "reorder": 0,
        "monitor": 0,
    },
    "daily_email_top_n": 5,
    "kpi_history_days": 30,
    "cx_first_response_sla_minutes": 30,
    "cx_sla_target_share": 0.95,
    "cx_sla_act_share": 0.8,
    "cx_csat_target_share": 0.7,
    "lifecycle_new_max_days": 20,
    "lifecycle_active_max_days": 60,
    "lifecycle_at_risk_max_days": 120,
    "professional_tags": ["wholesale", "trade"],
    "professional_min_orders_per_year": 8,
    "enthusiast_min_orders": 4,
    "enthusiast_min_net_revenue": 1000,
    "rfm_recency_days": [14, 45, 90, 365],
    "rfm_frequency_orders": [2, 4, 6, 12],
    "rfm_monetary_net_revenue": [100, 400, 1500, 6000],
    "winback_min_net_revenue": 2500,
    "winback_offer_pct": 20,
    "reengagement_min_days_since_last_order": 30,
    "reengagement_max_days_since_last_order": 75,
    "nurture_max_days_since_first_order": 21,
    "content_theme_by_category": {"Engine & Drivetrain": "engine_specialist"},
    "facts_schema": "app",
    "pipeline_health_days": 14,
    "monitor_ingest_hours": 24,
    "monitor_quarantine_days": 7,
    "freshness": {
        "default": {"warn_after_hours": 12, "error_after_hours": 48},
        "shopify.orders": {"warn_after_hours": 6, "error_after_hours": 36},
        "shopify.inventory_levels": {"warn_after_hours": 12, "error_after_hours": 48},
        "shopify.refunds": {"warn_after_hours": 72, "error_after_hours": 240},
        "shopify.customers": {"warn_after_hours": 72, "error_after_hours": 240},
        "shopify.products": {"warn_after_hours": 72, "error_after_hours": 240},
        "shopify.inventory_items": {"warn_after_hours": 72, "error_after_hours": 240},
        "chatwoot.conversations": {"warn_after_hours": 8, "error_after_hours": 48},
        "chatwoot.messages": {"warn_after_hours": 8, "error_after_hours": 48},
        "search_console.search_analytics": {"warn_after_hours": 36, "error_after_hours": 96},
        "ga4.landing_pages": {"warn_after_hours": 24, "error_after_hours": 72},
        "instagram.media": {"warn_after_hours": 36, "error_after_hours": 96},
        "instagram.media_insights": {"warn_after_hours": 24, "error_after_hours": 72},
    },
    "clock_skew_tolerance": "2 hours",
    "known_currencies": ["USD", "CAD"],
    "known_conversation_statuses": ["open", "resolved", "pending", "snoozed", "archived"],
    "known_message_types": ["incoming", "outgoing", "activity", "template", "reaction"],
    "known_instagram_media_types": ["IMAGE", "VIDEO", "CAROUSEL_ALBUM", "GIF"],
    "known_instagram_media_product_types": ["FEED", "REELS", "STORY", "AD", "CLIPS"],
    "pii_columns": [
        "email",
        "first_name",
        "last_name",
        "phone",
        "address1",
        "city",
        "province",
        "zip",
        "company",
        "customer_name",
        "sku",
    ],
}


def test_every_var_named_here_is_one_the_project_documents_and_not_its_default():
    documented = settings.project_vars(PROJECT_DIR)
    assert set(NON_DEFAULT_VARS) <= set(documented)
    assert [k for k, v in NON_DEFAULT_VARS.items() if documented[k] == v] == []


def test_vars_from_the_command_line_win_over_the_project_and_bad_ones_are_named():
    target = db.Target(
        "profile", "postgresql://unused", PROJECT_DIR, "dev", PROJECT_DIR, PROJECT_DIR
    )
    assert settings.of(target).facts_relation == "public.facts"
    moved = settings.with_vars(target, "{facts_schema: app, revenue_goal: 5}")
    assert settings.of(moved).facts_relation == "app.facts"
    assert settings.of(moved).get("revenue_goal") == 5
    assert settings.of(moved).get("sales_window_days") == 90  # the project's, untouched
    with pytest.raises(ConfigError, match=r"--vars must be a YAML mapping, got '\[1\]'"):
        settings.with_vars(target, "[1]")


def test_the_security_model_is_the_var_security_and_a_partial_one_is_named():
    target = db.Target(
        "profile", "postgresql://unused", PROJECT_DIR, "dev", PROJECT_DIR, PROJECT_DIR
    )
    model = settings.of(target).security
    assert model.roles.all() == (
        "hotdash_loader",
        "hotdash_analyst",
        "hotdash_operator",
        "hotdash_ai_readonly",
    )
    assert sorted(model.managed_schemas) == ["intermediate", "marts", "ops", "staging"]
    assert sorted(model.analyst_schemas) == ["marts", "ops", "staging"]
    assert (model.shop_setting, model.policies.shop) == ("app.shop_domain", "hotdash_shop_read")
    # --vars replaces the whole var (dbt merges top-level keys): what it lacks is named
    partial = settings.with_vars(target, "{security: {roles: {loader: l}}}")
    with pytest.raises(ConfigError, match=r"lacks marts_schema, .*, roles\.analyst"):
        _ = settings.of(partial).security


def _an_as_of_date_where_utc_and_chicago_disagree(target: db.Target) -> dt.date:
    """A day D such that some order was placed between midnight and 5 am UTC on D + 1: in
    Chicago it is still D, so a check that reads dates in UTC disagrees with the mart."""
    day = scalar(
        target,
        "select ((value ->> 'created_at')::timestamptz at time zone 'UTC')::date - 1"
        " from app.facts where topic = 'shopify.orders'"
        " and extract(hour from (value ->> 'created_at')::timestamptz at time zone 'UTC') < 5"
        " order by (value ->> 'created_at')::timestamptz"
        " offset (select count(*) / 2 from app.facts where topic = 'shopify.orders') / 24"
        " limit 1",
    )
    assert isinstance(day, dt.date)
    return day


def test_a_build_with_other_vars_passes_and_every_step_reads_them(new_target):
    target = new_target()
    with db.connect(target) as conn:
        conn.execute("drop table public.facts")  # nothing may read the default relation
        load_demo(conn, 6_000, shops=2, seed=5, schema="app")
    as_of = _an_as_of_date_where_utc_and_chicago_disagree(target)
    chosen = {**NON_DEFAULT_VARS, "as_of_date": as_of.isoformat()}
    cli_vars = json.dumps(chosen)

    report = pipeline.build(target, pipeline.BuildOptions(vars=cli_vars))

    assert report.error is None, report.error
    assert [s.status for s in report.steps] == ["success"] * len(report.steps)
    # dbt read them: the marts are for the chosen day and goal, from the facts in schema app.
    assert query(target, "select distinct as_of_date, revenue_goal from marts.growth_metrics") == [
        (as_of, 2500000)
    ]
    assert scalar(target, "select count(*) from staging.stg_shopify__orders") > 0
    # The contracts read them: revenue reconciles on Chicago dates, from app.facts.
    outcomes = {(o.suite, o.expectation): o for r in report.contracts for o in r.outcomes}
    reconciles = outcomes[("marts_growth_metrics", "net_revenue_reconciles_with_staged_orders")]
    assert reconciles.status == "pass"
    assert outcomes[("source_facts", "ids_are_unique")].status == "pass"
    # The grants read them: the loader may insert into app.facts, the AI may not read sku.
    assert query(
        target,
        "select has_table_privilege('hotdash_loader', 'app.facts', 'insert'),"
        " has_column_privilege('hotdash_ai_readonly', 'marts.inventory_alerts', 'sku', 'select')",
    ) == [(True, False)]
    # The readers of facts read them.
    with db.connect(target) as conn:
        feeds = freshness(conn, settings.of(settings.with_vars(target, cli_vars)))
    assert {f.shop_domain for f in feeds} != set()
    assert {f.thresholds.warn_after for f in feeds if f.topic == "shopify.orders"} == {
        dt.timedelta(hours=6)
    }
    # So do the monitoring panels: the facts of schema app, the thresholds of the var.
    with db.connect(target) as conn:
        conn.execute("select set_config('app.shop_domain', %s, false)", (feeds[0].shop_domain,))
        panel = conn.execute(
            "select distinct topic, warn_after_hours from marts.monitor_freshness"
            " where topic = 'shopify.orders'"
        ).fetchall()
    assert panel == [("shopify.orders", 6)]
    # Every unit test pins what it reads: the expected rows hold under other vars.
    run_dbt(target, "test", "--select", "test_type:unit", "--vars", yaml.safe_dump(chosen))
    # `hotdash contracts --vars` checks as the build did; with UTC dates the revenue is off.
    env = {**os.environ, "HOTDASH_DATABASE": str(scalar(target, "select current_database()"))}

    def contracts(given: dict) -> subprocess.CompletedProcess[str]:
        command = [str(HOTDASH), "contracts", "--stage", "marts", "--vars", json.dumps(given)]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)

    assert contracts(chosen).returncode == 0
    utc = contracts({**chosen, "reporting_timezone": "UTC"})
    assert utc.returncode == 7
    assert "net_revenue_reconciles_with_staged_orders" in utc.stderr
