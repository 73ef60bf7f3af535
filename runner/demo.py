"""Synthetic Shopify facts for a hot-rod parts store, for demos, load tests and contract checks.

The generator streams rows shaped like the app's append-only ``facts`` table, one at a time, so
that millions of facts can be COPYed into Postgres without holding them in memory. Payloads follow
Shopify's Admin REST resource objects (ids are integers, money is a two-decimal string, timestamps
are ISO-8601 with the shop's UTC offset) and carry the mess that real stores send: repeated and
out-of-order versions, unknown costs, and a small share of malformed facts (``MALFORMED_KINDS``).

Output depends only on the arguments, so the same call always yields byte-identical facts.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import itertools
import json
import math
import random
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "KNOWN_TOPICS",
    "MALFORMED_KINDS",
    "OTHER_TOPICS",
    "iter_demo_facts",
    "shop_domain",
]

KNOWN_TOPICS: tuple[str, ...] = (
    "shopify.orders",
    "shopify.refunds",
    "shopify.customers",
    "shopify.products",
    "shopify.inventory_items",
    "shopify.inventory_levels",
)
"""Topics the models stage; everything else is kept and counted but ignored."""

OTHER_TOPICS: tuple[str, ...] = ("shopify.checkouts", "shopify.fulfillments", "app.heartbeat")

MALFORMED_KINDS: tuple[str, ...] = (
    "order_missing_id",
    "level_negative_available",
    "customer_not_object",
    "order_total_null",
    "item_cost_not_number",
    "order_quantity_as_string",
    "duplicate",
    "order_total_not_number",
    "level_missing_item_id",
    "order_bad_timestamp",
    "customer_missing_id",
    "order_negative_quantity",
    "level_available_as_string",
    "order_currency_unknown",
    "out_of_order",
    "order_not_object",
    "product_bad_timestamp",
    "order_currency_missing",
)
"""Messy-fact kinds, cycled through in this order. The two ``*_as_string`` kinds are valid
(numbers sent as strings must stage); ``duplicate`` and ``out_of_order`` carry valid payloads
whose only problem is their position in the stream."""

_CATEGORY_CSV = Path(__file__).resolve().parent.parent / "seeds" / "category_tree.csv"

# Order volume grows by this factor over the 24 months (about 5.4 % month over month).
_GROWTH = math.log(3.5)
# Share of a shop's facts that are new orders: used only to size stock levels so that every
# inventory action appears; nothing else depends on it being exact.
_ORDERS_PER_FACT = 0.17
# Popularity falls with price, much faster for retail buyers than for professional shops, so that
# most orders are small parts while shops buy the engines and transmissions.
_PRO_PRICE_EXP = -1.2
_RETAIL_PRICE_EXP = -1.6
# Retail buyers mostly order small parts; big-ticket types sell to them rarely.
_BIG_TICKET = frozenset(
    {
        "Crate Engines",
        "Transmissions",
        "Rear Axles",
        "EFI Kits",
        "Coilovers",
        "Body Panels",
        "Seats",
        "Exhaust Systems",
    }
)
_SMALL_PARTS = frozenset(
    {
        "Brake Lines",
        "Master Cylinders",
        "Ignition",
        "Gauges",
        "Fuel Pumps",
        "Mufflers",
        "Water Pumps",
        "Electric Fans",
        "Steering Wheels",
        "Shop Tools",
        "Jack Stands",
        "Leaf Springs",
        "Steel Wheels",
        "Tires",
        "Apparel",
    }
)
_MALFORMED_EVERY = 200  # 0.5 % of a shop's facts
_OTHER_EVERY = 100  # 1 %
_SYNC_STEP_US = 2_000_000  # catalog facts of the opening sync arrive 2 s apart
_SEP = (",", ":")

_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Id bands: each resource kind has its own band and each shop its own 1e9-wide slice of it,
# so ids never collide across kinds or shops (up to 100 shops).
_MAX_SHOPS = 100
(
    _ID_PRODUCT,
    _ID_VARIANT,
    _ID_ITEM,
    _ID_CUSTOMER,
    _ID_ADDRESS,
    _ID_ORDER,
    _ID_LINE,
    _ID_REFUND,
    _ID_REFUND_LINE,
    _ID_TXN,
    _ID_CHECKOUT,
    _ID_FULFILLMENT,
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

# Standard UTC offset in hours of each shop (Eastern, Central, Mountain, Pacific); all observe
# US daylight saving time.
_SHOP_TZ = (-5, -6, -7, -8)

# product_type -> (price low $, price high $, product nouns, option name, option values)
_TYPE_SPECS: dict[str, tuple[int, int, tuple[str, ...], str, tuple[str, ...]]] = {
    "Crate Engines": (
        3899,
        11999,
        ("350 Small Block Crate Engine", "LS3 Crate Engine", "454 Big Block Crate Engine"),
        "Dress",
        ("Long Block", "Base Engine", "Turn Key"),
    ),
    "Camshafts": (
        189,
        649,
        ("Hydraulic Roller Camshaft", "Flat Tappet Cam Kit", "Solid Roller Camshaft"),
        "Lift",
        (".480 Lift", ".510 Lift", ".550 Lift", ".600 Lift"),
    ),
    "Intake Manifolds": (
        249,
        899,
        ("Dual Plane Intake Manifold", "Single Plane Intake", "Tunnel Ram Intake"),
        "Finish",
        ("Satin", "Polished", "Black"),
    ),
    "Transmissions": (
        1899,
        4599,
        ("TH350 Transmission", "TH400 Transmission", "700R4 Overdrive Transmission"),
        "Stage",
        ("Street", "Stage 2", "Race"),
    ),
    "Rear Axles": (
        1199,
        3499,
        ("9in Rear End Assembly", "12-Bolt Rear Axle", "Dana 60 Rear End"),
        "Gear Ratio",
        ("3.55", "3.73", "4.11"),
    ),
    "Coilovers": (
        699,
        2499,
        ("Single Adjustable Coilover Kit", "Double Adjustable Coilovers", "Coilover Conversion"),
        "Spring Rate",
        ("450 lb", "550 lb", "650 lb"),
    ),
    "Leaf Springs": (
        129,
        449,
        ("Multi-Leaf Springs", "Mono Leaf Springs", "Lowering Leaf Springs"),
        "Drop",
        ("Stock Height", "2in Drop", "3in Drop"),
    ),
    "Control Arms": (
        169,
        699,
        ("Tubular Upper Control Arms", "Tubular Lower Control Arms", "Boxed Control Arm Set"),
        "Finish",
        ("Black", "Zinc", "Polished"),
    ),
    "Steering Boxes": (
        349,
        1099,
        ("Power Steering Box", "Manual Steering Box", "Quick Ratio Steering Gear"),
        "Ratio",
        ("12.7:1", "14:1", "16:1"),
    ),
    "Disc Brake Kits": (
        349,
        1799,
        ("Front Disc Brake Conversion", "4-Wheel Disc Brake Kit", "Big Brake Kit"),
        "Rotor",
        ("11in", "12in", "13in"),
    ),
    "Master Cylinders": (
        99,
        399,
        ("Dual Bowl Master Cylinder", "Brake Booster Combo", "Manual Master Cylinder"),
        "Bore",
        ("1in", "1-1/8in"),
    ),
    "Brake Lines": (
        24,
        149,
        ("Stainless Brake Line Kit", "Braided Brake Hose Set", "Pre-Bent Brake Line Set"),
        "Material",
        ("Steel", "Stainless"),
    ),
    "Steel Wheels": (
        79,
        249,
        ("Smoothie Steel Wheel", "Chrome Reverse Wheel", "Wide Steelie Wheel"),
        "Size",
        ("15x7", "15x8", "15x10", "16x8"),
    ),
    "Billet Wheels": (
        249,
        899,
        ("Billet 5-Spoke Wheel", "Forged Billet Wheel", "Torque Thrust Style Wheel"),
        "Size",
        ("17x8", "18x8", "18x10", "20x8.5"),
    ),
    "Tires": (
        119,
        399,
        ("Radial Whitewall Tire", "Drag Radial Tire", "Bias Ply Tire"),
        "Size",
        ("P215/70R15", "P235/70R15", "275/60R15"),
    ),
    "Headers": (
        249,
        1199,
        ("Block Hugger Headers", "Long Tube Headers", "Lake Style Headers"),
        "Coating",
        ("Painted", "Ceramic", "Stainless"),
    ),
    "Mufflers": (
        59,
        249,
        ("Chambered Muffler", "Glasspack Muffler", "Turbo Muffler"),
        "Inlet",
        ("2.25in", "2.5in", "3in"),
    ),
    "Exhaust Systems": (
        449,
        1499,
        ("Dual Exhaust System", "Crossmember-Back Exhaust", "X-Pipe Exhaust Kit"),
        "Pipe",
        ("2.5in", "3in"),
    ),
    "Carburetors": (
        349,
        1099,
        ("600 CFM Street Carburetor", "750 CFM Double Pumper", "Tri-Power Carb Set"),
        "Finish",
        ("Satin", "Polished", "Black"),
    ),
    "EFI Kits": (
        1099,
        2799,
        ("Self-Learning EFI Kit", "Throttle Body EFI System", "Multi-Port EFI Kit"),
        "Power",
        ("550 HP", "600 HP", "1000 HP"),
    ),
    "Fuel Pumps": (
        49,
        449,
        ("Mechanical Fuel Pump", "In-Line Electric Fuel Pump", "In-Tank Fuel Pump Module"),
        "Flow",
        ("110 GPH", "150 GPH", "255 LPH"),
    ),
    "Wiring Harnesses": (
        199,
        899,
        ("12-Circuit Wiring Harness", "21-Circuit Wiring Kit", "Engine Swap Harness"),
        "Length",
        ("Standard", "Extended"),
    ),
    "Ignition": (
        29,
        499,
        ("HEI Distributor", "Spark Plug Wire Set", "Ignition Coil", "Ready-to-Run Distributor"),
        "Color",
        ("Black", "Red", "Blue"),
    ),
    "Gauges": (
        39,
        399,
        ("Speedometer", "Tachometer", "Oil Pressure Gauge", "Water Temp Gauge"),
        "Face",
        ("Black", "White", "Silver"),
    ),
    "Radiators": (
        199,
        799,
        ("Aluminum Radiator", "Two-Row Radiator", "Crossflow Radiator"),
        "Core",
        ("2-Row", "3-Row"),
    ),
    "Electric Fans": (
        89,
        399,
        ("16in Electric Fan", "Dual Fan Shroud Kit", "Puller Fan"),
        "Size",
        ("14in", "16in", "Dual 12in"),
    ),
    "Water Pumps": (
        59,
        349,
        ("Short Water Pump", "Long Water Pump", "Electric Water Pump"),
        "Finish",
        ("Satin", "Polished", "Black"),
    ),
    "Body Panels": (
        129,
        1499,
        ("Steel Fender", "Hood Panel", "Quarter Panel Skin", "Fiberglass Hood"),
        "Side",
        ("Left", "Right"),
    ),
    "Seats": (
        249,
        1499,
        ("Bucket Seat", "Bench Seat", "Low Back Seat"),
        "Upholstery",
        ("Black Vinyl", "Tan Leather", "Red Vinyl"),
    ),
    "Steering Wheels": (
        79,
        399,
        ("Banjo Steering Wheel", "Wood Rim Steering Wheel", "Billet Steering Wheel"),
        "Diameter",
        ("14in", "15in", "16in"),
    ),
    "Shop Tools": (
        15,
        399,
        ("Flare Tool Kit", "Engine Stand", "Timing Light", "Torque Wrench", "Tap and Die Set"),
        "Grade",
        ("Standard", "Pro"),
    ),
    "Jack Stands": (
        35,
        199,
        ("Jack Stands", "Low Profile Floor Jack", "Wheel Dollies"),
        "Capacity",
        ("3 Ton", "6 Ton"),
    ),
}
_DEFAULT_SPEC = (49, 499, ("Performance Part", "Bracket Kit", "Install Kit"), "Finish", ("Black",))
# Product types that are deliberately missing from the category seed ("unmapped -> Other").
_UNMAPPED_SPECS: dict[str, tuple[int, int, tuple[str, ...], str, tuple[str, ...]]] = {
    "Apparel": (
        19,
        59,
        ("Shop T-Shirt", "Pinstripe Hoodie", "Trucker Hat"),
        "Size",
        ("S", "M", "L", "XL"),
    ),
    "Gift Cards": (25, 250, ("Gift Card",), "Denomination", ("$25", "$50", "$100", "$250")),
    "": (5, 19, ("Decal Pack", "Window Sticker", "Keychain"), "Title", ("Default Title",)),
}
_SET_TYPES = frozenset({"Tires", "Steel Wheels", "Billet Wheels"})

_VENDORS = (
    "Iron Eagle Speed",
    "Blue Flame Performance",
    "Redline Rod Shop",
    "Torque Works",
    "Bare Knuckle Hot Rods",
    "Kustom Kraft",
    "Southern Speed Co",
    "Nitro Brothers",
    "Hotrodan",
    "Flatout Fabrication",
)
_FITMENTS = (
    "Small Block Chevy",
    "Big Block Chevy",
    "Ford 289/302",
    "Ford 351W",
    "LS Engines",
    "Mopar 383/440",
    "Universal",
    "1955-57 Chevy",
    "1932 Ford",
    "1967-72 C10",
    "1964-70 Mustang",
)

_FIRST = [
    "James",
    "John",
    "Robert",
    "Michael",
    "William",
    "David",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Steven",
    "Paul",
    "Andrew",
    "Joshua",
    "Kevin",
    "Brian",
    "George",
    "Ronald",
    "Kenneth",
    "Jason",
    "Ryan",
    "Gary",
    "Eric",
    "Larry",
    "Frank",
    "Scott",
    "Dale",
    "Wayne",
    "Randy",
    "Travis",
    "Cody",
    "Mary",
    "Linda",
    "Patricia",
    "Jennifer",
    "Susan",
    "Karen",
    "Lisa",
    "Sarah",
    "Jessica",
    "Amanda",
    "Donna",
    "Michelle",
    "Carol",
    "Sandra",
    "Ashley",
    "Tony",
    "Rick",
    "Earl",
    "Luis",
    "Carlos",
]
_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Hill",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Phillips",
    "Evans",
    "Turner",
    "Parker",
    "Collins",
    "Edwards",
    "Stewart",
    "Morris",
    "Murphy",
    "Cook",
    "Rogers",
    "Morgan",
    "Cooper",
    "Peterson",
    "Reed",
    "Bailey",
    "Bell",
    "Kelly",
    "Howard",
    "Ward",
    "Cox",
    "Richardson",
    "Wood",
]
_STREETS = (
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Industrial Pkwy",
    "Route 66",
    "Cedar Ln",
    "Commerce Blvd",
    "Mill Rd",
    "Elm St",
    "Highland Ave",
    "Depot St",
    "Ridge Rd",
)
# (city, province, province_code, zip prefix, sales tax rate in units of 1e-5)
_CITIES = (
    ("Louisville", "Kentucky", "KY", "402", 6000),
    ("Bakersfield", "California", "CA", "933", 7250),
    ("Fresno", "California", "CA", "937", 7250),
    ("San Diego", "California", "CA", "921", 7250),
    ("Houston", "Texas", "TX", "770", 6250),
    ("Dallas", "Texas", "TX", "752", 6250),
    ("San Antonio", "Texas", "TX", "782", 6250),
    ("Phoenix", "Arizona", "AZ", "850", 5600),
    ("Tucson", "Arizona", "AZ", "857", 5600),
    ("Las Vegas", "Nevada", "NV", "891", 6850),
    ("Denver", "Colorado", "CO", "802", 2900),
    ("Albuquerque", "New Mexico", "NM", "871", 4875),
    ("Oklahoma City", "Oklahoma", "OK", "731", 4500),
    ("Tulsa", "Oklahoma", "OK", "741", 4500),
    ("Kansas City", "Missouri", "MO", "641", 4225),
    ("Nashville", "Tennessee", "TN", "372", 7000),
    ("Knoxville", "Tennessee", "TN", "379", 7000),
    ("Atlanta", "Georgia", "GA", "303", 4000),
    ("Charlotte", "North Carolina", "NC", "282", 4750),
    ("Jacksonville", "Florida", "FL", "322", 6000),
    ("Tampa", "Florida", "FL", "336", 6000),
    ("Detroit", "Michigan", "MI", "482", 6000),
    ("Flint", "Michigan", "MI", "485", 6000),
    ("Columbus", "Ohio", "OH", "432", 5750),
    ("Toledo", "Ohio", "OH", "436", 5750),
    ("Indianapolis", "Indiana", "IN", "462", 7000),
    ("Pittsburgh", "Pennsylvania", "PA", "152", 6000),
    ("Portland", "Oregon", "OR", "972", 0),
    ("Salem", "Oregon", "OR", "973", 0),
    ("Billings", "Montana", "MT", "591", 0),
    ("Boise", "Idaho", "ID", "837", 6000),
    ("Spokane", "Washington", "WA", "992", 6500),
    ("Omaha", "Nebraska", "NE", "681", 5500),
    ("Wichita", "Kansas", "KS", "672", 6500),
    ("Birmingham", "Alabama", "AL", "352", 4000),
    ("Little Rock", "Arkansas", "AR", "722", 6500),
)
_COMPANY_PATTERNS = (
    "{last} Hot Rods",
    "{city} Speed Shop",
    "{last} Customs",
    "{last} & Sons Restoration",
    "{city} Rod & Custom",
    "{last} Performance",
    "{city} Kustoms",
    "{last} Garage",
)
_PRO_TAGS = ("wholesale", "wholesale, net30", "", "pro-shop")
_ENTHUSIAST_TAGS = (
    "collector",
    "enthusiast",
    "car-show, collector",
    "enthusiast, vip",
    "enthusiast",
)
_BUILDER_TAGS = ("", "", "", "", "", "newsletter", "first-build")
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")

# Segments: 0 professional shop, 1 enthusiast / collector, 2 first-time builder.
_ORDER_SEGMENT_CUM = (0.22, 0.50)  # share of orders placed by segments 0 and 0+1
_NEW_CUSTOMER_P = (0.12, 0.30, 0.60)  # chance an order of the segment is a first order
_SIGNUP_SEGMENT_CUM = (0.40, 0.65)  # accounts opened before any order (wholesale sign-ups)
_LIFETIME_DAYS = (540.0, 420.0, 240.0)
_DISCOUNTS = (
    ("HOTROD10", "percentage", 10),
    ("SPRING15", "percentage", 15),
    ("BUILD20", "percentage", 20),
    ("TAKE25", "fixed_amount", 2500),
    ("CARSHOW10", "percentage", 10),
)
_PRO_DISCOUNTS = (("PRO12", "percentage", 12), ("SHOPBULK15", "percentage", 15))
_CANCEL_REASONS = ("customer", "inventory", "fraud", "declined", "other")
_REFUND_NOTES = (
    "Wrong fitment",
    "Customer changed build plans",
    "Damaged in shipping",
    "Ordered wrong size",
    "Duplicate order",
    None,
)
_FREE_SHIPPING = ({"code": "Free Shipping", "price": "0.00", "title": "Free Shipping"},)

# Variant stock classes, so that every inventory action shows up at the anchor: dead stock (never
# sold), overstock at 15-30 and 7.5-11 months of cover (never restocked), slow / medium / fast
# sellers (restocked before they run out) and fast sellers whose restocking stops in the last
# months (under one month of cover at the end). Cumulative probabilities and popularity weights:
_DEAD, _OVER50, _OVER25, _SLOW, _MEDIUM, _FAST, _FAST_LOW = range(7)
_CLASS_CUM = (0.07, 0.13, 0.20, 0.40, 0.80, 0.94, 1.0)
_CLASS_WEIGHT = (0.0, 0.12, 0.2, 0.35, 1.0, 4.0, 4.0)

_FactFn = Callable[[Any, int, int], "tuple[str, str] | None"]


def shop_domain(k: int) -> str:
    """Domain of demo shop ``k``: the first shop is the real store's name, the rest are numbered."""
    if k < 0:
        raise ValueError(f"shop index must be >= 0, got {k}")
    return "hotrodan.myshopify.com" if k == 0 else f"hotrodan-{k + 1}.myshopify.com"


def _money(cents: int) -> str:
    """Shopify money: a string with two decimals."""
    if cents < 0:
        return "-" + _money(-cents)
    return f"{cents // 100}.{cents % 100:02d}"


# Same output as json.dumps(obj, separators=(",", ":")), without building an encoder per call.
_dumps: Callable[[object], str] = json.JSONEncoder(separators=_SEP).encode


def _load_product_types(path: Path = _CATEGORY_CSV) -> list[str]:
    """Product types of the category seed, so that most products map to a category."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        return list(_TYPE_SPECS)
    types = [r[0].strip() for r in rows[1:] if r and r[0].strip()]
    return types or list(_TYPE_SPECS)


def _months_before(anchor: dt.datetime, months: int) -> dt.datetime:
    y, m = divmod(anchor.year * 12 + anchor.month - 1 - months, 12)
    day = anchor.day
    while True:
        try:
            return anchor.replace(year=y, month=m + 1, day=day)
        except ValueError:
            day -= 1


def _dst_edges(std_hours: int, first_year: int, last_year: int) -> list[int]:
    """UTC epoch seconds where US daylight saving time starts and ends, alternating.

    Computed from the US rule instead of a tz database so that output does not depend on the
    machine's tzdata version.
    """
    edges: list[int] = []
    for y in range(first_year, last_year + 1):
        mar = dt.date(y, 3, 1)
        start_day = 1 + (6 - mar.weekday()) % 7 + 7
        nov = dt.date(y, 11, 1)
        end_day = 1 + (6 - nov.weekday()) % 7
        start = dt.datetime(y, 3, start_day, 2) - dt.timedelta(hours=std_hours)
        end = dt.datetime(y, 11, end_day, 2) - dt.timedelta(hours=std_hours + 1)
        edges.append(int((start - _NAIVE_EPOCH).total_seconds()))
        edges.append(int((end - _NAIVE_EPOCH).total_seconds()))
    return edges


def _offset_suffix(hours: int) -> str:
    return f"{'-' if hours < 0 else '+'}{abs(hours):02d}:00"


class _Product:
    __slots__ = (
        "created",
        "handle",
        "id",
        "option_name",
        "ptype",
        "tags",
        "title",
        "updated_sec",
        "variants",
        "vendor",
    )

    def __init__(self) -> None:
        self.variants: list[_Variant] = []
        self.updated_sec = 0


class _Variant:
    __slots__ = (
        "avail",
        "cls",
        "cost_c",
        "cost_mode",
        "created",
        "grams",
        "id",
        "item_id",
        "item_sec",
        "level_sec",
        "position",
        "price_c",
        "price_s",
        "product",
        "qty_kind",
        "rate_share",
        "restock_pending",
        "restock_until",
        "sku",
        "title",
        "tracked",
        "w_pro",
        "w_retail",
    )

    def __init__(self) -> None:
        self.avail = [0, 0]
        self.level_sec = [0, 0]
        self.item_sec = 0
        self.restock_pending = False


class _Customer:
    __slots__ = (
        "accepts",
        "addr_id",
        "address1",
        "churn",
        "city",
        "company",
        "consent",
        "consent_at",
        "created",
        "email",
        "first",
        "id",
        "last",
        "last_order_id",
        "last_order_name",
        "opt_in",
        "orders_count",
        "phone",
        "seg",
        "spent_c",
        "state",
        "tags",
        "tax_exempt",
        "updated_sec",
        "zip",
    )


class _Line:
    """A line item and what has been refunded of it, so refunds never exceed the sale."""

    __slots__ = ("d", "net_c", "qty", "r_qty", "r_sub", "r_tax", "tax_c", "variant")

    def __init__(self, d: dict[str, Any], variant: _Variant, qty: int, net_c: int) -> None:
        self.d = d
        self.variant = variant
        self.qty = qty
        self.net_c = net_c
        self.tax_c = 0
        self.r_qty = 0
        self.r_sub = 0
        self.r_tax = 0


class _Order:
    """An order while updates or refunds are still due.

    ``d`` holds the top-level fields that change between versions; line items and the parts that
    never change are kept as JSON text, so that each new version costs one small encode.
    """

    __slots__ = (
        "cancelled",
        "cust",
        "d",
        "last_sec",
        "last_text",
        "lines",
        "lines_json",
        "rate",
        "refund_c",
        "tail",
        "test",
        "total_c",
    )

    def __init__(self, d: dict[str, Any], cust: _Customer, lines: list[_Line], tail: str) -> None:
        self.d = d
        self.cust = cust
        self.lines = lines
        self.tail = tail
        self.lines_json = ""
        self.cancelled = False
        self.test = False
        self.last_sec = 0
        self.last_text = ""
        self.rate = 0
        self.refund_c = 0
        self.total_c = 0


def _join_order(o: _Order) -> str:
    """The order's JSON: changing fields encoded now, line items and the rest reused."""
    head = _dumps(o.d)
    lines = o.lines_json or _Shop._lines_json(o)
    return f'{head[:-1]},"line_items":{lines}{o.tail}'


class _Shop:
    """One store's state: catalog, customers and the events scheduled for later."""

    def __init__(
        self,
        k: int,
        rng: random.Random,
        n_expected: float,
        start_sec: int,
        end_sec: int,
        product_types: list[str],
    ) -> None:
        self.k = k
        self.rng = rng
        self.domain = shop_domain(k)
        self.n_expected = n_expected
        self.start_sec = start_sec
        self.span_days = max(1.0, (end_sec - start_sec) / 86400.0)
        std = _SHOP_TZ[k % len(_SHOP_TZ)]
        self._std_off = std * 3600
        self._dst_off = (std + 1) * 3600
        self._std_sfx = _offset_suffix(std)
        self._dst_sfx = _offset_suffix(std + 1)
        first_year = dt.datetime.fromtimestamp(start_sec, dt.UTC).year - 6
        last_year = dt.datetime.fromtimestamp(end_sec, dt.UTC).year + 1
        self._edges = _dst_edges(std, first_year, last_year)
        self._ctr = [base + k * 1_000_000_000 for base in _ID_BASES]
        self.locations = (
            _LOCATION_BASE + k * 1_000_000 + 4217,
            _LOCATION_BASE + k * 1_000_000 + 7731,
        )
        self.sku_prefix = "HR" if k == 0 else f"H{k + 1}"
        self.email_tag = "" if k == 0 else str(k + 1)

        self.heap: list[tuple[int, int, _FactFn, Any]] = []
        self.seq = 0
        self.slot = 0
        self.s = 0.0
        self.order_number = 1000
        self.active: tuple[list[_Customer], list[_Customer], list[_Customer]] = ([], [], [])
        self.customers: list[_Customer] = []
        self.refunds_planned = 0
        self.cancels_planned = 0
        # (text, updated_at) of order versions that a newer version replaced
        self.superseded: deque[tuple[str, int, int]] = deque(maxlen=32)
        self.last_text: dict[str, str] = {}
        self.recent_order_ids: deque[int] = deque(maxlen=64)
        self.last_order: _Order | None = None
        self.mal_idx = rng.randrange(len(MALFORMED_KINDS))
        self.mal_off = rng.randrange(_MALFORMED_EVERY)
        self.other_off = rng.randrange(_OTHER_EVERY)
        if self.other_off == self.mal_off % _OTHER_EVERY:
            self.other_off = (self.other_off + 37) % _OTHER_EVERY
        self.dup_idx = 0

        # Primary events, as cumulative weights: new order, inventory level, product update,
        # inventory item update, account sign-up, customer update.
        weights = (0.10, 0.115, 0.018, 0.018, 0.008, 0.009)
        total = sum(weights)
        acc = 0.0
        cum = []
        for w in weights:
            acc += w / total
            cum.append(acc)
        self.primary_cum = tuple(cum)

        self.products: list[_Product] = []
        self.variants: list[_Variant] = []
        self.tracked: list[_Variant] = []
        self.catalog: deque[tuple[str, Any, int]] = deque()
        self._build_catalog(product_types)

    # --- small helpers -------------------------------------------------------------------

    def _ts(self, sec: int) -> str:
        """Shop-local ISO-8601 timestamp with offset, as Shopify renders it."""
        if bisect_right(self._edges, sec) & 1:
            return (_NAIVE_EPOCH + dt.timedelta(seconds=sec + self._dst_off)).isoformat() + (
                self._dst_sfx
            )
        return (_NAIVE_EPOCH + dt.timedelta(seconds=sec + self._std_off)).isoformat() + (
            self._std_sfx
        )

    def _nid(self, kind: int) -> int:
        self._ctr[kind] += 1 + self.rng.getrandbits(3)
        return self._ctr[kind]

    def _schedule(self, due: int, fn: _FactFn, arg: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due, self.seq, fn, arg))

    def _orders_per_day(self, s: float) -> float:
        """Expected new orders per day at time fraction ``s`` of the 24 months."""
        g = _GROWTH
        density = g * math.exp(g * s) / math.expm1(g)
        return self.n_expected * _ORDERS_PER_FACT * density / self.span_days

    @staticmethod
    def _bump(prev: int, want: int, now: int) -> int:
        """A version time after ``prev`` (latest updated_at wins) that is not after ``now``."""
        sec = want if want > prev else prev + 1
        return now if sec > now else sec

    # --- catalog -------------------------------------------------------------------------

    def _build_catalog(self, product_types: list[str]) -> None:
        rng = self.rng
        cap = 300 if self.k == 0 else 180
        n_products = min(cap, max(3, int(self.n_expected // 200)))
        n_unmapped = max(1, min(n_products // 10, max(3, round(n_products * 0.04))))
        unmapped_at = set(rng.sample(range(n_products), n_unmapped))
        mapped = list(product_types)
        rng.shuffle(mapped)
        unmapped_cycle = ("Apparel", "Gift Cards", "")
        n_mapped = n_unmapped_seen = 0
        for i in range(n_products):
            p = _Product()
            p.id = self._nid(_ID_PRODUCT)
            if i in unmapped_at:
                ptype = unmapped_cycle[n_unmapped_seen % 3]
                n_unmapped_seen += 1
                spec = _UNMAPPED_SPECS[ptype]
            else:
                ptype = mapped[n_mapped % len(mapped)]
                n_mapped += 1
                spec = _TYPE_SPECS.get(ptype, _DEFAULT_SPEC)
            lo, hi, nouns, opt_name, opt_values = spec
            p.ptype = ptype
            p.vendor = "Hotrodan" if ptype in _UNMAPPED_SPECS else rng.choice(_VENDORS)
            noun = rng.choice(nouns)
            if ptype in _UNMAPPED_SPECS:
                p.title = f"Hotrodan {noun}"
            else:
                p.title = f"{noun} - {rng.choice(_FITMENTS)}"
            p.handle = (
                "-".join(
                    "".join(ch for ch in w if ch.isalnum()) for w in p.title.lower().split()
                ).replace("--", "-")
                + f"-{i + 1}"
            )
            p.tags = ", ".join(t for t in (ptype, p.vendor) if t)
            created_sec = self.start_sec - rng.randint(20, 1500) * 86400 - rng.randint(0, 86399)
            p.created = self._ts(created_sec)
            p.updated_sec = created_sec
            p.option_name = opt_name
            if ptype == "Gift Cards":
                n_var = len(opt_values)
            elif len(opt_values) == 1:
                n_var = 1
            else:
                r = rng.random()
                n_var = 1 if r < 0.35 else 2 if r < 0.65 else 3 if r < 0.85 else 4
                n_var = min(n_var, len(opt_values))
            base_dollars = lo + int((hi - lo) * rng.random() ** 1.6)
            values = rng.sample(opt_values, n_var) if ptype != "Gift Cards" else list(opt_values)
            code = "".join(w[0] for w in (ptype or "Misc").split())[:3].upper()
            for j in range(n_var):
                v = _Variant()
                v.product = p
                v.id = self._nid(_ID_VARIANT)
                v.item_id = self._nid(_ID_ITEM)
                v.position = j + 1
                v.sku = f"{self.sku_prefix}-{code}-{i + 1:04d}-{j + 1}"
                v.title = "Default Title" if n_var == 1 else values[j]
                if ptype == "Gift Cards":
                    v.price_c = int(values[j][1:]) * 100
                else:
                    dollars = max(lo, int(base_dollars * (1 + 0.07 * j)))
                    ending = rng.choice((99, 99, 95, 0))
                    v.price_c = dollars * 100 + ending if ending else dollars * 100
                v.price_s = _money(v.price_c)
                v.cost_c = int(v.price_c * (0.42 + 0.3 * rng.random()))
                r = rng.random()
                v.cost_mode = 1 if r < 0.03 else 2 if r < 0.05 else 0  # 1: no key, 2: null
                v.tracked = ptype != "Gift Cards"
                v.grams = (
                    0 if ptype == "Gift Cards" else int(min(hi, 3000) * (20 + 40 * rng.random()))
                )
                v.created = p.created
                v.qty_kind = 1 if ptype in _SET_TYPES else 2 if v.price_c < 15000 else 0
                r = rng.random()
                v.cls = next(c for c, edge in enumerate(_CLASS_CUM) if r < edge)
                if ptype in _UNMAPPED_SPECS and v.cls == _DEAD:
                    v.cls = _MEDIUM
                cls_w = _CLASS_WEIGHT[v.cls]
                v.w_pro = cls_w * (v.price_c / 10000.0) ** _PRO_PRICE_EXP
                pop = 0.3 if ptype in _BIG_TICKET else 1.5 if ptype in _SMALL_PARTS else 0.6
                v.w_retail = pop * cls_w * (v.price_c / 10000.0) ** _RETAIL_PRICE_EXP
                v.restock_until = (
                    0.86
                    if v.cls == _FAST_LOW
                    else (2.0 if v.cls in (_SLOW, _MEDIUM, _FAST) else -1.0)
                )
                p.variants.append(v)
                self.variants.append(v)
                if v.tracked:
                    self.tracked.append(v)
            self.products.append(p)

        self.sellable = [v for v in self.variants if v.w_pro > 0]
        if not self.sellable:  # tiny catalogs: make sure something can be sold
            v = self.variants[0]
            v.cls = _MEDIUM
            v.w_pro = v.w_retail = 1.0
            self.sellable = [v]
        self.cum_pro = list(itertools.accumulate(v.w_pro for v in self.sellable))
        self.cum_retail = list(itertools.accumulate(v.w_retail for v in self.sellable))
        # Expected units per order of each variant, from the order mix in _build_order.
        pro_share = _ORDER_SEGMENT_CUM[0] * 1.95 / self.cum_pro[-1]
        retail_share = (1 - _ORDER_SEGMENT_CUM[0]) * 1.35 / self.cum_retail[-1]
        for v in self.variants:
            v.rate_share = 0.0
        for v in self.sellable:
            q_pro, q_retail = (3.2, 3.2) if v.qty_kind == 1 else (1.7 if v.qty_kind else 1.15, 1.07)
            v.rate_share = v.w_pro * pro_share * q_pro + v.w_retail * retail_share * q_retail

        # Opening stock, sized from expected sales so that each class ends where it should.
        r0 = self._orders_per_day(0.0)
        r1 = self._orders_per_day(1.0)
        total_orders = self.n_expected * _ORDERS_PER_FACT
        for v in self.tracked:
            if v.cls == _DEAD:
                units = rng.randint(3, 40)
            elif v.cls == _OVER50:
                months = 15 + 15 * rng.random()
                units = v.rate_share * (total_orders + r1 * 30 * months)
            elif v.cls == _OVER25:
                months = 7.5 + 3.5 * rng.random()
                units = v.rate_share * (total_orders + r1 * 30 * months)
            else:
                units = v.rate_share * r0 * (75 + 30 * rng.random()) + 2
            units = max(1, int(units))
            v.avail[0] = units - units * 3 // 10
            v.avail[1] = units * 3 // 10

        for p in self.products:
            self.catalog.append(("p", p, 0))
            for v in p.variants:
                self.catalog.append(("i", v, 0))
                if v.tracked:
                    self.catalog.append(("l", v, 0))
                    self.catalog.append(("l", v, 1))

    def _emit_catalog(self, now: int) -> tuple[str, str]:
        kind, obj, loc = self.catalog.popleft()
        lag = self.rng.randint(1, 20)
        if kind == "p":
            return "shopify.products", _dumps(self._product_dict(obj, now - lag, now))
        if kind == "i":
            return "shopify.inventory_items", _dumps(self._item_dict(obj, now - lag, now))
        return "shopify.inventory_levels", _dumps(self._level_dict(obj, loc, now - lag, now))

    # --- payloads ------------------------------------------------------------------------

    def _product_dict(self, p: _Product, want: int, now: int) -> dict[str, Any]:
        p.updated_sec = self._bump(p.updated_sec, want, now)
        upd = self._ts(p.updated_sec)
        variants = []
        for v in p.variants:
            variants.append(
                {
                    "id": v.id,
                    "product_id": p.id,
                    "title": v.title,
                    "price": v.price_s,
                    "sku": v.sku,
                    "position": v.position,
                    "inventory_policy": "continue",
                    "compare_at_price": None,
                    "fulfillment_service": "manual",
                    "inventory_management": "shopify" if v.tracked else None,
                    "option1": v.title,
                    "option2": None,
                    "option3": None,
                    "created_at": v.created,
                    "updated_at": upd,
                    "taxable": True,
                    "grams": v.grams,
                    "inventory_item_id": v.item_id,
                    "inventory_quantity": v.avail[0] + v.avail[1],
                    "requires_shipping": v.tracked,
                }
            )
        return {
            "id": p.id,
            "title": p.title,
            "vendor": p.vendor,
            "product_type": p.ptype,
            "created_at": p.created,
            "handle": p.handle,
            "updated_at": upd,
            "published_at": p.created,
            "template_suffix": None,
            "status": "active",
            "published_scope": "web",
            "tags": p.tags,
            "variants": variants,
            "options": [{"name": p.option_name, "position": 1}],
        }

    def _item_dict(self, v: _Variant, want: int, now: int) -> dict[str, Any]:
        v.item_sec = self._bump(v.item_sec, want, now)
        d: dict[str, Any] = {
            "id": v.item_id,
            "sku": v.sku,
            "created_at": v.created,
            "updated_at": self._ts(v.item_sec),
            "requires_shipping": v.tracked,
        }
        if v.cost_mode == 0:
            d["cost"] = _money(v.cost_c)
        elif v.cost_mode == 2:
            d["cost"] = None
        d["country_code_of_origin"] = "US"
        d["province_code_of_origin"] = None
        d["harmonized_system_code"] = None
        d["tracked"] = v.tracked
        return d

    def _level_dict(self, v: _Variant, loc: int, want: int, now: int) -> dict[str, Any]:
        v.level_sec[loc] = sec = self._bump(v.level_sec[loc], want, now)
        return {
            "inventory_item_id": v.item_id,
            "location_id": self.locations[loc],
            "available": v.avail[loc],
            "updated_at": self._ts(sec),
        }

    def _address(self, c: _Customer, full: bool) -> dict[str, Any]:
        city, province, code, _, _ = _CITIES[c.city]
        if not full:
            return {"company": c.company, "province_code": code, "country_code": "US"}
        return {
            "id": c.addr_id,
            "customer_id": c.id,
            "first_name": c.first,
            "last_name": c.last,
            "company": c.company,
            "address1": c.address1,
            "address2": "",
            "city": city,
            "province": province,
            "country": "United States",
            "zip": c.zip,
            "phone": c.phone,
            "name": f"{c.first} {c.last}",
            "province_code": code,
            "country_code": "US",
            "country_name": "United States",
            "default": True,
        }

    def _consent(self, c: _Customer) -> dict[str, Any]:
        return {"state": c.consent, "opt_in_level": c.opt_in, "consent_updated_at": c.consent_at}

    def _customer_dict(self, c: _Customer, want: int, now: int) -> dict[str, Any]:
        c.updated_sec = self._bump(c.updated_sec, want, now)
        return {
            "id": c.id,
            "email": c.email,
            "accepts_marketing": c.accepts,
            "created_at": c.created,
            "updated_at": self._ts(c.updated_sec),
            "first_name": c.first,
            "last_name": c.last,
            "orders_count": c.orders_count,
            "state": c.state,
            "total_spent": _money(max(0, c.spent_c)),
            "last_order_id": c.last_order_id,
            "note": None,
            "verified_email": True,
            "multipass_identifier": None,
            "tax_exempt": c.tax_exempt,
            "tags": c.tags,
            "last_order_name": c.last_order_name,
            "currency": "USD",
            "phone": c.phone,
            "accepts_marketing_updated_at": c.consent_at,
            "marketing_opt_in_level": c.opt_in if c.accepts else None,
            "email_marketing_consent": self._consent(c),
            "default_address": self._address(c, True),
        }

    def _customer_text(self, c: _Customer, want: int, now: int) -> tuple[str, str]:
        text = _dumps(self._customer_dict(c, want, now))
        self.last_text["shopify.customers"] = text
        return "shopify.customers", text

    # --- customers -----------------------------------------------------------------------

    def _new_customer(self, seg: int, created_sec: int) -> _Customer:
        rng = self.rng
        c = _Customer()
        c.id = self._nid(_ID_CUSTOMER)
        c.addr_id = self._nid(_ID_ADDRESS)
        c.seg = seg
        c.first = rng.choice(_FIRST)
        c.last = rng.choice(_LAST)
        c.city = rng.randrange(len(_CITIES))
        city, _, _, zip3, _ = _CITIES[c.city]
        c.zip = f"{zip3}{rng.randrange(100):02d}"
        c.address1 = f"{rng.randint(10, 9899)} {rng.choice(_STREETS)}"
        c.phone = f"+1{rng.randint(201, 989)}555{rng.randrange(10000):04d}"
        n = len(self.customers) + 1
        if seg == 0:
            c.company = rng.choice(_COMPANY_PATTERNS).format(last=c.last, city=city)
            c.tags = rng.choice(_PRO_TAGS)
            slug = "".join(ch for ch in c.company.lower() if ch.isalnum())[:24]
            c.email = f"{c.first.lower()}{n}@{slug}{self.email_tag}.example.com"
        else:
            c.company = None
            c.tags = rng.choice(_ENTHUSIAST_TAGS if seg == 1 else _BUILDER_TAGS)
            dom = _EMAIL_DOMAINS[n % 3]
            c.email = f"{c.first.lower()}.{c.last.lower()}{n}{self.email_tag}@{dom}"
        c.tax_exempt = "wholesale" in c.tags
        r = rng.random()
        c.consent = "subscribed" if r < 0.70 else "not_subscribed" if r < 0.90 else "unsubscribed"
        c.accepts = c.consent == "subscribed"
        c.opt_in = "confirmed_opt_in" if c.accepts and rng.random() < 0.3 else "single_opt_in"
        c.created = self._ts(created_sec)
        c.consent_at = None if c.consent == "not_subscribed" else c.created
        c.state = "enabled" if rng.random() < 0.75 else "disabled"
        c.updated_sec = created_sec - 1
        c.orders_count = 0
        c.spent_c = 0
        c.last_order_id = None
        c.last_order_name = None
        c.churn = created_sec + int(rng.expovariate(1.0 / _LIFETIME_DAYS[seg]) * 86400)
        self.customers.append(c)
        active = self.active[seg]
        # Bigger professional shops come back more often: they sit in the pool more than once.
        for _ in range(min(12, int(rng.paretovariate(1.3))) if seg == 0 else 1):
            active.append(c)
        return c

    def _pick_returning(self, seg: int, now: int) -> _Customer | None:
        pool = self.active[seg]
        rng = self.rng
        for _ in range(4):
            if not pool:
                return None
            i = int(rng.random() * len(pool))
            c = pool[i]
            if c.churn > now:
                return c
            pool[i] = pool[-1]
            pool.pop()
        return None

    # --- orders --------------------------------------------------------------------------

    def _build_order(self, c: _Customer, created: int, test: bool) -> _Order:
        """An order with consistent money: lines, discount allocation and tax in cents."""
        rng = self.rng
        seg = c.seg
        r = rng.random()
        if seg == 0:
            n_lines = 1 + (r < 0.6) + (r < 0.3) + (r < 0.1)
        elif seg == 1:
            n_lines = 1 + (r < 0.4) + (r < 0.12)
        else:
            n_lines = 1 + (r < 0.25) + (r < 0.05)
        cum = self.cum_pro if seg == 0 else self.cum_retail
        picks = rng.choices(self.sellable, cum_weights=cum, k=n_lines)
        seen: set[int] = set()
        lines: list[_Line] = []
        total = 0
        for v in picks:
            if v.id in seen:
                continue
            seen.add(v.id)
            if v.qty_kind == 1:
                q = 4 if rng.random() < 0.6 else 2
            elif seg == 0:
                r = rng.random()
                q = 1 + (r < 0.5) + (r < 0.2) if v.qty_kind == 2 else 1 + (r < 0.15)
            else:
                q = 2 if rng.random() < 0.07 else 1
            amount = v.price_c * q
            total += amount
            p = v.product
            d = {
                "id": self._nid(_ID_LINE),
                "variant_id": v.id,
                "product_id": p.id,
                "title": p.title,
                "variant_title": v.title,
                "sku": v.sku,
                "quantity": q,
                "price": v.price_s,
                "total_discount": "0.00",
                "fulfillment_status": None,
            }
            lines.append(_Line(d, v, q, amount))

        codes: list[dict[str, str]] = []
        discount = 0
        if rng.random() < 0.15:
            code, kind, val = rng.choice(_PRO_DISCOUNTS if seg == 0 else _DISCOUNTS)
            if kind == "percentage":
                discount = (total * val + 50) // 100
            elif total >= 10000:
                discount = val
            if discount:
                codes.append({"code": code, "amount": _money(discount), "type": kind})
        if discount:
            left = discount
            for ln in lines[:-1]:
                share = discount * ln.net_c // total
                ln.net_c -= share
                ln.d["total_discount"] = _money(share)
                left -= share
            lines[-1].net_c -= left
            lines[-1].d["total_discount"] = _money(left)
        subtotal = total - discount
        city, _, st, _, rate = _CITIES[c.city]
        if c.tax_exempt:
            rate = 0
        tax = (subtotal * rate + 50_000) // 100_000
        left = tax
        for ln in lines[:-1]:
            ln.tax_c = tax * ln.net_c // subtotal if subtotal else 0
            left -= ln.tax_c
        lines[-1].tax_c = left
        cs = self._ts(created)
        self.order_number += 1
        num = self.order_number
        if test:
            gateway, status, source = "bogus", "paid", "web"
        elif seg == 0 and rng.random() < 0.3:
            gateway, status, source = "manual", "pending", "shopify_draft_order"
        else:
            gateway = "shopify_payments" if rng.random() < 0.8 else "paypal"
            status = "authorized" if rng.random() < 0.12 else "paid"
            source = "web" if rng.random() < 0.93 else "pos"
        tags = "test" if test else ("wholesale" if c.tax_exempt else "")
        d = {
            "id": self._nid(_ID_ORDER),
            "email": c.email,
            "closed_at": None,
            "created_at": cs,
            "updated_at": cs,
            "note": None,
            "gateway": gateway,
            "test": test,
            "total_price": _money(subtotal + tax),
            "subtotal_price": _money(subtotal),
            "total_tax": _money(tax),
            "taxes_included": False,
            "currency": "USD",
            "financial_status": status,
            "total_discounts": _money(discount),
            "total_line_items_price": _money(total),
            "buyer_accepts_marketing": c.accepts,
            "name": f"#{num}",
            "cancelled_at": None,
            "cancel_reason": None,
            "processed_at": cs,
            "order_number": num,
            "source_name": source,
            "fulfillment_status": None,
            "tags": tags,
            "discount_codes": codes,
            "tax_lines": [
                {"price": _money(tax), "rate": rate / 100_000, "title": f"{st} State Tax"}
            ]
            if rate
            else [],
        }
        tail = _dumps(
            {
                "shipping_lines": _FREE_SHIPPING,
                "shipping_address": {
                    "name": f"{c.first} {c.last}",
                    "company": c.company,
                    "city": city,
                    "province_code": st,
                    "zip": c.zip,
                    "country_code": "US",
                },
                "customer": {
                    "id": c.id,
                    "email": c.email,
                    "accepts_marketing": c.accepts,
                    "first_name": c.first,
                    "last_name": c.last,
                    "orders_count": c.orders_count + 1,
                    "total_spent": _money(max(0, c.spent_c)),
                    "tags": c.tags,
                    "phone": c.phone,
                    "default_address": self._address(c, False),
                },
            }
        )
        o = _Order(d, c, lines, "," + tail[1:])
        o.test = test
        o.rate = rate
        o.total_c = subtotal + tax
        o.last_sec = created
        return o

    @staticmethod
    def _lines_json(o: _Order) -> str:
        o.lines_json = _dumps([ln.d for ln in o.lines])
        return o.lines_json

    @staticmethod
    def _order_full(o: _Order) -> dict[str, Any]:
        """The whole order as one object, for the rare facts that edit nested parts."""
        return json.loads(_join_order(o))

    def _order_text(self, o: _Order, prev_sec: int = 0) -> str:
        text = _join_order(o)
        if o.last_text and o.last_sec - prev_sec >= 2:
            self.superseded.append((o.last_text, prev_sec, o.last_sec))
        o.last_text = text
        self.last_text["shopify.orders"] = text
        return text

    def _create_order(self, c: _Customer, created: int) -> tuple[str, str]:
        """Place an order, then schedule its updates, cancellation, refunds and restocking."""
        rng = self.rng
        test = rng.random() < 0.01
        o = self._build_order(c, created, test)
        self.last_order = o
        d = o.d
        status = d["financial_status"]
        self.recent_order_ids.append(d["id"])
        text = self._order_text(o)
        s = self.s
        if not test:
            c.orders_count += 1
            c.spent_c += o.total_c
            c.last_order_id = d["id"]
            c.last_order_name = d["name"]
            for ln in o.lines:
                v = ln.variant
                if not v.tracked:
                    continue
                take = min(ln.qty, v.avail[0])
                v.avail[0] -= take
                v.avail[1] = max(0, v.avail[1] - (ln.qty - take))
                if not v.restock_pending and s < v.restock_until:
                    rate = v.rate_share * self._orders_per_day(s)
                    if v.avail[0] + v.avail[1] < rate * 40:
                        v.restock_pending = True
                        due = created + rng.randint(7, 21) * 86400
                        self._schedule(due, self._fu_restock, (v, max(1, int(rate * 100))))
            if rng.random() < (0.12 if c.orders_count == 1 else 0.035):
                self._schedule(created + rng.randint(60, 900), self._fu_customer, c)

        post_catalog = self.slot
        force_cancel = not test and self.cancels_planned == 0 and post_catalog > 40
        if not test and status != "paid" and (rng.random() < 0.11 or force_cancel):
            self.cancels_planned += 1
            t = created
            if rng.random() < 0.3:
                t += rng.randint(600, 7200)
                self._schedule(t, self._fu_order_step, (o, "note"))
            self._schedule(t + rng.randint(1200, 129600), self._fu_order_step, (o, "cancel"))
            return "shopify.orders", text

        if status == "pending":
            steps = ["fulfill", "paid", "close"][: 2 + (rng.random() < 0.5)]
        elif status == "authorized":
            steps = ["capture", "fulfill", "close"][: 1 + rng.getrandbits(1) + (rng.random() < 0.5)]
        else:
            first = "fulfill_partial" if len(o.lines) > 1 and rng.random() < 0.4 else "note"
            r = rng.random()
            steps = ["fulfill", "close"] if r < 0.25 else [first, "fulfill", "close"]
            if r > 0.92:
                steps = ["fulfill"]
        t = created
        for step in steps:
            t += _STEP_DELAY[step](rng)
            self._schedule(t, self._fu_order_step, (o, step))
        if status == "paid" and not test:
            force = self.refunds_planned == 0 and post_catalog > 20
            if force or rng.random() < 0.055:
                self.refunds_planned += 1
                full = rng.random() < 0.4
                due = t + rng.randint(1, 30) * 86400 + rng.randint(0, 86399)
                if force:
                    due = t + rng.randint(3600, 86400)
                self._schedule(due, self._fu_refund, (o, full))
        return "shopify.orders", text

    def _emit_order(self, o: _Order, due: int, now: int) -> tuple[str, str]:
        prev_sec = o.last_sec
        o.last_sec = self._bump(prev_sec, due, now)
        o.d["updated_at"] = self._ts(o.last_sec)
        return "shopify.orders", self._order_text(o, prev_sec)

    # --- scheduled follow-ups (called with their argument, due time and slot time) --------

    def _fu_order_create(self, c: _Customer, due: int, now: int) -> tuple[str, str] | None:
        return self._create_order(c, min(due, now))

    def _fu_order_step(self, arg: tuple[_Order, str], due: int, now: int) -> tuple[str, str] | None:
        o, step = arg
        if o.cancelled:
            return None
        d = o.d
        when = self._ts(min(max(due, o.last_sec + 1), now))
        if step == "capture":
            d["financial_status"] = "paid"
        elif step == "paid":
            if d["financial_status"] == "pending":
                d["financial_status"] = "paid"
        elif step == "fulfill_partial":
            o.lines[0].d["fulfillment_status"] = "fulfilled"
            o.lines_json = ""
            d["fulfillment_status"] = "partial"
        elif step == "fulfill":
            for ln in o.lines:
                ln.d["fulfillment_status"] = "fulfilled"
            o.lines_json = ""
            d["fulfillment_status"] = "fulfilled"
        elif step == "close":
            d["closed_at"] = when
        elif step == "note":
            d["note"] = self.rng.choice(
                ("Ship with liftgate", "Customer called about fitment", "Hold for pickup")
            )
        elif step == "cancel":
            o.cancelled = True
            d["cancelled_at"] = when
            d["closed_at"] = when
            d["cancel_reason"] = self.rng.choice(_CANCEL_REASONS)
            d["financial_status"] = "voided"
            if not o.test:
                o.cust.spent_c -= o.total_c
                for ln in o.lines:
                    if ln.variant.tracked:
                        ln.variant.avail[0] += ln.qty
        elif step == "refund_status":
            done = all(ln.r_qty >= ln.qty for ln in o.lines)
            d["financial_status"] = "refunded" if done else "partially_refunded"
        return self._emit_order(o, due, now)

    def _fu_refund(self, arg: tuple[_Order, bool], due: int, now: int) -> tuple[str, str] | None:
        """A refund of real line items of an earlier order, with amounts that add up."""
        o, full = arg
        if o.cancelled:
            return None
        rng = self.rng
        open_lines = [ln for ln in o.lines if ln.r_qty < ln.qty]
        if not open_lines:
            return None
        if full:
            chosen = [(ln, ln.qty - ln.r_qty) for ln in open_lines]
        else:
            ln = rng.choice(open_lines)
            chosen = [(ln, rng.randint(1, ln.qty - ln.r_qty))]
        sec = min(max(due, o.last_sec + 1), now)
        when = self._ts(sec)
        restock = rng.random() < 0.6
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
                ln.variant.avail[0] += q
            items.append(
                {
                    "id": self._nid(_ID_REFUND_LINE),
                    "quantity": q,
                    "line_item_id": li["id"],
                    "location_id": self.locations[0] if restock else None,
                    "restock_type": "return" if restock else "no_restock",
                    "subtotal": _money(sub),
                    "total_tax": _money(tax),
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
        refund_id = self._nid(_ID_REFUND)
        refund = {
            "id": refund_id,
            "order_id": d["id"],
            "created_at": when,
            "note": rng.choice(_REFUND_NOTES),
            "user_id": None,
            "processed_at": when,
            "restock": restock,
            "refund_line_items": items,
            "transactions": [
                {
                    "id": self._nid(_ID_TXN),
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
                    "amount": _money(amount),
                    "currency": "USD",
                    "source_name": "web",
                }
            ],
            "order_adjustments": [],
        }
        o.refund_c += amount
        o.cust.spent_c -= amount
        self._schedule(sec + rng.randint(30, 300), self._fu_order_step, (o, "refund_status"))
        if not full and rng.random() < 0.25:
            self._schedule(sec + rng.randint(3, 20) * 86400, self._fu_refund, (o, True))
        text = _dumps(refund)
        self.last_text["shopify.refunds"] = text
        return "shopify.refunds", text

    def _fu_customer(self, c: _Customer, due: int, now: int) -> tuple[str, str] | None:
        return self._customer_text(c, due, now)

    def _fu_restock(self, arg: tuple[_Variant, int], due: int, now: int) -> tuple[str, str] | None:
        v, units = arg
        v.restock_pending = False
        v.avail[0] += units
        text = _dumps(self._level_dict(v, 0, due, now))
        self.last_text["shopify.inventory_levels"] = text
        return "shopify.inventory_levels", text

    # --- primary events ------------------------------------------------------------------

    def _primary(self, now: int) -> tuple[str, str]:
        """A new event when nothing scheduled is due: order, stock count, catalog or customer."""
        rng = self.rng
        r = rng.random()
        cum = self.primary_cum
        lag = rng.randint(5, 120)
        if r < cum[0]:
            x = rng.random()
            seg = 0 if x < _ORDER_SEGMENT_CUM[0] else 1 if x < _ORDER_SEGMENT_CUM[1] else 2
            c = None if rng.random() < _NEW_CUSTOMER_P[seg] else self._pick_returning(seg, now)
            if c is None:
                c = self._new_customer(seg, now - lag)
                self._schedule(now + rng.randint(120, 1800), self._fu_order_create, c)
                return self._customer_text(c, now - lag, now)
            return self._create_order(c, now - lag)
        if r < cum[1]:
            if rng.random() < 0.6:
                v = rng.choices(self.sellable, cum_weights=self.cum_retail)[0]
                if not v.tracked:
                    v = rng.choice(self.tracked)
            else:
                v = rng.choice(self.tracked)
            loc = 0 if rng.random() < 0.7 else 1
            text = _dumps(self._level_dict(v, loc, now - lag, now))
            self.last_text["shopify.inventory_levels"] = text
            return "shopify.inventory_levels", text
        if r < cum[2]:
            p = rng.choice(self.products)
            if rng.random() < 0.06 and p.ptype != "Gift Cards":
                v = rng.choice(p.variants)
                factor = 0.9 + 0.22 * rng.random()
                v.price_c = max(500, int(v.price_c * factor / 100) * 100 + 99)
                v.price_s = _money(v.price_c)
            return "shopify.products", _dumps(self._product_dict(p, now - lag, now))
        if r < cum[3]:
            v = rng.choice(self.variants)
            if v.cost_mode == 0 and rng.random() < 0.1:
                v.cost_c = int(v.cost_c * (0.95 + 0.1 * rng.random()))
            return "shopify.inventory_items", _dumps(self._item_dict(v, now - lag, now))
        if r < cum[4] or not self.customers:
            x = rng.random()
            seg = 0 if x < _SIGNUP_SEGMENT_CUM[0] else 1 if x < _SIGNUP_SEGMENT_CUM[1] else 2
            c = self._new_customer(seg, now - lag)
            return self._customer_text(c, now - lag, now)
        c = rng.choice(self.customers)
        x = rng.random()
        if x < 0.3:
            if c.consent == "subscribed":
                c.consent = "unsubscribed"
            else:
                c.consent = "subscribed"
                c.opt_in = "single_opt_in"
            c.accepts = c.consent == "subscribed"
            c.consent_at = self._ts(now - lag)
        elif x < 0.45 and "vip" not in c.tags and c.seg != 2:
            c.tags = f"{c.tags}, vip" if c.tags else "vip"
        elif x < 0.6:
            c.phone = f"+1{rng.randint(201, 989)}555{rng.randrange(10000):04d}"
        return self._customer_text(c, now - lag, now)

    # --- other topics and malformed facts ------------------------------------------------

    def _other(self, now: int) -> tuple[str, str]:
        """A fact on a topic the models do not stage; it must still be counted, never fail."""
        rng = self.rng
        r = rng.random()
        ts = self._ts(now - rng.randint(1, 60))
        if r < 0.5 and self.sellable:
            v = rng.choices(self.sellable, cum_weights=self.cum_retail)[0]
            q = 1 + (rng.random() < 0.2)
            cid = self._nid(_ID_CHECKOUT)
            payload: object = {
                "id": cid,
                "token": f"{cid:x}{self.k:02x}",
                "email": None,
                "created_at": ts,
                "updated_at": ts,
                "completed_at": None,
                "currency": "USD",
                "total_price": _money(v.price_c * q),
                "line_items": [
                    {"variant_id": v.id, "sku": v.sku, "quantity": q, "price": v.price_s}
                ],
            }
            return "shopify.checkouts", _dumps(payload)
        if r < 0.8 and self.recent_order_ids:
            payload = {
                "id": self._nid(_ID_FULFILLMENT),
                "order_id": rng.choice(self.recent_order_ids),
                "status": "success",
                "created_at": ts,
                "updated_at": ts,
                "tracking_company": rng.choice(("UPS", "FedEx", "USPS", "R+L Carriers")),
                "tracking_number": f"1Z{rng.getrandbits(48):012X}",
                "shipment_status": None,
            }
            return "shopify.fulfillments", _dumps(payload)
        payload = {
            "status": "ok",
            "app_version": "2.4.1",
            "queue_depth": rng.randint(0, 40),
            "sent_at": ts,
        }
        return "app.heartbeat", _dumps(payload)

    def _malformed(self, now: int) -> tuple[str, str] | None:
        """The next messy fact in the cycle; kinds that need state not yet there are skipped."""
        n = len(MALFORMED_KINDS)
        for _ in range(n):
            kind = MALFORMED_KINDS[self.mal_idx % n]
            self.mal_idx += 1
            fact = self._malformed_kind(kind, now)
            if fact is not None:
                return fact
        return None

    def _malformed_kind(self, kind: str, now: int) -> tuple[str, str] | None:
        rng = self.rng
        lag = rng.randint(5, 120)
        if kind.startswith("order_") and kind != "order_quantity_as_string":
            if not self.customers:
                return None
            o = self._build_order(rng.choice(self.customers), now - lag, False)
            d: Any = self._order_full(o)
            if kind == "order_missing_id":
                del d["id"]
            elif kind == "order_total_null":
                d["total_price"] = None
            elif kind == "order_total_not_number":
                d["total_price"] = "N/A"
            elif kind == "order_negative_quantity":
                d["line_items"][0]["quantity"] = -1
            elif kind == "order_bad_timestamp":
                d["updated_at"] = "yesterday"
            elif kind == "order_currency_unknown":
                d["currency"] = "XYZ"
            elif kind == "order_currency_missing":
                del d["currency"]
            elif kind == "order_not_object":
                d = [d]
            return "shopify.orders", _dumps(d)
        if kind == "order_quantity_as_string":
            if not self.customers:
                return None
            topic, text = self._create_order(rng.choice(self.customers), now - lag)
            obj = json.loads(text)
            for li in obj["line_items"]:
                li["quantity"] = str(li["quantity"])
            text = _dumps(obj)
            order = self.last_order
            assert order is not None
            order.last_text = text
            self.last_text[topic] = text
            return topic, text
        if kind in (
            "level_negative_available",
            "level_missing_item_id",
            "level_available_as_string",
        ):
            v = rng.choice(self.tracked)
            loc = rng.getrandbits(1)
            dl: dict[str, Any] = self._level_dict(v, loc, now - lag, now)
            if kind == "level_negative_available":
                dl["available"] = -3
            elif kind == "level_missing_item_id":
                del dl["inventory_item_id"]
            else:
                dl["available"] = str(dl["available"])
            return "shopify.inventory_levels", _dumps(dl)
        if kind == "item_cost_not_number":
            v = rng.choice(self.variants)
            di = self._item_dict(v, now - lag, now)
            di["cost"] = "abc"
            return "shopify.inventory_items", _dumps(di)
        if kind == "customer_missing_id":
            if not self.customers:
                return None
            dc = self._customer_dict(rng.choice(self.customers), now - lag, now)
            del dc["id"]
            return "shopify.customers", _dumps(dc)
        if kind == "customer_not_object":
            if not self.customers:
                return None
            return "shopify.customers", _dumps(f"customer {rng.choice(self.customers).id} redacted")
        if kind == "product_bad_timestamp":
            dp = self._product_dict(rng.choice(self.products), now - lag, now)
            dp["updated_at"] = "yesterday"
            return "shopify.products", _dumps(dp)
        if kind == "duplicate":
            topics = [t for t in KNOWN_TOPICS if t in self.last_text]
            if not topics:
                return None
            self.dup_idx += 1
            topic = topics[self.dup_idx % len(topics)]
            return topic, self.last_text[topic]
        if kind == "out_of_order":
            # A webhook for an intermediate version that arrives after a newer one was stored:
            # the older state, stamped between the two versions it sits between.
            if not self.superseded:
                return None
            text, old_sec, new_sec = self.superseded[int(rng.random() * len(self.superseded))]
            old_ts = f'"updated_at":"{self._ts(old_sec)}"'
            mid_ts = f'"updated_at":"{self._ts(rng.randint(old_sec + 1, new_sec - 1))}"'
            return "shopify.orders", text.replace(old_ts, mid_ts, 1)
        raise AssertionError(f"unhandled malformed kind {kind}")

    # --- the slot loop -------------------------------------------------------------------

    def next_fact(self, now: int, s: float) -> tuple[str, str]:
        """The fact this shop stores at ``now``: catalog first, then what is due, then new."""
        if self.catalog:
            return self._emit_catalog(now)
        self.slot += 1
        self.s = s
        slot = self.slot
        if slot % _MALFORMED_EVERY == self.mal_off:
            fact = self._malformed(now)
            if fact is not None:
                return fact
        if slot % _OTHER_EVERY == self.other_off:
            return self._other(now)
        heap = self.heap
        while heap and heap[0][0] <= now:
            due, _, fn, arg = heapq.heappop(heap)
            fact = fn(arg, due, now)
            if fact is not None:
                return fact
        return self._primary(now)


def _rand_delay(lo: int, hi: int) -> Callable[[random.Random], int]:
    return lambda rng: rng.randint(lo, hi)


_STEP_DELAY: dict[str, Callable[[random.Random], int]] = {
    "capture": _rand_delay(600, 43_200),
    "fulfill_partial": _rand_delay(3_600, 86_400),
    "fulfill": _rand_delay(21_600, 259_200),
    "paid": _rand_delay(7 * 86_400, 30 * 86_400),
    "close": _rand_delay(2 * 86_400, 10 * 86_400),
    "note": _rand_delay(600, 86_400),
}


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
    if not 1 <= shops <= _MAX_SHOPS:
        raise ValueError(f"shops must be between 1 and {_MAX_SHOPS}, got {shops}")
    end = _resolve_anchor(anchor)
    return _generate(n_facts, shops, seed, end)


def _generate(
    n_facts: int, shops: int, seed: int, end: dt.datetime
) -> Iterator[tuple[str, str, str, dt.datetime]]:
    rng = random.Random(seed)
    start = _months_before(end, 24)
    start_us = (start - _UTC_EPOCH) // dt.timedelta(microseconds=1)
    end_us = (end - _UTC_EPOCH) // dt.timedelta(microseconds=1)
    weights = [1.0] + [0.5] * (shops - 1)
    w_total = sum(weights)
    shop_cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        shop_cum.append(acc)
    product_types = _load_product_types()
    state = [
        _Shop(
            k,
            rng,
            n_facts * weights[k] / w_total,
            start_us // 1_000_000,
            end_us // 1_000_000,
            product_types,
        )
        for k in range(shops)
    ]
    td = dt.timedelta
    # The opening sync: every shop's catalog, interleaved, a couple of seconds apart, so that
    # orders can start on the first day.
    n_sync = min(n_facts, sum(len(shop.catalog) for shop in state))
    turn = 0
    for i in range(n_sync):
        while not state[turn % shops].catalog:
            turn += 1
        shop = state[turn % shops]
        turn += 1
        t_us = start_us + i * _SYNC_STEP_US
        topic, text = shop.next_fact(t_us // 1_000_000, 0.0)
        yield shop.domain, topic, text, _UTC_EPOCH + td(microseconds=t_us)

    # Then slot times follow an exponential growth curve (inverse CDF), strictly by index, so
    # created_at never decreases and stays inside [start, end].
    rest = n_facts - n_sync
    base_us = start_us + n_sync * _SYNC_STEP_US
    rest_span_us = end_us - base_us
    g = _GROWTH
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
        yield shop.domain, topic, text, _UTC_EPOCH + td(microseconds=t_us)
