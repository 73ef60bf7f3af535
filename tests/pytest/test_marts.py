"""The marts on a small hand-made store, every figure worked out by hand below.

The store, as of 2025-03-10 (var as_of_date), with a yearly goal of 5,000 (var revenue_goal):

catalog                        price    cost     on hand   category
  2001 crate engine            5000.00  3500.00  2 + 1     Engine & Drivetrain
  2002 coilover kit             800.00   500.00  4         Suspension & Steering
  2003 garage poster (no type)   20.00   unknown 50        Other
  2004 valve covers (unmapped)  150.00    60.00  25        Other

orders (UTC dates)                                     gross     discounts
  O1 C1 pro shop 2024-11-20  2 x 2001                  10000.00  500.00
       refund 2024-12-05: 1 x 2001, subtotal 5000.00 (transaction 5300.00 with tax)
  O2 C1          2024-11-25  2 x 2002                   1600.00
  O3 C2          2024-12-20  1 x 2002                    800.00
  O4 C2          2025-01-24  1 x 2002 + 5 x 2003         900.00
  O5 C3          2025-03-01  3 x 2003                     60.00
  O6 C4          2025-03-10  2 x 2003 (the as-of day)     40.00    4.00
  O7 C2          2025-03-05  10 x 2002, then cancelled: nothing
  O8 C3          2025-03-02  1 x 2001, test order: nothing
  O9 guest       2025-02-14  10 x 2003                   200.00
       refund 2025-03-03: amount only, 50.00
  O10 C2         2025-03-11  after the as-of date: not yet

A second shop, guests.myshopify.com, same catalog: guest checkouts that share an address.

customers (all consent to email marketing but 604)   orders, each a first and only one
  601 "Sam@Example.com"                            O601 2025-03-08  1 x 2002   800.00
  602 " sam@example.COM " (staged trimmed)         O602 2025-03-05  2 x 2003    40.00
  603 "   " (staged as no email)                   O603 2025-03-06  1 x 2003    20.00
  604 "SAM@example.com", no consent                O604 2025-03-09  1 x 2003    20.00
"""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from decimal import Decimal as D

import pytest

from tests.pytest.helpers import FIXTURES_DIR, insert_facts, query, run_dbt, scalar

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("marts")

SHOP = "hotrod.myshopify.com"
GUESTS = "guests.myshopify.com"
AS_OF = "2025-03-10"
MARTS = [
    "growth_metrics",
    "product_categories",
    "customer_segments",
    "customer_segment_summary",
    "marketing_targets",
    "inventory_alerts",
]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES_DIR / f"{name}.json").read_text())[name]


PRODUCTS = {  # product id: (title, product_type, variant id, price, inventory item id)
    1001: ("Small Block Crate Engine", "Crate Engines", 2001, "5000.00", 3001),
    1002: ("Coilover Kit", "Coilovers", 2002, "800.00", 3002),
    1003: ("Garage Poster", "", 2003, "20.00", 3003),
    1004: ("Chrome Valve Covers", "Valve Covers", 2004, "150.00", 3004),
}
VARIANT_PRODUCT = {variant: product for product, (_, _, variant, _, _) in PRODUCTS.items()}
VARIANT_PRICE = {variant: price for _, (_, _, variant, price, _) in PRODUCTS.items()}


def product(product_id: int) -> dict:
    title, product_type, variant_id, price, item_id = PRODUCTS[product_id]
    payload = copy.deepcopy(fixture("product"))
    variant = copy.deepcopy(payload["variants"][0])
    variant.update(
        id=variant_id,
        product_id=product_id,
        price=price,
        inventory_item_id=item_id,
        sku=f"SKU-{variant_id}",
        title="Default",
    )
    payload.update(
        id=product_id,
        title=title,
        product_type=product_type,
        variants=[variant],
        updated_at="2024-10-01T12:00:00Z",
    )
    return payload


def inventory_item(item_id: int, cost: str | None) -> dict:
    payload = copy.deepcopy(fixture("inventory_item"))
    payload.update(id=item_id, sku=f"SKU-{item_id - 1000}", updated_at="2024-10-01T12:00:00Z")
    if cost is not None:
        payload["cost"] = cost
    return payload


def inventory_level(item_id: int, location_id: int, available: int) -> dict:
    payload = copy.deepcopy(fixture("inventory_level"))
    payload.update(
        inventory_item_id=item_id,
        location_id=location_id,
        available=available,
        updated_at="2025-03-01T12:00:00Z",
    )
    return payload


def customer(
    customer_id: int,
    consent: bool,
    company: str | None = None,
    tags: str = "",
    email: str | None = None,
) -> dict:
    payload = copy.deepcopy(fixture("customer"))
    payload["default_address"].update(company=company)
    payload.update(
        id=customer_id,
        email=f"c{customer_id}@example.com" if email is None else email,
        first_name=f"C{customer_id}",
        tags=tags,
        accepts_marketing=consent,
        updated_at="2024-10-01T12:00:00Z",
        email_marketing_consent={"state": "subscribed" if consent else "not_subscribed"},
    )
    return payload


def order(
    order_id: int,
    customer_id: int | None,
    day: str,
    lines: list[tuple[int, int]],
    discounts: str = "0.00",
    **changes,
) -> dict:
    payload = copy.deepcopy(fixture("order"))
    template = payload["line_items"][0]
    line_items = []
    for n, (variant_id, quantity) in enumerate(lines, start=1):
        item = copy.deepcopy(template)
        item.update(
            id=order_id * 10 + n,
            variant_id=variant_id,
            quantity=quantity,
            product_id=VARIANT_PRODUCT[variant_id],
            price=VARIANT_PRICE[variant_id],
            sku=f"SKU-{variant_id}",
            total_discount="0.00",
        )
        line_items.append(item)
    gross = sum(D(VARIANT_PRICE[v]) * q for v, q in lines)
    buyer = copy.deepcopy(payload["customer"]) if customer_id else None
    if buyer:
        buyer["id"] = customer_id
    payload.update(
        id=order_id,
        name=f"#{order_id}",
        created_at=f"{day}T12:00:00-05:00",
        updated_at=f"{day}T12:30:00-05:00",
        processed_at=f"{day}T12:00:00-05:00",
        cancelled_at=None,
        test=False,
        customer=buyer,
        line_items=line_items,
        total_line_items_price=str(gross),
        subtotal_price=str(gross - D(discounts)),
        total_discounts=discounts,
        total_tax="0.00",
        total_price=str(gross - D(discounts)),
        discount_codes=[],
    )
    payload.update(changes)
    return payload


def refund(
    refund_id: int, order_id: int, day: str, amount: str, lines: list[tuple[int, int, str]] = ()
) -> dict:
    """lines: (line item id, quantity, subtotal); amount: the transaction, tax included."""
    payload = copy.deepcopy(fixture("refund"))
    template = payload["refund_line_items"][0]
    refund_lines = []
    for n, (line_item_id, quantity, subtotal) in enumerate(lines, start=1):
        item = copy.deepcopy(template)
        item.update(
            id=refund_id * 10 + n,
            line_item_id=line_item_id,
            quantity=quantity,
            subtotal=subtotal,
            total_tax="0.00",
        )
        item["line_item"]["id"] = line_item_id
        refund_lines.append(item)
    transaction = copy.deepcopy(payload["transactions"][0])
    transaction.update(order_id=order_id, amount=amount, kind="refund", status="success")
    payload.update(
        id=refund_id,
        order_id=order_id,
        created_at=f"{day}T12:00:00-05:00",
        refund_line_items=refund_lines,
        transactions=[transaction],
    )
    return payload


def store_facts() -> list[tuple[str, str, object]]:
    # fmt: off
    facts = [("shopify.products", product(p)) for p in PRODUCTS]
    facts += [
        ("shopify.inventory_items", inventory_item(3001, "3500.00")),
        ("shopify.inventory_items", inventory_item(3002, "500.00")),
        ("shopify.inventory_items", inventory_item(3003, None)),  # cost unknown
        ("shopify.inventory_items", inventory_item(3004, "60.00")),
        ("shopify.inventory_levels", inventory_level(3001, 1, 2)),
        ("shopify.inventory_levels", inventory_level(3001, 2, 1)),
        ("shopify.inventory_levels", inventory_level(3002, 1, 4)),
        ("shopify.inventory_levels", inventory_level(3003, 1, 50)),
        ("shopify.inventory_levels", inventory_level(3004, 1, 25)),
        ("shopify.customers", customer(501, True, company="Pro Speed Garage LLC")),
        ("shopify.customers", customer(502, True, tags="enthusiast, newsletter")),
        ("shopify.customers", customer(503, False)),
        ("shopify.customers", customer(504, True)),
        ("shopify.orders", order(1, 501, "2024-11-20", [(2001, 2)], discounts="500.00")),
        ("shopify.orders", order(2, 501, "2024-11-25", [(2002, 2)])),
        ("shopify.orders", order(3, 502, "2024-12-20", [(2002, 1)])),
        ("shopify.orders", order(4, 502, "2025-01-24", [(2002, 1), (2003, 5)])),
        ("shopify.orders", order(5, 503, "2025-03-01", [(2003, 3)])),
        ("shopify.orders", order(6, 504, "2025-03-10", [(2003, 2)], discounts="4.00",
                                 total_tax="2.88")),
        ("shopify.orders", order(7, 502, "2025-03-05", [(2002, 10)])),
        ("shopify.orders", order(7, 502, "2025-03-05", [(2002, 10)],
                                 cancelled_at="2025-03-06T09:00:00-05:00",
                                 updated_at="2025-03-06T09:00:00-05:00")),
        ("shopify.orders", order(8, 503, "2025-03-02", [(2001, 1)], test=True)),
        ("shopify.orders", order(9, None, "2025-02-14", [(2003, 10)])),
        ("shopify.orders", order(10, 502, "2025-03-11", [(2002, 1)])),
        ("shopify.refunds", refund(901, 1, "2024-12-05", "5300.00", [(11, 1, "5000.00")])),
        ("shopify.refunds", refund(902, 9, "2025-03-03", "50.00")),
    ]
    guests = [("shopify.products", product(p)) for p in PRODUCTS]
    guests += [
        ("shopify.customers", customer(601, True, email="Sam@Example.com")),
        ("shopify.customers", customer(602, True, email=" sam@example.COM ")),
        ("shopify.customers", customer(603, True, email="   ")),
        ("shopify.customers", customer(604, False, email="SAM@example.com")),
        ("shopify.orders", order(601, 601, "2025-03-08", [(2002, 1)])),
        ("shopify.orders", order(602, 602, "2025-03-05", [(2003, 2)])),
        ("shopify.orders", order(603, 603, "2025-03-06", [(2003, 1)])),
        ("shopify.orders", order(604, 604, "2025-03-09", [(2003, 1)])),
    ]
    # fmt: on
    return [(SHOP, topic, payload) for topic, payload in facts] + [
        (GUESTS, topic, payload) for topic, payload in guests
    ]


def store_database(hotdash_home):
    """A new database on the tests' server holding the store's facts (store_facts), stored on
    AS_OF: what the suites that build this store's marts start from."""
    from runner import db
    from runner.facts import ensure_facts_table
    from tests.pytest.helpers import PROJECT_DIR

    target = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=f"t_{uuid.uuid4().hex[:10]}")
    with db.connect(target) as conn:
        ensure_facts_table(conn)
    insert_facts(
        target, store_facts(), created_at=datetime.datetime(2025, 3, 10, tzinfo=datetime.UTC)
    )
    return target


@pytest.fixture(scope="module")
def store(hotdash_home):
    """One database, one dbt build of the marts and everything upstream, as of AS_OF."""
    from runner import db

    target = store_database(hotdash_home)
    run = run_dbt(
        target,
        "build",
        "--select",
        *(f"+{m}" for m in MARTS),
        "+facts_quarantine",
        "--vars",
        json.dumps({"as_of_date": AS_OF, "revenue_goal": 5000, "winback_offer_pct": 10}),
    )
    yield target, run
    db.drop_database(target)


def test_every_mart_builds_with_its_tests(store):
    _, run = store
    built = {n.name for n in run.nodes if n.resource_type == "model" and n.status == "success"}
    assert set(MARTS) <= built
    unit_tests = [n for n in run.nodes if n.resource_type == "unit_test"]
    assert len(unit_tests) >= 10 and all(n.status == "pass" for n in unit_tests)
    assert query(store[0], "select count(*) from ops.facts_quarantine") == [(0,)]


def test_every_table_the_build_wrote_is_analyzed_once(store):
    """Each table model is analyzed after its transaction, with the rows it wrote counted first
    (macros/analyze_table.sql): none is left with changes since analyze for autovacuum to
    analyze a second time. Reads the state the build left, before the tests below write."""
    target, run = store
    models = sorted(n.name for n in run.nodes if n.resource_type == "model")
    tables = query(
        target,
        "select relname, analyze_count, n_mod_since_analyze from pg_stat_user_tables"
        " where relname = any(%s) order by relname",
        (models,),
    )
    assert {"customer_segments", "int_shopify__customer_history", "stg_shopify__orders"} <= {
        name for name, _, _ in tables
    }
    assert [t for t in tables if t[1:] != (1, 0)] == []


def test_monthly_variant_sales_are_a_view_computed_when_read(store):
    """int_shopify__variant_sales_monthly, which no model reads, is a view: no build writes it,
    and a read gets one row per shop, variant and month, its units net of refunded units."""
    target, _ = store
    run = run_dbt(target, "run", "--select", "int_shopify__variant_sales_monthly")
    assert [(n.name, n.status) for n in run.nodes if n.resource_type == "model"] == [
        ("int_shopify__variant_sales_monthly", "success")
    ]
    relation = "intermediate.int_shopify__variant_sales_monthly"
    assert (
        scalar(target, "select relkind from pg_class where oid = %s::regclass", (relation,)) == "v"
    )
    rows = query(
        target,
        "select variant_id, sales_month::text, units_sold, orders"
        " from intermediate.int_shopify__variant_sales_monthly"
        " where shop_domain = %s and variant_id = 2003 order by sales_month",
        (SHOP,),
    )
    # variant 2003: O4 (5 units, January), O5 (3) and O6 (2) in March; O9, a guest order, 10
    assert rows == [
        (2003, "2025-01-01", D("5"), 1),
        (2003, "2025-02-01", D("10"), 1),
        (2003, "2025-03-01", D("5"), 2),
    ]


def test_growth_metrics(store):
    target, _ = store
    rows = query(
        target,
        "select month::text, gross_sales, discounts, refunds, net_revenue, orders, customers,"
        " new_customers, average_order_value, cumulative_net_revenue, remaining_to_goal,"
        " pct_of_goal, days_elapsed, days_in_month, projected_net_revenue,"
        " run_rate_net_revenue_per_day, projected_goal_date::text, is_current_month"
        " from marts.growth_metrics where shop_domain = %s order by month",
        (SHOP,),
    )
    # fmt: off
    assert rows == [
        # November: O1 + O2; the goal of 5,000 is passed on O1's day and stays reached all year.
        ("2024-11-01", D("11600.00"), D("500.00"), D("0"), D("11100.00"), 2, 1, 1, D("5550.00"),
         D("11100.00"), D("0"), D("222.00"), 30, 30, D("11100.00"), None, "2024-11-20", False),
        # December: O3; O1's refund counts in the month it was made, without its tax.
        ("2024-12-01", D("800.00"), D("0.00"), D("5000.00"), D("-4200.00"), 1, 1, 1, D("800.00"),
         D("6900.00"), D("0"), D("138.00"), 31, 31, D("-4200.00"), None, "2024-11-20", False),
        # January: O4 (C2 is not new); the cumulative restarts with the year.
        ("2025-01-01", D("900.00"), D("0.00"), D("0"), D("900.00"), 1, 1, 0, D("900.00"),
         D("900.00"), D("4100.00"), D("18.00"), 31, 31, D("900.00"), None, None, False),
        # February: the guest order O9 counts, without a customer.
        ("2025-02-01", D("200.00"), D("0.00"), D("0"), D("200.00"), 1, 0, 0, D("200.00"),
         D("1100.00"), D("3900.00"), D("22.00"), 28, 28, D("200.00"), None, None, False),
        # March so far: O5 + O6 - O9's 50.00 refund = 46.00; O7 cancelled, O8 test, O10 later.
        # Run rate: the 90 completed days 2024-12-10 .. 2025-03-09 (the as-of day 03-10 is left
        # out, so is O6's 36.00): O3 800 + O4 900 + O9 200 + O5 60 - O9's refund 50 = 1910.00,
        # 1910 / 90 = 21.22 a day. Projection: 46.00 + 1910 x (31 - 10) / 90 = 46 + 445.666...
        # = 491.67. Goal: 3854.00 to go, 3854 x 90 / 1910 = 181.6 -> 182 days after 03-10.
        ("2025-03-01", D("100.00"), D("4.00"), D("50.00"), D("46.00"), 2, 2, 2, D("48.00"),
         D("1146.00"), D("3854.00"), D("22.92"), 10, 31, D("491.67"), D("21.22"), "2025-09-08",
         True),
    ]
    # fmt: on


def test_product_categories(store):
    target, _ = store
    rows = query(
        target,
        "select variant_id, product_id, product_type, category_l1, category_l2, price, unit_cost,"
        " margin_pct, units_sold_in_window, units_sold_per_month, inventory_velocity"
        " from marts.product_categories where shop_domain = %s order by variant_id",
        (SHOP,),
    )
    # fmt: off
    assert rows == [
        # O1 is older than 90 days and O8 is a test order: dead.
        (2001, 1001, "Crate Engines", "Engine & Drivetrain", "Engines", D("5000.00"),
         D("3500.00"), D("30.00"), 0, D("0.00"), "dead"),
        # O3 + O4 in the window (O2 before it, O7 cancelled): 2 units, 0.67 a month.
        (2002, 1002, "Coilovers", "Suspension & Steering", "Shocks & Springs", D("800.00"),
         D("500.00"), D("37.50"), 2, D("0.67"), "slow"),
        # Empty product_type -> Other; 5 + 3 + 2 + 10 = 20 units, 6.67 a month; cost unknown.
        (2003, 1003, None, "Other", "Other", D("20.00"), None, None, 20, D("6.67"), "medium"),
        # Unmapped product_type -> Other; never sold.
        (2004, 1004, "Valve Covers", "Other", "Other", D("150.00"), D("60.00"), D("60.00"), 0,
         D("0.00"), "dead"),
    ]
    # fmt: on


def test_customer_segments(store):
    target, _ = store
    rows = query(
        target,
        "select customer_id, first_order_date::text, last_order_date::text, total_orders,"
        " gross_sales, discounts, refunds, net_revenue, average_order_value,"
        " days_since_first_order, days_since_last_order, top_category_l1, primary_segment,"
        " lifecycle_stage, rfm_score"
        " from marts.customer_segments where shop_domain = %s order by customer_id",
        (SHOP,),
    )
    # fmt: off
    assert rows == [
        # A company: professional; last order 105 days ago: at risk. Engine: 10000 - 5000 refunded
        # beats 1600 of coilovers. RFM: 105 days -> 2, 2 orders -> 2, 6100 -> 5.
        (501, "2024-11-20", "2024-11-25", 2, D("11600.00"), D("500.00"), D("5000.00"),
         D("6100.00"), D("3050.00"), 110, 105, "Engine & Drivetrain", "professional_shop",
         "at_risk", "225"),
        # Two orders (the cancelled and the future one do not count) but 1,700 net: enthusiast.
        (502, "2024-12-20", "2025-01-24", 2, D("1700.00"), D("0.00"), D("0"), D("1700.00"),
         D("850.00"), 80, 45, "Suspension & Steering", "enthusiast_collector", "active", "424"),
        # One order (the test order does not count): first-time builder.
        (503, "2025-03-01", "2025-03-01", 1, D("60.00"), D("0.00"), D("0"), D("60.00"),
         D("60.00"), 9, 9, "Other", "first_time_builder", "new", "511"),
        (504, "2025-03-10", "2025-03-10", 1, D("40.00"), D("4.00"), D("0"), D("36.00"),
         D("36.00"), 0, 0, "Other", "first_time_builder", "new", "511"),
    ]
    # fmt: on


def test_customer_segment_summary_sums_the_customers_of_each_segment_and_stage(store):
    """The tile's breakdown, from the four customers above: 503 and 504 are both new first-time
    builders (60.00 + 36.00 net; 503 does not consent to email marketing)."""
    target, _ = store
    rows = query(
        target,
        "select primary_segment, lifecycle_stage, customers, customers_accepting_marketing,"
        " total_orders, net_revenue, average_net_revenue, as_of_date::text"
        " from marts.customer_segment_summary where shop_domain = %s order by 1, 2",
        (SHOP,),
    )
    assert rows == [
        ("enthusiast_collector", "active", 1, 1, 2, D("1700.00"), D("1700.00"), AS_OF),
        ("first_time_builder", "new", 2, 1, 2, D("96.00"), D("48.00"), AS_OF),
        ("professional_shop", "at_risk", 1, 1, 2, D("6100.00"), D("6100.00"), AS_OF),
    ]


def test_marketing_targets_only_reach_consenting_customers(store):
    target, _ = store
    rows = query(
        target,
        "select customer_id, campaign, email, email_marketing_consent, content_theme,"
        " last_category_l1, offer"
        " from marts.marketing_targets where shop_domain = %s order by customer_id",
        (SHOP,),
    )
    # 503 would be nurtured but does not consent to email marketing. The last category is that
    # of the last order that counts: 501's O2 (coilovers, though engines are its top category);
    # 502's O4 (800.00 of coilovers beat 100.00 of posters; O7 is cancelled, O10 comes after the
    # as-of date); 504's O6 (posters: Other). The win-back offer is var winback_offer_pct, 10.
    assert rows == [
        (501, "high_priority_winback", "c501@example.com", "SUBSCRIBED", "engine_specialist",
         "Suspension & Steering", "10% off Suspension & Steering"),
        (502, "reengagement_campaign", "c502@example.com", "SUBSCRIBED", "chassis_builder",
         "Suspension & Steering", None),
        (504, "new_customer_nurture", "c504@example.com", "SUBSCRIBED", "general_hotrod",
         "Other", None),
    ]  # fmt: skip


def test_marketing_targets_list_an_address_once_per_shop_and_campaign(store):
    """The guest shop's four customers are one address for nurturing: 601 and 602 consent, and
    601's order is the later (604's is later still, but 604 does not consent); 603 has no
    address once trimmed."""
    target, _ = store
    rows = query(
        target,
        "select customer_id, campaign, email, email_marketing_consent, first_name,"
        " content_theme, last_category_l1, offer"
        " from marts.marketing_targets where shop_domain = %s order by campaign, email",
        (GUESTS,),
    )
    assert rows == [
        (601, "new_customer_nurture", "sam@example.com", "SUBSCRIBED", "C601", "chassis_builder",
         "Suspension & Steering", None),
    ]  # fmt: skip
    staged = query(
        target,
        "select customer_id, email from staging.stg_shopify__customers"
        " where shop_domain = %s order by customer_id",
        (GUESTS,),
    )
    assert staged == [
        (601, "Sam@Example.com"),
        (602, "sam@example.COM"),
        (603, None),
        (604, "SAM@example.com"),
    ]


def test_the_ai_reads_the_marketing_list_of_its_shop_but_not_the_email(store):
    """The new columns are not PII (var pii_columns): the AI role reads them, rows of its shop
    only; email stays PII."""
    import psycopg

    from runner import db, settings
    from tests.pytest.helpers import PROJECT_DIR

    target, _ = store
    ai = settings.project_security(PROJECT_DIR).roles.ai
    with db.connect(target) as conn:
        try:
            conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(ai)))
            conn.execute("select set_config('app.shop_domain', %s, false)", (GUESTS,))
            rows = conn.execute(
                "select customer_id, campaign, email_marketing_consent, last_category_l1, offer"
                " from marts.marketing_targets"
            ).fetchall()
            assert rows == [
                (601, "new_customer_nurture", "SUBSCRIBED", "Suspension & Steering", None)
            ]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select email from marts.marketing_targets")
        finally:
            conn.rollback()


def test_inventory_alerts(store):
    target, _ = store
    rows = query(
        target,
        "select capital_rank, variant_id, units_on_hand, unit_cost, capital_tied_up,"
        " monthly_sales_avg, months_of_cover, recommended_action, potential_cash_recovery,"
        " slow_mover_rank, in_daily_email"
        " from marts.inventory_alerts where shop_domain = %s order by capital_rank",
        (SHOP,),
    )
    # fmt: off
    assert rows == [
        # Nothing sold in 90 days: discontinue; half of 3 x 3,500 back. The email's first.
        (1, 2001, 3, D("3500.00"), D("10500.00"), D("0.00"), None, "discontinue", D("5250.00"),
         1, True),
        # 4 on hand / 0.67 a month = exactly 6 months of cover: monitor. It ties up more than
        # 2004 but is no slow mover: out of the email (var daily_email_top_n 10).
        (2, 2002, 4, D("500.00"), D("2000.00"), D("0.67"), D("6.00"), "monitor", D("0.00"),
         None, False),
        (3, 2004, 25, D("60.00"), D("1500.00"), D("0.00"), None, "discontinue", D("750.00"), 2,
         True),
        # 50 / 6.67 = 7.5 months of cover: 25 % off; cost unknown: no capital, no recovery, and
        # no place in the email.
        (4, 2003, 50, None, None, D("6.67"), D("7.50"), "discount_25_pct", None, None, False),
    ]
    # fmt: on


def test_the_daily_email_export_reads_the_built_mart(store):
    """The email's table for the shop: its two slow movers with capital, 2001 and 2004 (not the
    monitored 2002), and the headline over them: 10,500 + 1,500 tied up, 5,250 + 750 back."""
    from runner import db
    from runner.exports import inventory_alerts

    target, _ = store
    with db.connect(target) as conn:
        text, result = inventory_alerts(conn, top=True, fmt="csv", shop=SHOP)
        markdown, _ = inventory_alerts(conn, top=True, fmt="markdown", shop=SHOP)
    assert result.rows == 2
    assert [line.split(",")[0] for line in text.splitlines()] == ["variant_id", "2001", "2004"]
    assert markdown.splitlines()[-1] == (
        "$12,000.00 tied up in 2 slow movers (to discount or discontinue); $6,000.00 recoverable."
    )


def test_mart_keys_and_enums_are_checked_as_rows_are_written(store):
    """Keys and enums have one home, the mart's enforced contract (contracts/README.md, "Where
    each check lives"): its primary key refuses a second row for the same key, its not_null
    constraints a null segment or stage, and its check constraints a value outside a column's
    accepted values, while every accepted value, the first and the last of a score's range
    included, is written."""
    import psycopg

    from runner import db

    target, _ = store
    one = "where customer_id = 501"
    with db.connect(target) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            f"insert into marts.customer_segments select * from marts.customer_segments {one}"
        )
    for column in ("primary_segment", "lifecycle_stage"):
        with db.connect(target) as conn, pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute(f"update marts.customer_segments set {column} = null {one}")
    refused = [
        ("lifecycle_stage", "'dormant'"),
        ("primary_segment", "'reseller'"),
        ("top_category_l1", "'Paint'"),
        ("recency_score", "0"),
        ("recency_score", "6"),
        ("frequency_score", "6"),
        ("monetary_score", "0"),
    ]
    for column, value in refused:
        with db.connect(target) as conn, pytest.raises(psycopg.errors.CheckViolation) as error:
            conn.execute(f"update marts.customer_segments set {column} = {value} {one}")
        assert f'check constraint "{column}_accepted"' in str(error.value)
    accepted = [
        ("lifecycle_stage", "'churned'"),
        ("primary_segment", "'general'"),
        ("top_category_l1", "'Other'"),
        ("recency_score", "1"),
        ("recency_score", "5"),
        ("frequency_score", "5"),
        ("monetary_score", "1"),
    ]
    with db.connect(target) as conn, conn.transaction(force_rollback=True):
        for column, value in accepted:
            conn.execute(f"update marts.customer_segments set {column} = {value} {one}")
        row = conn.execute(
            "select lifecycle_stage, primary_segment, top_category_l1, recency_score,"
            f" frequency_score, monetary_score from marts.customer_segments {one}"
        ).fetchone()
    assert row == ("churned", "general", "Other", 5, 5, 1)


def built_models(store) -> list[tuple[object, str]]:
    """Each model the store's build made, as its parsed node and its relation (schema.name)."""
    from runner import dbt

    target, run = store
    manifest = dbt.require_success(dbt.invoke(target, ["parse"])).manifest
    built = {n.unique_id for n in run.nodes if n.resource_type == "model" and n.status == "success"}
    nodes = [manifest.nodes[unique_id] for unique_id in sorted(built)]
    return [(node, f"{node.schema}.{node.alias}") for node in nodes]


def test_every_built_table_and_column_carries_its_description_as_a_comment(store):
    """persist_docs (macros/persist_docs.sql): an analyst's SQL client shows each model's and
    each column's YAML description, doc blocks rendered, on every relation the build made."""
    target, _ = store
    built = built_models(store)
    expected = []
    for node, relation in built:
        expected.append((relation, None, node.description))
        expected += [(relation, name, col.description) for name, col in node.columns.items()]
    for relation, column, description in expected:
        if column is None:
            sql = "select obj_description(%s::regclass, 'pg_class')"
            args: tuple = (relation,)
        else:
            sql = (
                "select col_description(attrelid, attnum) from pg_attribute"
                " where attrelid = %s::regclass and attname = %s"
            )
            args = (relation, column)
        assert scalar(target, sql, args) == description, (relation, column)
    assert len(built) >= len(MARTS) and len(expected) > 100


def test_every_table_with_an_enforced_contract_has_its_columns_and_constraints(store):
    """A table whose contract is enforced (macros/contract_tables.sql: loaded, then constrained)
    has the contract's columns in its order and types, not null where the contract says, its
    primary key and every named constraint, however dbt built it (these tables, and the staging
    ones, were made new by this build)."""
    target, _ = store
    checked = []
    for node, relation in built_models(store):
        if not node.contract.enforced:
            continue
        columns = query(
            target,
            "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute"
            " where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
            (relation,),
        )
        assert columns == [
            (
                name,
                column.data_type,
                any(c.type.value == "not_null" for c in column.constraints),
            )
            for name, column in node.columns.items()
        ], relation
        constraints = dict(
            query(
                target,
                "select conname, contype from pg_constraint where conrelid = %s::regclass",
                (relation,),
            )
        )
        model_constraints = list(node.constraints)
        keys = [c for c in model_constraints if c.type.value == "primary_key"] + [
            c
            for col in node.columns.values()
            for c in col.constraints
            if c.type.value == "primary_key"
        ]
        assert list(constraints.values()).count("p") == len(keys) <= 1, relation
        named = {c.name: c.type.value for c in model_constraints if c.name}
        assert {name: constraints.get(name) for name in named} == {
            name: {"check": "c", "primary_key": "p", "unique": "u"}[kind]
            for name, kind in named.items()
        }, relation
        checked.append(node.name)
    assert {"customer_segments", "inventory_alerts", "stg_shopify__orders"} <= set(checked)
