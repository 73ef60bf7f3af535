"""One demo store: the state its parts share, and which fact it stores at each slot.

A shop is split by concern: its catalog, inventory, customers, orders, refunds and messiness
each live in their own module and reach each other through the shop. They all draw from one
random generator (every shop of a stream shares it), so the order of calls is part of the output.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from typing import Any

from hotdash_demo.catalog import Catalog
from hotdash_demo.clock import ShopClock
from hotdash_demo.customers import Customers
from hotdash_demo.growth import GROWTH, ORDERS_PER_FACT
from hotdash_demo.ids import id_counters, shop_domain
from hotdash_demo.inventory import Inventory
from hotdash_demo.messiness import Messiness
from hotdash_demo.orders import Orders
from hotdash_demo.refunds import Refunds
from hotdash_demo.seo import Seo
from hotdash_demo.social import Social
from hotdash_demo.support import Support
from hotdash_demo.topics import Fact

# Standard UTC offset in hours of each shop (Eastern, Central, Mountain, Pacific); all observe
# US daylight saving time.
_SHOP_TZ = (-5, -6, -7, -8)

FactFn = Callable[[Any, int, int], "Fact | None"]
"""A scheduled follow-up: called with its argument, due time and slot time; None skips it."""


class Shop:
    """One store's state: its parts, its ids, its clock and the events scheduled for later."""

    def __init__(
        self,
        k: int,
        rng: random.Random,
        n_expected: float,
        start_sec: int,
        end_sec: int,
    ) -> None:
        self.k = k
        self.rng = rng
        self.domain = shop_domain(k)
        self.n_expected = n_expected
        self.start_sec = start_sec
        self.span_days = max(1.0, (end_sec - start_sec) / 86400.0)
        self.clock = ShopClock(_SHOP_TZ[k % len(_SHOP_TZ)], start_sec, end_sec)
        self._ctr = id_counters(k)

        self.heap: list[tuple[int, int, FactFn, Any]] = []
        self.seq = 0
        self.slot = 0  # slots after the opening sync
        self.s = 0.0  # time fraction of the 24 months at the current slot

        # Primary events, as cumulative weights: new order, inventory level, product update,
        # inventory item update, account sign-up, customer update, support conversation (about
        # one per 17 new orders; each brings some ten webhooks), an SEO report row (Search
        # Console's or GA4's, about one per 8 new orders).
        weights = (0.10, 0.115, 0.018, 0.018, 0.008, 0.009, 0.006, 0.012)
        total = sum(weights)
        acc = 0.0
        cum = []
        for w in weights:
            acc += w / total
            cum.append(acc)
        self.primary_cum = tuple(cum)

        # The parts; the first three draw from the generator as they are set up, in this order.
        self.mess = Messiness(self)
        self.catalog = Catalog(self)
        self.inventory = Inventory(self)
        self.customers = Customers(self)
        self.orders = Orders(self)
        self.refunds = Refunds(self)
        self.support = Support(self)
        self.seo = Seo(self)
        # Its Instagram posts: scheduled, about one a day (hotdash_demo/social.py).
        self.social = Social(self)

    def nid(self, kind: int) -> int:
        """The next id of a resource kind (``ID_*``): increasing, with random gaps."""
        self._ctr[kind] += 1 + self.rng.getrandbits(3)
        return self._ctr[kind]

    def schedule(self, due: int, fn: FactFn, arg: Any) -> None:
        """Call ``fn`` at the first slot at or after ``due``; ties keep scheduling order."""
        self.seq += 1
        heapq.heappush(self.heap, (due, self.seq, fn, arg))

    def orders_per_day(self, s: float) -> float:
        """Expected new orders per day at time fraction ``s`` of the 24 months."""
        g = GROWTH
        density = g * math.exp(g * s) / math.expm1(g)
        return self.n_expected * ORDERS_PER_FACT * density / self.span_days

    def next_fact(self, now: int, s: float) -> Fact:
        """The fact this shop stores at ``now``: catalog first, then what is due, then new."""
        catalog = self.catalog
        if catalog.sync:
            return catalog.emit_sync(now)
        self.slot += 1
        self.s = s
        fact = self.mess.at_slot(self.slot, now)
        if fact is not None:
            return fact
        heap = self.heap
        while heap and heap[0][0] <= now:
            due, _, fn, arg = heapq.heappop(heap)
            fact = fn(arg, due, now)
            if fact is not None:
                return fact
        return self._primary(now)

    def _primary(self, now: int) -> Fact:
        """A new event when nothing scheduled is due: order, stock count, catalog, customer, a
        support conversation or an SEO report row."""
        rng = self.rng
        r = rng.random()
        cum = self.primary_cum
        lag = rng.randint(5, 120)
        if r < cum[0]:
            return self.orders.new_order(now, lag)
        if r < cum[1]:
            return self.inventory.count(now, lag)
        if r < cum[2]:
            return self.catalog.product_update(now, lag)
        if r < cum[3]:
            return self.catalog.item_update(now, lag)
        if r < cum[4] or not self.customers.accounts:
            return self.customers.sign_up(now, lag)
        if r < cum[5]:
            return self.customers.update(now, lag)
        if r < cum[6]:
            return self.support.open(now, lag)
        return self.seo.row(now, lag)
