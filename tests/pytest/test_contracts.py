"""Data contracts: a clean fact set passes every suite; each kind of bad data fails exactly the
expectation written for it, with the exit code a scheduler acts on."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import psycopg
import psycopg.sql
import pytest
import yaml
from typer.testing import CliRunner

from runner import contracts, db, ops, pipeline, settings
from runner.cli import app
from runner.errors import ConfigError, MartContractError, SourceContractError
from runner.facts import ensure_facts_table
from tests.pytest.helpers import PROJECT_DIR, insert_facts, query, run_dbt, scalar
from tests.pytest.test_staging import MALFORMED

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("contracts")

SHOP = "contracts.myshopify.com"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ORDER_DAY = NOW - dt.timedelta(days=2)
MONTH = ORDER_DAY.date().replace(day=1)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def order(order_id: int, **changes: object) -> dict:
    """A paid order of customer 1: 2 x variant 101 at 100.00 and 1 x variant 102 at 50.00,
    10.00 off: gross 250.00, total 240.00."""
    payload = {
        "id": order_id,
        "name": f"#{order_id}",
        "created_at": iso(ORDER_DAY),
        "updated_at": iso(ORDER_DAY),
        "processed_at": iso(ORDER_DAY),
        "cancelled_at": None,
        "test": False,
        "financial_status": "paid",
        "currency": "USD",
        "total_line_items_price": "250.00",
        "subtotal_price": "240.00",
        "total_discounts": "10.00",
        "total_tax": "0.00",
        "total_price": "240.00",
        "customer": {"id": 1},
        "line_items": [
            {
                "id": order_id * 10 + 1,
                "variant_id": 101,
                "product_id": 100,
                "quantity": 2,
                "price": "100.00",
                "total_discount": "0.00",
            },
            {
                "id": order_id * 10 + 2,
                "variant_id": 102,
                "product_id": 100,
                "quantity": 1,
                "price": "50.00",
                "total_discount": "0.00",
            },
        ],
    }
    payload.update(changes)
    return payload


def good_facts() -> list[tuple[str, str, object]]:
    """Order 1001 counts (net 250 - 10 - 50 refunded = 190.00); 1002 is cancelled, 1003 a test.
    Variant 101 has 5 units at cost 40.00, variant 102 has 3 at 20.00."""
    return [
        (
            SHOP,
            "shopify.customers",
            {
                "id": 1,
                "email": "pat@example.com",
                "first_name": "Pat",
                "created_at": iso(ORDER_DAY),
                "updated_at": iso(ORDER_DAY),
                "tags": "",
                "email_marketing_consent": {"state": "subscribed"},
                "default_address": {"company": None, "city": "Tulsa", "country_code": "US"},
            },
        ),
        (
            SHOP,
            "shopify.products",
            {
                "id": 100,
                "title": "Cam kit",
                "product_type": "Camshafts",
                "updated_at": iso(ORDER_DAY),
                "variants": [
                    {"id": 101, "price": "100.00", "inventory_item_id": 11},
                    {"id": 102, "price": "50.00", "inventory_item_id": 12},
                ],
            },
        ),
        (
            SHOP,
            "shopify.inventory_items",
            {"id": 11, "cost": "40.00", "updated_at": iso(ORDER_DAY)},
        ),
        (
            SHOP,
            "shopify.inventory_items",
            {"id": 12, "cost": "20.00", "updated_at": iso(ORDER_DAY)},
        ),
        (
            SHOP,
            "shopify.inventory_levels",
            {
                "inventory_item_id": 11,
                "location_id": 1,
                "available": 5,
                "updated_at": iso(ORDER_DAY),
            },
        ),
        (
            SHOP,
            "shopify.inventory_levels",
            {
                "inventory_item_id": 12,
                "location_id": 1,
                "available": 3,
                "updated_at": iso(ORDER_DAY),
            },
        ),
        (SHOP, "shopify.orders", order(1001)),
        (
            SHOP,
            "shopify.orders",
            order(1002, cancelled_at=iso(ORDER_DAY), financial_status="voided"),
        ),
        (SHOP, "shopify.orders", order(1003, test=True)),
        (
            SHOP,
            "shopify.refunds",
            {
                "id": 5001,
                "order_id": 1001,
                "created_at": iso(ORDER_DAY),
                "refund_line_items": [
                    {"id": 1, "line_item_id": 10012, "quantity": 1, "subtotal": "50.00"}
                ],
                "transactions": [{"amount": "50.00", "kind": "refund", "status": "success"}],
            },
        ),
    ]


# The hand-made marts: each column by the name the suites use (their `columns:` block maps it
# to the mart's own name), with its type.
MART_COLUMNS = {
    "growth_metrics": {
        "shop_domain": "text",
        "month": "date",
        "as_of_date": "date",
        "gross_sales": "numeric",
        "discounts": "numeric",
        "refunds": "numeric",
        "net_revenue": "numeric",
        "orders": "bigint",
        "customers": "bigint",
        "new_customers": "bigint",
        "average_order_value": "numeric",
        "cumulative_net_revenue": "numeric",
        "revenue_goal": "numeric",
        "remaining_to_goal": "numeric",
        "pct_of_goal": "numeric",
        "projected_month_revenue": "numeric",
        "projected_goal_date": "date",
    },
    "inventory_alerts": {
        "shop_domain": "text",
        "variant_id": "bigint",
        "units_on_hand": "bigint",
        "unit_cost": "numeric",
        "capital_tied_up": "numeric",
        "monthly_sales_avg": "numeric",
        "months_of_cover": "numeric",
        "margin_pct": "numeric",
        "recommended_action": "text",
        "potential_cash_recovery": "numeric",
        "slow_mover_rank": "integer",
        "in_daily_email": "boolean",
    },
    "marketing_targets": {
        "shop_domain": "text",
        "customer_id": "bigint",
        "campaign": "text",
        "content_theme": "text",
        "email": "text",
    },
    "product_categories": {
        "shop_domain": "text",
        "variant_id": "bigint",
        "category_l1": "text",
        "margin_pct": "numeric",
        "inventory_velocity": "text",
    },
    "kpi_tiles": {
        "shop_domain": "text",
        "tile": "text",
        "tile_date": "date",
        "is_as_of_day": "boolean",
        "headline_value": "numeric",
        "comparison_value": "numeric",
    },
    "seo_dropped_pages": {
        "shop_domain": "text",
        "page_path": "text",
        "window_start": "date",
        "window_end": "date",
        "clicks_last_7_days": "bigint",
        "clicks_prior_7_days": "bigint",
        "clicks_change": "bigint",
        "clicks_change_share": "numeric",
        "drop_rank": "integer",
    },
}

SEO_WINDOW = dt.date(2025, 6, 11)  # the hand-made SEO list's first day of its last 7 days

# What the good facts must give, by hand: order 1001 is 250.00 gross, 10.00 off, 50.00 refunded.
# fmt: off
MART_ROWS = {
    "growth_metrics": [(
        SHOP, MONTH, NOW.date(), D("250.00"), D("10.00"), D("50.00"), D("190.00"), 1, 1, 1,
        D("240.00"), D("190.00"), 10000000, D("9999810.00"), D("0.0019"), D("190.00"), None,
    )],
    "inventory_alerts": [
        (SHOP, 101, 5, D("40.00"), D("200.00"), D("0.67"), D("7.46"), D("60.00"),
         "discount_25_pct", D("50.00"), 1, True),
        (SHOP, 102, 3, D("20.00"), D("60.00"), D("0.33"), D("9.09"), D("60.00"),
         "monitor", D("0.00"), None, False),
    ],
    "marketing_targets": [(SHOP, 1, "new_customer_nurture", "general_hotrod", "pat@example.com")],
    "product_categories": [
        (SHOP, 101, "Engine & Drivetrain", D("60.00"), "slow"),
        (SHOP, 102, "Engine & Drivetrain", D("60.00"), "slow"),
    ],
    # The month's 190.00; variant 101, the one slow mover: 200.00 tied up, 50.00 recoverable.
    "kpi_tiles": [
        (SHOP, "sales", NOW.date() - dt.timedelta(days=1), False, D("0.00"), D("27000.00")),
        (SHOP, "sales", NOW.date(), True, D("190.00"), D("27000.00")),
        (SHOP, "inventory", NOW.date(), True, D("200.00"), D("50.00")),
    ],
    # /products/a: 40 clicks in the 7 days before the window (SEO_DAILY), 8 in it.
    "seo_dropped_pages": [
        (SHOP, "/products/a", SEO_WINDOW, SEO_WINDOW + dt.timedelta(days=6), 8, 40, -32,
         D("-0.8000"), 1),
    ],
}
# The organic search per page and day the list was summed from (intermediate.int_seo__page_daily).
SEO_DAILY = [
    (SHOP, SEO_WINDOW - dt.timedelta(days=7), "/products/a", 30),
    (SHOP, SEO_WINDOW - dt.timedelta(days=1), "/products/a", 10),
    (SHOP, SEO_WINDOW + dt.timedelta(days=6), "/products/a", 8),
    (SHOP, SEO_WINDOW + dt.timedelta(days=7), "/products/a", 50),  # after the window
]
# fmt: on


def col(mart: str, name: str) -> str:
    """The mart's own name for a column, from the suite's `columns:` block (the column's name
    when the suite does not read it)."""
    suite = yaml.safe_load((contracts.CONTRACTS_DIR / "marts" / f"{mart}.yml").read_text())
    return suite["columns"].get(name, name)


def make_marts(target: db.Target) -> None:
    """Create the hand-made marts in schema marts."""
    with db.connect(target) as conn:
        conn.execute("create schema if not exists marts")
        for mart, columns in MART_COLUMNS.items():
            names = [psycopg.sql.Identifier(col(mart, name)) for name in columns]
            table = psycopg.sql.Identifier("marts", mart)
            conn.execute(
                psycopg.sql.SQL("create table {} ({})").format(
                    table,
                    psycopg.sql.SQL(", ").join(
                        psycopg.sql.SQL("{} {}").format(n, psycopg.sql.SQL(t))
                        for n, t in zip(names, columns.values(), strict=True)
                    ),
                )
            )
            insert = psycopg.sql.SQL("insert into {} ({}) values ({})").format(
                table,
                psycopg.sql.SQL(", ").join(names),
                psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() * len(names)),
            )
            conn.cursor().executemany(insert, MART_ROWS[mart])
        conn.execute("create schema if not exists intermediate")
        conn.execute(
            "create table intermediate.int_seo__page_daily"
            " (shop_domain text, report_date date, page_path text, clicks numeric)"
        )
        conn.cursor().executemany(
            "insert into intermediate.int_seo__page_daily values (%s, %s, %s, %s)", SEO_DAILY
        )


def set_column(target: db.Target, mart: str, name: str, value: object, where: str = "true") -> None:
    """Overwrite one column of a hand-made mart (by the name the suites use)."""
    statement = psycopg.sql.SQL("update {} set {} = %s where " + where).format(
        psycopg.sql.Identifier("marts", mart), psycopg.sql.Identifier(col(mart, name))
    )
    with db.connect(target) as conn:
        conn.execute(statement, (value,))


def set_tile(target: db.Target, tile: str, name: str, value: object) -> None:
    """Overwrite one column of a tile's as-of row in the hand-made kpi_tiles."""
    where = f"{col('kpi_tiles', 'tile')} = '{tile}' and {col('kpi_tiles', 'is_as_of_day')}"
    set_column(target, "kpi_tiles", name, value, where)


def dbname(target: db.Target) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(target.conninfo)["dbname"])


def cli(target: db.Target, *args: str):
    return CliRunner().invoke(app, list(args), env={"HOTDASH_DATABASE": dbname(target)})


def not_passed(report: contracts.ContractReport) -> dict[str, str]:
    return {f"{o.suite}/{o.expectation}": o.status for o in report.outcomes if o.status != "pass"}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> contracts.ContractSession:
    """One GX context for the module: creating it is the slow part of a contract run."""
    return contracts.ContractSession(tmp_path_factory.mktemp("contracts"))


@pytest.fixture(scope="module")
def built(hotdash_home: Path, session: contracts.ContractSession) -> Iterator[db.Target]:
    """The good facts, built by the pipeline (source gate, dbt, mart stage), then the marts."""
    target = db.embedded_target(
        PROJECT_DIR, hotdash_home, dbname=f"t_contracts_{uuid.uuid4().hex[:10]}"
    )
    with db.connect(target) as conn:
        ensure_facts_table(conn)
    insert_facts(target, good_facts())
    report = pipeline.build(target, pipeline.BuildOptions(select=("+facts_quarantine", "staging")))
    source, marts = report.contracts
    assert (source.stage, marts.stage) == ("source", "marts")
    # Marts this build did not select are skipped, not failed; staging checks ran.
    assert marts.ok and {o.suite for o in marts.outcomes if o.status == "skipped"} == {
        "marts_growth_metrics",
        "marts_inventory_alerts",
        "marts_kpi_tiles",
        "marts_marketing_targets",
        "marts_product_categories",
        "marts_seo_dropped_pages",
    }
    assert {o.status for o in marts.outcomes if o.suite.startswith("source_")} == {"pass"}
    make_marts(target)
    yield target
    db.drop_database(target)


def test_a_clean_build_passes_every_contract(built, session):
    source = contracts.run_contracts(built, "source", session=session)
    marts = contracts.run_contracts(built, "marts", run_id=source.run_id, session=session)

    assert not_passed(source) == {}
    assert not_passed(marts) == {}
    suites = {o.suite for o in source.outcomes + marts.outcomes}
    assert len(suites) == len(list((contracts.CONTRACTS_DIR).glob("*/*.yml"))) == 19
    assert contracts.contract_error(source) is None and contracts.contract_error(marts) is None
    summary = json.loads(marts.summary.read_text())
    assert summary["ok"] is True
    assert set(summary["stages"]) == {"source", "marts"}
    assert summary["stages"]["marts"]["run_id"] == source.run_id
    assert summary["stages"]["marts"]["counts"]["error"] == 0
    index = marts.data_docs.read_text()
    assert "marts_growth_metrics.marts.growth_metrics" in index


def test_data_docs_render_each_validation_once_and_index_every_one_of_the_session(built, tmp_path):
    session = contracts.ContractSession(tmp_path / "contracts")
    docs = session.docs_dir
    marker = "<!-- left by the test -->"

    def pages() -> set[Path]:
        return set((docs / "validations").rglob("*.html")) | set(
            (docs / "expectations").rglob("*.html")
        )

    def validations() -> int:
        return len(session.context.validation_results_store.list_keys())

    def mark(paths: set[Path]) -> None:
        for path in paths:
            path.write_text(path.read_text() + marker)

    def unmarked(paths: set[Path]) -> set[Path]:
        return {path for path in paths if not path.read_text().endswith(marker)}

    def indexed(report: contracts.ContractReport) -> int:
        return report.data_docs.read_text().count("ge-index-page-table-expectation-suite-link")

    source = contracts.run_contracts(built, "source", session=session)
    source_pages = pages()
    # a page per validation and one per suite it validated
    assert len(source_pages) == 2 * validations() and validations() >= 13
    mark(source_pages)

    # The mart stage renders its own validations and suites; the source stage's pages stay as
    # the first publish left them, and the index lists the validations of both stages.
    marts = contracts.run_contracts(built, "marts", run_id=source.run_id, session=session)
    mart_pages = pages() - source_pages
    assert len(pages()) == 2 * validations() and len(mart_pages) >= 2 * 6
    assert unmarked(source_pages) == set() and unmarked(mart_pages) == mart_pages
    assert indexed(marts) == validations()

    # Nothing new since: the index is written again, and no page.
    mark(mart_pages)
    marts.data_docs.unlink()
    assert session.build_docs() == marts.data_docs
    assert indexed(marts) == validations()
    assert unmarked(source_pages | mart_pages) == set()

    # A later run replaces the mart suites: their pages are rendered again, with its new
    # validations' pages; the source stage's stay as they were.
    before = validations()
    again = contracts.run_contracts(built, "marts", session=session)
    suite_pages = {p for p in mart_pages if p.is_relative_to(docs / "expectations")}
    assert unmarked(suite_pages) == suite_pages and unmarked(source_pages) == set()
    assert validations() - before == len(mart_pages) // 2
    assert len(set((docs / "validations").rglob("*.html"))) == validations()
    assert indexed(again) == validations()


def test_a_tile_that_disagrees_with_its_mart_by_a_cent_fails(built, session):
    for tile, column, good, expectation in (
        (
            "sales",
            "headline_value",
            D("190.00"),
            "sales_month_to_date_is_the_current_months_net_revenue",
        ),
        (
            "inventory",
            "comparison_value",
            D("50.00"),
            "inventory_capital_is_the_slow_movers_capital",
        ),
    ):
        where = f"{col('kpi_tiles', 'tile')} = '{tile}' and {col('kpi_tiles', 'is_as_of_day')}"
        set_column(built, "kpi_tiles", column, good + D("0.01"), where)
        try:
            report = contracts.run_contracts(built, "marts", session=session)
        finally:
            set_column(built, "kpi_tiles", column, good, where)
        assert not_passed(report) == {f"marts_kpi_tiles/{expectation}": "error"}, tile


def test_a_dropped_page_whose_clicks_are_not_its_days_fails_that_contract_only(built, session):
    """40 clicks the 7 days before, by its days; the list says 41 (its change and share by its
    own arithmetic): only the reconciliation with the days fails. A change that is not the
    difference fails the arithmetic."""
    where = f"{col('seo_dropped_pages', 'page_path')} = '/products/a'"
    good = {"clicks_prior_7_days": 40, "clicks_change": -32, "clicks_change_share": D("-0.8000")}
    bad = {"clicks_prior_7_days": 41, "clicks_change": -33, "clicks_change_share": D("-0.8049")}
    try:
        for name, value in bad.items():
            set_column(built, "seo_dropped_pages", name, value, where)
        reconciled = contracts.run_contracts(built, "marts", session=session)
        set_column(built, "seo_dropped_pages", "clicks_change", -34, where)
        arithmetic = contracts.run_contracts(built, "marts", session=session)
    finally:
        for name, value in good.items():
            set_column(built, "seo_dropped_pages", name, value, where)
    assert not_passed(reconciled) == {
        "marts_seo_dropped_pages/clicks_are_the_pages_daily_clicks": "error"
    }
    assert not_passed(arithmetic) == {
        "marts_seo_dropped_pages/clicks_are_the_pages_daily_clicks": "error",
        "marts_seo_dropped_pages/a_listed_page_lost_clicks_by_its_own_arithmetic": "error",
    }


def test_capital_not_units_times_cost_fails_that_contract_only(built, session):
    where = f"{col('inventory_alerts', 'variant_id')} = 101"
    set_column(built, "inventory_alerts", "capital_tied_up", D("200.01"), where)
    try:
        report = contracts.run_contracts(built, "marts", session=session)
        result = cli(built, "contracts", "--stage", "marts")
    finally:
        set_column(built, "inventory_alerts", "capital_tied_up", D("200.00"), where)

    # The inventory tile, which read the old capital, no longer agrees with the mart either.
    assert not_passed(report) == {
        "marts_inventory_alerts/capital_tied_up_is_units_times_cost": "error",
        "marts_kpi_tiles/inventory_capital_is_the_slow_movers_capital": "error",
    }
    bad, _ = report.errors
    assert bad.unexpected_count == 1
    assert bad.sample == [
        {
            "shop_domain": SHOP,
            "variant_id": 101,
            "units_on_hand": 5,
            "unit_cost": "40.00",
            "capital_tied_up": "200.01",
        }
    ]
    error = contracts.contract_error(report)
    assert isinstance(error, MartContractError)
    assert "capital_tied_up_is_units_times_cost: 1 bad row" in error.message
    assert "variant_id=101" in error.message
    assert result.exit_code == MartContractError.exit_code == 7


def test_a_monitored_variant_in_the_daily_email_fails_that_contract_only(built, session):
    where = f"{col('inventory_alerts', 'variant_id')} = 102"
    set_column(built, "inventory_alerts", "in_daily_email", True, where)
    try:
        report = contracts.run_contracts(built, "marts", session=session)
    finally:
        set_column(built, "inventory_alerts", "in_daily_email", False, where)

    assert not_passed(report) == {
        "marts_inventory_alerts/daily_email_holds_the_first_slow_movers": "error"
    }
    (bad,) = report.errors
    assert bad.sample == [
        {
            "shop_domain": SHOP,
            "variant_id": 102,
            "recommended_action": "monitor",
            "capital_tied_up": "60.00",
            "slow_mover_rank": None,
            "in_daily_email": True,
        }
    ]


def test_a_slow_mover_ranked_behind_one_with_less_capital_fails_the_email_contract(built, session):
    """102 (60.00 of capital) made a discontinued slow mover ranked first and in the email, 101
    (200.00) second: every row agrees with its own action, rank and flag, but 101 ranks behind
    less capital."""
    wrong = {102: ("discontinue", 1, True), 101: ("discount_25_pct", 2, True)}
    right = {102: ("monitor", None, False), 101: ("discount_25_pct", 1, True)}

    def set_rows(rows: dict[int, tuple[str, int | None, bool]]) -> None:
        for variant, (action, rank, in_email) in rows.items():
            where = f"{col('inventory_alerts', 'variant_id')} = {variant}"
            set_column(built, "inventory_alerts", "recommended_action", action, where)
            set_column(built, "inventory_alerts", "slow_mover_rank", rank, where)
            set_column(built, "inventory_alerts", "in_daily_email", in_email, where)

    set_rows(wrong)
    set_tile(built, "inventory", "headline_value", D("260.00"))  # the tile agrees: 200 + 60
    try:
        report = contracts.run_contracts(built, "marts", session=session)
    finally:
        set_rows(right)
        set_tile(built, "inventory", "headline_value", D("200.00"))

    assert not_passed(report) == {
        "marts_inventory_alerts/daily_email_holds_the_first_slow_movers": "error"
    }
    (bad,) = report.errors
    assert [(row["variant_id"], row["slow_mover_rank"]) for row in bad.sample] == [(101, 2)]


def test_net_revenue_off_by_a_cent_fails_the_reconciliation_only(built, session):
    # Gross, net and cumulative all a cent up: the month adds up, staging does not agree.
    shifted = {
        "gross_sales": D("250.01"),
        "net_revenue": D("190.01"),
        "cumulative_net_revenue": D("190.01"),
    }
    for name, value in shifted.items():
        set_column(built, "growth_metrics", name, value)
    set_tile(built, "sales", "headline_value", D("190.01"))  # the tile agrees with the mart
    try:
        report = contracts.run_contracts(built, "marts", session=session)
    finally:
        for name, value in shifted.items():
            set_column(built, "growth_metrics", name, value - D("0.01"))
        set_tile(built, "sales", "headline_value", D("190.00"))

    assert not_passed(report) == {
        "marts_growth_metrics/net_revenue_reconciles_with_staged_orders": "error"
    }
    assert report.errors[0].sample == [
        {"shop_domain": SHOP, "staged_net_revenue": "190.00", "mart_net_revenue": "190.01"}
    ]
    assert isinstance(contracts.contract_error(report), MartContractError)


def test_a_mart_built_for_a_past_date_reconciles_without_later_orders(built, session):
    # Built with as_of_date the day before order 1001: a month with no revenue.
    past = {
        "as_of_date": ORDER_DAY.date() - dt.timedelta(days=1),
        "gross_sales": 0,
        "discounts": 0,
        "refunds": 0,
        "net_revenue": 0,
        "cumulative_net_revenue": 0,
    }
    original = dict(
        zip(MART_COLUMNS["growth_metrics"], MART_ROWS["growth_metrics"][0], strict=True)
    )
    for name, value in past.items():
        set_column(built, "growth_metrics", name, value)
    set_tile(built, "sales", "headline_value", D("0.00"))
    try:
        report = contracts.run_contracts(built, "marts", session=session)
    finally:
        for name in past:
            set_column(built, "growth_metrics", name, original[name])
        set_tile(built, "sales", "headline_value", D("190.00"))

    assert not_passed(report) == {}


def test_a_marketing_target_without_consent_or_not_its_customers_address_fails_them(built, session):
    """The list is one row per shop, campaign and normalized address: the address must be the
    customer's own, lower-cased and trimmed, and the customer must consent. A bad row is named by
    shop, campaign and customer id, never by its email."""
    set_column(built, "marketing_targets", "email", " Pat@example.com")
    with db.connect(built) as conn:
        conn.execute(
            "update staging.stg_shopify__customers set accepts_marketing = false"
            " where customer_id = 1"
        )
    try:
        report = contracts.run_contracts(built, "marts", session=session)
    finally:
        set_column(built, "marketing_targets", "email", "pat@example.com")
        with db.connect(built) as conn:
            conn.execute(
                "update staging.stg_shopify__customers set accepts_marketing = true"
                " where customer_id = 1"
            )

    assert not_passed(report) == {
        "marts_marketing_targets/only_consenting_customers": "error",
        "marts_marketing_targets/email_is_the_customers_address": "error",
    }
    named = {"shop_domain": SHOP, "campaign": "new_customer_nurture", "customer_id": 1}
    assert [(o.expectation, o.unexpected_count, o.sample) for o in report.errors] == [
        ("only_consenting_customers", 1, [named]),
        ("email_is_the_customers_address", 1, [named]),
    ]
    assert not_passed(contracts.run_contracts(built, "marts", session=session)) == {}


def step_context(target: db.Target) -> pipeline.BuildContext:
    """What a build step gets from the pipeline: the target, the options, the run's id and its
    report."""
    options = pipeline.BuildOptions()
    run_id = uuid.uuid4()
    report = pipeline.BuildReport(run_id=run_id, options=options)
    return pipeline.BuildContext(target, options, run_id, report, pipeline.BuildListener())


def test_build_steps_record_under_the_build_run_and_raise_on_errors(built):
    ctx = step_context(built)
    with db.connect(built) as conn:
        ops.ensure_ops_tables(conn)
        conn.execute(
            psycopg.sql.SQL("update marts.product_categories set {} = 150 where {} = 101").format(
                psycopg.sql.Identifier(col("product_categories", "margin_pct")),
                psycopg.sql.Identifier(col("product_categories", "variant_id")),
            )
        )
    try:
        facts_summary = pipeline.facts_contracts_step(ctx)
        contracts.judge_facts(built)
        payload_summary = pipeline.payload_contracts_step(ctx)
        with pytest.raises(MartContractError) as raised:
            pipeline.mart_contracts_step(ctx)
        recorded = query(
            built,
            "select stage, count(*), count(*) filter (where not success)"
            " from ops.contract_results where run_id = %s group by stage order by stage",
            (ctx.run_id,),
        )
    finally:
        with db.connect(built) as conn:
            conn.execute(
                psycopg.sql.SQL("update marts.product_categories set {} = 60.00").format(
                    psycopg.sql.Identifier(col("product_categories", "margin_pct"))
                )
            )
            conn.execute("drop table ops.contract_results")

    checks = [c for s in contracts.load_suites() for c in s.checks]
    facts_checks = sum(c.part == "facts" for c in checks)
    payload_checks = sum(c.part == "payload" for c in checks)
    assert facts_summary == f"{facts_checks} passed, 0 warned, 0 skipped"
    assert payload_summary == f"{payload_checks} passed, 0 warned, 0 skipped"
    assert facts_checks + payload_checks == sum(c.stage == "source" for c in checks)
    assert "marts_product_categories / margin_pct_is_at_most_100: 1 bad row" in raised.value.message
    assert "margin_pct=150" in raised.value.message
    assert recorded == [
        ("marts", sum(c.stage == "marts" for c in checks), 1),
        ("source", sum(c.stage == "source" for c in checks), 0),
    ]


def test_a_renamed_mart_column_fails_the_checks_that_read_it(built, session):
    margin = psycopg.sql.Identifier(col("product_categories", "margin_pct"))
    renamed = psycopg.sql.Identifier("margin")
    rename = psycopg.sql.SQL("alter table marts.product_categories rename {} to {}")
    with db.connect(built) as conn:
        conn.execute(rename.format(margin, renamed))
    try:
        report = contracts.run_contracts(built, "marts", session=session)
    finally:
        with db.connect(built) as conn:
            conn.execute(rename.format(renamed, margin))

    assert not_passed(report) == {"marts_product_categories/margin_pct_is_at_most_100": "error"}
    assert report.errors[0].message.startswith("the check could not run")
    assert "margin_pct" in report.errors[0].message


def test_a_stale_topic_only_warns(target, session):
    insert_facts(target, good_facts())
    insert_facts(
        target,
        [
            (
                SHOP,
                "shopify.inventory_levels",
                {
                    "inventory_item_id": 11,
                    "location_id": 2,
                    "available": 1,
                    "updated_at": iso(ORDER_DAY),
                },
            )
        ],
        created_at=NOW - dt.timedelta(days=3),
    )
    with db.connect(target) as conn:
        conn.execute(
            "update facts set created_at = %s where topic = 'shopify.inventory_levels'",
            (NOW - dt.timedelta(days=3),),
        )

    report = contracts.run_contracts(target, "source", session=session)

    assert not_passed(report) == {"source_inventory_levels/is_fresh": "warn"}
    assert report.warnings[0].sample == [
        {"shop_domain": SHOP, "last_fact_at": (NOW - dt.timedelta(days=3)).isoformat()}
    ]
    assert report.ok


def test_is_fresh_warns_a_minute_past_the_topics_warn_threshold_not_a_minute_before(
    target, session
):
    """is_fresh reads var freshness: inventory levels warn past 24 h."""
    insert_facts(target, good_facts())
    for age, expected in (("23 hours 59 minutes", {}), ("24 hours 1 minute", "warn")):
        with db.connect(target) as conn:
            conn.execute(
                "update facts set created_at = now() - %s::interval"
                " where topic = 'shopify.inventory_levels'",
                (age,),
            )
        report = contracts.run_contracts(target, "source", session=session)
        found = not_passed(report).get("source_inventory_levels/is_fresh", {})
        assert found == expected, age


def test_non_numeric_totals_above_the_error_share_stop_the_source(target, session):
    insert_facts(target, good_facts())
    (bad_id,) = insert_facts(target, [(SHOP, "shopify.orders", order(1004, total_price="12,50"))])

    report = contracts.run_contracts(target, "source", session=session)
    result = cli(target, "contracts", "--stage", "source")

    # 1 of 4 orders facts (25%) is above the 2% error share.
    assert not_passed(report) == {"source_orders/total_price_is_a_number": "error"}
    (bad,) = report.errors
    assert (bad.unexpected_count, bad.unexpected_share) == (1, 0.25)
    assert bad.sample == [{"fact_id": bad_id}]
    assert result.exit_code == SourceContractError.exit_code == 5
    assert f"fact ids {bad_id}" in result.output
    assert "total_price_is_a_number" in result.output


def test_an_order_in_an_unknown_currency_is_caught_with_the_dbt_var(target, session):
    insert_facts(target, good_facts())
    (bad_id,) = insert_facts(target, [(SHOP, "shopify.orders", order(1004, currency="XYZ"))])

    report = contracts.run_contracts(target, "source", session=session)

    # known_currencies (dbt_project.yml) is ["USD"]: the quarantine rejects XYZ, so do contracts.
    assert not_passed(report) == {"source_orders/currency_is_known": "error"}
    assert report.errors[0].sample == [{"fact_id": bad_id}]


def test_an_incremental_gate_reads_only_facts_not_yet_staged(target, session):
    insert_facts(target, good_facts())
    (old_bad,) = insert_facts(target, [(SHOP, "shopify.orders", order(1004, total_price="x"))])
    run_dbt(target, "run", "--select", "facts_triage")  # judge batch 1
    (new_bad,) = insert_facts(target, [(SHOP, "shopify.orders", order(1005, total_price="y"))])
    # Orders are staged up to batch 1 (staging's cursor is the last judge batch it read); the
    # gate judges the new fact (batch 2) and reads only that batch.
    with db.connect(target) as conn:
        conn.execute("create schema staging")
        conn.execute("create table staging.stg_shopify__orders as select 1::bigint as judge_batch")

    report = contracts.run_contracts(target, "source", session=session, new_facts_only=True)
    full = contracts.run_contracts(target, "source", session=session)

    # One bad fact of one new one: its share is taken of at least 1,000 facts, so it warns.
    assert not_passed(report) == {"source_orders/total_price_is_a_number": "warn"}
    (warning,) = report.warnings
    assert (warning.unexpected_count, warning.checked, warning.after_batch) == (1, 1, 1)
    assert warning.sample == [{"fact_id": new_bad}]
    assert warning.unexpected_share == 1 / contracts.MIN_SHARE_BASE
    # Read in full, 2 of 5 orders are bad: an error.
    assert not_passed(full) == {"source_orders/total_price_is_a_number": "error"}
    assert full.errors[0].sample == [{"fact_id": old_bad}, {"fact_id": new_bad}]


def test_timestamps_in_the_future_are_caught_beyond_the_clock_skew(target, session):
    insert_facts(target, good_facts())
    soon, later = NOW + dt.timedelta(minutes=10), NOW + dt.timedelta(days=2)
    (_, bad_id) = insert_facts(
        target,
        [
            (SHOP, "shopify.orders", order(1004, updated_at=iso(soon))),
            (SHOP, "shopify.orders", order(1005, updated_at=iso(later).replace("Z", "-05:00"))),
        ],
    )

    report = contracts.run_contracts(target, "source", session=session)

    assert not_passed(report) == {"source_orders/timestamps_are_not_in_the_future": "error"}
    assert report.errors[0].sample == [{"fact_id": bad_id}]


def test_a_few_malformed_facts_only_warn(target, session):
    insert_facts(target, good_facts())
    insert_facts(target, [(SHOP, "shopify.orders", order(2000 + i)) for i in range(60)])
    (bad_id,) = insert_facts(target, [(SHOP, "shopify.orders", order(1004, total_price="n/a"))])

    report = contracts.run_contracts(target, "source", session=session)

    # 1 of 64 orders facts (1.6%) is under the 2% error share: reported, not blocking.
    assert not_passed(report) == {"source_orders/total_price_is_a_number": "warn"}
    (warning,) = report.warnings
    assert warning.unexpected_count == 1
    assert warning.sample == [{"fact_id": bad_id}]
    assert report.ok
    assert cli(target, "contracts", "--stage", "source").exit_code == 0


def test_a_negative_inventory_level_stops_the_build_before_staging(target):
    insert_facts(target, good_facts())
    (bad_id,) = insert_facts(
        target,
        [
            (
                SHOP,
                "shopify.inventory_levels",
                {
                    "inventory_item_id": 12,
                    "location_id": 2,
                    "available": -3,
                    "updated_at": iso(ORDER_DAY),
                },
            )
        ],
    )
    with db.connect(target) as conn:
        ops.ensure_ops_tables(conn)

    with pytest.raises(SourceContractError) as raised:
        # A full refresh reads every fact: 1 of 3 levels (33%) is above the 2% error share.
        pipeline.build(target, pipeline.BuildOptions(select=("staging",), full_refresh=True))

    message = raised.value.message
    assert "source_inventory_levels / available_is_not_negative: 1 bad row" in message
    assert f"fact ids {bad_id}" in message
    assert raised.value.exit_code == 5
    # dbt judged the facts, then the gate stopped the build: nothing was staged.
    assert scalar(target, "select count(*) from ops.facts_triage") == len(good_facts()) + 1
    assert scalar(target, "select to_regnamespace('staging') is null") is True
    failed = query(
        target,
        "select suite, expectation, severity, unexpected_count, sample from ops.contract_results"
        " where not success",
    )
    assert failed == [
        (
            "source_inventory_levels",
            "available_is_not_negative",
            "warn",
            1,
            [{"fact_id": bad_id}],
        )
    ]
    assert scalar(
        target, "select count(*) from ops.contract_results where stage = 'source'"
    ) == len([c for s in contracts.load_suites() for c in s.checks if c.stage == "source"])


def test_a_missing_facts_table_is_an_error(target, session):
    with db.connect(target) as conn:
        conn.execute("drop table facts")

    report = contracts.run_contracts(target, "source", session=session)

    assert {o.status for o in report.outcomes} == {"error"}
    assert report.errors[0].message == "needs public.facts, which does not exist"
    assert isinstance(contracts.contract_error(report), SourceContractError)


def test_ids_are_unique_reads_the_facts_unless_a_unique_index_on_id_alone_holds(target, session):
    """ids_are_unique trusts a valid unique index on id alone (the runner's primary key) and
    groups the facts otherwise: on a table made without one, or with a unique index that also
    holds another column, a stored duplicate id fails it."""

    def outcome() -> tuple[str, int | None]:
        report = contracts.run_contracts(target, "source", session=session)
        (found,) = [o for o in report.outcomes if o.expectation == "ids_are_unique"]
        return found.status, found.unexpected_count

    with db.connect(target) as conn:
        conn.execute("drop table facts")
        conn.execute(
            "create table facts (id bigint not null, shop_domain text not null,"
            " topic text not null, value jsonb not null, created_at timestamptz not null"
            " default now())"
        )
        conn.execute(
            "insert into facts (id, shop_domain, topic, value) values"
            " (1, %(shop)s, 'app.heartbeat', '{}'), (1, %(shop)s, 'app.ping', '{}'),"
            " (2, %(shop)s, 'app.heartbeat', '{}')",
            {"shop": SHOP},
        )
    assert outcome() == ("error", 1)
    with db.connect(target) as conn:
        conn.execute("create unique index facts_id_topic on facts (id, topic)")
    assert outcome() == ("error", 1)
    with db.connect(target) as conn:
        conn.execute("delete from facts where topic = 'app.ping'")
        conn.execute("alter table facts add primary key (id)")
    assert outcome() == ("pass", 0)


def test_an_unknown_stage_is_a_usage_error(target):
    assert cli(target, "contracts", "--stage", "mart").exit_code == 2


def test_every_expectation_declares_severity_and_why():
    suites = contracts.load_suites()
    checks = [c for s in suites for c in s.checks]
    assert {s.name for s in suites if s.kind == "source"} == {
        "source_facts",
        "source_orders",
        "source_refunds",
        "source_customers",
        "source_products",
        "source_inventory_items",
        "source_inventory_levels",
        "source_chatwoot_conversations",
        "source_chatwoot_messages",
        "source_search_console_search_analytics",
        "source_ga4_landing_pages",
        "source_instagram_media",
        "source_instagram_media_insights",
    }
    assert all(c.severity in ("error", "warn") and len(c.why) > 20 for c in checks)
    # Per-fact payload checks never block on their own: they escalate above a share.
    assert all(c.severity == "warn" and c.error_above_share for c in checks if c.kind == "judged")
    # Every topic suite ends with the catch-all for verdicts its expectations do not name.
    for suite in suites:
        judged = [c for c in suite.checks if c.kind == "judged"]
        if judged:
            assert (judged[-1].name, judged[-1].quarantined) == ("no_other_verdicts", ("%",))


def test_the_topic_registry_and_the_topic_suites_agree(tmp_path):
    """var topics names each staged topic's suite and staging model: a topic without its suite,
    or a suite of a topic the registry does not list, is a configuration error; the staging
    cursor of a topic suite is its registry model."""
    project = settings.load(db.PROJECT_DIR)
    suites = contracts.load_suites(contracts.CONTRACTS_DIR, project)
    cursors = {c.topic: c.cursor for s in suites for c in s.checks if c.topic}
    assert cursors == {topic: f"staging.{spec['model']}" for topic, spec in project.topics.items()}

    copy = tmp_path / "contracts"
    shutil.copytree(contracts.CONTRACTS_DIR, copy)
    (copy / "source" / "refunds.yml").unlink()
    with pytest.raises(ConfigError, match=r"staged topic shopify\.refunds has no source contract"):
        contracts.load_suites(copy, project)

    fewer = {t: spec for t, spec in project.topics.items() if t != "shopify.customers"}
    without = settings.Settings(project.project_dir, {**project.vars, "topics": fewer})
    with pytest.raises(ConfigError, match=r"customers\.yml is of topic .shopify\.customers."):
        contracts.load_suites(contracts.CONTRACTS_DIR, without)


def test_every_quarantine_reason_has_its_own_expectation(target, session):
    """Each malformed payload of the staging tests is counted by a named expectation of its
    topic's suite, never by the catch-all: the suites know every rule."""
    rows = [(SHOP, topic, payload) for topic, payload, _ in MALFORMED]
    insert_facts(target, rows)

    report = contracts.run_contracts(target, "source", session=session)

    counted = {
        (o.suite, o.expectation): o.unexpected_count
        for o in report.outcomes
        if o.unexpected_count and o.relation == contracts.TRIAGE
    }
    assert not [key for key in counted if key[1] == "no_other_verdicts"]
    judged = [o for o in report.outcomes if o.relation == contracts.TRIAGE and o.checked]
    assert sum(counted.get((o.suite, o.expectation), 0) for o in judged) == len(MALFORMED)
    assert counted[("source_orders", "payload_is_an_object_with_an_integer_id")] == 2
    assert counted[("source_orders", "required_keys_are_present")] == 1  # total_price
    # 'yesterday', 4 days the calendar lacks (one in Shopify's shape), an offset beyond 15:59
    assert counted[("source_orders", "timestamps_parse")] == 6
    assert counted[("source_inventory_levels", "available_is_not_negative")] == 1


def test_a_blank_shop_among_new_facts_stops_the_build_before_dbt(target):
    """The facts table's checks run in the contract worker while dbt loads the project, and the
    facts contracts step reports them: a failure still stops the build before the judge. The
    payload checks run there as soon as the judge has written its verdicts."""
    insert_facts(target, good_facts())
    first = pipeline.build(target, pipeline.BuildOptions(select=("staging",)))
    facts_checks = sum(c.part == "facts" for s in contracts.load_suites() for c in s.checks)
    payload_checks = sum(c.part == "payload" for s in contracts.load_suites() for c in s.checks)
    assert first.contracts[0].validated_ahead == facts_checks
    assert first.steps[1].name == "facts contracts"
    assert first.steps[1].summary == (
        f"{facts_checks} passed, 0 warned, 0 skipped; {facts_checks} while dbt loaded the project"
    )
    assert first.steps[4].name == "payload contracts"
    assert first.steps[4].summary.endswith(f"; {payload_checks} while dbt judged the facts")
    judged = scalar(target, "select count(*) from ops.facts_triage")
    (bad_id,) = insert_facts(target, [(" ", "shopify.orders", order(1004))])

    with pytest.raises(SourceContractError) as raised:
        pipeline.build(target, pipeline.BuildOptions(select=("staging",)))

    assert raised.value.message.startswith(
        "error-level source contract failed: source_facts / shop_domain_is_present: 1 bad row"
    )
    assert raised.value.message.endswith(f"sample: fact ids {bad_id}")
    # Stopped before dbt ran: the new fact was not even judged.
    assert scalar(target, "select count(*) from ops.facts_triage") == judged
    steps = query(target, "select steps from ops.build_runs order by started_at desc limit 1")[0][0]
    assert [(s["name"], s["status"]) for s in steps] == [
        ("load project", "success"),
        ("facts contracts", "failed"),
    ]


def test_an_incremental_gate_reads_only_facts_not_yet_judged(target, session):
    (old_bad,) = insert_facts(target, [(" ", "shopify.orders", order(1004))])
    insert_facts(target, good_facts())
    contracts.judge_facts(target)  # the blank-shop fact was judged by an earlier build

    new_only = contracts.run_contracts(target, "source", session=session, new_facts_only=True)
    every = contracts.run_contracts(target, "source", session=session)

    # The judge quarantined the blank-shop fact (it ran without the facts contracts): the new
    # facts pass, and the payload checks count its verdict among those not staged yet.
    assert not_passed(new_only) == {"source_orders/shop_domain_is_present": "warn"}
    assert [f"{o.suite}/{o.expectation}" for o in every.errors] == [
        "source_facts/shop_domain_is_present"
    ]
    assert every.errors[0].sample == [{"fact_id": old_bad, "topic": "shopify.orders"}]
    # A broken facts table is not judged: the payload checks wait for it.
    payload = [o for o in every.outcomes if o.relation == contracts.TRIAGE]
    assert payload and {o.status for o in payload} == {"skipped"}
    assert payload[0].message == "not run: the facts table failed an error-level check"


def test_each_facts_row_check_counts_and_samples_its_own_rows(target, session):
    """The facts table's row checks (fails_when) each report the facts that fail them, with the
    columns they show; a fact stored up to future_tolerance (1 hour) ahead passes, one a minute
    beyond it warns."""
    insert_facts(target, good_facts())
    (blank_shop,) = insert_facts(target, [(" ", "shopify.orders", order(1004))])
    (blank_topic,) = insert_facts(target, [(SHOP, "  ", {"id": 5})])
    (later,) = insert_facts(target, [(SHOP, "shopify.orders", order(1005))])
    (too_late,) = insert_facts(target, [(SHOP, "shopify.orders", order(1006))])
    with db.connect(target) as conn:
        conn.execute(
            "update facts set created_at = now() + case id when %s then interval '59 minutes'"
            " else interval '61 minutes' end where id in (%s, %s)",
            (later, later, too_late),
        )
        (stored,) = conn.execute(
            "select to_jsonb(created_at) #>> '{}' from facts where id = %s", (too_late,)
        ).fetchone()

    report = contracts.run_contracts(target, "source", part="facts", session=session)

    outcomes = {o.expectation: o for o in report.outcomes if o.suite == "source_facts"}
    found = {
        name: (o.status, o.unexpected_count, o.sample)
        for name, o in outcomes.items()
        if name in ("shop_domain_is_present", "topic_is_present", "created_at_is_not_in_the_future")
    }
    assert found == {
        "shop_domain_is_present": (
            "error",
            1,
            [{"fact_id": blank_shop, "topic": "shopify.orders"}],
        ),
        "topic_is_present": ("error", 1, [{"fact_id": blank_topic, "shop_domain": SHOP}]),
        "created_at_is_not_in_the_future": (
            "warn",
            1,
            [
                {
                    "fact_id": too_late,
                    "shop_domain": SHOP,
                    "topic": "shopify.orders",
                    "created_at": stored,
                }
            ],
        ),
    }


def test_row_checks_of_a_relation_are_one_query(target):
    """rows_query gives every row check of a relation its count and sample from one statement:
    the facts are read once for the three checks of the facts table."""
    from runner.contracts.gx import rows_query

    insert_facts(target, good_facts())
    bad = insert_facts(target, [(" ", "shopify.orders", order(1004 + i)) for i in range(3)])
    (facts_suite,) = [s for s in contracts.load_suites() if s.name == "source_facts"]
    rows = [c for c in facts_suite.checks if c.kind == "row"]

    sql = rows_query(rows).replace("{batch}", "public.facts")

    assert [c.name for c in rows] == [
        "shop_domain_is_present",
        "topic_is_present",
        "created_at_is_not_in_the_future",
    ]
    assert sorted(query(target, sql), key=lambda row: row[1]["fact_id"]) == [
        ("shop_domain_is_present", {"fact_id": fact_id, "topic": "shopify.orders"}, 3)
        for fact_id in bad
    ]


def test_row_checks_read_no_sample_column_when_no_row_fails(target):
    """When no row fails, rows_query stops at its EXISTS, which reads only the columns the
    conditions name (an index on the facts holds them): the scan that reads each failing row's
    sample columns (the fact's id) never runs. With one failing fact it runs and finds it."""
    from runner.contracts.gx import rows_query

    insert_facts(target, good_facts())
    (facts_suite,) = [s for s in contracts.load_suites() if s.name == "source_facts"]
    rows = [c for c in facts_suite.checks if c.kind == "row"]
    sql = rows_query(rows).replace("{batch}", "public.facts")

    def sample_scans() -> list[int]:
        (plan,) = scalar(target, "explain (analyze, format json) " + sql)
        found: list[int] = []

        def walk(node: dict) -> None:
            if node.get("Relation Name") == "facts" and node.get("Alias") != "any_failing":
                found.append(node["Actual Loops"])
            for child in node.get("Plans", []):
                walk(child)

        walk(plan["Plan"])
        return found

    assert sample_scans() == [0]
    (bad,) = insert_facts(target, [(" ", "shopify.orders", order(1004))])
    assert sample_scans() == [1]
    assert query(target, sql) == [
        ("shop_domain_is_present", {"fact_id": bad, "topic": "shopify.orders"}, 1)
    ]


def test_a_row_check_needs_its_sample_columns_and_one_form(tmp_path):
    project = settings.load(db.PROJECT_DIR)
    copy = tmp_path / "contracts"
    shutil.copytree(contracts.CONTRACTS_DIR, copy)
    path = copy / "source" / "facts.yml"
    doc = yaml.safe_load(path.read_text())
    row = next(e for e in doc["expectations"] if e["name"] == "topic_is_present")

    del row["columns"]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"topic_is_present: `fails_when` needs `columns`"):
        contracts.load_suites(copy, project)

    row["columns"] = {"fact_id": "id"}
    row["unexpected_rows"] = "select id from {batch} where {new_facts}"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"give one of unexpected_rows, fails_when, not several"):
        contracts.load_suites(copy, project)

    del row["unexpected_rows"]
    row["fails_when"] = "{new_facts} and btrim(topic) = ''"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"topic_is_present: `fails_when` is a condition on one"):
        contracts.load_suites(copy, project)


def test_a_build_goes_on_when_its_contract_worker_dies(built):
    worker = contracts.ContractWorker(built)
    try:
        (pid,) = list(worker._pool._processes)  # the process the worker spawned
        os.kill(pid, signal.SIGKILL)
        report = worker.run(built, "marts", None, str(uuid.uuid4()), True)
        worker.publish(report)
    finally:
        worker.close()

    # The checks ran in this process instead, and their results were published.
    assert report.stage == "marts" and report.ok
    assert {o.status for o in report.outcomes} == {"pass"}
    assert report.data_docs is not None and report.data_docs.is_file()


def test_the_contract_workers_collections_leave_great_expectations_alone(built):
    """The worker keeps Great Expectations loaded until it ends: once imported, what it loaded
    is frozen (gc.freeze), so a collection traverses only what the session and the checks make
    since, where the first collections after the import walked all of GX (0.31-0.37 s of the
    warm-up, 0.08 s frozen). The worker still works frozen: a stage's checks run and pass."""
    worker = contracts.ContractWorker(built)
    try:
        assert worker.groups("source")  # the warm-up is done
        frozen = worker._pool.submit(gc.get_freeze_count).result()
        report = worker.run(built, "marts", None, str(uuid.uuid4()), True)
    finally:
        worker.close()
    assert frozen > 100_000, frozen  # GX and what it imports: some 220,000 objects
    assert report.ok and {o.status for o in report.outcomes} == {"pass"}
    assert gc.get_freeze_count() == 0  # this process froze nothing


@pytest.mark.parametrize(("how", "available"), [("file", True), ("stdin", False)])
def test_no_worker_where_the_main_module_cannot_be_imported_again(tmp_path, how, available):
    code = "from runner.contracts import ContractWorker; print(ContractWorker.available())"
    script = tmp_path / "main.py"
    script.write_text(code)
    command = [sys.executable, str(script)] if how == "file" else [sys.executable, "-"]
    done = subprocess.run(
        command, input=code, capture_output=True, text=True, cwd=PROJECT_DIR, check=True
    )
    assert done.stdout.strip() == str(available)


def test_great_expectations_loads_scipy_stats_and_altair_only_when_something_reads_them():
    """GX imports scipy.stats and altair for its expectations of distributions, which no
    contract runs: import_gx defers them (0.7 s of every build's contract steps), and each still
    loads and works the first time something reads it (the briefing's charts read altair)."""
    code = (
        "import sys\n"
        "from runner.contracts.gx import import_gx\n"
        "gx = import_gx()\n"
        "print(type(sys.modules['scipy.stats']).__name__)\n"
        "print(type(sys.modules['altair']).__name__)\n"
        "from scipy import stats\n"
        "print(round(float(stats.entropy([0.5, 0.5])), 4))\n"
        "print(type(sys.modules['scipy.stats']).__name__)\n"
        "import altair as alt\n"
        "print(alt.Chart({'values': [{'x': 1}]}).mark_bar().encode(x='x:Q').to_dict()['mark'])\n"
        "print(type(sys.modules['altair']).__name__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == [
        "_DeferredModule",
        "_DeferredModule",
        "0.6931",
        "module",
        "{'type':",
        "'bar'}",
        "module",
    ]
