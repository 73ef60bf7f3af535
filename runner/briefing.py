"""The daily briefing: one page per shop for the operator's morning (README "Morning briefing").

`briefings(conn, shop=None)` reads the marts (under a shop, in its row-level-security context,
as the exports do) and returns one `Briefing` per shop: a subject line, a plain-text body and a
Markdown body for email and chat, and a self-contained HTML page. `hotdash report` writes them
to files; `hotdash notify` sends them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from runner.settings import SecurityModel


@dataclass(frozen=True)
class Briefing:
    """One shop's briefing, as of the marts' as-of date."""

    shop_domain: str
    as_of_date: dt.date
    subject: str  # one line: an email's subject, a chat message's title
    text: str  # plain-text body
    markdown: str  # Markdown body
    html: str  # a self-contained page: inline CSS, charts as inline SVG, no network


def briefings(
    conn: psycopg.Connection,
    shop: str | None = None,
    security: SecurityModel | None = None,
) -> list[Briefing]:
    """Every shop's briefing (only `shop`'s when given, read in its RLS context), by shop."""
    raise NotImplementedError
