"""The AI answer check (`hotdash eval`) on the small store of test_marts.py, built by dbt: every
question of evals/questions.yml answered as the analyst and as the AI role in the shop's
context; then broken grants and row-level security that it must catch.

Hand-worked answers, from test_marts.py's store (as of 2025-03-10, goal 5,000, win-back offer
10 %): the shop hotrod.myshopify.com has two variants to discontinue, 2001 (3 on hand x
3,500.00 = 10,500.00 tied up, half back: 5,250.00) and 2004 (25 x 60.00 = 1,500.00; 750.00
back); its only win-back customer is 501 (professional shop, at risk, 6,100.00 net, last order
105 days ago, last category Suspension & Steering); the guest shop's one campaign row is 601's
nurture.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql
from typer.testing import CliRunner

from runner import db, settings
from runner.cli import app
from runner.errors import ConfigError
from runner.evals import QUESTIONS_FILE, load_questions, run_eval, write_jsonl
from runner.grants import project_settings
from runner.logins import create_login, drop_login
from tests.pytest.helpers import PROJECT_DIR, run_dbt, scalar
from tests.pytest.test_marts import AS_OF, GUESTS, SHOP, store_database

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("eval")

AI = settings.project_security(PROJECT_DIR).roles.ai
MARTS = (
    "growth_metrics",
    "kpi_tiles",
    "seo_dropped_pages",
    "inventory_alerts",
    "product_categories",
    "customer_segments",
    "customer_segment_summary",
    "marketing_targets",
    "customer_segments_history",
    "inventory_actions_history",
)


@pytest.fixture(scope="module")
def store(hotdash_home: Path) -> Iterator[db.Target]:
    """test_marts.py's store, built by dbt with the snapshots and kpi_tiles (whose on-run-end
    applies the grants and row-level security); two alerts of the shop, one of the guests."""
    target = store_database(hotdash_home)
    run_dbt(
        target,
        "build",
        "--select",
        *(f"+{m}" for m in MARTS),
        "+facts_quarantine",
        "--vars",
        json.dumps({"as_of_date": AS_OF, "revenue_goal": 5000, "winback_offer_pct": 10}),
    )
    with db.connect(target) as conn:
        conn.execute(
            "insert into marts.alerts (shop_domain, rule, subject, severity, message, value,"
            " threshold, resolved_at) values"
            " (%s, 'slow_mover_capital', '', 'warn', 'slow movers', 12000.00, 10000, null),"
            " (%s, 'goal_pace', '', 'critical', 'behind', 1.5, 2, now()),"
            " (%s, 'goal_pace', '', 'warn', 'guests behind', 3.25, 4, null)",
            (SHOP, SHOP, GUESTS),
        )
    yield target
    db.drop_database(target)


def evaluate(target: db.Target, shop: str | None = None):
    security = project_settings(target)
    with db.connect(target, autocommit=True) as conn:
        return run_eval(conn, load_questions(), security.model, security.pii_columns, shop=shop)


def answers(report, shop: str) -> dict[str, list]:
    return {r.question.id: r.answer for r in report.results if r.shop == shop}


@pytest.fixture
def admin(store: db.Target) -> Iterator[psycopg.Connection]:
    with db.connect(store, autocommit=True) as conn:
        yield conn


def test_the_questions_file_covers_every_mart_with_30_questions():
    questions = load_questions()
    assert len(questions) >= 30
    assert len({q.id for q in questions}) == len(questions)
    read = {m for q in questions for m in re.findall(r"\bmarts\.(\w+)", q.sql)}
    assert read == {*MARTS, "alerts"}
    # ... which are the marts the AI assistant's exposure reads (models/exposures.yml)
    exposures = yaml.safe_load((PROJECT_DIR / "models" / "exposures.yml").read_text())
    (ai,) = [e for e in exposures["exposures"] if e["name"] == "ai_assistant"]
    assert {re.findall(r"'(\w+)'\)", d)[0] for d in ai["depends_on"]} == read
    seed = {q.question for q in questions}
    assert {
        "How much capital is tied up in items we should discontinue?",
        "Which customers should get the win-back campaign this week?",
        "Are we on pace for the $10M goal?",
    } <= seed
    assert sum(q.pii for q in questions) >= 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("questions: []", "has no list `questions`"),
        ("questions: [{id: a, question: Q, sql: select 1}]", "never names its shop"),
        (
            "questions: [{id: a, question: Q, sql: 'select {{ shop }}'},"
            " {id: a, question: Q, sql: 'select {{ shop }}'}]",
            "the id is used twice",
        ),
        ("questions: [{id: a, question: Q, sql: 'select {{ shop }}', pii: 1}]", "pii must be"),
        ("questions: [{id: A-1, question: Q, sql: 'select {{ shop }}'}]", "id must be"),
    ],
)
def test_a_bad_questions_file_is_refused_naming_the_question(tmp_path, text, message):
    path = tmp_path / "q.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_questions(path)


def test_eval_passes_on_the_built_marts_with_hand_worked_answers(store):
    report = evaluate(store)
    assert report.shops == [GUESTS, SHOP]
    assert [(r.shop, r.question.id, r.why) for r in report.failed] == []
    assert [(x.shop, x.table, x.why) for x in report.leaked] == []
    assert report.ok
    # per shop: the session's shop, then every mart table and the alerts
    assert len(report.leaks) == 2 * 12
    hotrod = answers(report, SHOP)
    assert hotrod["discontinue_capital"] == [[2, "12000.00", "6000.00"]]
    assert hotrod["slow_mover_capital"] == [[2, "12000.00", "6000.00"]]
    assert hotrod["winback_this_week"] == [
        [501, "professional_shop", "at_risk", "6100.00", 105, "Suspension & Steering",
         "10% off Suspension & Steering"]
    ]  # fmt: skip
    # March: cumulative 1,146.00 of 5,000; 3,854.00 to go at 21.22 a day: 2025-09-08.
    month, cumulative, _goal, remaining, pct, rate, date = hotrod["on_pace_for_goal"][0]
    assert (month, cumulative, remaining, pct, rate, date) == (
        "2025-03-01", "1146.00", "3854.00", "22.92", "21.22", "2025-09-08"
    )  # fmt: skip
    assert hotrod["segment_breakdown"] == [
        ["enthusiast_collector", "active", 1, "1700.00"],
        ["first_time_builder", "new", 2, "96.00"],
        ["professional_shop", "at_risk", 1, "6100.00"],
    ]
    assert hotrod["open_alerts"] == [
        ["slow_mover_capital", "", "warn", "slow movers", "12000.00", "10000"]
    ]
    assert answers(report, GUESTS)["campaign_sizes"] == [["new_customer_nurture", 1]]
    assert answers(report, GUESTS)["open_alerts"] == [
        ["goal_pace", "", "warn", "guests behind", "3.25", "4"]
    ]
    pii = [r for r in report.results if r.question.pii]
    assert pii and all(r.ok and r.ai_refused and "permission denied" in r.why for r in pii)


def test_a_revoked_column_fails_the_questions_that_read_it_naming_the_column(store, admin):
    admin.execute(
        sql.SQL("revoke select (capital_tied_up) on marts.inventory_alerts from {}").format(
            sql.Identifier(AI)
        )
    )
    try:
        report = evaluate(store, shop=SHOP)
    finally:
        admin.execute(
            sql.SQL("grant select (capital_tied_up) on marts.inventory_alerts to {}").format(
                sql.Identifier(AI)
            )
        )
    failed = {r.question.id: r.why for r in report.failed}
    assert {"discontinue_capital", "slow_mover_capital", "capital_by_action"} <= set(failed)
    assert all(
        "cannot read marts.inventory_alerts.capital_tied_up" in why
        and "permission denied for table inventory_alerts" in why
        for why in failed.values()
    ), failed
    assert "items_to_reorder" not in failed  # reads other columns only
    assert not report.ok and not report.leaked


def test_a_granted_pii_column_fails_the_pii_question_and_the_mart_check(store, admin):
    grant = sql.SQL("grant select (email, first_name, last_name) on marts.marketing_targets to {}")
    admin.execute(grant.format(sql.Identifier(AI)))
    try:
        report = evaluate(store, shop=SHOP)
    finally:
        revoke = "revoke select (email, first_name, last_name) on marts.marketing_targets from {}"
        admin.execute(sql.SQL(revoke).format(sql.Identifier(AI)))
    failed = {r.question.id: r.why for r in report.failed}
    assert failed == {
        "winback_emails": f"{AI} answered a question that needs PII (1 row(s))",
        "marketing_list_export": f"{AI} answered a question that needs PII (3 row(s))",
    }
    assert [(x.table, x.why) for x in report.leaked] == [
        (
            "marts.marketing_targets",
            f"{AI} can read PII column marts.marketing_targets.email; {AI} can read PII column"
            f" marts.marketing_targets.first_name; {AI} can read PII column"
            " marts.marketing_targets.last_name",
        )
    ]


def test_a_mart_without_row_level_security_shows_the_other_shop(store, admin):
    admin.execute("alter table marts.growth_metrics disable row level security")
    try:
        report = evaluate(store, shop=SHOP)
    finally:
        admin.execute("alter table marts.growth_metrics enable row level security")
    assert [(x.table, x.why) for x in report.leaked] == [
        (
            "marts.growth_metrics",
            f"{AI} in {SHOP}'s context sees 1 row(s) of other shops",
        )
    ]
    assert report.failed == []  # the answers filter on the session's shop all the same


def test_cli_passes_and_exports_jsonl_then_fails_with_exit_10(store, admin, tmp_path):
    env = {"HOTDASH_DATABASE": str(scalar(store, "select current_database()"))}
    out = tmp_path / "eval.jsonl"
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "--shop", SHOP, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "failed" not in result.stdout.split("AI answer check")[-1].replace("0 failed", "")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(load_questions())
    by_id = {line["id"]: line for line in lines}
    assert by_id["discontinue_capital"]["answer"] == [[2, "12000.00", "6000.00"]]
    assert by_id["discontinue_capital"]["columns"] == [
        "variants",
        "capital_tied_up",
        "potential_cash_recovery",
    ]
    assert "{{" not in by_id["discontinue_capital"]["sql"]
    assert "(select marts.hotdash_session_shop())" in by_id["discontinue_capital"]["sql"]
    assert by_id["winback_emails"]["answer"] is None and by_id["winback_emails"]["refused"]
    assert all(line["ok"] and line["shop"] == SHOP for line in lines)
    assert not list(tmp_path.glob(".eval.jsonl.*"))  # the temporary file is gone

    # The exported SQL answers as it is for the AI in the shop's context.
    admin.execute(sql.SQL("set role {}").format(sql.Identifier(AI)))
    admin.execute("select set_config('app.shop_domain', %s, false)", (SHOP,))
    rows = admin.execute(by_id["discontinue_capital"]["sql"]).fetchall()
    admin.execute("reset role")
    assert [[str(v) for v in row] for row in rows] == [["2", "12000.00", "6000.00"]]

    admin.execute(
        sql.SQL("revoke select (offer) on marts.marketing_targets from {}").format(
            sql.Identifier(AI)
        )
    )
    try:
        result = runner.invoke(app, ["eval", "--shop", SHOP, "--json"], env=env)
    finally:
        admin.execute(
            sql.SQL("grant select (offer) on marts.marketing_targets to {}").format(
                sql.Identifier(AI)
            )
        )
    assert result.exit_code == 10, result.output
    report = json.loads(result.stdout)
    failed = {q["id"]: q["why"] for q in report["questions"] if not q["ok"]}
    assert set(failed) == {"winback_this_week"}
    assert "cannot read marts.marketing_targets.offer" in failed["winback_this_week"]
    assert "winback_this_week" in result.stderr


def test_eval_refuses_a_user_who_cannot_take_the_roles(store):
    """SET ROLE is checked against the session's user: a plain login may not take the roles."""
    security = project_settings(store)
    role = f"t_eval_{uuid.uuid4().hex[:8]}"
    with db.connect(store, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    try:
        conninfo = store.conninfo.replace("postgres@", f"{role}@", 1)
        with (
            psycopg.connect(conninfo, autocommit=True) as conn,
            pytest.raises(ConfigError, match=f"{role} cannot take the role"),
        ):
            run_eval(conn, load_questions(), security.model, security.pii_columns)
    finally:
        with db.connect(store, autocommit=True) as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_write_jsonl_is_one_line_per_result(store, tmp_path):
    report = evaluate(store, shop=GUESTS)
    out = tmp_path / "g.jsonl"
    assert write_jsonl(report, out, project_settings(store).model) == len(report.results)
    assert os.path.getsize(out) > 0
    assert QUESTIONS_FILE.exists()


def test_a_real_ai_login_answers_for_the_shop_it_is_bound_to(store, tmp_path):
    """HOTDASH_EVAL_AI_URL: the AI's side runs as a login made by `hotdash grants login ai`,
    bound to the guest shop; it is the only shop asked, and --shop must be it."""
    name = f"t_eval_ai_{uuid.uuid4().hex[:8]}"
    login = create_login(store, "ai", GUESTS, name=name)
    try:
        security = project_settings(store)
        with (
            db.connect(store, autocommit=True) as conn,
            psycopg.connect(login.conninfo, autocommit=True) as ai_conn,
        ):
            report = run_eval(
                conn, load_questions(), security.model, security.pii_columns, ai_conn=ai_conn
            )
            with pytest.raises(ConfigError, match=f"bound to {re.escape(GUESTS)}, not"):
                run_eval(conn, load_questions(), security.model, security.pii_columns,
                         shop=SHOP, ai_conn=ai_conn)  # fmt: skip
        assert report.shops == [GUESTS]
        assert [(r.question.id, r.why) for r in report.failed] == []
        assert report.ok and answers(report, GUESTS)["campaign_sizes"] == [
            ["new_customer_nurture", 1]
        ]
        env = {
            "HOTDASH_DATABASE": str(scalar(store, "select current_database()")),
            "HOTDASH_EVAL_AI_URL": login.conninfo,
        }
        result = CliRunner().invoke(app, ["eval", "--json"], env=env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["shops"] == [GUESTS]
    finally:
        drop_login(store, "ai", GUESTS, name=name)


def test_a_session_shop_that_is_another_shop_gives_different_answers(store, admin):
    """The marts' policy function made to return the guest shop: the AI, in the hotrod shop's
    context, answers for the guests (its two variants to discontinue have no stock: no capital);
    each question whose answers differ fails, and so does the check of the session's shop."""
    (definition,) = admin.execute(
        "select pg_get_functiondef('marts.hotdash_session_shop'::regproc)"
    ).fetchone()
    admin.execute(
        "create or replace function marts.hotdash_session_shop() returns text language sql"
        f" stable security definer set search_path = pg_catalog, pg_temp as $$ select '{GUESTS}' $$"
    )
    try:
        report = evaluate(store, shop=SHOP)
    finally:
        admin.execute(definition)
    failed = {r.question.id: r.why for r in report.failed}
    assert failed["discontinue_capital"] == (
        f'{AI} got a different answer: row 1 is [2, "0", "0"] instead of [2, "12000.00", "6000.00"]'
    )
    assert failed["segment_breakdown"].startswith(f"{AI} got a different answer: 1 row(s) instead")
    assert "items_to_reorder" not in failed  # no row in either shop
    assert [(x.table, x.why) for x in report.leaked if "session" in x.table] == [
        (
            "marts.hotdash_session_shop()",
            f"in {AI}'s context of {SHOP} the session's shop is '{GUESTS}' (or a login of"
            " that role runs `hotdash eval`: its unbound sessions read no shop)",
        )
    ]


def test_answers_compare_exactly():
    from decimal import Decimal

    from runner.evals import _difference, _same, json_value

    assert json_value([Decimal("1.50"), datetime.date(2025, 3, 1), {"a": Decimal("2")}]) == [
        "1.50",
        "2025-03-01",
        {"a": "2"},
    ]
    assert not _same(True, [[json_value(Decimal("1.5"))]], [[json_value(Decimal("1.50"))]])
    assert _same(False, [[1], [2]], [[2], [1]]) and not _same(True, [[1], [2]], [[2], [1]])
    assert _difference([[1], [2]], [[1]]) == "1 row(s) instead of 2"


def test_a_question_over_staging_is_refused_before_anything_runs(store):
    security = project_settings(store)
    first = load_questions()[0]
    staged = dataclasses.replace(
        first,
        id="staged",
        sql="select count(*) from staging.stg_shopify__orders where shop_domain = {{ shop }}",
    )
    bad = [first, staged]
    with (
        db.connect(store, autocommit=True) as conn,
        pytest.raises(ConfigError, match="question staged reads staging: the questions read"),
    ):
        run_eval(conn, bad, security.model, security.pii_columns)
