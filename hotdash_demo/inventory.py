"""Stock: how much of each variant a shop holds at its two locations, and what moves it.

Each variant gets a stock class, so that every inventory action shows up at the anchor: dead
stock (never sold), overstock at 15-30 and 7.5-11 months of cover (never restocked), slow /
medium / fast sellers (restocked before they run out) and fast sellers whose restocking stops in
the last months (under one month of cover at the end).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hotdash_demo.clock import bump
from hotdash_demo.growth import ORDERS_PER_FACT
from hotdash_demo.ids import location_ids
from hotdash_demo.render import dumps
from hotdash_demo.topics import Fact

if TYPE_CHECKING:
    from hotdash_demo.catalog import Variant
    from hotdash_demo.shop import Shop

# Stock classes, their cumulative probabilities and popularity weights.
DEAD, OVER50, OVER25, SLOW, MEDIUM, FAST, FAST_LOW = range(7)
_CLASS_CUM = (0.07, 0.13, 0.20, 0.40, 0.80, 0.94, 1.0)
CLASS_WEIGHT = (0.0, 0.12, 0.2, 0.35, 1.0, 4.0, 4.0)


def stock_class(r: float) -> int:
    """The stock class drawn by ``r`` (uniform in [0, 1))."""
    return next(c for c, edge in enumerate(_CLASS_CUM) if r < edge)


def restock_until(cls: int) -> float:
    """Time fraction of the 24 months after which a class is no longer restocked."""
    return 0.86 if cls == FAST_LOW else (2.0 if cls in (SLOW, MEDIUM, FAST) else -1.0)


class Inventory:
    """Stock levels: the opening stock, sales, returns, stock counts and restocks."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = shop.rng
        self._ts = shop.clock.ts
        self.locations = location_ids(shop.k)
        self._open(shop.catalog.tracked)

    def _open(self, tracked: list[Variant]) -> None:
        """Opening stock, sized from expected sales so that each class ends where it should."""
        shop = self.shop
        rng = self.rng
        r0 = shop.orders_per_day(0.0)
        r1 = shop.orders_per_day(1.0)
        total_orders = shop.n_expected * ORDERS_PER_FACT
        for v in tracked:
            if v.cls == DEAD:
                units = rng.randint(3, 40)
            elif v.cls == OVER50:
                months = 15 + 15 * rng.random()
                units = v.rate_share * (total_orders + r1 * 30 * months)
            elif v.cls == OVER25:
                months = 7.5 + 3.5 * rng.random()
                units = v.rate_share * (total_orders + r1 * 30 * months)
            else:
                units = v.rate_share * r0 * (75 + 30 * rng.random()) + 2
            units = max(1, int(units))
            v.avail[0] = units - units * 3 // 10
            v.avail[1] = units * 3 // 10

    def level_dict(self, v: Variant, loc: int, want: int, now: int) -> dict[str, Any]:
        v.level_sec[loc] = sec = bump(v.level_sec[loc], want, now)
        return {
            "inventory_item_id": v.item_id,
            "location_id": self.locations[loc],
            "available": v.avail[loc],
            "updated_at": self._ts(sec),
        }

    def _level_text(self, v: Variant, loc: int, want: int, now: int) -> Fact:
        text = dumps(self.level_dict(v, loc, want, now))
        self.shop.mess.last_text["shopify.inventory_levels"] = text
        return "shopify.inventory_levels", text

    def sell(self, v: Variant, qty: int, created: int) -> None:
        """Take a sale from stock, the first location first; order a restock if cover is low."""
        take = min(qty, v.avail[0])
        v.avail[0] -= take
        v.avail[1] = max(0, v.avail[1] - (qty - take))
        shop = self.shop
        s = shop.s
        if not v.restock_pending and s < v.restock_until:
            rate = v.rate_share * shop.orders_per_day(s)
            if v.avail[0] + v.avail[1] < rate * 40:
                v.restock_pending = True
                due = created + self.rng.randint(7, 21) * 86400
                shop.schedule(due, self._fu_restock, (v, max(1, int(rate * 100))))

    @staticmethod
    def put_back(v: Variant, qty: int) -> None:
        """Units back on the shelf of the first location (a cancellation or a return)."""
        v.avail[0] += qty

    def _fu_restock(self, arg: tuple[Variant, int], due: int, now: int) -> Fact | None:
        v, units = arg
        v.restock_pending = False
        v.avail[0] += units
        return self._level_text(v, 0, due, now)

    def count(self, now: int, lag: int) -> Fact:
        """A stock count at one location, mostly of variants that sell."""
        rng = self.rng
        catalog = self.shop.catalog
        if rng.random() < 0.6:
            v = rng.choices(catalog.sellable, cum_weights=catalog.cum_retail)[0]
            if not v.tracked:
                v = rng.choice(catalog.tracked)
        else:
            v = rng.choice(catalog.tracked)
        loc = 0 if rng.random() < 0.7 else 1
        return self._level_text(v, loc, now - lag, now)
