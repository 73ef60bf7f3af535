"""The shop's organic search (SEO): Search Console's Search Analytics rows and GA4's landing
pages report rows, as the app stores them (topics search_console.search_analytics and
ga4.landing_pages: one fact per report row, the API's row unchanged with its request's
dimensions or its report's headers; README "The facts source").

The app fetches both reports daily: Search Console's day three days back (its final data lags
2-3 days), GA4's yesterday. A row is drawn now and then like any other event: a landing page
(the home page, a collection, or a product page, popular ones more often), a query (the
product's type or title, or the store's name with a type), a device, and metrics with the shape
of organic search (click-through falling with position). The mess of a daily fetch: a day
fetched again (its row revised: fresh data first, final later, the later fetch wins), and now
and then a row the rules quarantine (``SEO_MALFORMED_KINDS``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import TYPE_CHECKING, Any

from hotdash_demo.clock import NAIVE_EPOCH
from hotdash_demo.render import dumps
from hotdash_demo.topics import Fact

if TYPE_CHECKING:
    from hotdash_demo.shop import Shop

SEARCH_ANALYTICS = "search_console.search_analytics"
LANDING_PAGES = "ga4.landing_pages"

SEO_MALFORMED_KINDS: tuple[str, ...] = (
    "search_console_negative_clicks",
    "search_console_keys_do_not_match",
    "ga4_date_not_yyyymmdd",
    "ga4_metric_not_a_number",
)
"""Quarantined SEO rows, cycled through in this order (per topic)."""
_MALFORMED_BY_TOPIC = {
    SEARCH_ANALYTICS: SEO_MALFORMED_KINDS[:2],
    LANDING_PAGES: SEO_MALFORMED_KINDS[2:],
}
_MALFORMED_EVERY = 150  # of a shop's SEO facts: a 20,000-fact demo has a few
_REVISION_SHARE = 0.12  # a row fetched again
_SEARCH_CONSOLE_SHARE = 0.7  # of SEO rows; the rest are GA4's

_DEVICES = (("MOBILE", 0.62), ("DESKTOP", 0.34), ("TABLET", 0.04))
_CHANNELS = (
    ("Organic Search", 0.46),
    ("Direct", 0.2),
    ("Paid Search", 0.12),
    ("Referral", 0.09),
    ("Organic Social", 0.08),
    ("Email", 0.05),
)
_COLLECTIONS = ("engine", "exhaust", "cooling", "suspension", "interior", "wheels", "brakes")


def _pick(rng: Any, weighted: tuple[tuple[str, float], ...]) -> str:
    r = rng.random()
    for value, weight in weighted:
        r -= weight
        if r < 0:
            return value
    return weighted[-1][0]


class Seo:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = shop.rng
        store = shop.domain.split(".")[0]
        self.host = f"www.{store}.com"
        self.brand = store.replace("-", " ")
        self.property_id = str(310_000_000 + 1_000 * shop.k + 17)
        self.n_facts = 0
        self.mal_idx = {SEARCH_ANALYTICS: 0, LANDING_PAGES: 0}
        # The rows fetched lately (when, row), of which a re-fetch revises one of the last days.
        self.recent: dict[str, list[tuple[int, dict[str, Any]]]] = {
            SEARCH_ANALYTICS: [],
            LANDING_PAGES: [],
        }

    # --- the report rows -------------------------------------------------------------------

    def _page(self) -> tuple[str, str, float]:
        """A landing page's path, a query for it, and its price (revenue per key event)."""
        rng = self.rng
        products = self.shop.catalog.products
        r = rng.random()
        if r < 0.08 or not products:
            return "/", f"{self.brand}", 120.0
        if r < 0.2:
            collection = rng.choice(_COLLECTIONS)
            return f"/collections/{collection}", f"hot rod {collection} parts", 90.0
        # popular products more often: the first of a long tail
        p = products[int(len(products) * rng.random() ** 2.2)]
        price = p.variants[0].price_c / 100 if p.variants else 60.0
        kind = rng.random()
        if kind < 0.45:
            query = p.title.lower()
        elif kind < 0.8:
            query = f"{p.ptype.lower()} for sale"
        else:
            query = f"{self.brand} {p.ptype.lower()}"
        return f"/products/{p.handle}", query, price

    def _fetched_at(self, now: int) -> str:
        sec = now - self.rng.randint(5, 900)
        return (NAIVE_EPOCH + dt.timedelta(seconds=sec)).isoformat() + "Z"

    def _search_console(self, now: int) -> dict[str, Any]:
        rng = self.rng
        # Search Console's days are Pacific time; the app fetches the day three days back.
        day = (NAIVE_EPOCH + dt.timedelta(seconds=now - 8 * 3600)).date() - dt.timedelta(days=3)
        path, query, _ = self._page()
        position = 1 + rng.expovariate(1 / 9)
        impressions = 1 + int(math.exp(rng.gauss(math.log(25), 1.1)))
        rate = min(0.6, 0.32 / position**1.1)
        clicks = min(impressions, int(impressions * rate + rng.random()))
        return {
            "site_url": f"sc-domain:{self.host[4:]}",
            "search_type": "web",
            "data_state": "final",
            "aggregation_type": "byPage",
            "dimensions": ["date", "page", "query", "device"],
            "report_row": {
                "keys": [
                    day.isoformat(),
                    f"https://{self.host}{path}",
                    query,
                    _pick(rng, _DEVICES),
                ],
                "clicks": clicks,
                "impressions": impressions,
                "ctr": clicks / impressions,
                "position": position,
            },
            "fetched_at": self._fetched_at(now),
        }

    def _ga4(self, now: int) -> dict[str, Any]:
        rng = self.rng
        day = dt.date.fromisoformat(self.shop.clock.ts(now)[:10]) - dt.timedelta(days=1)
        path, _, price = self._page()
        sessions = 1 + int(math.exp(rng.gauss(math.log(6), 1.0)))
        engaged = min(sessions, int(sessions * rng.uniform(0.4, 0.8) + rng.random()))
        key_events = int(sessions * 0.025 + rng.random() * 0.6)
        revenue = key_events * price * rng.uniform(0.8, 1.6)
        return {
            "property_id": self.property_id,
            "currency_code": "USD",
            "time_zone": "America/Los_Angeles",
            "dimension_headers": [
                {"name": "date"},
                {"name": "landingPagePlusQueryString"},
                {"name": "sessionDefaultChannelGroup"},
            ],
            "metric_headers": [
                {"name": "sessions", "type": "TYPE_INTEGER"},
                {"name": "engagedSessions", "type": "TYPE_INTEGER"},
                {"name": "keyEvents", "type": "TYPE_INTEGER"},
                {"name": "totalRevenue", "type": "TYPE_CURRENCY"},
            ],
            "report_row": {
                "dimensionValues": [
                    {"value": day.strftime("%Y%m%d")},
                    {"value": path},
                    {"value": _pick(rng, _CHANNELS)},
                ],
                "metricValues": [
                    {"value": str(sessions)},
                    {"value": str(engaged)},
                    {"value": str(key_events)},
                    {"value": f"{revenue:.4f}"},
                ],
            },
            "fetched_at": self._fetched_at(now),
        }

    def _revised(self, body: dict[str, Any], topic: str, now: int) -> dict[str, Any]:
        """A row fetched again: its metrics revised (a few more impressions and clicks, or
        sessions), fetched later; the later fetch wins in staging."""
        rng = self.rng
        body = json.loads(json.dumps(body))
        row = body["report_row"]
        if topic == SEARCH_ANALYTICS:
            row["impressions"] += rng.randint(0, 6)
            row["clicks"] = min(row["impressions"], row["clicks"] + rng.randint(0, 1))
            row["ctr"] = row["clicks"] / row["impressions"]
        else:
            sessions = row["metricValues"][0]
            sessions["value"] = str(int(sessions["value"]) + rng.randint(0, 2))
        body["fetched_at"] = self._fetched_at(now)
        return body

    # --- events ----------------------------------------------------------------------------

    def row(self, now: int, lag: int) -> Fact:
        """One report row the app fetched: Search Console's or GA4's, new or revised."""
        rng = self.rng
        # The first fetch brings a row of each report; then Search Console's rows are the most.
        if self.n_facts < 2:
            topic = (SEARCH_ANALYTICS, LANDING_PAGES)[self.n_facts]
        else:
            topic = SEARCH_ANALYTICS if rng.random() < _SEARCH_CONSOLE_SHARE else LANDING_PAGES
        recent = self.recent[topic]
        while recent and recent[0][0] < now - 2 * 86400:  # a day is re-fetched within 2 days
            del recent[0]
        if recent and rng.random() < _REVISION_SHARE:
            body = self._revised(rng.choice(recent)[1], topic, now)
        else:
            body = self._search_console(now) if topic == SEARCH_ANALYTICS else self._ga4(now)
            recent.append((now, body))
        self.n_facts += 1
        if self.n_facts % _MALFORMED_EVERY == 0:
            return topic, dumps(self._malformed(topic, body))
        return topic, dumps(body)

    def _malformed(self, topic: str, body: dict[str, Any]) -> dict[str, Any]:
        kinds = _MALFORMED_BY_TOPIC[topic]
        kind = kinds[self.mal_idx[topic] % len(kinds)]
        self.mal_idx[topic] += 1
        body = json.loads(json.dumps(body))
        row = body["report_row"]
        if kind == "search_console_negative_clicks":
            row["clicks"] = -row["clicks"] - 1
        elif kind == "search_console_keys_do_not_match":
            row["keys"] = row["keys"][:-1]
        elif kind == "ga4_date_not_yyyymmdd":
            value = row["dimensionValues"][0]["value"]
            row["dimensionValues"][0]["value"] = f"{value[:4]}-{value[4:6]}-{value[6:]}"
        else:
            row["metricValues"][0]["value"] = "n/a"
        return body
