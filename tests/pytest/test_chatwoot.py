"""The support inbox (Chatwoot webhooks): staged exactly like the Shopify topics."""

from __future__ import annotations

import copy
import datetime
import json

import pytest

from runner import contracts
from tests.pytest.helpers import (
    PROJECT_DIR,
    build_staging,
    insert_facts,
    query,
    table_rows,
)

SHOP = "test.myshopify.com"
CHATWOOT_DIR = PROJECT_DIR / "tests" / "fixtures" / "chatwoot"
CONVERSATIONS = "chatwoot.conversations"
MESSAGES = "chatwoot.messages"
UTC = datetime.UTC


def payload(name: str) -> dict:
    return json.loads((CHATWOOT_DIR / f"{name}.json").read_text())


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


CONVERSATION_COLUMNS = (
    "conversation_id, account_id, inbox_id, channel, status, priority, assignee_id, team_id,"
    " contact_id, created_at, first_reply_created_at, waiting_since, last_activity_at,"
    " snoozed_until, updated_at, last_event"
)
MESSAGE_COLUMNS = (
    "message_id, conversation_id, account_id, inbox_id, message_type, content_type, is_private,"
    " sender_type, sender_id, created_at, csat_rating, last_event"
)


def conversations(target) -> list[tuple]:
    return query(
        target,
        f"select {CONVERSATION_COLUMNS} from staging.stg_chatwoot__conversations"
        " order by shop_domain, conversation_id",
    )


def messages(target) -> list[tuple]:
    return query(
        target,
        f"select {MESSAGE_COLUMNS} from staging.stg_chatwoot__messages"
        " order by shop_domain, message_id",
    )


def test_each_chatwoot_fixture_stages_to_its_exact_row(target):
    """Every fixture alone in its shop, so each stages (or not) on its own."""
    insert_facts(
        target,
        [
            ("created.example", CONVERSATIONS, payload("conversation_created")),
            ("resolved.example", CONVERSATIONS, payload("conversation_status_changed")),
            ("docs.example", MESSAGES, payload("message_created.docs_sample")),
            ("reply.example", MESSAGES, payload("message_created")),
            ("csat.example", MESSAGES, payload("message_updated.csat")),
        ],
    )
    build_staging(target)

    assert query(target, "select fact_id, reason from ops.facts_quarantine") == []
    assert query(
        target,
        f"select shop_domain, {CONVERSATION_COLUMNS} from staging.stg_chatwoot__conversations"
        " order by shop_domain",
    ) == [
        (
            "created.example", 207, 1, 3, "Channel::WebWidget", "open", None, None, None, 5012,
            at("2024-05-01T10:00:00Z"), None, at("2024-05-01T10:00:00Z"),
            at("2024-05-01T10:00:00Z"), None, at("2024-05-01T10:00:00.512345Z"),
            "conversation_created",
        ),
        (
            "resolved.example", 207, 1, 3, "Channel::WebWidget", "resolved", None, 12, None,
            5012, at("2024-05-01T10:00:00Z"), at("2024-05-01T10:04:12.345Z"), None,
            at("2024-05-01T10:14:50Z"), None, at("2024-05-01T10:15:00.250001Z"),
            "conversation_status_changed",
        ),
    ]  # fmt: skip
    assert query(
        target,
        f"select shop_domain, {MESSAGE_COLUMNS} from staging.stg_chatwoot__messages"
        " order by shop_domain",
    ) == [
        (
            "csat.example", 9004, 207, 1, 3, "template", "input_csat", False, None, None,
            at("2024-05-01T10:15:00.100Z"), 4, "message_updated",
        ),
        # Chatwoot's documentation sample: ids as strings, the conversation by display_id only,
        # created_at as Ruby writes a UTC time, no private flag, no sender type
        (
            "docs.example", 1, 1, 1, None, "incoming", "enum", False, None, 1,
            at("2020-03-03T13:05:57Z"), None, "message_created",
        ),
        (
            "reply.example", 9001, 207, 1, 3, "outgoing", "text", False, "user", 12,
            at("2024-05-01T10:04:12.345Z"), None, "message_created",
        ),
    ]  # fmt: skip
    # nothing personal is staged: the contact's and the agent's names and emails stay in facts
    columns = query(
        target,
        "select column_name from information_schema.columns where table_schema = 'staging'"
        " and table_name like 'stg_chatwoot%%'",
    )
    assert not {c for (c,) in columns} & {"name", "email", "content", "phone_number"}


def conversation(conversation_id: int, updated_at: float, **changes) -> dict:
    body = copy.deepcopy(payload("conversation_created"))
    body.update(id=conversation_id, updated_at=updated_at, **changes)
    return body


def message(message_id: int, **changes) -> dict:
    body = copy.deepcopy(payload("message_created"))
    body.update(id=message_id, **changes)
    return body


def csat(rating: object) -> dict:
    body = copy.deepcopy(payload("message_updated.csat"))
    body["content_attributes"]["submitted_values"]["csat_survey_response"]["rating"] = rating
    return body


MALFORMED = [
    (CONVERSATIONS, [conversation(1, 1714557600)], "payload is a JSON array, not an object"),
    (CONVERSATIONS, {**conversation(1, 1714557600), "id": None}, "id is missing"),
    (CONVERSATIONS, {**conversation(1, 1714557600), "id": "C-1"}, "id is not an integer"),
    (CONVERSATIONS, conversation(1, None), "updated_at is missing"),
    (CONVERSATIONS, conversation(1, -1714557600), "updated_at is not a timestamp"),
    (CONVERSATIONS, conversation(1, "yesterday"), "updated_at is not a timestamp"),
    # eleven digits: the year 5138, not a Chatwoot time (milliseconds are thirteen)
    (CONVERSATIONS, conversation(1, 1714557600123), "updated_at is not a timestamp"),
    (CONVERSATIONS, conversation(1, 1714557600, created_at="2024-02-30T00:00:00Z"),
     "created_at is not a timestamp"),
    (CONVERSATIONS, conversation(1, 1714557600, inbox_id="web"), "inbox_id is not an integer"),
    (CONVERSATIONS, conversation(1, 1714557600, status=None), "status is missing"),
    (CONVERSATIONS, conversation(1, 1714557600, meta="hidden"), "meta is not an object"),
    (CONVERSATIONS, conversation(1, 1714557600, meta={"assignee": {"id": "alex"}}),
     "meta.assignee.id is not an integer"),
    (CONVERSATIONS, conversation(1, 1714557600, first_reply_created_at="soon"),
     "first_reply_created_at is not a timestamp"),
    (MESSAGES, '"not a message"', "payload is a JSON string, not an object"),
    (MESSAGES, message(None), "id is missing"),
    (MESSAGES, message(2, created_at="2024-13-01T00:00:00Z"), "created_at is not a timestamp"),
    # Ruby's UTC form is read as Ruby writes it: no fraction, no second zone
    (MESSAGES, message(2, created_at="2020-03-03 13:05:57.5 UTC"), "created_at is not a timestamp"),
    (MESSAGES, message(2, created_at="2020-03-03T13:05:57Z UTC"), "created_at is not a timestamp"),
    (MESSAGES, message(2, conversation=None), "conversation is missing"),
    (MESSAGES, message(2, conversation=[207]), "conversation is not an object"),
    (MESSAGES, message(2, conversation={"status": "open"}), "conversation.id is missing"),
    (MESSAGES, message(2, conversation={"id": "x"}), "conversation.id is not an integer"),
    (MESSAGES, message(2, message_type=None), "message_type is missing"),
    (MESSAGES, message(2, private="maybe"), "private is not a boolean"),
    (MESSAGES, {**csat(6), "id": 3}, "the CSAT rating is not an integer from 1 to 5"),
    (MESSAGES, {**csat(0), "id": 3}, "the CSAT rating is not an integer from 1 to 5"),
    (MESSAGES, {**csat("great"), "id": 3}, "the CSAT rating is not an integer from 1 to 5"),
    (MESSAGES, {**csat(4.5), "id": 3}, "the CSAT rating is not an integer from 1 to 5"),
    (MESSAGES, {**csat(99999999999), "id": 3}, "the CSAT rating is not an integer from 1 to 5"),
]  # fmt: skip


def test_malformed_chatwoot_facts_are_quarantined_with_their_reason(target):
    ids = insert_facts(target, [(SHOP, topic, body) for topic, body, _ in MALFORMED])
    good = insert_facts(
        target,
        [
            # staged but flagged: a status and a message type Chatwoot may add one day
            (SHOP, CONVERSATIONS, conversation(50, 1714557600, status="archived")),
            (SHOP, MESSAGES, message(51, message_type="reaction")),
            # a rating written as a string, a form's submitted_values (an array) and a CSAT
            # survey not answered yet all stage
            (SHOP, MESSAGES, {**csat("5"), "id": 52}),
            (
                SHOP,
                MESSAGES,
                message(53, content_type="form", content_attributes={"submitted_values": [{"name": "email", "value": "a@example.com"}]}),
            ),
            (SHOP, MESSAGES, {**csat(None), "id": 54}),
        ],
    )  # fmt: skip
    build_staging(target)

    reasons = dict(query(target, "select fact_id, reason from ops.facts_quarantine"))
    assert reasons == {ids[i]: reason for i, (_, _, reason) in enumerate(MALFORMED)}
    assert query(
        target,
        "select fact_id, warnings from ops.facts_triage where warnings is not null order by 1",
    ) == [(good[0], ["status archived is not known"]), (good[1], ["message_type reaction is not known"])]  # fmt: skip
    assert query(
        target, "select message_id, content_type, csat_rating from staging.stg_chatwoot__messages"
        " order by 1",
    ) == [(51, "text", None), (52, "input_csat", 5), (53, "form", None), (54, "input_csat", None)]  # fmt: skip
    assert query(target, "select conversation_id, status from staging.stg_chatwoot__conversations") == [
        (50, "archived")
    ]  # fmt: skip


def test_the_latest_conversation_version_wins_across_status_changes(target):
    """By the conversation's own updated_at (unix seconds, its fraction exact), not by arrival:
    a status change delivered late never replaces a newer one."""
    insert_facts(
        target,
        [
            (SHOP, CONVERSATIONS, conversation(7, 1714557600.5, status="open")),
            (SHOP, CONVERSATIONS, conversation(7, 1714558500.000002, status="resolved")),
            # delivered last, but Chatwoot made it between the two: must not win
            (SHOP, CONVERSATIONS, conversation(7, 1714558500.000001, status="pending")),
            # the same time written as ISO 8601 with an offset is the same time, and the fact
            # stored last breaks the tie
            (SHOP, CONVERSATIONS, conversation(8, 1714557600, status="open")),
            (SHOP, CONVERSATIONS, conversation(8, "2024-05-01T06:00:00-04:00", status="snoozed")),
            # the same id in another shop is another conversation
            ("other.myshopify.com", CONVERSATIONS, conversation(7, 1714557000, status="open")),
        ],
    )
    build_staging(target)
    assert query(
        target,
        "select shop_domain, conversation_id, status, updated_at"
        " from staging.stg_chatwoot__conversations order by 1, 2",
    ) == [
        ("other.myshopify.com", 7, "open", at("2024-05-01T09:50:00Z")),
        (SHOP, 7, "resolved", at("2024-05-01T10:15:00.000002Z")),
        (SHOP, 8, "snoozed", at("2024-05-01T10:00:00Z")),
    ]


STAGED_TABLES = [
    "staging.stg_chatwoot__conversations",
    "staging.stg_chatwoot__messages",
    "ops.facts_quarantine",
]


# Three arrivals: two incremental runs after the first (test_staging also splits in two).
@pytest.mark.parametrize("batches", [3])
def test_chatwoot_incremental_runs_equal_a_full_refresh(new_target, batches):
    """A conversation's life and its messages arriving in batches, with a late status change
    and a CSAT answer split from its survey across batch borders."""
    survey = {**csat(None), "event": "message_created"}
    facts = [
        (SHOP, CONVERSATIONS, conversation(7, 1714557600.5)),
        (SHOP, MESSAGES, message(100, message_type="incoming", sender={"id": 5012, "type": "contact"})),
        (SHOP, MESSAGES, payload("message_created")),
        (SHOP, CONVERSATIONS, conversation(7, 1714558500.25, status="resolved")),
        (SHOP, MESSAGES, survey),
        (SHOP, CONVERSATIONS, conversation(7, 1714558000, status="pending")),
        (SHOP, MESSAGES, message(101, private="true", content_type="text")),
        (SHOP, MESSAGES, payload("message_updated.csat")),
        (SHOP, CONVERSATIONS, conversation(9, "bad")),
        (SHOP, CONVERSATIONS, conversation(9, 1714560000, status="open")),
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
        full, "select conversation_id, status from staging.stg_chatwoot__conversations order by 1"
    ) == [(7, "resolved"), (9, "open")]
    assert query(
        full,
        "select message_id, is_private, csat_rating from staging.stg_chatwoot__messages order by 1",
    ) == [(100, False, None), (101, True, None), (9001, False, None), (9004, False, 4)]


def test_each_chatwoot_quarantine_reason_and_warning_has_its_own_expectation(target, tmp_path):
    """The support inbox's source suites know every rule: each malformed payload above and each
    flagged one is counted by a named expectation of its topic's suite, never by the catch-all."""
    insert_facts(target, [(SHOP, topic, body) for topic, body, _ in MALFORMED])
    insert_facts(
        target,
        [
            (SHOP, CONVERSATIONS, conversation(50, 1714557600, status="archived")),
            (SHOP, MESSAGES, message(51, message_type="reaction")),
            (SHOP, CONVERSATIONS, conversation(52, 4102444800)),  # 2100: in the future
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
    assert sum(counted.values()) == len(MALFORMED) + 3
    assert counted[("source_chatwoot_conversations", "status_is_known")] == 2  # missing, unknown
    assert counted[("source_chatwoot_conversations", "updated_at_is_not_in_the_future")] == 1
    assert counted[("source_chatwoot_messages", "csat_ratings_are_1_to_5")] == 5
    assert counted[("source_chatwoot_messages", "message_type_and_private_are_known")] == 3


def test_the_support_inbox_staging_is_the_analysts_alone(target):
    """The messages' staging holds no name, email or text, and only the analyst reads it: the
    operator and the AI role (var security) are refused, as for every staging model."""
    import psycopg

    from runner import db

    insert_facts(target, [(SHOP, MESSAGES, payload("message_created"))])
    build_staging(target)
    with db.connect(target) as conn:
        conn.execute("set role hotdash_analyst")
        assert conn.execute("select count(*) from staging.stg_chatwoot__messages").fetchone() == (
            1,
        )
    for role in ("hotdash_operator", "hotdash_ai_readonly"):
        with db.connect(target) as conn:
            conn.execute(f"set role {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select count(*) from staging.stg_chatwoot__messages")
