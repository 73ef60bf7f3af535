"""Customers: who buys (three segments), their accounts, and the payloads that describe them.

Names, streets and cities (with their sales tax) come from ``data/``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hotdash_demo.clock import bump
from hotdash_demo.ids import ID_ADDRESS, ID_CUSTOMER
from hotdash_demo.render import dumps, money
from hotdash_demo.tables import read_column, read_table
from hotdash_demo.topics import Fact

if TYPE_CHECKING:
    from hotdash_demo.shop import Shop

# Segments: 0 professional shop, 1 enthusiast / collector, 2 first-time builder.
ORDER_SEGMENT_CUM = (0.22, 0.50)  # share of orders placed by segments 0 and 0+1
NEW_CUSTOMER_P = (0.12, 0.30, 0.60)  # chance an order of the segment is a first order
_SIGNUP_SEGMENT_CUM = (0.40, 0.65)  # accounts opened before any order (wholesale sign-ups)
_LIFETIME_DAYS = (540.0, 420.0, 240.0)


def _tax_rate(percent: str) -> int:
    """A sales tax percentage as a rate in units of 1e-5 (7.25 -> 7250)."""
    rate = Decimal(percent) * 1000
    if rate != rate.to_integral_value():
        raise ValueError(f"sales tax percent {percent} has more than three decimals")
    return int(rate)


FIRST_NAMES = read_column("first_names")
LAST_NAMES = read_column("last_names")
STREETS = read_column("streets")
CITIES: tuple[tuple[str, str, str, str, int], ...] = tuple(
    (
        row["city"],
        row["province"],
        row["province_code"],
        row["zip_prefix"],
        _tax_rate(row["sales_tax_percent"]),
    )
    for row in read_table("cities")
)
"""(city, province, province_code, zip prefix, sales tax rate in units of 1e-5)"""

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


class Customer:
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


class Customers:
    """A shop's customer accounts and, per segment, those who may still come back."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = shop.rng
        self._ts = shop.clock.ts
        self._nid = shop.nid
        self.email_tag = "" if shop.k == 0 else str(shop.k + 1)
        self.accounts: list[Customer] = []
        self.active: tuple[list[Customer], list[Customer], list[Customer]] = ([], [], [])

    def new(self, seg: int, created_sec: int) -> Customer:
        """A new account of segment ``seg``, opened at ``created_sec``."""
        rng = self.rng
        c = Customer()
        c.id = self._nid(ID_CUSTOMER)
        c.addr_id = self._nid(ID_ADDRESS)
        c.seg = seg
        c.first = rng.choice(FIRST_NAMES)
        c.last = rng.choice(LAST_NAMES)
        c.city = rng.randrange(len(CITIES))
        city, _, _, zip3, _ = CITIES[c.city]
        c.zip = f"{zip3}{rng.randrange(100):02d}"
        c.address1 = f"{rng.randint(10, 9899)} {rng.choice(STREETS)}"
        c.phone = f"+1{rng.randint(201, 989)}555{rng.randrange(10000):04d}"
        n = len(self.accounts) + 1
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
        self.accounts.append(c)
        active = self.active[seg]
        # Bigger professional shops come back more often: they sit in the pool more than once.
        for _ in range(min(12, int(rng.paretovariate(1.3))) if seg == 0 else 1):
            active.append(c)
        return c

    def pick_returning(self, seg: int, now: int) -> Customer | None:
        """A customer of ``seg`` who has not churned by ``now``, or None; churned ones leave."""
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

    # --- payloads ------------------------------------------------------------------------

    @staticmethod
    def address(c: Customer, full: bool) -> dict[str, Any]:
        """The default address: in full, or the short form an order's customer carries."""
        city, province, code, _, _ = CITIES[c.city]
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

    @staticmethod
    def _consent(c: Customer) -> dict[str, Any]:
        return {"state": c.consent, "opt_in_level": c.opt_in, "consent_updated_at": c.consent_at}

    def customer_dict(self, c: Customer, want: int, now: int) -> dict[str, Any]:
        c.updated_sec = bump(c.updated_sec, want, now)
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
            "total_spent": money(max(0, c.spent_c)),
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
            "default_address": self.address(c, True),
        }

    def customer_text(self, c: Customer, want: int, now: int) -> Fact:
        text = dumps(self.customer_dict(c, want, now))
        self.shop.mess.last_text["shopify.customers"] = text
        return "shopify.customers", text

    # --- events --------------------------------------------------------------------------

    def fu_customer(self, c: Customer, due: int, now: int) -> Fact | None:
        """A scheduled save of the account (after an order)."""
        return self.customer_text(c, due, now)

    def sign_up(self, now: int, lag: int) -> Fact:
        """An account opened before any order."""
        x = self.rng.random()
        seg = 0 if x < _SIGNUP_SEGMENT_CUM[0] else 1 if x < _SIGNUP_SEGMENT_CUM[1] else 2
        c = self.new(seg, now - lag)
        return self.customer_text(c, now - lag, now)

    def update(self, now: int, lag: int) -> Fact:
        """An account edited: marketing consent, a vip tag or a new phone number."""
        rng = self.rng
        c = rng.choice(self.accounts)
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
        return self.customer_text(c, now - lag, now)
