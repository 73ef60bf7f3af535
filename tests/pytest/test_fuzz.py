"""Fuzzed payloads lose nothing: hostile facts next to a good shop, one build.

The corpus (tests/fuzz_corpus.py) is drawn by hypothesis from a fixed seed, so every run builds
the same facts; `python scripts/benchmark.py --fuzz 10000` runs the same check at scale.

The build skips the contract steps: the source gate stops a build when more than 2% of a topic's
new facts are quarantined (contracts/README.md), and this corpus is mostly bad on purpose. What
must hold is that dbt itself never fails on a payload: `check_corpus` raises BuildFailed, naming
each failed node, when it does.
"""

from __future__ import annotations

import json

import pytest

from runner import db
from runner.errors import LoadError
from runner.load import load_file
from tests.fuzz_corpus import check_corpus, check_nights, fixture, generate_corpus
from tests.pytest.helpers import query, scalar

CASES = 400


def test_fuzzed_payloads_are_staged_or_quarantined_and_leave_the_good_shop_alone(new_target):
    corpus = generate_corpus(CASES)
    assert len(corpus) == CASES
    assert corpus == generate_corpus(CASES)  # the same cases on every run

    report = check_corpus(new_target(), new_target(), corpus)

    assert report.lost == []
    assert report.staged + report.quarantined + report.ignored == report.facts
    assert report.facts > CASES  # a case may carry several versions of one entity
    assert report.staged > 0 and report.quarantined > 0 and report.ignored > 0
    assert report.blank_reasons == 0
    assert report.bad_numbers == []
    assert report.wide_ids == []
    assert report.marts_differ == []
    assert report.good_mart_rows == {
        "customer_segments": 1,
        "customer_segment_summary": 1,  # the one customer's segment and stage
        "growth_metrics": 210,  # months from the fixture order (2008) to as_of_date
        "inventory_alerts": 4,
        # kpi_history_days (90) days of the sales tile, the inventory and CX tiles of the day
        "kpi_tiles": 92,
        "marketing_targets": 0,  # the fixture customer does not accept marketing
        "product_categories": 4,
        "seo_dropped_pages": 0,  # the good shop has no organic search rows
    }


def test_fuzzed_facts_arriving_over_three_nights_build_what_one_build_of_them_all_builds(
    new_target,
):
    """The same corpus and the good shop's facts arrive over three nights, each built
    incrementally: versions of one entity fall on different nights and out of order (the good
    shop's refunded order before its paid version). The staging tables, the quarantine and every
    shop's marts equal one build of all the facts, in the same order."""
    corpus = generate_corpus(CASES)

    assert check_nights(new_target(), new_target(), corpus, nights=3) == []


# --- the loader: what jsonb cannot store is named, and nothing of the file is loaded ------------

SHOP = "load.myshopify.com"


def envelope(topic: str, payload: object) -> str:
    return json.dumps({"topic": topic, "shop_domain": SHOP, "payload": payload})


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        # a NUL character: JSON allows it, jsonb refuses it
        (
            envelope("customers/update", {"id": 7, "note": "NUL \x00 here"}),
            "contains \\u0000, which PostgreSQL's jsonb cannot store: "
            + '{"topic": "customers/update", "shop_domain": "load.myshopify.com", "payload": {"…',
        ),
        # a lone surrogate: Python reads it, UTF-8 cannot carry it
        (
            '{"topic": "customers/update", "shop_domain": "load.myshopify.com",'
            ' "payload": {"id": 7, "note": "\\ud800"}}',
            "has text PostgreSQL cannot store (surrogates not allowed)",
        ),
        # deeper than Python's parser recurses (PostgreSQL would take 5,000 levels)
        (
            '{"topic": "orders/create", "payload": {"id": 7, "x": '
            + "[" * 5000
            + "]" * 5000
            + "}}",
            "not JSON (nested more deeply than the loader reads): "
            + '{"topic": "orders/create", "payload": {"id": 7, "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[…',
        ),
    ],
    ids=["nul", "lone-surrogate", "deep-nesting"],
)
def test_a_line_jsonb_cannot_store_is_named_and_the_rest_loads_once_it_is_gone(
    target, tmp_path, bad_line, problem
):
    good = [
        envelope("orders/create", {**fixture("order"), "id": 1}),
        # a backslash and "u0000" is text, which jsonb stores
        envelope("customers/update", {**fixture("customer"), "note": "C:\\u0000 is text"}),
        envelope("products/update", fixture("product")),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join([good[0], good[1], bad_line, good[2]]) + "\n")
    with db.connect(target) as conn, pytest.raises(LoadError) as err:
        load_file(conn, path)
    assert err.value.message == f"hostile.jsonl line 3: {problem}; nothing was loaded"
    assert err.value.exit_code == 4
    assert scalar(target, "select count(*) from facts") == 0

    path.write_text("\n".join(good) + "\n")
    with db.connect(target) as conn:
        assert load_file(conn, path).facts == 3
    assert query(target, "select topic, value->>'id', value->>'note' from facts order by id") == [
        ("shopify.orders", "1", fixture("order")["note"]),
        ("shopify.customers", str(fixture("customer")["id"]), "C:\\u0000 is text"),
        ("shopify.products", str(fixture("product")["id"]), None),
    ]
