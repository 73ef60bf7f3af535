"""A Shopify GraphQL bulk-operation output of orders (JSONL), for `hotdash backfill` at scale.

Each order is an `Order` line, its line items `LineItem` lines with `__parentId`, and now and
then a refund inline (Order.refunds is a list). As in Shopify's own example, a child does not
always follow its parent: about one order in five has its last line item written after the
next order. Lines are written as they are made: memory is flat at any size.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from decimal import Decimal
from pathlib import Path

ORDER_BASE = 5_500_000_000_000
LINE_BASE = 13_800_000_000_000
REFUND_BASE = 9_100_000_000_000
PRODUCT_BASE = 7_300_000_000_000
VARIANT_BASE = 4_400_000_000_000
CUSTOMER_BASE = 6_800_000_000_000


def _money(amount: Decimal) -> dict:
    text = str(amount)
    return {
        "shopMoney": {"amount": text, "currencyCode": "USD"},
        "presentmentMoney": {"amount": text, "currencyCode": "USD"},
    }


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iter_bulk_orders(n_lines: int, seed: int = 42, anchor: dt.datetime | None = None):
    """Yield exactly n_lines bulk-operation objects (orders first, children after)."""
    rng = random.Random(seed)
    anchor = anchor or dt.datetime.now(dt.UTC)
    written = 0
    held: list[dict] = []  # at most one order's last child, written after the next order
    number = 0
    while written < n_lines:
        number += 1
        order_gid = f"gid://shopify/Order/{ORDER_BASE + number}"
        created = anchor - dt.timedelta(minutes=number * 7 + rng.randint(0, 6))
        items = []
        for position in range(rng.randint(1, 4)):
            price = Decimal(rng.randint(500, 20000)) / 100
            quantity = rng.randint(1, 3)
            variant = rng.randint(1, 500)
            items.append(
                {
                    "id": f"gid://shopify/LineItem/{LINE_BASE + number * 10 + position}",
                    "sku": f"SKU-{variant}",
                    "title": f"Product {variant // 5}",
                    "variantTitle": f"Variant {variant}",
                    "quantity": quantity,
                    "originalUnitPriceSet": _money(price),
                    "totalDiscountSet": _money(Decimal("0.00")),
                    "product": {"id": f"gid://shopify/Product/{PRODUCT_BASE + variant // 5}"},
                    "variant": {"id": f"gid://shopify/ProductVariant/{VARIANT_BASE + variant}"},
                    "__parentId": order_gid,
                }
            )
        subtotal = sum(
            (
                Decimal(i["originalUnitPriceSet"]["shopMoney"]["amount"]) * i["quantity"]
                for i in items
            ),
            Decimal(0),
        )
        tax = (subtotal * Decimal("0.08")).quantize(Decimal("0.01"))
        refunds = []
        if rng.random() < 0.1:
            refunds.append(
                {
                    "id": f"gid://shopify/Refund/{REFUND_BASE + number}",
                    "createdAt": _iso(created + dt.timedelta(days=2)),
                    "note": None,
                    "totalRefundedSet": _money(
                        Decimal(items[0]["originalUnitPriceSet"]["shopMoney"]["amount"])
                    ),
                }
            )
        order = {
            "id": order_gid,
            "name": f"#{1000 + number}",
            "number": 1000 + number,
            "email": f"buyer{number % 5000}@example.com",
            "customer": {"id": f"gid://shopify/Customer/{CUSTOMER_BASE + number % 5000}"},
            "createdAt": _iso(created),
            "processedAt": _iso(created),
            "updatedAt": _iso(created + dt.timedelta(days=3 if refunds else 0, minutes=1)),
            "cancelledAt": None,
            "cancelReason": None,
            "test": False,
            "displayFinancialStatus": "PARTIALLY_REFUNDED" if refunds else "PAID",
            "displayFulfillmentStatus": "FULFILLED",
            "currencyCode": "USD",
            "subtotalPriceSet": _money(subtotal),
            "totalDiscountsSet": _money(Decimal("0.00")),
            "totalTaxSet": _money(tax),
            "totalPriceSet": _money(subtotal + tax),
            "discountCodes": [],
            "sourceName": "web",
            "refunds": refunds,
        }
        for obj in [order, *held]:
            if written < n_lines:
                yield obj
                written += 1
        held = []
        if len(items) > 1 and rng.random() < 0.2:
            held = [items.pop()]
        for obj in items:
            if written < n_lines:
                yield obj
                written += 1


def write_bulk_orders(
    path: Path, n_lines: int, seed: int = 42, anchor: dt.datetime | None = None
) -> int:
    """Write n_lines of bulk-operation JSONL to path (gzipped when it ends in .gz)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    with opener(path, "wt", encoding="utf-8") as out:
        for obj in iter_bulk_orders(n_lines, seed=seed, anchor=anchor):
            out.write(json.dumps(obj, separators=(",", ":")) + "\n")
            count += 1
    return count
