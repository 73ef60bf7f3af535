"""`hotdash backfill`: a Shopify GraphQL bulk file stages like the REST/webhook facts it joins."""

from __future__ import annotations

import copy
import datetime
import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from runner import db
from runner.backfill import backfill_file
from runner.errors import LoadError
from tests.pytest.helpers import (
    FIXTURES_DIR,
    PROJECT_DIR,
    assert_facts_vacuumed,
    insert_facts,
    query,
    run_dbt,
    scalar,
)

BULK = PROJECT_DIR / "tests" / "fixtures" / "shopify-graphql" / "bulk_orders.jsonl"
SHOP = "gql.myshopify.com"
REST_SHOP = "rest.myshopify.com"
TWIN = 450789469
MODELS = (
    "+stg_shopify__orders",
    "stg_shopify__order_line_items",
    "+stg_shopify__refunds",
    "stg_shopify__refund_line_items",
)


def rest(name: str) -> dict:
    return json.loads((FIXTURES_DIR / f"{name}.json").read_text())[name]


def backfill(target: db.Target, path: Path = BULK, **kwargs):
    with db.connect(target) as conn:
        return backfill_file(conn, path, shop=kwargs.pop("shop", SHOP), **kwargs)


def build(target: db.Target) -> None:
    run_dbt(target, "build", "--select", *MODELS, "--exclude", "test_type:data")


def fact_count(target: db.Target) -> int:
    return scalar(target, "select count(*) from facts")


def test_backfill_stores_one_rest_shaped_fact_per_order_and_refund(target):
    result = backfill(target)
    assert (result.lines, result.facts, result.skipped) == (10, 6, 0)
    assert result.by_topic == {"shopify.orders": 4, "shopify.refunds": 2}
    (order,) = query(
        target,
        "select value from facts where topic = 'shopify.orders' and value->>'id' = %s",
        (str(TWIN),),
    )[0]
    assert order["hotdash_source"] == "graphql_bulk"
    assert order["total_price"] == "409.94"  # shopMoney, not the CAD presentment amount
    # Children joined wherever they are in the file (lines 2, 5 and 10), in file order.
    assert [item["id"] for item in order["line_items"]] == [466157049, 518995019, 703073504]
    # The sum of the line items' shop-money unit price x quantity (3 x 199.00).
    assert Decimal(order["total_line_items_price"]) == Decimal("597.00")


def test_rest_order_and_its_graphql_twin_stage_to_the_same_rows(target):
    """Shopify's REST fixture order (and refund) under one shop, its GraphQL bulk twin under
    another: staging makes the same rows, to the cent."""
    insert_facts(
        target,
        [
            (REST_SHOP, "shopify.orders", rest("order")),
            (REST_SHOP, "shopify.refunds", rest("refund")),
        ],
    )
    backfill(target)
    build(target)

    def rows(sql: str) -> dict[str, list[tuple]]:
        found = query(target, sql)
        return {shop: [row[1:] for row in found if row[0] == shop] for shop in (REST_SHOP, SHOP)}

    orders = rows(
        "select shop_domain, order_id, order_name, order_number, customer_id, email, created_at,"
        " processed_at, updated_at, cancelled_at, cancel_reason, is_cancelled, is_test,"
        " financial_status, fulfillment_status, currency, total_line_items_price,"
        " subtotal_price, total_discounts, total_tax, total_price, discount_codes, source_name,"
        f" line_item_count from staging.stg_shopify__orders where order_id = {TWIN}"
    )
    assert len(orders[SHOP]) == 1
    # One column apart: a backfill sums the line items (3 x 199.00 = 597.00) for
    # total_line_items_price; Shopify's REST fixture says 398.00, which its own line items
    # do not add up to.
    column = 15  # total_line_items_price
    assert orders[SHOP][0][column] == Decimal("597.00")
    assert orders[REST_SHOP][0][column] == Decimal("398.00")
    assert [v for i, v in enumerate(orders[SHOP][0]) if i != column] == [
        v for i, v in enumerate(orders[REST_SHOP][0]) if i != column
    ]
    assert orders[SHOP][0][-4] == Decimal("409.94")
    items = rows(
        "select shop_domain, position, line_item_id, product_id, variant_id, sku, title,"
        " variant_title, quantity, price, total_discount, gross_amount"
        f" from staging.stg_shopify__order_line_items where order_id = {TWIN} order by position"
    )
    assert len(items[SHOP]) == 3
    assert items[SHOP] == items[REST_SHOP]
    refunds = rows(
        "select shop_domain, refund_id, order_id, created_at, note, refund_amount,"
        " refund_line_item_count from staging.stg_shopify__refunds"
        f" where order_id = {TWIN}"
    )
    assert (
        refunds[SHOP]
        == refunds[REST_SHOP]
        == [
            (509562969, TWIN, refunds[SHOP][0][2], "it broke during shipping", Decimal("209.00"), 2)
        ]
    )
    refund_items = rows(
        "select shop_domain, refund_line_item_id, line_item_id, variant_id, product_id, quantity,"
        " subtotal from staging.stg_shopify__refund_line_items"
        f" where order_id = {TWIN} order by position"
    )
    assert len(refund_items[SHOP]) == 2
    assert refund_items[SHOP] == refund_items[REST_SHOP]
    # The real order #1279 (partially refunded) and its real refund.
    assert query(
        target,
        "select order_name, financial_status, fulfillment_status, total_price, line_item_count,"
        " customer_id from staging.stg_shopify__orders where order_id = 7092373586140",
    ) == [("#1279", "partially_refunded", None, Decimal("28.39"), 1, None)]
    assert query(
        target,
        "select order_id, refund_amount, refund_line_item_count from staging.stg_shopify__refunds"
        " where refund_id = 974227767516",
    ) == [(7092373586140, Decimal("1.0"), 0)]


def test_a_later_webhook_wins_over_a_backfill_and_an_older_one_does_not(target):
    backfill(target)
    newer = copy.deepcopy(rest("order"))
    newer.update(updated_at="2009-01-10T11:00:00-05:00", total_price="400.00")
    older = copy.deepcopy(rest("order"))  # a webhook of order #1279, older than the backfill
    older.update(id=7092373586140, updated_at="2026-07-01T00:00:00Z", total_price="1.00")
    insert_facts(target, [(SHOP, "shopify.orders", newer), (SHOP, "shopify.orders", older)])
    build(target)
    assert query(
        target,
        "select order_id, total_price from staging.stg_shopify__orders"
        " where order_id in (450789469, 7092373586140) order by order_id",
    ) == [(TWIN, Decimal("400.00")), (7092373586140, Decimal("28.39"))]


def test_a_rerun_adds_nothing(target):
    backfill(target)
    again = backfill(target)
    assert (again.facts, again.skipped) == (0, 6)
    assert fact_count(target) == 6


def test_a_gzipped_file_backfills(target, tmp_path):
    gz = tmp_path / "bulk.jsonl.gz"
    with BULK.open("rb") as src, gzip.open(gz, "wb") as out:
        shutil.copyfileobj(src, out)
    assert backfill(target, gz, object_name="orders").facts == 6


def _broken(tmp_path: Path, lineno: int, text: str) -> Path:
    lines = BULK.read_text().splitlines()
    lines[lineno - 1] = text
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("lineno", "text", "problem"),
    [
        (5, '{"id": "gid://shopify/LineItem/1", oops', "not JSON"),
        (
            5,
            '{"id":"gid://shopify/LineItem/1","quantity":1,"__parentId":"gid://shopify/Order/450789469",'
            '"originalUnitPriceSet":{"shopMoney":{"amount":"abc"}}}',
            "is not a number",
        ),
        (
            10,
            '{"id":"gid://shopify/LineItem/1","quantity":1,"__parentId":"gid://shopify/Order/99",'
            '"originalUnitPriceSet":{"shopMoney":{"amount":"1.0"}}}',
            "is not an order of this file",
        ),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_stored(target, tmp_path, lineno, text, problem):
    with pytest.raises(LoadError) as caught:
        backfill(target, _broken(tmp_path, lineno, text))
    assert f"line {lineno}:" in str(caught.value)
    assert problem in str(caught.value)
    assert "nothing was loaded" in str(caught.value)
    assert fact_count(target) == 0
    # The keys table was made in the same transaction: it is gone too.
    assert scalar(target, "select to_regclass('facts_backfill_keys')") is None
    # The file, fixed, then loads whole.
    assert backfill(target).facts == 6


def test_the_object_is_detected_and_checked(target, tmp_path):
    with pytest.raises(LoadError, match="holds orders"):
        backfill(target, object_name="products")
    locations = tmp_path / "locations.jsonl"
    locations.write_text('{"id":"gid://shopify/Location/1"}\n')
    with pytest.raises(LoadError, match="line 1: a top-level Location is not a backfill object"):
        backfill(target, locations)
    # Shopify's own bulk example selects no updatedAt, which orders the versions.
    example = BULK.with_name("bulk_products_variants.jsonl")
    with pytest.raises(LoadError, match=r"line 1: Product .* has no updatedAt"):
        backfill(target, example)
    assert fact_count(target) == 0


def test_an_order_without_updated_at_is_refused(target, tmp_path):
    first = json.loads(BULK.read_text().splitlines()[0])
    del first["updatedAt"]
    with pytest.raises(
        LoadError, match=r"line 1: Order gid://shopify/Order/450789469 has no updatedAt"
    ):
        backfill(target, _broken(tmp_path, 1, json.dumps(first)))


def test_the_demo_bulk_file_backfills_and_stages(target, tmp_path):
    from hotdash_demo.bulk import write_bulk_orders

    path = tmp_path / "demo.jsonl.gz"
    lines = write_bulk_orders(
        path, 2_000, seed=7, anchor=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    )
    assert lines == 2_000
    reports = []
    result = backfill(target, path, progress=reports.append)
    assert result.lines == 2_000 and reports[-1].done
    build(target)
    orders = scalar(target, "select count(*) from staging.stg_shopify__orders")
    assert orders == result.by_topic["shopify.orders"]
    assert scalar(target, "select count(*) from ops.facts_triage where reason is not null") == 0


def test_the_cli_backfills_and_exits_with_the_load_code_on_a_bad_line(target, tmp_path):
    from tests.pytest.test_cli import hotdash

    bad = _broken(tmp_path, 2, "not json")
    result = hotdash(target, "backfill", str(bad), "--shop", SHOP)
    assert result.returncode == 4
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines()[0].startswith("error: broken.jsonl line 2: not JSON")
    ok = hotdash(target, "backfill", str(BULK), "--shop", SHOP, "--object", "orders")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("backfilled 6 facts (orders) from 10 lines of ")
    assert ok.stdout.rstrip().endswith(": shopify.orders 4, shopify.refunds 2")
    assert "bulk_orders.jsonl: 10 lines (" in ok.stderr  # the progress, in lines read
    again = hotdash(target, "backfill", str(BULK), "--shop", SHOP)
    assert again.returncode == 0, again.stderr
    assert "backfilled 0 facts" in again.stdout and "6 already stored" in again.stdout
    usage = hotdash(target, "backfill", str(BULK), "--object", "widgets")
    assert usage.returncode == 2


CUSTOMERS = BULK.with_name("bulk_customers.jsonl")


def test_rest_customer_and_its_graphql_twin_stage_to_the_same_row(target):
    insert_facts(target, [(REST_SHOP, "shopify.customers", rest("customer"))])
    result = backfill(target, CUSTOMERS)
    assert (result.object, result.facts) == ("customers", 2)
    run_dbt(target, "build", "--select", "+stg_shopify__customers", "--exclude", "test_type:data")
    found = query(
        target,
        "select shop_domain, customer_id, email, first_name, last_name, phone, company, address1,"
        " city, province, country_code, zip, tags, marketing_consent_state, accepts_marketing,"
        " account_state, created_at, updated_at from staging.stg_shopify__customers"
        " where customer_id = 207119551 order by shop_domain",
    )
    assert [row[0] for row in found] == [SHOP, REST_SHOP]
    assert found[0][1:] == found[1][1:]
    # The real customer: tags split, consent lower-cased.
    assert query(
        target,
        "select tags, marketing_consent_state from staging.stg_shopify__customers"
        " where customer_id = 9273624461532",
    ) == [
        (["active subscriber", "active_subscriber_autumn field - black / medium"], "not_subscribed")
    ]


def test_a_file_mixing_top_level_objects_is_refused(target, tmp_path):
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(CUSTOMERS.read_text() + BULK.read_text().splitlines()[0] + "\n")
    with pytest.raises(LoadError, match="line 3: is a top-level Order, in a file of customers"):
        backfill(target, mixed)
    assert fact_count(target) == 0


def test_rest_product_and_its_graphql_twin_stage_to_the_same_rows(target):
    insert_facts(target, [(REST_SHOP, "shopify.products", rest("product"))])
    result = backfill(target, BULK.with_name("bulk_products.jsonl"))
    assert (result.object, result.by_topic) == ("products", {"shopify.products": 2})
    run_dbt(
        target,
        "build",
        "--select",
        "+stg_shopify__products",
        "stg_shopify__product_variants",
        "--exclude",
        "test_type:data",
    )
    products = query(
        target,
        "select shop_domain, product_id, title, handle, product_type, vendor, tags, published_at,"
        " created_at, updated_at from staging.stg_shopify__products where product_id = 632910392"
        " order by shop_domain",
    )
    assert [row[0] for row in products] == [SHOP, REST_SHOP]
    assert products[0][1:] == products[1][1:]
    variants = query(
        target,
        "select shop_domain, product_id, variant_id, position, sku, title, price,"
        " compare_at_price, inventory_item_id, inventory_quantity, created_at, updated_at"
        " from staging.stg_shopify__product_variants where product_id = 632910392"
        " order by shop_domain, position",
    )
    assert len(variants) == 8
    assert [row[1:] for row in variants[:4]] == [row[1:] for row in variants[4:]]
    # The variant of the other product, between the twin's variants in the file, is its own.
    assert query(
        target,
        "select product_id, price from staging.stg_shopify__product_variants"
        " where variant_id = 19435458986040",
    ) == [(1921569226808, Decimal("70.0"))]


def test_rest_inventory_and_its_graphql_twin_stage_to_the_same_rows(target):
    insert_facts(
        target,
        [
            (REST_SHOP, "shopify.inventory_items", rest("inventory_item")),
            (REST_SHOP, "shopify.inventory_levels", rest("inventory_level")),
        ],
    )
    inventory = BULK.with_name("bulk_inventory.jsonl")
    result = backfill(target, inventory)
    assert (result.object, result.by_topic) == (
        "inventory",
        {"shopify.inventory_items": 2, "shopify.inventory_levels": 2},
    )
    assert backfill(target, inventory).facts == 0  # levels are keyed by item and location
    run_dbt(
        target,
        "build",
        "--select",
        "+stg_shopify__inventory_items",
        "+stg_shopify__inventory_levels",
        "--exclude",
        "test_type:data",
    )
    items = query(
        target,
        "select shop_domain, inventory_item_id, sku, cost, is_tracked, created_at, updated_at"
        " from staging.stg_shopify__inventory_items where inventory_item_id = 808950810"
        " order by shop_domain",
    )
    assert [row[0] for row in items] == [SHOP, REST_SHOP]
    assert items[0][1:] == items[1][1:]
    levels = query(
        target,
        "select shop_domain, inventory_item_id, location_id, available, updated_at"
        " from staging.stg_shopify__inventory_levels order by shop_domain, inventory_item_id",
    )
    assert [row[1:4] for row in levels] == [
        (808950810, 905684977, 6),
        (51259260338522, 905684977, 50),
        (808950810, 905684977, 6),
    ]
    assert levels[0][1:] == levels[2][1:]
    assert scalar(
        target,
        "select cost from staging.stg_shopify__inventory_items"
        " where inventory_item_id = 51259260338522",
    ) == Decimal("12.5")


@pytest.mark.parametrize("first_ever", [True, False])
def test_two_backfills_of_one_file_at_once_store_each_fact_once(target, first_ever):
    """At once, whether the keys' table is yet to be made (the first backfill of a database)
    or not: each fact is stored once, and neither backfill fails."""
    import threading

    if not first_ever:
        assert backfill(target, CUSTOMERS).facts == 2

    results, errors = [], []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with db.connect(target) as conn:
                barrier.wait()
                results.append(backfill_file(conn, BULK, shop=SHOP))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(r.facts for r in results) == [0, 6]
    assert fact_count(target) == 6 + (0 if first_ever else 2)


@pytest.mark.parametrize("customers", [9_999, 10_000])
def test_a_backfill_of_many_facts_vacuums_and_analyzes_the_facts_table(target, tmp_path, customers):
    """As `hotdash load` and `hotdash demo` do (runner.facts.VACUUM_AFTER_FACTS), so the build
    right after it reads fact ids from the primary key alone."""
    from runner.facts import VACUUM_AFTER_FACTS
    from tests.pytest.test_cli import hotdash

    assert VACUUM_AFTER_FACTS == 10_000
    first = json.loads(CUSTOMERS.read_text().splitlines()[0])
    path = tmp_path / "customers.jsonl"
    path.write_text(
        "".join(
            json.dumps({**first, "id": f"gid://shopify/Customer/{n}"}) + "\n"
            for n in range(1, customers + 1)
        )
    )
    result = hotdash(target, "backfill", str(path), "--shop", SHOP)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"backfilled {customers:,} facts (customers)")
    assert_facts_vacuumed(target, result.stdout, customers >= VACUUM_AFTER_FACTS)
