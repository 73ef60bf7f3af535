"""Delivery (runner/notify.py, `hotdash notify`): end to end against a real SMTP server (aiosmtpd)
and a real HTTP receiver started here, on the embedded PostgreSQL. Alerts come from hand-made
marts (as in test_alerts.py) or rows of marts.alerts; briefings are Briefing objects made here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import json
import logging
import socket
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner import alerts, db, notify, pipeline
from runner.alerts import ensure_alerts_table
from runner.briefing import Briefing
from runner.cli import app
from runner.errors import BuildError, NotifyError
from tests.pytest.helpers import insert_facts, query, scalar

SHOP_A = "a.myshopify.com"
SHOP_B = "b.myshopify.com"
PASSWORD = "pw-S3cret-4711"
TOKEN = "tok3nS3CRETpath"
HEADER_SECRET = "hdrS3CRETvalue"
FROM = "hotdash@shop.example"
TO = "ceo@shop.example"


# --- a real SMTP server and a real HTTP receiver -----------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Smtp:
    """aiosmtpd on 127.0.0.1, AUTH over plain SMTP (as a relay on localhost would), accepting
    the user `bot` with PASSWORD only."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.received: list[tuple[list[str], email.message.EmailMessage]] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                outer.received.append((list(envelope.rcpt_tos), message))
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == b"bot" and auth_data.password == PASSWORD.encode()
            return AuthResult(success=ok, handled=False)  # a failure answers 535

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            auth_require_tls=False,
            authenticator=authenticate,
        )

    def url(self, password: str = PASSWORD) -> str:
        return f"mailto://bot:{password}@127.0.0.1:{self.port}?from={FROM}&to={TO}"

    @property
    def subjects(self) -> list[str]:
        return [message["Subject"] for _, message in self.received]


@pytest.fixture
def smtp():
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # the server's own log sees AUTH
    server = Smtp()
    server.controller.start()
    yield server
    server.controller.stop()


class Receiver:
    """A JSON webhook on 127.0.0.1: keeps every POST; answers `status` (500: a broken one),
    after `delay` seconds."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.paths: list[str] = []
        self.status = 200
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(outer.delay)
                if outer.status == 200:
                    outer.posts.append(json.loads(body))
                    outer.paths.append(self.path)
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    @property
    def titles(self) -> list[str]:
        return [post["title"] for post in self.posts]


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(autouse=True)
def no_email_throttle(monkeypatch):
    """Apprise waits 5.5 s between two emails to one server; the tests send a few."""
    from apprise.plugins.email.base import NotifyEmail

    monkeypatch.setattr(NotifyEmail, "request_rate_per_sec", 0)


@pytest.fixture
def home_target(target, tmp_path) -> db.Target:
    """The test database, with a HOTDASH_HOME of the test's own (the outbox is under it)."""
    return dataclasses.replace(target, home=tmp_path)


# --- alerts and briefings ----------------------------------------------------------------------


def slow_movers(target: db.Target, rows: list[tuple[str, Decimal]]) -> None:
    """marts.inventory_alerts with the columns slow_mover_capital reads: capital per shop."""
    with db.connect(target) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute("drop table if exists marts.inventory_alerts")
        conn.execute(
            "create table marts.inventory_alerts (shop_domain text, recommended_action text,"
            " capital_tied_up numeric)"
        )
        for shop, capital in rows:
            conn.execute(
                "insert into marts.inventory_alerts values (%s, 'discontinue', %s)", (shop, capital)
            )


def evaluate(target: db.Target) -> alerts.Summary:
    return alerts.evaluate(target, uuid.uuid4(), ["slow_mover_capital"])


def alert_row(
    target: db.Target, shop: str, opened_days_ago: float, resolved_days_ago: float | None
) -> uuid.UUID:
    """A row of marts.alerts as a build long ago left it."""
    with db.connect(target) as conn:
        ensure_alerts_table(conn)
        (alert_id,) = conn.execute(
            "insert into marts.alerts (shop_domain, rule, severity, message, opened_at,"
            " last_seen_at, resolved_at) values (%s, 'quarantine_share', 'warn',"
            " 'too many facts quarantined', now() - make_interval(secs => %s * 86400),"
            " now() - make_interval(secs => %s * 86400),"
            " now() - make_interval(secs => %s * 86400)) returning alert_id",
            (shop, opened_days_ago, opened_days_ago, resolved_days_ago),
        ).fetchone()
    return alert_id


def briefing(shop: str = SHOP_A, day: dt.date = dt.date(2026, 11, 28)) -> Briefing:
    return Briefing(
        shop_domain=shop,
        as_of_date=day,
        subject=f"Morning briefing {shop} {day}",
        text=f"Morning briefing for {shop}, {day}\nNet revenue yesterday: 1,234.00\n",
        markdown=f"# Morning briefing for {shop}\n\nNet revenue yesterday: **1,234.00**\n",
        html=(
            "<!doctype html><html><head><style>p{margin:0}</style></head><body>"
            f"<h1>Morning briefing for {shop}, {day}</h1><p>Net revenue yesterday: 1,234.00</p>"
            '<svg width="10" height="10"><rect width="5" height="5"/></svg></body></html>'
        ),
    )


def deliver(target: db.Target, urls: str, briefings=(), **kwargs) -> notify.NotifyReport:
    return notify.deliver(target, notify.parse_destinations(urls), briefings, **kwargs)


def deliveries(target: db.Target) -> list[tuple]:
    return query(
        target,
        "select key, destination, status, attempts, delivered_at is not null, last_error"
        " from ops.notification_deliveries order by destination, key",
    )


def text_part(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


# --- end to end --------------------------------------------------------------------------------


def test_email_and_webhook_each_get_the_alert_and_the_briefing_once(home_target, smtp, receiver):
    target = home_target
    slow_movers(target, [(SHOP_A, Decimal("60000"))])
    evaluate(target)
    (alert_id,) = query(target, "select alert_id from marts.alerts")[0]
    urls = f"{smtp.url()} {receiver.url()}"

    report = deliver(target, urls, [briefing()])

    assert report.error() is None
    assert [(o.status, o.destination) for o in report.outcomes] == [
        ("delivered", f"mailto://127.0.0.1:{smtp.port}"),
        ("delivered", f"mailto://127.0.0.1:{smtp.port}"),
        ("delivered", f"json://127.0.0.1:{receiver.port}"),
        ("delivered", f"json://127.0.0.1:{receiver.port}"),
    ]
    alert_subject = f"[hotdash] warn: slow_mover_capital opened for {SHOP_A}"
    briefing_subject = f"Morning briefing {SHOP_A} 2026-11-28"

    # the email: to the configured recipient, one per message, the alert's text and the briefing
    assert [(to, m["To"], m["From"]) for to, m in smtp.received] == [([TO], TO, FROM)] * 2
    assert smtp.subjects == [alert_subject, briefing_subject]
    alert_mail, briefing_mail = (m for _, m in smtp.received)
    assert "60,000.00 of capital tied up in 1 variants" in text_part(alert_mail)
    assert f"hotdash alerts --shop {SHOP_A}" in text_part(alert_mail)
    assert "Net revenue yesterday: 1,234.00" in text_part(briefing_mail)
    html = briefing_mail.get_body(preferencelist=("html",)).get_content()
    assert "<svg" in html and "<h1>Morning briefing for a.myshopify.com, 2026-11-28</h1>" in html

    # the webhook: Apprise's JSON, the plain text as the message
    assert receiver.paths == ["/hook", "/hook"]
    alert_post, briefing_post = receiver.posts
    assert alert_post["title"] == alert_subject
    assert alert_post["type"] == "warning"
    assert alert_post["message"].startswith(
        f"slow_mover_capital opened for {SHOP_A} (warn)\n\n60,000.00 of capital tied up"
    )
    assert briefing_post == {
        "version": "1.0",
        "title": briefing_subject,
        "message": briefing().text.rstrip(),  # Apprise trims the end
        "attachments": [],
        "type": "info",
    }

    # the record: one row per message and destination
    keys = [f"alert:{alert_id}:opened", f"briefing:{SHOP_A}:2026-11-28"]
    assert [row[:5] for row in deliveries(target)] == [
        (key, f"{scheme}://127.0.0.1:{port}", "delivered", 1, True)
        for scheme, port in (("json", receiver.port), ("mailto", smtp.port))
        for key in keys
    ]

    # again: nothing new, nothing sent twice (the alert is still open, the briefing the same)
    evaluate(target)
    again = deliver(target, urls, [briefing()])
    assert again.outcomes == [] and again.already_delivered == 4
    assert len(smtp.received) == 2 and len(receiver.posts) == 2


def test_a_failing_destination_is_recorded_and_retried_and_never_holds_up_the_others(
    home_target, smtp, receiver
):
    target = home_target
    slow_movers(target, [(SHOP_A, Decimal("60000")), (SHOP_B, Decimal("70000"))])
    evaluate(target)
    dead = f"json://127.0.0.1:{free_port()}/hook"  # nothing listens there
    urls = f"{smtp.url()}, {receiver.url()}, {dead}"
    receiver.status = 500

    report = deliver(target, urls, [briefing()])

    statuses = [(o.destination.split(":")[0], o.status) for o in report.outcomes]
    assert statuses == [("mailto", "delivered")] * 3 + [("json", "failed")] * 2 + [
        ("json", "left")
    ] + [("json", "failed")] * 2 + [("json", "left")]
    assert len(smtp.received) == 3
    error = report.error()
    assert isinstance(error, NotifyError) and error.exit_code == 13
    assert error.message == (
        f"6 message(s) not delivered: json://127.0.0.1:{receiver.port} (3),"
        f" {dead.rpartition('/')[0]} (3) (each failure's error is on its line above)"
    )
    assert "error=500" in report.outcomes[3].line()
    by_destination = {}
    for _, destination, status, attempts, _, last_error in deliveries(target):
        by_destination.setdefault(destination, []).append((status, attempts, last_error))
    receiver_rows = by_destination[f"json://127.0.0.1:{receiver.port}"]
    assert [row[:2] for row in receiver_rows] == [("failed", 1)] * 2  # the third not attempted
    assert all("error=500" in row[2] for row in receiver_rows)
    dead_rows = by_destination[dead.rpartition("/")[0]]
    assert [row[:2] for row in dead_rows] == [("failed", 1)] * 2
    assert all("Connection error" in row[2] for row in dead_rows)

    # the receiver works again: everything it missed, in order; the email gets nothing twice
    receiver.status = 200
    retry = deliver(target, f"{smtp.url()} {receiver.url()}", [briefing()])
    assert [o.status for o in retry.outcomes] == ["delivered"] * 3
    assert receiver.titles == [
        f"[hotdash] warn: slow_mover_capital opened for {SHOP_A}",
        f"[hotdash] warn: slow_mover_capital opened for {SHOP_B}",
        f"Morning briefing {SHOP_A} 2026-11-28",
    ]
    assert len(smtp.received) == 3
    assert query(
        target,
        "select attempts, status, last_error from ops.notification_deliveries"
        " where destination = %s order by key",
        (f"json://127.0.0.1:{receiver.port}",),
    ) == [(2, "delivered", None), (2, "delivered", None), (1, "delivered", None)]


def test_with_nothing_configured_messages_go_to_the_outbox_once(home_target):
    target = home_target
    slow_movers(target, [(SHOP_A, Decimal("60000"))])
    evaluate(target)
    (alert_id, opened_at) = query(target, "select alert_id, opened_at from marts.alerts")[0]

    report = notify.deliver(target, notify.parse_destinations(""), [briefing()])

    assert report.destinations == ["outbox"] and report.error() is None
    outbox = target.home / "outbox"
    files = sorted(p.relative_to(outbox).as_posix() for p in outbox.rglob("*") if p.is_file())
    assert files == [
        "2026-11-28/briefing_a.myshopify.com_2026-11-28.eml",
        f"{opened_at.astimezone(dt.UTC).date()}/alert_{alert_id}_opened.eml",
    ]
    mail = email.message_from_bytes((outbox / files[0]).read_bytes(), policy=email.policy.default)
    assert mail["Subject"] == f"Morning briefing {SHOP_A} 2026-11-28"
    assert mail["X-Hotdash-Key"] == f"briefing:{SHOP_A}:2026-11-28"
    assert text_part(mail) == briefing().text
    assert "<svg" in mail.get_body(preferencelist=("html",)).get_content()
    assert [row[1:5] for row in deliveries(target)] == [("outbox", "delivered", 1, True)] * 2
    mtimes = {p: p.stat().st_mtime_ns for p in outbox.rglob("*.eml")}

    again = notify.deliver(target, notify.parse_destinations(""), [briefing()])
    assert again.outcomes == []
    assert {p: p.stat().st_mtime_ns for p in outbox.rglob("*") if p.is_file()} == mtimes


def test_an_alert_opened_then_resolved_makes_one_opened_and_one_resolved_message(
    home_target, receiver
):
    target = home_target
    slow_movers(target, [(SHOP_A, Decimal("60000"))])
    evaluate(target)
    deliver(target, receiver.url())
    evaluate(target)  # still open: updated, not new
    deliver(target, receiver.url())
    slow_movers(target, [(SHOP_A, Decimal("100"))])
    assert evaluate(target).resolved == 1
    deliver(target, receiver.url())
    deliver(target, receiver.url())

    # B opens and resolves between two runs: both messages, in that order
    slow_movers(target, [(SHOP_B, Decimal("60000"))])
    evaluate(target)
    slow_movers(target, [])
    evaluate(target)
    deliver(target, receiver.url())

    assert receiver.titles == [
        f"[hotdash] warn: slow_mover_capital opened for {SHOP_A}",
        f"[hotdash] resolved: slow_mover_capital for {SHOP_A}",
        f"[hotdash] warn: slow_mover_capital opened for {SHOP_B}",
        f"[hotdash] resolved: slow_mover_capital for {SHOP_B}",
    ]
    resolved = receiver.posts[1]
    assert resolved["type"] == "success"
    assert resolved["message"].startswith(
        f"slow_mover_capital resolved for {SHOP_A} (was warn)\n\nLast seen: 60,000.00 of capital"
    )
    assert scalar(target, "select count(*) from ops.notification_messages") == 4


def test_a_late_first_run_sends_open_alerts_and_recent_changes_not_old_history(
    home_target, receiver
):
    target = home_target
    still_open = alert_row(target, SHOP_A, 400, None)  # open for more than a year
    alert_row(target, SHOP_A, 60, 50)  # old news
    resolved_lately = alert_row(target, SHOP_A, 30, 2)
    both = alert_row(target, SHOP_B, 3, 1)

    report = deliver(target, receiver.url(), days=7)

    assert [o.key for o in report.outcomes] == [  # in the order they happened
        f"alert:{still_open}:opened",
        f"alert:{both}:opened",
        f"alert:{resolved_lately}:resolved",
        f"alert:{both}:resolved",
    ]
    # --days 90 reaches the older changes
    wider = deliver(target, receiver.url(), days=90)
    assert len(wider.outcomes) == 3  # 60/50 opened and resolved, and 30's opening


def test_a_newer_briefing_replaces_one_not_yet_delivered(home_target, receiver):
    target = home_target
    receiver.status = 500
    deliver(target, receiver.url(), [briefing(day=dt.date(2026, 11, 27))])
    receiver.status = 200
    report = deliver(target, receiver.url(), [briefing(day=dt.date(2026, 11, 28))])
    assert receiver.titles == [f"Morning briefing {SHOP_A} 2026-11-28"]
    assert [o.status for o in report.outcomes] == ["delivered"]
    # a run that could not make the briefing (no marts) still retries the latest stored one
    receiver.status = 500
    deliver(target, receiver.url(), [briefing(SHOP_B)])
    receiver.status = 200
    deliver(target, receiver.url(), [])
    assert receiver.titles[-1] == f"Morning briefing {SHOP_B} 2026-11-28"


def test_two_runs_at_once_send_each_message_once(home_target, receiver):
    target = home_target
    slow_movers(target, [(SHOP_A, Decimal("60000")), (SHOP_B, Decimal("70000"))])
    evaluate(target)
    receiver.delay = 0.3
    reports: list[notify.NotifyReport] = []

    def one() -> None:
        reports.append(deliver(target, receiver.url(), [briefing()]))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(receiver.posts) == 3
    assert sorted(len(r.outcomes) for r in reports) == [0, 3]


def test_dry_run_sends_and_records_nothing(home_target, receiver):
    target = home_target
    slow_movers(target, [(SHOP_A, Decimal("60000"))])
    evaluate(target)
    report = deliver(target, receiver.url(), [briefing()], dry_run=True)
    assert [o.status for o in report.outcomes] == ["planned", "planned"]
    assert report.outcomes[0].line().startswith("would send alert:")
    assert receiver.posts == []
    assert scalar(target, "select count(*) from ops.notification_messages") == 0
    assert deliveries(target) == []


# --- destinations ------------------------------------------------------------------------------


def test_destinations_are_named_by_scheme_and_host_only():
    found = notify.parse_destinations(
        f"mailtos://bot:{PASSWORD}@smtp.example.com:587?to=a@x.com,b@x.com&from=h@x.com"
        f" , slack://T1JJ3T3L2/A1BRTD4JD/{TOKEN}/#ops;"
        f"jsons://hooks.example.com/in/{TOKEN}?+X-Token={HEADER_SECRET}"
        f" team=slack://T1JJ3T3L2/A1BRTD4JD/{TOKEN}2"
        f" json://hooks.example.com/in/{TOKEN}"
        f" json://hooks.example.com/other/{TOKEN}"
        f" json://hooks.example.com/in/{TOKEN}"  # the same URL again: once
        f" outbox bogus://nothing not-a-url"
    )
    assert [d.label for d in found.usable] == [
        "mailtos://smtp.example.com",  # 587: mailtos's own port
        "slack://T...2",
        "jsons://hooks.example.com",
        "team",
        "json://hooks.example.com",
        "json://hooks.example.com#2",
        "outbox",
    ]
    assert found.problems == [
        "HOTDASH_NOTIFY_URLS entry 9 (bogus://...) is not a URL Apprise can use: an unknown"
        " scheme, or a part missing or malformed",
        "HOTDASH_NOTIFY_URLS entry 10 is not a URL (no scheme://)",
    ]
    mail = found.usable[0]
    assert mail.url is not None and "b@x.com" in mail.url  # the list of recipients stays whole
    assert PASSWORD not in repr(found)
    assert mail.redact(f"login {PASSWORD} failed for a@x.com") == "login *** failed for a@x.com"
    webhook = found.usable[2]
    assert (
        webhook.redact(f"POST /in/{TOKEN} X-Token: {HEADER_SECRET}") == "POST /in/*** X-Token: ***"
    )
    assert notify.parse_destinations("  ").usable == [notify.Destination("outbox")]


# --- the command line, and secrets -------------------------------------------------------------


def cli(target: db.Target, env: dict[str, str], *args: str):
    env = {"HOTDASH_DATABASE": str(scalar(target, "select current_database()")), **env}
    return CliRunner().invoke(app, list(args), env=env)


def test_secrets_appear_in_no_output_record_or_log(target, smtp, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    slow_movers(target, [(SHOP_A, Decimal("60000"))])
    evaluate(target)
    wrong = "Wr0ngPassw0rd-99"
    urls = " ".join(
        (
            smtp.url(),
            smtp.url(password=wrong),  # refused by the server
            f"{receiver.url(TOKEN)}?+X-Token={HEADER_SECRET}",
            f"json://127.0.0.1:{free_port()}/{TOKEN}x",  # nothing listens
        )
    )
    receiver.status = 500
    secrets = (PASSWORD, wrong, TOKEN, HEADER_SECRET)

    dry = cli(target, {"HOTDASH_NOTIFY_URLS": urls}, "notify", "--dry-run")
    first = cli(target, {"HOTDASH_NOTIFY_URLS": urls}, "notify")
    receiver.status = 200
    second = cli(target, {"HOTDASH_NOTIFY_URLS": urls}, "notify")

    assert dry.exit_code == 0, dry.output
    assert "would send alert:" in dry.output
    assert first.exit_code == 13, first.output
    assert "error: " in first.stderr and "hint: the messages are kept" in first.stderr
    # No growth_metrics here: the briefing cannot be made, and the alerts go out all the same.
    assert "warning: the daily briefing could not be made: ExportError" in first.stderr
    assert "sent alert:" in first.stdout and f"mailto://127.0.0.1:{smtp.port}" in first.stdout
    assert f"mailto://127.0.0.1:{smtp.port}#2" in first.stderr
    assert second.exit_code == 13  # the wrong password and the dead port fail still
    assert f"to json://127.0.0.1:{receiver.port}:" in second.stdout
    assert len(smtp.received) == 1 and len(receiver.posts) == 1
    assert receiver.paths == [f"/{TOKEN}"]  # the secrets did reach their destination

    records = query(
        target,
        "select (select json_agg(d)::text from ops.notification_deliveries as d),"
        " (select json_agg(m)::text from ops.notification_messages as m)",
    )[0]
    errors = sorted(row[5] for row in deliveries(target) if row[5])
    assert len(errors) == 2  # the receiver's error was cleared once it took the message
    assert errors[0].startswith("A Connection error occurred sending JSON notification")
    assert "Authentication credentials invalid" in errors[1]
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for text in (dry.output, first.output, second.output, *records, logged):
        for secret in secrets:
            assert secret not in text


def test_build_notify_delivers_even_after_a_failed_build_and_never_changes_its_exit_code(
    target, receiver, monkeypatch
):
    insert_facts(target, [(SHOP_A, "shopify.orders", {})])
    real_build = pipeline.build
    steps = {"now": [pipeline.Step("breaks", boom)]}

    def quick_build(target, options, listener=None, wait=0):
        return real_build(target, options, listener, steps=steps["now"], wait=wait)

    monkeypatch.setattr(pipeline, "build", quick_build)
    env = {"HOTDASH_NOTIFY_URLS": receiver.url()}

    failed = cli(target, env, "build", "--notify")
    assert failed.exit_code == 6, failed.output
    assert receiver.titles == [f"[hotdash] critical: build_failed opened for {SHOP_A}"]
    assert failed.stdout.splitlines()[-1].startswith("run ")  # still the last line

    # the build succeeds, the receiver is down: a warning, exit 0, the resolution kept for later
    steps["now"] = [pipeline.Step("fine", lambda ctx: "ok")]
    receiver.status = 500
    ok = cli(target, env, "build", "--notify")
    assert ok.exit_code == 0, ok.output
    assert "warning: notify: 1 message(s) not delivered: json://127.0.0.1:" in ok.stderr
    assert "(the build's outcome is unchanged; `hotdash notify` retries)" in ok.stderr

    def broken(*args, **kwargs):
        raise RuntimeError("notify is broken")

    real_run = notify.run
    monkeypatch.setattr(notify, "run", broken)
    still_ok = cli(target, env, "build", "--notify")
    assert still_ok.exit_code == 0
    assert "warning: notify: RuntimeError: notify is broken" in still_ok.stderr
    monkeypatch.setattr(notify, "run", real_run)

    receiver.status = 200
    assert cli(target, env, "notify", "--no-briefing").exit_code == 0
    assert receiver.titles[-1] == f"[hotdash] resolved: build_failed for {SHOP_A}"


def boom(ctx) -> None:
    raise BuildError("boom happened")


def test_notify_error_has_its_own_exit_code():
    assert NotifyError("x").exit_code == 13
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "| 13 | NotifyError |" in readme
