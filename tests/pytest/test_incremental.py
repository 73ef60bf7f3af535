"""Intermediate tables built incrementally (macros/incremental.sql) equal a full rebuild.

The store of test_marts (its orders and refunds are listed there) arrives, then changes over four
nights, each built incrementally in one database and with --full-refresh in another that has the
same facts:

night  as-of       what arrives                                              orders recomputed
1      2025-03-08  the store                                                  every one (new)
2      2025-03-10  O2 refunded (1 x 2002, 03-09), O5 cancelled, O4 edited     O2 O4 O5, and O6
                   down to its 2002 line, O11 (03-10)                         O11 O604 (dated
                                                                              03-09..03-10)
3      2025-03-06  the poster (2003) becomes a Coilovers product; the as-of   O2 (its refund
                   date goes back                                             leaves); O6 O11
                                                                              O601 O604 leave;
                                                                              lines: also O9
4      2025-03-12  nothing; var reporting_timezone becomes Asia/Tokyo         every one

The customer tables built from them (int_shopify__customer_history from the orders,
int_shopify__customer_top_category from the lines) recompute the customers of the orders
recomputed, before and after, then four more nights in Tokyo move the as-of date across the edge
of history's 365-day window, where O1 is dated 2024-11-21 and O2 2024-11-26:

night  as-of       what arrives                     customers recomputed (history / top category)
5      2025-11-21  nothing                          501, O1 leaves the window / none
6      2025-11-25  O3 moves from 502 to 503         502 503 (O2 is one day in) / 502 503
7      2025-11-26  nothing                          501, O2 leaves / none
8      2025-11-20  nothing; back                    501, O1 and O2 come back / none
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal as D

import psycopg
import pytest

from runner import db
from tests.pytest.helpers import insert_facts, query, run_dbt, table_rows
from tests.pytest.test_marts import GUESTS, SHOP, order, product, refund, store_facts

NET_REVENUE = "intermediate.int_shopify__order_net_revenue"
ORDER_LINES = "intermediate.int_shopify__order_lines"
HISTORY = "intermediate.int_shopify__customer_history"
TOP_CATEGORY = "intermediate.int_shopify__customer_top_category"
MODELS = [
    "int_shopify__order_net_revenue",
    "int_shopify__order_lines",
    "int_shopify__customer_history",
    "int_shopify__customer_top_category",
]
STORED_AT = datetime.datetime(2025, 3, 10, tzinfo=datetime.UTC)  # the facts' created_at


def build(target, as_of: str, *extra: str, **settings) -> dict[str, int | None]:
    """dbt build of the intermediate models and what they read, with their tests: the rows each
    model inserted."""
    run = run_dbt(
        target,
        "build",
        "--select",
        *(f"+{model}" for model in MODELS),
        "--vars",
        json.dumps({"as_of_date": as_of, **settings}),
        *extra,
    )
    return {n.name: n.rows_affected for n in run.nodes if n.name in MODELS}


def rows(target) -> dict[str, list[tuple]]:
    return {model: table_rows(target, f"intermediate.{model}") for model in MODELS}


def order_ids(target) -> list[tuple]:
    return query(target, f"select shop_domain, order_id from {NET_REVENUE} order by 1, 2")


NIGHTS = [
    ("2025-03-08", store_facts(), {}),
    (
        "2025-03-10",
        [
            (SHOP, "shopify.refunds", refund(903, 2, "2025-03-09", "120.00", [(21, 1, "120.00")])),
            (
                SHOP,
                "shopify.orders",
                order(
                    5,
                    503,
                    "2025-03-01",
                    [(2003, 3)],
                    cancelled_at="2025-03-09T09:00:00-05:00",
                    updated_at="2025-03-09T09:00:00-05:00",
                ),
            ),
            (
                SHOP,
                "shopify.orders",
                order(4, 502, "2025-01-24", [(2002, 1)], updated_at="2025-03-09T10:00:00-05:00"),
            ),
            (SHOP, "shopify.orders", order(11, 504, "2025-03-10", [(2004, 1)])),
        ],
        {},
    ),
    (
        "2025-03-06",
        [
            (
                SHOP,
                "shopify.products",
                {
                    **product(1003),
                    "product_type": "Coilovers",
                    "updated_at": "2025-03-05T00:00:00Z",
                },
            )
        ],
        {},
    ),
    ("2025-03-12", [], {"reporting_timezone": "Asia/Tokyo"}),
    ("2025-11-21", [], {"reporting_timezone": "Asia/Tokyo"}),
    (
        "2025-11-25",
        [
            (
                SHOP,
                "shopify.orders",
                order(3, 503, "2024-12-20", [(2002, 1)], updated_at="2025-11-24T10:00:00-05:00"),
            )
        ],
        {"reporting_timezone": "Asia/Tokyo"},
    ),
    ("2025-11-26", [], {"reporting_timezone": "Asia/Tokyo"}),
    ("2025-11-20", [], {"reporting_timezone": "Asia/Tokyo"}),
]


def test_incremental_nights_recompute_only_the_changed_orders_and_customers_and_equal_a_full_rebuild(
    new_target,
):
    incremental, full = new_target(), new_target()
    inserted = []
    for as_of, facts, settings in NIGHTS:
        for target in (incremental, full):
            insert_facts(target, facts, created_at=STORED_AT)
        inserted.append(build(incremental, as_of, **settings))
        build(full, as_of, "--full-refresh", **settings)
        assert rows(incremental) == rows(full), as_of

        if as_of == "2025-03-10":
            # O2: 2 x 800.00, one coilover refunded at its 120.00 subtotal
            assert query(
                incremental,
                f"select gross_sales, refunds, net_revenue, refund_count from {NET_REVENUE}"
                " where order_id = 2",
            ) == [(D("1600.00"), D("120.00"), D("1480.00"), 1)]
            # O4 lost its five posters; O5 cancelled counts nothing
            assert query(
                incremental,
                f"select order_id, units, gross_sales, counts_toward_revenue from {NET_REVENUE}"
                " where order_id in (4, 5) order by 1",
            ) == [(4, 1, D("800.00"), True), (5, 3, D("0"), False)]
        if as_of == "2025-03-06":
            assert order_ids(incremental) == [(GUESTS, 602), (GUESTS, 603)] + [
                (SHOP, n) for n in (1, 2, 3, 4, 5, 7, 8, 9)
            ]
            # the guest order's ten posters, now of the shop's Coilovers category
            assert query(
                incremental,
                f"select order_id, variant_id, category_l1 from {ORDER_LINES}"
                " where variant_id = 2003 order by 1",
            ) == [(9, 2003, "Suspension & Steering"), (602, 2003, "Other"), (603, 2003, "Other")]
        if as_of == "2025-11-25":
            # O3 (one coilover, 800.00) is 503's now: 502 keeps O4 and O10; 501 has O2 alone in the
            # window (O1 4500.00, O2 1480.00)
            assert query(
                incremental,
                f"select customer_id, total_orders, net_revenue, orders_last_365_days from {HISTORY}"
                " where customer_id in (501, 502, 503) order by 1",
            ) == [(501, 2, D("5980.00"), 1), (502, 2, D("1600.00"), 2), (503, 1, D("800.00"), 1)]

    # Orders: night 1, the store's up to 03-08 (O1-O5, O7-O9; not O6 03-10, O10 03-11) and
    # O601-O603; night 2, O2 O4 O5 O6 O11 O604; night 3, O2 alone is written again; night 4, in
    # Tokyo every order placed at noon UTC-5 falls on the next day, O10 on 03-12: every order, the
    # store's 11 and the 4 guests'.
    # Lines, of the orders that count (not O5 once cancelled, O7, O8): night 1, O1 O2 O3 O4 (two
    # lines) O5 O9 and O601-O603; night 2, O2 O4 (one line now) O6 O11 O604; night 3, O2 and O9
    # (its posters' category); night 4, O1 O2 O3 O4 O6 O9 O10 O11 and the 4 guests'.
    # Nights 5-8: nothing dated between the as-of dates, O3 alone on night 6.
    # Customers, of the orders that count (history) and of their lines (top category): night 1,
    # 501 502 503 601 602 603; night 2, of O2 O4 O5 O6 O11 O604 (503 is left without an order that
    # counts); night 3, of O2 O6 O11 O601 O604 (and the guest O9), 501 alone keeps one; night 4,
    # every one, 501 502 504 601-604; nights 5-8 as the table above says.
    # Rows written each night, in the order of MODELS (order net revenue, order lines, customer
    # history, customer top category).
    assert inserted == [
        dict(zip(MODELS, night, strict=True))
        for night in [
            (11, 10, 6, 6),
            (6, 5, 4, 4),
            (1, 2, 1, 1),
            (15, 12, 7, 7),
            (0, 0, 1, 0),
            (1, 1, 2, 2),
            (0, 0, 1, 0),
            (0, 0, 1, 0),
        ]
    ]
    # What the order models logged for the customer models is deleted once both have read it.
    for target in (incremental, full):
        assert query(target, "select count(*) from ops.order_changes") == [(0,)]

    # A key is unique by the table's unique index, whether nights or a full refresh wrote it:
    # PostgreSQL refuses a second row (no test reads the tables for it).
    for target in (incremental, full):
        for table, key in [
            (NET_REVENUE, "order_id = 2"),
            (ORDER_LINES, "order_id = 2"),
            (HISTORY, "customer_id = 501"),
            (TOP_CATEGORY, "customer_id = 501"),
        ]:
            with db.connect(target) as conn, pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(f"insert into {table} select * from {table} where {key}")


def drop_index(conn: psycopg.Connection, schema: str, table: str, columns: str) -> None:
    """Drop the index of schema.table on `columns` (written as pg_indexes writes them)."""
    (name,) = conn.execute(
        "select indexname from pg_indexes where schemaname = %s and tablename = %s"
        " and indexdef like %s",
        (schema, table, f"%USING btree {columns}"),
    ).fetchone()
    conn.execute(f'drop index {schema}."{name}"')


# Indexes of incremental models' configs, each read by a query written for it.
ADDED_INDEXES = [
    ("staging", "stg_shopify__orders", "(created_at)"),
    ("staging", "stg_shopify__refunds", "(created_at)"),
    ("intermediate", "int_shopify__order_net_revenue", "(order_date)"),
    ("intermediate", "int_shopify__order_lines", "(variant_id, shop_domain, order_date)"),
]


def test_an_index_added_to_an_incremental_model_is_created_on_its_next_build(target) -> None:
    """A table an older version of the project built lacks the indexes added to its config since:
    the next incremental build creates each (ensure_indexes), once."""
    insert_facts(target, store_facts(), created_at=STORED_AT)
    build(target, "2025-03-08")

    def found() -> list[tuple]:
        return [
            (
                table,
                query(
                    target,
                    "select count(*) from pg_indexes where schemaname = %s and tablename = %s"
                    " and indexdef like %s",
                    (schema, table, f"%USING btree {columns}"),
                )[0][0],
            )
            for schema, table, columns in ADDED_INDEXES
        ]

    assert found() == [(table, 1) for _, table, _ in ADDED_INDEXES]
    with db.connect(target, autocommit=True) as conn:
        for schema, table, columns in ADDED_INDEXES:
            drop_index(conn, schema, table, columns)
    assert found() == [(table, 0) for _, table, _ in ADDED_INDEXES]
    build(target, "2025-03-08")
    assert found() == [(table, 1) for _, table, _ in ADDED_INDEXES]
    build(target, "2025-03-09")
    assert found() == [(table, 1) for _, table, _ in ADDED_INDEXES]


# Indexes the project built with the shop first, each as (schema, table, its columns then, its
# columns now, unique).
REORDERED_INDEXES = [
    ("staging", "stg_shopify__orders", "(shop_domain, order_id)", "(order_id, shop_domain)", True),
    (
        "staging",
        "stg_shopify__order_line_items",
        '(shop_domain, order_id, "position")',
        '(order_id, shop_domain, "position")',
        True,
    ),
    (
        "intermediate",
        "int_shopify__order_lines",
        "(shop_domain, customer_id)",
        "(customer_id, shop_domain)",
        False,
    ),
]


def test_an_index_its_config_no_longer_names_is_dropped_on_its_next_build(target) -> None:
    """A table an older version of the project built keeps the indexes dbt created for the config
    of then: the next incremental build drops each one the config no longer names (here keys with
    the shop first, as they were) and creates the config's; an index made by hand, under a name of
    its own, stays."""
    insert_facts(target, store_facts(), created_at=STORED_AT)
    build(target, "2025-03-08")

    def indexes(schema: str, table: str) -> list[str]:
        return sorted(
            row[0].split(" USING btree ")[1]
            for row in query(
                target,
                "select indexdef from pg_indexes where schemaname = %s and tablename = %s",
                (schema, table),
            )
        )

    built = {table: indexes(schema, table) for schema, table, _, _, _ in REORDERED_INDEXES}
    with db.connect(target, autocommit=True) as conn:
        for n, (schema, table, then, now, unique) in enumerate(REORDERED_INDEXES):
            assert now in built[table]
            drop_index(conn, schema, table, now)
            # the index as the older project built it, named as dbt names its indexes (an md5)
            old_name = f"{n:032x}"
            conn.execute(
                f'create {"unique " if unique else ""}index "{old_name}" on {schema}.{table} {then}'
            )
        conn.execute("create index by_hand on intermediate.int_shopify__order_lines (order_date)")
    assert indexes("staging", "stg_shopify__orders") != built["stg_shopify__orders"]
    build(target, "2025-03-09")
    for table in ("stg_shopify__orders", "stg_shopify__order_line_items"):
        assert indexes("staging", table) == built[table]
    assert indexes("intermediate", "int_shopify__order_lines") == sorted(
        [*built["int_shopify__order_lines"], "(order_date)"]
    )
    assert query(
        target,
        "select indexname from pg_indexes where indexdef like '%%(order_date)'"
        " and tablename = 'int_shopify__order_lines'",
    ) == [("by_hand",)]
