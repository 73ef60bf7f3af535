"""The daily briefing: one page per shop for the operator's morning (README "Morning briefing").

`briefings(conn, shop=None)` reads the marts (under a shop, in its row-level-security context,
as the exports do) and returns one `Briefing` per shop: a subject line, a plain-text body and a
Markdown body for email and chat, and a self-contained HTML page. `hotdash report` writes them
to files (`write_briefings`); `hotdash notify` sends them.

What a briefing holds, every figure read from the marts as they are:
  headlines        the seed's sentences: the capital tied up in the shop's slow movers and what
                   the recommended actions could recover (shop-wide over all of its slow movers:
                   runner/exports.py INVENTORY_TOTALS_SQL), its top products to discount or
                   discontinue, the year's net revenue against the goal, the open alerts
  net revenue      growth_metrics: the last MONTHS_SHOWN months, the current month and its
                   projection, year to date against the goal, the pace needed (runner/alerts.py
                   GOAL_PACE_SQL: remaining_to_goal / the days of the year after the as-of date,
                   the goal_pace alert's definition) against the run rate, and the mart's own
                   projected_goal_date; two charts (net revenue by month; year to date against
                   the goal, with the projection to the goal date when it falls in the year)
  capital          inventory_alerts summed by recommended action (unknown cost counts for
                   nothing), with a chart
  top products     inventory_alerts.in_daily_email: the shop's first var daily_email_top_n slow
                   movers, the same list as `hotdash export inventory-alerts --top`
  campaigns        marketing_targets: the customers on each campaign's list
  open alerts      marts.alerts (runner/alerts.py list_alerts)
  pipeline health  ops.pipeline_health: the latest builds. They are every shop's builds, not a
                   shop's rows, so this view is read as the connected user, outside the shop's
                   context (the operator role may not read schema ops); a login that may not
                   read it gets "not available" there, not an error.

All of the marts' reads run in one transaction (runner/exports.py shop_context). Charts are
Vega-Altair specs rendered to SVG by vl-convert (no browser, no network) and inlined in the
page; `Chart.png()` renders one to PNG for a mail client that shows no SVG.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from runner import inputs, settings
from runner.alerts import GOAL_PACE_SQL, Alert, list_alerts
from runner.errors import ConfigError
from runner.exports import (
    INVENTORY_SQL,
    INVENTORY_TOTALS_SQL,
    SHOP_FILTER,
    mart_sql,
    shop_context,
    write_atomic,
)
from runner.settings import SecurityModel

# The marts a briefing reads (marts.alerts too, when it exists: list_alerts).
MARTS = ("growth_metrics", "inventory_alerts", "marketing_targets")
# The months of net revenue shown (table and chart), up to the as-of date's month.
MONTHS_SHOWN = 12
# The builds of ops.pipeline_health listed.
BUILDS_SHOWN = 5
# The files each shop's folder gets.
FILES = ("briefing.html", "briefing.txt", "briefing.md")

ACTIONS = {  # recommended_action: how the briefing names it, in this order
    "discontinue": "Discontinue",
    "discount_50_pct": "Discount 50%",
    "discount_25_pct": "Discount 25%",
    "reorder": "Reorder",
    "monitor": "Monitor",
}
CAMPAIGNS = ("high_priority_winback", "reengagement_campaign", "new_customer_nurture")

# Every shop with a row in a mart, and the date the marts are computed for.
SHOPS_SQL = (
    """
select shop_domain, max(as_of_date) as as_of_date
from (
    select shop_domain, as_of_date from {growth_metrics}
    union all
    select shop_domain, as_of_date from {inventory_alerts}
    union all
    select shop_domain, as_of_date from {marketing_targets}
) as marts
"""
    + SHOP_FILTER
    + "group by shop_domain\norder by shop_domain\n"
)

GROWTH_SQL = (
    """
select
    shop_domain,
    month,
    is_current_month,
    net_revenue,
    orders,
    cumulative_net_revenue,
    revenue_goal,
    remaining_to_goal,
    pct_of_goal,
    projected_net_revenue,
    run_rate_net_revenue_per_day,
    projected_goal_date
from {growth_metrics}
"""
    + SHOP_FILTER
    + "order by shop_domain, month\n"
)

# The pace needed, as the goal_pace alert computes it.
PACE_SQL = (
    "select shop_domain, needed, year_end, days_left\nfrom ("
    + GOAL_PACE_SQL
    + ") as paced\n"
    + SHOP_FILTER
    + "order by shop_domain\n"
)

# Capital tied up and cash recovery by recommended action; unknown cost counts for nothing.
CAPITAL_SQL = (
    """
select
    shop_domain,
    recommended_action,
    count(*) as variants,
    count(*) filter (where capital_tied_up is null) as unknown_cost,
    coalesce(sum(capital_tied_up), 0) as capital_tied_up,
    coalesce(sum(potential_cash_recovery), 0) as potential_cash_recovery
from {inventory_alerts}
"""
    + SHOP_FILTER
    + "group by shop_domain, recommended_action\norder by shop_domain, recommended_action\n"
)

CAMPAIGNS_SQL = (
    """
select shop_domain, campaign, count(*) as customers
from {marketing_targets}
"""
    + SHOP_FILTER
    + "group by shop_domain, campaign\norder by shop_domain, campaign\n"
)

# (name, query, the mart {mart} stands for): read in this order, in one transaction.
QUERIES: tuple[tuple[str, str, str | None], ...] = (
    ("shops", SHOPS_SQL, None),
    ("growth", GROWTH_SQL, None),
    ("pace", PACE_SQL, None),
    ("capital", CAPITAL_SQL, None),
    ("totals", INVENTORY_TOTALS_SQL, "inventory_alerts"),
    ("top", INVENTORY_SQL, "inventory_alerts"),  # with top: in_daily_email, by capital_rank
    ("campaigns", CAMPAIGNS_SQL, None),
)

PIPELINE_SQL = """
select
    run_id, started_at, status, duration_seconds, failed_step, command, nodes_total,
    nodes_failed, contracts_failed
from ops.pipeline_health
order by started_at desc
"""


@dataclass(frozen=True)
class Chart:
    """One chart: its Vega-Lite spec (JSON) and the SVG vl-convert rendered from it."""

    name: str
    title: str
    spec: str
    svg: str

    def png(self, scale: float = 2.0) -> bytes:
        """The chart as PNG (an email attachment for clients that show no inline SVG)."""
        import vl_convert

        return vl_convert.vegalite_to_png(self.spec, scale=scale)


@dataclass(frozen=True)
class Briefing:
    """One shop's briefing, as of the marts' as-of date."""

    shop_domain: str
    as_of_date: dt.date
    subject: str  # one line: an email's subject, a chat message's title
    text: str  # plain-text body
    markdown: str  # Markdown body
    html: str  # a self-contained page: inline CSS, charts as inline SVG, no network
    charts: tuple[Chart, ...] = ()  # the page's charts, in page order
    # False: the shop has no row in any mart (a misspelt --shop, or a shop not built yet); its
    # as-of date is then the project's (var as_of_date, else today in var reporting_timezone).
    in_marts: bool = True


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Health:
    builds: list[dict[str, Any]]
    unavailable: str | None = None  # why ops.pipeline_health could not be read


def _read(
    conn: psycopg.Connection, shop: str | None, security: SecurityModel | None
) -> tuple[dict[str, list[dict[str, Any]]], list[Alert]]:
    with shop_context(conn, shop, security, MARTS, reader="runner/briefing.py") as model:
        params = {"shop_setting": model.shop_setting, "top": True}
        found: dict[str, list[dict[str, Any]]] = {}
        for name, query, table in QUERIES:
            cur = conn.execute(mart_sql(query, model, table), params)
            columns = [d.name for d in cur.description or ()]
            found[name] = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        alerts = list_alerts(conn, shop)
    return found, alerts


def _pipeline_health(conn: psycopg.Connection) -> _Health:
    """Every shop's builds, read as the connected user (see the module's docstring)."""
    try:
        with conn.transaction():
            cur = conn.execute(PIPELINE_SQL)
            columns = [d.name for d in cur.description or ()]
            return _Health([dict(zip(columns, row, strict=True)) for row in cur.fetchall()])
    except (psycopg.errors.UndefinedTable, psycopg.errors.InsufficientPrivilege) as exc:
        return _Health([], str(exc.diag.message_primary or type(exc).__name__))


def _project_as_of_date() -> dt.date:
    return dt.date.fromisoformat(inputs.as_of_date(settings.project_vars(settings.PROJECT_DIR)))


def briefings(
    conn: psycopg.Connection,
    shop: str | None = None,
    security: SecurityModel | None = None,
) -> list[Briefing]:
    """Every shop's briefing (only `shop`'s when given, read in its RLS context), by shop.

    The shops are those with a row in a mart or an open alert; `shop` gets its briefing even
    when it has none (every section then says none, and `in_marts` is False). The connection
    must have no transaction open. A missing mart raises ExportError (hint: `hotdash build`).
    """
    found, alerts = _read(conn, shop, security)
    health = _pipeline_health(conn)
    as_of = {row["shop_domain"]: row["as_of_date"] for row in found["shops"]}
    shops = set(as_of) | {a.shop_domain for a in alerts}
    if shop:
        shops = {shop}
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for name, rows in found.items():
        for row in rows:
            grouped[row["shop_domain"]][name].append(row)
    alerts_of: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        alerts_of[alert.shop_domain].append(alert)
    fallback: dt.date | None = None
    out = []
    for name in sorted(shops):
        date = as_of.get(name)
        if date is None:
            fallback = fallback or _project_as_of_date()
        out.append(
            _briefing(
                name,
                date or fallback,  # type: ignore[arg-type]
                grouped[name],
                alerts_of[name],
                health,
                in_marts=name in as_of,
            )
        )
    return out


# --- figures as text ----------------------------------------------------------------------------


def money(value: Decimal | float | int | None) -> str:
    """$1,234.56 (to the cent, thousands separated); -$4,200.00; n/a for unknown."""
    if value is None:
        return "n/a"
    amount = Decimal(str(value))
    text = f"${abs(amount):,.2f}"
    return "-" + text if amount < 0 and text != "$0.00" else text


def _number(value: object, places: int = 2) -> str:
    return "n/a" if value is None else f"{Decimal(str(value)):,.{places}f}"


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def _month(month: dt.date) -> str:
    return f"{month:%b %Y}"


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "n/a"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# --- the briefing as blocks, rendered three ways ------------------------------------------------


@dataclass(frozen=True)
class _Bullets:
    items: tuple[str, ...]
    strong: bool = False  # the headlines


@dataclass(frozen=True)
class _Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned columns


_Block = str | _Bullets | _Table | Chart


@dataclass(frozen=True)
class _Section:
    title: str
    blocks: tuple[_Block, ...]


def _briefing(
    shop: str,
    as_of: dt.date,
    rows: dict[str, list[dict[str, Any]]],
    alerts: list[Alert],
    health: _Health,
    in_marts: bool,
) -> Briefing:
    growth = rows["growth"]
    pace = rows["pace"][0] if rows["pace"] else None
    totals = rows["totals"][0] if rows["totals"] else None
    capital = Decimal(totals["capital_tied_up"]) if totals else Decimal(0)
    recovery = Decimal(totals["potential_cash_recovery"]) if totals else Decimal(0)
    slow_movers = int(totals["slow_movers"]) if totals else 0
    top = rows["top"]
    critical = sum(1 for a in alerts if a.severity == "critical")

    headlines = [
        f"You have {money(capital)} tied up in slow-moving inventory"
        f" ({_count(slow_movers, 'variant')} to discount or discontinue).",
        f"Recommended actions could recover {money(recovery)} cash this week.",
        f"Top {len(top)} products to discount/discontinue (listed below), first"
        f" {_product(top[0])}: {money(top[0]['capital_tied_up'])} tied up."
        if top
        else "Top products to discount/discontinue: none.",
    ]
    current = _current(growth)
    if current is not None:
        headlines.append(
            f"Net revenue this year: {money(current['cumulative_net_revenue'])},"
            f" {_number(current['pct_of_goal'])}% of the {money(current['revenue_goal'])} goal;"
            f" {_goal_date_phrase(current, pace)}."
        )
    else:
        headlines.append("Net revenue this year: none (no orders or refunds yet).")
    headlines.append(
        f"Open alerts: {len(alerts):,} ({critical:,} critical)." if alerts else "Open alerts: none."
    )

    sections = [
        _Section("Headlines", (_Bullets(tuple(headlines), strong=True),)),
        _revenue_section(growth, current, pace, as_of),
        _capital_section(rows["capital"]),
        _top_section(top),
        _campaign_section(rows["campaigns"]),
        _alerts_section(alerts),
        _health_section(health),
    ]
    title = f"{shop}: morning briefing"
    intro = f"As of {as_of.isoformat()}." + (
        "" if in_marts else " This shop has no rows in the marts (not built yet, or misspelt?)."
    )
    alerts_part = (
        f"{_count(len(alerts), 'open alert')}" + (f", {critical:,} critical" if critical else "")
        if alerts
        else "no open alerts"
    )
    subject = (
        f"{_one_line(shop)} briefing {as_of.isoformat()}: {money(capital)} tied up in slow"
        f" movers, {money(recovery)} recoverable; {alerts_part}"
    )
    charts = tuple(b for s in sections for b in s.blocks if isinstance(b, Chart))
    return Briefing(
        shop_domain=shop,
        as_of_date=as_of,
        subject=subject,
        text=_render_text(title, intro, sections),
        markdown=_render_markdown(title, intro, sections),
        html=_render_html(title, intro, sections),
        charts=charts,
        in_marts=in_marts,
    )


def _current(growth: list[dict[str, Any]]) -> dict[str, Any] | None:
    current = [row for row in growth if row["is_current_month"]]
    return current[-1] if current else (growth[-1] if growth else None)


def _product(item: dict[str, Any]) -> str:
    """A daily email row as 'title (SKU)'."""
    title = _one_line(item["product_title"] or "n/a")
    return f"{title} ({_one_line(item['sku'])})" if item["sku"] else title


def _goal_date_phrase(current: dict[str, Any], pace: dict[str, Any] | None) -> str:
    goal_date = current["projected_goal_date"]
    if current["remaining_to_goal"] <= 0:
        return f"the goal was reached on {goal_date.isoformat()}" if goal_date else "goal reached"
    if goal_date is None:
        return "projected goal date: none (the run rate is not positive)"
    late = pace is not None and goal_date > pace["year_end"]
    return f"projected goal date: {goal_date.isoformat()}" + (
        " (after the year end)" if late else ""
    )


def _revenue_section(
    growth: list[dict[str, Any]],
    current: dict[str, Any] | None,
    pace: dict[str, Any] | None,
    as_of: dt.date,
) -> _Section:
    title = "Net revenue"
    if current is None:
        return _Section(title, ("None: no orders or refunds yet.",))
    blocks: list[_Block] = []
    projected = current["projected_net_revenue"]
    blocks.append(
        f"This month ({current['month']:%B %Y}) so far: {money(current['net_revenue'])} net"
        f" revenue from {_count(current['orders'], 'order')}; "
        + (
            f"projected {money(projected)} for the month."
            if projected is not None
            else "no projection yet (no completed day in the run rate's window)."
        )
    )
    year_to_date = (
        f"Year to date: {money(current['cumulative_net_revenue'])},"
        f" {_number(current['pct_of_goal'])}% of the {money(current['revenue_goal'])} goal"
    )
    rate = current["run_rate_net_revenue_per_day"]
    if current["remaining_to_goal"] <= 0:
        blocks.append(year_to_date + f"; {_goal_date_phrase(current, pace)}.")
    else:
        blocks.append(year_to_date + f"; {money(current['remaining_to_goal'])} to go.")
        if pace is not None:
            needed = Decimal(pace["needed"])
            share = f" ({rate / needed * 100:,.1f}% of the pace needed)" if rate is not None else ""
            blocks.append(
                f"Pace needed: {money(needed)} a day to reach the goal by"
                f" {pace['year_end'].isoformat()} ({_count(pace['days_left'], 'day')} left);"
                f" run rate: {money(rate) + ' a day' if rate is not None else 'n/a'}{share}."
            )
        phrase = _goal_date_phrase(current, pace)
        blocks.append(phrase[0].upper() + phrase[1:] + ".")
    shown = growth[-MONTHS_SHOWN:]
    blocks.append(_revenue_chart(shown))
    goal_chart = _goal_chart(growth, current, pace, as_of)
    if goal_chart is not None:
        blocks.append(goal_chart)
    blocks.append(
        _Table(
            ("Month", "Net revenue", "Orders", "Year to date", "% of goal"),
            tuple(
                (
                    _month(row["month"]),
                    money(row["net_revenue"]),
                    f"{row['orders']:,}",
                    money(row["cumulative_net_revenue"]),
                    f"{_number(row['pct_of_goal'])}%",
                )
                for row in shown
            ),
            (False, True, True, True, True),
        )
    )
    return _Section(title, tuple(blocks))


def _capital_section(rows: list[dict[str, Any]]) -> _Section:
    title = "Capital tied up by recommended action"
    if not rows:
        return _Section(title, ("None: no variants in the catalog.",))
    order = list(ACTIONS)
    rows = sorted(
        rows,
        key=lambda r: (
            (order.index(r["recommended_action"]), "")
            if r["recommended_action"] in ACTIONS
            else (len(order), str(r["recommended_action"]))
        ),
    )
    blocks: list[_Block] = [
        _Table(
            ("Action", "Variants", "Capital tied up", "Cash recovery"),
            tuple(
                (
                    ACTIONS.get(r["recommended_action"], str(r["recommended_action"])),
                    f"{r['variants']:,}",
                    money(r["capital_tied_up"]),
                    money(r["potential_cash_recovery"]),
                )
                for r in rows
            ),
            (False, True, True, True),
        )
    ]
    unknown = sum(int(r["unknown_cost"]) for r in rows)
    if unknown:
        blocks.append(f"{_count(unknown, 'variant')} of unknown cost count for nothing.")
    blocks.insert(0, _capital_chart(rows))
    return _Section(title, tuple(blocks))


def _top_section(top: list[dict[str, Any]]) -> _Section:
    if not top:
        return _Section(
            "Top products to discount/discontinue",
            ("None: no variant to discount or discontinue ties up capital.",),
        )
    return _Section(
        f"Top {len(top)} products to discount/discontinue",
        (
            _Table(
                (
                    "Rank",
                    "Product",
                    "SKU",
                    "On hand",
                    "Capital tied up",
                    "Months of cover",
                    "Action",
                    "Cash recovery",
                ),
                tuple(
                    (
                        str(n),
                        _one_line(item["product_title"] or "n/a"),
                        _one_line(item["sku"] or "n/a"),
                        _number(item["units_on_hand"], 0),
                        money(item["capital_tied_up"]),
                        _number(item["months_of_cover"], 1),
                        ACTIONS.get(item["recommended_action"], str(item["recommended_action"])),
                        money(item["potential_cash_recovery"]),
                    )
                    for n, item in enumerate(top, start=1)
                ),
                (True, False, False, True, True, True, False, True),
            ),
        ),
    )


def _campaign_section(rows: list[dict[str, Any]]) -> _Section:
    title = "Campaigns"
    if not rows:
        return _Section(title, ("None: no customer qualifies for a campaign.",))
    sizes = {row["campaign"]: int(row["customers"]) for row in rows}
    names = [c for c in CAMPAIGNS if c in sizes] + sorted(set(sizes) - set(CAMPAIGNS))
    return _Section(
        title,
        (
            _Table(
                ("Campaign", "Customers"),
                tuple((_one_line(name), f"{sizes[name]:,}") for name in names),
                (False, True),
            ),
            "The lists: hotdash export marketing-targets.",
        ),
    )


def _alerts_section(alerts: list[Alert]) -> _Section:
    title = "Open alerts"
    if not alerts:
        return _Section(title, ("None.",))
    return _Section(
        title,
        (
            _Bullets(
                tuple(
                    f"{a.severity}, {a.rule}{' ' + a.subject if a.subject else ''}"
                    f" (open since {_when(a.opened_at)}): {_one_line(a.message)}"
                    for a in alerts
                )
            ),
        ),
    )


def _health_section(health: _Health) -> _Section:
    title = "Pipeline health"
    if health.unavailable:
        return _Section(title, (f"Not available: {_one_line(health.unavailable)}.",))
    if not health.builds:
        return _Section(title, ("None: no build recorded.",))
    latest = health.builds[0]
    duration = latest["duration_seconds"]
    sentence = (
        f"Latest build: {latest['status']}, started {_when(latest['started_at'])}"
        + (f", {_number(duration, 1)} s" if duration is not None else "")
        + (f", failed in step {_one_line(latest['failed_step'])}" if latest["failed_step"] else "")
        + f"; {_count(latest['nodes_total'], 'dbt node')}, {latest['nodes_failed']:,} failed;"
        f" {_count(latest['contracts_failed'], 'failed contract')}."
    )
    statuses = Counter(build["status"] for build in health.builds)
    recent = (
        f"Recent builds (ops.pipeline_health): {len(health.builds):,}, "
        + ", ".join(f"{count:,} {status}" for status, count in sorted(statuses.items()))
        + "."
    )
    table = _Table(
        ("Started", "Status", "Seconds", "Nodes failed", "Contracts failed", "Command"),
        tuple(
            (
                _when(b["started_at"]),
                str(b["status"]),
                _number(b["duration_seconds"], 1),
                f"{b['nodes_failed']:,}",
                f"{b['contracts_failed']:,}",
                _one_line(b["command"] or ""),
            )
            for b in health.builds[:BUILDS_SHOWN]
        ),
        (False, False, True, True, True, False),
    )
    return _Section(title, (sentence, recent, table))


# --- charts -------------------------------------------------------------------------------------


def _render(name: str, title: str, chart: Any) -> Chart:
    import vl_convert

    spec = chart.to_dict()
    return Chart(name, title, json.dumps(spec), vl_convert.vegalite_to_svg(spec))


def _revenue_chart(rows: list[dict[str, Any]]) -> Chart:
    import altair as alt

    title = "Net revenue by month"
    months = [_month(row["month"]) for row in rows]
    values = [{"month": _month(row["month"]), "net": float(row["net_revenue"])} for row in rows]
    chart = (
        alt.Chart(alt.Data(values=values), title=title)
        .mark_bar()
        .encode(
            x=alt.X("month:O", sort=months, title=None, axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("net:Q", title="Net revenue", axis=alt.Axis(format="$,.0f")),
            color=alt.condition(alt.datum.net < 0, alt.value("#c0392b"), alt.value("#2c6fbb")),
        )
        .properties(width=560, height=220)
        .configure_view(stroke=None)
    )
    return _render("net_revenue_by_month", title, chart)


def _goal_chart(
    growth: list[dict[str, Any]],
    current: dict[str, Any],
    pace: dict[str, Any] | None,
    as_of: dt.date,
) -> Chart | None:
    """The year to date by month against the goal, and the projection from the current month to
    the mart's projected goal date when the goal is not reached and the date falls in the year."""
    import altair as alt

    year = current["month"].year
    rows = [row for row in growth if row["month"].year == year]
    if not rows:
        return None
    goal = current["revenue_goal"]
    title = f"Net revenue {year} to date against the {money(goal)} goal"
    months = [_month(dt.date(year, m, 1)) for m in range(1, 13)]
    x = alt.X("month:O", sort=months, scale=alt.Scale(domain=months), title=None)
    x = x.axis(labelAngle=-40)
    line = (
        alt.Chart(
            alt.Data(
                values=[
                    {"month": _month(row["month"]), "value": float(row["cumulative_net_revenue"])}
                    for row in rows
                ]
            )
        )
        .mark_line(point=True, color="#2c6fbb")
        .encode(x=x, y=alt.Y("value:Q", title="Year to date", axis=alt.Axis(format="$,.0f")))
    )
    goal_data = alt.Data(values=[{"goal": float(goal), "label": f"Goal {money(goal)}"}])
    rule = alt.Chart(goal_data).mark_rule(color="#888", strokeDash=[4, 4]).encode(y="goal:Q")
    goal_text = (
        alt.Chart(goal_data)
        .mark_text(align="left", dx=4, dy=-6, color="#555")
        .encode(y="goal:Q", text="label:N", x=alt.value(0))
    )
    layers = [rule, goal_text, line]
    goal_date = current["projected_goal_date"]
    if (
        current["remaining_to_goal"] > 0
        and goal_date is not None
        and goal_date.year == year
        and goal_date >= as_of
    ):
        projection = alt.Data(
            values=[
                {
                    "month": _month(current["month"]),
                    "value": float(current["cumulative_net_revenue"]),
                    "label": "",
                },
                {
                    "month": _month(goal_date.replace(day=1)),
                    "value": float(goal),
                    "label": f"Projected {goal_date.isoformat()}",
                },
            ]
        )
        base = alt.Chart(projection).encode(x=x, y="value:Q")
        layers += [
            base.mark_line(strokeDash=[6, 4], color="#e67e22", point=True),
            base.mark_text(align="right", dx=-6, dy=-8, color="#e67e22").encode(text="label:N"),
        ]
    chart = (
        alt.layer(*layers, title=title)
        .properties(width=560, height=220)
        .configure_view(stroke=None)
    )
    return _render("year_to_date_against_goal", title, chart)


def _capital_chart(rows: list[dict[str, Any]]) -> Chart:
    import altair as alt

    title = "Capital tied up by recommended action"
    names = [ACTIONS.get(r["recommended_action"], str(r["recommended_action"])) for r in rows]
    values = [
        {
            "action": name,
            "capital": float(r["capital_tied_up"]),
            "label": money(r["capital_tied_up"]),
        }
        for name, r in zip(names, rows, strict=True)
    ]
    base = alt.Chart(alt.Data(values=values), title=title).encode(
        y=alt.Y("action:N", sort=names, title=None),
        x=alt.X("capital:Q", title="Capital tied up", axis=alt.Axis(format="$,.0f")),
    )
    chart = (
        alt.layer(
            base.mark_bar(color="#2c6fbb"),
            base.mark_text(align="left", dx=4).encode(text="label:N"),
        )
        .properties(width=420, height=32 * len(rows))
        .configure_view(stroke=None)
    )
    return _render("capital_by_action", title, chart)


# --- rendering ----------------------------------------------------------------------------------


def _text_table(table: _Table) -> list[str]:
    widths = [
        max([len(table.header[i])] + [len(row[i]) for row in table.rows])
        for i in range(len(table.header))
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if right else cell.ljust(w)
            for cell, w, right in zip(cells, widths, table.numeric, strict=True)
        ).rstrip()

    return [line(table.header), line(["-" * w for w in widths])] + [line(r) for r in table.rows]


def _render_text(title: str, intro: str, sections: Iterable[_Section]) -> str:
    lines = [title, "=" * len(title), "", intro]
    for section in sections:
        lines += ["", section.title, "-" * len(section.title)]
        for block in section.blocks:
            if isinstance(block, Chart):
                continue  # the tables beside it hold its figures
            if isinstance(block, _Bullets):
                lines += [f"- {item}" for item in block.items]
            elif isinstance(block, _Table):
                lines += ["", *_text_table(block), ""]
            else:
                lines.append(block)
    text = "\n".join(lines).strip("\n") + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#&~])")


def markdown_escape(text: str) -> str:
    """`text` on one line, with Markdown's active characters backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(text))


def _render_markdown(title: str, intro: str, sections: Iterable[_Section]) -> str:
    md = markdown_escape
    lines = [f"# {md(title)}", "", md(intro)]
    for section in sections:
        lines += ["", f"## {md(section.title)}"]
        for block in section.blocks:
            if isinstance(block, Chart):
                continue
            lines.append("")
            if isinstance(block, _Bullets):
                lines += [f"- {md(item)}" for item in block.items]
            elif isinstance(block, _Table):
                lines.append("| " + " | ".join(md(h) for h in block.header) + " |")
                lines.append(
                    "| " + " | ".join("---:" if right else "---" for right in block.numeric) + " |"
                )
                lines += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in block.rows]
            else:
                lines.append(md(block))
    return "\n".join(lines) + "\n"


STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
  margin: 0; background: #f4f5f7; }
main { max-width: 860px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 4px; }
h2 { font-size: 1.15em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.intro { color: #666; margin-top: 0; }
ul.headlines li { margin: 4px 0; font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f0f2f5; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 12px 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #666; }
"""


def _render_html(title: str, intro: str, sections: Iterable[_Section]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="intro">{esc(intro)}</p>',
    ]
    for section in sections:
        parts.append("<section>")
        parts.append(f"<h2>{esc(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Chart):
                parts.append(
                    f'<figure role="img" aria-label="{esc(block.title)}">{block.svg}'
                    f"<figcaption>{esc(block.title)}</figcaption></figure>"
                )
            elif isinstance(block, _Bullets):
                items = "".join(f"<li>{esc(item)}</li>" for item in block.items)
                parts.append(
                    f'<ul class="headlines">{items}</ul>' if block.strong else f"<ul>{items}</ul>"
                )
            elif isinstance(block, _Table):
                parts.append(_html_table(block))
            else:
                parts.append(f"<p>{esc(block)}</p>")
        parts.append("</section>")
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _html_table(table: _Table) -> str:
    esc = html.escape

    def cells(tag: str, row: Sequence[str]) -> str:
        return "".join(
            f'<{tag} class="num">{esc(cell)}</{tag}>' if right else f"<{tag}>{esc(cell)}</{tag}>"
            for cell, right in zip(row, table.numeric, strict=True)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in table.rows)
    return (
        f"<table><thead><tr>{cells('th', table.header)}</tr></thead><tbody>{body}</tbody></table>"
    )


# --- files --------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def folder_name(shop: str) -> str:
    """The shop's folder under --out: its domain, or, when the domain is no safe file name (a
    slash, '..', a space ...), the domain made safe plus a hash of it, so no two shops share
    one and none writes outside --out."""
    safe = _UNSAFE.sub("_", shop).lstrip(".")
    if safe == shop and safe:
        return safe
    return f"{safe or 'shop'}-{hashlib.sha256(shop.encode()).hexdigest()[:8]}"


def write_briefings(items: Iterable[Briefing], out: Path) -> list[Path]:
    """Write each briefing to <out>/<shop folder>/briefing.html, .txt and .md, each file
    atomically (a temporary file renamed over it); the paths written, in order."""
    written = []
    for item in items:
        folder = Path(out) / folder_name(item.shop_domain)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create {folder}: {exc.strerror or exc}", hint="choose another --out"
            ) from exc
        for name, body in zip(FILES, (item.html, item.text, item.markdown), strict=True):
            path = folder / name
            write_atomic(path, lambda handle, body=body: handle.write(body))
            written.append(path)
    return written
