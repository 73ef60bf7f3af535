"""The plain SQL floor: the dbt build's tables, computed from the facts table by plain SQL.

It builds the staging tables (Shopify's and the support inbox's), the judge's verdicts (facts_triage), the intermediate tables and
the marts by the models' rules, at the var defaults of dbt_project.yml, in schemas
<prefix>staging, <prefix>ops, <prefix>intermediate and <prefix>marts of one database, and prints
when each step started, its seconds and the total. The dbt build is measured against it: the same
rules and rows, none of dbt's bookkeeping (batches, cursors, warnings, tests, indexes, grants).

    python scripts/plain_sql.py --database NAME [--schema-prefix plain_] \\
        [--as-of-date YYYY-MM-DD] [--jobs 2] [--compare]

--compare then checks every table row for row against the one dbt built in the same database
(give dbt the same as-of date: --vars '{as_of_date: "YYYY-MM-DD"}') and exits 1 naming those
that differ. From Python: run(target, ...) returns the seconds of each step, compare(target, ...)
the tables that differ.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import psycopg.conninfo

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from runner import settings  # noqa: E402

# How it is fast:
# - judge: one pass over facts per slice of ids (one slice per connection) reads each payload
#   once (jsonb_to_record of the fields the rules read) and applies its topic's rules in one CASE,
#   first failing rule first, each check at most once; it writes facts_triage, with each good
#   fact's key and version time;
# - stage: one statement per topic (orders in parts by key hash, one per connection) sorts only
#   the good facts' keys and version times, keeps the latest version of each entity, reads the
#   winners' payloads again, casts them to the model's columns and writes the model and its child
#   model;
# - intermediate tables and marts: the models' own SQL, as `dbt compile` renders it before the
#   clock starts (compiled_models), as CREATE TABLE AS (CREATE VIEW for a model dbt builds as a
#   view);
# - every step runs on one of --jobs connections as soon as the steps it reads from are done;
# - the rules' checks are the macros' own, written to cost less where that is exact: open
#   regexes with digit counts for is_numeric_text and is_integer_text, string tests for the
#   dates a timestamp's regex cannot rule out, and the judge's LIKE, translate and
#   pg_input_is_valid for a timestamp in Shopify's shape (is_shopify_timestamp_text).
# - no correlated subquery (PostgreSQL runs one row by row): the rules judge the items of an
#   array field with the judge's plpgsql functions (judge_functions, created at setup in the ops
#   schema), called only when the rules before passed; a Search Console dimension or a GA4
#   header is found by a CASE over its positions; the Instagram metrics are pivoted by one
#   lateral pass over a winner's insights.

# The indexes the compiled models read through, by model: int_shopify__variant_sales reads each
# variant's order lines of its window, and its last sale, through this one.
READ_THROUGH = {"int_shopify__order_lines": ("shop_domain, variant_id, order_date",)}

# The dbt_project.yml var defaults the staging rules read (the compiled intermediate and mart
# SQL carries the others).
KNOWN_CURRENCIES = ("USD",)
REPORTING_TIMEZONE = "UTC"
# The staged topics, from the registry (var topics); each has its steps in TOPICS below.
STAGED_TOPICS = tuple(settings.project_vars(PROJECT_DIR)["topics"])

# ---------------------------------------------------------------------------------------------
# The checks and casts of macros/json.sql, as SQL text.

_BLANK = r"[ \t\n\r\f\v]"
_BLANK_CHARS = "(' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))"
_DECIMAL_RE = rf"'^{_BLANK}*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+){_BLANK}*$'"
_INTEGER_RE = rf"'^{_BLANK}*[+-]?[0-9]+(\.0*)?{_BLANK}*$'"
_TIMESTAMP_RE = (
    r"'^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?)?"
    r"(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)?$'"
)


def is_decimal(x: str) -> str:
    """A decimal number in any range (is_decimal_text)."""
    return f"coalesce(({x}) ~ {_DECIMAL_RE}, false)"


def is_numeric(x: str) -> str:
    """is_numeric_text: at most 15 digits before and after the point, leading and trailing zeros
    aside. The shape is matched by an open regex and the digits counted apart: the same strings
    as '^ *[+-]?0*([0-9]{1,15}(\\.[0-9]{0,15}0*)?|\\.[0-9]{1,15}0*) *$', at a fraction of the cost.
    Digits and at most one point within 15 bytes are found with translate first, as the macro does."""
    int_part = f"translate(split_part({x}, '.', 1), {_BLANK_CHARS} || '+-', '')"
    fraction = f"translate(split_part({x}, '.', 2), {_BLANK_CHARS}, '')"
    return (
        f"case when octet_length({x}) <= 15 and translate({x}, '0123456789', '') in ('', '.')"
        f" then ({x}) not in ('', '.')"
        f" else coalesce(({x}) ~ {_DECIMAL_RE} and (octet_length({x}) <= 15 or ("
        f"length(ltrim({int_part}, '0')) <= 15 and length(rtrim({fraction}, '0')) <= 15"
        ")), false) end"
    )


def is_integer(x: str) -> str:
    """is_integer_text: at most 18 digits, optionally with a zero fraction (the same strings as
    '^ *[+-]?[0-9]{1,18}(\\.0*)? *$')."""
    digits = f"translate(split_part({x}, '.', 1), {_BLANK_CHARS} || '+-', '')"
    return (
        f"case when octet_length({x}) <= 18 and translate({x}, '0123456789', '') = ''"
        f" then ({x}) <> ''"
        f" else coalesce(({x}) ~ {_INTEGER_RE}"
        f" and (octet_length({x}) <= 18 or length({digits}) <= 18), false) end"
    )


def negative(text: str, value: str) -> str:
    """_negative: a checked number is negative; only a text with a '-' is cast."""
    return f"(strpos({text}, '-') > 0 and {value} < 0)"


def _calendar_date(x: str) -> str:
    """_calendar_date: a YYYY-MM-DD of digits the calendar has (no year 0000, 2023-02-29,
    2024-04-31); the year is cast, so only once the shape is checked."""
    year = f"substr({x}, 1, 4)::integer"
    return (
        f"left({x}, 4) <> '0000'"
        f" and substr({x}, 6, 5) not in ('02-30', '02-31', '04-31', '06-31', '09-31', '11-31')"
        f" and (substr({x}, 6, 5) <> '02-29'"
        f" or ({year} % 4 = 0 and ({year} % 100 <> 0 or {year} % 400 = 0)))"
    )


def is_timestamp(x: str) -> str:
    """is_timestamp_text: ISO 8601, every field in range (no 2023-02-29, 2024-04-31, year 0000)."""
    return f"coalesce(case when ({x}) ~ {_TIMESTAMP_RE} then {_calendar_date(x)} else false end, false)"


def is_shopify_timestamp(x: str) -> str:
    """is_shopify_timestamp_text: is_timestamp's answer, at less cost for Shopify's shape
    ('2024-01-15T10:30:00-05:00': LIKE, translate, PostgreSQL's timestamptz input, and the hour
    and second it would take beyond is_timestamp's, 24 and 60); any other text goes to
    is_timestamp."""
    return (
        f"case when ({x}) like '____-__-__T__:__:_____:__'"
        f" and translate({x}, '0123456789', '') in ('--T::+:', '--T::-:')"
        f" then pg_input_is_valid({x}, 'timestamptz')"
        f""" and substr({x}, 12, 2) collate "C" <= '23' and substr({x}, 18, 2) collate "C" <= '59'"""
        f" else {is_timestamp(x)} end"
    )


def is_unix_time(x: str) -> str:
    """is_unix_time_text: non-negative unix seconds, at most 10 digits before the point."""
    return (
        f"coalesce(({x}) ~ '^[0-9]+(\\.[0-9]+)?$' and length(split_part({x}, '.', 1)) <= 10, false)"
    )


def is_unix_or_iso(x: str) -> str:
    """is_unix_or_iso_text: unix seconds, ISO 8601, or 'YYYY-MM-DD HH:MM:SS UTC'."""
    return (
        f"({is_unix_time(x)} or {is_timestamp(x)}"
        f" or (coalesce(({x}) ~ '^[0-9-]{{10}} [0-9:]{{8}} UTC$', false)"
        f" and {is_timestamp(f'left({x}, -4)')}))"
    )


def unix_or_iso(x: str) -> str:
    """checked_unix_or_iso: unix seconds from the epoch, to the microsecond; ISO text cast."""
    return (
        f"case when strpos({x}, '-') = 0 then timestamptz '1970-01-01 00:00:00+00'"
        f" + trunc(({x})::numeric)::bigint * interval '1 second'"
        f" + round((({x})::numeric % 1) * 1000000)::bigint * interval '1 microsecond'"
        f" else ({x})::timestamptz end"
    )


def safe_unix_or_iso(x: str) -> str:
    return f"case when {is_unix_or_iso(x)} then {unix_or_iso(x)} end"


def safe_numeric(x: str) -> str:
    return f"case when {is_numeric(x)} then ({x})::numeric end"


def safe_bigint(x: str) -> str:
    return f"case when {is_integer(x)} then {checked_bigint(x)} end"


def safe_integer(x: str) -> str:
    return f"case when {is_integer(x)} then {checked_integer(x)} end"


def safe_timestamptz(x: str) -> str:
    return f"case when {is_timestamp(x)} then ({x})::timestamptz end"


def safe_boolean(x: str) -> str:
    return f"case lower({x}) when 'true' then true when 'false' then false end"


def string(x: str) -> str:
    """Text with blank strings as null (json_string)."""
    return f"nullif(btrim({x}), '')"


def checked_bigint(x: str) -> str:
    """The cast of a field the judge checked (null or of the type): the safe cast, no check."""
    return f"trunc(({x})::numeric)::bigint"


def checked_integer(x: str) -> str:
    """As safe_integer for a checked field: null outside the integer range."""
    return (
        f"case when abs(trunc(({x})::numeric)) < 2147483648 then trunc(({x})::numeric)::integer end"
    )


def elements(x: str) -> str:
    """json_array_elements: no rows when it is absent or not an array."""
    return (
        f"jsonb_array_elements(case when jsonb_typeof({x}) = 'array' then {x} else '[]'::jsonb end)"
    )


def field(item: str, *keys: str) -> str:
    """A field of a jsonb value as text (json_text)."""
    if len(keys) == 1:
        return f"({item} ->> '{keys[0]}')"
    return f"({item} #>> '{{{','.join(keys)}}}')"


# ---------------------------------------------------------------------------------------------
# The rules of macros/quarantine_rules.sql, first failing rule first. `r.<key>` is a judged
# field: text, or jsonb for objects and arrays. The CASE evaluates each check only when the rules
# before it passed, and once.


def _required(key: str) -> str:
    return f"\n            when r.{key} is null then '{key} is missing'"


def _not_object() -> str:
    return (
        "\n            when kind.payload_type <> 'object'"
        " then 'payload is a JSON ' || kind.payload_type || ', not an object'"
    )


def _integer_rule(key: str) -> str:
    return (
        _required(key)
        + f"\n            when not {is_integer('r.' + key)} then '{key} is not an integer'"
    )


def _timestamp_rule(key: str, required: bool = True) -> str:
    x = f"r.{key}"
    if required:
        return (
            _required(key)
            + f"\n            when not {is_shopify_timestamp(x)} then '{key} is not a timestamp'"
        )
    return (
        f"\n            when {x} is not null and not {is_shopify_timestamp(x)}"
        f" then '{key} is not a timestamp'"
    )


def _unix_or_iso_rule(key: str, required: bool = True) -> str:
    x = f"r.{key}"
    if required:
        return (
            _required(key)
            + f"\n            when not {is_unix_or_iso(x)} then '{key} is not a timestamp'"
        )
    return (
        f"\n            when {x} is not null and not {is_unix_or_iso(x)}"
        f" then '{key} is not a timestamp'"
    )


def _money_rule(key: str, required: bool = True) -> str:
    x = f"r.{key}"
    # The CASE reaches the cast only for a number in range or null.
    return (
        (_required(key) if required else "")
        + f"\n            when {x} is not null and not {is_numeric(x)} then '{key} is '"
        + f" || case when {is_decimal(x)} then 'out of range' else 'not a number' end"
        + f"\n            when {negative(x, x + '::numeric')} then '{key} is negative'"
    )


def _array_rule(key: str) -> str:
    x = f"r.{key}"
    return (
        f"\n            when {x} is not null and jsonb_typeof({x}) not in ('array', 'null')"
        f" then '{key} is not an array'"
    )


# The verdict on one item of an array field (the macros' _line_item_verdict and the like): 1
# when it has a bad shape, 2 (line items only) when its quantity or price is negative, else null.
# Each cast reads only what the CASE before it checked. Each becomes a function over the whole
# array (judge_functions in macros/quarantine_rules.sql: the worst verdict, 1 before 2; null when
# every item is good or there are none), created in the ops schema at setup, which the rules call
# (_judged) instead of a correlated subquery, which PostgreSQL would run row by row.


def _line_item_verdict(item: str) -> str:
    quantity, price = field(item, "quantity"), field(item, "price")
    return (
        f"case when jsonb_typeof({item}) <> 'object'"
        f" or not {is_integer(field(item, 'id'))}"
        f" or not {is_integer(quantity)}"
        f" or not {is_numeric(price)} then 1"
        f" when {negative(quantity, checked_integer(quantity))}"
        f" or {negative(price, price + '::numeric')} then 2 end"
    )


def _refund_line_item_verdict(item: str) -> str:
    quantity, subtotal = field(item, "quantity"), field(item, "subtotal")
    return (
        f"case when jsonb_typeof({item}) <> 'object'"
        f" or not {is_integer(field(item, 'line_item_id'))}"
        f" or not {is_integer(quantity)}"
        f" or ({subtotal} is not null and not {is_numeric(subtotal)}) then 1"
        f" when {negative(quantity, checked_integer(quantity))} then 1 end"
    )


def _variant_verdict(item: str) -> str:
    price, inventory_item = field(item, "price"), field(item, "inventory_item_id")
    return (
        f"case when jsonb_typeof({item}) <> 'object'"
        f" or not {is_integer(field(item, 'id'))}"
        f" or ({price} is not null and not {is_numeric(price)})"
        f" or ({inventory_item} is not null and not {is_integer(inventory_item)}) then 1"
        f" when {negative(price, price + '::numeric')} then 1 end"
    )


def _transaction_verdict(item: str) -> str:
    amount = field(item, "amount")
    return (
        f"case when jsonb_typeof({item}) <> 'object' or not {is_numeric(amount)} then 1"
        f" when {negative(amount, amount + '::numeric')} then 1 end"
    )


def _instagram_metric_verdict(item: str) -> str:
    value = f"({item} -> 'values' -> 0 ->> 'value')"
    names = ", ".join(f"'{name}'" for name in INSTAGRAM_METRICS)
    return (
        f"case when {item} ->> 'name' in ({names})"
        f" and case when {is_integer(value)} then {checked_bigint(value)} < 0 else true end"
        " then 1 end"
    )


def _ga4_metric_value_verdict(item: str) -> str:
    value = f"({item} ->> 'value')"
    return f"case when not ({is_decimal(value)} and octet_length({value}) <= 40) then 1 end"


JUDGE_FUNCTIONS = {
    "judge_line_items": _line_item_verdict,
    "judge_refund_line_items": _refund_line_item_verdict,
    "judge_variants": _variant_verdict,
    "judge_transactions": _transaction_verdict,
    "judge_instagram_metrics": _instagram_metric_verdict,
    "judge_ga4_metric_values": _ga4_metric_value_verdict,
}


def _judge_function_statements(schema: str) -> list[str]:
    return [
        f"""create function {schema}.{name}(items jsonb)
returns integer
language plpgsql immutable strict parallel safe
as $judge$
declare
    item jsonb;
    verdict integer;
    worst integer;
begin
    if jsonb_typeof(items) <> 'array' then
        return null;
    end if;
    for i in 0 .. jsonb_array_length(items) - 1 loop
        item := items -> i;
        verdict := {verdict("item")};
        if verdict = 1 then
            return 1;
        end if;
        worst := coalesce(worst, verdict);
    end loop;
    return worst;
end
$judge$"""
        for name, verdict in JUDGE_FUNCTIONS.items()
    ]


def _judged(function: str, items: str) -> str:
    """The verdict on the items of an array field (judged); {ops}: the schema of the functions,
    which judge_statement fills in."""
    return f"{{ops}}.{function}({items})"


# ---------------------------------------------------------------------------------------------
# The judge, then staging, as the models do it.
#
# The judge reads every fact of a staged topic (in slices of ids, one per connection), its
# payload once: the fields its group of topics reads (jsonb_to_record), the topic's CASE, and, for a
# good fact, its entity's key and version time (the field latest_version orders by), typed. It
# writes facts_triage.
#
# Staging reads the good facts of a topic from facts_triage, keeps the latest version of each key
# (latest_version in macros/staging.sql: the version time, then fact_id, descending; only keys and
# times are sorted), reads the winners' payloads again, casts them to the model's columns and
# unnests their child models in the same statement.


@dataclass(frozen=True)
class Topic:
    topic: str
    model: str
    judged_fields: str  # jsonb_to_record columns the rules read (r.<field>)
    reason: str  # the CASE's WHEN lines
    keys: tuple[tuple[str, str], ...]  # the model's key besides shop_domain: (column, judged field)
    version: str  # the judged field latest_version orders by (descending), a timestamp
    fields: str  # jsonb_to_record columns staging reads from a winner
    columns: str  # the model's columns over `w`: latest's columns and the fields
    children: str = ""  # further CTEs over `winners`
    unix_times: bool = (
        False  # var topics `timestamps: unix_or_iso`: the version may be unix seconds
    )
    entity: str = ""  # var topics `entity_macro`: the key's expression over `r`, not a field
    laterals: str = ""  # lateral joins after `from winners as w` the columns read


TRIAGE_COLUMNS = (
    "fact_id, shop_domain, topic, reason, fact_created_at, entity_id, location_id, version_at"
)


def judge_statement(
    topics: list[Topic], ops: str, facts: str, ids: tuple[int | None, int | None]
) -> str:
    """Judge the facts of the topics with lo <= id < hi (None: unbounded) in one pass over
    facts: the judged fields of these topics are read at once (jsonb_to_record looks up each
    in every payload, so each topic has a pass of its own, as judge_groups does), and each
    topic's CASE applies to its facts."""
    lo, hi = ids
    where = "".join(
        [
            f"\n        and f.id >= {int(lo)}" if lo is not None else "",
            f"\n        and f.id < {int(hi)}" if hi is not None else "",
        ]
    )
    fields: dict[str, str] = {}
    for t in topics:
        for definition in t.judged_fields.split(","):
            name, kind = definition.split()
            if fields.setdefault(name, kind) != kind:
                raise ValueError(f"judged field {name} is {kind} and {fields[name]}")

    def by_topic(value) -> str:
        whens = "".join(f"\n            when '{t.topic}' then {value(t)}" for t in topics)
        return f"case f.topic{whens}\n        end"

    reason = by_topic(
        lambda t: "case" + t.reason.replace("\n", "\n        ") + "\n                end"
    ).replace("{ops}", ops)
    # A fact without a shop belongs to nobody, whatever its topic.
    reason = (
        "case when f.shop_domain is null or btrim(f.shop_domain) = ''"
        f" then 'shop_domain is blank' else {reason} end"
    )
    entity = by_topic(lambda t: t.entity or f"r.{t.keys[0][1]}")
    location = by_topic(lambda t: f"r.{t.keys[1][1]}" if len(t.keys) > 1 else "null")
    version = by_topic(lambda t: f"r.{t.version}")
    unix = [t.topic for t in topics if t.unix_times]
    listed = ", ".join(f"'{topic}'" for topic in unix)
    version_at = (
        f"case when topic in ({listed}) then {unix_or_iso('version')} else version::timestamptz end"
        if unix
        else "version::timestamptz"
    )
    # The subquery computes each reason once (OFFSET 0: not merged into the outer query, which
    # would repeat the CASE); the casts read the fields of good facts only.
    return f"""insert into {ops}.facts_triage ({TRIAGE_COLUMNS})
select
    fact_id,
    shop_domain,
    topic,
    reason,
    fact_created_at,
    case when reason is null then {checked_bigint("entity")} end,
    case when reason is null then {checked_bigint("location")} end,
    case when reason is null then {version_at} end
from (
    select
        f.id as fact_id,
        f.shop_domain,
        f.topic,
        f.created_at as fact_created_at,
        {reason} as reason,
        {entity} as entity,
        {location} as location,
        {version} as version
    from {facts} as f
    -- The payload's JSON type, computed once (each call would decompress the payload again).
    cross join lateral unnest(array[jsonb_typeof(f.value)]) as kind (payload_type)
    cross join lateral jsonb_to_record(
        case when kind.payload_type = 'object' then f.value else '{{}}'::jsonb end
    ) as r ({", ".join(f"{name} {kind}" for name, kind in fields.items())})
    where f.topic in ({", ".join(f"'{t.topic}'" for t in topics)}){where}
    offset 0
) as judged"""


def stage_statement(
    t: Topic, staging: str, ops: str, facts: str, part: tuple[int, int] = (0, 1)
) -> str:
    """Stage the topic's entities whose key hashes to part[0] of part[1] parts."""
    # the integer keys before the shop's text, as the project's staging sorts them
    keys = ", ".join([*(f"key_{column}" for column, _ in t.keys), "shop_domain"])
    columns = [column for column, _ in t.keys]
    typed = [
        f"{judged} as key_{column}"
        for column, judged in zip(columns, ("entity_id", "location_id"), strict=False)
    ]
    where = (
        f"\n            and abs(hashint8(entity_id) % {part[1]}) = {part[0]}" if part[1] > 1 else ""
    )
    return f"""with latest as (
    select distinct on ({keys}) *
    from (
        select
            fact_id,
            fact_created_at,
            shop_domain,
            {", ".join(typed)},
            version_at as latest_at
        from {ops}.facts_triage
        where topic = '{t.topic}' and reason is null{where}
    ) as good
    order by {keys}, latest_at desc, fact_id desc
),

winners as materialized (
    select latest.*, r.*
    -- A lookup by id per winner, in the order of the ids: the pages of facts in their order on
    -- disk (a merge join would read every fact).
    from (select * from latest order by fact_id) as latest
    cross join lateral (select f.value from {facts} as f where f.id = latest.fact_id offset 0) as f
    cross join lateral jsonb_to_record(f.value) as r ({t.fields})
){t.children}

insert into {staging}.{t.model}
select{t.columns}
from winners as w{t.laterals}
""".replace("{staging}", staging)


def _orders() -> Topic:
    currencies = ", ".join(f"'{currency}'" for currency in KNOWN_CURRENCIES)
    customer_id = field("r.customer", "id")
    reason = (
        _not_object()
        + _integer_rule("id")
        + _timestamp_rule("updated_at")
        + _timestamp_rule("created_at")
        + _timestamp_rule("cancelled_at", required=False)
        + _money_rule("total_price")
        + _money_rule("subtotal_price", required=False)
        + _money_rule("total_line_items_price", required=False)
        + _money_rule("total_discounts", required=False)
        + _money_rule("total_tax", required=False)
        + "\n            when r.currency is null then 'currency is missing'"
        + f"\n            when r.currency not in ({currencies})"
        + " then 'currency ' || r.currency || ' is not in var known_currencies'"
        + f"\n            when {customer_id} is not null and not {is_integer(customer_id)}"
        + " then 'customer.id is not an integer'"
        + _required("line_items")
        + "\n            when jsonb_typeof(r.line_items) <> 'array' then 'line_items is not an array'"
        # A bad shape in any line item comes before a negative number in any.
        + f"""
            else case {_judged("judge_line_items", "r.line_items")}
                when 1 then 'a line item has a missing or non-integer id or quantity, or a non-numeric price'
                when 2 then 'a line item has a negative quantity or price'
            end"""
    )
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_order_id as order_id,
    {string("w.name")} as order_name,
    {safe_bigint("w.order_number")} as order_number,
    {checked_bigint(field("w.customer", "id"))} as customer_id,
    {string("w.email")} as email,
    w.created_at::timestamptz as created_at,
    {safe_timestamptz("w.processed_at")} as processed_at,
    w.latest_at as updated_at,
    w.cancelled_at::timestamptz as cancelled_at,
    {string("w.cancel_reason")} as cancel_reason,
    w.cancelled_at is not null as is_cancelled,
    coalesce({safe_boolean("w.test")}, false) as is_test,
    {string("w.financial_status")} as financial_status,
    {string("w.fulfillment_status")} as fulfillment_status,
    {string("w.currency")} as currency,
    w.total_line_items_price::numeric as total_line_items_price,
    w.subtotal_price::numeric as subtotal_price,
    coalesce(w.total_discounts::numeric, 0) as total_discounts,
    coalesce(w.total_tax::numeric, 0) as total_tax,
    w.total_price::numeric as total_price,
    array(
        select {field("dc", "code")} from {elements("w.discount_codes")} as dc
        where jsonb_typeof(dc) = 'object' and dc ? 'code'
    ) as discount_codes,
    {string("w.source_name")} as source_name,
    jsonb_array_length(w.line_items) as line_item_count"""
    quantity = checked_integer("li.quantity")
    # Every line item of a good order is an object (the rules), so it reads as a record.
    children = f""",

line_items as (
    insert into {{staging}}.stg_shopify__order_line_items
    select
        w.fact_id,
        1::bigint,
        w.shop_domain,
        w.key_order_id,
        li.position::integer,
        {checked_bigint("li.id")},
        {safe_bigint("li.product_id")},
        {safe_bigint("li.variant_id")},
        {string("li.sku")},
        {string("li.title")},
        {string("li.variant_title")},
        {quantity},
        li.price::numeric,
        coalesce({safe_numeric("li.total_discount")}, 0),
        li.price::numeric * {quantity}
    from winners as w
    cross join lateral rows from (
        jsonb_to_recordset(w.line_items) as (
            id text, product_id text, variant_id text, sku text, title text, variant_title text,
            quantity text, price text, total_discount text
        )
    ) with ordinality as li (
        id, product_id, variant_id, sku, title, variant_title, quantity, price, total_discount,
        position
    )
)"""
    return Topic(
        topic="shopify.orders",
        model="stg_shopify__orders",
        judged_fields="""id text, updated_at text, created_at text, cancelled_at text,
    total_price text, subtotal_price text, total_line_items_price text, total_discounts text,
    total_tax text, currency text, customer jsonb, line_items jsonb""",
        reason=reason,
        keys=(("order_id", "id"),),
        version="updated_at",
        fields="""name text, order_number text, customer jsonb, email text, created_at text,
            processed_at text, cancelled_at text, cancel_reason text, test text,
            financial_status text, fulfillment_status text, currency text,
            total_line_items_price text, subtotal_price text, total_discounts text,
            total_tax text, total_price text, discount_codes jsonb, source_name text,
            line_items jsonb""",
        columns=columns,
        children=children,
    )


def _refunds() -> Topic:
    t_amount = field("t", "amount")
    reason = (
        _not_object()
        + _integer_rule("id")
        + _integer_rule("order_id")
        + _timestamp_rule("created_at")
        + _timestamp_rule("processed_at", required=False)
        + _array_rule("refund_line_items")
        + _array_rule("transactions")
        + f"""
            when {_judged("judge_refund_line_items", "r.refund_line_items")} = 1
                then 'a refund line item has a missing line_item_id, a bad quantity or a non-numeric subtotal'
            when {_judged("judge_transactions", "r.transactions")} = 1
                then 'a transaction has a missing, non-numeric or negative amount'"""
    )
    kind, status = field("t", "kind"), field("t", "status")
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_refund_id as refund_id,
    {checked_bigint("w.order_id")} as order_id,
    w.latest_at as created_at,
    w.processed_at::timestamptz as processed_at,
    {string("w.note")} as note,
    coalesce({safe_boolean("w.restock")}, false) as is_restock,
    coalesce((
        select sum({t_amount}::numeric)
        from {elements("w.transactions")} as t
        where coalesce({kind}, 'refund') = 'refund' and coalesce({status}, 'success') = 'success'
    ), 0) as refund_amount,
    coalesce(jsonb_array_length(
        case when jsonb_typeof(w.refund_line_items) = 'array' then w.refund_line_items end
    ), 0) as refund_line_item_count"""
    item = "rli.item"
    quantity = checked_integer(field(item, "quantity"))
    children = f""",

refund_line_items as (
    insert into {{staging}}.stg_shopify__refund_line_items
    select
        w.fact_id,
        1::bigint,
        w.shop_domain,
        w.key_refund_id,
        {checked_bigint("w.order_id")},
        w.latest_at,
        rli.position::integer,
        {safe_bigint(field(item, "id"))},
        {checked_bigint(field(item, "line_item_id"))},
        {safe_bigint(field(item, "line_item", "variant_id"))},
        {safe_bigint(field(item, "line_item", "product_id"))},
        {quantity},
        coalesce(
            {field(item, "subtotal")}::numeric,
            {safe_numeric(field(item, "line_item", "price"))} * {quantity}
        ),
        {safe_numeric(field(item, "total_tax"))}
    from winners as w
    cross join lateral {elements("w.refund_line_items")} with ordinality as rli (item, position)
)"""
    return Topic(
        topic="shopify.refunds",
        model="stg_shopify__refunds",
        judged_fields="""id text, order_id text, created_at text, processed_at text,
    refund_line_items jsonb, transactions jsonb""",
        reason=reason,
        keys=(("refund_id", "id"),),
        version="created_at",
        fields="""order_id text, processed_at text, note text, restock text,
            transactions jsonb, refund_line_items jsonb""",
        columns=columns,
        children=children,
    )


def _customers() -> Topic:
    reason = (
        _not_object()
        + _integer_rule("id")
        + _timestamp_rule("updated_at")
        + _timestamp_rule("created_at", required=False)
        + "\n            when r.default_address is not null"
        + " and jsonb_typeof(r.default_address) not in ('object', 'null')"
        + " then 'default_address is not an object'"
    )
    consent = field("w.email_marketing_consent", "state")
    address = "w.default_address"
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_customer_id as customer_id,
    {string("w.email")} as email,
    {string("w.first_name")} as first_name,
    {string("w.last_name")} as last_name,
    coalesce({string("w.phone")}, {string(field(address, "phone"))}) as phone,
    {string(field(address, "company"))} as company,
    {string(field(address, "address1"))} as address1,
    {string(field(address, "city"))} as city,
    {string(field(address, "province"))} as province,
    {string(field(address, "country_code"))} as country_code,
    {string(field(address, "zip"))} as zip,
    case
        when coalesce(w.tags, '') = '' then '{{}}'::text []
        else array(
            select distinct btrim(raw.tag)
            from unnest(string_to_array(lower(w.tags), ',')) as raw (tag)
            where btrim(raw.tag) <> ''
            order by btrim(raw.tag)
        )
    end as tags,
    {string(consent)} as marketing_consent_state,
    coalesce({consent} = 'subscribed', {safe_boolean("w.accepts_marketing")}, false)
        as accepts_marketing,
    {string("w.state")} as account_state,
    w.created_at::timestamptz as created_at,
    w.latest_at as updated_at"""
    return Topic(
        topic="shopify.customers",
        model="stg_shopify__customers",
        judged_fields="id text, updated_at text, created_at text, default_address jsonb",
        reason=reason,
        keys=(("customer_id", "id"),),
        version="updated_at",
        fields="""created_at text, default_address jsonb, email text, first_name text,
            last_name text, phone text, tags text, state text, email_marketing_consent jsonb,
            accepts_marketing text""",
        columns=columns,
    )


def _products() -> Topic:
    reason = (
        _not_object()
        + _integer_rule("id")
        + _timestamp_rule("updated_at")
        + _timestamp_rule("created_at", required=False)
        + _array_rule("variants")
        + f"""
            when {_judged("judge_variants", "r.variants")} = 1
                then 'a variant has a missing or non-integer id, a bad price or a bad inventory_item_id'"""
    )
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_product_id as product_id,
    {string("w.title")} as title,
    {string("w.handle")} as handle,
    {string("w.product_type")} as product_type,
    {string("w.vendor")} as vendor,
    {string("w.status")} as status,
    {string("w.tags")} as tags,
    {safe_timestamptz("w.published_at")} as published_at,
    w.created_at::timestamptz as created_at,
    w.latest_at as updated_at"""
    item = "variant.item"
    # A table of the variants of every winning product; a variant id two products claim goes
    # to the newest product fact, and within one product to its first listing
    # (stg_shopify__product_variants).
    children = f""",

variants as (
    insert into {{staging}}.stg_shopify__product_variants
    select distinct on (variant_id, shop_domain)
        parent_fact_id, shop_domain, product_id, variant_id, position, sku, title, price,
        compare_at_price, inventory_item_id, inventory_quantity, created_at, updated_at
    from (
        select
            w.fact_id as parent_fact_id,
            w.shop_domain,
            w.key_product_id as product_id,
            {checked_bigint(field(item, "id"))} as variant_id,
            coalesce({safe_integer(field(item, "position"))}, variant.ordinal::integer)
                as position,
            {string(field(item, "sku"))} as sku,
            {string(field(item, "title"))} as title,
            {field(item, "price")}::numeric as price,
            {safe_numeric(field(item, "compare_at_price"))} as compare_at_price,
            {checked_bigint(field(item, "inventory_item_id"))} as inventory_item_id,
            {safe_integer(field(item, "inventory_quantity"))} as inventory_quantity,
            {safe_timestamptz(field(item, "created_at"))} as created_at,
            {safe_timestamptz(field(item, "updated_at"))} as updated_at,
            variant.ordinal
        from winners as w
        cross join lateral {elements("w.variants")} with ordinality as variant (item, ordinal)
    ) as variants
    order by variant_id asc, shop_domain asc, parent_fact_id desc, ordinal asc
)"""
    return Topic(
        topic="shopify.products",
        model="stg_shopify__products",
        judged_fields="id text, updated_at text, created_at text, variants jsonb",
        reason=reason,
        keys=(("product_id", "id"),),
        version="updated_at",
        fields="""created_at text, variants jsonb, title text, handle text,
            product_type text, vendor text, status text, tags text, published_at text""",
        columns=columns,
        children=children,
    )


def _inventory_items() -> Topic:
    reason = (
        _not_object()
        + _integer_rule("id")
        + _timestamp_rule("updated_at")
        + _money_rule("cost", required=False)
    )
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_inventory_item_id as inventory_item_id,
    {string("w.sku")} as sku,
    w.cost::numeric as cost,
    coalesce({safe_boolean("w.tracked")}, true) as is_tracked,
    {safe_timestamptz("w.created_at")} as created_at,
    w.latest_at as updated_at"""
    return Topic(
        topic="shopify.inventory_items",
        model="stg_shopify__inventory_items",
        judged_fields="id text, updated_at text, cost text",
        reason=reason,
        keys=(("inventory_item_id", "id"),),
        version="updated_at",
        fields="cost text, sku text, tracked text, created_at text",
        columns=columns,
    )


def _inventory_levels() -> Topic:
    reason = (
        _not_object()
        + _integer_rule("inventory_item_id")
        + _integer_rule("location_id")
        + _timestamp_rule("updated_at")
        + f"\n            when r.available is not null and not {is_integer('r.available')}"
        + " then 'available is not an integer'"
        + f"\n            when {negative('r.available', checked_integer('r.available'))}"
        + " then 'available is negative'"
    )
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_inventory_item_id as inventory_item_id,
    w.key_location_id as location_id,
    {checked_integer("w.available")} as available,
    w.latest_at as updated_at"""
    return Topic(
        topic="shopify.inventory_levels",
        model="stg_shopify__inventory_levels",
        judged_fields="inventory_item_id text, location_id text, updated_at text, available text",
        reason=reason,
        keys=(("inventory_item_id", "inventory_item_id"), ("location_id", "location_id")),
        version="updated_at",
        fields="available text",
        columns=columns,
    )


def _chatwoot_conversations() -> Topic:
    assignee_id = field("r.meta", "assignee", "id")
    reason = (
        _not_object()
        + _integer_rule("id")
        + _unix_or_iso_rule("updated_at")
        + _unix_or_iso_rule("created_at")
        + f"\n            when r.inbox_id is not null and not {is_integer('r.inbox_id')}"
        + " then 'inbox_id is not an integer'"
        + _required("status")
        + "\n            when r.meta is not null and jsonb_typeof(r.meta) not in ('object', 'null')"
        + " then 'meta is not an object'"
        + f"\n            when {assignee_id} is not null and not {is_integer(assignee_id)}"
        + " then 'meta.assignee.id is not an integer'"
        + _unix_or_iso_rule("first_reply_created_at", required=False)
        + _unix_or_iso_rule("waiting_since", required=False)
        + _unix_or_iso_rule("last_activity_at", required=False)
    )
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_conversation_id as conversation_id,
    coalesce({safe_bigint("w.account_id")}, {safe_bigint(field("w.account", "id"))}) as account_id,
    {checked_bigint("w.inbox_id")} as inbox_id,
    {string("w.channel")} as channel,
    {string("w.status")} as status,
    {string("w.priority")} as priority,
    {checked_bigint(field("w.meta", "assignee", "id"))} as assignee_id,
    {safe_bigint(field("w.meta", "team", "id"))} as team_id,
    {safe_bigint(field("w.meta", "sender", "id"))} as contact_id,
    {unix_or_iso("w.created_at")} as created_at,
    {unix_or_iso("w.first_reply_created_at")} as first_reply_created_at,
    nullif({unix_or_iso("w.waiting_since")}, timestamptz '1970-01-01 00:00:00+00') as waiting_since,
    {unix_or_iso("w.last_activity_at")} as last_activity_at,
    {safe_unix_or_iso("w.snoozed_until")} as snoozed_until,
    w.latest_at as updated_at,
    {string("w.event")} as last_event"""
    return Topic(
        topic="chatwoot.conversations",
        model="stg_chatwoot__conversations",
        judged_fields="""id text, updated_at text, created_at text, inbox_id text, status text,
    meta jsonb, first_reply_created_at text, waiting_since text, last_activity_at text""",
        reason=reason,
        keys=(("conversation_id", "id"),),
        version="updated_at",
        fields="""account_id text, account jsonb, inbox_id text, channel text, status text,
            priority text, meta jsonb, created_at text, first_reply_created_at text,
            waiting_since text, last_activity_at text, snoozed_until text, event text""",
        columns=columns,
        unix_times=True,
    )


def _chatwoot_conversation_id(rec: str) -> str:
    """chatwoot_message_conversation_id: conversation.id, else conversation.display_id."""
    return f"coalesce({rec}.conversation ->> 'id', {rec}.conversation ->> 'display_id')"


def _chatwoot_csat_rating(rec: str) -> str:
    """chatwoot_csat_rating_text: the rating of an input_csat message."""
    return (
        f"(case when {rec}.content_type = 'input_csat' then {rec}.content_attributes"
        " #>> '{submitted_values,csat_survey_response,rating}' end)"
    )


def _chatwoot_messages() -> Topic:
    conversation_id = _chatwoot_conversation_id("r")
    rating = _chatwoot_csat_rating("r")
    reason = (
        _not_object()
        + _integer_rule("id")
        + _unix_or_iso_rule("created_at")
        + _required("conversation")
        + "\n            when jsonb_typeof(r.conversation) <> 'object'"
        + " then 'conversation is not an object'"
        + f"\n            when {conversation_id} is null then 'conversation.id is missing'"
        + f"\n            when not {is_integer(conversation_id)}"
        + " then 'conversation.id is not an integer'"
        + _required("message_type")
        + "\n            when r.private is not null and lower(r.private) not in ('true', 'false')"
        + " then 'private is not a boolean'"
        + f"\n            when {rating} is not null and (not {is_integer(rating)}"
        + f" or coalesce({checked_integer(rating)} not between 1 and 5, true))"
        + " then 'the CSAT rating is not an integer from 1 to 5'"
    )
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_message_id as message_id,
    {checked_bigint(_chatwoot_conversation_id("w"))} as conversation_id,
    {safe_bigint(field("w.account", "id"))} as account_id,
    {safe_bigint(field("w.inbox", "id"))} as inbox_id,
    {string("w.message_type")} as message_type,
    {string("w.content_type")} as content_type,
    coalesce({safe_boolean("w.private")}, false) as is_private,
    {string(field("w.sender", "type"))} as sender_type,
    {safe_bigint(field("w.sender", "id"))} as sender_id,
    w.latest_at as created_at,
    {checked_integer(_chatwoot_csat_rating("w"))} as csat_rating,
    {string("w.event")} as last_event"""
    return Topic(
        topic="chatwoot.messages",
        model="stg_chatwoot__messages",
        judged_fields="""id text, created_at text, conversation jsonb, message_type text,
    private text, content_type text, content_attributes jsonb""",
        reason=reason,
        keys=(("message_id", "id"),),
        version="created_at",
        fields="""conversation jsonb, account jsonb, inbox jsonb, message_type text,
            content_type text, content_attributes jsonb, private text, sender jsonb,
            event text""",
        columns=columns,
        unix_times=True,
    )


# How many dimensions a request can group by, and more: search_console_key looks at that many
# positions (search_console_max_dimensions in macros/quarantine_rules.sql).
SEARCH_CONSOLE_MAX_DIMENSIONS = 10


def _sc_key(rec: str, dimension: str) -> str:
    """search_console_key: the row's key at the dimension's position in the dimensions (a CASE
    over the positions, not a correlated subquery)."""
    whens = "".join(
        f" when lower({rec}.dimensions ->> {i}) = lower('{dimension}') then {i}"
        for i in range(SEARCH_CONSOLE_MAX_DIMENSIONS)
    )
    return f"({rec}.report_row -> 'keys' ->> (case{whens} end))"


def _sc_date(rec: str) -> str:
    """search_console_date_text: the date key, else the hour key's day."""
    return f"coalesce({_sc_key(rec, 'date')}, left({_sc_key(rec, 'hour')}, 10))"


def _sc_row_key(rec: str) -> str:
    """search_console_row_key: 64 bits of the md5 of the row's key as a JSON array."""
    parts = [
        f"{rec}.site_url",
        f"coalesce({rec}.search_type, 'web')",
        f"{rec}.aggregation_type",
        _sc_date(rec),
        *(_sc_key(rec, d) for d in ("hour", "page", "query", "device", "country")),
        _sc_key(rec, "searchAppearance"),
    ]
    return f"('x' || left(md5(jsonb_build_array({', '.join(parts)})::text), 16))::bit(64)::bigint"


def _search_console() -> Topic:
    def metric(key: str) -> str:
        return f"(r.report_row ->> '{key}')"

    def is_metric(x: str) -> str:
        return f"({is_decimal(x)} and octet_length({x}) <= 40)"

    def count_rule(key: str) -> str:
        x = metric(key)
        return (
            f"\n            when {x} is null then 'report_row.{key} is missing'"
            f"\n            when not {is_integer(x)} then 'report_row.{key} is not a whole number'"
            f"\n            when {checked_bigint(x)} < 0 then 'report_row.{key} is negative'"
        )

    date, hour = _sc_date("r"), _sc_key("r", "hour")
    ctr, position = metric("ctr"), metric("position")
    keys = "(r.report_row -> 'keys')"
    reason = (
        _not_object()
        + _required("site_url")
        + _timestamp_rule("fetched_at")
        + _required("dimensions")
        + "\n            when jsonb_typeof(r.dimensions) <> 'array' then 'dimensions is not an array'"
        + _required("report_row")
        + "\n            when jsonb_typeof(r.report_row) <> 'object'"
        + " then 'report_row is not an object'"
        + f"\n            when jsonb_typeof({keys}) is distinct from 'array'"
        + " then 'report_row.keys do not match the dimensions'"
        + f"\n            when jsonb_array_length({keys}) <> jsonb_array_length(r.dimensions)"
        + " then 'report_row.keys do not match the dimensions'"
        + f"\n            when {date} is null then 'the date is missing'"
        + f"\n            when not ({date} ~ '^\\d{{4}}-\\d\\d-\\d\\d$' and {is_timestamp(date)})"
        + " then 'the date is not a date'"
        + f"\n            when {hour} is not null and not {is_timestamp(hour)}"
        + " then 'the hour is not a timestamp'"
        + count_rule("clicks")
        + count_rule("impressions")
        + f"\n            when {ctr} is not null and not {is_metric(ctr)}"
        + " then 'report_row.ctr is not a number'"
        + f"\n            when {position} is not null and not {is_metric(position)}"
        + " then 'report_row.position is not a number'"
        + f"\n            when {position}::numeric < 1 then 'report_row.position is below 1'"
    )
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_row_key as row_key,
    w.site_url,
    coalesce({string("w.search_type")}, 'web') as search_type,
    {string("w.aggregation_type")} as aggregation_type,
    {string("w.data_state")} as data_state,
    ({_sc_date("w")})::date as report_date,
    ({_sc_key("w", "hour")})::timestamptz as report_hour,
    {_sc_key("w", "page")} as page,
    {_sc_key("w", "query")} as query,
    {_sc_key("w", "device")} as device,
    {_sc_key("w", "country")} as country,
    {_sc_key("w", "searchAppearance")} as search_appearance,
    {checked_bigint("(w.report_row ->> 'clicks')")} as clicks,
    {checked_bigint("(w.report_row ->> 'impressions')")} as impressions,
    (w.report_row ->> 'ctr')::numeric as ctr,
    (w.report_row ->> 'position')::numeric as position,
    w.latest_at as fetched_at"""
    return Topic(
        topic="search_console.search_analytics",
        model="stg_search_console__search_analytics",
        judged_fields="""site_url text, search_type text, aggregation_type text,
    dimensions jsonb, report_row jsonb, fetched_at text""",
        reason=reason,
        keys=(("row_key", "row_key"),),
        version="fetched_at",
        fields="""site_url text, search_type text, aggregation_type text, data_state text,
            dimensions jsonb, report_row jsonb""",
        columns=columns,
        entity=f"({_sc_row_key('r')})::text",
    )


# How many dimension or metric headers a report can have (runReport takes at most 9 dimensions
# and 10 metrics): ga4_value and ga4_row_key look at that many positions (ga4_max_headers in
# macros/quarantine_rules.sql).
GA4_MAX_HEADERS = 10


def _ga4_value(rec: str, headers: str, values: str, name: str) -> str:
    """ga4_value: the value at the header's position (a CASE over the positions)."""
    whens = "".join(
        f" when {rec}.{headers} -> {i} ->> 'name' = '{name}' then {i}"
        for i in range(GA4_MAX_HEADERS)
    )
    return f"({rec}.report_row -> '{values}' -> (case{whens} end) ->> 'value')"


def _ga4_dimension(rec: str, name: str) -> str:
    return _ga4_value(rec, "dimension_headers", "dimensionValues", name)


def _ga4_metric(rec: str, name: str) -> str:
    return _ga4_value(rec, "metric_headers", "metricValues", name)


def _ga4_date(rec: str) -> str:
    d = _ga4_dimension(rec, "date")
    return f"(substr({d}, 1, 4) || '-' || substr({d}, 5, 2) || '-' || substr({d}, 7, 2))"


def _ga4_row_key(rec: str) -> str:
    """ga4_row_key: the md5 of the property and {dimension name: value}, the object concatenated
    from one per header position (null when there are none)."""

    def named(i: int) -> str:
        name = f"{rec}.dimension_headers -> {i} ->> 'name'"
        return (
            f"case when {name} is not null then jsonb_build_object({name},"
            f" {rec}.report_row -> 'dimensionValues' -> {i} ->> 'value') else '{{}}'::jsonb end"
        )

    names = f"nullif({' || '.join(named(i) for i in range(GA4_MAX_HEADERS))}, '{{}}'::jsonb)"
    return (
        f"('x' || left(md5(jsonb_build_array({rec}.property_id, {names})::text), 16))"
        "::bit(64)::bigint"
    )


def _ga4_landing_pages() -> Topic:
    raw_date, date = _ga4_dimension("r", "date"), _ga4_date("r")
    sessions = _ga4_metric("r", "sessions")

    def not_array(x: str) -> str:
        return f"jsonb_typeof({x}) is distinct from 'array'"

    def length(x: str) -> str:
        return f"jsonb_array_length({x})"

    dims, metrics = "(r.report_row -> 'dimensionValues')", "(r.report_row -> 'metricValues')"
    reason = (
        _not_object()
        + _integer_rule("property_id")
        + _timestamp_rule("fetched_at")
        + f"\n            when {not_array('r.dimension_headers')}"
        + " then 'dimension_headers is not an array'"
        + f"\n            when {not_array('r.metric_headers')} then 'metric_headers is not an array'"
        + "\n            when jsonb_typeof(r.report_row) is distinct from 'object'"
        + " then 'report_row is not an object'"
        + f"\n            when {not_array(dims)}"
        + " then 'dimensionValues do not match dimension_headers'"
        + f"\n            when {length(dims)} <> {length('r.dimension_headers')}"
        + " then 'dimensionValues do not match dimension_headers'"
        + f"\n            when {not_array(metrics)} then 'metricValues do not match metric_headers'"
        + f"\n            when {length(metrics)} <> {length('r.metric_headers')}"
        + " then 'metricValues do not match metric_headers'"
        + f"\n            when {raw_date} is null then 'the date is missing'"
        + f"\n            when not ({raw_date} ~ '^\\d{{8}}$' and {is_timestamp(date)})"
        + " then 'the date is not a date'"
        + f"\n            when {_judged('judge_ga4_metric_values', metrics)} is not null"
        + " then 'a metric value is not a number'"
        + f"\n            when {sessions}::numeric < 0 then 'sessions is negative'"
        + f"\n            when {sessions}::numeric <> trunc({sessions}::numeric)"
        + " then 'sessions is not a whole number'"
    )

    def metric(name: str) -> str:
        return f"({_ga4_metric('w', name)})::numeric"

    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_row_key as row_key,
    {checked_bigint("w.property_id")} as property_id,
    ({_ga4_date("w")})::date as report_date,
    coalesce({_ga4_dimension("w", "landingPagePlusQueryString")},
        {_ga4_dimension("w", "landingPage")}) as landing_page,
    {_ga4_dimension("w", "sessionDefaultChannelGroup")} as channel_group,
    {_ga4_dimension("w", "sessionSourceMedium")} as source_medium,
    {_ga4_dimension("w", "deviceCategory")} as device_category,
    {checked_bigint(_ga4_metric("w", "sessions"))} as sessions,
    {metric("engagedSessions")} as engaged_sessions,
    {metric("activeUsers")} as active_users,
    {metric("newUsers")} as new_users,
    coalesce({metric("keyEvents")}, {metric("conversions")}) as key_events,
    {metric("totalRevenue")} as total_revenue,
    {string("w.currency_code")} as currency_code,
    {string("w.time_zone")} as time_zone,
    w.latest_at as fetched_at"""
    return Topic(
        topic="ga4.landing_pages",
        model="stg_ga4__landing_pages",
        judged_fields="""property_id text, dimension_headers jsonb, metric_headers jsonb,
    report_row jsonb, fetched_at text""",
        reason=reason,
        keys=(("row_key", "row_key"),),
        version="fetched_at",
        fields="""property_id text, dimension_headers jsonb, metric_headers jsonb,
            report_row jsonb, currency_code text, time_zone text""",
        columns=columns,
        entity=f"({_ga4_row_key('r')})::text",
    )


INSTAGRAM_METRICS = (
    "reach", "views", "impressions", "video_views", "plays", "likes", "comments", "saved",
    "shares", "total_interactions", "follows", "profile_visits",
)  # fmt: skip


def _instagram_key(id_text: str) -> str:
    """instagram_media_key: a bigint from the md5 of the id's text."""
    return f"('x' || left(md5({id_text}), 16))::bit(64)::bigint"


def _instagram_id_rule(value: str, label: str) -> str:
    return (
        f"\n            when {value} is null or jsonb_typeof({value}) = 'null'"
        f" then '{label} is missing'"
        f"\n            when jsonb_typeof({value}) <> 'string'"
        f" or not ({value} #>> '{{}}') ~ '^[0-9]{{1,40}}$'"
        f" then '{label} is not a string of digits'"
    )


def _instagram_media() -> Topic:
    posted, id_text = "(r.media ->> 'timestamp')", "(r.media ->> 'id')"

    def count_rule(key: str) -> str:
        value = f"(r.media ->> '{key}')"
        return (
            f"\n            when {value} is not null and not {is_integer(value)}"
            f" then 'media.{key} is not a count'"
            f"\n            when {checked_bigint(value)} < 0 then 'media.{key} is not a count'"
        )

    reason = (
        _not_object()
        + _timestamp_rule("fetched_at")
        + _required("media")
        + "\n            when jsonb_typeof(r.media) <> 'object' then 'media is not an object'"
        + _instagram_id_rule("(r.media -> 'id')", "media.id")
        + "\n            when coalesce(r.media #>> '{owner,id}', r.ig_user_id) is null"
        + " then 'ig_user_id is missing'"
        + f"\n            when {posted} is null then 'media.timestamp is missing'"
        + f"\n            when not {is_timestamp(posted)} then 'media.timestamp is not a timestamp'"
        + count_rule("like_count")
        + count_rule("comments_count")
    )
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_media_key as media_key,
    w.media ->> 'id' as media_id,
    coalesce(w.media #>> '{{owner,id}}', w.ig_user_id) as ig_user_id,
    (w.media ->> 'timestamp')::timestamptz as posted_at,
    {string("(w.media ->> 'media_type')")} as media_type,
    {string("(w.media ->> 'media_product_type')")} as media_product_type,
    {string("(w.media ->> 'permalink')")} as permalink,
    {checked_bigint("(w.media ->> 'like_count')")} as like_count,
    {checked_bigint("(w.media ->> 'comments_count')")} as comments_count,
    w.latest_at as fetched_at"""
    return Topic(
        topic="instagram.media",
        model="stg_instagram__media",
        judged_fields="ig_user_id text, media jsonb, fetched_at text",
        reason=reason,
        keys=(("media_key", "media_key"),),
        version="fetched_at",
        fields="ig_user_id text, media jsonb",
        columns=columns,
        entity=f"({_instagram_key(id_text)})::text",
    )


def _instagram_media_insights() -> Topic:
    value, id_text = "(m.item -> 'values' -> 0 ->> 'value')", "(r.media_id #>> '{}')"
    insights = "(r.insights -> 'data')"
    reason = (
        _not_object()
        + _instagram_id_rule("r.media_id", "media_id")
        + _timestamp_rule("fetched_at")
        + "\n            when coalesce(jsonb_typeof(r.insights), '') <> 'object'"
        + " then 'insights is not an object'"
        + "\n            when coalesce(jsonb_typeof(r.insights -> 'data'), '') <> 'array'"
        + " then 'insights.data is not an array'"
        + f"\n            when {_judged('judge_instagram_metrics', insights)} is not null"
        + " then 'a metric value is not a count'"
    )
    metrics = "".join(f"\n    metrics.{name}," for name in INSTAGRAM_METRICS)
    # instagram_lifetime_metrics: one pass over the insights of a winner, every metric at once.
    pivot = ",".join(
        f"\n        max({checked_bigint(value)}) filter (where m.item ->> 'name' = '{name}')"
        f" as {name}"
        for name in INSTAGRAM_METRICS
    )
    lateral = f"""
cross join lateral (
    select{pivot}
    from jsonb_array_elements(w.insights -> 'data') as m (item)
    where m.item ->> 'period' = 'lifetime'
) as metrics"""
    columns = f"""
    w.fact_id,
    1::bigint as judge_batch,
    w.fact_created_at,
    w.shop_domain,
    w.key_media_key as media_key,
    w.media_id #>> '{{}}' as media_id,{metrics}
    w.latest_at as fetched_at"""
    return Topic(
        topic="instagram.media_insights",
        model="stg_instagram__media_insights",
        judged_fields="media_id jsonb, insights jsonb, fetched_at text",
        reason=reason,
        keys=(("media_key", "media_key"),),
        version="fetched_at",
        fields="media_id jsonb, insights jsonb",
        columns=columns,
        laterals=lateral,
        entity=f"({_instagram_key(id_text)})::text",
    )


TOPICS = {
    "shopify.orders": _orders,
    "shopify.refunds": _refunds,
    "shopify.customers": _customers,
    "shopify.products": _products,
    "shopify.inventory_items": _inventory_items,
    "shopify.inventory_levels": _inventory_levels,
    "chatwoot.conversations": _chatwoot_conversations,
    "chatwoot.messages": _chatwoot_messages,
    "search_console.search_analytics": _search_console,
    "ga4.landing_pages": _ga4_landing_pages,
    "instagram.media": _instagram_media,
    "instagram.media_insights": _instagram_media_insights,
}

# The tables the topic statements fill, with the dbt models' column types.
STAGING_TABLES = {
    "stg_shopify__orders": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, order_id bigint, order_name text,
        order_number bigint, customer_id bigint, email text, created_at timestamptz,
        processed_at timestamptz, updated_at timestamptz, cancelled_at timestamptz,
        cancel_reason text, is_cancelled boolean, is_test boolean, financial_status text,
        fulfillment_status text, currency text, total_line_items_price numeric,
        subtotal_price numeric, total_discounts numeric, total_tax numeric, total_price numeric,
        discount_codes text[], source_name text, line_item_count integer""",
    "stg_shopify__order_line_items": """parent_fact_id bigint, parent_judge_batch bigint,
        shop_domain text, order_id bigint, position integer, line_item_id bigint,
        product_id bigint, variant_id bigint, sku text, title text, variant_title text,
        quantity integer, price numeric, total_discount numeric, gross_amount numeric""",
    "stg_shopify__refunds": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, refund_id bigint, order_id bigint,
        created_at timestamptz, processed_at timestamptz, note text, is_restock boolean,
        refund_amount numeric, refund_line_item_count integer""",
    "stg_shopify__refund_line_items": """parent_fact_id bigint, parent_judge_batch bigint,
        shop_domain text, refund_id bigint, order_id bigint, refunded_at timestamptz,
        position integer, refund_line_item_id bigint, line_item_id bigint, variant_id bigint,
        product_id bigint, quantity integer, subtotal numeric, total_tax numeric""",
    "stg_shopify__customers": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, customer_id bigint, email text,
        first_name text, last_name text, phone text, company text, address1 text, city text,
        province text, country_code text, zip text, tags text[], marketing_consent_state text,
        accepts_marketing boolean, account_state text, created_at timestamptz,
        updated_at timestamptz""",
    "stg_shopify__products": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, product_id bigint, title text,
        handle text, product_type text, vendor text, status text, tags text,
        published_at timestamptz, created_at timestamptz, updated_at timestamptz""",
    "stg_shopify__product_variants": """parent_fact_id bigint, shop_domain text,
        product_id bigint, variant_id bigint, position integer, sku text, title text,
        price numeric, compare_at_price numeric, inventory_item_id bigint,
        inventory_quantity integer, created_at timestamptz, updated_at timestamptz""",
    "stg_shopify__inventory_items": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, inventory_item_id bigint, sku text,
        cost numeric, is_tracked boolean, created_at timestamptz, updated_at timestamptz""",
    "stg_shopify__inventory_levels": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, inventory_item_id bigint,
        location_id bigint, available integer, updated_at timestamptz""",
    "stg_chatwoot__conversations": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, conversation_id bigint,
        account_id bigint, inbox_id bigint, channel text, status text, priority text,
        assignee_id bigint, team_id bigint, contact_id bigint, created_at timestamptz,
        first_reply_created_at timestamptz, waiting_since timestamptz,
        last_activity_at timestamptz, snoozed_until timestamptz, updated_at timestamptz,
        last_event text""",
    "stg_chatwoot__messages": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, message_id bigint,
        conversation_id bigint, account_id bigint, inbox_id bigint, message_type text,
        content_type text, is_private boolean, sender_type text, sender_id bigint,
        created_at timestamptz, csat_rating integer, last_event text""",
    "stg_search_console__search_analytics": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, row_key bigint, site_url text,
        search_type text, aggregation_type text, data_state text, report_date date,
        report_hour timestamptz, page text, query text, device text, country text,
        search_appearance text, clicks bigint, impressions bigint, ctr numeric,
        position numeric, fetched_at timestamptz""",
    "stg_ga4__landing_pages": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, row_key bigint, property_id bigint,
        report_date date, landing_page text, channel_group text, source_medium text,
        device_category text, sessions bigint, engaged_sessions numeric, active_users numeric,
        new_users numeric, key_events numeric, total_revenue numeric, currency_code text,
        time_zone text, fetched_at timestamptz""",
    "stg_instagram__media": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, media_key bigint, media_id text,
        ig_user_id text, posted_at timestamptz, media_type text, media_product_type text,
        permalink text, like_count bigint, comments_count bigint, fetched_at timestamptz""",
    "stg_instagram__media_insights": """fact_id bigint, judge_batch bigint,
        fact_created_at timestamptz, shop_domain text, media_key bigint, media_id text,
        reach bigint, views bigint, impressions bigint, video_views bigint, plays bigint,
        likes bigint, comments bigint, saved bigint, shares bigint, total_interactions bigint,
        follows bigint, profile_visits bigint, fetched_at timestamptz""",
}
# The tables each topic fills.
TOPIC_TABLES = {
    "shopify.orders": ("stg_shopify__orders", "stg_shopify__order_line_items"),
    "shopify.refunds": ("stg_shopify__refunds", "stg_shopify__refund_line_items"),
    "shopify.customers": ("stg_shopify__customers",),
    "shopify.products": ("stg_shopify__products", "stg_shopify__product_variants"),
    "shopify.inventory_items": ("stg_shopify__inventory_items",),
    "shopify.inventory_levels": ("stg_shopify__inventory_levels",),
    "chatwoot.conversations": ("stg_chatwoot__conversations",),
    "chatwoot.messages": ("stg_chatwoot__messages",),
    "search_console.search_analytics": ("stg_search_console__search_analytics",),
    "ga4.landing_pages": ("stg_ga4__landing_pages",),
    "instagram.media": ("stg_instagram__media",),
    "instagram.media_insights": ("stg_instagram__media_insights",),
}
# facts_triage: the verdicts and, for a good fact, its entity's key and version time.
TRIAGE_TABLE = """fact_id bigint, shop_domain text, topic text, reason text,
    fact_created_at timestamptz, entity_id bigint, location_id bigint, version_at timestamptz"""
SEED = ("category_tree", "product_type text, category_l1 text, category_l2 text")


# ---------------------------------------------------------------------------------------------
# The steps and their order


@dataclass(frozen=True)
class Schemas:
    staging: str
    ops: str
    intermediate: str
    marts: str

    @classmethod
    def with_prefix(cls, prefix: str) -> Schemas:
        return cls(*(prefix + name for name in ("staging", "ops", "intermediate", "marts")))


@dataclass
class Step:
    name: str
    statements: list[str]
    after: set[str]


def _setup_statements(s: Schemas) -> list[str]:
    statements = [f"drop schema if exists {name} cascade" for name in vars(s).values()]
    statements += [f"create schema {name}" for name in vars(s).values()]
    statements += [
        f"create table {s.staging}.{name} ({columns})" for name, columns in STAGING_TABLES.items()
    ]
    # One partition per topic: staging reads its topic's verdicts only.
    statements.append(
        f"create table {s.ops}.facts_triage ({TRIAGE_TABLE}) partition by list (topic)"
    )
    statements += [
        f"create table {s.ops}.facts_triage_{_short(topic)}"
        f" partition of {s.ops}.facts_triage for values in ('{topic}')"
        for topic in STAGED_TOPICS
    ]
    statements.append(f"create table {s.staging}.{SEED[0]} ({SEED[1]})")
    # The judge's functions over the items of an array field (judge_functions).
    statements += _judge_function_statements(s.ops)
    return statements


def compiled_models(as_of_date: str, target: object = None) -> dict[str, tuple[str, str, str]]:
    """The intermediate and mart models' SQL as dbt compiles it with the as-of date (the project's
    own models, so the floor computes what they compute): model -> (layer, SQL, materialization:
    table or view; an incremental model's table is built whole here), relation names as
    placeholders the run fills in. dbt compiles before the clock starts; nothing of dbt runs in
    what is timed."""
    from runner import db, dbt

    with tempfile.TemporaryDirectory(prefix="plain-sql-") as out:
        run = dbt.invoke(
            target if isinstance(target, db.Target) else db.resolve_target(),
            [
                "compile",
                "--select",
                "intermediate",
                "marts",
                # every row, as a full refresh (an incremental model compiles to its changes)
                "--full-refresh",
                "--vars",
                f"{{as_of_date: '{as_of_date}'}}",
                "--target-path",
                out,
            ],
        )
        dbt.require_success(run)
        manifest = json.loads((Path(out) / "manifest.json").read_text())
        views = {
            node["name"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["config"]["materialized"] == "view"
        }
        models = {}
        for layer in ("intermediate", "marts"):
            for path in sorted(
                (Path(out) / "compiled" / "hotdash" / "models" / layer).glob("*.sql")
            ):
                text = re.sub(
                    r'"[^"]+"\."(staging|intermediate|marts)"\."(\w+)"',
                    r"{{ \1 }}.\2",
                    path.read_text(),
                )
                text = text.replace(f"'{as_of_date}'::date", "{{ as_of_date }}")
                if as_of_date in text:
                    raise ValueError(f"{path.name}: the as-of date is left in a form not known")
                models[path.stem] = (layer, text, "view" if path.stem in views else "table")
    return models


def _render(template: str, s: Schemas, as_of_date: str) -> str:
    values = {**vars(s), "as_of_date": f"'{as_of_date}'::date"}
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: values[m.group(1)], template)


def _short(topic: str) -> str:
    return topic.removeprefix("shopify.").replace(".", "_")


def steps(
    s: Schemas,
    as_of_date: str,
    templates: dict[str, tuple[str, str, str]],
    facts: str = "public.facts",
    slices: list[tuple[int | None, int | None]] | None = None,
) -> list[Step]:
    """Every step after setup, each with the steps it waits for, in the order to start them.

    `slices`: the ranges of fact ids to judge in steps of their own (default: one, every id)."""
    topics = [TOPICS[topic]() for topic in STAGED_TOPICS]
    parts = slices or [(None, None)]
    # a pass per topic, as the judge's groups (judge_groups): each reads only its topic's fields
    groups = [[t] for t in topics]
    judge = [
        Step(
            "judge" + (f" {n + 1}/{len(parts)}" if len(parts) > 1 else ""),
            [judge_statement(group, s.ops, facts, ids) for group in groups],
            set(),
        )
        for n, ids in enumerate(parts)
    ]
    judged = {step.name for step in judge}
    stage: list[Step] = []
    for t in topics:
        n_parts = len(parts) if t.topic in SPLIT_TOPICS else 1
        stage += [
            Step(
                f"stage {_short(t.topic)}" + (f" {n + 1}/{n_parts}" if n_parts > 1 else ""),
                [stage_statement(t, s.staging, s.ops, facts, (n, n_parts))],
                judged,
            )
            for n in range(n_parts)
        ]
    stage_of = {
        table: {step.name for step in stage if step.name.startswith(f"stage {_short(topic)}")}
        for topic, names in TOPIC_TABLES.items()
        for table in names
    }
    stage_of[SEED[0]] = {"seed"}
    layer_of = {"intermediate": s.intermediate, "marts": s.marts}
    refs = {
        model: re.findall(r"\{\{\s*(staging|intermediate|marts)\s*\}\}\.(\w+)", template)
        for model, (_, template, _) in templates.items()
    }
    read = {name for found in refs.values() for schema, name in found if schema != "staging"}
    models: list[Step] = []
    for model, (layer, template, materialized) in templates.items():
        after: set[str] = set()
        for schema, name in refs[model]:
            after |= stage_of[name] if schema == "staging" else {name}
        table = f"{layer_of[layer]}.{model}"
        if materialized == "view":
            # computed when read, as dbt's view is: nothing to build or analyze
            models.append(
                Step(model, [f"create view {table} as\n" + _render(template, s, as_of_date)], after)
            )
            continue
        statements = [f"create table {table} as\n" + _render(template, s, as_of_date)]
        # An index a model's query is written to read through (a lateral read per row of
        # another table, which without it scans this one each time), as the model's config
        # creates it; no other index of dbt's.
        statements += [
            f"create index on {table} ({columns})" for columns in READ_THROUGH.get(model, ())
        ]
        if model in read:
            # Statistics for the joins of the models that read it (dbt's post-hook too).
            statements.append(f"analyze {table}")
        models.append(Step(model, statements, after))
    # The steps that head the longest chain of steps waiting for them first (the ready step
    # listed first starts first).
    ordered = [*judge, *stage, *models]
    chain = {step.name: 0 for step in ordered}
    for _ in ordered:
        for step in ordered:
            for name in step.after & chain.keys():
                chain[name] = max(chain[name], chain[step.name] + 1)
    return sorted(ordered, key=lambda step: -chain[step.name])


# The topics staged in parts by key hash, one per connection (most of the facts are orders).
SPLIT_TOPICS = ("shopify.orders",)


# ---------------------------------------------------------------------------------------------
# Running


def _conninfo(target: object) -> str:
    if isinstance(target, str):
        return target
    if isinstance(target, psycopg.Connection):
        return psycopg.conninfo.make_conninfo(target.info.dsn, password=target.info.password)
    return target.conninfo  # a runner.db.Target


def resolve(database: str | None = None) -> object:
    """The runner's target, or its server's database `database` (embedded: created if missing)."""
    from runner import db

    base = db.resolve_target()
    if database is None:
        return base
    if base.kind == "embedded":
        return db.embedded_target(base.project_dir, base.home, dbname=database)
    params = psycopg.conninfo.conninfo_to_dict(base.conninfo)
    params["dbname"] = database
    return psycopg.conninfo.make_conninfo(**params)


@contextmanager
def _session(conninfo: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Plans of seconds, not milliseconds: compiling them to machine code costs more than it saves.
        conn.execute("set jit = off")
        # The statistics of a model's table serve only the plans of the models reading it: a small
        # sample (3,000 rows) serves them, at a tenth of the cost of the default.
        conn.execute("set default_statistics_target = 10")
        yield conn


def _today(conninfo: str) -> str:
    with _session(conninfo) as conn:
        (today,) = conn.execute(
            f"select (current_timestamp at time zone '{REPORTING_TIMEZONE}')::date::text"
        ).fetchone()
    return today


def run(
    target: object,
    schema_prefix: str = "plain_",
    as_of_date: str | dt.date | None = None,
    jobs: int = 2,
    facts: str = "public.facts",
    starts: dict[str, float] | None = None,
) -> dict[str, float]:
    """Build every table: the seconds of each step (in the order they started; steps on
    different connections overlap) and the wall clock 'total'. `starts`, when given, receives
    when each step started (seconds after the run began)."""
    conninfo = _conninfo(target)
    s = Schemas.with_prefix(schema_prefix)
    as_of = str(as_of_date) if as_of_date else _today(conninfo)
    templates = compiled_models(as_of, target)
    started = time.perf_counter()
    begun: dict[str, float] = {}
    seconds: dict[str, float] = {}

    def timed(conn: psycopg.Connection, step: Step) -> None:
        begin = time.perf_counter()
        begun[step.name] = begin - started
        with conn.transaction():
            for statement in step.statements:
                conn.execute(statement)
        seconds[step.name] = time.perf_counter() - begin

    with _session(conninfo) as conn:
        timed(conn, Step("setup", _setup_statements(s), set()))
        begin = time.perf_counter()
        begun["seed"] = begin - started
        with (
            conn.cursor() as cur,
            cur.copy(f"copy {s.staging}.{SEED[0]} from stdin with (format csv, header)") as copy,
        ):
            copy.write((PROJECT_DIR / "seeds" / f"{SEED[0]}.csv").read_bytes())
        seconds["seed"] = time.perf_counter() - begin
        slices = _slices(conn, facts, jobs)
    _run_parallel(conninfo, steps(s, as_of, templates, facts, slices), max(1, jobs), timed)
    total = time.perf_counter() - started
    if starts is not None:
        starts.update(begun)
    ordered = {name: seconds[name] for name in sorted(seconds, key=begun.__getitem__)}
    return {**ordered, "total": total}


def _slices(
    conn: psycopg.Connection, facts: str, parts: int
) -> list[tuple[int | None, int | None]]:
    """`parts` ranges of fact ids of equal width covering every fact (facts' primary key)."""
    low, high = conn.execute(f"select min(id), max(id) from {facts}").fetchone()
    if parts < 2 or low is None or high - low < parts:
        return [(None, None)]
    cuts = [low + (high - low + 1) * n // parts for n in range(1, parts)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def _run_parallel(conninfo: str, todo: list[Step], jobs: int, timed) -> None:
    """Run the steps on `jobs` connections, each as soon as the steps it waits for are done; the
    first error stops the run (the steps running finish) and is raised."""
    done = {"setup", "seed"}
    running: set[str] = set()
    lock = threading.Condition()
    errors: list[str] = []

    def next_step() -> Step | None:
        with lock:
            while not errors and todo:
                ready = [step for step in todo if step.after <= done]
                if ready:
                    todo.remove(ready[0])
                    running.add(ready[0].name)
                    return ready[0]
                if not running:
                    errors.append(f"steps wait for steps that never run: {[s.name for s in todo]}")
                    lock.notify_all()
                    break
                lock.wait()
            return None

    def worker() -> None:
        step = None
        try:
            with _session(conninfo) as conn:
                while (step := next_step()) is not None:
                    timed(conn, step)
                    with lock:
                        running.discard(step.name)
                        done.add(step.name)
                        lock.notify_all()
        except Exception as exc:
            with lock:
                errors.append(f"step {step.name}: {exc}" if step else str(exc))
                lock.notify_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors or todo:
        raise RuntimeError(errors[0] if errors else "no connection could run the steps")


# ---------------------------------------------------------------------------------------------
# Comparing with dbt's tables

# Columns of dbt's tables that record how a row was built, not what it says.
BOOKKEEPING_COLUMNS = {"judge_batch", "parent_judge_batch"}


def tables(
    schema_prefix: str, models: dict[str, str]
) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(dbt's table, the plain table, the columns to compare or None for dbt's own); `models`:
    the intermediate and mart tables, name -> layer."""
    s = Schemas.with_prefix(schema_prefix)
    out: list[tuple[str, str, tuple[str, ...] | None]] = [
        (f"staging.{name}", f"{s.staging}.{name}", None) for name in [*STAGING_TABLES, SEED[0]]
    ]
    out.append(("ops.facts_triage", f"{s.ops}.facts_triage", ("fact_id", "reason")))
    for model, layer in sorted(models.items()):
        out.append((f"{layer}.{model}", f"{getattr(s, layer)}.{model}", None))
    return out


def compare(target: object, schema_prefix: str = "plain_") -> dict[str, str]:
    """{dbt table: what differs} for the tables that differ (see comparison); equal ones are
    absent."""
    return {
        name: outcome
        for name, outcome in comparison(target, schema_prefix).items()
        if outcome != EQUAL
    }


EQUAL = "equal"


def comparison(target: object, schema_prefix: str = "plain_") -> dict[str, str]:
    """Every plain table against dbt's table of the same name, row for row (EXCEPT ALL both ways
    on dbt's columns, as text, bookkeeping aside): {dbt table: EQUAL or what differs}, for every
    table either side has."""
    differ: dict[str, str] = {}
    with _session(_conninfo(target)) as conn:
        found = conn.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema in ('staging', 'intermediate', 'marts')"
            " and table_type = 'BASE TABLE'"
            # the records of what builds found (alerts, snapshots) are not built from facts
            " and not (table_schema = 'marts' and table_name = any(%s)) order by 1, 2",
            (list(settings.BUILD_RECORDS),),
        ).fetchall()
        models = {name: schema for schema, name in found if schema != "staging"}
        compared = tables(schema_prefix, models)
        # A staging table this script does not build (yet) differs too.
        known = {theirs for theirs, _, _ in compared}
        for schema, name in found:
            if f"{schema}.{name}" not in known:
                differ[f"{schema}.{name}"] = (
                    "no plain table: the model is not in scripts/plain_sql.py"
                )
        for theirs, ours, only in compared:
            columns = list(only or ())
            if not columns:
                schema, name = theirs.split(".")
                columns = [
                    row[0]
                    for row in conn.execute(
                        "select column_name from information_schema.columns"
                        " where table_schema = %s and table_name = %s order by ordinal_position",
                        (schema, name),
                    )
                    if row[0] not in BOOKKEEPING_COLUMNS
                ]
            if not columns:
                differ[theirs] = "dbt's table is missing"
                continue
            listed = ", ".join(f'"{column}"::text' for column in columns)
            try:
                (only_theirs, only_ours, rows) = conn.execute(
                    f"""select
                        (select count(*) from (select {listed} from {theirs}
                            except all select {listed} from {ours}) as d),
                        (select count(*) from (select {listed} from {ours}
                            except all select {listed} from {theirs}) as d),
                        (select count(*) from {theirs})"""
                ).fetchone()
            except psycopg.Error as exc:
                differ[theirs] = str(exc).strip().splitlines()[0]
                continue
            differ[theirs] = (
                f"{only_theirs:,} of {rows:,} rows only in dbt's, {only_ours:,} only in {ours}"
                if only_theirs or only_ours
                else EQUAL
            )
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="database (default: the one `hotdash` uses)")
    parser.add_argument("--schema-prefix", default="plain_")
    parser.add_argument("--as-of-date", type=dt.date.fromisoformat, help="default: today (UTC)")
    parser.add_argument("--jobs", type=int, default=2, help="connections at once (default 2)")
    parser.add_argument("--facts-table", default="public.facts")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="check every table against dbt's; exit 1 if any differ",
    )
    args = parser.parse_args()
    target = resolve(args.database)
    starts: dict[str, float] = {}
    try:
        seconds = run(
            target,
            schema_prefix=args.schema_prefix,
            as_of_date=args.as_of_date,
            jobs=args.jobs,
            facts=args.facts_table,
            starts=starts,
        )
    except (psycopg.Error, RuntimeError) as exc:
        sys.exit(f"error: {str(exc).strip()}")
    total = seconds.pop("total")
    print(f"{'step':<36} {'started':>8} {'seconds':>8}")
    for name, value in seconds.items():
        print(f"{name:<36} {starts[name]:8.2f} {value:8.2f}")
    print(f"{'total (wall clock)':<36} {'':>8} {total:8.2f}")
    if args.compare:
        outcomes = comparison(target, args.schema_prefix)
        for name, outcome in outcomes.items():
            print(f"{name:<48} {outcome}")
        differ = [name for name, outcome in outcomes.items() if outcome != EQUAL]
        if differ:
            sys.exit(f"{len(differ)} of {len(outcomes)} tables differ: {', '.join(differ)}")
        print(f"all {len(outcomes)} tables equal")


if __name__ == "__main__":
    main()
