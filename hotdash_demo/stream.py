"""The stream: the shops' facts in one sequence, stamped with non-decreasing times."""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from collections.abc import Iterator

from hotdash_demo.clock import UTC_EPOCH, months_before
from hotdash_demo.growth import GROWTH
from hotdash_demo.ids import MAX_SHOPS
from hotdash_demo.shop import Shop

_SYNC_STEP_US = 2_000_000  # catalog facts of the opening sync arrive 2 s apart


def _resolve_anchor(anchor: dt.datetime | None) -> dt.datetime:
    if anchor is None:
        today = dt.datetime.now(dt.UTC).date()
        return dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)
    if anchor.tzinfo is None or anchor.utcoffset() is None:
        raise ValueError("anchor must be timezone-aware, e.g. datetime(2025, 6, 1, tzinfo=UTC)")
    return anchor.astimezone(dt.UTC)


def iter_demo_facts(
    n_facts: int,
    shops: int = 1,
    seed: int = 42,
    anchor: dt.datetime | None = None,
) -> Iterator[tuple[str, str, str, dt.datetime]]:
    """Yield exactly n_facts tuples (shop_domain, topic, value_json_text, created_at).

    ``created_at`` never decreases, so rows can be COPYed as they come; it spans the 24 months
    before ``anchor`` (default: today 00:00 UTC) without passing it, and order volume grows month
    over month. Each shop's catalog comes first, customers are stored before their first order,
    and follow-ups (order updates, cancellations, refunds, restocks) arrive after what they refer
    to. Shop 0 gets twice the facts of each other shop. Same arguments, byte-identical output.
    """
    if n_facts < 0:
        raise ValueError(f"n_facts must be >= 0, got {n_facts}")
    if not 1 <= shops <= MAX_SHOPS:
        raise ValueError(f"shops must be between 1 and {MAX_SHOPS}, got {shops}")
    end = _resolve_anchor(anchor)
    return _generate(n_facts, shops, seed, end)


def _generate(
    n_facts: int, shops: int, seed: int, end: dt.datetime
) -> Iterator[tuple[str, str, str, dt.datetime]]:
    rng = random.Random(seed)
    start = months_before(end, 24)
    start_us = (start - UTC_EPOCH) // dt.timedelta(microseconds=1)
    end_us = (end - UTC_EPOCH) // dt.timedelta(microseconds=1)
    weights = [1.0] + [0.5] * (shops - 1)
    w_total = sum(weights)
    shop_cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        shop_cum.append(acc)
    state = [
        Shop(k, rng, n_facts * weights[k] / w_total, start_us // 1_000_000, end_us // 1_000_000)
        for k in range(shops)
    ]
    td = dt.timedelta
    # The opening sync: every shop's catalog, interleaved, a couple of seconds apart, so that
    # orders can start on the first day.
    n_sync = min(n_facts, sum(len(shop.catalog.sync) for shop in state))
    turn = 0
    for i in range(n_sync):
        while not state[turn % shops].catalog.sync:
            turn += 1
        shop = state[turn % shops]
        turn += 1
        t_us = start_us + i * _SYNC_STEP_US
        topic, text = shop.next_fact(t_us // 1_000_000, 0.0)
        yield shop.domain, topic, text, UTC_EPOCH + td(microseconds=t_us)

    # Then slot times follow an exponential growth curve (inverse CDF), strictly by index, so
    # created_at never decreases and stays inside [start, end].
    rest = n_facts - n_sync
    base_us = start_us + n_sync * _SYNC_STEP_US
    rest_span_us = end_us - base_us
    g = GROWTH
    eg1 = math.expm1(g)
    log1p = math.log1p
    rand = rng.random
    last_shop = shop_cum[-1]
    for j in range(rest):
        s = log1p((j + rand()) / rest * eg1) / g
        t_us = base_us + int(s * rest_span_us)
        if shops == 1:
            shop = state[0]
        else:
            shop = state[min(shops - 1, bisect_right(shop_cum, rand() * last_shop))]
        topic, text = shop.next_fact(t_us // 1_000_000, s)
        yield shop.domain, topic, text, UTC_EPOCH + td(microseconds=t_us)
