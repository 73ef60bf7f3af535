"""Tests of the synthetic Shopify facts generator (pure Python, no database).

The generator feeds demos, load tests and the contract suites, so these tests pin the properties
the rest of the pipeline relies on: determinism, ordering in time, payload shapes, arithmetic that
adds up, and the presence of every kind of messy fact the quarantine must catch.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import re
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hotdash_demo import KNOWN_TOPICS, OTHER_TOPICS, iter_demo_facts, shop_domain
from hotdash_demo.catalog import MAPPED_TYPES, UNMAPPED_TYPES

ANCHOR = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
SEED_CSV = Path(__file__).resolve().parents[2] / "seeds" / "category_tree.csv"
ISO_WITH_OFFSET = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
WINDOW_START = dt.datetime(2023, 6, 1, tzinfo=dt.UTC)

Fact = tuple[str, str, str, dt.datetime]
Parsed = tuple[str, str, str, dt.datetime, Any]


@cache
def facts(n: int, shops: int = 1, seed: int = 42) -> tuple[Fact, ...]:
    """Generated once per argument set: several tests read the same stream."""
    return tuple(iter_demo_facts(n, shops=shops, seed=seed, anchor=ANCHOR))


@cache
def parsed(n: int, shops: int = 1) -> tuple[Parsed, ...]:
    """The same stream with each payload decoded (read-only: tests must not mutate it)."""
    return tuple((*row, json.loads(row[2])) for row in facts(n, shops))


def as_money(value: Any) -> Decimal | None:
    """A Shopify money string as Decimal, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def as_ts(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def as_qty(value: Any) -> int | None:
    """Quantities may arrive as integers or as digit strings; both are valid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def well_formed_order(o: Any) -> bool:
    if not isinstance(o, dict) or not isinstance(o.get("id"), int):
        return False
    if o.get("currency") != "USD" or as_ts(o.get("updated_at")) is None:
        return False
    money = ("total_price", "subtotal_price", "total_tax", "total_discounts")
    if any(as_money(o.get(k)) is None for k in (*money, "total_line_items_price")):
        return False
    for li in o.get("line_items", []):
        q = as_qty(li.get("quantity"))
        if q is None or q < 0 or as_money(li.get("price")) is None:
            return False
    return True


# --- interface -------------------------------------------------------------------------------


def test_shop_domain_names() -> None:
    assert shop_domain(0) == "hotrodan.myshopify.com"
    assert shop_domain(1) == "hotrodan-2.myshopify.com"
    assert shop_domain(4) == "hotrodan-5.myshopify.com"


@pytest.mark.parametrize("n", [0, 1, 7, 500, 2500])
def test_yields_exactly_n_facts(n: int) -> None:
    assert sum(1 for _ in iter_demo_facts(n, anchor=ANCHOR)) == n


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        iter_demo_facts(10, anchor=dt.datetime(2025, 6, 1))  # naive anchor
    with pytest.raises(ValueError):
        iter_demo_facts(-1, anchor=ANCHOR)
    with pytest.raises(ValueError):
        iter_demo_facts(10, shops=0, anchor=ANCHOR)


def test_same_arguments_same_output_and_seed_matters() -> None:
    first = list(iter_demo_facts(3000, seed=7, anchor=ANCHOR))
    again = list(iter_demo_facts(3000, seed=7, anchor=ANCHOR))
    other = list(iter_demo_facts(3000, seed=8, anchor=ANCHOR))
    assert first == again
    assert [f[2] for f in first] != [f[2] for f in other]


def test_default_anchor_is_today_midnight_utc() -> None:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = list(iter_demo_facts(200))
    assert all(today - dt.timedelta(days=731) <= r[3] <= today for r in rows)
    assert rows[-1][3] > today - dt.timedelta(days=30)


# --- time ------------------------------------------------------------------------------------


def test_created_at_non_decreasing_and_inside_the_24_months() -> None:
    rows = facts(20000)
    times = [r[3] for r in rows]
    assert all(t.tzinfo is not None for t in times)
    assert all(a <= b for a, b in itertools.pairwise(times))
    assert times[0] >= WINDOW_START
    assert times[-1] <= ANCHOR
    # The stream covers the whole window, not a corner of it.
    assert times[0] < WINDOW_START + dt.timedelta(days=31)
    assert times[-1] > ANCHOR - dt.timedelta(days=2)


def test_order_volume_grows() -> None:
    per_month: Counter[str] = Counter()
    for _, topic, _text, created in facts(20000):
        if topic == "shopify.orders":
            per_month[created.strftime("%Y-%m")] += 1
    months = sorted(per_month)
    assert len(months) >= 24
    first_quarter = sum(per_month[m] for m in months[1:4])
    last_quarter = sum(per_month[m] for m in months[-4:-1])
    assert last_quarter > 2 * first_quarter


def test_payload_timestamps_are_offset_iso_and_not_after_the_fact() -> None:
    checked = 0
    for _, topic, _text, created, obj in parsed(20000):
        if (
            not isinstance(obj, dict)
            or not topic.startswith("shopify.")
            or topic not in KNOWN_TOPICS
        ):
            continue
        stamp = obj.get("updated_at") or obj.get("created_at")
        if stamp == "yesterday":
            continue  # the malformed-timestamp kind
        assert ISO_WITH_OFFSET.fullmatch(stamp), (topic, stamp)
        assert dt.datetime.fromisoformat(stamp) <= created, (topic, stamp, created)
        checked += 1
    assert checked > 16500  # of 20,000: the rest are other sources' and off-topic facts


def test_support_times_are_chatwoots_and_not_after_the_fact() -> None:
    """A conversation's times in unix seconds (updated_at with a fraction, increasing per
    conversation but for the late deliveries), a message's created_at in ISO 8601 UTC."""
    conversations = messages = 0
    for _, topic, _text, created, obj in parsed(20000):
        if not isinstance(obj, dict):
            continue
        if topic == "chatwoot.conversations" and obj.get("updated_at") != "yesterday":
            assert isinstance(obj["created_at"], int) and isinstance(obj["updated_at"], float)
            assert obj["created_at"] <= obj["updated_at"] <= created.timestamp(), obj
            conversations += 1
        elif topic == "chatwoot.messages":
            stamp = dt.datetime.fromisoformat(obj["created_at"])
            assert obj["created_at"].endswith("Z") and stamp <= created, obj
            messages += 1
    assert conversations > 200 and messages > 400


# --- topics and proportions ------------------------------------------------------------------


def test_every_topic_present_at_2000() -> None:
    topics = {r[1] for r in facts(2000)}
    assert set(KNOWN_TOPICS) <= topics
    assert topics & set(OTHER_TOPICS)


def test_the_demo_writes_every_staged_topic_of_the_registry() -> None:
    """The demo's staged topics are var topics (dbt_project.yml), in its order: a topic added
    there without a generator here fails this test."""
    from runner import settings

    project = settings.load(Path(__file__).resolve().parents[2])
    assert tuple(project.topics) == KNOWN_TOPICS
    assert not set(OTHER_TOPICS) & set(project.topics)


def test_every_topic_present_even_at_500() -> None:
    topics = {r[1] for r in facts(500)}
    assert set(KNOWN_TOPICS) <= topics


def test_topic_proportions_are_roughly_right() -> None:
    counts = Counter(r[1] for r in facts(20000))
    share = {t: counts[t] / 20000 for t in counts}
    # The Instagram posts' fetches are about 5 % of a shop's facts (hotdash_demo/social.py
    # _SHARE), slots the other events do not take.
    assert 0.47 <= share["shopify.orders"] <= 0.65
    assert 0.03 <= share["instagram.media"] + share["instagram.media_insights"] <= 0.06
    assert 0.10 <= share["shopify.inventory_levels"] <= 0.25
    assert 0.07 <= share["shopify.customers"] <= 0.15
    assert 0.004 <= share["shopify.refunds"] <= 0.04
    assert 0.003 <= sum(share.get(t, 0) for t in OTHER_TOPICS) <= 0.02


def test_catalog_first_then_orders_refer_to_known_variants_and_customers() -> None:
    variants: set[int] = set()
    customers: set[int] = set()
    checked = 0
    for _, topic, _text, _, obj in parsed(20000):
        if not isinstance(obj, dict):
            continue
        if topic == "shopify.products":
            variants.update(v["id"] for v in obj["variants"])
        elif topic == "shopify.customers" and "id" in obj:
            customers.add(obj["id"])
        elif topic == "shopify.orders" and well_formed_order(obj):
            assert {li["variant_id"] for li in obj["line_items"]} <= variants
            assert obj["customer"]["id"] in customers
            checked += 1
    assert checked > 1000


def test_product_types_mostly_from_category_seed_with_unmapped_ones() -> None:
    with SEED_CSV.open(newline="", encoding="utf-8") as fh:
        seed_types = {row["product_type"] for row in csv.DictReader(fh)}
    types: dict[int, str] = {}
    for _, topic, _text, _, obj in parsed(20000):
        if topic == "shopify.products" and isinstance(obj, dict):
            types[obj["id"]] = obj["product_type"]
    assert seed_types <= set(types.values())  # every category is stocked
    unmapped = [t for t in types.values() if t not in seed_types]
    assert {"Apparel", "Gift Cards", ""} <= set(unmapped)
    assert len(unmapped) < 0.1 * len(types)


def test_demo_product_types_marked_as_seeded_are_the_seeds() -> None:
    """The generator reads its own copy of the product types (package data, so that an installed
    package needs no checkout); the ones it marks as in the category seed must be the seed's."""
    with SEED_CSV.open(newline="", encoding="utf-8") as fh:
        seed_types = [row["product_type"] for row in csv.DictReader(fh)]
    assert len(MAPPED_TYPES) == len(set(MAPPED_TYPES))
    assert set(MAPPED_TYPES) == set(seed_types)
    assert not set(UNMAPPED_TYPES) & set(seed_types)
    assert "" in UNMAPPED_TYPES  # a product without a type


def test_variants_carry_distinct_inventory_item_ids() -> None:
    seen: dict[int, int] = {}
    for _, topic, _text, _, obj in parsed(2000):
        if topic == "shopify.products" and isinstance(obj, dict):
            for v in obj["variants"]:
                assert isinstance(v["inventory_item_id"], int)
                assert seen.setdefault(v["inventory_item_id"], v["id"]) == v["id"]
                assert as_money(v["price"]) is not None
                assert isinstance(v["inventory_quantity"], int)
    assert len(seen) > 10


# --- money -----------------------------------------------------------------------------------


def test_order_money_is_consistent() -> None:
    checked = 0
    for _, topic, _text, _, o in parsed(20000):
        if topic != "shopify.orders" or not well_formed_order(o):
            continue
        lines = sum(
            (Decimal(li["price"]) * as_qty(li["quantity"]) for li in o["line_items"]),
            Decimal(0),
        )
        line_discounts = sum((Decimal(li["total_discount"]) for li in o["line_items"]), Decimal(0))
        code_discounts = sum((Decimal(c["amount"]) for c in o["discount_codes"]), Decimal(0))
        total_line_items = Decimal(o["total_line_items_price"])
        discounts = Decimal(o["total_discounts"])
        subtotal = Decimal(o["subtotal_price"])
        assert total_line_items == lines, o["name"]
        assert subtotal == total_line_items - discounts, o["name"]
        assert Decimal(o["total_price"]) == subtotal + Decimal(o["total_tax"]), o["name"]
        assert discounts == line_discounts == code_discounts, o["name"]
        for key in ("total_price", "subtotal_price", "total_tax", "total_discounts"):
            assert o[key].count(".") == 1 and len(o[key].split(".")[1]) == 2
        checked += 1
    assert checked > 5000


def test_order_shapes_and_statuses() -> None:
    statuses: Counter[str] = Counter()
    test_orders = cancelled = discounted = 0
    for _, topic, _text, _, o in parsed(20000):
        if topic != "shopify.orders" or not well_formed_order(o):
            continue
        assert isinstance(o["order_number"], int) and o["name"] == f"#{o['order_number']}"
        assert as_ts(o["created_at"]) <= as_ts(o["updated_at"])
        statuses[o["financial_status"]] += 1
        test_orders += o["test"] is True
        cancelled += o["cancelled_at"] is not None
        discounted += bool(o["discount_codes"])
    assert {"paid", "partially_refunded", "refunded", "voided"} <= set(statuses)
    assert test_orders > 0 and cancelled > 0 and discounted > 0


def test_refunds_refer_to_earlier_orders_and_their_line_items() -> None:
    orders: dict[int, dict[int, dict[str, Any]]] = {}
    latest: dict[int, dict[str, Any]] = {}
    refunded: defaultdict[int, int] = defaultdict(int)
    refunded_money: defaultdict[int, Decimal] = defaultdict(Decimal)
    seen_refunds: dict[int, str] = {}
    checked = 0
    for _, topic, text, _, obj in parsed(20000):
        if topic == "shopify.orders" and well_formed_order(obj):
            orders[obj["id"]] = {li["id"]: li for li in obj["line_items"]}
            if obj["id"] not in latest or as_ts(obj["updated_at"]) > as_ts(
                latest[obj["id"]]["updated_at"]
            ):
                latest[obj["id"]] = obj
        elif topic == "shopify.refunds":
            if obj["id"] in seen_refunds:  # a re-delivered refund must be an exact copy
                assert seen_refunds[obj["id"]] == text
                continue
            seen_refunds[obj["id"]] = text
            assert obj["order_id"] in orders, "refund before its order"
            lines = orders[obj["order_id"]]
            amount = Decimal(0)
            for rli in obj["refund_line_items"]:
                li = lines[rli["line_item_id"]]
                assert rli["line_item"]["id"] == li["id"]
                assert rli["line_item"]["variant_id"] == li["variant_id"]
                assert 0 < rli["quantity"] <= as_qty(li["quantity"])
                gross = Decimal(li["price"]) * rli["quantity"]
                assert Decimal(rli["subtotal"]) <= gross
                amount += Decimal(rli["subtotal"]) + Decimal(rli["total_tax"])
                refunded[li["id"]] += rli["quantity"]
                assert refunded[li["id"]] <= as_qty(li["quantity"])
            (txn,) = obj["transactions"]
            assert txn["kind"] == "refund" and txn["order_id"] == obj["order_id"]
            assert Decimal(txn["amount"]) == amount
            refunded_money[obj["order_id"]] += amount
            checked += 1
    assert checked >= 20
    # A fully refunded order gives back exactly what was paid; a partial one gives back less.
    statuses = Counter()
    for order_id, total in refunded_money.items():
        order = latest[order_id]
        statuses[order["financial_status"]] += 1
        if order["financial_status"] == "refunded":
            assert total == Decimal(order["total_price"]), order["name"]
        elif order["financial_status"] == "partially_refunded":
            assert total < Decimal(order["total_price"]), order["name"]
    assert statuses["refunded"] and statuses["partially_refunded"]


def test_some_inventory_items_have_unknown_cost() -> None:
    latest: dict[int, dict[str, Any]] = {}
    for _, topic, _text, _, obj in parsed(20000):
        if topic == "shopify.inventory_items" and isinstance(obj, dict):
            latest[obj["id"]] = obj
    missing = [i for i in latest.values() if "cost" not in i]
    null = [i for i in latest.values() if "cost" in i and i["cost"] is None]
    priced = [i for i in latest.values() if as_money(i.get("cost")) is not None]
    assert missing and null
    assert len(priced) > 0.9 * len(latest)


def test_customers_mix_of_segments_and_consent() -> None:
    latest: dict[int, dict[str, Any]] = {}
    for _, topic, _text, _, obj in parsed(20000):
        if topic == "shopify.customers" and isinstance(obj, dict) and "id" in obj:
            latest[obj["id"]] = obj
    pros = [c for c in latest.values() if c["default_address"]["company"]]
    wholesale = [c for c in pros if "wholesale" in c["tags"]]
    fans = [c for c in latest.values() if {"collector", "enthusiast"} & set(c["tags"].split(", "))]
    consenting = [
        c for c in latest.values() if c["email_marketing_consent"]["state"] == "subscribed"
    ]
    assert 0.06 <= len(pros) / len(latest) <= 0.2
    assert wholesale and fans
    assert 0.55 <= len(consenting) / len(latest) <= 0.8
    assert all(
        c["accepts_marketing"] == (c["email_marketing_consent"]["state"] == "subscribed")
        for c in latest.values()
    )


def test_inventory_levels_at_two_locations_with_extremes() -> None:
    latest: dict[tuple[int, int], int] = {}
    for _, topic, _text, _, obj in parsed(20000):
        if topic != "shopify.inventory_levels" or not isinstance(obj, dict):
            continue
        if "inventory_item_id" not in obj or as_qty(obj["available"]) is None:
            continue
        latest[(obj["inventory_item_id"], obj["location_id"])] = as_qty(obj["available"])
    assert len({loc for _, loc in latest}) == 2
    on_hand: Counter[int] = Counter()
    for (item, _), units in latest.items():
        on_hand[item] += units
    values = sorted(on_hand.values())
    assert values[0] <= 2  # someone is out of stock
    assert values[-1] > 20 * max(1, values[len(values) // 2])  # someone is heavily overstocked


# --- malformed facts -------------------------------------------------------------------------


def malformed_kinds(rows: tuple[Parsed, ...]) -> Counter[str]:
    """Classify messy facts independently of how the generator makes them."""
    kinds: Counter[str] = Counter()
    seen: set[tuple[str, str, str]] = set()
    newest_order: dict[int, dt.datetime] = {}
    for shop, topic, text, _, obj in rows:
        key = (shop, topic, text)
        if key in seen:
            kinds["duplicate"] += 1
            continue
        seen.add(key)
        if not isinstance(obj, dict):
            kinds["not_object"] += 1
            continue
        if topic == "shopify.orders":
            if "id" not in obj:
                kinds["order_missing_id"] += 1
            if obj.get("total_price", "") is None:
                kinds["null_total"] += 1
            elif isinstance(obj.get("total_price"), str) and as_money(obj["total_price"]) is None:
                kinds["total_not_number"] += 1
            if "currency" not in obj:
                kinds["currency_missing"] += 1
            elif obj["currency"] != "USD":
                kinds["currency_unknown"] += 1
            ts = as_ts(obj.get("updated_at"))
            if ts is None:
                kinds["bad_timestamp"] += 1
            for li in obj.get("line_items", []):
                if isinstance(li["quantity"], str):
                    kinds["quantity_as_string"] += 1
                elif li["quantity"] < 0:
                    kinds["negative_quantity"] += 1
            if ts is not None and "id" in obj:
                if obj["id"] in newest_order and ts < newest_order[obj["id"]]:
                    kinds["out_of_order"] += 1
                newest_order[obj["id"]] = max(ts, newest_order.get(obj["id"], ts))
        elif topic == "shopify.customers" and "id" not in obj:
            kinds["customer_missing_id"] += 1
        elif topic == "shopify.inventory_levels":
            if "inventory_item_id" not in obj:
                kinds["level_missing_item_id"] += 1
            available = obj["available"]
            if isinstance(available, str):
                kinds["available_as_string"] += 1
            elif available < 0:
                kinds["negative_available"] += 1
        elif topic == "shopify.inventory_items":
            cost = obj.get("cost")
            if isinstance(cost, str) and as_money(cost) is None:
                kinds["cost_not_number"] += 1
        elif topic == "shopify.products" and as_ts(obj.get("updated_at")) is None:
            kinds["bad_timestamp"] += 1
    return kinds


def test_every_malformed_kind_present_at_20000() -> None:
    kinds = malformed_kinds(parsed(20000))
    expected = {
        "duplicate",
        "not_object",
        "order_missing_id",
        "null_total",
        "total_not_number",
        "currency_missing",
        "currency_unknown",
        "bad_timestamp",
        "quantity_as_string",
        "negative_quantity",
        "out_of_order",
        "customer_missing_id",
        "level_missing_item_id",
        "available_as_string",
        "negative_available",
        "cost_not_number",
    }
    assert expected <= set(kinds), expected - set(kinds)
    # About 0.5 % of facts, not a flood: the rest of the stream must stay usable.
    assert sum(kinds.values()) < 0.02 * 20000


def test_bare_string_and_array_payloads_on_known_topics() -> None:
    shapes = {(r[1], type(r[4]).__name__) for r in parsed(20000)}
    assert ("shopify.orders", "list") in shapes
    assert ("shopify.customers", "str") in shapes


# --- shops -----------------------------------------------------------------------------------


SEO_TOPICS = ("search_console.search_analytics", "ga4.landing_pages")


def test_seo_rows_are_the_apis_with_their_dimensions_and_revised() -> None:
    """Search Console's rows (keys in the order of the dimensions, a day 3 days back, Pacific
    time) and GA4's (values positional to the headers, strings, yesterday), for both shops' own
    site and property, some fetched again; a few quarantined."""
    rows = parsed(20000, shops=2)
    keys: Counter = Counter()
    sites: dict[str, set[str]] = defaultdict(set)
    pages = set()
    for shop, topic, _text, created, obj in rows:
        if topic not in SEO_TOPICS or not isinstance(obj, dict):
            continue
        fetched = dt.datetime.fromisoformat(obj["fetched_at"])
        assert fetched <= created, obj
        row = obj["report_row"]
        if topic == "search_console.search_analytics":
            sites[shop].add(obj["site_url"])
            assert obj["dimensions"] == ["date", "page", "query", "device"]
            if len(row["keys"]) == 4 and row["clicks"] >= 0:
                day = dt.date.fromisoformat(row["keys"][0])
                assert 2 <= (created.date() - day).days <= 7, obj  # 3 days back, or re-fetched
                assert 0 <= row["clicks"] <= row["impressions"] and row["position"] >= 1
                pages.add(row["keys"][1])
            keys[(shop, tuple(row["keys"]))] += 1
        else:
            sites[shop].add(obj["property_id"])
            values = [v["value"] for v in row["metricValues"]]
            assert len(values) == len(obj["metric_headers"]) and all(
                isinstance(v, str) for v in values
            )
    assert len(sites) == 2 and not set.intersection(*sites.values())
    assert len(pages) > 50
    assert any(n > 1 for n in keys.values())  # revisions


SOCIAL_TOPICS = ("instagram.media", "instagram.media_insights")


def test_social_posts_are_the_apis_media_and_insights_refetched() -> None:
    """Each shop's Instagram media (the IG Media object unchanged in its wrapper: ids as strings
    of digits, some starting with 0, Instagram's `+0000` times) fetched three times with growing
    counts, and their insights (lifetime metrics) fetched twice and revised upward; a few
    quarantined."""
    rows = parsed(20000, shops=2)
    accounts: dict[str, set[str]] = defaultdict(set)
    likes: dict[tuple[str, str], list[int]] = defaultdict(list)
    reach: dict[tuple[str, str], list[int]] = defaultdict(list)
    posted: dict[str, list[dt.datetime]] = defaultdict(list)
    bad = 0
    for shop, topic, _text, created, obj in rows:
        if topic not in SOCIAL_TOPICS:
            continue
        fetched = dt.datetime.fromisoformat(obj["fetched_at"])
        assert fetched <= created, obj
        if topic == "instagram.media":
            media = obj["media"]
            assert isinstance(media["id"], str) and media["id"].isdigit(), media
            assert media["owner"]["id"] == obj["ig_user_id"]
            accounts[shop].add(obj["ig_user_id"])
            if media["like_count"] < 0 or "/" in media["timestamp"]:
                bad += 1
                continue
            stamp = dt.datetime.strptime(media["timestamp"], "%Y-%m-%dT%H:%M:%S%z")
            assert media["timestamp"].endswith("+0000") and stamp <= fetched, media
            assert media["media_type"] in ("IMAGE", "CAROUSEL_ALBUM", "VIDEO")
            assert media["media_product_type"] in ("FEED", "REELS")
            if (shop, media["id"]) not in likes:
                posted[shop].append(stamp)
            likes[(shop, media["id"])].append(media["like_count"])
        else:
            data = obj["insights"]["data"]
            if not isinstance(data, list) or data[0]["values"][0]["value"] == "n/a":
                bad += 1
                continue
            assert {m["period"] for m in data} == {"lifetime"}
            metrics = {m["name"]: m["values"][0]["value"] for m in data}
            reach[(shop, obj["media_id"])].append(metrics["reach"])
    assert len(accounts) == 2 and not set.intersection(*accounts.values())
    assert all(len(days) > 40 for days in posted.values())
    assert any(media_id.startswith("0") for _, media_id in likes)
    assert all(seen == sorted(seen) for seen in [*likes.values(), *reach.values()])
    assert sum(len(seen) == 3 and seen[0] < seen[2] for seen in likes.values()) > 50
    assert sum(len(seen) == 2 for seen in reach.values()) > 50
    assert bad > 0


def test_two_shops_interleave_with_disjoint_ids() -> None:
    rows = parsed(12000, shops=2)
    domains = Counter(r[0] for r in rows)
    assert set(domains) == {"hotrodan.myshopify.com", "hotrodan-2.myshopify.com"}
    assert domains["hotrodan-2.myshopify.com"] < domains["hotrodan.myshopify.com"]
    # Interleaved in time rather than one shop after the other.
    first_half = {r[0] for r in rows[: len(rows) // 2]}
    assert len(first_half) == 2
    ids: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for shop, topic, _, _, obj in rows:
        if isinstance(obj, dict) and isinstance(obj.get("id"), int):
            ids[topic][shop].add(obj["id"])
            if topic in ("shopify.orders", "shopify.products"):
                for nested in ("line_items", "variants"):
                    ids[nested][shop].update(x["id"] for x in obj.get(nested, []))
    for topic in (*KNOWN_TOPICS, "line_items", "variants"):
        if topic in ("shopify.inventory_levels", *SEO_TOPICS, *SOCIAL_TOPICS):
            continue  # levels and report rows have no id of their own, Instagram's are text
        a, b = ids[topic].values()
        if topic == "chatwoot.conversations":
            # A conversation's id is its number in its Chatwoot account: each shop's from 1
            # (staging keys on shop_domain too).
            assert min(a) == min(b) == 1, topic
            continue
        assert a and b and not a & b, topic
    # Each shop numbers its own orders from #1001.
    numbers: dict[str, set[int]] = defaultdict(set)
    for shop, topic, _, _, obj in rows:
        if topic == "shopify.orders" and well_formed_order(obj):
            numbers[shop].add(obj["order_number"])
    assert all(1001 in n for n in numbers.values()) and len(numbers) == 2
