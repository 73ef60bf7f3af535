"""Fuzzed payloads lose nothing: hostile facts next to a good shop, one build.

The corpus (tests/fuzz_corpus.py) is drawn by hypothesis from a fixed seed, so every run builds
the same facts; `python scripts/benchmark.py --fuzz 10000` runs the same check at scale.

The build skips the contract steps: the source gate stops a build when more than 2% of a topic's
new facts are quarantined (contracts/README.md), and this corpus is mostly bad on purpose. What
must hold is that dbt itself never fails on a payload: `check_corpus` raises BuildFailed, naming
each failed node, when it does.
"""

from __future__ import annotations

from tests.fuzz_corpus import check_corpus, generate_corpus

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
