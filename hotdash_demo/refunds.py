"""Refunds: of real line items of earlier orders, with amounts that add up to what was paid."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hotdash_demo.ids import ID_REFUND, ID_REFUND_LINE, ID_TXN
from hotdash_demo.render import dumps, money
from hotdash_demo.topics import Fact

if TYPE_CHECKING:
    from hotdash_demo.orders import Line, Order
    from hotdash_demo.shop import Shop

_REFUND_NOTES = (
    "Wrong fitment",
    "Customer changed build plans",
    "Damaged in shipping",
    "Ordered wrong size",
    "Duplicate order",
    None,
)


class Refunds:
    """Which paid orders are refunded, and the refund facts."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = shop.rng
        self._ts = shop.clock.ts
        self._nid = shop.nid
        self.planned = 0

    def plan(self, o: Order, last_step: int, post_catalog: int) -> None:
        """Maybe schedule a refund of a paid order after its last step; the first is certain."""
        rng = self.rng
        force = self.planned == 0 and post_catalog > 20
        if force or rng.random() < 0.055:
            self.planned += 1
            full = rng.random() < 0.4
            due = last_step + rng.randint(1, 30) * 86400 + rng.randint(0, 86399)
            if force:
                due = last_step + rng.randint(3600, 86400)
            self.shop.schedule(due, self._fu_refund, (o, full))

    def _fu_refund(self, arg: tuple[Order, bool], due: int, now: int) -> Fact | None:
        """A refund of what is left of the order (``full``) or of part of one line."""
        o, full = arg
        if o.cancelled:
            return None
        shop = self.shop
        rng = self.rng
        open_lines = [ln for ln in o.lines if ln.r_qty < ln.qty]
        if not open_lines:
            return None
        chosen: list[tuple[Line, int]]
        if full:
            chosen = [(ln, ln.qty - ln.r_qty) for ln in open_lines]
        else:
            ln = rng.choice(open_lines)
            chosen = [(ln, rng.randint(1, ln.qty - ln.r_qty))]
        sec = min(max(due, o.last_sec + 1), now)
        when = self._ts(sec)
        restock = rng.random() < 0.6
        location = shop.inventory.locations[0]
        d = o.d
        items = []
        amount = 0
        for ln, q in chosen:
            if ln.r_qty + q >= ln.qty:
                sub = ln.net_c - ln.r_sub
                tax = ln.tax_c - ln.r_tax
            else:
                sub = min(ln.net_c * q // ln.qty, ln.net_c - ln.r_sub)
                tax = min(ln.tax_c * q // ln.qty, ln.tax_c - ln.r_tax)
            ln.r_qty += q
            ln.r_sub += sub
            ln.r_tax += tax
            amount += sub + tax
            li = ln.d
            if restock and ln.variant.tracked:
                shop.inventory.put_back(ln.variant, q)
            items.append(
                {
                    "id": self._nid(ID_REFUND_LINE),
                    "quantity": q,
                    "line_item_id": li["id"],
                    "location_id": location if restock else None,
                    "restock_type": "return" if restock else "no_restock",
                    "subtotal": money(sub),
                    "total_tax": money(tax),
                    "line_item": {
                        "id": li["id"],
                        "variant_id": li["variant_id"],
                        "title": li["title"],
                        "quantity": ln.qty,
                        "price": li["price"],
                        "sku": li["sku"],
                        "variant_title": li["variant_title"],
                        "product_id": li["product_id"],
                        "total_discount": li["total_discount"],
                        "fulfillment_status": li["fulfillment_status"],
                        "taxable": True,
                    },
                }
            )
        refund = {
            "id": self._nid(ID_REFUND),
            "order_id": d["id"],
            "created_at": when,
            "note": rng.choice(_REFUND_NOTES),
            "user_id": None,
            "processed_at": when,
            "restock": restock,
            "refund_line_items": items,
            "transactions": [
                {
                    "id": self._nid(ID_TXN),
                    "order_id": d["id"],
                    "kind": "refund",
                    "gateway": d["gateway"],
                    "status": "success",
                    "message": "Refunded",
                    "created_at": when,
                    "test": o.test,
                    "authorization": None,
                    "parent_id": None,
                    "processed_at": when,
                    "amount": money(amount),
                    "currency": "USD",
                    "source_name": "web",
                }
            ],
            "order_adjustments": [],
        }
        o.refund_c += amount
        o.cust.spent_c -= amount
        shop.schedule(sec + rng.randint(30, 300), shop.orders.fu_step, (o, "refund_status"))
        if not full and rng.random() < 0.25:
            shop.schedule(sec + rng.randint(3, 20) * 86400, self._fu_refund, (o, True))
        text = dumps(refund)
        shop.mess.last_text["shopify.refunds"] = text
        return "shopify.refunds", text
