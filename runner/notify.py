"""Delivery: `hotdash notify` sends new and resolved alerts and the daily briefing (README
"Delivery") to the destinations of HOTDASH_NOTIFY_URLS, with Apprise; with none, to an outbox
folder under HOTDASH_HOME.

Messages. One per alert change and one briefing per shop and as-of date, each under a stable key:

  alert:<alert_id>:opened        an alert opened (marts.alerts)
  alert:<alert_id>:resolved      that alert resolved
  briefing:<shop>:<as_of_date>   the shop's daily briefing (runner/briefing.py)

A message is stored in ops.notification_messages the first time it is found, with its text as
then made, and sent to each destination until that destination takes it, never again after:
ops.notification_deliveries keeps one row per message and destination (status, attempts, the
last attempt, when delivered, the last error, redacted). A message is sent while it is current:

  opened     while the alert is open, whatever its age (an open alert is never lost), or within
             `days` (HOTDASH_NOTIFY_DAYS, 7) of its opening
  resolved   within `days` of its resolution
  briefing   while it is its shop's latest and was made within `days` (a newer one replaces it)

so a first run, or a destination added later, gets the open alerts, the last `days` of changes
and the latest briefings, not years of history; a failed send is retried on every run while its
message is current.

Destinations are identified, in the record and in every line printed, by a redacted form of
their URL: scheme and host as Apprise prints them with privacy on (no user, password, token or
query), or the name given as `name=URL`. The URLs come from the environment only; an error text
is recorded and printed with every secret part of the URL replaced by ***.

One `hotdash notify` at a time per database: each run holds a session advisory lock for its
whole length, and a second run waits for it, then finds the messages delivered. A send whose
outcome could not be recorded (the process died in between) is sent again: at least once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import tempfile
import uuid
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import psycopg

from runner import briefing as briefing_module
from runner import settings
from runner.briefing import Briefing
from runner.db import Target, connect, relation_exists
from runner.errors import ConfigError, HotdashError, NotifyError
from runner.setup import apply_ddl

URLS_ENV = "HOTDASH_NOTIFY_URLS"
DAYS_ENV = "HOTDASH_NOTIFY_DAYS"
DEFAULT_DAYS = 7
OUTBOX = "outbox"
APP_ID = "hotdash"
# One notify at a time per database, on the run's own session (the lock dies with it).
LOCK_SQL = "select pg_advisory_lock(hashtext('hotdash.notify'))"
UNLOCK_SQL = "select pg_advisory_unlock(hashtext('hotdash.notify'))"
LOCK_WAIT = "10min"
# A destination that fails this many messages in a row is left alone until the next run.
MAX_FAILURES_IN_A_ROW = 2
ERROR_LENGTH = 500
# Apprise's notification types, by message level (a chat or webhook shows them as colours).
NOTIFY_TYPES = {"critical": "failure", "warn": "warning", "resolved": "success", "info": "info"}
# URL parameters that carry no secret (kept in error texts); any other value is redacted.
PUBLIC_PARAMS = frozenset(
    ("to", "from", "cc", "bcc", "smtp", "mode", "format", "name", "reply", "method", "overflow")
)
ENTRY_SPLIT = re.compile(r"\s+|[,;]+(?=\s*(?:[A-Za-z0-9_.-]+=)?[A-Za-z][A-Za-z0-9+.-]{0,31}://)")
NAMED_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)=(?P<url>[A-Za-z][A-Za-z0-9+.-]{0,31}://.*)$")
SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31})://")


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One message, as stored in ops.notification_messages and sent to every destination."""

    key: str
    kind: str  # alert_opened, alert_resolved, briefing
    shop_domain: str
    level: str  # critical, warn, resolved, info
    event_at: dt.datetime  # when the alert opened or resolved; the briefing's as-of date
    subject: str
    text: str
    markdown: str
    html: str | None = None  # the briefing's page; an alert's HTML is made from its Markdown
    alert_id: uuid.UUID | None = None


@dataclass(frozen=True)
class AlertRow:
    alert_id: uuid.UUID
    shop_domain: str
    rule: str
    subject: str
    severity: str
    message: str
    value: Decimal | None
    threshold: Decimal | None
    opened_at: dt.datetime
    resolved_at: dt.datetime | None

    @property
    def what(self) -> str:
        return self.rule + (f" {self.subject}" if self.subject else "")


def _when(moment: dt.datetime, tz: dt.tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _lasted(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return " ".join(p for p in (f"{days} d" * bool(days), f"{hours} h" * bool(hours)) if p) or (
        f"{minutes} min"
    )


def _bodies(title: str, lead: str, facts: Sequence[str], shop: str) -> tuple[str, str]:
    """(plain text, Markdown) of an alert message."""
    command = f"hotdash alerts --shop {shop}"
    text = f"{title}\n\n{lead}\n\n" + "\n".join(facts) + f"\n\nOpen alerts: {command}\n"
    markdown = (
        f"**{title}**\n\n{lead}\n\n"
        + "\n".join(f"- {fact}" for fact in facts)
        + f"\n\nOpen alerts: `{command}`\n"
    )
    return text, markdown


def opened_message(alert: AlertRow, tz: dt.tzinfo) -> Message:
    title = f"{alert.what} opened for {alert.shop_domain} ({alert.severity})"
    facts = [
        f"shop: {alert.shop_domain}",
        f"rule: {alert.what}",
        f"severity: {alert.severity}",
        f"opened: {_when(alert.opened_at, tz)}",
    ]
    if alert.value is not None:
        facts.append(
            f"value: {alert.value}"
            + (f" (threshold {alert.threshold})" if alert.threshold is not None else "")
        )
    text, markdown = _bodies(title, alert.message, facts, alert.shop_domain)
    return Message(
        key=f"alert:{alert.alert_id}:opened",
        kind="alert_opened",
        shop_domain=alert.shop_domain,
        level=alert.severity,
        event_at=alert.opened_at,
        subject=f"[hotdash] {alert.severity}: {alert.what} opened for {alert.shop_domain}",
        text=text,
        markdown=markdown,
        alert_id=alert.alert_id,
    )


def resolved_message(alert: AlertRow, tz: dt.tzinfo) -> Message:
    assert alert.resolved_at is not None
    title = f"{alert.what} resolved for {alert.shop_domain} (was {alert.severity})"
    facts = [
        f"shop: {alert.shop_domain}",
        f"rule: {alert.what}",
        f"opened: {_when(alert.opened_at, tz)}",
        f"resolved: {_when(alert.resolved_at, tz)}",
        f"lasted: {_lasted(alert.resolved_at - alert.opened_at)}",
    ]
    text, markdown = _bodies(title, f"Last seen: {alert.message}", facts, alert.shop_domain)
    return Message(
        key=f"alert:{alert.alert_id}:resolved",
        kind="alert_resolved",
        shop_domain=alert.shop_domain,
        level="resolved",
        event_at=alert.resolved_at,
        subject=f"[hotdash] resolved: {alert.what} for {alert.shop_domain}",
        text=text,
        markdown=markdown,
        alert_id=alert.alert_id,
    )


def briefing_message(briefing: Briefing) -> Message:
    """A shop's briefing as a message: the briefing's own subject, text, Markdown and HTML."""
    return Message(
        key=f"briefing:{briefing.shop_domain}:{briefing.as_of_date.isoformat()}",
        kind="briefing",
        shop_domain=briefing.shop_domain,
        level="info",
        event_at=dt.datetime.combine(briefing.as_of_date, dt.time(), tzinfo=dt.UTC),
        subject=briefing.subject,
        text=briefing.text,
        markdown=briefing.markdown,
        html=briefing.html,
    )


def alert_messages(conn: psycopg.Connection, days: int, tz: dt.tzinfo) -> list[Message]:
    """The current alert messages (module docstring): the opened message of every open alert
    and of every alert opened within `days`; the resolved message of every alert resolved
    within `days`. None when marts.alerts does not exist yet."""
    if not relation_exists(conn, "marts.alerts"):
        return []
    (cutoff,) = conn.execute("select now() - make_interval(days => %s)", (days,)).fetchone()
    rows = conn.execute(
        """
        select alert_id, shop_domain, rule, subject, severity, message, value, threshold,
            opened_at, resolved_at
        from marts.alerts
        where resolved_at is null or opened_at >= %(cutoff)s or resolved_at >= %(cutoff)s
        order by opened_at, alert_id
        """,
        {"cutoff": cutoff},
    ).fetchall()
    found = []
    for row in rows:
        alert = AlertRow(*row)
        if alert.resolved_at is None or alert.opened_at >= cutoff:
            found.append(opened_message(alert, tz))
        if alert.resolved_at is not None and alert.resolved_at >= cutoff:
            found.append(resolved_message(alert, tz))
    return found


def gather_briefings(target: Target) -> tuple[list[Briefing], str | None]:
    """Every shop's briefing (runner/briefing.py), or none and why: a briefing that cannot be
    made (no marts yet) must not keep the alerts from going out."""
    try:
        with connect(target) as conn:
            found = briefing_module.briefings(conn, security=settings.of(target).security)
        return list(found), None
    except (HotdashError, psycopg.Error) as exc:
        text = getattr(exc, "message", None) or str(exc).strip() or type(exc).__name__
        return (
            [],
            f"the daily briefing could not be made: {type(exc).__name__}: {text.splitlines()[0]}",
        )


# --- destinations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """Where messages go: an Apprise URL (a secret: never printed nor stored), or the outbox."""

    label: str  # the redacted form: what the record and the output name it by
    url: str | None = field(default=None, repr=False)  # None: the outbox
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def is_outbox(self) -> bool:
        return self.url is None

    def redact(self, text: str) -> str:
        """`text` with every secret part of this destination's URL replaced by ***."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class Destinations:
    """The configured destinations, and the entries that are not usable (named by position and
    scheme only: an unusable entry may still hold a secret)."""

    usable: list[Destination]
    problems: list[str] = field(default_factory=list)


def _asset():  # -> apprise.AppriseAsset
    import apprise

    # One service per send, in this thread: no thread pool, and the log stays ours.
    return apprise.AppriseAsset(
        app_id=APP_ID, app_desc="hotdash-data alerts and briefings", async_mode=False
    )


# The loggers a send writes to: Apprise's, and the HTTP client's below it (which logs request
# lines, webhook tokens in their paths included, at DEBUG).
SEND_LOGGERS = ("apprise", "urllib3", "requests")


@contextlib.contextmanager
def quiet_apprise() -> Iterator[list[str]]:
    """Keep the send's log to ourselves: nothing of Apprise or the HTTP client reaches the
    terminal or the root logger (their lines can name a URL's parts); the warnings and socket
    errors are collected, to be redacted into the recorded error."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            with contextlib.suppress(Exception):
                text = record.getMessage()
                if record.levelno >= logging.WARNING or text.startswith("Socket Exception"):
                    lines.append(text)

    handler = Collect(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in SEND_LOGGERS]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    loggers[0].setLevel(logging.DEBUG)  # Apprise's socket errors are DEBUG lines
    try:
        yield lines
    finally:
        for logger, (level, propagate) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


def _secret_looking(part: str) -> bool:
    """A path segment that looks like a token: 16 characters or more, or 8 or more with a digit
    (`services` or `hotdash` are not; Slack's and most webhooks' tokens are)."""
    return len(part) >= 16 or (len(part) >= 8 and any(c.isdigit() for c in part))


def _secrets(url: str, label: str) -> tuple[str, ...]:
    """The parts of a URL that may be secret, as they appear raw, decoded and encoded: the
    password, and the user with it; the host when the label leaves it out (Slack's first
    token); path segments that look like tokens; every query value but the public ones
    (PUBLIC_PARAMS), and header (+name) values always."""
    try:
        parts = urlsplit(url)
        password, user = parts.password, parts.username
    except ValueError:
        return (url,)
    host = re.sub(r":\d+$", "", parts.netloc.rpartition("@")[2])
    found: set[str] = set()
    if password:
        found.add(password)
        if user and len(user) >= 3:
            found.add(user)
    if host and host.lower() not in label.lower():
        found.update((host, host.lower()))
    found.update(s for s in parts.path.split("/") if _secret_looking(unquote(s)))
    for name, value in parse_qsl(parts.query):
        public = name.lower().lstrip("-:") in PUBLIC_PARAMS
        if name.startswith("+") or (not public and len(value) >= 4):
            found.add(value)
    variants = set()
    for secret in found:
        variants.update({secret, unquote(secret), quote(unquote(secret), safe="")})
    return tuple(v for v in variants if v)


def _label(plugin: Any) -> str:
    """scheme://host[:port] of the URL as Apprise prints it with privacy on (secret tokens
    masked), without its user, password, path or query."""
    parts = urlsplit(plugin.url(privacy=True))
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def parse_destinations(value: str | None) -> Destinations:
    """Destinations of HOTDASH_NOTIFY_URLS: Apprise URLs separated by whitespace (or commas and
    semicolons before the next URL), each optionally named (`name=URL`); the word `outbox` is
    the outbox. Empty: the outbox alone. The same URL twice counts once; two URLs with the same
    redacted form are told apart by #2, #3 ... in order (or name them)."""
    if not value or not value.strip():
        return Destinations([Destination(OUTBOX)])
    import apprise

    asset = _asset()
    usable: list[Destination] = []
    problems: list[str] = []
    seen_urls: set[str] = set()
    entries = [e.strip(",; ") for e in ENTRY_SPLIT.split(value.strip()) if e and e.strip(",; ")]
    for position, entry in enumerate(entries, start=1):
        if entry.lower() == OUTBOX:
            if all(not d.is_outbox for d in usable):
                usable.append(Destination(OUTBOX))
            continue
        named = NAMED_ENTRY.match(entry)
        name, url = (named["name"], named["url"]) if named else (None, entry)
        scheme = SCHEME.match(url)
        if scheme is None:
            problems.append(f"{URLS_ENV} entry {position} is not a URL (no scheme://)")
            continue
        if url in seen_urls:
            continue
        with quiet_apprise():
            plugin = apprise.Apprise.instantiate(url, asset=asset)
        if plugin is None:
            problems.append(
                f"{URLS_ENV} entry {position} ({scheme['scheme']}://...) is not a URL Apprise"
                " can use: an unknown scheme, or a part missing or malformed"
            )
            continue
        seen_urls.add(url)
        label = name or _label(plugin)
        destination = Destination(label, url, _secrets(url, label))
        label = destination.redact(label)
        taken = {d.label for d in usable}
        if label in taken or label == OUTBOX:
            label = next(
                f"{label}#{n}" for n in range(2, len(entries) + 2) if f"{label}#{n}" not in taken
            )
        usable.append(Destination(label, url, destination.secrets))
    return Destinations(usable, problems)


def days_from_env(environ: Mapping[str, str] = os.environ) -> int:
    text = (environ.get(DAYS_ENV) or "").strip()
    if not text:
        return DEFAULT_DAYS
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            f"{DAYS_ENV} must be a whole number of days, 1 or more (it is {text!r})",
            hint=f"unset it for the default, {DEFAULT_DAYS}",
        )
    return int(text)


# --- sending -----------------------------------------------------------------------------------


def _send(app: Any, plugin: Any, destination: Destination, message: Message) -> str | None:
    """Send one message with Apprise; None when the destination took it, else the redacted error.
    The body is the one the destination renders: HTML for email (the briefing's page, or the
    alert's Markdown made HTML), Markdown for Slack and the like, text for a JSON webhook (a
    URL's ?format= picks another)."""
    fmt = str(getattr(plugin.resolve_format(None), "value", "text"))
    if fmt == "html":
        body, body_format = (
            (message.html, "html") if message.html else (message.markdown, "markdown")
        )
    elif fmt == "markdown":
        body, body_format = message.markdown, "markdown"
    else:
        body, body_format = message.text, "text"
    ok = False
    with quiet_apprise() as lines:
        try:
            ok = bool(
                app.notify(
                    body=body,
                    title=message.subject,
                    notify_type=NOTIFY_TYPES[message.level],
                    body_format=body_format,
                )
            )
        except Exception as exc:  # a plugin's bug must not stop the other destinations
            lines.append(f"{type(exc).__name__}: {exc}")
    if ok:
        return None
    error = "; ".join(dict.fromkeys(line.strip() for line in lines if line.strip()))
    error = destination.redact(error or "the destination did not take the message (no detail)")
    return error[:ERROR_LENGTH]


def outbox_path(folder: Path, message: Message, tz: dt.tzinfo) -> Path:
    """<folder>/<date>/<key>.eml: the date the alert opened or resolved (reporting timezone), the
    briefing's as-of date; the key with ':' and other unsafe characters made '_'."""
    if message.kind == "briefing":
        day = message.event_at.date()
    else:
        day = message.event_at.astimezone(tz).date()
    name = re.sub(r"[^A-Za-z0-9._@-]+", "_", message.key) + ".eml"
    return folder / day.isoformat() / name


def write_outbox(folder: Path, message: Message, tz: dt.tzinfo) -> Path:
    """Write the message as an email file (text, and the HTML page as its alternative) to a
    temporary file beside it, then rename: a reader never sees half a file."""
    path = outbox_path(folder, message, tz)
    path.parent.mkdir(parents=True, exist_ok=True)
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(message.event_at)
    mail["X-Hotdash-Key"] = message.key
    mail["X-Hotdash-Shop"] = message.shop_domain
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(mail.as_bytes())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


# --- a run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one message at one destination in this run."""

    key: str
    destination: str
    subject: str
    # delivered; failed; left (the destination had failed MAX_FAILURES_IN_A_ROW in a row);
    # planned (--dry-run)
    status: str
    error: str | None = None
    path: Path | None = None  # the outbox file

    def line(self) -> str:
        if self.status == "delivered":
            where = f"{self.destination} ({self.path})" if self.path else self.destination
            return f"sent {self.key} to {where}: {self.subject}"
        if self.status == "planned":
            return f"would send {self.key} to {self.destination}: {self.subject}"
        if self.status == "left":
            return f"left {self.key} for the next run: {self.destination} is failing"
        return f"failed {self.key} to {self.destination}: {self.error}"


@dataclass
class NotifyReport:
    destinations: list[str]
    problems: list[str]
    current: int  # messages current this run
    outcomes: list[Outcome] = field(default_factory=list)
    dry_run: bool = False
    briefing_warning: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def already_delivered(self) -> int:
        return self.current * len(self.destinations) - len(self.outcomes)

    def summary(self) -> str:
        if self.dry_run:
            head = f"notify (dry run): {self.count('planned')} to send"
        else:
            head = (
                f"notify: {self.count('delivered')} sent, {self.count('failed')} failed,"
                f" {self.count('left')} left for the next run"
            )
        return (
            f"{head}, {self.already_delivered} already delivered; {self.current} current"
            f" message(s), destinations: {', '.join(self.destinations) or 'none usable'}"
        )

    def error(self) -> NotifyError | None:
        """The run's failure, for the exit code: a message a destination did not take, or an
        entry of HOTDASH_NOTIFY_URLS that is not usable."""
        failed = [o for o in self.outcomes if o.status in ("failed", "left")]
        if not failed and not self.problems:
            return None
        by_destination: dict[str, int] = {}
        for outcome in failed:
            by_destination[outcome.destination] = by_destination.get(outcome.destination, 0) + 1
        parts = []
        if failed:
            parts.append(
                f"{len(failed)} message(s) not delivered: "
                + ", ".join(f"{label} ({count})" for label, count in by_destination.items())
                + " (each failure's error is on its line above)"
            )
        return NotifyError(
            "; ".join(parts + self.problems),
            hint="the messages are kept (ops.notification_messages) and sent on the next"
            f" `hotdash notify`; check the destination's URL in {URLS_ENV} and that it is"
            " reachable (`hotdash notify --dry-run` lists what is pending;"
            " ops.notification_deliveries keeps each last error)",
        )


def _timezone(target: Target) -> dt.tzinfo:
    name = settings.of(target).get("reporting_timezone") or "UTC"
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


MESSAGE_COLUMNS = (
    "key, kind, shop_domain, level, event_at, subject, body_text, body_markdown, body_html,"
    " alert_id"
)


def _store(conn: psycopg.Connection, messages: Sequence[Message]) -> None:
    """Store the messages not stored yet; a stored message keeps the text it was first made with."""
    with conn.cursor() as cur:
        cur.executemany(
            f"insert into ops.notification_messages ({MESSAGE_COLUMNS})"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict (key) do nothing",
            [
                (
                    m.key,
                    m.kind,
                    m.shop_domain,
                    m.level,
                    m.event_at,
                    m.subject,
                    m.text,
                    m.markdown,
                    m.html,
                    m.alert_id,
                )
                for m in messages
            ],
        )


def _current(conn: psycopg.Connection, alert_keys: Sequence[str], days: int) -> list[Message]:
    """The current messages as stored: the alert messages found this run, and each shop's latest
    briefing made within `days`; alert changes in the order they happened, then the briefings."""
    rows = conn.execute(
        f"""
        select {MESSAGE_COLUMNS}
        from ops.notification_messages as m
        where
            m.key = any(%(alert_keys)s)
            or (
                m.kind = 'briefing'
                and m.created_at >= now() - make_interval(days => %(days)s)
                and not exists (
                    select 1 from ops.notification_messages as newer
                    where
                        newer.kind = 'briefing' and newer.shop_domain = m.shop_domain
                        and (newer.event_at, newer.created_at) > (m.event_at, m.created_at)
                )
            )
        order by m.kind = 'briefing', m.event_at, m.shop_domain, m.kind, m.key
        """,
        {"alert_keys": list(alert_keys), "days": days},
    ).fetchall()
    return [
        Message(key, kind, shop, level, event_at, subject, text, markdown, html, alert_id)
        for key, kind, shop, level, event_at, subject, text, markdown, html, alert_id in rows
    ]


def _lock(conn: psycopg.Connection) -> None:
    """Wait (up to LOCK_WAIT) for any other `hotdash notify` on this database to finish."""
    conn.execute(f"set lock_timeout = '{LOCK_WAIT}'")
    try:
        conn.execute(LOCK_SQL)
    except psycopg.errors.LockNotAvailable as exc:
        raise NotifyError(
            f"another `hotdash notify` has been running on this database for {LOCK_WAIT}",
            hint="see pg_stat_activity for the session holding it; nothing was sent",
        ) from exc
    finally:
        conn.execute("reset lock_timeout")


def _record_attempt(conn: psycopg.Connection, key: str, destination: str) -> None:
    conn.execute(
        "insert into ops.notification_deliveries as d (key, destination, status, attempts)"
        " values (%s, %s, 'sending', 1) on conflict (key, destination) do update set"
        " status = 'sending', attempts = d.attempts + 1, last_attempt_at = now()",
        (key, destination),
    )


def _record_outcome(
    conn: psycopg.Connection, key: str, destination: str, error: str | None
) -> None:
    if error is None:
        conn.execute(
            "update ops.notification_deliveries set status = 'delivered', delivered_at = now(),"
            " last_error = null where key = %s and destination = %s",
            (key, destination),
        )
    else:
        conn.execute(
            "update ops.notification_deliveries set status = 'failed', last_error = %s"
            " where key = %s and destination = %s",
            (error, key, destination),
        )


def deliver(
    target: Target,
    destinations: Destinations | Sequence[Destination],
    briefings: Sequence[Briefing] = (),
    *,
    days: int = DEFAULT_DAYS,
    dry_run: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> NotifyReport:
    """Send the current messages (the alert changes of marts.alerts and `briefings`) to every
    destination that has not taken them yet, and record each attempt. A destination that fails
    is recorded and retried next run; the others are served all the same. dry_run: find and
    print, send and record nothing (the transaction that stored the new messages rolls back)."""
    if not isinstance(destinations, Destinations):
        destinations = Destinations(list(destinations))
    usable = destinations.usable
    tz = _timezone(target)
    outbox = target.home / OUTBOX
    with connect(target, autocommit=True) as conn:
        apply_ddl(conn, "hotdash_ops_ddl")
        _lock(conn)
        try:
            with conn.transaction(force_rollback=dry_run):
                found = alert_messages(conn, days, tz)
                found += [briefing_message(b) for b in briefings]
                _store(conn, found)
                current = _current(conn, [m.key for m in found if m.kind != "briefing"], days)
                delivered = set(
                    conn.execute(
                        "select key, destination from ops.notification_deliveries"
                        " where delivered_at is not null and destination = any(%s)",
                        ([d.label for d in usable],),
                    ).fetchall()
                )
            report = NotifyReport(
                destinations=[d.label for d in usable],
                problems=list(destinations.problems),
                current=len(current),
                dry_run=dry_run,
            )

            def done(outcome: Outcome) -> None:
                report.outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)

            for destination in usable:
                due = [m for m in current if (m.key, destination.label) not in delivered]
                if dry_run:
                    for m in due:
                        done(Outcome(m.key, destination.label, m.subject, "planned"))
                    continue
                _deliver_to(conn, destination, due, outbox, tz, done)
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute(UNLOCK_SQL)
    return report


def _deliver_to(
    conn: psycopg.Connection,
    destination: Destination,
    due: Sequence[Message],
    outbox: Path,
    tz: dt.tzinfo,
    done: Callable[[Outcome], None],
) -> None:
    """Send `due` to one destination in order, each attempt recorded before it is made and its
    outcome after. After MAX_FAILURES_IN_A_ROW failures the rest is left for the next run."""
    app = plugin = None
    if not destination.is_outbox and due:
        import apprise

        with quiet_apprise():
            plugin = apprise.Apprise.instantiate(destination.url, asset=_asset())
            app = apprise.Apprise(asset=_asset())
            if plugin is not None:
                app.add(plugin)
    failures = 0
    for message in due:
        if failures >= MAX_FAILURES_IN_A_ROW:
            done(Outcome(message.key, destination.label, message.subject, "left"))
            continue
        _record_attempt(conn, message.key, destination.label)
        path: Path | None = None
        if destination.is_outbox:
            try:
                path = write_outbox(outbox, message, tz)
                error = None
            except OSError as exc:
                error = f"cannot write to the outbox {outbox}: {exc.strerror or exc}"
        elif plugin is None:
            error = "Apprise could not load this URL"
        else:
            error = _send(app, plugin, destination, message)
        _record_outcome(conn, message.key, destination.label, error)
        failures = failures + 1 if error else 0
        status = "failed" if error else "delivered"
        done(Outcome(message.key, destination.label, message.subject, status, error, path))


def run(
    target: Target,
    *,
    dry_run: bool = False,
    days: int | None = None,
    include_briefing: bool = True,
    environ: Mapping[str, str] = os.environ,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> NotifyReport:
    """`hotdash notify`: the destinations and window from the environment, the briefings from
    the marts, then deliver()."""
    destinations = parse_destinations(environ.get(URLS_ENV))
    days = days if days is not None else days_from_env(environ)
    briefings, warning = gather_briefings(target) if include_briefing else ([], None)
    report = deliver(
        target, destinations, briefings, days=days, dry_run=dry_run, on_outcome=on_outcome
    )
    report.briefing_warning = warning
    return report


def after_build(
    target: Target, on_outcome: Callable[[Outcome], None] | None = None
) -> tuple[NotifyReport | None, str | None]:
    """`hotdash build --notify`: deliver, and turn any failure into a warning (the report, and
    the warning or None): notify never changes the build's outcome or exit code."""
    try:
        report = run(target, on_outcome=on_outcome)
    except Exception as exc:
        text = getattr(exc, "message", None) or str(exc).strip() or type(exc).__name__
        return None, f"{type(exc).__name__}: {text.splitlines()[0]}"
    error = report.error()
    return report, (error.message if error is not None else None)
