"""History the marts do not keep (README "History"): the dbt snapshots of customer segments and
inventory actions, built by the same `dbt build` as the marts, secured like them."""

from __future__ import annotations

import json

import pytest

from runner import db, settings
from tests.pytest.helpers import query, run_dbt
from tests.pytest.test_marts import SHOP, store_database

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("history")

SNAPSHOTS = ("customer_segments_history", "inventory_actions_history")


def build(target: db.Target, as_of: str) -> None:
    run_dbt(
        target,
        "build",
        "--select",
        *(f"+{name}" for name in SNAPSHOTS),
        "--exclude-resource-type",
        "test",
        "unit_test",
        "--vars",
        json.dumps({"as_of_date": as_of}),
    )


@pytest.fixture(scope="module")
def two_builds(hotdash_home):
    """test_marts' store built as of 2025-03-10, then as of 2025-05-10 (61 days later, no new
    facts)."""
    target = store_database(hotdash_home)
    build(target, "2025-03-10")
    first = query(
        target, "select shop_domain, customer_id, lifecycle_stage from marts.customer_segments"
    )
    build(target, "2025-05-10")
    yield target, first
    db.drop_database(target)


def test_a_customer_whose_stage_changes_has_two_rows_the_first_closed(two_builds):
    target, _ = two_builds
    rows = query(
        target,
        "select customer_id, lifecycle_stage, rfm_score, as_of_date::text,"
        " dbt_valid_to is null, dbt_valid_from"
        " from marts.customer_segments_history where shop_domain = %s"
        " and customer_id in (501, 503) order by customer_id, dbt_valid_from",
        (SHOP,),
    )
    # 501: last order 2024-11-25, at risk on both dates (105 and 166 days; recency 2 both):
    # one row, opened by the first build. 503: one order on 2025-03-01, new on 03-10 (9 days);
    # on 05-10 70 days: active, recency 3: a second row, the first closed when it opened.
    assert [row[:5] for row in rows] == [
        (501, "at_risk", "225", "2025-03-10", True),
        (503, "new", "511", "2025-03-10", False),
        (503, "active", "311", "2025-05-10", True),
    ]
    (closed_at,) = query(
        target,
        "select dbt_valid_to from marts.customer_segments_history"
        " where customer_id = 503 and dbt_valid_to is not null",
    )[0]
    assert closed_at == rows[2][5]


def test_the_open_rows_are_the_mart_of_the_last_build(two_builds):
    target, first = two_builds
    now = query(
        target,
        "select shop_domain, customer_id, lifecycle_stage from marts.customer_segments"
        " order by 1, 2",
    )
    assert now != sorted(first)  # the stages moved in 61 days
    assert (
        query(
            target,
            "select shop_domain, customer_id, lifecycle_stage"
            " from marts.customer_segments_history where dbt_valid_to is null order by 1, 2",
        )
        == now
    )
    # "Who moved from active to at_risk this week" is one query; here: who left "new".
    moved = query(
        target,
        "select was.customer_id, was.lifecycle_stage, is_now.lifecycle_stage"
        " from marts.customer_segments_history as was"
        " join marts.customer_segments_history as is_now using (shop_domain, customer_id)"
        " where was.dbt_valid_to = is_now.dbt_valid_from and was.lifecycle_stage = 'new'"
        " order by 1",
    )
    assert [row[0] for row in moved] == sorted(
        customer for shop, customer, stage in first if stage == "new"
    )


def test_an_action_held_since_the_first_build_keeps_one_row(two_builds):
    target, _ = two_builds
    counts = query(
        target,
        "select count(*), count(distinct (shop_domain, variant_id)),"
        " count(*) filter (where dbt_valid_to is null)"
        " from marts.inventory_actions_history",
    )[0]
    actions = query(target, "select count(*) from marts.inventory_alerts")[0][0]
    assert counts[2] == counts[1] == actions > 0
    # A row per variant and per change of its action: more rows than variants only if changed.
    changed = query(
        target,
        "select count(*) from marts.inventory_actions_history where dbt_valid_to is not null",
    )[0][0]
    assert counts[0] == actions + changed


def test_the_snapshots_are_secured_like_the_marts_and_left_out_of_comparisons(two_builds):
    target, _ = two_builds
    flags = query(
        target,
        "select relname, relrowsecurity, relforcerowsecurity from pg_class"
        " where relnamespace = 'marts'::regnamespace and relname = any(%s) order by 1",
        (list(SNAPSHOTS),),
    )
    assert flags == [(name, True, True) for name in SNAPSHOTS]
    assert set(SNAPSHOTS) <= set(settings.BUILD_RECORDS)


SEGMENT_COLUMNS = (
    "shop_domain text, customer_id bigint, primary_segment text, lifecycle_stage text,"
    " recency_score integer, frequency_score integer, monetary_score integer, rfm_score text,"
    " as_of_date date"
)


@pytest.fixture
def segments_by_hand(target):
    """A new database whose marts.customer_segments is written by the test, row by row: the
    snapshot alone (`dbt snapshot`) records what each write left."""
    with db.connect(target) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(f"create table marts.customer_segments ({SEGMENT_COLUMNS})")
    return target


def snapshot_segments(target: db.Target, rows: list[tuple]) -> None:
    """marts.customer_segments holds `rows` (customer_id, lifecycle_stage, rfm_score), then the
    snapshot runs."""
    with db.connect(target) as conn:
        conn.execute("truncate marts.customer_segments")
        for customer, stage, rfm in rows:
            conn.execute(
                "insert into marts.customer_segments values"
                " (%s, %s, 'general', %s, %s, %s, %s, %s, date '2025-03-10')",
                (SHOP, customer, stage, int(rfm[0]), int(rfm[1]), int(rfm[2]), rfm),
            )
    run_dbt(target, "snapshot", "--select", "customer_segments_history")


# What the mart holds on each night (customer_id, lifecycle_stage, rfm_score), and the history the
# snapshot then holds (customer_id, lifecycle_stage, rfm_score, open). Night 2: 1 keeps its stage
# and scores (rfm_score is not a checked column): nothing new; 2 has a new stage: its row closed,
# a new one opened; 3 is gone from the mart: closed; 4 is new: opened. Night 3: 3 is back, and 3
# and 4 have a new frequency score: 3 opened, 4 closed and opened.
SNAPSHOT_NIGHTS = [
    (
        [(1, "active", "311"), (2, "active", "311"), (3, "new", "511")],
        [(1, "active", "311", True), (2, "active", "311", True), (3, "new", "511", True)],
    ),
    (
        [(1, "active", "311"), (2, "at_risk", "211"), (4, "new", "511")],
        [
            (1, "active", "311", True),
            (2, "active", "311", False),
            (2, "at_risk", "211", True),
            (3, "new", "511", False),
            (4, "new", "511", True),
        ],
    ),
    (
        [(1, "active", "311"), (2, "at_risk", "211"), (3, "new", "521"), (4, "new", "521")],
        [
            (1, "active", "311", True),
            (2, "active", "311", False),
            (2, "at_risk", "211", True),
            (3, "new", "511", False),
            (3, "new", "521", True),
            (4, "new", "511", False),
            (4, "new", "521", True),
        ],
    ),
]


def test_the_snapshot_opens_closes_and_reopens_rows_as_the_mart_changes(segments_by_hand):
    target = segments_by_hand
    history = (
        "select customer_id, lifecycle_stage, rfm_score, dbt_valid_to is null"
        " from marts.customer_segments_history order by customer_id, dbt_valid_from"
    )
    for night, (mart, expected) in enumerate(SNAPSHOT_NIGHTS, start=1):
        snapshot_segments(target, mart)
        assert query(target, history) == expected, f"night {night}"
        # one build's time closes the old rows and opens the new ones
        closed, opened = query(
            target,
            "select max(dbt_valid_to), max(dbt_valid_from) from marts.customer_segments_history",
        )[0]
        assert (closed is None) if night == 1 else (closed == opened), f"night {night}"
