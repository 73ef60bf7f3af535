"""The topics the generator writes facts on."""

from __future__ import annotations

KNOWN_TOPICS: tuple[str, ...] = (
    "shopify.orders",
    "shopify.refunds",
    "shopify.customers",
    "shopify.products",
    "shopify.inventory_items",
    "shopify.inventory_levels",
    "chatwoot.conversations",
    "chatwoot.messages",
    "search_console.search_analytics",
    "ga4.landing_pages",
    "instagram.media",
    "instagram.media_insights",
)
"""Topics the models stage; everything else is kept and counted but ignored."""

OTHER_TOPICS: tuple[str, ...] = ("shopify.checkouts", "shopify.fulfillments", "app.heartbeat")

Fact = tuple[str, str]
"""One shop's fact before it is stamped: (topic, JSON text of the payload)."""
