"""Search Console (Search Analytics rows): staged exactly like the Shopify and Chatwoot topics.

A fact is one row of a searchAnalytics.query response, unchanged (report_row), with what gives
it meaning: the site, the request's dimensions (the row's keys are their values, in order), its
search type and data state, the response's aggregation type, and when the app fetched it.
"""

from __future__ import annotations

import datetime
import json
import re
from decimal import Decimal

import pytest

from runner import contracts
from tests.pytest.helpers import (
    PROJECT_DIR,
    build_staging,
    insert_facts,
    query,
    run_dbt,
    table_rows,
)

SHOP = "test.myshopify.com"
SC_DIR = PROJECT_DIR / "tests" / "fixtures" / "search-console"
TOPIC = "search_console.search_analytics"
SITE = "sc-domain:example.com"
UTC = datetime.UTC
COLUMNS = (
    "site_url, search_type, aggregation_type, data_state, report_date, report_hour, page, query,"
    " device, country, search_appearance, clicks, impressions, ctr, position, fetched_at"
)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


def facts_of_response(
    response: dict, request: dict, site: str, fetched_at: str, search_type: str = "web"
) -> list[dict]:
    """What the app stores for one response: a fact per row, the row as the API sent it."""
    return [
        {
            "site_url": site,
            "search_type": request.get("type", search_type),
            "data_state": request.get("dataState"),
            "aggregation_type": response.get("responseAggregationType"),
            "dimensions": request["dimensions"],
            "report_row": row,
            "fetched_at": fetched_at,
        }
        for row in response["rows"]
    ]


def fixture(name: str) -> dict:
    # parse_float=Decimal: the file's digits, as jsonb keeps them
    return json.loads((SC_DIR / name).read_text(), parse_float=Decimal)


def exact_json(fact: dict) -> str:
    """The fact as JSON text with every digit of its Decimals (json writes a float's repr)."""
    text = json.dumps(fact, default=lambda d: f"__number__{d}")
    return re.sub(r'"__number__([^"]+)"', r"\1", text)


def row(
    date="2025-01-01",
    page="https://example.com/a",
    query_text="hot rod parts",
    clicks=3,
    impressions=40,
    ctr=0.075,
    position=4.5,
    fetched_at="2025-01-03T06:00:00Z",
    **extra,
) -> dict:
    return {
        "site_url": SITE,
        "data_state": "final",
        "aggregation_type": "byPage",
        "dimensions": ["date", "page", "query"],
        "report_row": {
            "keys": [date, page, query_text],
            "clicks": clicks,
            "impressions": impressions,
            "ctr": ctr,
            "position": position,
        },
        "fetched_at": fetched_at,
        **extra,
    }


def staged(target) -> list[tuple]:
    return query(
        target,
        f"select {COLUMNS} from staging.stg_search_console__search_analytics"
        " order by shop_domain, report_date, report_hour, page, query",
    )


def test_each_search_console_fixture_row_stages_to_its_exact_row(target):
    """Google's hourly sample (a response to a request grouped by HOUR): every row stages, with
    its day in Search Console's time (Pacific), its hour, and every digit of ctr and position."""
    facts = facts_of_response(
        fixture("searchanalytics_query_hourly.json"),
        fixture("searchanalytics_query_hourly.request.json"),
        "https://www.example.com/",
        "2025-04-08T12:00:00Z",
    )
    assert len(facts) == 5
    insert_facts(target, [(SHOP, TOPIC, exact_json(fact)) for fact in facts])
    build_staging(target)

    assert query(target, "select fact_id, reason from ops.facts_quarantine") == []
    assert query(target, "select warnings from ops.facts_triage where warnings is not null") == []
    site, fetched = "https://www.example.com/", at("2025-04-08T12:00:00Z")
    day = datetime.date(2025, 4, 7)
    rest = (None, None, None, None, None)
    assert staged(target) == [
        (site, "web", "byProperty", "HOURLY_ALL", day, at("2025-04-07T00:00:00-07:00"), *rest,
         17610, 1571473, Decimal("0.011206046810858348"), Decimal("10.073871456906991"), fetched),
        (site, "web", "byProperty", "HOURLY_ALL", day, at("2025-04-07T01:00:00-07:00"), *rest,
         18289, 1662252, Decimal("0.011002543537321658"), Decimal("9.5440029550272758"), fetched),
        (site, "web", "byProperty", "HOURLY_ALL", day, at("2025-04-07T02:00:00-07:00"), *rest,
         18548, 1652038, Decimal("0.011227344649457216"), Decimal("9.81503633693656"), fetched),
        (site, "web", "byProperty", "HOURLY_ALL", day, at("2025-04-07T03:00:00-07:00"), *rest,
         18931, 1592716, Decimal("0.01188598595104212"), Decimal("9.4956935197486558"), fetched),
        (site, "web", "byProperty", "HOURLY_ALL", day, at("2025-04-07T04:00:00-07:00"), *rest,
         20519, 1595636, Decimal("0.012859449147549943"), Decimal("9.4670100198290843"), fetched),
    ]  # fmt: skip


# (payload, the reason it is quarantined with)
def _without(key: str) -> dict:
    fact = row()
    del fact[key]
    return fact


def _metric(key: str, value) -> dict:
    fact = row()
    fact["report_row"][key] = value
    return fact


MALFORMED = [
    ([1, 2], "payload is a JSON array, not an object"),
    (_without("site_url"), "site_url is missing"),
    (_without("fetched_at"), "fetched_at is missing"),
    (row(fetched_at="yesterday"), "fetched_at is not a timestamp"),
    (_without("dimensions"), "dimensions is missing"),
    ({**row(), "dimensions": "date,page"}, "dimensions is not an array"),
    (_without("report_row"), "report_row is missing"),
    ({**row(), "report_row": [1]}, "report_row is not an object"),
    ({**row(), "dimensions": ["date", "page"]}, "report_row.keys do not match the dimensions"),
    (
        {**row(), "dimensions": ["query", "page", "device"]},
        "the date is missing",
    ),
    (row(date="2025-02-30"), "the date is not a date"),
    (row(date="20250101"), "the date is not a date"),
    (
        {**row(), "dimensions": ["hour", "page", "query"], "report_row": {**row()["report_row"], "keys": ["2025-01-01T25:00:00-08:00", "p", "q"]}},
        "the hour is not a timestamp",
    ),
    (_metric("clicks", None), "report_row.clicks is missing"),
    (_metric("clicks", "many"), "report_row.clicks is not a whole number"),
    (_metric("clicks", 1.5), "report_row.clicks is not a whole number"),
    (_metric("clicks", -1), "report_row.clicks is negative"),
    (_metric("impressions", -3), "report_row.impressions is negative"),
    (_metric("ctr", "7.5%"), "report_row.ctr is not a number"),
    (_metric("position", "n/a"), "report_row.position is not a number"),
    (_metric("position", 0.5), "report_row.position is below 1"),
]  # fmt: skip


def test_malformed_search_console_facts_are_quarantined_with_their_reason(target):
    ids = insert_facts(target, [(SHOP, TOPIC, body) for body, _ in MALFORMED])
    good = insert_facts(
        target,
        [
            # staged but flagged
            (SHOP, TOPIC, row(page="/more-clicks", clicks=5, impressions=4, ctr=1.25)),
            (SHOP, TOPIC, row(page="/ctr-off", ctr=0.5)),
            (SHOP, TOPIC, row(page="/future", date="2100-01-01")),
            # clicks written as a float (12.0) and no ctr or position (no impressions) stage
            (SHOP, TOPIC, row(page="/floats", clicks=12.0, impressions=12.0, ctr=1)),
            (SHOP, TOPIC, row(page="/none", clicks=0, impressions=0, ctr=None, position=None)),
        ],
    )
    build_staging(target)

    reasons = dict(query(target, "select fact_id, reason from ops.facts_quarantine"))
    assert reasons == {ids[i]: reason for i, (_, reason) in enumerate(MALFORMED)}
    assert query(
        target,
        "select fact_id, warnings from ops.facts_triage where warnings is not null and reason is null"
        " order by 1",
    ) == [
        (good[0], ["clicks exceed impressions"]),
        (good[1], ["ctr is not clicks / impressions"]),
        (good[2], ["the date is in the future"]),
    ]
    assert query(
        target,
        "select page, clicks, impressions, ctr, position"
        " from staging.stg_search_console__search_analytics order by page",
    ) == [
        ("/ctr-off", 3, 40, Decimal("0.5"), Decimal("4.5")),
        ("/floats", 12, 12, Decimal("1"), Decimal("4.5")),
        ("/future", 3, 40, Decimal("0.075"), Decimal("4.5")),
        ("/more-clicks", 5, 4, Decimal("1.25"), Decimal("4.5")),
        ("/none", 0, 0, None, None),
    ]


def test_the_latest_fetch_wins_and_keys_are_read_by_dimension_name(target):
    """A day re-fetched (fresh data, then final) is one row: the fetch made last wins, whatever
    the order the facts arrive in or the order of the request's dimensions."""
    final = row(clicks=5, impressions=50, ctr=0.1, fetched_at="2025-01-05T06:00:00Z")
    final["dimensions"] = ["query", "date", "page"]
    final["report_row"]["keys"] = ["hot rod parts", "2025-01-01", "https://example.com/a"]
    insert_facts(
        target,
        [
            (SHOP, TOPIC, row(clicks=2, impressions=30, ctr=0.0667, fetched_at="2025-01-02T06:00:00Z", data_state="all")),
            (SHOP, TOPIC, final),
            # stored last, fetched before the final one: must not win
            (SHOP, TOPIC, row(clicks=4, impressions=45, ctr=0.0889, fetched_at="2025-01-03T06:00:00Z")),
            # another query, another device grouping, another site, another shop: other rows
            (SHOP, TOPIC, row(query_text="ls swap kit", fetched_at="2025-01-03T06:00:00Z")),
            (SHOP, TOPIC, {**row(), "site_url": "https://example.com/"}),
            ("other.myshopify.com", TOPIC, row()),
        ],
    )  # fmt: skip
    build_staging(target)
    assert query(
        target,
        "select shop_domain, site_url, query, clicks, impressions, data_state, fetched_at"
        " from staging.stg_search_console__search_analytics order by 1, 2, 3",
    ) == [
        ("other.myshopify.com", SITE, "hot rod parts", 3, 40, "final", at("2025-01-03T06:00:00Z")),
        (SHOP, "https://example.com/", "hot rod parts", 3, 40, "final", at("2025-01-03T06:00:00Z")),
        (SHOP, SITE, "hot rod parts", 5, 50, "final", at("2025-01-05T06:00:00Z")),
        (SHOP, SITE, "ls swap kit", 3, 40, "final", at("2025-01-03T06:00:00Z")),
    ]  # fmt: skip


STAGED_TABLES = ["staging.stg_search_console__search_analytics", "ops.facts_quarantine"]


# Three arrivals: two incremental runs after the first (test_staging also splits in two).
@pytest.mark.parametrize("batches", [3])
def test_search_console_incremental_runs_equal_a_full_refresh(new_target, batches):
    facts = [
        (SHOP, TOPIC, row(clicks=2, impressions=30, ctr=0.0667, fetched_at="2025-01-02T06:00:00Z")),
        (SHOP, TOPIC, row(page="/b", fetched_at="2025-01-02T06:00:00Z")),
        (SHOP, TOPIC, row(clicks=5, impressions=50, ctr=0.1, fetched_at="2025-01-05T06:00:00Z")),
        (SHOP, TOPIC, row(page="/b", clicks=-1)),
        (SHOP, TOPIC, row(clicks=4, impressions=45, ctr=0.0889, fetched_at="2025-01-03T06:00:00Z")),
        (SHOP, TOPIC, row(page="/b", clicks=9, impressions=90, ctr=0.1, fetched_at="2025-01-06T06:00:00Z")),
        (SHOP, TOPIC, row(date="2025-01-02")),
    ]  # fmt: skip
    incremental, full = new_target(), new_target()
    size = -(-len(facts) // batches)
    stored = datetime.datetime(2025, 1, 1, tzinfo=UTC)
    for start in range(0, len(facts), size):
        insert_facts(incremental, facts[start : start + size], created_at=stored)
        build_staging(incremental)
    insert_facts(full, facts, created_at=stored)
    build_staging(full, "--full-refresh")

    assert {t: table_rows(incremental, t) for t in STAGED_TABLES} == {
        t: table_rows(full, t) for t in STAGED_TABLES
    }
    assert query(
        full,
        "select report_date, page, clicks from staging.stg_search_console__search_analytics"
        " order by 1, 2",
    ) == [
        (datetime.date(2025, 1, 1), "/b", 9),
        (datetime.date(2025, 1, 1), "https://example.com/a", 5),
        (datetime.date(2025, 1, 2), "https://example.com/a", 3),
    ]


def test_each_search_console_reason_and_warning_has_its_own_expectation(target, tmp_path):
    insert_facts(target, [(SHOP, TOPIC, body) for body, _ in MALFORMED])
    insert_facts(
        target,
        [
            (SHOP, TOPIC, row(page="/more-clicks", clicks=5, impressions=4, ctr=1.25)),
            (SHOP, TOPIC, row(page="/future", date="2100-01-01")),
            (SHOP, TOPIC, row(page="/fetched", fetched_at="2100-01-01T00:00:00Z")),
        ],
    )
    report = contracts.run_contracts(
        target, "source", session=contracts.ContractSession(tmp_path / "contracts")
    )
    counted = {
        (o.suite, o.expectation): o.unexpected_count
        for o in report.outcomes
        if o.unexpected_count and o.relation == contracts.TRIAGE
    }
    assert not [key for key in counted if key[1] == "no_other_verdicts"], counted
    # 21 of 24 facts quarantined: the share check names the shop (one row)
    assert counted.pop(("source_search_console_search_analytics", "quarantine_share_is_small")) == 1
    assert sum(counted.values()) == len(MALFORMED) + 3
    suite = "source_search_console_search_analytics"
    assert counted[(suite, "metrics_are_numbers")] == 8
    assert counted[(suite, "metrics_are_consistent")] == 1
    assert counted[(suite, "date_is_not_in_the_future")] == 1
    assert counted[(suite, "fetched_at_is_not_in_the_future")] == 1


def test_search_console_staging_is_the_analysts_alone(target):
    import psycopg

    from runner import db

    insert_facts(target, [(SHOP, TOPIC, row())])
    build_staging(target)
    table = "staging.stg_search_console__search_analytics"
    with db.connect(target) as conn:
        conn.execute("set role hotdash_analyst")
        assert conn.execute(f"select count(*) from {table}").fetchone() == (1,)
    for role in ("hotdash_operator", "hotdash_ai_readonly"):
        with db.connect(target) as conn:
            conn.execute(f"set role {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select count(*) from {table}")


def test_the_plain_sql_twin_stages_these_facts_exactly_as_dbt(target):
    """scripts/plain_sql.py's judge and staging of the topic, on every malformed fact above and
    the revisions of one row, equal dbt's row for row (the demo writes none of these facts)."""
    import sys

    sys.path.insert(0, str(PROJECT_DIR / "scripts"))
    import plain_sql

    insert_facts(target, [(SHOP, TOPIC, body) for body, _ in MALFORMED])
    insert_facts(
        target,
        [
            (SHOP, TOPIC, row(fetched_at="2025-01-02T06:00:00Z")),
            (SHOP, TOPIC, row(fetched_at="2025-01-04T06:00:00Z")),
            (SHOP, TOPIC, row(fetched_at="2025-01-03T06:00:00Z")),
            ("other.myshopify.com", TOPIC, row()),
        ],
    )
    as_of = "2025-06-30"
    run_dbt(target, "build", "--vars", f"{{as_of_date: '{as_of}'}}")
    plain_sql.run(target, as_of_date=as_of)
    assert plain_sql.compare(target) == {}
