"""Instagram (Graph API media and media insights): staged like the other topics.

A media fact is one item of a GET /{ig-user-id}/media response, the IG Media object unchanged,
wrapped with the account's id and the fetch time; an insights fact is one GET
/{ig-media-id}/insights response, unchanged, wrapped with the media id and the fetch time. The
fixtures (tests/fixtures/instagram) are the API's responses: the tests wrap them as the app does.

Most tests read one database built once for the module (the fixtures, every malformed fact,
the edges and the revisions below, each of its own shop or media id); the incremental test
builds its own.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import contracts, db
from runner.facts import ensure_facts_table
from runner.ops import ensure_ops_tables
from tests.pytest.helpers import PROJECT_DIR, insert_facts, query, run_dbt, table_rows

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("instagram")

SHOP = "test.myshopify.com"
REVISED = "revised.myshopify.com"  # one media and its insights fetched three times
OTHER = "other.myshopify.com"  # the same media id as REVISED's: another shop's media
INSTAGRAM_DIR = PROJECT_DIR / "tests" / "fixtures" / "instagram"
MEDIA = "instagram.media"
INSIGHTS = "instagram.media_insights"
FETCHED = "2025-01-03T06:00:00Z"
ACCOUNT = "41408147298757123"  # the fixtures' owner.id
AS_OF = "2025-06-30"
UTC = datetime.UTC
MEDIA_COLUMNS = (
    "media_id, ig_user_id, posted_at, media_type, media_product_type, permalink, like_count,"
    " comments_count, fetched_at"
)
METRICS = (
    "reach, views, impressions, video_views, plays, likes, comments, saved, shares,"
    " total_interactions, follows, profile_visits"
)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


def fixture(name: str) -> dict:
    return json.loads((INSTAGRAM_DIR / name).read_text())


def media_key(media_id: str) -> int:
    """instagram_media_key: the first 64 bits of the md5 of the id's text, signed."""
    return int.from_bytes(hashlib.md5(media_id.encode()).digest()[:8], "big", signed=True)


def media_fact(media: object, fetched_at: str | None = FETCHED, **wrapper: object) -> dict:
    """What the app stores for one item of a media list."""
    fact: dict = {"ig_user_id": ACCOUNT, **wrapper, "media": media}
    if fetched_at is not None:
        fact["fetched_at"] = fetched_at
    return fact


def insights_fact(media_id: object, response: object, fetched_at: str = FETCHED) -> dict:
    """What the app stores for one insights response."""
    return {"media_id": media_id, "fetched_at": fetched_at, "insights": response}


def media(media_id: str = "17900000000000001", **fields: object) -> dict:
    item = {
        "id": media_id,
        "caption": "new headers on the '32",
        "comments_count": 3,
        "like_count": 40,
        "media_type": "IMAGE",
        "media_product_type": "FEED",
        "owner": {"id": ACCOUNT},
        "permalink": f"https://www.instagram.com/p/{media_id}/",
        "timestamp": "2025-01-02T17:05:00+0000",
        "username": "hotrodan",
        **fields,
    }
    return {k: v for k, v in item.items() if v is not None}


def metric(name: str, value: object, period: str = "lifetime") -> dict:
    return {"name": name, "period": period, "values": [{"value": value}], "id": f"x/{name}"}


def insights(*data: dict) -> dict:
    return {"data": list(data)}


def _without(fact: dict, *path: str) -> dict:
    fact = json.loads(json.dumps(fact))
    inner = fact
    for key in path[:-1]:
        inner = inner[key]
    del inner[path[-1]]
    return fact


MALFORMED_MEDIA = [
    ("[]", "payload is a JSON array, not an object"),
    (media_fact(media(), fetched_at=None), "fetched_at is missing"),
    (media_fact(media(), fetched_at="soon"), "fetched_at is not a timestamp"),
    (_without(media_fact(media()), "media"), "media is missing"),
    (media_fact("17900000000000001"), "media is not an object"),
    (media_fact(media(id=None)), "media.id is missing"),
    (media_fact(media(id=17900000000000001)), "media.id is not a string of digits"),
    (media_fact(media(id="ig_17900000000000001")), "media.id is not a string of digits"),
    (_without(media_fact(media(owner=None)), "ig_user_id"), "ig_user_id is missing"),
    (media_fact(media(timestamp=None)), "media.timestamp is missing"),
    (media_fact(media(timestamp="2023-02-29T19:20:02+0000")), "media.timestamp is not a timestamp"),
    (media_fact(media(like_count=-1)), "media.like_count is not a count"),
    (media_fact(media(like_count=1.5)), "media.like_count is not a count"),
    (media_fact(media(comments_count="many")), "media.comments_count is not a count"),
]  # fmt: skip

MALFORMED_INSIGHTS = [
    ("[]", "payload is a JSON array, not an object"),
    ({"fetched_at": FETCHED, "insights": insights(metric("reach", 1))}, "media_id is missing"),
    (insights_fact(17900000000000001, insights(metric("reach", 1))), "media_id is not a string of digits"),
    ({"media_id": "17900000000000001", "insights": insights()}, "fetched_at is missing"),
    (insights_fact("17900000000000001", None), "insights is not an object"),
    (insights_fact("17900000000000001", {"data": {"reach": 1}}), "insights.data is not an array"),
    (insights_fact("17900000000000001", insights(metric("reach", -1))), "a metric value is not a count"),
    (insights_fact("17900000000000001", insights(metric("saved", 1.5))), "a metric value is not a count"),
    (insights_fact("17900000000000001", insights(metric("views", "n/a"))), "a metric value is not a count"),
    (insights_fact("17900000000000001", insights({"name": "likes", "period": "lifetime", "values": []})), "a metric value is not a count"),
]  # fmt: skip

# Each rule's other side: these stage.
EDGE_MEDIA = [
    # an id that starts with 0 is another media than the same digits without it
    media_fact(media("0790000000000002", like_count=0, comments_count=None)),
    media_fact(media("790000000000002", like_count="7", comments_count=1.0)),
    # no owner: the wrapper's account
    media_fact(media("17900000000000003", owner=None), ig_user_id="0555"),
]
EDGE_INSIGHTS = insights_fact(
    "0790000000000002",
    insights(
        metric("reach", 0),
        metric("reach", 5, period="day"),  # not lifetime: not staged
        metric("views", "12"),
        metric("ig_reels_avg_watch_time", "n/a"),  # not staged: never judged
        {
            "name": "total_interactions",
            "period": "lifetime",
            "values": [{"value": 3}, {"value": 9}],
        },
    ),
)
WARNED_MEDIA = [
    (media_fact(media("17900000000000004", media_type="GIF")), ["media_type GIF is not known"]),
    (media_fact(media("17900000000000005", media_product_type="CLIPS")), ["media_product_type CLIPS is not known"]),
    (media_fact(media("17900000000000006", timestamp="2100-01-01T00:00:00+0000")), ["media.timestamp is in the future"]),
    (media_fact(media("17900000000000007"), fetched_at="2100-01-01T00:00:00Z"), ["fetched_at is in the future"]),
]  # fmt: skip
WARNED_INSIGHTS = [
    (
        insights_fact("17900000000000007", insights(metric("reach", 1)), "2100-01-01T00:00:00Z"),
        ["fetched_at is in the future"],
    ),
]
REVISED_ID = "0700000000000001"
REVISIONS = [  # (fetched_at, like_count, reach), in the order stored
    ("2025-01-02T06:00:00Z", 10, 100),
    ("2025-01-04T06:00:00Z", 15, 150),  # fetched last
    ("2025-01-03T06:00:00Z", 11, 120),  # stored last
]


def fixture_facts() -> list[tuple[str, str, object]]:
    """The fixtures as the app stores them: each media item, each insights response wrapped."""
    return [
        *((SHOP, MEDIA, media_fact(item)) for item in fixture("media.json")["data"]),
        (SHOP, INSIGHTS, insights_fact("84386203808767123", fixture("media_insights_reels.json"))),
        (
            SHOP,
            INSIGHTS,
            insights_fact("35076616084176123", fixture("media_insights_general_media.json")),
        ),
    ]


def revision_facts() -> list[tuple[str, str, object]]:
    facts: list[tuple[str, str, object]] = []
    for fetched_at, likes, reach in REVISIONS:
        facts.append((REVISED, MEDIA, media_fact(media(REVISED_ID, like_count=likes), fetched_at)))
        facts.append(
            (REVISED, INSIGHTS, insights_fact(REVISED_ID, insights(metric("reach", reach)), fetched_at))
        )  # fmt: skip
    facts.append((OTHER, MEDIA, media_fact(media(REVISED_ID, like_count=3))))
    return facts


class Built:
    def __init__(self, target: db.Target, ids: dict[str, list[int]], report: object) -> None:
        self.target = target
        self.ids = ids
        self.source_report = report


@pytest.fixture(scope="module")
def built(hotdash_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Every fact of this module in one database: the source contracts run on the new facts,
    then one dbt build of the whole project."""
    target = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=f"t_ig_{uuid.uuid4().hex[:8]}")
    with db.connect(target) as conn:
        ensure_facts_table(conn)
        ensure_ops_tables(conn)
    try:
        ids = {
            "fixtures": insert_facts(target, fixture_facts()),
            "malformed_media": insert_facts(target, [(SHOP, MEDIA, b) for b, _ in MALFORMED_MEDIA]),
            "malformed_insights": insert_facts(
                target, [(SHOP, INSIGHTS, b) for b, _ in MALFORMED_INSIGHTS]
            ),
            "edges": insert_facts(
                target, [*((SHOP, MEDIA, f) for f in EDGE_MEDIA), (SHOP, INSIGHTS, EDGE_INSIGHTS)]
            ),
            "warned": insert_facts(
                target,
                [
                    *((SHOP, MEDIA, f) for f, _ in WARNED_MEDIA),
                    *((SHOP, INSIGHTS, f) for f, _ in WARNED_INSIGHTS),
                ],
            ),
            "revisions": insert_facts(target, revision_facts()),
        }
        session = contracts.ContractSession(tmp_path_factory.mktemp("ig_contracts"))
        report = contracts.run_contracts(target, "source", session=session)
        run_dbt(target, "build", "--vars", f"{{as_of_date: '{AS_OF}'}}")
        yield Built(target, ids, report)
    finally:
        db.drop_database(target)


FIXTURE_MEDIA = [
    ("84386203808767123", "2023-06-12T19:20:02+00:00", "VIDEO", "REELS", 12, 2),
    ("64256500936159123", "2023-05-19T20:08:33+00:00", "VIDEO", "REELS", 10, 0),
    ("90014330517797123", "2022-09-15T11:33:25+00:00", "VIDEO", "FEED", 2, 0),
    ("66123508374641123", "2021-03-03T22:48:39+00:00", "CAROUSEL_ALBUM", "FEED", 8, 0),
    ("36549181220554123", "2019-10-29T12:42:01+00:00", "IMAGE", "FEED", 27, 0),
    ("75586031270759123", "2019-06-26T11:42:01+00:00", "IMAGE", "FEED", 249, 5),
    ("35076616084176123", "2019-05-02T11:42:01+00:00", "IMAGE", "FEED", 52, 0),
]


def test_each_fixture_media_stages_exactly(built):
    """Airbyte's media list: the seven items, their ids as text, their `+0000` times exact."""
    ids = [row[0] for row in FIXTURE_MEDIA]
    assert query(
        built.target,
        f"select media_key, {MEDIA_COLUMNS} from staging.stg_instagram__media"
        " where shop_domain = %s and media_id = any(%s) order by posted_at desc",
        (SHOP, ids),
    ) == [
        (media_key(media_id), media_id, ACCOUNT, at(posted), kind, product,
         "https://instagram.com/permalink/123", likes, comments, at(FETCHED))
        for media_id, posted, kind, product, likes, comments in FIXTURE_MEDIA
    ]  # fmt: skip
    assert (
        query(
            built.target,
            "select reason, warnings from ops.facts_triage where fact_id = any(%s)",
            (built.ids["fixtures"],),
        )
        == [(None, None)] * 9
    )


def test_each_fixture_insights_response_stages_exactly(built):
    """The reel's and the image's insights, pivoted; metrics they lack are null, the reel's
    ig_reels_* and clips_replays_count are not staged."""
    assert query(
        built.target,
        f"select media_key, media_id, {METRICS}, fetched_at"
        " from staging.stg_instagram__media_insights where shop_domain = %s"
        " and media_id = any(%s) order by media_id",
        (SHOP, ["84386203808767123", "35076616084176123"]),
    ) == [
        # reach, views, impressions, video_views, plays, likes, comments, saved, shares,
        # total_interactions, follows, profile_visits
        (media_key("35076616084176123"), "35076616084176123",
         8000, None, None, 5000, None, 150, 50, 200, 25, None, 53, 9, at(FETCHED)),
        (media_key("84386203808767123"), "84386203808767123",
         2006, None, None, None, 2385, 108, 7, 7, 1, None, None, None, at(FETCHED)),
    ]  # fmt: skip


def test_malformed_instagram_facts_are_quarantined_with_their_reason(built):
    reasons = dict(
        query(
            built.target,
            "select fact_id, reason from ops.facts_quarantine where fact_id = any(%s)",
            (built.ids["malformed_media"] + built.ids["malformed_insights"],),
        )
    )
    expected = [reason for _, reason in MALFORMED_MEDIA + MALFORMED_INSIGHTS]
    assert reasons == dict(
        zip(built.ids["malformed_media"] + built.ids["malformed_insights"], expected, strict=True)
    )
    # nothing else of the module is quarantined
    assert query(
        built.target, "select count(*) from ops.facts_quarantine where topic like 'instagram.%%'"
    ) == [(len(expected),)]


def test_each_rules_other_side_stages(built):
    """Ids that differ by a leading 0 are two media; a count of 0, "7" or 1.0 or none; the
    wrapper's account when the media has no owner; a metric of another period, an unknown one
    with any value, and a count written as a string."""
    assert query(
        built.target,
        "select media_id, ig_user_id, like_count, comments_count from staging.stg_instagram__media"
        " where media_id = any(%s) order by media_id",
        (["0790000000000002", "790000000000002", "17900000000000003"],),
    ) == [
        ("0790000000000002", ACCOUNT, 0, None),
        ("17900000000000003", "0555", 40, 3),
        ("790000000000002", ACCOUNT, 7, 1),
    ]
    row = query(
        built.target,
        f"select media_key, {METRICS} from staging.stg_instagram__media_insights"
        " where media_id = '0790000000000002'",
    )
    # reach (lifetime) 0, views "12", total_interactions its values[0]; nothing else
    assert row == [
        (media_key("0790000000000002"), 0, 12, None, None, None, None, None, None, None, 3, None,
         None),
    ]  # fmt: skip


def test_instagram_warnings_flag_without_quarantining(built):
    expected = [w for _, w in WARNED_MEDIA] + [w for _, w in WARNED_INSIGHTS]
    assert query(
        built.target,
        "select reason, warnings from ops.facts_triage where fact_id = any(%s) order by fact_id",
        (built.ids["warned"],),
    ) == [(None, warnings) for warnings in expected]
    assert query(
        built.target,
        "select media_type, media_product_type from staging.stg_instagram__media"
        " where media_id in ('17900000000000004', '17900000000000005') order by media_id",
    ) == [("GIF", "FEED"), ("IMAGE", "CLIPS")]


def test_the_latest_instagram_fetch_wins_per_shop(built):
    """Three fetches of one media and of its insights: the one made last wins, not the one
    stored last; the same id in another shop is that shop's media."""
    assert query(
        built.target,
        "select m.shop_domain, m.media_id, m.like_count, m.fetched_at, i.reach, i.fetched_at"
        " from staging.stg_instagram__media as m left join staging.stg_instagram__media_insights"
        " as i using (shop_domain, media_key) where m.media_id = %s order by 1",
        (REVISED_ID,),
    ) == [
        (OTHER, REVISED_ID, 3, at(FETCHED), None, None),
        (REVISED, REVISED_ID, 15, at("2025-01-04T06:00:00Z"), 150, at("2025-01-04T06:00:00Z")),
    ]


def test_each_instagram_reason_and_warning_has_its_own_expectation(built):
    counted = {
        (o.suite, o.expectation): o.unexpected_count
        for o in built.source_report.outcomes
        if o.unexpected_count and o.relation == contracts.TRIAGE
    }
    assert not [key for key in counted if key[1] == "no_other_verdicts"], counted
    for suite in ("source_instagram_media", "source_instagram_media_insights"):
        counted.pop((suite, "quarantine_share_is_small"), None)
    media, insights_ = "source_instagram_media", "source_instagram_media_insights"
    assert counted == {
        (media, "payload_is_a_media_of_an_account"): 7,
        (media, "fetched_at_parses"): 2,
        (media, "has_a_post_time"): 2,
        (media, "counts_are_counts"): 3,
        (media, "types_are_known"): 2,
        (media, "post_time_is_not_in_the_future"): 1,
        (media, "fetched_at_is_not_in_the_future"): 1,
        (insights_, "payload_is_of_a_media"): 3,
        (insights_, "fetched_at_parses"): 1,
        (insights_, "response_has_its_data"): 2,
        (insights_, "metrics_are_counts"): 4,
        (insights_, "fetched_at_is_not_in_the_future"): 1,
    }


def test_the_plain_sql_twin_stages_these_facts_exactly_as_dbt(built):
    """scripts/plain_sql.py's judge and staging of both topics, on every fact above, equal
    dbt's row for row."""
    import sys

    sys.path.insert(0, str(PROJECT_DIR / "scripts"))
    import plain_sql

    plain_sql.run(built.target, as_of_date=AS_OF)
    assert plain_sql.compare(built.target) == {}


STAGED_TABLES = [
    "staging.stg_instagram__media",
    "staging.stg_instagram__media_insights",
    "ops.facts_quarantine",
]


def test_instagram_incremental_runs_equal_a_full_refresh(new_target):
    facts = [
        *revision_facts(),
        *((SHOP, MEDIA, b) for b, _ in MALFORMED_MEDIA[5:8]),
        *((SHOP, MEDIA, f) for f in EDGE_MEDIA),
        (SHOP, INSIGHTS, EDGE_INSIGHTS),
        (
            SHOP,
            INSIGHTS,
            insights_fact("0790000000000002", insights(metric("reach", 9)), "2025-01-01T00:00:00Z"),
        ),
    ]
    incremental, full = new_target(), new_target()
    size = -(-len(facts) // 3)
    stored = datetime.datetime(2025, 1, 5, tzinfo=UTC)
    for start in range(0, len(facts), size):
        insert_facts(incremental, facts[start : start + size], created_at=stored)
        run_dbt(incremental, "build", "--select", "+facts_quarantine", "staging")
    insert_facts(full, facts, created_at=stored)
    run_dbt(full, "build", "--select", "+facts_quarantine", "staging", "--full-refresh")
    assert {t: table_rows(incremental, t) for t in STAGED_TABLES} == {
        t: table_rows(full, t) for t in STAGED_TABLES
    }
    assert query(
        full,
        "select shop_domain, media_id, like_count from staging.stg_instagram__media order by 1, 2",
    ) == [
        (OTHER, REVISED_ID, 3),
        (REVISED, REVISED_ID, 15),
        (SHOP, "0790000000000002", 0),
        (SHOP, "17900000000000003", 40),
        (SHOP, "790000000000002", 7),
    ]
    assert query(
        full, "select media_id, reach, fetched_at from staging.stg_instagram__media_insights"
        " order by 1",
    ) == [("0700000000000001", 150, at("2025-01-04T06:00:00Z")), ("0790000000000002", 0, at(FETCHED))]  # fmt: skip
