"""Synthetic Shopify facts for a hot-rod parts store, its support inbox's Chatwoot webhooks, its
organic search report rows (Search Console, GA4) and its Instagram posts (media and insights),
for demos, load tests and contract checks.

The generator streams rows shaped like the app's append-only ``facts`` table, one at a time, so
that millions of facts can be COPYed into Postgres without holding them in memory. Payloads follow
Shopify's Admin REST resource objects (ids are integers, money is a two-decimal string, timestamps
are ISO-8601 with the shop's UTC offset) and carry the mess that real stores send: repeated and
out-of-order versions, unknown costs, and a small share of malformed facts (``MALFORMED_KINDS``).

Output depends only on the arguments, so the same call always yields byte-identical facts.

Modules: ``stream`` (the entry point), ``shop`` (one store and its slot loop), ``catalog``,
``inventory``, ``customers``, ``orders``, ``refunds``, ``support`` (the support inbox: Chatwoot
conversations and messages, CSAT answers, their own mess), ``seo`` (Search Console's and GA4's
report rows for its landing pages, re-fetched and revised, a few quarantined), ``social`` (its
Instagram media and their insights: about a post a day, re-fetched with growing counts, a few
quarantined), ``messiness``; ``clock``, ``render``,
``ids``, ``growth``, ``topics`` and ``tables`` are what they share. The catalog, names and
cities are CSV files in ``data/``.
"""

from hotdash_demo.ids import shop_domain
from hotdash_demo.messiness import MALFORMED_KINDS
from hotdash_demo.stream import iter_demo_facts
from hotdash_demo.topics import KNOWN_TOPICS, OTHER_TOPICS

__all__ = [
    "KNOWN_TOPICS",
    "MALFORMED_KINDS",
    "OTHER_TOPICS",
    "iter_demo_facts",
    "shop_domain",
]
