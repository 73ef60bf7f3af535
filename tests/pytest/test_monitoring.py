"""The operator dashboard's monitoring panels (models/monitoring, ops.monitor_mart_rows): exact
rows from small hand-made facts and build records, freshness at each threshold's edge, the plans
that keep them cheap, and who reads what, as real sessions.

One database per module, built by a non-superuser dbt user as in production (the panels'
functions run as their owner). Times are set relative to the database clock just before each
panel is read.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql

from runner import db, dbt, grants, settings
from runner.facts import ensure_facts_table
from tests.pytest.helpers import FIXTURES_DIR, PROJECT_DIR, insert_facts, query, run_dbt
from tests.pytest.test_security import builder_target

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("monitoring")

SHOP_A = "a.myshopify.com"
SHOP_B = "b.myshopify.com"
LOADER, ANALYST, OPERATOR, AI = settings.project_security(PROJECT_DIR).roles.all()
SELECT = ["facts_triage", "pipeline_health", "monitor_mart_rows", "monitoring"]
PANELS = [
    "monitor_freshness",
    "monitor_ingest",
    "monitor_quarantine",
    "monitor_builds",
    "monitor_contracts",
    "monitor_open_alerts",
]


def payload(name: str) -> dict:
    return json.loads((FIXTURES_DIR / f"{name}.json").read_text())[name]


def order(oid: int) -> dict:
    value = copy.deepcopy(payload("order"))
    value.update(id=oid, currency="USD")
    return value


def customer(cid: int) -> dict:
    value = copy.deepcopy(payload("customer"))
    value.update(id=cid)
    return value


# (shop, topic, payload, hours before now when the app stored it)
FACTS = [
    (SHOP_A, "shopify.orders", order(1), 30.0),
    (SHOP_A, "shopify.orders", order(2), 2.5),
    (SHOP_A, "shopify.orders", {"id": "x"}, 2.25),
    (SHOP_A, "shopify.orders", "[]", 26.0),
    (SHOP_A, "shopify.orders", "[]", 50.0),  # outside the 48 hours of monitor_ingest
    (SHOP_A, "shopify.orders", "[]", 24.0 * 20),  # outside the 14 days of monitor_quarantine
    (SHOP_A, "shopify.customers", customer(11), 1.5),
    (SHOP_A, "other.topic", {}, 0.5),
    (SHOP_B, "shopify.orders", order(3), 2.5),
    (SHOP_B, "shopify.orders", "[]", 2.5),
]


@dataclasses.dataclass(frozen=True)
class Built:
    admin: db.Target
    builder: db.Target
    ids: list[int]
    names: list[str]

    def login(self, kind: str, shop: str | None) -> str:
        """A real login in the group of `kind` (bound to `shop` when given)."""
        group = {"operator": OPERATOR, "ai": AI, "analyst": ANALYST}[kind]
        name = f"t_mon_{kind}_{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        with db.connect(self.admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("create role {} login in role {}").format(
                    sql.Identifier(name), sql.Identifier(group)
                )
            )
            if shop is not None:
                conn.execute(
                    "insert into ops.shop_logins (login, shop_domain, kind) values (%s, %s, %s)",
                    (name, shop, kind),
                )
        return name


@pytest.fixture(scope="module")
def built(hotdash_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    base = tmp_path_factory.mktemp("monitoring")
    name = f"t_mon_{uuid.uuid4().hex[:8]}"
    role = f"t_builder_{uuid.uuid4().hex[:8]}"
    admin = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=name)
    with db.connect(admin, autocommit=True) as conn:
        ensure_facts_table(conn)
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("grant create on database {} to {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("grant create on schema public to {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("alter table public.facts owner to {}").format(sql.Identifier(role)))
    run_dbt(admin, "run-operation", "hotdash_ensure_roles")
    ids = insert_facts(admin, [(shop, topic, value) for shop, topic, value, _ in FACTS])
    builder = builder_target(admin, role, base / "builder")
    run_dbt(builder, "run", "--select", *SELECT)
    made = Built(admin, builder, ids, [role])
    try:
        yield made
    finally:
        db.drop_database(admin)
        with psycopg.connect(db._embedded_uri(hotdash_home, start=False), autocommit=True) as conn:
            for login in reversed(made.names):
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(login)))


def set_ages(target: db.Target, ages: dict[int, float]) -> None:
    """created_at = now() - hours, per fact id."""
    with db.connect(target) as conn:
        for fact_id, hours in ages.items():
            conn.execute(
                "update facts set created_at = now() - %s * interval '1 hour' where id = %s",
                (hours, fact_id),
            )


def as_role(target: db.Target, role: str, statement: str, shop: str | None = None) -> list[tuple]:
    """One statement as `role` (SET ROLE from the superuser, the session's shop set)."""
    with db.connect(target) as conn:
        try:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            if shop is not None:
                conn.execute("select set_config('app.shop_domain', %s, false)", (shop,))
            return conn.execute(statement).fetchall()  # type: ignore[arg-type]
        finally:
            conn.rollback()


def as_login(target: db.Target, login: str, statement: str, shop: str | None = None) -> list:
    conninfo = target.conninfo.replace("postgres@", f"{login}@", 1)
    with psycopg.connect(conninfo) as conn:
        if shop is not None:
            conn.execute("select set_config('app.shop_domain', %s, false)", (shop,))
        return conn.execute(statement).fetchall()  # type: ignore[arg-type]


def reset_ages(built: Built) -> None:
    set_ages(built.admin, {i: f[3] for i, f in zip(built.ids, FACTS, strict=True)})


# --- per-shop panels: exact rows ---------------------------------------------------------------


def test_ingest_counts_the_shops_facts_per_hour_and_topic(built: Built) -> None:
    reset_ages(built)
    rows = as_role(
        built.admin,
        OPERATOR,
        "select shop_domain, topic, hour, facts from marts.monitor_ingest order by topic, hour",
        SHOP_A,
    )
    hour = query(built.admin, "select date_trunc('hour', now() at time zone 'UTC')")[0][0]
    hour = hour.replace(tzinfo=dt.UTC)

    def at(hours_ago: float) -> dt.datetime:
        now = query(built.admin, "select now()")[0][0]
        return (now - dt.timedelta(hours=hours_ago)).replace(minute=0, second=0, microsecond=0)

    expected: dict[tuple[str, dt.datetime], int] = {}
    for shop, topic, _, hours in FACTS:
        if shop == SHOP_A and hours < 47:  # the current hour and the 47 before it
            key = (topic, at(hours))
            expected[key] = expected.get(key, 0) + 1
    assert rows == [(SHOP_A, t, h, n) for (t, h), n in sorted(expected.items())]
    assert hour >= max(h for _, h in expected)


def test_quarantine_counts_reasons_per_day_for_the_session_shop(built: Built) -> None:
    # all on one UTC day, whatever the time of the test: the window's days are whole days
    today = query(built.admin, "select (now() at time zone 'UTC')::date")[0][0]
    noon_ago = query(
        built.admin,
        "select extract(epoch from now() - (%s::date + interval '1 minute')::timestamptz) / 3600",
        (today,),
    )[0][0]
    near = float(noon_ago) / 2  # between the start of today (UTC) and now
    set_ages(
        built.admin,
        {i: (near if f[3] < 48 else f[3]) for i, f in zip(built.ids, FACTS, strict=True)},
    )
    with db.connect(built.admin) as conn:
        conn.execute("set timezone = 'UTC'")
        yesterday = today - dt.timedelta(days=1)
        first = today - dt.timedelta(days=13)  # the window's first day: 14 days, today included
        moves = [
            (yesterday, "12:00", built.ids[3]),  # bad orders of shop A
            (first, "00:01", built.ids[4]),
            (first - dt.timedelta(days=1), "23:59", built.ids[5]),  # the day before the window
        ]
        for day, time, fact_id in moves:
            conn.execute(
                "update facts set created_at = %s::date + %s::time where id = %s",
                (day, time, fact_id),
            )
    query_ = (
        "select shop_domain, day, topic, reason, facts_quarantined from marts.monitor_quarantine"
        " order by day, topic, reason"
    )
    rows_a = as_role(built.admin, OPERATOR, query_, SHOP_A)
    assert rows_a == [
        (SHOP_A, first, "shopify.orders", "payload is a JSON array, not an object", 1),
        (SHOP_A, yesterday, "shopify.orders", "payload is a JSON array, not an object", 1),
        (SHOP_A, today, "shopify.orders", "id is not an integer", 1),
    ]
    assert as_role(built.admin, OPERATOR, query_, SHOP_B) == [
        (SHOP_B, today, "shopify.orders", "payload is a JSON array, not an object", 1),
    ]


EDGES = [
    # topic, hours old, status (warn / error after: orders 24 / 72, customers 168 / 336,
    # default (other.topic) 24 / 72), a minute each side of every threshold
    ("shopify.orders", 24 - 1 / 60, "fresh", 24, 72),
    ("shopify.orders", 24 + 1 / 60, "warn", 24, 72),
    ("shopify.orders", 72 - 1 / 60, "warn", 24, 72),
    ("shopify.orders", 72 + 1 / 60, "stale", 24, 72),
    ("shopify.customers", 168 - 1 / 60, "fresh", 168, 336),
    ("shopify.customers", 168 + 1 / 60, "warn", 168, 336),
    ("shopify.customers", 336 - 1 / 60, "warn", 168, 336),
    ("shopify.customers", 336 + 1 / 60, "stale", 168, 336),
    ("other.topic", 24 + 1 / 60, "warn", 24, 72),
    ("other.topic", 72 + 1 / 60, "stale", 24, 72),
]


@pytest.mark.parametrize(("topic", "hours", "status", "warn", "error"), EDGES)
def test_freshness_status_at_each_threshold_edge(
    built: Built, topic: str, hours: float, status: str, warn: int, error: int
) -> None:
    reset_ages(built)
    newest = {
        topic_: max(i for i, f in zip(built.ids, FACTS, strict=True) if f[:2] == (SHOP_A, topic_))
        for topic_ in ("shopify.orders", "shopify.customers", "other.topic")
    }
    # every fact of the topic older than the newest one, which is `hours` old
    set_ages(
        built.admin,
        {
            i: hours + (0 if i == newest[topic] else 1)
            for i, f in zip(built.ids, FACTS, strict=True)
            if f[:2] == (SHOP_A, topic)
        },
    )
    rows = as_role(
        built.admin,
        OPERATOR,
        "select shop_domain, topic, status, warn_after_hours, error_after_hours,"
        " round(extract(epoch from age) / 60) from marts.monitor_freshness"
        " where topic = '" + topic + "'",
        SHOP_A,
    )
    assert rows == [(SHOP_A, topic, status, warn, error, round(hours * 60))]


def test_freshness_lists_every_topic_of_the_session_shop(built: Built) -> None:
    reset_ages(built)
    statement = (
        "select shop_domain, topic, status, round(extract(epoch from age) / 3600, 2)"
        " from marts.monitor_freshness order by topic"
    )
    assert as_role(built.admin, OPERATOR, statement, SHOP_A) == [
        (SHOP_A, "other.topic", "fresh", pytest.approx(0.5, abs=0.02)),
        (SHOP_A, "shopify.customers", "fresh", pytest.approx(1.5, abs=0.02)),
        (SHOP_A, "shopify.orders", "fresh", pytest.approx(2.25, abs=0.02)),
    ]
    assert as_role(built.admin, OPERATOR, statement, SHOP_B) == [
        (SHOP_B, "shopify.orders", "fresh", pytest.approx(2.5, abs=0.02)),
    ]


# --vars replaces the whole var: every topic of the project, other hours
FRESHNESS_VARS = json.dumps(
    {
        "freshness": {
            "default": {"warn_after_hours": 1, "error_after_hours": 2},
            "shopify.orders": {"warn_after_hours": 0.5, "error_after_hours": 3},
            **{
                topic: {"warn_after_hours": 1, "error_after_hours": 2}
                for topic in (
                    "shopify.refunds",
                    "shopify.customers",
                    "shopify.products",
                    "shopify.inventory_items",
                    "shopify.inventory_levels",
                )
            },
        }
    }
)


def test_freshness_thresholds_follow_the_var(built: Built, tmp_path: Path) -> None:
    run_dbt(
        built.builder,
        "run",
        "--select",
        "monitor_freshness",
        "--vars",
        FRESHNESS_VARS,
    )
    try:
        reset_ages(built)
        rows = as_role(
            built.admin,
            OPERATOR,
            "select topic, warn_after_hours, error_after_hours, status"
            " from marts.monitor_freshness order by topic",
            SHOP_A,
        )
        assert rows == [
            ("other.topic", 1, 2, "fresh"),
            ("shopify.customers", 1, 2, "warn"),
            ("shopify.orders", 0.5, 3, "warn"),
        ]
    finally:
        run_dbt(built.builder, "run", "--select", "monitor_freshness")


# --- build-wide panels: exact rows -------------------------------------------------------------

RUN_OK = uuid.UUID("00000000-0000-0000-0000-000000000001")
RUN_FAILED = uuid.UUID("00000000-0000-0000-0000-000000000002")
RUN_OLD = uuid.UUID("00000000-0000-0000-0000-000000000003")


@pytest.fixture
def builds(built: Built) -> Iterator[None]:
    steps = json.dumps(
        [
            {"name": "judge facts", "status": "success", "seconds": 1.5, "summary": "x"},
            {"name": "dbt build", "status": "failed", "seconds": 10.25, "summary": "secret"},
        ]
    )
    with db.connect(built.admin) as conn:
        conn.execute(
            "insert into ops.build_runs (run_id, started_at, ended_at, status, command_args,"
            " error_message, failed_step, steps) values"
            " (%(ok)s, now() - interval '2 hours', now() - interval '2 hours' + interval '42 seconds',"
            "  'success', '[\"build\"]', null, null, '[]'),"
            " (%(failed)s, now() - interval '1 hour', now() - interval '1 hour' + interval '12 seconds',"
            "  'failed', '[\"build\"]', 'shop a.myshopify.com order 1 broke', 'dbt build', %(steps)s),"
            " (%(old)s, now() - interval '31 days', now() - interval '31 days', 'success', '[]',"
            "  null, null, '[]')",
            {"ok": RUN_OK, "failed": RUN_FAILED, "old": RUN_OLD, "steps": steps},
        )
        conn.execute(
            "insert into ops.build_run_nodes (run_id, unique_id, name, resource_type, status,"
            " rows_affected, seconds, message) values"
            " (%(ok)s, 'model.hotdash.growth_metrics', 'growth_metrics', 'model', 'success', 12, 3, 'SELECT 12'),"
            " (%(ok)s, 'model.hotdash.stg_shopify__orders', 'stg_shopify__orders', 'model', 'success', 99, 5, ''),"
            " (%(ok)s, 'model.hotdash.kpi_tiles', 'kpi_tiles', 'model', 'success', 7, 1, ''),"
            " (%(failed)s, 'model.hotdash.growth_metrics', 'growth_metrics', 'model', 'error', null, 2, 'boom'),"
            " (%(failed)s, 'test.hotdash.t1', 't1', 'test', 'pass', null, 0.5, ''),"
            " (%(old)s, 'model.hotdash.growth_metrics', 'growth_metrics', 'model', 'success', 1, 1, '')",
            {"ok": RUN_OK, "failed": RUN_FAILED, "old": RUN_OLD},
        )
        conn.execute(
            "insert into ops.contract_results (run_id, stage, suite, expectation, severity, success,"
            " unexpected_count, sample, status) values"
            " (%(ok)s, 'source', 'orders', 'e1', 'error', true, 0, null, 'pass'),"
            " (%(ok)s, 'source', 'orders', 'e2', 'warn', false, 3, '[\"a@b.c\"]', 'warn'),"
            " (%(ok)s, 'marts', 'growth_metrics', 'e3', 'error', false, 1, null, 'error'),"
            " (%(ok)s, 'marts', 'growth_metrics', 'e4', 'error', true, null, null, 'skipped'),"
            " (%(failed)s, 'source', 'orders', 'e1', 'error', false, 2, null, null),"
            " (%(old)s, 'source', 'orders', 'e1', 'error', true, 0, null, 'pass')",
            {"ok": RUN_OK, "failed": RUN_FAILED, "old": RUN_OLD},
        )
    yield
    with db.connect(built.admin) as conn:
        conn.execute("delete from ops.contract_results")
        conn.execute("delete from ops.build_runs")


def test_builds_show_history_and_durations_without_messages(built: Built, builds: None) -> None:
    rows = as_role(
        built.admin,
        OPERATOR,
        "select run_id, status, failed_step, duration_seconds, step_seconds, slowest_node,"
        " nodes_total, nodes_succeeded, nodes_failed, contracts_failed, contracts_warned"
        " from marts.monitor_builds order by started_at",
        "nobody.myshopify.com",  # build-wide: whatever the shop
    )
    assert [tuple(map(_plain, row)) for row in rows] == [
        (RUN_OK, "success", None, 42, None, "stg_shopify__orders", 3, 3, 0, 1, 1),
        (
            RUN_FAILED,
            "failed",
            "dbt build",
            12,
            {"judge facts": 1.5, "dbt build": 10.25},
            "growth_metrics",
            2,
            1,
            1,
            1,
            0,
        ),
    ]
    columns = [c[0] for c in query(built.admin, "select * from marts.monitor_builds limit 0")]
    assert not {"error_message", "command", "message"} & set(columns)


def test_contracts_count_expectations_by_outcome(built: Built, builds: None) -> None:
    rows = as_role(
        built.admin,
        OPERATOR,
        "select run_id, stage, suite, expectations, passed, warned, failed, skipped"
        " from marts.monitor_contracts order by started_at, stage, suite",
    )
    assert rows == [
        (RUN_OK, "marts", "growth_metrics", 2, 0, 0, 1, 1),
        (RUN_OK, "source", "orders", 2, 1, 1, 0, 0),
        (RUN_FAILED, "source", "orders", 1, 0, 0, 1, 0),
    ]


def test_mart_rows_per_build_for_analysts_only(built: Built, builds: None) -> None:
    statement = (
        "select run_id, mart, status, rows_affected from ops.monitor_mart_rows order by 1, 2"
    )
    assert as_role(built.admin, ANALYST, statement) == [
        (RUN_OK, "growth_metrics", "success", 12),
        (RUN_OK, "kpi_tiles", "success", 7),
        (RUN_FAILED, "growth_metrics", "error", None),
    ]
    with pytest.raises(errors.InsufficientPrivilege):
        as_role(built.admin, OPERATOR, statement, SHOP_A)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {k: float(v) for k, v in value.items()}
    if hasattr(value, "as_integer_ratio") and not isinstance(value, bool | int):
        return float(value)  # type: ignore[arg-type]
    return value


# --- alerts ----------------------------------------------------------------------------------


def test_open_alerts_of_the_session_shop(built: Built) -> None:
    with db.connect(built.admin) as conn:
        conn.execute(
            "insert into marts.alerts (shop_domain, rule, subject, severity, message, resolved_at)"
            " values (%s, 'stale_feed', 'shopify.orders', 'warn', 'late', null),"
            " (%s, 'goal_pace', '', 'critical', 'slow', null),"
            " (%s, 'goal_pace', '', 'warn', 'was slow', now()),"
            " (%s, 'build_failed', '', 'critical', 'failed', null)",
            (SHOP_A, SHOP_A, SHOP_A, SHOP_B),
        )
    try:
        statement = "select shop_domain, rule, severity from marts.monitor_open_alerts order by 2"
        assert as_role(built.admin, OPERATOR, statement, SHOP_A) == [
            (SHOP_A, "goal_pace", "critical"),
            (SHOP_A, "stale_feed", "warn"),
        ]
        assert as_role(built.admin, AI, statement, SHOP_B) == [(SHOP_B, "build_failed", "critical")]
        assert len(as_role(built.admin, ANALYST, statement)) == 3
    finally:
        with db.connect(built.admin) as conn:
            conn.execute("delete from marts.alerts")


def test_views_run_as_their_caller_and_verification_passes(built: Built) -> None:
    rows = query(
        built.admin,
        "select relname, reloptions from pg_class where relnamespace = 'marts'::regnamespace"
        " and relkind = 'v' order by 1",
    )
    assert rows == [(panel, ["security_invoker=true"]) for panel in sorted(PANELS)]
    assert grants.verify_security(built.admin) == []
    # a panel's function executable by PUBLIC is named, and the security step takes it back
    with db.connect(built.admin, autocommit=True) as conn:
        conn.execute("grant execute on function marts.hotdash_monitor_ingest() to public")
        conn.execute(
            sql.SQL("revoke all on function marts.hotdash_monitor_builds() from {}").format(
                sql.Identifier(OPERATOR)
            )
        )
    assert grants.verify_security(built.admin) == [
        f"{OPERATOR} cannot execute marts.hotdash_monitor_builds(), so its panel fails",
        "PUBLIC can execute marts.hotdash_monitor_ingest() (granted outside the security model)",
    ]
    run_dbt(built.builder, "run-operation", "apply_security")
    assert grants.verify_security(built.admin) == []


# --- security: real logins ---------------------------------------------------------------------

SHOP_PANELS = {
    "monitor_freshness": "select distinct shop_domain from marts.monitor_freshness",
    "monitor_ingest": "select distinct shop_domain from marts.monitor_ingest",
    "monitor_quarantine": "select distinct shop_domain from marts.monitor_quarantine",
}


def test_bound_operator_login_sees_only_its_shop_and_not_ops(built: Built) -> None:
    reset_ages(built)
    login = built.login("operator", SHOP_A)
    for panel, statement in SHOP_PANELS.items():
        assert as_login(built.admin, login, statement) == [(SHOP_A,)], panel
        # the session setting changes nothing for a bound login
        assert as_login(built.admin, login, statement, SHOP_B) == [(SHOP_A,)], panel
    # a dashboard login of the operator group, not bound: the shop it sets, none without one
    pooled = built.login("operator", None)
    for panel, statement in SHOP_PANELS.items():
        assert as_login(built.admin, pooled, statement, SHOP_B) == [(SHOP_B,)], panel
        assert as_login(built.admin, pooled, statement) == [], panel
    for statement in [
        "select count(*) from ops.build_runs",
        "select count(*) from ops.facts_triage",
        "select count(*) from ops.pipeline_health",
        "select count(*) from ops.monitor_mart_rows",
        "select count(*) from public.facts",
    ]:
        with pytest.raises(errors.InsufficientPrivilege):
            as_login(built.admin, login, statement)


def test_unbound_ai_login_reads_no_shop_row(built: Built) -> None:
    reset_ages(built)
    login = built.login("ai", None)
    for panel, statement in SHOP_PANELS.items():
        assert as_login(built.admin, login, statement, SHOP_A) == [], panel


def test_panel_functions_are_executable_by_the_readers_only(built: Built) -> None:
    rows = query(
        built.admin,
        "select p.proname, p.prosecdef, array_to_string(p.proconfig, ','),"
        " has_function_privilege('public', p.oid, 'execute'),"
        " has_function_privilege(%s, p.oid, 'execute'),"
        " has_function_privilege(%s, p.oid, 'execute')"
        " from pg_proc p where p.pronamespace = 'marts'::regnamespace"
        " and p.proname like 'hotdash_monitor_%%' and p.proname not like '%%replaced%%'"
        " order by 1",
        (LOADER, OPERATOR),
    )
    assert [r[0] for r in rows] == [
        "hotdash_monitor_builds",
        "hotdash_monitor_contracts",
        "hotdash_monitor_freshness",
        "hotdash_monitor_ingest",
        "hotdash_monitor_quarantine",
    ]
    for name, definer, config, public, loader, operator in rows:
        assert definer, name
        assert "search_path=pg_catalog, pg_temp" in config, name
        assert (public, loader, operator) == (False, False, True), name
    with pytest.raises(errors.InsufficientPrivilege):
        as_role(built.admin, LOADER, "select * from marts.hotdash_monitor_freshness()")


# --- cost: index probes, never a scan of the facts ----------------------------------------------


def test_shop_panels_are_served_by_indexes(built: Built) -> None:
    """30,000 facts of three shops (and their verdicts): each panel's query, as its function runs
    it, reaches the facts through facts_shop_topic_created_at_idx and the verdicts by fact id."""
    topics = "array['shopify.orders', 'shopify.refunds', 'shopify.customers', 'other.topic']"
    with db.connect(built.admin) as conn:
        conn.execute(
            "insert into facts (shop_domain, topic, value, created_at)"
            f" select 'shop' || (i % 3), ({topics})[i % 4 + 1], '{{}}',"
            "  now() - i * interval '10 seconds'"
            " from generate_series(1, 30000) as i"
        )
        conn.execute(
            "insert into ops.facts_triage"
            " (fact_id, shop_domain, topic, reason, fact_created_at, judge_batch, version_at)"
            " select id, shop_domain, topic, case when id % 10 = 0 then 'bad' end, created_at,"
            "  1, case when id % 10 <> 0 then created_at end"
            " from facts where shop_domain like 'shop%'"
        )
        conn.execute("analyze facts")
        conn.execute("analyze ops.facts_triage")
        conn.execute("select set_config('app.shop_domain', 'shop1', false)")
        plans = {}
        for name in ("freshness", "ingest", "quarantine"):
            (body,) = conn.execute(
                "select prosrc from pg_proc where proname = %s", (f"hotdash_monitor_{name}",)
            ).fetchone()
            plans[name] = "\n".join(r[0] for r in conn.execute("explain " + body).fetchall())
        counts = {
            name: conn.execute(f"select count(*) from marts.monitor_{name}").fetchone()[0]
            for name in ("freshness", "ingest")
        }
        hours = conn.execute(
            "select count(distinct (topic, date_trunc('hour', created_at))) from facts"
            " where shop_domain = 'shop1'"
            " and created_at >= date_trunc('hour', now()) - interval '47 hours'"
        ).fetchone()[0]
        conn.rollback()
    assert counts == {"freshness": 4, "ingest": hours}
    assert hours >= 4 * 47
    for name, plan in plans.items():
        assert "facts_shop_topic_created_at_idx" in plan, (name, plan)
        assert "Seq Scan on facts" not in plan, (name, plan)
    assert "Seq Scan on facts_triage" not in plans["quarantine"], plans["quarantine"]


# --- a running build blocks no reader -----------------------------------------------------------


def test_readers_do_not_wait_on_a_running_build(built: Built, builds: None) -> None:
    """A build writes its record, judges facts and updates alerts in open transactions: every
    panel reads the last committed state at once."""
    started = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with db.connect(built.admin) as conn:
            conn.execute("update ops.build_runs set status = 'running', ended_at = null")
            conn.execute(
                "insert into facts (shop_domain, topic, value) values (%s, 'shopify.orders', '{}')",
                (SHOP_A,),
            )
            conn.execute("update marts.alerts set last_seen_at = now()")
            conn.execute("delete from ops.contract_results")
            started.set()
            release.wait(30)
            conn.rollback()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(30)
        with db.connect(built.admin) as conn:
            conn.execute("set role " + OPERATOR)
            conn.execute("set lock_timeout = '1s'")
            conn.execute("select set_config('app.shop_domain', %s, false)", (SHOP_A,))
            for panel in PANELS:
                conn.execute(f"select * from marts.{panel}").fetchall()
            assert conn.execute("select count(*) from marts.monitor_builds").fetchone() == (2,)
            conn.rollback()
    finally:
        release.set()
        thread.join()


# --- a panel's columns change: the next build replaces its function -----------------------------


def test_a_panel_whose_columns_changed_is_rebuilt(built: Built) -> None:
    # the panel as an older version of the project left it: other columns
    with db.connect(built.builder) as conn:
        conn.execute("drop view marts.monitor_ingest")
        conn.execute("drop function marts.hotdash_monitor_ingest()")
        conn.execute(
            "create function marts.hotdash_monitor_ingest() returns table (facts int)"
            " language sql as 'select 1'"
        )
        conn.execute(
            "create view marts.monitor_ingest as select * from marts.hotdash_monitor_ingest()"
        )
    for _ in range(3):
        run_dbt(built.builder, "run", "--select", "monitor_ingest")
    assert query(
        built.admin,
        "select attname from pg_attribute where attrelid = 'marts.monitor_ingest'::regclass"
        " and attnum > 0 order by attnum",
    ) == [("shop_domain",), ("topic",), ("hour",), ("facts",)]
    # the function the last build replaced is kept (its view was in use until the swap); older ones go
    replaced = query(
        built.admin,
        "select count(*) from pg_proc where proname like 'hotdash_monitor_ingest__replaced%%'",
    )
    assert replaced == [(1,)]
    reset_ages(built)
    rows = as_role(built.admin, OPERATOR, "select sum(facts) from marts.monitor_ingest", SHOP_B)
    assert rows == [(2,)]


# --- a panel that comes out the same is left in place ------------------------------------------


def test_an_unchanged_panel_is_left_in_place_while_a_reader_holds_it(built: Built) -> None:
    """A build whose panel comes out the same leaves the view as it is (macros/views.sql), and its
    end re-applies only the security statements that change something (no exclusive lock on a
    mart already secured): a dashboard session reading the view and a mart table in an open
    transaction does not hold the build up. With --full-refresh the view is created again, which
    waits for the reader."""
    oid = "select 'marts.monitor_builds'::regclass::oid"
    before = query(built.admin, oid)
    reading, release = threading.Event(), threading.Event()

    def reader() -> None:
        with db.connect(built.admin) as conn:
            conn.execute("set role " + OPERATOR)
            conn.execute("select set_config('app.shop_domain', %s, false)", (SHOP_A,))
            # each locked till rollback: a view and a table with row-level security
            conn.execute("select * from marts.monitor_builds").fetchall()
            conn.execute("select * from marts.alerts").fetchall()
            reading.set()
            release.wait(60)
            conn.rollback()

    def build_while_read(*extra: str) -> tuple[dbt.DbtRun, bool]:
        """The build, and whether it finished only once the reader let go (after 10 s)."""
        release.clear()
        reading.clear()
        thread = threading.Thread(target=reader)
        thread.start()
        assert reading.wait(30)
        timer = threading.Timer(10, release.set)
        timer.start()
        try:
            run = run_dbt(built.builder, "run", "--select", "monitor_builds", *extra)
            return run, release.is_set()
        finally:
            timer.cancel()
            release.set()
            thread.join()

    run, waited = build_while_read()
    assert [n.message for n in run.nodes if n.name == "monitor_builds"] == ["view unchanged"]
    assert not waited
    assert query(built.admin, oid) == before
    run, waited = build_while_read("--full-refresh")
    assert waited
    assert query(built.admin, oid) != before
    # recorded anew: the next build leaves it again
    run = run_dbt(built.builder, "run", "--select", "monitor_builds")
    assert [n.message for n in run.nodes if n.name == "monitor_builds"] == ["view unchanged"]


# --- security switched off: the panels build, `hotdash grants` completes them --------------------


def test_switched_off_security_builds_the_panels_and_grants_completes_them(new_target) -> None:
    target = new_target()  # a database of its own: no session's shop function yet
    insert_facts(
        target, [(SHOP_A, "shopify.orders", order(1)), (SHOP_B, "shopify.orders", order(2))]
    )
    run_dbt(target, "run", "--select", "monitor_ingest", "--vars", "{apply_security: false}")
    privileges = (
        "select has_function_privilege(%s, 'marts.hotdash_monitor_ingest()', 'execute'),"
        " has_function_privilege('public', 'marts.hotdash_monitor_ingest()', 'execute')"
    )
    assert query(target, privileges, (OPERATOR,)) == [(False, False)]
    run_dbt(target, "run-operation", "apply_security")
    assert query(target, privileges, (OPERATOR,)) == [(True, False)]
    statement = "select shop_domain, topic, facts from marts.monitor_ingest"
    assert as_role(target, OPERATOR, statement, SHOP_B) == [(SHOP_B, "shopify.orders", 1)]
