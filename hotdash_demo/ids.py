"""Who is who: shop domains, and the id bands that keep ids apart across kinds and shops."""

from __future__ import annotations

# Id bands: each resource kind has its own band and each shop its own 1e9-wide slice of it,
# so ids never collide across kinds or shops (up to 100 shops).
MAX_SHOPS = 100
(
    ID_PRODUCT,
    ID_VARIANT,
    ID_ITEM,
    ID_CUSTOMER,
    ID_ADDRESS,
    ID_ORDER,
    ID_LINE,
    ID_REFUND,
    ID_REFUND_LINE,
    ID_TXN,
    ID_CHECKOUT,
    ID_FULFILLMENT,
) = range(12)
_ID_BASES = (
    7_300_000_000_000,
    4_400_000_000_000,
    4_600_000_000_000,
    6_800_000_000_000,
    8_100_000_000_000,
    5_500_000_000_000,
    13_800_000_000_000,
    9_100_000_000_000,
    5_200_000_000_000,
    6_300_000_000_000,
    3_100_000_000_000,
    4_900_000_000_000,
)
_LOCATION_BASE = 61_000_000_000


def shop_domain(k: int) -> str:
    """Domain of demo shop ``k``: the first shop is the real store's name, the rest are numbered."""
    if k < 0:
        raise ValueError(f"shop index must be >= 0, got {k}")
    return "hotrodan.myshopify.com" if k == 0 else f"hotrodan-{k + 1}.myshopify.com"


def id_counters(k: int) -> list[int]:
    """Shop ``k``'s id counter of each kind (indexed by ``ID_*``), at the start of its slice."""
    return [base + k * 1_000_000_000 for base in _ID_BASES]


def location_ids(k: int) -> tuple[int, int]:
    """Shop ``k``'s two inventory locations: sales draw on the first before the second."""
    return (_LOCATION_BASE + k * 1_000_000 + 4217, _LOCATION_BASE + k * 1_000_000 + 7731)
