"""The mess real stores send: malformed facts, repeats, stale versions, and facts on topics the
models do not stage. Each comes at its own fixed rate, from the shop's own offset."""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Any

from hotdash_demo.ids import ID_CHECKOUT, ID_FULFILLMENT
from hotdash_demo.orders import order_full
from hotdash_demo.render import dumps, money
from hotdash_demo.topics import KNOWN_TOPICS, Fact

if TYPE_CHECKING:
    from hotdash_demo.shop import Shop

MALFORMED_KINDS: tuple[str, ...] = (
    "order_missing_id",
    "level_negative_available",
    "customer_not_object",
    "order_total_null",
    "item_cost_not_number",
    "order_quantity_as_string",
    "duplicate",
    "order_total_not_number",
    "level_missing_item_id",
    "order_bad_timestamp",
    "customer_missing_id",
    "order_negative_quantity",
    "level_available_as_string",
    "order_currency_unknown",
    "out_of_order",
    "order_not_object",
    "product_bad_timestamp",
    "order_currency_missing",
)
"""Messy-fact kinds, cycled through in this order. The two ``*_as_string`` kinds are valid
(numbers sent as strings must stage); ``duplicate`` and ``out_of_order`` carry valid payloads
whose only problem is their position in the stream."""

_MALFORMED_EVERY = 200  # 0.5 % of a shop's facts
_OTHER_EVERY = 100  # 1 %


class Messiness:
    """When a shop's messy and other-topic facts come, and what they are."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        rng = self.rng = shop.rng
        self._ts = shop.clock.ts
        self._nid = shop.nid
        # The latest text per known topic (for repeats) and order versions that a newer version
        # replaced, as (text, its updated_at, the newer one's) (for stale copies).
        self.last_text: dict[str, str] = {}
        self.superseded: deque[tuple[str, int, int]] = deque(maxlen=32)
        self.mal_idx = rng.randrange(len(MALFORMED_KINDS))
        self.mal_off = rng.randrange(_MALFORMED_EVERY)
        self.other_off = rng.randrange(_OTHER_EVERY)
        if self.other_off == self.mal_off % _OTHER_EVERY:
            self.other_off = (self.other_off + 37) % _OTHER_EVERY
        self.dup_idx = 0

    def at_slot(self, slot: int, now: int) -> Fact | None:
        """The messy or other-topic fact due at this slot, or None."""
        if slot % _MALFORMED_EVERY == self.mal_off:
            fact = self._malformed(now)
            if fact is not None:
                return fact
        if slot % _OTHER_EVERY == self.other_off:
            return self._other(now)
        return None

    # --- other topics --------------------------------------------------------------------

    def _other(self, now: int) -> Fact:
        """A fact on a topic the models do not stage; it must still be counted, never fail."""
        shop = self.shop
        rng = self.rng
        catalog = shop.catalog
        recent_order_ids = shop.orders.recent_order_ids
        r = rng.random()
        ts = self._ts(now - rng.randint(1, 60))
        if r < 0.5 and catalog.sellable:
            v = rng.choices(catalog.sellable, cum_weights=catalog.cum_retail)[0]
            q = 1 + (rng.random() < 0.2)
            cid = self._nid(ID_CHECKOUT)
            payload: object = {
                "id": cid,
                "token": f"{cid:x}{shop.k:02x}",
                "email": None,
                "created_at": ts,
                "updated_at": ts,
                "completed_at": None,
                "currency": "USD",
                "total_price": money(v.price_c * q),
                "line_items": [
                    {"variant_id": v.id, "sku": v.sku, "quantity": q, "price": v.price_s}
                ],
            }
            return "shopify.checkouts", dumps(payload)
        if r < 0.8 and recent_order_ids:
            payload = {
                "id": self._nid(ID_FULFILLMENT),
                "order_id": rng.choice(recent_order_ids),
                "status": "success",
                "created_at": ts,
                "updated_at": ts,
                "tracking_company": rng.choice(("UPS", "FedEx", "USPS", "R+L Carriers")),
                "tracking_number": f"1Z{rng.getrandbits(48):012X}",
                "shipment_status": None,
            }
            return "shopify.fulfillments", dumps(payload)
        payload = {
            "status": "ok",
            "app_version": "2.4.1",
            "queue_depth": rng.randint(0, 40),
            "sent_at": ts,
        }
        return "app.heartbeat", dumps(payload)

    # --- malformed facts -----------------------------------------------------------------

    def _malformed(self, now: int) -> Fact | None:
        """The next messy fact in the cycle; kinds that need state not yet there are skipped."""
        n = len(MALFORMED_KINDS)
        for _ in range(n):
            kind = MALFORMED_KINDS[self.mal_idx % n]
            self.mal_idx += 1
            fact = self._malformed_kind(kind, now)
            if fact is not None:
                return fact
        return None

    def _malformed_kind(self, kind: str, now: int) -> Fact | None:
        shop = self.shop
        rng = self.rng
        accounts = shop.customers.accounts
        lag = rng.randint(5, 120)
        if kind.startswith("order_") and kind != "order_quantity_as_string":
            if not accounts:
                return None
            o = shop.orders.build(rng.choice(accounts), now - lag, False)
            d: Any = order_full(o)
            if kind == "order_missing_id":
                del d["id"]
            elif kind == "order_total_null":
                d["total_price"] = None
            elif kind == "order_total_not_number":
                d["total_price"] = "N/A"
            elif kind == "order_negative_quantity":
                d["line_items"][0]["quantity"] = -1
            elif kind == "order_bad_timestamp":
                d["updated_at"] = "yesterday"
            elif kind == "order_currency_unknown":
                d["currency"] = "XYZ"
            elif kind == "order_currency_missing":
                del d["currency"]
            elif kind == "order_not_object":
                d = [d]
            return "shopify.orders", dumps(d)
        if kind == "order_quantity_as_string":
            if not accounts:
                return None
            topic, text = shop.orders.create(rng.choice(accounts), now - lag)
            obj = json.loads(text)
            for li in obj["line_items"]:
                li["quantity"] = str(li["quantity"])
            text = dumps(obj)
            order = shop.orders.last_order
            assert order is not None
            order.last_text = text
            self.last_text[topic] = text
            return topic, text
        if kind in (
            "level_negative_available",
            "level_missing_item_id",
            "level_available_as_string",
        ):
            v = rng.choice(shop.catalog.tracked)
            loc = rng.getrandbits(1)
            dl: dict[str, Any] = shop.inventory.level_dict(v, loc, now - lag, now)
            if kind == "level_negative_available":
                dl["available"] = -3
            elif kind == "level_missing_item_id":
                del dl["inventory_item_id"]
            else:
                dl["available"] = str(dl["available"])
            return "shopify.inventory_levels", dumps(dl)
        if kind == "item_cost_not_number":
            v = rng.choice(shop.catalog.variants)
            di = shop.catalog.item_dict(v, now - lag, now)
            di["cost"] = "abc"
            return "shopify.inventory_items", dumps(di)
        if kind == "customer_missing_id":
            if not accounts:
                return None
            dc = shop.customers.customer_dict(rng.choice(accounts), now - lag, now)
            del dc["id"]
            return "shopify.customers", dumps(dc)
        if kind == "customer_not_object":
            if not accounts:
                return None
            return "shopify.customers", dumps(f"customer {rng.choice(accounts).id} redacted")
        if kind == "product_bad_timestamp":
            dp = shop.catalog.product_dict(rng.choice(shop.catalog.products), now - lag, now)
            dp["updated_at"] = "yesterday"
            return "shopify.products", dumps(dp)
        if kind == "duplicate":
            topics = [t for t in KNOWN_TOPICS if t in self.last_text]
            if not topics:
                return None
            self.dup_idx += 1
            topic = topics[self.dup_idx % len(topics)]
            return topic, self.last_text[topic]
        if kind == "out_of_order":
            # A webhook for an intermediate version that arrives after a newer one was stored:
            # the older state, stamped between the two versions it sits between.
            if not self.superseded:
                return None
            text, old_sec, new_sec = self.superseded[int(rng.random() * len(self.superseded))]
            old_ts = f'"updated_at":"{self._ts(old_sec)}"'
            mid_ts = f'"updated_at":"{self._ts(rng.randint(old_sec + 1, new_sec - 1))}"'
            return "shopify.orders", text.replace(old_ts, mid_ts, 1)
        raise AssertionError(f"unhandled malformed kind {kind}")
