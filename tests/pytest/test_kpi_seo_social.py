"""The SEO tile and its anomaly list (seo_dropped_pages), from raw Search Console and GA4 facts,
and the Social tile from raw Instagram facts, in one build.

As of 2025-06-20 with the default 3-day lag, the last 7 days of Search Console's data are 06-11
to 06-17 and the 7 days before them 06-04 to 06-10; Social's last 7 days are 06-14 to 06-20
(reporting_timezone UTC), the 7 before 06-07 to 06-13. Every expected figure below is worked out
by hand from the facts of `seo_facts` and `social_facts`.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg import sql

from runner import db, settings
from runner.facts import ensure_facts_table
from tests.pytest.helpers import PROJECT_DIR, insert_facts, query, run_dbt

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("kpi_seo_social")

SHOP = "seo.myshopify.com"
QUIET = "quiet.myshopify.com"  # no organic search facts: no seo row
AS_OF = "2025-06-20"
SITE = "sc-domain:seo-shop.com"


def search_row(day: str, page: str, query: str, clicks: int, impressions: int, position, **kw):
    return {
        "site_url": SITE,
        "search_type": kw.get("search_type", "web"),
        "data_state": "final",
        "aggregation_type": "byPage",
        "dimensions": ["date", "page", "query"],
        "report_row": {
            "keys": [day, f"https://www.seo-shop.com{page}", query],
            "clicks": clicks,
            "impressions": impressions,
            "ctr": clicks / impressions,
            "position": position,
        },
        "fetched_at": kw.get("fetched_at", "2025-06-19T06:00:00Z"),
    }


def ga4_row(day: str, page: str, channel: str, sessions: int, key_events=0, revenue="0"):
    return {
        "property_id": "310000017",
        "currency_code": "USD",
        "time_zone": "America/Los_Angeles",
        "dimension_headers": [
            {"name": "date"},
            {"name": "landingPagePlusQueryString"},
            {"name": "sessionDefaultChannelGroup"},
        ],
        "metric_headers": [
            {"name": "sessions", "type": "TYPE_INTEGER"},
            {"name": "keyEvents", "type": "TYPE_INTEGER"},
            {"name": "totalRevenue", "type": "TYPE_CURRENCY"},
        ],
        "report_row": {
            "dimensionValues": [{"value": day}, {"value": page}, {"value": channel}],
            "metricValues": [
                {"value": str(sessions)},
                {"value": str(key_events)},
                {"value": revenue},
            ],
        },
        "fetched_at": "2025-06-19T07:00:00Z",
    }


def seo_facts() -> list[tuple[str, str, object]]:
    sc, ga4 = "search_console.search_analytics", "ga4.landing_pages"
    return [
        # /products/a: 30 + 10 clicks before (impressions 300 at 2.0 and 100 at 6.0), 8 after
        (SHOP, sc, search_row("2025-06-05", "/products/a", "q1", 30, 300, 2.0)),
        (SHOP, sc, search_row("2025-06-05", "/products/a", "q2", 10, 100, 6.0)),
        (SHOP, sc, search_row("2025-06-12", "/products/a", "q1", 8, 200, 5.0)),
        # image search is not organic web search: left out
        (
            SHOP,
            sc,
            search_row("2025-06-12", "/products/a", "q1", 100, 900, 1.0, search_type="image"),
        ),
        # the home page: 20 before; 22 after, fetched again later with 25 (the later fetch wins)
        (SHOP, sc, search_row("2025-06-06", "/", "brand", 20, 100, 1.0)),
        (SHOP, sc, search_row("2025-06-13", "/", "brand", 22, 110, 1.0)),
        (
            SHOP,
            sc,
            search_row("2025-06-13", "/", "brand", 25, 120, 1.0, fetched_at="2025-06-19T09:00:00Z"),
        ),
        # outside both windows: 06-03 and 06-18
        (SHOP, sc, search_row("2025-06-03", "/", "brand", 40, 100, 1.0)),
        (SHOP, sc, search_row("2025-06-18", "/", "brand", 50, 100, 1.0)),
        # GA4: organic sessions 12 before (with a key event and 99.50), 4 + 6 after; Direct left out
        (
            SHOP,
            ga4,
            ga4_row("20250605", "/products/a?utm_source=x", "Organic Search", 12, 1, "99.5"),
        ),
        (SHOP, ga4, ga4_row("20250612", "/products/a", "Organic Search", 4)),
        (SHOP, ga4, ga4_row("20250612", "/", "Direct", 100, 3, "300")),
        (SHOP, ga4, ga4_row("20250613", "/", "Organic Search", 6)),
    ]


def post(media_id: str, posted: str, likes: int, comments: int, fetched_at: str) -> dict:
    """An instagram.media fact: one item of a media list, as the Graph API writes it."""
    return {
        "ig_user_id": "17841400000000001",
        "fetched_at": fetched_at,
        "media": {
            "id": media_id,
            "media_type": "IMAGE",
            "media_product_type": "FEED",
            "permalink": f"https://www.instagram.com/p/{media_id}/",
            "timestamp": posted,
            "like_count": likes,
            "comments_count": comments,
            "owner": {"id": "17841400000000001"},
        },
    }


def insights(media_id: str, fetched_at: str, **metrics: int) -> dict:
    """An instagram.media_insights fact: one insights response of a media."""
    return {
        "media_id": media_id,
        "fetched_at": fetched_at,
        "insights": {
            "data": [
                {
                    "name": name,
                    "period": "lifetime",
                    "values": [{"value": value}],
                    "id": f"{media_id}/insights/{name}/lifetime",
                }
                for name, value in metrics.items()
            ]
        },
    }


def social_facts() -> list[tuple[str, str, object]]:
    media, stats = "instagram.media", "instagram.media_insights"
    early, late = "2025-06-19T06:00:00Z", "2025-06-20T06:00:00Z"
    return [
        # the 7 days before: one post, reach 2000, 60 + 10 + 20 + 10 = 100 engagements
        (SHOP, media, post("0101", "2025-06-10T09:00:00+0000", 10, 1, early)),
        (SHOP, media, post("0101", "2025-06-10T09:00:00+0000", 12, 1, late)),
        (
            SHOP,
            stats,
            insights("0101", late, reach=2000, likes=60, comments=10, saved=20, shares=10),
        ),
        # the last 7 days: reach 900 and 30 + 5 + 8 + 2 = 45 engagements (the later fetch wins)
        (SHOP, media, post("0202", "2025-06-15T18:30:00+0000", 30, 5, late)),
        (SHOP, stats, insights("0202", early, reach=500, likes=20, comments=1, saved=1, shares=1)),
        (SHOP, stats, insights("0202", late, reach=900, likes=30, comments=5, saved=8, shares=2)),
        # ... and a post without insights yet: its 7 likes and 2 comments, no reach
        (SHOP, media, post("0303", "2025-06-19T12:00:00+0000", 7, 2, late)),
        # before both windows
        (SHOP, media, post("0404", "2025-06-05T12:00:00+0000", 900, 90, late)),
        (
            SHOP,
            stats,
            insights("0404", late, reach=10000, likes=900, comments=90, saved=0, shares=0),
        ),
    ]


@pytest.fixture(scope="module")
def built(hotdash_home: Path) -> Iterator[db.Target]:
    target = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=f"t_{uuid.uuid4().hex[:10]}")
    with db.connect(target) as conn:
        ensure_facts_table(conn)
    insert_facts(
        target,
        [
            *seo_facts(),
            *social_facts(),
            (QUIET, "shopify.customers", {"id": 1, "updated_at": "2025-06-01T00:00:00Z"}),
        ],
        created_at=datetime.datetime(2025, 6, 19, 12, tzinfo=datetime.UTC),
    )
    run_dbt(
        target,
        "build",
        "--select",
        "+kpi_tiles",
        "+seo_dropped_pages",
        "--exclude",
        "test_type:unit",
        "--vars",
        json.dumps({"as_of_date": AS_OF}),
    )
    yield target
    db.drop_database(target)


def test_the_seo_tile_compares_the_last_7_days_of_clicks_with_the_7_before(built):
    rows = query(
        built,
        "select shop_domain, tile_date::text, status, headline_value, comparison_value,"
        " explanation, figures from marts.kpi_tiles where tile = 'seo'",
    )
    assert rows == [
        (
            SHOP,
            AS_OF,
            # 33 clicks from 60: 45% down, past the act edge (30%)
            "act",
            Decimal("33.00"),
            Decimal("60.00"),
            "Clicks 2025-06-11 to 2025-06-17: 33 (-45% vs 60). Organic sessions: 10 (-17%)."
            " Average position: 3.5 (was 2.6). Dropped pages: 1.",
            {
                "window_start": "2025-06-11",
                "window_end": "2025-06-17",
                "clicks_last_7_days": 33,
                "clicks_prior_7_days": 60,
                "clicks_change_share": -0.45,
                "impressions_last_7_days": 320,
                "impressions_prior_7_days": 500,
                # (200 x 5.0 + 120 x 1.0) / 320 and (300 x 2.0 + 100 x 6.0 + 100 x 1.0) / 500
                "average_position_last_7_days": 3.5,
                "average_position_prior_7_days": 2.6,
                "organic_sessions_last_7_days": 10,
                "organic_sessions_prior_7_days": 12,
                "sessions_change_share": -0.1667,
                "organic_key_events_last_7_days": 0,
                "organic_revenue_last_7_days": 0,
                "dropped_pages": 1,
            },
        )
    ]


def test_a_page_that_lost_more_than_half_its_clicks_is_listed(built):
    rows = query(
        built,
        "select shop_domain, page_path, window_start::text, window_end::text, clicks_last_7_days,"
        " clicks_prior_7_days, clicks_change, clicks_change_share, impressions_last_7_days,"
        " impressions_prior_7_days, average_position_last_7_days, average_position_prior_7_days,"
        " organic_sessions_last_7_days, organic_sessions_prior_7_days, drop_rank"
        " from marts.seo_dropped_pages",
    )
    # 40 clicks to 8; the home page went from 20 to 25 and is not listed
    assert rows == [
        (
            SHOP,
            "/products/a",
            "2025-06-11",
            "2025-06-17",
            8,
            40,
            -32,
            Decimal("-0.8000"),
            200,
            400,
            Decimal("5.00"),
            Decimal("3.00"),
            4,
            12,
            1,
        )
    ]


def test_the_social_tile_compares_the_reach_of_the_last_7_days_posts_with_the_7_before(built):
    rows = query(
        built,
        "select shop_domain, tile_date::text, status, headline_value, comparison_value,"
        " explanation, figures from marts.kpi_tiles where tile = 'social'",
    )
    assert rows == [
        (
            SHOP,
            AS_OF,
            # 900 from 2000: 55% down, past the act edge (50%)
            "act",
            Decimal("900.00"),
            Decimal("2000.00"),
            "Posts 2025-06-14 to 2025-06-20: 2 (1 the 7 days before). Reach: 900 (-55% vs 2000)."
            " Engagement rate: 5.0% (was 5.0%)."
            " Top post: https://www.instagram.com/p/0202/ (45 engagements).",
            {
                "window_start": "2025-06-14",
                "window_end": "2025-06-20",
                "posts_last_7_days": 2,
                "posts_prior_7_days": 1,
                "reach_last_7_days": 900,
                "reach_prior_7_days": 2000,
                "reach_change_share": -0.55,
                # 45 + the 9 of the post without insights; 100
                "engagements_last_7_days": 54,
                "engagements_prior_7_days": 100,
                # 45 / 900 (the post without a reach is left out) and 100 / 2000
                "engagement_rate_last_7_days": 0.05,
                "engagement_rate_prior_7_days": 0.05,
                "top_post_media_id": "0202",
                "top_post_permalink": "https://www.instagram.com/p/0202/",
                "top_post_engagements": 45,
                "top_post_reach": 900,
            },
        )
    ]


def test_an_operator_reads_the_dropped_pages_of_its_own_shop_only(built):
    operator = settings.project_security(PROJECT_DIR).roles.operator
    seen = {}
    for shop in (SHOP, QUIET):
        with db.connect(built) as conn:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(operator)))
            conn.execute("select set_config('app.shop_domain', %s, false)", (shop,))
            seen[shop] = conn.execute("select count(*) from marts.seo_dropped_pages").fetchone()[0]
    assert seen == {SHOP: 1, QUIET: 0}
