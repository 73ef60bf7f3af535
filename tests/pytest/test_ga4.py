"""GA4 (Data API runReport rows, the landing pages report): staged like the other topics.

A fact is one row of a runReport response, unchanged (report_row: dimensionValues and
metricValues, every value a string), with the report's dimension_headers and metric_headers
(values are positional), the property, its currency and time zone, and when the app fetched it.
"""

from __future__ import annotations

import datetime
import json
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
GA4_DIR = PROJECT_DIR / "tests" / "fixtures" / "ga4"
TOPIC = "ga4.landing_pages"
PROPERTY = "123456789"
UTC = datetime.UTC
COLUMNS = (
    "property_id, report_date, landing_page, channel_group, source_medium, device_category,"
    " sessions, engaged_sessions, active_users, new_users, key_events, total_revenue,"
    " currency_code, time_zone, fetched_at"
)
FETCHED = "2025-01-03T06:00:00Z"


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


def fixture(name: str):
    return json.loads((GA4_DIR / name).read_text())


def facts_of_response(response: dict, fetched_at: str = FETCHED) -> list[dict]:
    """What the app stores for one response: a fact per row, with the response's headers."""
    metadata = response.get("metadata", {})
    return [
        {
            "property_id": PROPERTY,
            "dimension_headers": response["dimensionHeaders"],
            "metric_headers": response["metricHeaders"],
            "report_row": row,
            "currency_code": metadata.get("currencyCode"),
            "time_zone": metadata.get("timeZone"),
            "fetched_at": fetched_at,
        }
        for row in response["rows"]
    ]


DIMENSIONS = ["date", "landingPagePlusQueryString", "sessionDefaultChannelGroup"]
METRICS = [("sessions", "TYPE_INTEGER"), ("keyEvents", "TYPE_FLOAT"), ("totalRevenue", "TYPE_CURRENCY")]  # fmt: skip


def row(
    date="20250101",
    page="/products/ls-swap-kit",
    channel="Organic Search",
    sessions="12",
    key_events="1",
    revenue="249.9900",
    fetched_at=FETCHED,
    dimensions=DIMENSIONS,
    metrics=METRICS,
    **extra,
) -> dict:
    values = {
        "date": date,
        "landingPagePlusQueryString": page,
        "landingPage": page,
        "sessionDefaultChannelGroup": channel,
    }
    metric_values = {
        "sessions": sessions,
        "keyEvents": key_events,
        "conversions": key_events,
        "totalRevenue": revenue,
    }
    return {
        "property_id": PROPERTY,
        "dimension_headers": [{"name": name} for name in dimensions],
        "metric_headers": [{"name": name, "type": kind} for name, kind in metrics],
        "report_row": {
            "dimensionValues": [{"value": values[name]} for name in dimensions],
            "metricValues": [{"value": metric_values[name]} for name, _ in metrics],
        },
        "currency_code": "USD",
        "time_zone": "America/Los_Angeles",
        "fetched_at": fetched_at,
        **extra,
    }  # fmt: skip


def test_each_ga4_fixture_row_stages_or_is_quarantined_exactly(target):
    """Google's samples: the rows without a date dimension (by country; by platform over two
    date ranges; by city) are quarantined; the row by date stages with its exact values."""
    fragments = fixture("run_report_row_fragments.json")
    by_date = {
        "property_id": PROPERTY,
        # the page gives this row's request, not its headers: metrics in the request's order
        "dimension_headers": [{"name": "date"}],
        "metric_headers": [
            {"name": "activeUsers", "type": "TYPE_INTEGER"},
            {"name": "newUsers", "type": "TYPE_INTEGER"},
            {"name": "totalRevenue", "type": "TYPE_CURRENCY"},
        ],
        "report_row": fragments[0],
        "fetched_at": FETCHED,
    }
    by_city = {
        **by_date,
        "dimension_headers": [{"name": "country"}, {"name": "region"}, {"name": "city"}],
        "metric_headers": [{"name": "activeUsers", "type": "TYPE_INTEGER"}],
        "report_row": fragments[1],
    }
    no_date = [
        *facts_of_response(fixture("run_report_country.json")),
        *facts_of_response(fixture("run_report_two_date_ranges.json")),
        by_city,
    ]
    ids = insert_facts(target, [(SHOP, TOPIC, fact) for fact in [by_date, *no_date]])
    build_staging(target)

    assert query(target, "select fact_id, reason from ops.facts_quarantine order by 1") == [
        (fact_id, "the date is missing") for fact_id in ids[1:]
    ]
    assert len(ids) == 6
    assert query(
        target, f"select {COLUMNS} from staging.stg_ga4__landing_pages"
    ) == [
        (int(PROPERTY), datetime.date(2023, 10, 25), None, None, None, None, None, None,
         Decimal("1135"), Decimal("512"), None, Decimal("73.0841"), None, None, at(FETCHED)),
    ]  # fmt: skip


def _without(key: str) -> dict:
    fact = row()
    del fact[key]
    return fact


def _values(kind: str, values: list) -> dict:
    fact = row()
    fact["report_row"][kind] = values
    return fact


MALFORMED = [
    ("[]", "payload is a JSON array, not an object"),
    (_without("property_id"), "property_id is missing"),
    ({**row(), "property_id": "properties/123"}, "property_id is not an integer"),
    (row(fetched_at="soon"), "fetched_at is not a timestamp"),
    (_without("dimension_headers"), "dimension_headers is not an array"),
    ({**row(), "metric_headers": {"sessions": "x"}}, "metric_headers is not an array"),
    ({**row(), "report_row": "12"}, "report_row is not an object"),
    (_values("dimensionValues", [{"value": "20250101"}]), "dimensionValues do not match dimension_headers"),
    (_values("metricValues", None), "metricValues do not match metric_headers"),
    (row(dimensions=["landingPagePlusQueryString"]), "the date is missing"),
    (row(date="2025-01-01"), "the date is not a date"),
    (row(date="20250229"), "the date is not a date"),
    (row(sessions="twelve"), "a metric value is not a number"),
    (_values("metricValues", [{"value": "1"}, {}, {"value": "2"}]), "a metric value is not a number"),
    (row(sessions="-1"), "sessions is negative"),
    (row(sessions="1.5"), "sessions is not a whole number"),
]  # fmt: skip


def test_malformed_ga4_facts_are_quarantined_with_their_reason(target):
    ids = insert_facts(target, [(SHOP, TOPIC, body) for body, _ in MALFORMED])
    good = insert_facts(
        target,
        [
            (SHOP, TOPIC, row(page="/future", date="21000101")),
            # other channels are kept; "(not set)" is a value
            (SHOP, TOPIC, row(page="(not set)", channel="Direct", key_events="0.5")),
            # the former name of key events, and legacy landingPage
            (SHOP, TOPIC, row(page="/legacy", dimensions=["date", "landingPage", "sessionDefaultChannelGroup"], metrics=[("sessions", "TYPE_INTEGER"), ("conversions", "TYPE_FLOAT")])),
        ],
    )  # fmt: skip
    build_staging(target)
    reasons = dict(query(target, "select fact_id, reason from ops.facts_quarantine"))
    assert reasons == {ids[i]: reason for i, (_, reason) in enumerate(MALFORMED)}
    assert query(
        target,
        "select fact_id, warnings from ops.facts_triage where warnings is not null"
        " and reason is null order by 1",
    ) == [(good[0], ["the date is in the future"])]
    assert query(
        target,
        "select landing_page, channel_group, sessions, key_events, total_revenue"
        " from staging.stg_ga4__landing_pages order by 1",
    ) == [
        ("(not set)", "Direct", 12, Decimal("0.5"), Decimal("249.9900")),
        ("/future", "Organic Search", 12, Decimal("1"), Decimal("249.9900")),
        ("/legacy", "Organic Search", 12, Decimal("1"), None),
    ]


def test_the_latest_ga4_fetch_wins_whatever_the_header_order(target):
    later = row(sessions="15", fetched_at="2025-01-04T06:00:00Z")
    later["dimension_headers"].reverse()
    later["report_row"]["dimensionValues"].reverse()
    insert_facts(
        target,
        [
            (SHOP, TOPIC, row(sessions="10", fetched_at="2025-01-02T06:00:00Z")),
            (SHOP, TOPIC, later),
            (SHOP, TOPIC, row(sessions="11", fetched_at="2025-01-03T06:00:00Z")),  # stored last
            (SHOP, TOPIC, row(channel="Direct")),
            ("other.myshopify.com", TOPIC, row()),
        ],
    )
    build_staging(target)
    assert query(
        target,
        "select shop_domain, channel_group, sessions, fetched_at"
        " from staging.stg_ga4__landing_pages order by 1, 2",
    ) == [
        ("other.myshopify.com", "Organic Search", 12, at(FETCHED)),
        (SHOP, "Direct", 12, at(FETCHED)),
        (SHOP, "Organic Search", 15, at("2025-01-04T06:00:00Z")),
    ]


STAGED_TABLES = ["staging.stg_ga4__landing_pages", "ops.facts_quarantine"]


# Three arrivals: two incremental runs after the first (test_staging also splits in two).
@pytest.mark.parametrize("batches", [3])
def test_ga4_incremental_runs_equal_a_full_refresh(new_target, batches):
    facts = [
        (SHOP, TOPIC, row(sessions="10", fetched_at="2025-01-02T06:00:00Z")),
        (SHOP, TOPIC, row(page="/b", fetched_at="2025-01-02T06:00:00Z")),
        (SHOP, TOPIC, row(sessions="15", fetched_at="2025-01-05T06:00:00Z")),
        (SHOP, TOPIC, row(page="/b", sessions="-1")),
        (SHOP, TOPIC, row(sessions="11", fetched_at="2025-01-03T06:00:00Z")),
        (SHOP, TOPIC, row(page="/b", sessions="20", fetched_at="2025-01-06T06:00:00Z")),
        (SHOP, TOPIC, row(date="20250102")),
    ]
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
        full, "select report_date, landing_page, sessions from staging.stg_ga4__landing_pages"
        " order by 1, 2",
    ) == [
        (datetime.date(2025, 1, 1), "/b", 20),
        (datetime.date(2025, 1, 1), "/products/ls-swap-kit", 15),
        (datetime.date(2025, 1, 2), "/products/ls-swap-kit", 12),
    ]  # fmt: skip


def test_each_ga4_reason_and_warning_has_its_own_expectation(target, tmp_path):
    insert_facts(target, [(SHOP, TOPIC, body) for body, _ in MALFORMED])
    insert_facts(
        target,
        [
            (SHOP, TOPIC, row(page="/future", date="21000101")),
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
    counted.pop(("source_ga4_landing_pages", "quarantine_share_is_small"), None)
    assert sum(counted.values()) == len(MALFORMED) + 2
    suite = "source_ga4_landing_pages"
    assert counted[(suite, "metrics_are_numbers")] == 4
    assert counted[(suite, "row_matches_its_headers")] == 5
    assert counted[(suite, "date_is_not_in_the_future")] == 1
    assert counted[(suite, "fetched_at_is_not_in_the_future")] == 1


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
