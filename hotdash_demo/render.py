"""How Shopify writes values: money as two-decimal strings, payloads as compact JSON."""

from __future__ import annotations

import json
from collections.abc import Callable


def money(cents: int) -> str:
    """Shopify money: a string with two decimals."""
    if cents < 0:
        return "-" + money(-cents)
    return f"{cents // 100}.{cents % 100:02d}"


# Same output as json.dumps(obj, separators=(",", ":")), without building an encoder per call.
dumps: Callable[[object], str] = json.JSONEncoder(separators=(",", ":")).encode
