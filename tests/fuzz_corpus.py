"""Hostile payloads: a seeded hypothesis corpus for the staging fuzz test and benchmark.

Every case starts from one of Shopify's own REST fixtures (tests/fixtures/shopify-rest) or one of
the support inbox's Chatwoot payloads (tests/fixtures/chatwoot) and breaks
it: wrong JSON types at the fields staging and the quarantine rules read (nested ones too), ids
and money at the edges of every numeric type, odd timestamps and zones, unicode and escapes, deep
nesting, whole payloads that are not objects, and many versions of one entity. A case is one to
four facts (the versions); some cases are of a topic staging ignores.

`generate_corpus(n, seed)` is deterministic: hypothesis draws each case from a fixed seed, with no
example database and no shrinking. The text of a fact is written by `to_json`, so number tokens
JSON allows but Python would round (1e400, -0, 1E-7) reach PostgreSQL exactly as written.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "shopify-rest"
GOOD_SHOP = "good.myshopify.com"
FUZZ_SHOPS = tuple(f"fuzz-{n}.myshopify.com" for n in range(5))
# The fixed "today" of both builds, so marts compare row for row.
AS_OF_DATE = "2025-06-30"
FIXTURE_OF_TOPIC = {
    "shopify.orders": "order",
    "shopify.refunds": "refund",
    "shopify.customers": "customer",
    "shopify.products": "product",
    "shopify.inventory_items": "inventory_item",
    "shopify.inventory_levels": "inventory_level",
    # The support inbox: a file of tests/fixtures/chatwoot, not wrapped in its name
    "chatwoot.conversations": "chatwoot/conversation_status_changed",
    "chatwoot.messages": "chatwoot/message_updated.csat",
}
STAGED_TOPICS = tuple(FIXTURE_OF_TOPIC)
IGNORED_TOPICS = ("shopify.checkouts", "shopify.line_items", "app.heartbeat", "SHOPIFY.ORDERS", "")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Raw:
    """A JSON text written as is: number tokens (1e400, -0), deep nesting, duplicate keys."""

    text: str


@dataclass(frozen=True)
class Delete:
    """Mutation marker: remove the key."""


DELETE = Delete()


def to_json(value: object, ascii_only: bool = False) -> str:
    """JSON text of a payload; Raw pieces go in verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (
            f"{to_json(str(k), ascii_only)}:{to_json(v, ascii_only)}" for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=False)


@cache
def fixture(name: str) -> dict:
    if name.startswith("chatwoot/"):
        return json.loads((FIXTURES_DIR.parent / f"{name}.json").read_text())
    return json.loads((FIXTURES_DIR / f"{name}.json").read_text())[name]


# Every field a staging model or a quarantine rule reads, per topic. An int is a position in an
# array (the first or the last element; a position past the end appends one).
FIELDS: dict[str, tuple[Path_, ...]] = {
    "shopify.orders": (
        ("id",),
        ("updated_at",),
        ("created_at",),
        ("processed_at",),
        ("cancelled_at",),
        ("cancel_reason",),
        ("total_price",),
        ("subtotal_price",),
        ("total_line_items_price",),
        ("total_discounts",),
        ("total_tax",),
        ("currency",),
        ("customer",),
        ("customer", "id"),
        ("email",),
        ("name",),
        ("order_number",),
        ("test",),
        ("financial_status",),
        ("fulfillment_status",),
        ("source_name",),
        ("discount_codes",),
        ("discount_codes", 0),
        ("discount_codes", 0, "code"),
        ("line_items",),
        ("line_items", 0),
        ("line_items", -1),
        ("line_items", 0, "id"),
        ("line_items", 0, "quantity"),
        ("line_items", -1, "quantity"),
        ("line_items", 0, "price"),
        ("line_items", -1, "price"),
        ("line_items", 0, "total_discount"),
        ("line_items", 0, "variant_id"),
        ("line_items", 0, "product_id"),
        ("line_items", 0, "sku"),
        ("line_items", 0, "title"),
        ("line_items", 0, "variant_title"),
        ("line_items", 9, "price"),
    ),
    "shopify.refunds": (
        ("id",),
        ("order_id",),
        ("created_at",),
        ("processed_at",),
        ("note",),
        ("restock",),
        ("refund_line_items",),
        ("refund_line_items", 0),
        ("refund_line_items", 0, "id"),
        ("refund_line_items", 0, "line_item_id"),
        ("refund_line_items", -1, "quantity"),
        ("refund_line_items", 0, "subtotal"),
        ("refund_line_items", 0, "total_tax"),
        ("refund_line_items", 0, "line_item"),
        ("refund_line_items", 0, "line_item", "price"),
        ("refund_line_items", 0, "line_item", "variant_id"),
        ("refund_line_items", 0, "line_item", "product_id"),
        ("transactions",),
        ("transactions", 0),
        ("transactions", 0, "amount"),
        ("transactions", 0, "kind"),
        ("transactions", 0, "status"),
    ),
    "shopify.customers": (
        ("id",),
        ("updated_at",),
        ("created_at",),
        ("email",),
        ("first_name",),
        ("last_name",),
        ("phone",),
        ("tags",),
        ("state",),
        ("accepts_marketing",),
        ("email_marketing_consent",),
        ("email_marketing_consent", "state"),
        ("default_address",),
        ("default_address", "phone"),
        ("default_address", "company"),
        ("default_address", "address1"),
        ("default_address", "city"),
        ("default_address", "province"),
        ("default_address", "country_code"),
        ("default_address", "zip"),
    ),
    "shopify.products": (
        ("id",),
        ("updated_at",),
        ("created_at",),
        ("published_at",),
        ("title",),
        ("handle",),
        ("product_type",),
        ("vendor",),
        ("status",),
        ("tags",),
        ("variants",),
        ("variants", 0),
        ("variants", -1),
        ("variants", 0, "id"),
        ("variants", -1, "id"),
        ("variants", 0, "price"),
        ("variants", 0, "compare_at_price"),
        ("variants", 0, "inventory_item_id"),
        ("variants", 0, "inventory_quantity"),
        ("variants", 0, "position"),
        ("variants", 0, "sku"),
        ("variants", 0, "title"),
        ("variants", 0, "created_at"),
        ("variants", 0, "updated_at"),
    ),
    "shopify.inventory_items": (
        ("id",),
        ("updated_at",),
        ("created_at",),
        ("sku",),
        ("cost",),
        ("tracked",),
    ),
    "shopify.inventory_levels": (
        ("inventory_item_id",),
        ("location_id",),
        ("updated_at",),
        ("available",),
    ),
    "chatwoot.conversations": (
        ("id",),
        ("updated_at",),
        ("created_at",),
        ("account_id",),
        ("account",),
        ("account", "id"),
        ("inbox_id",),
        ("channel",),
        ("status",),
        ("priority",),
        ("meta",),
        ("meta", "assignee"),
        ("meta", "assignee", "id"),
        ("meta", "team", "id"),
        ("meta", "sender", "id"),
        ("first_reply_created_at",),
        ("waiting_since",),
        ("last_activity_at",),
        ("snoozed_until",),
        ("event",),
    ),
    "chatwoot.messages": (
        ("id",),
        ("created_at",),
        ("conversation",),
        ("conversation", "id"),
        ("conversation", "display_id"),
        ("account", "id"),
        ("inbox",),
        ("inbox", "id"),
        ("message_type",),
        ("content_type",),
        ("content_attributes",),
        ("content_attributes", "submitted_values"),
        ("content_attributes", "submitted_values", "csat_survey_response"),
        ("content_attributes", "submitted_values", "csat_survey_response", "rating"),
        ("private",),
        ("sender",),
        ("sender", "type"),
        ("sender", "id"),
        ("event",),
    ),
}

# The entity key of each topic: versions of one case share it.
KEYS = {topic: ("id",) for topic in STAGED_TOPICS}
KEYS["shopify.inventory_levels"] = ("inventory_item_id", "location_id")

INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------------------------------------
# Values


def _deep(depth: int, inner: str = "1") -> Raw:
    return Raw("[" * depth + inner + "]" * depth)


TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40
)
ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\t\n\r",
        "🏎️🔥",
        "👨‍👩‍👧‍👦",
        "\u202eevil\u202c",
        "مرحبا بالعالم",
        "שלום",
        "e" + "\u0301" * 64,
        "\u200b",
        "\ufeff",
        "\U0010ffff",
        "\x01\x1f\x7f",
        "\\u0000",  # a backslash and 'u0000': text, which jsonb stores
        "\\",
        '"',
        "'; drop table facts; --",
        "%s %% {{ var('x') }}",
        "null",
        "NULL",
        "true",
        "a,b,,  ,C,c",
    ]
)
SPECIAL = st.sampled_from(
    [
        None,
        True,
        False,
        "",
        0,
        -1,
        [],
        {},
        [None],
        {"id": 1},
        Raw("-0"),
        Raw("-0.0"),
        Raw("1e400"),
        Raw("-1e400"),
        Raw("1e-400"),
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1e400",
        _deep(64),
        _deep(2000),
        Raw('{"a":' * 300 + "1" + "}" * 300),
    ]
)
IDS = st.one_of(
    st.sampled_from(
        [
            INT64_MAX,
            INT64_MAX + 1,
            -INT64_MAX,
            -INT64_MAX - 1,
            -INT64_MAX - 2,
            10**18 - 1,
            10**18,
            -(10**18) + 1,
            2**64,
            10**40,
            0,
            -1,
            Raw("1e2"),
            Raw("1E2"),
            Raw("1.0"),
            Raw("1.5"),
            Raw("-0"),
            Raw("123456789012345678901234567890"),
            Raw("1e18"),
            Raw("9.223372036854775807e18"),
            "1e2",
            "1.5",
            "0x10",
            " 42 ",
            "+42",
            "-0",
            "42.000",
            "42\u2003",
            "\u200342",
            "\u00a042",
            "٤٢",
            "４２",
            "42abc",
            "9223372036854775807",
            "9223372036854775808",
            "999999999999999999",
            "-999999999999999999",
            "gid://shopify/Order/450789469",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=1, max_value=5),  # small ids collide across cases: more versions
)
MONEY = st.one_of(
    st.sampled_from(
        [
            "409.94",
            Raw("409.94"),
            "0.00",
            "-0.00",
            "-0",
            Raw("-0"),
            Raw("1E-7"),
            "1E-7",
            Raw("1e2"),
            "+5",
            ".5",
            "5.",
            " 5 ",
            "5\u2003",
            "\u20035",
            "5\u00a0",
            "\u30005",
            "5\u2028",
            "1,000.00",
            "$5.00",
            "5 USD",
            "٥",
            "999999999999999.99",
            "1000000000000000",
            "99999999999999999999.99",
            "9" * 1000,
            "9" * 140_000,
            "0." + "0" * 20_000 + "1",
            "1" + "0" * 131_072,
            Raw("9e131071"),
            Raw("1e131071"),
            Raw("1e-16383"),
            Raw("1e15"),
            Raw("1e16"),
            Raw("123456789.123456789123456789"),
            -5,
            "-409.94",
        ]
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**80), max_value=2**80),
)
COUNTS = st.one_of(
    st.sampled_from(
        [
            -1,
            0,
            2**31 - 1,
            2**31,
            -(2**31),
            -(2**31) - 1,
            INT64_MAX,
            INT64_MAX + 1,
            "2",
            "2.0",
            "2.5",
            "-0",
            Raw("2e0"),
            Raw("1e2"),
            Raw("1e10"),
            Raw("-0"),
            "２",
            " 2\u2003",
        ]
    ),
    st.integers(min_value=-(2**40), max_value=2**40),
)
ODD_TIMESTAMPS = st.sampled_from(
    [
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-12-31T23:59:60Z",
        "2016-12-31T23:59:60+00:00",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00-12:00",
        "0000-01-01T00:00:00Z",
        "2024-01-01T10:00:00+14:00",
        "2024-01-01T10:00:00-12:00",
        "2024-01-01T10:00:00+15:59",
        "2024-01-01T10:00:00+16:00",
        "2024-01-01T10:00:00-16:00",
        "2024-01-01T10:00:00+23:59",
        "2024-01-01T10:00:00-2359",
        "2024-01-01T10:00:00+19",
        "2024-01-01T10:00:00+05:30:15",
        "2024-01-01 10:00:00",
        "2024-01-01t10:00:00Z",
        "2024-01-01T10:00:00z",
        "2024-01-01T10:00:00.123456789Z",
        "2024-01-01T10:00:00.999999999Z",
        "2024-01-01T10:00:00." + "9" * 40 + "Z",
        "2024-01-01T10:00Z",
        "2024-01-01Z",
        "2024-01-01+05",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:00:00 America/New_York",
        "20240101T100000Z",
        "2024-W01-1",
        "2024-001",
        "2024-1-1",
        "+002024-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "٢٠٢٤-٠١-٠١T00:00:00Z",
        "２０２４-01-01T00:00:00Z",
        "yesterday",
        "today",
        "now",
        "epoch",
        "infinity",
        "-infinity",
        "allballs",
        "1700000000",
        1700000000,
        Raw("1.7e9"),
    ]
)


TIMESTAMP_PARTS = ("year", "month", "day", "sep", "hour", "minute", "second", "fraction", "zone")


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """A valid ISO 8601 timestamp with at most one part at or past its edge: a timestamp that
    looks right but is not one reaches staging's casts with the rest of a good payload."""
    edge = draw(st.sampled_from((None, *TIMESTAMP_PARTS)))

    def part(name: str, valid: st.SearchStrategy, edges: st.SearchStrategy) -> object:
        return draw(edges if edge == name else valid)

    year = part("year", st.integers(1990, 2030), st.sampled_from([0, 1, 1900, 2000, 9999, 10000]))
    month = part("month", st.integers(1, 12), st.sampled_from([0, 2, 13]))
    day = part("day", st.integers(1, 28), st.sampled_from([0, 29, 30, 31, 32]))
    sep = part("sep", st.sampled_from(["T", " "]), st.sampled_from(["t", "", "_", "TT"]))
    hour = part("hour", st.integers(0, 23), st.sampled_from([24, 25, 99]))
    minute = part("minute", st.integers(0, 59), st.sampled_from([60, 61]))
    second = part("second", st.integers(0, 59), st.sampled_from([60, 61]))
    digits = part("fraction", st.integers(0, 6), st.sampled_from([7, 9, 12, 40]))
    fraction = "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits))
    )
    sign = draw(st.sampled_from("+-"))
    hours = part("zone", st.integers(0, 14), st.integers(15, 25))
    minutes = draw(st.sampled_from([0, 30, 45, 59]))
    zone = draw(st.sampled_from(["Z", "", f"{sign}{hours:02d}:{minutes:02d}"]))
    if edge == "zone":
        zone = draw(
            st.sampled_from(
                [
                    f"{sign}{hours:02d}:{minutes:02d}",
                    f"{sign}{hours:02d}{minutes:02d}",
                    f"{sign}{hours:02d}",
                    f"{sign}{hours}",
                    "z",
                    f"{sign}{hours:02d}:{minutes:02d}:00",
                ]
            )
        )
    time_part = f"{sep}{hour:02d}:{minute:02d}:{second:02d}" + (f".{fraction}" if digits else "")
    return f"{year:04d}-{month:02d}-{day:02d}{time_part}{zone}"


# Unix seconds as Chatwoot writes a conversation's times, and their edges.
UNIX_TIMES = st.one_of(
    st.integers(-(2**31), 2**41),
    st.floats(min_value=0, max_value=2e10, allow_nan=False),
    st.sampled_from(
        [
            0,
            1714557600.123456,
            Raw("1714557600.0000005"),
            Raw("9999999999.9999999"),
            Raw("10000000000"),
            Raw("1e9"),
            Raw("1.7145576E9"),
            Raw("-0"),
            "1714557600",
            " 1714557600",
            "2020-03-03 13:05:57 UTC",
            "2020-03-03 13:05:57.5 UTC",
            "2020-03-03T13:05:57Z UTC",
            "9999-12-31 23:59:59 UTC",
        ]
    ),
)
CHATWOOT_TIMES = st.one_of(timestamps(), ODD_TIMESTAMPS, UNIX_TIMES)
RATINGS = st.one_of(st.integers(-2, 7), st.sampled_from([4.0, 4.5, "5", " 3", Raw("1e0"), 2**31]))

VALUES_BY_FIELD = {
    "id": IDS,
    "order_id": IDS,
    "line_item_id": IDS,
    "variant_id": IDS,
    "product_id": IDS,
    "inventory_item_id": IDS,
    "location_id": IDS,
    "order_number": IDS,
    "price": MONEY,
    "total_price": MONEY,
    "subtotal_price": MONEY,
    "total_line_items_price": MONEY,
    "total_discounts": MONEY,
    "total_discount": MONEY,
    "total_tax": MONEY,
    "subtotal": MONEY,
    "amount": MONEY,
    "cost": MONEY,
    "compare_at_price": MONEY,
    "quantity": COUNTS,
    "available": COUNTS,
    "inventory_quantity": COUNTS,
    "position": COUNTS,
    "created_at": CHATWOOT_TIMES,
    "updated_at": CHATWOOT_TIMES,
    "first_reply_created_at": CHATWOOT_TIMES,
    "waiting_since": CHATWOOT_TIMES,
    "last_activity_at": CHATWOOT_TIMES,
    "snoozed_until": CHATWOOT_TIMES,
    "display_id": IDS,
    "inbox_id": IDS,
    "account_id": IDS,
    "rating": RATINGS,
    "private": st.sampled_from([True, False, "true", "FALSE", "yes", 1, 0]),
    "status": st.sampled_from(["open", "resolved", "pending", "snoozed", "archived", "", "OPEN"]),
    "message_type": st.sampled_from(
        ["incoming", "outgoing", "activity", "template", 0, 1, "reaction", ""]
    ),
    "processed_at": st.one_of(timestamps(), ODD_TIMESTAMPS),
    "cancelled_at": st.one_of(timestamps(), ODD_TIMESTAMPS),
    "published_at": st.one_of(timestamps(), ODD_TIMESTAMPS),
    "currency": st.sampled_from(["USD", "usd", "EUR", "XYZ", " USD", "USD ", "", "🇺🇸", "US$"]),
}


def value_for(field: str | int, deletable: bool = True) -> st.SearchStrategy[object]:
    """Values for one field: its own edge cases, any other type, odd text, or no key at all."""
    own = VALUES_BY_FIELD.get(field) if isinstance(field, str) else None
    anything = st.one_of(SPECIAL, TEXT, ODD_TEXT, IDS, MONEY, ODD_TIMESTAMPS)
    values = anything if own is None else st.one_of(own, own, anything)
    return st.one_of(values, st.just(DELETE)) if deletable else values


# ---------------------------------------------------------------------------------------------
# Mutations


def _set(payload: object, path: Path_, value: object) -> object:
    """payload with path set to value (DELETE removes it); missing containers are created."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(payload) if isinstance(payload, list) else []
        if head < 0:
            head += len(items)
        if not 0 <= head < len(items):
            items.append({} if rest and isinstance(rest[0], str) else None)
            head = len(items) - 1
        if value is DELETE and not rest:
            del items[head]
        else:
            items[head] = _set(items[head], rest, value)
        return items
    obj = dict(payload) if isinstance(payload, dict) else {}
    if value is DELETE and not rest:
        obj.pop(head, None)
    else:
        obj[head] = _set(obj.get(head), rest, value)
    return obj


@dataclass(frozen=True)
class Fact:
    shop_domain: str
    topic: str
    value: str  # the JSON text as stored


@dataclass(frozen=True)
class Case:
    """One entity's versions, as the app would store them."""

    kind: str  # what was done to it, for reports
    facts: tuple[Fact, ...]


@st.composite
def mutated_payload(draw: st.DrawFn, topic: str) -> tuple[str, object]:
    payload: object = copy.deepcopy(fixture(FIXTURE_OF_TOPIC[topic]))
    kind = draw(st.sampled_from(["one", "one", "one", "fields", "fields", "whole", "key"]))
    if kind == "whole":  # not an object at all, or nothing in it
        whole = draw(
            st.sampled_from(
                [None, [], [payload], "payload", 42, True, Raw("1e400"), {}, _deep(3000, "{}")]
            )
        )
        return kind, whole
    if kind == "key":  # only the entity key is hostile
        key = draw(st.sampled_from(KEYS[topic]))
        return kind, _set(payload, (key,), draw(value_for(key)))
    if kind == "one":  # one field, usually a value of its own kind: the rest stays good
        path = draw(st.sampled_from(FIELDS[topic]))
        own = VALUES_BY_FIELD.get(path[-1]) if isinstance(path[-1], str) else None
        value = draw(
            value_for(path[-1]) if own is None else st.one_of(own, own, own, value_for(path[-1]))
        )
        return "one:" + ".".join(map(str, path)), _set(payload, path, value)
    paths = draw(st.lists(st.sampled_from(FIELDS[topic]), min_size=1, max_size=4, unique=True))
    for path in paths:
        field = path[-1]
        payload = _set(payload, path, draw(value_for(field)))
    return "fields:" + ",".join(".".join(map(str, p)) for p in paths), payload


@st.composite
def cases(draw: st.DrawFn) -> Case:
    shop = draw(st.sampled_from(FUZZ_SHOPS))
    if draw(st.integers(0, 19)) == 0:  # a topic staging ignores: kept, never judged
        topic = draw(st.sampled_from(IGNORED_TOPICS))
        payload = draw(st.one_of(st.just(fixture("order")), SPECIAL, TEXT))
        return Case("ignored", (Fact(shop, topic, to_json(payload)),))
    topic = draw(st.sampled_from(STAGED_TOPICS))
    kind, payload = draw(mutated_payload(topic))
    versions = [payload]
    # Many versions of one entity: the same updated_at, or others, in any order.
    for _ in range(draw(st.integers(0, 3))):
        other = payload
        for path in draw(st.lists(st.sampled_from(FIELDS[topic]), max_size=2)):
            other = _set(other, path, draw(value_for(path[-1])))
        versions.append(other)
    texts = []
    for version in versions:
        text = to_json(version, ascii_only=draw(st.booleans()))
        if isinstance(version, dict) and draw(st.integers(0, 9)) == 0:
            # a duplicate key: jsonb keeps the last one
            key = draw(st.sampled_from(KEYS[topic]))
            text = (
                "{"
                + to_json(key)
                + ":"
                + to_json(draw(value_for(key, deletable=False)))
                + ","
                + text[1:]
            )
            if text.endswith(",}"):
                text = text[:-2] + "}"
        texts.append(text)
    return Case(kind, tuple(Fact(shop, topic, text) for text in texts))


def _draw_corpus(n: int, seed: int) -> list[Case]:
    drawn: list[Case] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def collect(case: Case) -> None:
        drawn.append(case)

    collect()
    return drawn


def generate_corpus(n: int, seed: int = 20_251_124) -> list[Case]:
    """n cases, the same ones for the same (n, seed) and the same version of this module.

    Hypothesis draws them from a fixed seed, with no example database and no shrinking, in a
    process of its own: hypothesis mixes literals of the project modules already imported
    (runner/, scripts/) into its draws, so a caller that imported other modules would get
    other cases.
    """
    project = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(project), "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_corpus", str(n), str(seed)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"drawing the fuzz corpus failed:\n{done.stderr[-3000:]}")
    corpus = []
    for line in done.stdout.splitlines():
        kind, facts = json.loads(line)
        corpus.append(Case(kind, tuple(Fact(*fact) for fact in facts)))
    return corpus


# ---------------------------------------------------------------------------------------------
# The good shop: a fixed set of facts whose marts must not change


def _recent_order(order_id: int, day: int, **changes: object) -> dict:
    payload = copy.deepcopy(fixture("order"))
    stamp = f"2025-06-{day:02d}T10:00:00-04:00"
    payload.update(id=order_id, created_at=stamp, updated_at=stamp, processed_at=stamp)
    payload.update(changes)
    return payload


def good_facts() -> list[Fact]:
    """Shopify's fixtures plus a few recent orders and versions, in the good shop."""
    payloads: list[tuple[str, object]] = [
        (topic, fixture(name)) for topic, name in FIXTURE_OF_TOPIC.items()
    ]
    payloads += [
        ("shopify.orders", _recent_order(1001, 2)),
        ("shopify.orders", _recent_order(1002, 12, financial_status="paid")),
        ("shopify.orders", _recent_order(1002, 13, financial_status="refunded")),
        ("shopify.orders", _recent_order(1003, 20, cancelled_at="2025-06-21T10:00:00Z")),
        ("shopify.orders", _recent_order(1004, 25, test=True)),
        (
            "shopify.inventory_items",
            {**fixture("inventory_item"), "cost": "25.00", "updated_at": "2025-01-01T00:00:00Z"},
        ),
        (
            "shopify.inventory_levels",
            {**fixture("inventory_level"), "available": 40, "updated_at": "2025-01-01T00:00:00Z"},
        ),
    ]
    return [Fact(GOOD_SHOP, topic, to_json(payload)) for topic, payload in payloads]


STORED_AT = dt.datetime(2025, 6, 29, 12, tzinfo=dt.UTC)


def fact_rows(facts: list[Fact]) -> Iterator[tuple[str, str, str, dt.datetime]]:
    """Rows for runner.facts.copy_facts, all stored at one fixed time."""
    for fact in facts:
        yield (fact.shop_domain, fact.topic, fact.value, STORED_AT)


# ---------------------------------------------------------------------------------------------
# The oracle: one build of the good shop next to the corpus, one of the good shop alone


@dataclass
class FuzzReport:
    cases: int
    facts: int
    staged: int
    quarantined: int
    ignored: int
    lost: list[int]  # fact ids neither staged, quarantined nor ignored
    blank_reasons: int  # quarantined without a reason
    bad_numbers: list[str]  # "table.column: n" for NaN or infinite staged numbers
    wide_ids: list[str]  # staged id columns that are not bigint
    marts_differ: list[str]  # marts whose good-shop rows differ from the good shop built alone
    good_mart_rows: dict[str, int]  # rows of the good shop per mart (the comparison is not empty)
    build_seconds: float

    @property
    def good_marts_unchanged(self) -> bool:
        return not self.marts_differ


class BuildFailed(AssertionError):
    """A build of the corpus failed: the message names each failed node and its error."""


BUILD_VARS = f"{{as_of_date: '{AS_OF_DATE}'}}"

# A fact of a staged topic that is not quarantined is staged when its entity is in its model.
# The key is compared as a number, read with a cast that cannot raise on any payload.
_KEY_SQL = (
    r"case when f.value->>'{key}' ~ '^[ \t\n\r\f\v]*[+-]?[0-9]{{1,30}}(\.0*)?[ \t\n\r\f\v]*$'"
    r" then (f.value->>'{key}')::numeric end"
)
STAGED_SQL = """
select count(*) from facts f
where f.topic = any(%(topics)s)
  and not exists (select 1 from ops.facts_quarantine q where q.fact_id = f.id)
  and case f.topic
    when 'shopify.orders' then exists (select 1 from staging.stg_shopify__orders s
        where s.shop_domain = f.shop_domain and s.order_id = {id})
    when 'shopify.refunds' then exists (select 1 from staging.stg_shopify__refunds s
        where s.shop_domain = f.shop_domain and s.refund_id = {id})
    when 'shopify.customers' then exists (select 1 from staging.stg_shopify__customers s
        where s.shop_domain = f.shop_domain and s.customer_id = {id})
    when 'shopify.products' then exists (select 1 from staging.stg_shopify__products s
        where s.shop_domain = f.shop_domain and s.product_id = {id})
    when 'shopify.inventory_items' then exists (
        select 1 from staging.stg_shopify__inventory_items s
        where s.shop_domain = f.shop_domain and s.inventory_item_id = {id})
    when 'shopify.inventory_levels' then exists (
        select 1 from staging.stg_shopify__inventory_levels s
        where s.shop_domain = f.shop_domain
          and s.inventory_item_id = {inventory_item_id}
          and s.location_id = {location_id})
    when 'chatwoot.conversations' then exists (
        select 1 from staging.stg_chatwoot__conversations s
        where s.shop_domain = f.shop_domain and s.conversation_id = {id})
    when 'chatwoot.messages' then exists (select 1 from staging.stg_chatwoot__messages s
        where s.shop_domain = f.shop_domain and s.message_id = {id})
    else false
  end
""".format(**{key: _KEY_SQL.format(key=key) for key in ("id", "inventory_item_id", "location_id")})
# Neither quarantined nor ignored: the facts that must be staged (the ids to report if not).
UNQUARANTINED_SQL = """
select f.id from facts f
where f.topic = any(%(topics)s)
  and not exists (select 1 from ops.facts_quarantine q where q.fact_id = f.id)
order by f.id
"""


def _interleave(good: list[Fact], fuzz: list[Fact]) -> list[Fact]:
    """The good facts spread evenly among the fuzzed ones, so their ids interleave."""
    if not fuzz:
        return list(good)
    step = max(1, len(fuzz) // (len(good) + 1))
    out: list[Fact] = []
    remaining = list(good)
    for i, fact in enumerate(fuzz):
        if remaining and i % step == 0:
            out.append(remaining.pop(0))
        out.append(fact)
    return out + remaining


def _load(target, facts: list[Fact]) -> None:
    from runner import db
    from runner.facts import copy_facts

    with db.connect(target) as conn, conn.transaction():
        copy_facts(conn, fact_rows(facts))


def _build(target) -> float:
    """`hotdash build` through the runner library, contracts skipped (the gate counts shares of
    bad payloads and would stop a corpus that is mostly bad by design: contracts/README.md)."""
    import time

    from runner.errors import HotdashError
    from runner.pipeline import BuildOptions, build, build_report

    start = time.monotonic()
    try:
        build(target, BuildOptions(skip_contracts=True, vars=BUILD_VARS))
    except HotdashError as exc:
        report = build_report(exc)
        failed = [
            f"{node.name}: {(node.message or '').strip()[:500]}"
            for node in (report.nodes if report else [])
            if node.status in ("error", "fail")
        ]
        raise BuildFailed("\n".join([exc.message, *failed])) from exc
    return time.monotonic() - start


def _base_tables(conn, schema: str, excluding: Sequence[str] = ()) -> list[str]:
    """The tables (not views) of `schema` but `excluding`, by name."""
    return [
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables"
            " where table_schema = %s and table_type = 'BASE TABLE'"
            " and table_name <> all(%s) order by table_name",
            (schema, list(excluding)),
        ).fetchall()
    ]


def _mart_rows(target, shop: str) -> dict[str, list[tuple]]:
    from runner import db, settings

    with db.connect(target) as conn:
        # the records of what builds found (alerts, snapshots) are not built from facts, and the
        # monitoring views show the builds, not the facts
        tables = _base_tables(conn, "marts", excluding=settings.BUILD_RECORDS)
        return {
            table: sorted(
                conn.execute(
                    f"select * from marts.{table} where shop_domain = %s", (shop,)
                ).fetchall(),
                key=repr,
            )
            for table in tables
        }


def _bad_numbers(target) -> list[str]:
    """Staged numeric or float columns holding NaN or an infinity."""
    from runner import db

    found = []
    with db.connect(target) as conn:
        columns = conn.execute(
            "select table_name, column_name from information_schema.columns"
            " where table_schema = 'staging'"
            " and data_type in ('numeric', 'double precision', 'real')"
            " order by table_name, column_name"
        ).fetchall()
        for table, column in columns:
            (count,) = conn.execute(
                f"select count(*) from staging.{table}"
                f" where {column}::text in ('NaN', 'Infinity', '-Infinity')"
            ).fetchone()
            if count:
                found.append(f"{table}.{column}: {count}")
    return found


# The staged ids that are text on purpose, the one exception to the bigint ids: Instagram's ids
# are strings of digits that may start with 0 ("0761..." and "761..." are two media), which a
# number would merge (README "The facts source"); their staging models key on a bigint hash of
# the text (media_key).
TEXT_IDS = (
    "stg_instagram__media.media_id",
    "stg_instagram__media.ig_user_id",
    "stg_instagram__media_insights.media_id",
)


def _wide_ids(target) -> list[str]:
    """Staged id columns that are not bigint (a bigint column holds no id outside its range),
    but TEXT_IDS, which are text."""
    from runner import db

    with db.connect(target) as conn:
        rows = conn.execute(
            "select table_name || '.' || column_name || ': ' || data_type"
            " from information_schema.columns where table_schema = 'staging'"
            " and column_name like '%%\\_id' and data_type <> 'bigint'"
            " and not (table_name || '.' || column_name = any(%(text_ids)s) and data_type = 'text')"
            " order by 1",
            {"text_ids": list(TEXT_IDS)},
        ).fetchall()
    return [row[0] for row in rows]


def check_corpus(fuzz_target, good_target, cases_: list[Case]) -> FuzzReport:
    """Load the corpus next to the good facts, build once; build the good facts alone; count."""
    from runner import db

    fuzz = [fact for case in cases_ for fact in case.facts]
    good = good_facts()
    _load(fuzz_target, _interleave(good, fuzz))
    _load(good_target, good)
    seconds = _build(fuzz_target)
    _build(good_target)

    with db.connect(fuzz_target) as conn:
        topics = {"topics": list(STAGED_TOPICS)}
        (facts,) = conn.execute("select count(*) from facts").fetchone()
        (ignored,) = conn.execute(
            "select count(*) from facts where topic <> all(%(topics)s)", topics
        ).fetchone()
        (quarantined,) = conn.execute("select count(*) from ops.facts_quarantine").fetchone()
        (blank,) = conn.execute(
            "select count(*) from ops.facts_quarantine where coalesce(btrim(reason), '') = ''"
        ).fetchone()
        (staged,) = conn.execute(STAGED_SQL, topics).fetchone()
        lost: list[int] = []
        if staged + quarantined + ignored != facts:
            candidates = [row[0] for row in conn.execute(UNQUARANTINED_SQL, topics).fetchall()]
            staged_ids = {
                row[0]
                for row in conn.execute(
                    STAGED_SQL.replace("select count(*)", "select f.id"), topics
                ).fetchall()
            }
            lost = [fact_id for fact_id in candidates if fact_id not in staged_ids]

    with_fuzz, alone = _mart_rows(fuzz_target, GOOD_SHOP), _mart_rows(good_target, GOOD_SHOP)
    differ = sorted(
        table
        for table in with_fuzz.keys() | alone.keys()
        if with_fuzz.get(table) != alone.get(table)
    )
    return FuzzReport(
        cases=len(cases_),
        facts=facts,
        staged=staged,
        quarantined=quarantined,
        ignored=ignored,
        lost=lost,
        blank_reasons=blank,
        bad_numbers=_bad_numbers(fuzz_target),
        wide_ids=_wide_ids(fuzz_target),
        marts_differ=differ,
        good_mart_rows={table: len(rows) for table, rows in alone.items()},
        build_seconds=seconds,
    )


def check_nights(nightly_target, once_target, cases_: list[Case], nights: int) -> list[str]:
    """The corpus and the good facts arrive over `nights` nights, each built incrementally in
    `nightly_target` (an entity's versions on different nights, out of order); all of them are
    built at once, in the same order, in `once_target`. The relations whose rows differ: every staging
    table and the quarantine (batch numbers aside: helpers.table_rows), and every mart of every
    shop."""
    from runner import db
    from tests.pytest.helpers import table_rows

    # The k-th version of case i arrives on night (i + k) mod nights: a case's versions fall on
    # different nights, a later one sometimes first. The good shop's facts go round the nights
    # backwards, so its order's later version (paid, then refunded) arrives first.
    arrivals: list[list[Fact]] = [[] for _ in range(nights)]
    for i, case in enumerate(cases_):
        for k, fact in enumerate(case.facts):
            arrivals[(i + k) % nights].append(fact)
    good = good_facts()
    arrivals = [
        _interleave(good[nights - 1 - night :: nights], arriving)
        for night, arriving in enumerate(arrivals)
    ]
    for arriving in arrivals:
        _load(nightly_target, arriving)
        _build(nightly_target)
    _load(once_target, [fact for arriving in arrivals for fact in arriving])
    _build(once_target)

    with db.connect(once_target) as conn:
        tables = [f"staging.{name}" for name in _base_tables(conn, "staging")]
    tables.append("ops.facts_quarantine")
    differ = [
        table
        for table in tables
        if table_rows(nightly_target, table) != table_rows(once_target, table)
    ]
    for shop in (GOOD_SHOP, *FUZZ_SHOPS):
        nightly, once = _mart_rows(nightly_target, shop), _mart_rows(once_target, shop)
        differ += [
            f"marts.{table} ({shop})"
            for table in sorted(nightly.keys() | once.keys())
            if nightly.get(table) != once.get(table)
        ]
    return differ


if __name__ == "__main__":  # generate_corpus's own process: one case per line on stdout
    for case in _draw_corpus(int(sys.argv[1]), int(sys.argv[2])):
        kind_and_facts = [case.kind, [[f.shop_domain, f.topic, f.value] for f in case.facts]]
        sys.stdout.write(json.dumps(kind_and_facts, ensure_ascii=True) + "\n")
