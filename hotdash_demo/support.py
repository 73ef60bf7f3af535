"""The shop's support inbox (Chatwoot): conversations and their messages, as Chatwoot's webhooks
send them (topics chatwoot.conversations and chatwoot.messages).

A conversation opens with the customer's message, gets an agent's first reply after minutes to
hours, a few more messages (now and then a private note between agents), sometimes waits as
pending or snoozed, and is resolved; most inboxes then send the CSAT survey, which about a third
of customers answer (a message_updated carrying the rating). Times are Chatwoot's: a
conversation's in unix seconds (updated_at with a fraction), a message's created_at in ISO 8601.

The mess of a webhook feed: a delivery repeated, a status change delivered after a newer one,
and now and then a payload the rules quarantine (``SUPPORT_MALFORMED_KINDS``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import TYPE_CHECKING, Any

from hotdash_demo.render import dumps
from hotdash_demo.topics import Fact

if TYPE_CHECKING:
    from hotdash_demo.customers import Customer
    from hotdash_demo.shop import Shop

CONVERSATIONS = "chatwoot.conversations"
MESSAGES = "chatwoot.messages"

SUPPORT_MALFORMED_KINDS: tuple[str, ...] = (
    "conversation_missing_id",
    "conversation_bad_updated_at",
    "message_without_conversation",
    "message_csat_rating_out_of_range",
    "message_not_object",
)
"""Quarantined support payloads, cycled through in this order (per topic)."""
_MALFORMED_BY_TOPIC = {
    CONVERSATIONS: SUPPORT_MALFORMED_KINDS[:2],
    MESSAGES: SUPPORT_MALFORMED_KINDS[2:],
}

_MALFORMED_EVERY = 250  # of a shop's support facts
_DUPLICATE_SHARE = 0.01  # a webhook delivered twice
_LATE_SHARE = 0.015  # a conversation's older version delivered after a newer one

_AGENTS = ("Alex Moreno", "Sam Patel", "Jo Nakamura", "Rita Okafor")
_INBOXES = ((1, "Website", "Channel::WebWidget"), (2, "Support email", "Channel::Email"))
_QUESTIONS = (
    "Will the 4-core radiator fit a 1932 Ford frame?",
    "My order hasn't shipped yet, can you check?",
    "Do you have the chrome valve covers in stock?",
    "The headers I got don't match my small block, can I return them?",
    "What gear ratio do you recommend for a street rod?",
    "Can I change the shipping address on my order?",
)
_REPLIES = (
    "Thanks for reaching out! Let me check that for you.",
    "Yes, that part fits; it ships tomorrow from our warehouse.",
    "I've started the return; you'll get a prepaid label by email.",
    "Your order left our warehouse this morning; here is the tracking number.",
    "For a street rod most builders go with 3.55; happy to help you choose.",
)
# CSAT answers: mostly happy, a few unhappy (ratings 1 to 5).
_RATING_CUM = (0.05, 0.10, 0.22, 0.47, 1.0)


def _iso(sec: float) -> str:
    """A message time as Rails writes it in JSON: UTC with milliseconds."""
    t = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=sec)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Conversation:
    __slots__ = (
        "assignee",
        "contact",
        "created",
        "first_reply",
        "id",
        "inbox",
        "last_activity",
        "last_text",
        "status",
        "updated",
        "waiting_since",
    )


class Support:
    """One shop's support inbox: opens conversations and schedules what follows."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = shop.rng
        self.account = {"id": shop.k + 1, "name": shop.domain.split(".")[0]}
        self.agents = [
            {"id": 11 + i, "name": name, "email": f"{name.split()[0].lower()}@{shop.domain}"}
            for i, name in enumerate(_AGENTS)
        ]
        self.next_conversation = 1
        # Message ids: one Chatwoot installation's, apart per shop like every demo id.
        self.next_message = 2_000_000_000 + shop.k * 1_000_000_000
        self.n_facts = 0
        self.mal_idx = 0

    # --- payloads --------------------------------------------------------------------------

    def _contact(self, c: Customer | None, conversation_id: int) -> dict[str, Any]:
        if c is None:  # a visitor who has no account
            return {
                "additional_attributes": {},
                "custom_attributes": {},
                "email": None,
                "id": 9_000_000 + conversation_id,
                "identifier": None,
                "name": "Visitor",
                "phone_number": None,
                "thumbnail": "",
                "type": "contact",
            }
        return {
            "additional_attributes": {},
            "custom_attributes": {},
            "email": c.email,
            "id": c.id % 10_000_000,
            "identifier": None,
            "name": f"{c.first} {c.last}",
            "phone_number": c.phone,
            "thumbnail": "",
            "type": "contact",
        }

    def _assignee(self, conv: Conversation) -> dict[str, Any] | None:
        if conv.assignee is None:
            return None
        agent = self.agents[conv.assignee]
        return {
            "id": agent["id"],
            "name": agent["name"],
            "available_name": agent["name"].split()[0],
            "avatar_url": "",
            "type": "user",
            "availability_status": "online",
            "thumbnail": "",
        }

    def _conversation(self, conv: Conversation) -> dict[str, Any]:
        """The conversation as Chatwoot's EventDataPresenter writes it."""
        inbox_id, _, channel = _INBOXES[conv.inbox]
        return {
            "additional_attributes": {},
            "can_reply": True,
            "channel": channel,
            "id": conv.id,
            "inbox_id": inbox_id,
            "messages": [],
            "labels": [],
            "meta": {
                "sender": conv.contact,
                "assignee": self._assignee(conv),
                "assignee_type": None if conv.assignee is None else "User",
                "team": None,
                "hmac_verified": False,
            },
            "status": conv.status,
            "custom_attributes": {},
            "snoozed_until": None,
            "unread_count": 0 if conv.waiting_since is None else 1,
            "first_reply_created_at": None if conv.first_reply is None else _iso(conv.first_reply),
            "priority": None,
            "waiting_since": conv.waiting_since or 0,
            "agent_last_seen_at": 0 if conv.first_reply is None else conv.last_activity,
            "contact_last_seen_at": 0,
            "last_activity_at": conv.last_activity,
            "timestamp": conv.last_activity,
            "created_at": conv.created,
            "updated_at": conv.updated,
            "account": self.account,
        }

    def _conversation_fact(self, conv: Conversation, sec: int, event: str, **extra: Any) -> Fact:
        # updated_at: the second and a fraction (Ruby's Time#to_f), always after the last one
        # (never after the second the webhook was sent)
        conv.updated = round(
            max(sec - self.rng.randrange(1, 1_000_000) / 1e6, conv.updated + 1e-6), 6
        )
        text = dumps({**self._conversation(conv), "event": event, **extra})
        if conv.last_text is not None and self.rng.random() < _LATE_SHARE:
            # the older version, delivered after this one
            self.shop.schedule(sec + self.rng.randint(60, 3600), self._redeliver, conv.last_text)
        conv.last_text = text
        return self._emit(CONVERSATIONS, text, sec)

    def _message_fact(
        self,
        conv: Conversation,
        sec: int,
        message_type: str,
        content: str,
        sender: dict[str, Any] | None,
        *,
        private: bool = False,
        content_type: str = "text",
        content_attributes: dict[str, Any] | None = None,
        message_id: int | None = None,
        event: str = "message_created",
        created: int | None = None,
    ) -> tuple[int, Fact]:
        if message_id is None:
            self.next_message += 1 + self.rng.getrandbits(2)
            message_id = self.next_message
        inbox_id, inbox_name, _ = _INBOXES[conv.inbox]
        body = {
            "account": self.account,
            "additional_attributes": {},
            "content_attributes": content_attributes or {},
            "content_type": content_type,
            "content": content,
            "conversation": self._conversation(conv),
            "created_at": _iso(
                (created if created is not None else sec) - 0.001 * (message_id % 997)
            ),
            "id": message_id,
            "inbox": {"id": inbox_id, "name": inbox_name},
            "message_type": message_type,
            "private": private,
            "sender": sender,
            "source_id": None,
            "event": event,
        }
        return message_id, self._emit(MESSAGES, dumps(body), sec)

    def _emit(self, topic: str, text: str, sec: int) -> Fact:
        """Count the fact; a few are delivered twice, a few are replaced by a malformed one."""
        self.n_facts += 1
        if self.n_facts % _MALFORMED_EVERY == 0:
            return self._malformed(topic, text)
        if self.rng.random() < _DUPLICATE_SHARE and '"input_csat"' not in text:
            self.shop.schedule(sec + self.rng.randint(30, 600), self._redeliver, (topic, text))
        return topic, text

    def _redeliver(self, arg: Any, due: int, now: int) -> Fact:
        if isinstance(arg, tuple):
            return arg
        return CONVERSATIONS, arg

    def _malformed(self, topic: str, text: str) -> Fact:
        """The fact as a payload the rules quarantine: the next kind of its topic."""
        kinds = _MALFORMED_BY_TOPIC[topic]
        kind = kinds[self.mal_idx % len(kinds)]
        self.mal_idx += 1
        body: Any = json.loads(text)
        if kind == "conversation_missing_id":
            del body["id"]
        elif kind == "conversation_bad_updated_at":
            body["updated_at"] = "yesterday"
        elif kind == "message_without_conversation":
            body["conversation"] = None
        elif kind == "message_csat_rating_out_of_range":
            body["content_type"] = "input_csat"
            body["content_attributes"] = {
                "submitted_values": {"csat_survey_response": {"rating": 10}}
            }
        else:
            body = [body]
        return topic, dumps(body)

    # --- events ----------------------------------------------------------------------------

    def open(self, now: int, lag: int) -> Fact:
        """A customer opens a conversation; what follows is scheduled."""
        rng = self.rng
        shop = self.shop
        conv = Conversation()
        conv.id = self.next_conversation
        self.next_conversation += 1
        account = rng.choice(shop.customers.accounts) if shop.customers.accounts else None
        conv.contact = self._contact(account, conv.id)
        conv.inbox = 0 if rng.random() < 0.7 else 1
        conv.status = "open"
        conv.assignee = None
        conv.first_reply = None
        t = now - lag
        conv.created = conv.waiting_since = conv.last_activity = t
        conv.updated = float(t)
        conv.last_text = None
        # The plan: (seconds after opening, step)
        plan: list[tuple[int, str]] = [(rng.randint(1, 20), "incoming")]
        first_reply = 60 + int(math.exp(rng.gauss(math.log(1500), 1.1)))
        plan.append((first_reply, "first_reply"))
        at = first_reply
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            at += rng.randint(120, 7200)
            plan.append((at, "incoming"))
            at += rng.randint(60, 5400)
            plan.append((at, "reply"))
        if rng.random() < 0.15:
            at += rng.randint(30, 600)
            plan.append((at, "note"))
        if rng.random() < 0.12:
            at += rng.randint(300, 3600)
            plan.append((at, rng.choice(("pending", "snoozed"))))
        at += rng.randint(600, 2 * 86400)
        plan.append((at, "resolve"))
        if rng.random() < 0.05:
            at += rng.randint(3600, 3 * 86400)
            plan.append((at, "incoming"))
            at += rng.randint(600, 86400)
            plan.append((at, "resolve"))
        for offset, step in plan:
            shop.schedule(t + offset, self._step, (conv, step))
        return self._conversation_fact(conv, t, "conversation_created")

    def _step(self, arg: tuple[Conversation, str], due: int, now: int) -> Fact | None:
        conv, step = arg
        rng = self.rng
        conv.last_activity = due
        customer = {k: conv.contact[k] for k in ("id", "name", "email", "phone_number")}
        customer["type"] = "contact"
        if step == "incoming":
            if conv.status != "open":
                # a customer writing to a resolved conversation reopens it
                conv.status = "open"
                conv.waiting_since = due
                self.shop.schedule(due + 1, self._status, (conv, "open"))
            elif conv.waiting_since is None:
                conv.waiting_since = due
            return self._message_fact(conv, due, "incoming", rng.choice(_QUESTIONS), customer)[1]
        if step == "note":
            return self._message_fact(
                conv, due, "outgoing", "Checked the warehouse, two left.", self._agent(conv),
                private=True,
            )[1]  # fmt: skip
        if step in ("first_reply", "reply"):
            if conv.assignee is None:
                conv.assignee = rng.randrange(len(self.agents))
            if conv.first_reply is None:
                conv.first_reply = due
                self.shop.schedule(due + 1, self._status, (conv, None))
            conv.waiting_since = None
            return self._message_fact(
                conv, due, "outgoing", rng.choice(_REPLIES), self._agent(conv)
            )[1]
        if step in ("pending", "snoozed"):
            conv.status = step
            return self._conversation_fact(conv, due, "conversation_status_changed")
        # resolve: the status change, the activity note and (most inboxes) the CSAT survey
        previous = conv.status
        conv.status = "resolved"
        conv.waiting_since = None
        self.shop.schedule(due + 1, self._activity, conv)
        if rng.random() < 0.7:
            self.shop.schedule(due + 2, self._survey, conv)
        return self._conversation_fact(
            conv, due, "conversation_status_changed",
            changed_attributes=[{"status": {"current_value": "resolved", "previous_value": previous}}],
        )  # fmt: skip

    def _agent(self, conv: Conversation) -> dict[str, Any]:
        return {**self.agents[conv.assignee or 0], "type": "user"}

    def _status(self, arg: tuple[Conversation, str | None], due: int, now: int) -> Fact:
        conv, status = arg
        event = "conversation_updated" if status is None else "conversation_status_changed"
        return self._conversation_fact(conv, due, event)

    def _activity(self, conv: Conversation, due: int, now: int) -> Fact:
        agent = self.agents[conv.assignee or 0]["name"]
        return self._message_fact(
            conv, due, "activity", f"Conversation was marked resolved by {agent}", None
        )[1]

    def _survey(self, conv: Conversation, due: int, now: int) -> Fact:
        rng = self.rng
        content = "Please rate the conversation"
        message_id, fact = self._message_fact(
            conv, due, "template", content, None, content_type="input_csat"
        )
        if rng.random() < 0.35:
            r = rng.random()
            rating = next(i + 1 for i, edge in enumerate(_RATING_CUM) if r < edge)
            answer = {"csat_survey_response": {"rating": rating, "feedback_message": ""}}
            self.shop.schedule(
                due + rng.randint(300, 2 * 86400),
                self._answer,
                (conv, message_id, due, answer),
            )
        return fact

    def _answer(self, arg: tuple[Conversation, int, int, dict], due: int, now: int) -> Fact:
        conv, message_id, created, answer = arg
        return self._message_fact(
            conv, due, "template", "Please rate the conversation", None,
            content_type="input_csat", content_attributes={"submitted_values": answer},
            message_id=message_id, event="message_updated", created=created,
        )[1]  # fmt: skip
