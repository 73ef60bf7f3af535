"""The shop's catalog: products and their variants, what buyers want of them, and their payloads.

Product types, vendors and fitments come from ``data/``. Most products take a type of the
category seed (``seeds/category_tree.csv``); a few take a type the seed deliberately lacks, so
that the marts' "unmapped -> Other" path has something to do.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

from hotdash_demo.clock import bump
from hotdash_demo.customers import ORDER_SEGMENT_CUM
from hotdash_demo.ids import ID_ITEM, ID_PRODUCT, ID_VARIANT
from hotdash_demo.inventory import CLASS_WEIGHT, DEAD, MEDIUM, restock_until, stock_class
from hotdash_demo.render import dumps, money
from hotdash_demo.tables import read_column, read_table, split_list, yes
from hotdash_demo.topics import Fact

if TYPE_CHECKING:
    from hotdash_demo.shop import Shop

# How much retail buyers want a type, besides its price: big-ticket types sell to them rarely,
# small parts often.
_RETAIL_DEMAND = {"low": 0.3, "normal": 0.6, "high": 1.5}


class TypeSpec(NamedTuple):
    """What the products of one product type look like (a row of ``data/product_types.csv``)."""

    in_category_seed: bool
    price_low: int  # dollars
    price_high: int
    nouns: tuple[str, ...]
    option_name: str
    option_values: tuple[str, ...]
    retail_demand: float
    sold_in_sets: bool  # bought two or four at a time (wheels, tires)


def _load_types() -> dict[str, TypeSpec]:
    types: dict[str, TypeSpec] = {}
    for row in read_table("product_types"):
        types[row["product_type"]] = TypeSpec(
            in_category_seed=yes(row["in_category_seed"]),
            price_low=int(row["price_low"]),
            price_high=int(row["price_high"]),
            nouns=split_list(row["nouns"]),
            option_name=row["option_name"],
            option_values=split_list(row["option_values"]),
            retail_demand=_RETAIL_DEMAND[row["retail_demand"]],
            sold_in_sets=yes(row["sold_in_sets"]),
        )
    return types


TYPES = _load_types()
"""Product type -> its spec, in file order (the order matters: it is shuffled by the seed)."""
MAPPED_TYPES = tuple(t for t, spec in TYPES.items() if spec.in_category_seed)
UNMAPPED_TYPES = tuple(t for t, spec in TYPES.items() if not spec.in_category_seed)
GIFT_CARDS = "Gift Cards"  # one variant per denomination, untracked, priced by its title
VENDORS = read_column("vendors")
FITMENTS = read_column("fitments")

# Popularity falls with price, much faster for retail buyers than for professional shops, so that
# most orders are small parts while shops buy the engines and transmissions.
_PRO_PRICE_EXP = -1.2
_RETAIL_PRICE_EXP = -1.6


class Product:
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
        self.variants: list[Variant] = []
        self.updated_sec = 0


class Variant:
    """A variant, its inventory item and its stock (the last kept by ``inventory``)."""

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


class Catalog:
    """The products of one shop, built when the shop opens, and the opening sync of them."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = shop.rng
        self._ts = shop.clock.ts
        self._nid = shop.nid
        self.products: list[Product] = []
        self.variants: list[Variant] = []
        self.tracked: list[Variant] = []
        # What the app syncs before any order: each product, its items and their stock levels.
        self.sync: deque[tuple[str, Any, int]] = deque()
        self._build()

    def _build(self) -> None:
        shop = self.shop
        rng = self.rng
        cap = 300 if shop.k == 0 else 180
        n_products = min(cap, max(3, int(shop.n_expected // 200)))
        n_unmapped = max(1, min(n_products // 10, max(3, round(n_products * 0.04))))
        unmapped_at = set(rng.sample(range(n_products), n_unmapped))
        mapped = list(MAPPED_TYPES)
        rng.shuffle(mapped)
        sku_prefix = "HR" if shop.k == 0 else f"H{shop.k + 1}"
        n_mapped = n_unmapped_seen = 0
        for i in range(n_products):
            p = Product()
            p.id = self._nid(ID_PRODUCT)
            if i in unmapped_at:
                ptype = UNMAPPED_TYPES[n_unmapped_seen % len(UNMAPPED_TYPES)]
                n_unmapped_seen += 1
            else:
                ptype = mapped[n_mapped % len(mapped)]
                n_mapped += 1
            spec = TYPES[ptype]
            lo, hi, opt_values = spec.price_low, spec.price_high, spec.option_values
            p.ptype = ptype
            p.vendor = rng.choice(VENDORS) if spec.in_category_seed else "Hotrodan"
            noun = rng.choice(spec.nouns)
            if spec.in_category_seed:
                p.title = f"{noun} - {rng.choice(FITMENTS)}"
            else:
                p.title = f"Hotrodan {noun}"
            p.handle = (
                "-".join(
                    "".join(ch for ch in w if ch.isalnum()) for w in p.title.lower().split()
                ).replace("--", "-")
                + f"-{i + 1}"
            )
            p.tags = ", ".join(t for t in (ptype, p.vendor) if t)
            created_sec = shop.start_sec - rng.randint(20, 1500) * 86400 - rng.randint(0, 86399)
            p.created = self._ts(created_sec)
            p.updated_sec = created_sec
            p.option_name = spec.option_name
            if ptype == GIFT_CARDS:
                n_var = len(opt_values)
            elif len(opt_values) == 1:
                n_var = 1
            else:
                r = rng.random()
                n_var = 1 if r < 0.35 else 2 if r < 0.65 else 3 if r < 0.85 else 4
                n_var = min(n_var, len(opt_values))
            base_dollars = lo + int((hi - lo) * rng.random() ** 1.6)
            values = rng.sample(opt_values, n_var) if ptype != GIFT_CARDS else list(opt_values)
            code = "".join(w[0] for w in (ptype or "Misc").split())[:3].upper()
            for j in range(n_var):
                v = Variant()
                v.product = p
                v.id = self._nid(ID_VARIANT)
                v.item_id = self._nid(ID_ITEM)
                v.position = j + 1
                v.sku = f"{sku_prefix}-{code}-{i + 1:04d}-{j + 1}"
                v.title = "Default Title" if n_var == 1 else values[j]
                if ptype == GIFT_CARDS:
                    v.price_c = int(values[j][1:]) * 100
                else:
                    dollars = max(lo, int(base_dollars * (1 + 0.07 * j)))
                    ending = rng.choice((99, 99, 95, 0))
                    v.price_c = dollars * 100 + ending if ending else dollars * 100
                v.price_s = money(v.price_c)
                v.cost_c = int(v.price_c * (0.42 + 0.3 * rng.random()))
                r = rng.random()
                v.cost_mode = 1 if r < 0.03 else 2 if r < 0.05 else 0  # 1: no key, 2: null
                v.tracked = ptype != GIFT_CARDS
                v.grams = (
                    0 if ptype == GIFT_CARDS else int(min(hi, 3000) * (20 + 40 * rng.random()))
                )
                v.created = p.created
                v.qty_kind = 1 if spec.sold_in_sets else 2 if v.price_c < 15000 else 0
                v.cls = stock_class(rng.random())
                if not spec.in_category_seed and v.cls == DEAD:
                    v.cls = MEDIUM
                cls_w = CLASS_WEIGHT[v.cls]
                v.w_pro = cls_w * (v.price_c / 10000.0) ** _PRO_PRICE_EXP
                v.w_retail = spec.retail_demand * cls_w * (v.price_c / 10000.0) ** _RETAIL_PRICE_EXP
                v.restock_until = restock_until(v.cls)
                p.variants.append(v)
                self.variants.append(v)
                if v.tracked:
                    self.tracked.append(v)
            self.products.append(p)
            self.sync.append(("p", p, 0))
            for v in p.variants:
                self.sync.append(("i", v, 0))
                if v.tracked:
                    self.sync.append(("l", v, 0))
                    self.sync.append(("l", v, 1))

        self.sellable = [v for v in self.variants if v.w_pro > 0]
        if not self.sellable:  # tiny catalogs: make sure something can be sold
            v = self.variants[0]
            v.cls = MEDIUM
            v.w_pro = v.w_retail = 1.0
            self.sellable = [v]
        self.cum_pro = list(itertools.accumulate(v.w_pro for v in self.sellable))
        self.cum_retail = list(itertools.accumulate(v.w_retail for v in self.sellable))
        # Expected units per order of each variant, from the order mix in orders.Orders.build.
        pro_share = ORDER_SEGMENT_CUM[0] * 1.95 / self.cum_pro[-1]
        retail_share = (1 - ORDER_SEGMENT_CUM[0]) * 1.35 / self.cum_retail[-1]
        for v in self.variants:
            v.rate_share = 0.0
        for v in self.sellable:
            q_pro, q_retail = (3.2, 3.2) if v.qty_kind == 1 else (1.7 if v.qty_kind else 1.15, 1.07)
            v.rate_share = v.w_pro * pro_share * q_pro + v.w_retail * retail_share * q_retail

    def emit_sync(self, now: int) -> Fact:
        """The next fact of the opening sync."""
        kind, obj, loc = self.sync.popleft()
        lag = self.rng.randint(1, 20)
        if kind == "p":
            return "shopify.products", dumps(self.product_dict(obj, now - lag, now))
        if kind == "i":
            return "shopify.inventory_items", dumps(self.item_dict(obj, now - lag, now))
        level = self.shop.inventory.level_dict(obj, loc, now - lag, now)
        return "shopify.inventory_levels", dumps(level)

    # --- payloads ------------------------------------------------------------------------

    def product_dict(self, p: Product, want: int, now: int) -> dict[str, Any]:
        p.updated_sec = bump(p.updated_sec, want, now)
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

    def item_dict(self, v: Variant, want: int, now: int) -> dict[str, Any]:
        v.item_sec = bump(v.item_sec, want, now)
        d: dict[str, Any] = {
            "id": v.item_id,
            "sku": v.sku,
            "created_at": v.created,
            "updated_at": self._ts(v.item_sec),
            "requires_shipping": v.tracked,
        }
        if v.cost_mode == 0:
            d["cost"] = money(v.cost_c)
        elif v.cost_mode == 2:
            d["cost"] = None
        d["country_code_of_origin"] = "US"
        d["province_code_of_origin"] = None
        d["harmonized_system_code"] = None
        d["tracked"] = v.tracked
        return d

    # --- events --------------------------------------------------------------------------

    def product_update(self, now: int, lag: int) -> Fact:
        """A product saved again; now and then one of its variants gets a new price."""
        rng = self.rng
        p = rng.choice(self.products)
        if rng.random() < 0.06 and p.ptype != GIFT_CARDS:
            v = rng.choice(p.variants)
            factor = 0.9 + 0.22 * rng.random()
            v.price_c = max(500, int(v.price_c * factor / 100) * 100 + 99)
            v.price_s = money(v.price_c)
        return "shopify.products", dumps(self.product_dict(p, now - lag, now))

    def item_update(self, now: int, lag: int) -> Fact:
        """An inventory item saved again; now and then its known cost moves a little."""
        rng = self.rng
        v = rng.choice(self.variants)
        if v.cost_mode == 0 and rng.random() < 0.1:
            v.cost_c = int(v.cost_c * (0.95 + 0.1 * rng.random()))
        return "shopify.inventory_items", dumps(self.item_dict(v, now - lag, now))
