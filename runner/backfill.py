"""History on day one: a Shopify GraphQL bulk-operation JSONL file into facts (`hotdash backfill`).

A bulk operation's output is one JSON object per line: top-level objects (an `Order`) and the
objects of their connections (its `LineItem`s), each child naming its parent's gid in
`__parentId`. Shopify does not promise that children follow their parent directly (nor, for an
ungrouped operation, in any order), so the file cannot be joined in one pass with flat memory.

How a file is stored (one transaction: every fact of it lands, or none does):

1. Each line is parsed and normalized in Python into the REST/webhook shape staging already reads
   (numeric ids from gids, money from `shopMoney.amount`, snake_case fields, lower-case enums),
   and streamed with COPY into a temporary spool table: memory stays flat at any size.
2. PostgreSQL joins the children to their parents (`line_items` assembled per order, in file
   order) and writes one fact per entity: topic `shopify.orders` for an order,
   `shopify.refunds` for each of its refunds, marked `"hotdash_source": "graphql_bulk"`.
3. Idempotency: each fact's key (shop, topic, id, version: updatedAt, or createdAt for a refund)
   goes into `facts_backfill_keys` with ON CONFLICT DO NOTHING in the same statement that
   inserts the facts, so a re-run (or a concurrent run of the same file) adds nothing twice.

Normalized: `orders` (orders, line items, refunds), `customers`, `products` (products,
variants) and `inventory` (inventory items, their levels).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from runner.errors import LoadError
from runner.facts import ensure_facts_table, facts_table
from runner.load import LoadProgress, default_shop

SOURCE = "graphql_bulk"
KEYS_TABLE = "facts_backfill_keys"
PROGRESS_EVERY = 10_000
OBJECTS = {
    "orders": "Order",
    "customers": "Customer",
    "products": "Product",
    "inventory": "InventoryItem",
}
SUPPORTED = ("orders", "customers", "products", "inventory")

_GID = re.compile(r"^gid://shopify/([A-Za-z]+)/(\d+)(?:\?.*)?$")

SpoolRow = tuple[int, int, str, str, str | None, int, str | None, str]
"""(line, position in its line, kind, gid, parent gid, numeric id, version, body as JSON)."""


@dataclass
class BackfillResult:
    path: Path
    object: str
    lines: int = 0
    facts: int = 0
    skipped: int = 0  # entity versions already stored by an earlier backfill
    by_topic: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)  # child types not normalized
    seconds: float = 0.0


class _LineError(Exception):
    pass


def parse_gid(value: object) -> tuple[str, int] | None:
    """`gid://shopify/Order/450789469` -> ("Order", 450789469); None for anything else."""
    if not isinstance(value, str):
        return None
    match = _GID.match(value)
    return (match.group(1), int(match.group(2))) if match else None


def _id(value: object, what: str) -> int:
    parsed = parse_gid(value)
    if parsed is None:
        raise _LineError(f"{what} {value!r} is not a Shopify gid")
    return parsed[1]


def _optional_id(obj: object) -> int | None:
    """The numeric id of a nested `{id: gid}` reference (variant, product, customer), or None."""
    if isinstance(obj, dict) and obj.get("id") is not None:
        return _id(obj["id"], "id")
    return None


def _money(bag: object, what: str) -> str | None:
    """The shop-currency amount of a MoneyBag (`{shopMoney: {amount}}`), as decimal text.
    Presentment money (the buyer's currency) is ignored: every mart sums in shop currency."""
    if bag is None:
        return None
    amount = bag.get("shopMoney", {}).get("amount") if isinstance(bag, dict) else None
    if amount is None:
        raise _LineError(f"{what} has no shopMoney.amount")
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise _LineError(f"{what}.shopMoney.amount {amount!r} is not a number") from None
    if not value.is_finite():
        raise _LineError(f"{what}.shopMoney.amount {amount!r} is not a number")
    return str(amount)


def _timestamp(value: object, what: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _LineError(f"has no {what} (add it to the bulk query: it orders the versions)")
        return None
    try:
        dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _LineError(f"{what} {value!r} is not an ISO 8601 timestamp") from None
    return str(value)


def _enum(value: object) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _nodes(value: object) -> list[dict]:
    """The objects of an inline connection or list: `{edges: [{node}]}`, `{nodes: [...]}`, `[...]`."""
    if value is None:
        return []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    if isinstance(value, dict):
        if "edges" in value:
            return [edge["node"] for edge in value["edges"] or [] if isinstance(edge, dict)]
        return [item for item in value.get("nodes") or [] if isinstance(item, dict)]
    raise _LineError("a nested list is neither a list nor a connection")


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --- the REST shape -------------------------------------------------------------------------

_FULFILLMENT = {
    "fulfilled": "fulfilled",
    "partially_fulfilled": "partial",
    "restocked": "restocked",
}


def order_body(node: dict) -> dict:
    """An Order node as the REST order staging reads (line_items are assembled in SQL)."""
    order_id = _id(node.get("id"), "id")
    name = node.get("name")
    number = node.get("number")
    if number is None and isinstance(name, str) and name.lstrip("#").isdigit():
        number = int(name.lstrip("#"))
    customer_id = _optional_id(node.get("customer"))
    fulfillment = _enum(node.get("displayFulfillmentStatus"))
    return {
        "id": order_id,
        "admin_graphql_api_id": node["id"],
        "hotdash_source": SOURCE,
        "name": name,
        "order_number": number,
        "email": node.get("email"),
        "customer": {"id": customer_id} if customer_id is not None else None,
        "created_at": _timestamp(node.get("createdAt"), "createdAt", required=True),
        "processed_at": _timestamp(node.get("processedAt"), "processedAt"),
        "updated_at": _timestamp(node.get("updatedAt"), "updatedAt", required=True),
        "cancelled_at": _timestamp(node.get("cancelledAt"), "cancelledAt"),
        "cancel_reason": _enum(node.get("cancelReason")),
        "test": bool(node.get("test", False)),
        "financial_status": _enum(node.get("displayFinancialStatus")),
        # REST says null for an unfulfilled order, GraphQL UNFULFILLED.
        "fulfillment_status": _FULFILLMENT.get(fulfillment or "", fulfillment)
        if fulfillment not in (None, "unfulfilled")
        else None,
        # currencyCode is the shop's currency: every amount below is shopMoney.
        "currency": node.get("currencyCode"),
        "subtotal_price": _money(node.get("subtotalPriceSet"), "subtotalPriceSet"),
        "total_discounts": _money(node.get("totalDiscountsSet"), "totalDiscountsSet"),
        "total_tax": _money(node.get("totalTaxSet"), "totalTaxSet"),
        "total_price": _money(node.get("totalPriceSet"), "totalPriceSet"),
        "discount_codes": [{"code": code} for code in node.get("discountCodes") or []],
        "source_name": node.get("sourceName"),
    }


def line_item_body(node: dict) -> dict:
    """A LineItem node as a REST line item: price is the original unit price in shop money."""
    quantity = node.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise _LineError(f"quantity {quantity!r} is not an integer")
    price = _money(node.get("originalUnitPriceSet"), "originalUnitPriceSet")
    if price is None:
        raise _LineError("has no originalUnitPriceSet (the unit price staging reads)")
    return {
        "id": _id(node.get("id"), "id"),
        "admin_graphql_api_id": node["id"],
        "product_id": _optional_id(node.get("product")),
        "variant_id": _optional_id(node.get("variant")),
        "sku": node.get("sku"),
        "title": node.get("title"),
        "variant_title": node.get("variantTitle"),
        "name": node.get("name"),
        "quantity": quantity,
        "price": price,
        "total_discount": _money(node.get("totalDiscountSet"), "totalDiscountSet") or "0",
    }


def _refunded_line_item(node: object) -> dict | None:
    """A refund line item's `lineItem { id variant { id } product { id } }` as REST's line_item."""
    if not isinstance(node, dict):
        return None
    return {
        "id": _optional_id(node),
        "variant_id": _optional_id(node.get("variant")),
        "product_id": _optional_id(node.get("product")),
        "price": _money(node.get("originalUnitPriceSet"), "lineItem.originalUnitPriceSet"),
    }


def refund_body(node: dict, order_id: int) -> dict:
    """A Refund node as the REST refund: its transactions when queried, else one successful
    refund transaction of totalRefundedSet."""
    transactions = [
        {
            "id": _id(t.get("id"), "transaction id") if t.get("id") else None,
            "kind": _enum(t.get("kind")) or "refund",
            "status": _enum(t.get("status")) or "success",
            "amount": _money(t.get("amountSet"), "amountSet"),
        }
        for t in _nodes(node.get("transactions"))
    ]
    if not transactions and node.get("totalRefundedSet") is not None:
        amount = _money(node["totalRefundedSet"], "totalRefundedSet")
        transactions = [{"kind": "refund", "status": "success", "amount": amount}]
    refund_line_items = [
        {
            "id": _id(r.get("id"), "refund line item id") if r.get("id") else None,
            "line_item_id": _optional_id(r.get("lineItem")),
            "line_item": _refunded_line_item(r.get("lineItem")),
            "quantity": r.get("quantity"),
            "subtotal": _money(r.get("subtotalSet"), "subtotalSet"),
        }
        for r in _nodes(node.get("refundLineItems"))
    ]
    created_at = _timestamp(node.get("createdAt"), "createdAt", required=True)
    return {
        "id": _id(node.get("id"), "id"),
        "admin_graphql_api_id": node["id"],
        "hotdash_source": SOURCE,
        "order_id": order_id,
        "created_at": created_at,
        "processed_at": None,  # a GraphQL Refund has no processedAt
        "updated_at": _timestamp(node.get("updatedAt"), "updatedAt"),
        "note": node.get("note"),
        "transactions": transactions,
        "refund_line_items": refund_line_items,
    }


def _address(node: object) -> dict | None:
    """A MailingAddress as REST's address; province_code is Shopify's GraphQL provinceCode."""
    if not isinstance(node, dict):
        return None
    return {
        "address1": node.get("address1"),
        "address2": node.get("address2"),
        "city": node.get("city"),
        "company": node.get("company"),
        "province": node.get("province"),
        "province_code": node.get("provinceCode"),
        "country": node.get("country"),
        "country_code": node.get("countryCodeV2"),
        "zip": node.get("zip"),
        "phone": node.get("phone"),
    }


def customer_body(node: dict) -> dict:
    """A Customer node as the REST customer staging reads (tags joined with ", ", as REST)."""
    consent = node.get("emailMarketingConsent")
    orders = node.get("numberOfOrders")
    spent = node.get("amountSpent")  # a MoneyV2, in shop currency
    return {
        "id": _id(node.get("id"), "id"),
        "admin_graphql_api_id": node["id"],
        "hotdash_source": SOURCE,
        "email": node.get("email"),
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "phone": node.get("phone"),
        "state": _enum(node.get("state")),
        "tags": ", ".join(node.get("tags") or []),
        "default_address": _address(node.get("defaultAddress")),
        "email_marketing_consent": {
            "state": _enum(consent.get("marketingState")),
            "opt_in_level": _enum(consent.get("marketingOptInLevel")),
            "consent_updated_at": consent.get("consentUpdatedAt"),
        }
        if isinstance(consent, dict)
        else None,
        "orders_count": int(orders)
        if isinstance(orders, str | int) and str(orders).isdigit()
        else None,
        "total_spent": _money({"shopMoney": spent}, "amountSpent")
        if isinstance(spent, dict)
        else None,
        "created_at": _timestamp(node.get("createdAt"), "createdAt"),
        "updated_at": _timestamp(node.get("updatedAt"), "updatedAt", required=True),
    }


def _refund_rows(line: int, position: int, node: dict, order_gid: str) -> SpoolRow:
    body = refund_body(node, _id(order_gid, "__parentId"))
    version = body["updated_at"] or body["created_at"]
    return (line, position, "refund", node["id"], order_gid, body["id"], version, _dumps(body))


def spool_rows(line: int, obj: dict, obj_type: str, result: BackfillResult) -> Iterator[SpoolRow]:
    """The spool rows of one line of an orders or customers bulk file."""
    gid = obj["id"]
    parent = obj.get("__parentId")
    if obj_type == "InventoryItem" and parent is None:
        body = inventory_item_body(obj)
        yield (line, 0, "inventory_item", gid, None, body["id"], body["updated_at"], _dumps(body))
        for position, level in enumerate(_nodes(obj.get("inventoryLevels")), 1):
            yield _level_row(line, position, level, gid)
    elif obj_type == "InventoryLevel" and parent is not None:
        yield _level_row(line, 0, obj, parent)
    elif obj_type == "Product" and parent is None:
        body = product_body(obj)
        yield (line, 0, "product", gid, None, body["id"], body["updated_at"], _dumps(body))
        for position, variant in enumerate(_nodes(obj.get("variants")), 1):
            yield _variant_row(line, position, variant, gid)
    elif obj_type == "ProductVariant" and parent is not None:
        yield _variant_row(line, 0, obj, parent)
    elif obj_type == "Customer" and parent is None:
        body = customer_body(obj)
        yield (line, 0, "customer", gid, None, body["id"], body["updated_at"], _dumps(body))
    elif obj_type == "Order" and parent is None:
        body = order_body(obj)
        yield (line, 0, "order", gid, None, body["id"], body["updated_at"], _dumps(body))
        # Inline lists (refunds is a list, not a connection) and, outside bulk files, inline
        # connections of line items.
        for position, item in enumerate(_nodes(obj.get("lineItems")), 1):
            yield _line_item_row(line, position, item, gid)
        for position, refund in enumerate(_nodes(obj.get("refunds")), 1):
            yield _refund_rows(line, position, refund, gid)
    elif obj_type == "LineItem" and parent is not None:
        yield _line_item_row(line, 0, obj, parent)
    elif obj_type == "Refund" and parent is not None:
        yield _refund_rows(line, 0, obj, parent)
    elif parent is None:
        raise _LineError(f"is a top-level {obj_type}: one object per file")
    else:
        result.ignored[obj_type] = result.ignored.get(obj_type, 0) + 1


def inventory_item_body(node: dict) -> dict:
    """An InventoryItem node as the REST inventory item: cost is unitCost (shop currency)."""
    cost = node.get("unitCost")
    return {
        "id": _id(node.get("id"), "id"),
        "admin_graphql_api_id": node["id"],
        "hotdash_source": SOURCE,
        "sku": node.get("sku"),
        "tracked": node.get("tracked"),
        "cost": _money({"shopMoney": cost}, "unitCost") if isinstance(cost, dict) else None,
        "created_at": _timestamp(node.get("createdAt"), "createdAt"),
        "updated_at": _timestamp(node.get("updatedAt"), "updatedAt", required=True),
    }


def inventory_level_body(node: dict, inventory_item_id: int) -> dict:
    """An InventoryLevel node as the REST inventory level: available is the `available` of
    `quantities(names: ["available"])` (or the older `available` field)."""
    available = node.get("available")
    for quantity in node.get("quantities") or []:
        if isinstance(quantity, dict) and quantity.get("name") == "available":
            available = quantity.get("quantity")
    location = _optional_id(node.get("location"))
    if location is None:
        raise _LineError("has no location { id }")
    return {
        "inventory_item_id": inventory_item_id,
        "location_id": location,
        "admin_graphql_api_id": node.get("id"),
        "hotdash_source": SOURCE,
        "available": available,
        "updated_at": _timestamp(node.get("updatedAt"), "updatedAt", required=True),
    }


def _level_row(line: int, position: int, node: dict, parent: str) -> SpoolRow:
    item_id = _id(parent, "__parentId")
    body = inventory_level_body(node, item_id)
    gid = node.get("id") or f"{parent}/{body['location_id']}"
    version = body["updated_at"]
    return (line, position, "inventory_level", gid, parent, item_id, version, _dumps(body))


def product_body(node: dict) -> dict:
    """A Product node as the REST product staging reads (variants are assembled in SQL)."""
    return {
        "id": _id(node.get("id"), "id"),
        "admin_graphql_api_id": node["id"],
        "hotdash_source": SOURCE,
        "title": node.get("title"),
        "handle": node.get("handle"),
        "product_type": node.get("productType"),
        "vendor": node.get("vendor"),
        "status": _enum(node.get("status")),
        "tags": ", ".join(node.get("tags") or []),
        "published_at": _timestamp(node.get("publishedAt"), "publishedAt"),
        "created_at": _timestamp(node.get("createdAt"), "createdAt"),
        "updated_at": _timestamp(node.get("updatedAt"), "updatedAt", required=True),
    }


def _decimal_text(value: object, what: str) -> str | None:
    """A Money scalar (ProductVariant.price: a decimal string in shop currency)."""
    if value is None:
        return None
    try:
        if not Decimal(str(value)).is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise _LineError(f"{what} {value!r} is not a number") from None
    return str(value)


def variant_body(node: dict, product_id: int) -> dict:
    """A ProductVariant node as a REST variant."""
    return {
        "id": _id(node.get("id"), "id"),
        "admin_graphql_api_id": node["id"],
        "product_id": product_id,
        "position": node.get("position"),
        "sku": node.get("sku"),
        "title": node.get("title"),
        "price": _decimal_text(node.get("price"), "price"),
        "compare_at_price": _decimal_text(node.get("compareAtPrice"), "compareAtPrice"),
        "inventory_item_id": _optional_id(node.get("inventoryItem")),
        "inventory_quantity": node.get("inventoryQuantity"),
        "created_at": _timestamp(node.get("createdAt"), "createdAt"),
        "updated_at": _timestamp(node.get("updatedAt"), "updatedAt"),
    }


def _variant_row(line: int, position: int, node: dict, parent: str) -> SpoolRow:
    body = variant_body(node, _id(parent, "__parentId"))
    return (line, position, "variant", node["id"], parent, body["id"], None, _dumps(body))


def _line_item_row(line: int, position: int, node: dict, parent: str) -> SpoolRow:
    body = line_item_body(node)
    return (line, position, "line_item", node["id"], parent, body["id"], None, _dumps(body))


# --- reading the file -----------------------------------------------------------------------


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    raw = path.open("rb")
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw), raw
    return raw, raw


def _lines(path: Path) -> Iterator[tuple[int, dict, IO[bytes]]]:
    stream, raw = _open(path)
    with raw, stream:
        for lineno, data in enumerate(stream, 1):
            text = data.decode("utf-8", errors="strict").lstrip("\ufeff").strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _Located(lineno, f"not JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise _Located(lineno, "is not a JSON object")
            yield lineno, obj, raw


class _Located(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def detect_object(path: Path) -> str:
    """The object of a bulk file, from the gid type of its first top-level line."""
    try:
        for lineno, obj, _raw in _lines(path):
            if obj.get("__parentId") is None:
                parsed = parse_gid(obj.get("id"))
                if parsed is None:
                    raise _Located(lineno, f"id {obj.get('id')!r} is not a Shopify gid")
                for name, type_name in OBJECTS.items():
                    if type_name == parsed[0]:
                        return name
                raise _Located(lineno, f"a top-level {parsed[0]} is not a backfill object")
    except (_Located, UnicodeDecodeError) as exc:
        raise _error(path, exc) from None
    raise LoadError(f"{path.name} has no top-level object; nothing was loaded")


def _error(path: Path, exc: Exception) -> LoadError:
    if isinstance(exc, _Located):
        return LoadError(
            f"{path.name} line {exc.line}: {exc.problem}; nothing was loaded",
            hint="fix that line (or the bulk query) and backfill the file again",
        )
    return LoadError(f"{path.name}: {exc}; nothing was loaded")


def _spool(path: Path, result: BackfillResult, progress) -> Iterator[SpoolRow]:
    total = path.stat().st_size
    for lineno, obj, raw in _lines(path):
        result.lines += 1
        parsed = parse_gid(obj.get("id"))
        if parsed is None:
            raise _Located(lineno, f"id {obj.get('id')!r} is not a Shopify gid")
        if obj.get("__parentId") is None and parsed[0] != OBJECTS[result.object]:
            raise _Located(
                lineno,
                f"is a top-level {parsed[0]}, in a file of {result.object}: one object per file",
            )
        if obj.get("__parentId") is not None and parse_gid(obj["__parentId"]) is None:
            raise _Located(lineno, f"__parentId {obj['__parentId']!r} is not a Shopify gid")
        try:
            yield from spool_rows(lineno, obj, parsed[0], result)
        except _LineError as exc:
            raise _Located(lineno, f"{parsed[0]} {obj['id']} {exc}") from None
        if progress is not None and result.lines % PROGRESS_EVERY == 0:
            progress(LoadProgress(result.lines, raw.tell(), total))
    if progress is not None:
        progress(LoadProgress(result.lines, total, total, True))


# --- the database ---------------------------------------------------------------------------


def ensure_keys_table(conn: psycopg.Connection, schema: str) -> None:
    """Create the idempotency keys' table when it is missing, inside the caller's transaction.
    Two first backfills at once would race on the catalog: the second waits on a lock until the
    first's transaction ends, and then finds the table."""
    name = sql.Identifier(schema, KEYS_TABLE).as_string(conn)
    if conn.execute("select to_regclass(%s)", (name,)).fetchone()[0] is not None:
        return
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (name,))
    conn.execute(
        sql.SQL(
            "create table if not exists {} ("
            " shop_domain text not null, topic text not null, entity_id bigint not null,"
            " location_id bigint not null default 0, version_at timestamptz not null,"
            " backfilled_at timestamptz not null default now(),"
            " primary key (shop_domain, topic, entity_id, location_id, version_at))"
        ).format(sql.Identifier(schema, KEYS_TABLE))
    )


_ASSEMBLE = """
with candidates as (
    select distinct on (topic, entity_id, location_id, version_at)
        'shopify.' || kind || 's' as topic,
        entity_id,
        coalesce((body ->> 'location_id')::bigint, 0) as location_id,
        version::timestamptz as version_at, gid, kind, body, line
    from backfill_spool
    where kind not in ('line_item', 'variant')
    order by topic, entity_id, location_id, version_at, line desc, position desc
),
new_keys as (
    insert into {keys} (shop_domain, topic, entity_id, location_id, version_at)
    select %(shop)s, topic, entity_id, location_id, version_at from candidates
    on conflict do nothing
    returning topic, entity_id, location_id, version_at
),
inserted as (
insert into {facts} (shop_domain, topic, value, created_at)
select
    %(shop)s,
    c.topic,
    case c.kind
        when 'order' then c.body || jsonb_build_object(
            'line_items', coalesce(items.children, '[]'::jsonb),
            'total_line_items_price', items.total::text
        )
        when 'product' then c.body || jsonb_build_object(
            'variants', coalesce(items.children, '[]'::jsonb)
        )
        else c.body
    end,
    now()
from candidates as c
inner join new_keys using (topic, entity_id, location_id, version_at)
left join lateral (
    select
        jsonb_agg(li.body order by li.line, li.position) as children,
        sum((li.body ->> 'price')::numeric * (li.body ->> 'quantity')::integer) as total
    from backfill_spool as li
    where li.kind in ('line_item', 'variant') and li.parent = c.gid
) as items on c.kind in ('order', 'product')
order by c.line, c.topic desc
returning topic
)
select topic, count(*) from inserted group by topic
"""


def backfill_file(
    conn: psycopg.Connection,
    path: Path,
    shop: str | None = None,
    object_name: str | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
    schema: str = "public",
) -> BackfillResult:
    """Backfill one bulk-operation JSONL file (or .gz) in one transaction; raises LoadError
    naming the bad line, with nothing stored."""
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path} is not a file", hint="check the path")
    shop = shop or default_shop()
    if not shop:
        raise LoadError(
            "no shop: a bulk file does not name its shop",
            hint="pass --shop your-store.myshopify.com or set HOTDASH_SHOP_DOMAIN",
        )
    start = time.monotonic()
    detected = detect_object(path)
    if object_name is not None and object_name != detected:
        raise LoadError(
            f"{path.name} holds {detected} (its first line is a {OBJECTS[detected]}),"
            f" not {object_name}; nothing was loaded"
        )
    if detected not in SUPPORTED:
        raise LoadError(
            f"backfilling {detected} is not supported yet (only {', '.join(SUPPORTED)});"
            " nothing was loaded"
        )
    result = BackfillResult(path=path, object=detected)
    ensure_facts_table(conn, schema)
    try:
        with conn.transaction():
            ensure_keys_table(conn, schema)
            conn.execute(
                "create temporary table backfill_spool (line bigint, position integer, kind text,"
                " gid text, parent text, entity_id bigint, version text, body jsonb)"
                " on commit drop"
            )
            with (
                conn.cursor() as cur,
                cur.copy(
                    "copy backfill_spool (line, position, kind, gid, parent, entity_id, version,"
                    " body) from stdin"
                ) as copy,
            ):
                for row in _spool(path, result, progress):
                    copy.write_row(row)
            conn.execute(
                "create index on backfill_spool (parent) where kind in ('line_item', 'variant')"
            )
            conn.execute("create index on backfill_spool (gid) where kind in ('order', 'product')")
            conn.execute("analyze backfill_spool")
            orphan = conn.execute(
                "select li.line, li.parent, li.kind from backfill_spool as li"
                " where li.kind in ('line_item', 'variant') and not exists (select 1"
                " from backfill_spool as o where o.kind in ('order', 'product')"
                " and o.gid = li.parent) order by li.line limit 1"
            ).fetchone()
            if orphan is not None:
                parent = "an order" if orphan[2] == "line_item" else "a product"
                raise _Located(
                    orphan[0], f"its __parentId {orphan[1]} is not {parent} of this file"
                )
            query = sql.SQL(_ASSEMBLE).format(
                keys=sql.Identifier(schema, KEYS_TABLE), facts=facts_table(schema)
            )
            candidates = conn.execute(
                "select count(*) from (select distinct kind, entity_id, body ->> 'location_id',"
                " version::timestamptz"
                " from backfill_spool where kind not in ('line_item', 'variant')) as c"
            ).fetchone()[0]
            for topic, count in conn.execute(query, {"shop": shop}).fetchall():
                result.by_topic[topic] = count
            result.facts = sum(result.by_topic.values())
            result.skipped = candidates - result.facts
    except (_Located, UnicodeDecodeError) as exc:
        raise _error(path, exc) from None
    except psycopg.Error as exc:
        primary = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        raise LoadError(
            f"the database refused {path.name}: {primary}; nothing was loaded",
            hint="`hotdash doctor` checks the database",
        ) from exc
    result.seconds = time.monotonic() - start
    return result
