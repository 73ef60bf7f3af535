"""Orders: what a customer buys, money that adds up in cents, and the order's later versions.

An order is placed, then updated as it is paid, fulfilled and closed, or cancelled; refunds
(``refunds``) and restocks (``inventory``) are scheduled from here.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hotdash_demo.clock import bump
from hotdash_demo.customers import CITIES, NEW_CUSTOMER_P, ORDER_SEGMENT_CUM, Customer
from hotdash_demo.ids import ID_LINE, ID_ORDER
from hotdash_demo.render import dumps, money
from hotdash_demo.topics import Fact

if TYPE_CHECKING:
    from hotdash_demo.catalog import Variant
    from hotdash_demo.shop import Shop

_DISCOUNTS = (
    ("HOTROD10", "percentage", 10),
    ("SPRING15", "percentage", 15),
    ("BUILD20", "percentage", 20),
    ("TAKE25", "fixed_amount", 2500),
    ("CARSHOW10", "percentage", 10),
)
_PRO_DISCOUNTS = (("PRO12", "percentage", 12), ("SHOPBULK15", "percentage", 15))
_CANCEL_REASONS = ("customer", "inventory", "fraud", "declined", "other")
_NOTES = ("Ship with liftgate", "Customer called about fitment", "Hold for pickup")
_FREE_SHIPPING = ({"code": "Free Shipping", "price": "0.00", "title": "Free Shipping"},)


def _rand_delay(lo: int, hi: int) -> Callable[[random.Random], int]:
    return lambda rng: rng.randint(lo, hi)


# Seconds from one step of an order to the next.
_STEP_DELAY: dict[str, Callable[[random.Random], int]] = {
    "capture": _rand_delay(600, 43_200),
    "fulfill_partial": _rand_delay(3_600, 86_400),
    "fulfill": _rand_delay(21_600, 259_200),
    "paid": _rand_delay(7 * 86_400, 30 * 86_400),
    "close": _rand_delay(2 * 86_400, 10 * 86_400),
    "note": _rand_delay(600, 86_400),
}


class Line:
    """A line item and what has been refunded of it, so refunds never exceed the sale."""

    __slots__ = ("d", "net_c", "qty", "r_qty", "r_sub", "r_tax", "tax_c", "variant")

    def __init__(self, d: dict[str, Any], variant: Variant, qty: int, net_c: int) -> None:
        self.d = d
        self.variant = variant
        self.qty = qty
        self.net_c = net_c
        self.tax_c = 0
        self.r_qty = 0
        self.r_sub = 0
        self.r_tax = 0


class Order:
    """An order while updates or refunds are still due.

    ``d`` holds the top-level fields that change between versions; line items and the parts that
    never change are kept as JSON text, so that each new version costs one small encode.
    """

    __slots__ = (
        "cancelled",
        "cust",
        "d",
        "last_sec",
        "last_text",
        "lines",
        "lines_json",
        "rate",
        "refund_c",
        "tail",
        "test",
        "total_c",
    )

    def __init__(self, d: dict[str, Any], cust: Customer, lines: list[Line], tail: str) -> None:
        self.d = d
        self.cust = cust
        self.lines = lines
        self.tail = tail
        self.lines_json = ""
        self.cancelled = False
        self.test = False
        self.last_sec = 0
        self.last_text = ""
        self.rate = 0
        self.refund_c = 0
        self.total_c = 0


def _lines_json(o: Order) -> str:
    o.lines_json = dumps([ln.d for ln in o.lines])
    return o.lines_json


def join_order(o: Order) -> str:
    """The order's JSON: changing fields encoded now, line items and the rest reused."""
    head = dumps(o.d)
    lines = o.lines_json or _lines_json(o)
    return f'{head[:-1]},"line_items":{lines}{o.tail}'


def order_full(o: Order) -> dict[str, Any]:
    """The whole order as one object, for the rare facts that edit nested parts."""
    return json.loads(join_order(o))


class Orders:
    """A shop's orders: placing them and scheduling, then emitting, their later versions."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = shop.rng
        self._ts = shop.clock.ts
        self._nid = shop.nid
        self.order_number = 1000
        self.cancels_planned = 0
        self.recent_order_ids: deque[int] = deque(maxlen=64)
        self.last_order: Order | None = None

    def build(self, c: Customer, created: int, test: bool) -> Order:
        """An order with consistent money: lines, discount allocation and tax in cents."""
        rng = self.rng
        catalog = self.shop.catalog
        seg = c.seg
        r = rng.random()
        if seg == 0:
            n_lines = 1 + (r < 0.6) + (r < 0.3) + (r < 0.1)
        elif seg == 1:
            n_lines = 1 + (r < 0.4) + (r < 0.12)
        else:
            n_lines = 1 + (r < 0.25) + (r < 0.05)
        cum = catalog.cum_pro if seg == 0 else catalog.cum_retail
        picks = rng.choices(catalog.sellable, cum_weights=cum, k=n_lines)
        seen: set[int] = set()
        lines: list[Line] = []
        total = 0
        for v in picks:
            if v.id in seen:
                continue
            seen.add(v.id)
            if v.qty_kind == 1:
                q = 4 if rng.random() < 0.6 else 2
            elif seg == 0:
                r = rng.random()
                q = 1 + (r < 0.5) + (r < 0.2) if v.qty_kind == 2 else 1 + (r < 0.15)
            else:
                q = 2 if rng.random() < 0.07 else 1
            amount = v.price_c * q
            total += amount
            p = v.product
            d = {
                "id": self._nid(ID_LINE),
                "variant_id": v.id,
                "product_id": p.id,
                "title": p.title,
                "variant_title": v.title,
                "sku": v.sku,
                "quantity": q,
                "price": v.price_s,
                "total_discount": "0.00",
                "fulfillment_status": None,
            }
            lines.append(Line(d, v, q, amount))

        codes: list[dict[str, str]] = []
        discount = 0
        if rng.random() < 0.15:
            code, kind, val = rng.choice(_PRO_DISCOUNTS if seg == 0 else _DISCOUNTS)
            if kind == "percentage":
                discount = (total * val + 50) // 100
            elif total >= 10000:
                discount = val
            if discount:
                codes.append({"code": code, "amount": money(discount), "type": kind})
        if discount:
            left = discount
            for ln in lines[:-1]:
                share = discount * ln.net_c // total
                ln.net_c -= share
                ln.d["total_discount"] = money(share)
                left -= share
            lines[-1].net_c -= left
            lines[-1].d["total_discount"] = money(left)
        subtotal = total - discount
        city, _, st, _, rate = CITIES[c.city]
        if c.tax_exempt:
            rate = 0
        tax = (subtotal * rate + 50_000) // 100_000
        left = tax
        for ln in lines[:-1]:
            ln.tax_c = tax * ln.net_c // subtotal if subtotal else 0
            left -= ln.tax_c
        lines[-1].tax_c = left
        cs = self._ts(created)
        self.order_number += 1
        num = self.order_number
        if test:
            gateway, status, source = "bogus", "paid", "web"
        elif seg == 0 and rng.random() < 0.3:
            gateway, status, source = "manual", "pending", "shopify_draft_order"
        else:
            gateway = "shopify_payments" if rng.random() < 0.8 else "paypal"
            status = "authorized" if rng.random() < 0.12 else "paid"
            source = "web" if rng.random() < 0.93 else "pos"
        tags = "test" if test else ("wholesale" if c.tax_exempt else "")
        d = {
            "id": self._nid(ID_ORDER),
            "email": c.email,
            "closed_at": None,
            "created_at": cs,
            "updated_at": cs,
            "note": None,
            "gateway": gateway,
            "test": test,
            "total_price": money(subtotal + tax),
            "subtotal_price": money(subtotal),
            "total_tax": money(tax),
            "taxes_included": False,
            "currency": "USD",
            "financial_status": status,
            "total_discounts": money(discount),
            "total_line_items_price": money(total),
            "buyer_accepts_marketing": c.accepts,
            "name": f"#{num}",
            "cancelled_at": None,
            "cancel_reason": None,
            "processed_at": cs,
            "order_number": num,
            "source_name": source,
            "fulfillment_status": None,
            "tags": tags,
            "discount_codes": codes,
            "tax_lines": [{"price": money(tax), "rate": rate / 100_000, "title": f"{st} State Tax"}]
            if rate
            else [],
        }
        tail = dumps(
            {
                "shipping_lines": _FREE_SHIPPING,
                "shipping_address": {
                    "name": f"{c.first} {c.last}",
                    "company": c.company,
                    "city": city,
                    "province_code": st,
                    "zip": c.zip,
                    "country_code": "US",
                },
                "customer": {
                    "id": c.id,
                    "email": c.email,
                    "accepts_marketing": c.accepts,
                    "first_name": c.first,
                    "last_name": c.last,
                    "orders_count": c.orders_count + 1,
                    "total_spent": money(max(0, c.spent_c)),
                    "tags": c.tags,
                    "phone": c.phone,
                    "default_address": self.shop.customers.address(c, False),
                },
            }
        )
        o = Order(d, c, lines, "," + tail[1:])
        o.test = test
        o.rate = rate
        o.total_c = subtotal + tax
        o.last_sec = created
        return o

    def text(self, o: Order, prev_sec: int = 0) -> str:
        """The order's current version as JSON text, remembered for repeats and stale copies."""
        text = join_order(o)
        mess = self.shop.mess
        if o.last_text and o.last_sec - prev_sec >= 2:
            mess.superseded.append((o.last_text, prev_sec, o.last_sec))
        o.last_text = text
        mess.last_text["shopify.orders"] = text
        return text

    def create(self, c: Customer, created: int) -> Fact:
        """Place an order, then schedule its updates, cancellation, refunds and restocking."""
        shop = self.shop
        rng = self.rng
        test = rng.random() < 0.01
        o = self.build(c, created, test)
        self.last_order = o
        d = o.d
        status = d["financial_status"]
        self.recent_order_ids.append(d["id"])
        text = self.text(o)
        if not test:
            c.orders_count += 1
            c.spent_c += o.total_c
            c.last_order_id = d["id"]
            c.last_order_name = d["name"]
            inventory = shop.inventory
            for ln in o.lines:
                if ln.variant.tracked:
                    inventory.sell(ln.variant, ln.qty, created)
            if rng.random() < (0.12 if c.orders_count == 1 else 0.035):
                shop.schedule(created + rng.randint(60, 900), shop.customers.fu_customer, c)

        post_catalog = shop.slot
        force_cancel = not test and self.cancels_planned == 0 and post_catalog > 40
        if not test and status != "paid" and (rng.random() < 0.11 or force_cancel):
            self.cancels_planned += 1
            t = created
            if rng.random() < 0.3:
                t += rng.randint(600, 7200)
                shop.schedule(t, self.fu_step, (o, "note"))
            shop.schedule(t + rng.randint(1200, 129600), self.fu_step, (o, "cancel"))
            return "shopify.orders", text

        if status == "pending":
            steps = ["fulfill", "paid", "close"][: 2 + (rng.random() < 0.5)]
        elif status == "authorized":
            steps = ["capture", "fulfill", "close"][: 1 + rng.getrandbits(1) + (rng.random() < 0.5)]
        else:
            first = "fulfill_partial" if len(o.lines) > 1 and rng.random() < 0.4 else "note"
            r = rng.random()
            steps = ["fulfill", "close"] if r < 0.25 else [first, "fulfill", "close"]
            if r > 0.92:
                steps = ["fulfill"]
        t = created
        for step in steps:
            t += _STEP_DELAY[step](rng)
            shop.schedule(t, self.fu_step, (o, step))
        if status == "paid" and not test:
            shop.refunds.plan(o, t, post_catalog)
        return "shopify.orders", text

    def new_order(self, now: int, lag: int) -> Fact:
        """An order of a returning customer, or a new customer's account (the order follows)."""
        shop = self.shop
        rng = self.rng
        customers = shop.customers
        x = rng.random()
        seg = 0 if x < ORDER_SEGMENT_CUM[0] else 1 if x < ORDER_SEGMENT_CUM[1] else 2
        c = None if rng.random() < NEW_CUSTOMER_P[seg] else customers.pick_returning(seg, now)
        if c is None:
            c = customers.new(seg, now - lag)
            shop.schedule(now + rng.randint(120, 1800), self._fu_create, c)
            return customers.customer_text(c, now - lag, now)
        return self.create(c, now - lag)

    # --- scheduled follow-ups (called with their argument, due time and slot time) --------

    def _fu_create(self, c: Customer, due: int, now: int) -> Fact | None:
        return self.create(c, min(due, now))

    def fu_step(self, arg: tuple[Order, str], due: int, now: int) -> Fact | None:
        """The order's next version after one step; nothing once it is cancelled."""
        o, step = arg
        if o.cancelled:
            return None
        d = o.d
        when = self._ts(min(max(due, o.last_sec + 1), now))
        if step == "capture":
            d["financial_status"] = "paid"
        elif step == "paid":
            if d["financial_status"] == "pending":
                d["financial_status"] = "paid"
        elif step == "fulfill_partial":
            o.lines[0].d["fulfillment_status"] = "fulfilled"
            o.lines_json = ""
            d["fulfillment_status"] = "partial"
        elif step == "fulfill":
            for ln in o.lines:
                ln.d["fulfillment_status"] = "fulfilled"
            o.lines_json = ""
            d["fulfillment_status"] = "fulfilled"
        elif step == "close":
            d["closed_at"] = when
        elif step == "note":
            d["note"] = self.rng.choice(_NOTES)
        elif step == "cancel":
            o.cancelled = True
            d["cancelled_at"] = when
            d["closed_at"] = when
            d["cancel_reason"] = self.rng.choice(_CANCEL_REASONS)
            d["financial_status"] = "voided"
            if not o.test:
                o.cust.spent_c -= o.total_c
                for ln in o.lines:
                    if ln.variant.tracked:
                        self.shop.inventory.put_back(ln.variant, ln.qty)
        elif step == "refund_status":
            done = all(ln.r_qty >= ln.qty for ln in o.lines)
            d["financial_status"] = "refunded" if done else "partially_refunded"
        prev_sec = o.last_sec
        o.last_sec = bump(prev_sec, due, now)
        d["updated_at"] = self._ts(o.last_sec)
        return "shopify.orders", self.text(o, prev_sec)
