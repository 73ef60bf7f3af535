"""How a shop's volume spreads over the 24 months."""

from __future__ import annotations

import math

# Order volume grows by this factor over the 24 months (about 5.4 % month over month).
GROWTH = math.log(3.5)
# Share of a shop's facts that are new orders: used only to size stock levels so that every
# inventory action appears; nothing else depends on it being exact.
ORDERS_PER_FACT = 0.17
