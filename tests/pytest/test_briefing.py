"""The morning briefing (runner/briefing.py, `hotdash report`) on real, dbt-built marts.

The store is tests/pytest/test_marts.py's, as of 2025-03-10 with a goal of 5,000, whose figures
are worked out by hand there; the briefing's are derived from them below:

hotrod.myshopify.com
  growth      Nov 2024 11,100.00 (2 orders), Dec -4,200.00 (1), Jan 2025 900.00 (1), Feb 200.00
              (1), Mar 46.00 (2): 1,146.00 this year, 22.92 % of 5,000.00, 3,854.00 to go;
              March projects to 491.67; run rate 21.22 a day; projected goal date 2025-09-08.
  pace        2025-03-10 to 2025-12-31: 296 days; 3,854 / 296 = 13.0203 a day needed;
              21.22 / 13.0203 = 163.0 % of it.
  inventory   2001 discontinue 10,500.00 (cash back 5,250.00), 2004 discontinue 1,500.00
              (750.00): the two slow movers, 12,000.00 tied up, 6,000.00 recoverable; 2002
              monitor 2,000.00; 2003 discount 25 % of unknown cost.
  campaigns   one customer each: high_priority_winback, reengagement_campaign,
              new_customer_nurture.
guests.myshopify.com
  growth      March only: 800 + 40 + 20 + 20 = 880.00 from 4 orders; run rate over the 5
              completed days since its first (03-05 to 03-09): 176.00 a day; 4,120.00 to go:
              13.92 a day needed (1,264.5 %); goal date 03-10 + ceil(4,120 x 5 / 880) = 24 days.
  inventory   no inventory items, so no cost: 4 variants, no capital, no slow mover.
  campaigns   new_customer_nurture: 1.
many.myshopify.com (rows made by hand in the built inventory_alerts: no orders)
  12 slow movers, slow_mover_rank k = 1..12, capital 1,000 x (13 - k) (k = 1: 12,000.50):
  odd k discontinue (half back), even k discount 25 % (a quarter back), the first 10 in the
  email; a reorder variant with more capital than any (50,000.00) and a discontinued one at
  0.00 take no place. 78,000.50 tied up, 21,000.25 + 9,000.00 = 30,000.25 recoverable.

Alerts, evaluated on these marts with goal_pace_warn_ratio 2 and alert_slow_mover_capital
10,000: hotrod goal_pace (21.22 < 2 x 13.02) and slow_mover_capital (12,000.00), many
slow_mover_capital (78,000.50); guests none. Two builds recorded: a failed one, then a success.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from decimal import Decimal as D
from html.parser import HTMLParser

import pytest

from runner import alerts, db, settings
from runner.briefing import Briefing, briefings, folder_name, markdown_escape, write_briefings
from runner.errors import ExportError
from tests.pytest.helpers import PROJECT_DIR, run_dbt, scalar
from tests.pytest.test_marts import AS_OF, GUESTS, SHOP, store_database

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("briefing")

MANY = "many.myshopify.com"
NOBODY = "nobody.myshopify.com"
NASTY = 'Tom\'s <b>"Hot" & Rod</b> *kit* | [x](y) _1_'
BRIEFING_MARTS = ("growth_metrics", "inventory_alerts", "marketing_targets")


def many_rows() -> list[tuple]:
    """(variant_id, product_title, sku, units_on_hand, capital_tied_up, recommended_action,
    potential_cash_recovery, months_of_cover, capital_rank, slow_mover_rank, in_daily_email)"""
    rows = [(100, "Big Fast Mover", "M-00", 5, D("50000.00"), "reorder", D("0.00"), D("0.50"), 1,
             None, False)]  # fmt: skip
    for k in range(1, 13):
        capital = D(1000 * (13 - k)) + (D("0.50") if k == 1 else 0)
        action, rate, cover = ("discontinue", D("0.5"), None) if k % 2 else (
            "discount_25_pct", D("0.25"), D("8.00"))  # fmt: skip
        rows.append(
            (100 + k, NASTY if k == 1 else f"Part {k}", f"M-{k:02d}", k, capital, action,
             (capital * rate).quantize(D("0.01")), cover, k + 1, k, k <= 10)
        )  # fmt: skip
    rows.append((113, "Dead Stock", "M-13", 0, D("0.00"), "discontinue", D("0.00"), None, 14,
                 None, False))  # fmt: skip
    return rows


def record_build(conn, status: str, minutes_ago: int, seconds: float, **extra: object) -> None:
    conn.execute(
        "insert into ops.build_runs (run_id, started_at, ended_at, status, failed_step,"
        " error_message, command_args) values (%s, now() - make_interval(mins => %s),"
        " now() - make_interval(mins => %s) + make_interval(secs => %s), %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            minutes_ago,
            minutes_ago,
            seconds,
            status,
            extra.get("step"),
            extra.get("error"),
            json.dumps(["build"]),
        ),
    )


@pytest.fixture(scope="module")
def store(hotdash_home):
    """One database: the marts built by dbt from test_marts' store (models and seeds only: the
    data tests are test_marts'), many.myshopify.com's hand-made rows, alerts, two builds."""
    target = store_database(hotdash_home)
    run_dbt(
        target,
        "build",
        "--select",
        *(f"+{m}" for m in BRIEFING_MARTS),
        "pipeline_health",
        "--exclude-resource-type",
        "test",
        "unit_test",
        "--vars",
        json.dumps({"as_of_date": AS_OF, "revenue_goal": 5000}),
    )
    with db.connect(target) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "insert into marts.inventory_alerts (shop_domain, variant_id, product_title, sku,"
                " units_on_hand, capital_tied_up, recommended_action, potential_cash_recovery,"
                " months_of_cover, capital_rank, slow_mover_rank, in_daily_email, as_of_date)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(MANY, *row, AS_OF) for row in many_rows()],
            )
        record_build(conn, "failed", 60, 12.25, step="dbt build", error="boom")
        record_build(conn, "success", 30, 95.5)
    thresholds = settings.with_vars(
        target, "{goal_pace_warn_ratio: 2, alert_slow_mover_capital: 10000}"
    )
    alerts.evaluate(thresholds, uuid.uuid4(), ["goal_pace", "slow_mover_capital"])
    with db.connect(target) as conn:
        made = briefings(conn)
    yield target, {b.shop_domain: b for b in made}
    db.drop_database(target)


def sections(text: str) -> dict[str, list[str]]:
    """The plain-text body's sections: title -> its non-blank lines."""
    lines = text.splitlines()
    found: dict[str, list[str]] = {}
    current = None
    for n, line in enumerate(lines):
        if (
            n + 1 < len(lines)
            and lines[n + 1]
            and set(lines[n + 1]) == {"-"}
            and len(lines[n + 1]) == len(line)
        ):
            current = found.setdefault(line, [])
        elif current is not None and line and set(line) != {"-"}:
            current.append(line)
    return found


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def table(section: list[str]) -> list[list[str]]:
    """The rows of the (first) table in a text section: the lines after its dashes."""
    start = next(n for n, line in enumerate(section) if set(line.replace(" ", "")) == {"-"})
    rows = []
    for line in section[start + 1 :]:
        if len(cells(line)) < 2:
            break
        rows.append(cells(line))
    return rows


class Page(HTMLParser):
    """Tags and attributes of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]


def svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, flags=re.S)]


def svg_texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text")]


# --- the figures --------------------------------------------------------------------------------


def test_every_shop_of_the_marts_gets_a_briefing(store):
    _, made = store
    assert sorted(made) == [GUESTS, SHOP, MANY]
    assert {b.as_of_date for b in made.values()} == {datetime.date(2025, 3, 10)}
    assert all(b.in_marts for b in made.values())


def test_headlines_carry_the_marts_figures(store):
    _, made = store
    hotrod = sections(made[SHOP].text)
    assert hotrod["Headlines"] == [
        "- You have $12,000.00 tied up in slow-moving inventory (2 variants to discount or"
        " discontinue).",
        "- Recommended actions could recover $6,000.00 cash this week.",
        "- Top 2 products to discount/discontinue (listed below), first Small Block Crate Engine"
        " (SKU-2001): $10,500.00 tied up.",
        "- Net revenue this year: $1,146.00, 22.92% of the $5,000.00 goal; projected goal date:"
        " 2025-09-08.",
        "- Open alerts: 2 (0 critical).",
    ]
    many = sections(made[MANY].text)["Headlines"]
    assert many[:2] == [
        "- You have $78,000.50 tied up in slow-moving inventory (12 variants to discount or"
        " discontinue).",
        "- Recommended actions could recover $30,000.25 cash this week.",
    ]
    assert many[3] == "- Net revenue this year: none (no orders or refunds yet)."
    assert made[SHOP].subject == (
        "hotrod.myshopify.com briefing 2025-03-10: $12,000.00 tied up in slow movers,"
        " $6,000.00 recoverable; 2 open alerts"
    )


def test_net_revenue_pace_run_rate_and_projected_goal_date(store):
    _, made = store
    hotrod = sections(made[SHOP].text)["Net revenue"]
    assert hotrod[:4] == [
        "This month (March 2025) so far: $46.00 net revenue from 2 orders; projected $491.67 for"
        " the month.",
        "Year to date: $1,146.00, 22.92% of the $5,000.00 goal; $3,854.00 to go.",
        "Pace needed: $13.02 a day to reach the goal by 2025-12-31 (296 days left); run rate:"
        " $21.22 a day (163.0% of the pace needed).",
        "Projected goal date: 2025-09-08.",
    ]
    assert table(hotrod) == [
        ["Nov 2024", "$11,100.00", "2", "$11,100.00", "222.00%"],
        ["Dec 2024", "-$4,200.00", "1", "$6,900.00", "138.00%"],
        ["Jan 2025", "$900.00", "1", "$900.00", "18.00%"],
        ["Feb 2025", "$200.00", "1", "$1,100.00", "22.00%"],
        ["Mar 2025", "$46.00", "2", "$1,146.00", "22.92%"],
    ]
    guests = sections(made[GUESTS].text)["Net revenue"]
    assert guests[:4] == [
        "This month (March 2025) so far: $880.00 net revenue from 4 orders; projected $4,576.00"
        " for the month.",
        "Year to date: $880.00, 17.60% of the $5,000.00 goal; $4,120.00 to go.",
        "Pace needed: $13.92 a day to reach the goal by 2025-12-31 (296 days left); run rate:"
        " $176.00 a day (1,264.5% of the pace needed).",
        "Projected goal date: 2025-04-03.",
    ]


def test_capital_by_recommended_action(store):
    _, made = store
    hotrod = sections(made[SHOP].text)["Capital tied up by recommended action"]
    assert table(hotrod) == [
        ["Discontinue", "2", "$12,000.00", "$6,000.00"],
        ["Discount 25%", "1", "$0.00", "$0.00"],
        ["Monitor", "1", "$2,000.00", "$0.00"],
    ]
    assert hotrod[-1] == "1 variant of unknown cost count for nothing."
    many = sections(made[MANY].text)["Capital tied up by recommended action"]
    assert table(many) == [
        ["Discontinue", "7", "$42,000.50", "$21,000.25"],
        ["Discount 25%", "6", "$36,000.00", "$9,000.00"],
        ["Reorder", "1", "$50,000.00", "$0.00"],
    ]


def test_the_top_list_is_the_daily_emails_in_its_order(store):
    _, made = store
    hotrod = sections(made[SHOP].text)["Top 2 products to discount/discontinue"]
    assert table(hotrod) == [
        ["1", "Small Block Crate Engine", "SKU-2001", "3", "$10,500.00", "n/a", "Discontinue",
         "$5,250.00"],
        ["2", "Chrome Valve Covers", "SKU-2004", "25", "$1,500.00", "n/a", "Discontinue",
         "$750.00"],
    ]  # fmt: skip
    many = table(sections(made[MANY].text)["Top 10 products to discount/discontinue"])
    assert [row[:3] for row in many] == [
        [str(k), NASTY if k == 1 else f"Part {k}", f"M-{k:02d}"] for k in range(1, 11)
    ]
    assert many[0][4:] == ["$12,000.50", "n/a", "Discontinue", "$6,000.25"]
    assert many[1][4:] == ["$11,000.00", "8.0", "Discount 25%", "$2,750.00"]
    assert many[9][4:] == ["$3,000.00", "8.0", "Discount 25%", "$750.00"]


def test_campaign_sizes(store):
    _, made = store
    assert table(sections(made[SHOP].text)["Campaigns"]) == [
        ["high_priority_winback", "1"],
        ["reengagement_campaign", "1"],
        ["new_customer_nurture", "1"],
    ]
    assert table(sections(made[GUESTS].text)["Campaigns"]) == [["new_customer_nurture", "1"]]
    assert sections(made[MANY].text)["Campaigns"] == ["None: no customer qualifies for a campaign."]


def test_open_alerts_and_pipeline_health(store):
    target, made = store
    hotrod = sections(made[SHOP].text)["Open alerts"]
    assert [line.split(" (open since")[0] for line in hotrod] == [
        "- warn, goal_pace",
        "- warn, slow_mover_capital",
    ]
    assert hotrod[1].endswith(
        ": 12,000.00 of capital tied up in 2 variants to discontinue or discount (above"
        " 10,000.00): see `hotdash export inventory-alerts`"
    )
    assert sections(made[GUESTS].text)["Open alerts"] == ["None."]

    started = scalar(target, "select max(started_at) from ops.build_runs")
    when = started.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    health = sections(made[SHOP].text)["Pipeline health"]
    assert health[:2] == [
        f"Latest build: success, started {when}, 95.5 s; 0 dbt nodes, 0 failed;"
        " 0 failed contracts.",
        "Recent builds (ops.pipeline_health): 2, 1 failed, 1 success.",
    ]
    assert [row[1:5] for row in table(health)] == [
        ["success", "95.5", "0", "0"],
        ["failed", "12.2", "0", "0"],
    ]


# --- the formats --------------------------------------------------------------------------------


def test_the_html_page_is_self_contained_with_inline_svg_charts(store):
    _, made = store
    page = made[SHOP].html
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.tags.count("svg") == 3
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    linked = [
        (tag, name, value) for tag, name, value in parser.attributes if name in ("src", "href")
    ]
    assert linked == []
    assert not re.search(r"url\(\s*['\"]?https?:", page)
    revenue, goal, capital = svgs(page)
    assert {"Nov 2024", "Dec 2024", "Jan 2025", "Feb 2025", "Mar 2025"} <= set(svg_texts(revenue))
    assert {"Goal $5,000.00", "Projected 2025-09-08"} <= set(svg_texts(goal))
    assert {"$12,000.00", "$2,000.00", "Discontinue", "Monitor"} <= set(svg_texts(capital))
    assert [c.name for c in made[SHOP].charts] == [
        "net_revenue_by_month",
        "year_to_date_against_goal",
        "capital_by_action",
    ]
    assert made[SHOP].charts[0].png(scale=1).startswith(b"\x89PNG")
    # one chart for a shop with inventory but no orders, none for a shop with nothing
    assert len(svgs(made[MANY].html)) == 1


def test_database_text_is_escaped_in_html_and_markdown(store):
    _, made = store
    page = made[MANY].html
    parser = Page()
    parser.feed(page)
    assert "b" not in parser.tags
    assert "Tom&#x27;s &lt;b&gt;&quot;Hot&quot; &amp; Rod&lt;/b&gt; *kit* | [x](y) _1_" in page
    markdown = made[MANY].markdown
    escaped = 'Tom\'s \\<b\\>"Hot" \\& Rod\\</b\\> \\*kit\\* \\| \\[x\\](y) \\_1\\_'
    assert markdown_escape(NASTY) == escaped
    row = next(line for line in markdown.splitlines() if line.startswith("| 1 |"))
    assert row == f"| 1 | {escaped} | M-01 | 1 | $12,000.50 | n/a | Discontinue | $6,000.25 |"
    assert "## Top 10 products to discount/discontinue" in markdown
    assert NASTY in made[MANY].text  # plain text as it is


# --- shops, security, errors --------------------------------------------------------------------


def test_under_a_shop_only_its_rows_are_read(store):
    target, _ = store
    with db.connect(target) as conn:
        (guests,) = briefings(conn, shop=GUESTS)
        assert conn.info.transaction_status.name == "IDLE"
        assert conn.execute("select current_user").fetchone() == ("postgres",)
    for body in (guests.text, guests.markdown, guests.html):
        for other in (SHOP, MANY, "Small Block Crate Engine", "Part 2", "$10,500.00",
                      "goal_pace", "slow_mover_capital", "high_priority_winback"):  # fmt: skip
            assert other not in body
    assert table(sections(guests.text)["Campaigns"]) == [["new_customer_nurture", "1"]]
    assert sections(guests.text)["Pipeline health"][1] == (
        "Recent builds (ops.pipeline_health): 2, 1 failed, 1 success."
    )


def test_a_shop_with_nothing_still_gets_a_briefing_that_says_none(store):
    target, _ = store
    with db.connect(target) as conn:
        (nobody,) = briefings(conn, shop=NOBODY)
    assert isinstance(nobody, Briefing) and not nobody.in_marts
    found = sections(nobody.text)
    assert found["Net revenue"] == ["None: no orders or refunds yet."]
    assert found["Capital tied up by recommended action"] == ["None: no variants in the catalog."]
    assert found["Top products to discount/discontinue"] == [
        "None: no variant to discount or discontinue ties up capital."
    ]
    assert found["Open alerts"] == ["None."]
    assert found["Headlines"][0] == (
        "- You have $0.00 tied up in slow-moving inventory (0 variants to discount or discontinue)."
    )
    assert nobody.charts == () and svgs(nobody.html) == []


def test_a_database_never_built_says_to_build(new_target):
    target = new_target()
    with db.connect(target) as conn, pytest.raises(ExportError) as err:
        briefings(conn)
    assert err.value.message == (
        "marts.growth_metrics, marts.inventory_alerts, marts.marketing_targets do not exist in"
        " this database"
    )
    assert err.value.hint == "`hotdash build` builds the marts"


def test_folders_are_the_shop_domains_made_safe(tmp_path):
    assert folder_name("a.myshopify.com") == "a.myshopify.com"
    for unsafe in ("../x", "a/b", "..", "a b"):
        name = folder_name(unsafe)
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*-[0-9a-f]{8}", name), name
    assert folder_name("a/b") != folder_name("a_b")
    briefing = Briefing("../../etc", datetime.date(2025, 3, 10), "s", "t", "m", "<p>h</p>")
    (html_file, text_file, md_file) = write_briefings([briefing], tmp_path / "out")
    assert html_file.parent.parent == tmp_path / "out"
    assert [p.name for p in (html_file, text_file, md_file)] == [
        "briefing.html",
        "briefing.txt",
        "briefing.md",
    ]
    assert text_file.read_text() == "t"
    assert sorted(p.name for p in html_file.parent.iterdir()) == sorted(
        ["briefing.html", "briefing.txt", "briefing.md"]
    )  # no temporary file left


def test_hotdash_report_writes_each_file_and_prints_its_path(store, tmp_path):
    target, made = store
    env = {
        **os.environ,
        "HOTDASH_DATABASE": str(scalar(target, "select current_database()")),
        "PYTHONPATH": str(PROJECT_DIR),
    }
    env.pop("HOTDASH_SHOP_DOMAIN", None)
    out = tmp_path / "briefings"
    result = subprocess.run(
        [sys.executable, "-m", "runner.cli", "report", "--shop", SHOP, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_DIR,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    folder = out / SHOP
    assert result.stdout.splitlines() == [
        f"wrote {folder / name}" for name in ("briefing.html", "briefing.txt", "briefing.md")
    ]
    assert (folder / "briefing.md").read_text() == made[SHOP].markdown
    assert (folder / "briefing.txt").read_text() == made[SHOP].text
    assert len(svgs((folder / "briefing.html").read_text())) == 3
    assert sorted(p.name for p in out.iterdir()) == [SHOP]


def test_hotdash_notify_delivers_each_shops_briefing_from_the_built_marts(store, tmp_path):
    """The whole morning: `hotdash notify` with no destination writes each shop's briefing,
    made from the marts, to the outbox: its text part is the briefing's text, its HTML part the
    page with its charts."""
    import dataclasses
    import email
    import email.policy

    from runner import notify

    target, made = store
    report = notify.run(dataclasses.replace(target, home=tmp_path), environ={})
    assert report.briefing_warning is None and report.error() is None
    mails = {}
    for path in (tmp_path / "outbox").rglob("briefing_*.eml"):
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        mails[mail["X-Hotdash-Key"]] = mail
    assert sorted(mails) == sorted(f"briefing:{shop}:2025-03-10" for shop in made)
    mail = mails[f"briefing:{SHOP}:2025-03-10"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert text.strip() == made[SHOP].text.strip()
    assert "You have $12,000.00 tied up in slow-moving inventory" in text
    assert mail.get_body(preferencelist=("html",)).get_content().count("<svg") >= 2
