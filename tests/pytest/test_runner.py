"""The runner's library, called as the commands call it: load, build and its record, exports,
status, doctor, lint."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import gzip
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import psycopg.sql
import pytest
import yaml
from psycopg.types.json import Jsonb

from runner import contracts, db, heap, ops, pipeline, settings
from runner import dbt as dbtmod
from runner.doctor import run_checks
from runner.errors import (
    BuildError,
    CheckError,
    ConfigError,
    ExportError,
    LoadError,
    MartContractError,
)
from runner.exports import MARKETING_COLUMNS, inventory_alerts, marketing_targets
from runner.lint import lint
from runner.load import LoadProgress, load_file, normalize_topic, topic_from_gid
from runner.pipeline import (
    BuildListener,
    BuildOptions,
    Step,
    build,
    build_report,
    contracts_skipped,
)
from runner.status import freshness, status
from tests.pytest.helpers import FIXTURES_DIR, insert_facts, query, run_dbt, scalar

SHOP = "runner.myshopify.com"
OTHER = "other.myshopify.com"
ROLES = settings.project_security(db.PROJECT_DIR).roles.all()
STAGING = ("staging", "facts_quarantine")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES_DIR / f"{name}.json").read_text())[name]


def order(order_id: int) -> dict:
    return {**fixture("order"), "id": order_id}


def facts(target: db.Target) -> list[tuple]:
    return query(
        target,
        "select shop_domain, topic, (value->>'id') from facts order by id",
    )


# --- load -----------------------------------------------------------------------------------


def test_jsonl_loads_one_fact_per_line_exactly_as_sent(target, tmp_path):
    lines = [json.dumps(order(1)), "", json.dumps(order(2)), json.dumps(order(3))]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(lines) + "\n")
    seen: list[LoadProgress] = []
    with db.connect(target) as conn:
        result = load_file(conn, path, topic="orders", shop=SHOP, progress=seen.append)

    assert (result.format, result.facts, result.by_topic) == ("jsonl", 3, {"shopify.orders": 3})
    assert facts(target) == [
        (SHOP, "shopify.orders", "1"),
        (SHOP, "shopify.orders", "2"),
        (SHOP, "shopify.orders", "3"),
    ]
    stored = scalar(target, "select value from facts where value->>'id' = '2'")
    assert stored == order(2)
    assert seen[-1] == LoadProgress(3, path.stat().st_size, path.stat().st_size, done=True)


def test_gzipped_jsonl_of_a_bulk_export_takes_topics_from_the_gids(target, tmp_path):
    path = tmp_path / "bulk.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('{"id": "gid://shopify/Order/1", "name": "#1001"}\n')
        handle.write('{"id": "gid://shopify/LineItem/7", "__parentId": "gid://shopify/Order/1"}\n')
        handle.write('{"id": "gid://shopify/InventoryLevel/9?inventory_item_id=3"}\n')
    with db.connect(target) as conn:
        result = load_file(conn, path, shop=SHOP)
    assert result.by_topic == {
        "shopify.orders": 1,
        "shopify.line_items": 1,
        "shopify.inventory_levels": 1,
    }


def test_array_of_webhook_envelopes_keeps_each_topic_shop_and_time(target, tmp_path):
    received = "2026-03-01T10:00:00+00:00"
    envelopes = [
        {"topic": "orders/create", "shop_domain": OTHER, "payload": order(10)},
        {"topic": "customers/update", "payload": fixture("customer"), "created_at": received},
        {"topic": "app/uninstalled", "shop_domain": OTHER, "payload": {"id": 5}},
    ]
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps(envelopes, indent=2))
    with db.connect(target) as conn:
        result = load_file(conn, path, shop=SHOP)

    assert result.format == "json"
    assert facts(target) == [
        (OTHER, "shopify.orders", "10"),
        (SHOP, "shopify.customers", "207119551"),
        (OTHER, "shopify.app", "5"),
    ]
    created = scalar(target, "select created_at from facts where topic = 'shopify.customers'")
    assert created == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def test_rest_wrappers_name_their_topic(target, tmp_path):
    plural = tmp_path / "orders.json"
    plural.write_text(json.dumps({"orders": [order(1), order(2)]}, indent=2))
    single = tmp_path / "customer.json"
    single.write_text(json.dumps({"customer": fixture("customer")}))  # one line: JSONL of one
    with db.connect(target) as conn:
        assert load_file(conn, plural, shop=SHOP).by_topic == {"shopify.orders": 2}
        assert load_file(conn, single, shop=SHOP).by_topic == {"shopify.customers": 1}
    assert facts(target) == [
        (SHOP, "shopify.orders", "1"),
        (SHOP, "shopify.orders", "2"),
        (SHOP, "shopify.customers", "207119551"),
    ]


def test_a_bad_line_stops_the_load_names_the_line_and_loads_nothing(target, tmp_path):
    insert_facts(target, [(SHOP, "shopify.orders", order(99))])
    path = tmp_path / "broken.jsonl"
    path.write_text(
        json.dumps(order(1)) + "\n" + json.dumps(order(2)) + "\n" + '{"id": 3, "total_price": }\n'
    )
    with db.connect(target) as conn, pytest.raises(LoadError) as err:
        load_file(conn, path, topic="shopify.orders", shop=SHOP)

    assert err.value.message == (
        'broken.jsonl line 3: not JSON (Expecting value at column 26): {"id": 3, "total_price": }'
        "; nothing was loaded"
    )
    assert err.value.exit_code == 4
    assert facts(target) == [(SHOP, "shopify.orders", "99")]


def test_a_line_the_database_refuses_is_named_too(target, tmp_path):
    # Python reads 1e400 as infinity, which jsonb cannot store: the database refuses line 2.
    path = tmp_path / "webhooks.jsonl"
    path.write_text(
        json.dumps({"topic": "orders/create", "payload": order(1)})
        + "\n"
        + '{"topic": "orders/create", "payload": {"id": 2, "weight": 1e400}}\n'
    )
    with db.connect(target) as conn, pytest.raises(LoadError, match=r"webhooks.jsonl line 2: "):
        load_file(conn, path, shop=SHOP)
    assert facts(target) == []


def test_topic_and_shop_are_required_only_when_they_cannot_be_inferred(
    target, tmp_path, monkeypatch
):
    monkeypatch.delenv("HOTDASH_SHOP_DOMAIN", raising=False)
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(order(1)) + "\n")
    with db.connect(target) as conn:
        with pytest.raises(LoadError, match="cannot tell the topic") as no_topic:
            load_file(conn, path, shop=SHOP)
        assert "--topic" in (no_topic.value.hint or "")
        with pytest.raises(LoadError, match="no --shop was given") as no_shop:
            load_file(conn, path, topic="orders")
        assert "HOTDASH_SHOP_DOMAIN" in (no_shop.value.hint or "")
        monkeypatch.setenv("HOTDASH_SHOP_DOMAIN", OTHER)
        load_file(conn, path, topic="orders")
    assert facts(target) == [(OTHER, "shopify.orders", "1")]


def test_topics_are_normalized():
    assert [normalize_topic(t) for t in ("orders/create", "orders", "shopify.orders")] == [
        "shopify.orders"
    ] * 3
    assert topic_from_gid("gid://shopify/ProductVariant/1") == "shopify.product_variants"
    assert topic_from_gid(450789469) is None


# --- build and its record -------------------------------------------------------------------


class Recorder(BuildListener):
    def __init__(self) -> None:
        self.events: list[str] = []

    def step_started(self, name: str) -> None:
        self.events.append(f"start {name}")

    def step_finished(self, result) -> None:
        self.events.append(f"{result.status} {result.name}")


def build_run(target: db.Target, run_id: uuid.UUID) -> tuple:
    return query(
        target,
        "select status, command_args, error_message, error_type, exit_code, failed_step,"
        " ended_at >= started_at, steps from ops.build_runs where run_id = %s",
        (run_id,),
    )[0]


def test_steps_run_in_order_and_a_failure_is_recorded_with_its_error(target):
    ran: list[str] = []

    def ok(ctx) -> str:
        ran.append("ok")
        return "fine"

    def boom(ctx) -> None:
        ran.append("boom")
        raise BuildError("boom happened", hint="none")

    steps = [
        Step("first", ok),
        Step("contracts", ok, skip=contracts_skipped),
        Step("breaks", boom),
        Step("never", ok),
    ]
    listener = Recorder()
    options = BuildOptions(select=("staging",), skip_contracts=True)
    with pytest.raises(BuildError) as err:
        build(target, options, listener=listener, steps=steps)
    report = build_report(err.value)
    assert report is not None
    assert report.error is err.value

    assert ran == ["ok", "boom"]
    assert listener.events == [
        "start first",
        "success first",
        "skipped contracts",
        "start breaks",
        "failed breaks",
    ]
    status_, args, message, error_type, exit_code, failed_step, ended, steps_json = build_run(
        target, report.run_id
    )
    assert (status_, args, message, error_type, exit_code, failed_step, ended) == (
        "failed",
        ["build", "--select", "staging", "--skip-contracts"],
        "boom happened",
        "BuildError",
        6,
        "breaks",
        True,
    )
    assert [(s["name"], s["status"], s["summary"]) for s in steps_json] == [
        ("first", "success", "fine"),
        ("contracts", "skipped", "skipped by option"),
        ("breaks", "failed", "boom happened"),
    ]


def test_an_unexpected_exception_is_recorded_then_raised(target):
    def bug(ctx) -> None:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError):
        build(target, BuildOptions(), steps=[Step("buggy", bug)])
    assert query(
        target, "select status, error_type, error_message, exit_code from ops.build_runs"
    ) == [("failed", "ZeroDivisionError", "division by zero", 1)]


def test_an_interrupted_build_is_recorded_as_cancelled(target):
    def interrupted(ctx) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(target, BuildOptions(), steps=[Step("dbt build", interrupted)])
    assert query(target, "select status, exit_code, failed_step from ops.build_runs") == [
        ("cancelled", 130, "dbt build")
    ]


def test_invalid_vars_are_refused_before_anything_runs(target):
    with pytest.raises(ConfigError, match="--vars"):
        build(target, BuildOptions(vars="{revenue_goal: "), steps=[])
    with pytest.raises(ConfigError, match="mapping"):
        build(target, BuildOptions(vars="just a string"), steps=[])
    assert scalar(target, "select count(*) from ops.build_runs") == 0


def test_dbt_build_records_every_node_and_pipeline_health_reads_it(target):
    insert_facts(target, [(SHOP, "shopify.orders", order(1)), (SHOP, "shopify.orders", order(2))])
    # contracts write their own rows (test_contracts.py); here the contract rows are hand-made
    report = build(target, BuildOptions(select=STAGING, skip_contracts=True))

    assert report.error is None
    assert [(s.name, s.status) for s in report.steps] == [
        ("load project", "success"),
        ("facts contracts", "skipped"),
        ("judge facts", "success"),
        ("source freshness", "skipped"),
        ("payload contracts", "skipped"),
        ("dbt build", "success"),
        ("mart contracts", "skipped"),
        ("verify security", "success"),
    ]
    recorded = query(
        target,
        "select unique_id, status, rows_affected, seconds from ops.build_run_nodes"
        " where run_id = %s order by unique_id",
        (report.run_id,),
    )
    expected = sorted((n.unique_id, n.status, n.rows_affected, n.seconds) for n in report.nodes)
    assert recorded == expected
    # every staging model (and the quarantine) ran; the count of tests grows with the project
    models = {r[0] for r in recorded if r[0].startswith("model.")}
    assert {
        "model.hotdash.facts_quarantine",
        "model.hotdash.stg_shopify__orders",
        "model.hotdash.stg_shopify__order_line_items",
        "model.hotdash.stg_shopify__customers",
    } <= models
    staging = {
        f"model.hotdash.{p.stem}" for p in (db.PROJECT_DIR / "models" / "staging").glob("*.sql")
    }
    assert models == staging  # the judge's triage too, in the judge step
    assert all(r[1] in ("success", "pass") for r in recorded)
    assert ("model.hotdash.stg_shopify__orders", "success", 2) in [r[:3] for r in recorded]
    assert build_run(target, report.run_id)[:7] == (
        "success",
        ["build", "--select", "staging", "--select", "facts_quarantine", "--skip-contracts"],
        None,
        None,
        0,
        None,
        True,
    )

    def outcome(suite: str, name: str, severity: str, status: str, count: int, sample: list):
        return contracts.Outcome(
            suite=suite,
            expectation=name,
            stage="source",
            severity=severity,
            status=status,
            success=status == "pass",
            unexpected_count=count,
            unexpected_share=None,
            sample=sample,
            relation="public.facts",
            why="why it matters",
        )

    run_id = str(report.run_id)
    ops.record_contract_results(
        target,
        contracts.ContractReport(
            run_id,
            "source",
            [
                outcome("orders", "has_id", "error", "error", 3, [{"id": None}]),
                outcome("orders", "total", "warn", "error", 30, [{"fact_id": 7}]),
                outcome("growth", "goal_positive", "warn", "pass", 0, []),
            ],
        ),
    )
    assert query(
        target,
        "select severity, status, success, unexpected_count, sample from ops.contract_results",
    ) == [
        ("error", "error", False, 3, [{"id": None}]),
        ("warn", "error", False, 30, [{"fact_id": 7}]),
        ("warn", "pass", True, 0, []),
    ]

    run_dbt(target, "build", "--select", "pipeline_health")
    slowest = sorted(report.nodes, key=lambda n: (-n.seconds, n.name))[0]
    assert query(
        target,
        "select status, nodes_total, nodes_succeeded, nodes_failed, nodes_skipped, slowest_node,"
        " command, contracts_failed, contracts_warned from ops.pipeline_health where run_id = %s",
        (report.run_id,),
    ) == [
        (
            "success",
            len(recorded),
            len(recorded),
            0,
            0,
            slowest.name,
            "build --select staging --select facts_quarantine --skip-contracts",
            2,  # the error, and the warn-level check above its share
            0,
        )
    ]


def test_the_longest_path_of_expected_seconds_scores_first():
    import networkx as nx

    # a -> b -> c, a -> d; d was measured at 5 s, the others at 1 s; e is new (a model: 1 s)
    graph = nx.DiGraph(
        [("model.p.a", "model.p.b"), ("model.p.b", "model.p.c"), ("model.p.a", "model.p.d")]
    )
    graph.add_node("test.p.e")
    seconds = {"model.p.a": 1.0, "model.p.b": 1.0, "model.p.c": 1.0, "model.p.d": 5.0}
    assert dbtmod.path_scores(graph, seconds) == {
        "model.p.a": -6000,  # a then d
        "model.p.b": -2000,
        "model.p.c": -1000,
        "model.p.d": -5000,
        "test.p.e": -50,  # a test no build ran: 0.05 s
    }


def test_a_replaced_attribute_is_restored_even_when_the_block_raises():
    """The runner's dbt patches (attributes_replaced) hold for their block only: after it, the
    class's own attribute again, also when the block raised; and where one of the attributes
    is not the class's own (a dbt that moved it), none is replaced."""

    class Queue:
        def get(self):
            return "dbt's"

        def put(self):
            return "dbt's"

    own_get, own_put = Queue.__dict__["get"], Queue.__dict__["put"]
    with (
        pytest.raises(RuntimeError, match="a node failed"),
        dbtmod.attributes_replaced(
            {(Queue, "get"): lambda self: "ours", (Queue, "put"): lambda self: "ours"}
        ),
    ):
        assert (Queue().get(), Queue().put()) == ("ours", "ours")
        raise RuntimeError("a node failed")
    assert (Queue.__dict__["get"], Queue.__dict__["put"]) == (own_get, own_put)

    class Moved(Queue):  # `get` is not Moved's own: dbt without it, so nothing is replaced
        pass

    with dbtmod.attributes_replaced(
        {(Moved, "get"): lambda self: "ours", (Queue, "put"): lambda self: "ours"}
    ):
        assert (Moved().get(), Queue().put()) == ("dbt's", "dbt's")
    assert "get" not in Moved.__dict__


def dbt_templates_parsed(monkeypatch) -> list[str]:
    """The sources dbt's Jinja environments parse from now on (each compile of a template parses
    it first), in order."""
    from dbt_common.clients import jinja as dbt_jinja

    parsed: list[str] = []
    parse = dbt_jinja.MacroFuzzEnvironment._parse

    def counting(env, source, name, filename):
        parsed.append(source)
        return parse(env, source, name, filename)

    monkeypatch.setattr(dbt_jinja.MacroFuzzEnvironment, "_parse", counting)
    return parsed


def render_as_dbt(source: str, native: bool = False):
    """`source` compiled and rendered as dbt renders a node's SQL (or, native, a config value)."""
    from dbt_common.clients import jinja as dbt_jinja

    template = dbt_jinja.get_template(source, {}, native=native)
    return template.render({})


def test_a_template_compiled_in_an_earlier_process_is_not_compiled_again(tmp_path, monkeypatch):
    """jinja_code_kept: the code of a template dbt compiled in an earlier block (an earlier
    process: each block reads the file anew) is reused, for the same source in the same kind of
    environment only; a changed source, or the same source in dbt's native environment, is
    compiled, and renders what it says."""
    parsed = dbt_templates_parsed(monkeypatch)
    with dbtmod.jinja_code_kept(tmp_path):
        assert render_as_dbt("select {{ 1 + 1 }} as two") == "select 2 as two"
        assert render_as_dbt("select {{ 1 + 1 }} as two") == "select 2 as two"
    assert parsed == ["select {{ 1 + 1 }} as two"]  # the second was this block's code
    assert (tmp_path / dbtmod.JINJA_CODE_FILE).is_file()

    parsed.clear()
    with dbtmod.jinja_code_kept(tmp_path):
        assert render_as_dbt("select {{ 1 + 1 }} as two") == "select 2 as two"
        assert parsed == []
        assert render_as_dbt("select {{ 2 + 2 }} as two") == "select 4 as two"
        assert render_as_dbt("{{ (1 + 1) | as_number }}", native=True) == 2
        assert render_as_dbt("{{ (1 + 1) | as_number }}") == "2"
    assert parsed == ["select {{ 2 + 2 }} as two", *["{{ (1 + 1) | as_number }}"] * 2]

    parsed.clear()
    with dbtmod.jinja_code_kept(tmp_path):  # what the block before compiled was kept too
        assert render_as_dbt("select {{ 2 + 2 }} as two") == "select 4 as two"
        assert render_as_dbt("{{ (1 + 1) | as_number }}", native=True) == 2
    assert parsed == []


def test_kept_template_code_that_cannot_be_trusted_is_compiled_again(tmp_path, monkeypatch):
    """A file of compiled code stamped for another Python, Jinja or dbt-common, or one that is
    not a file of code at all, is not used: every template compiles, renders, and the file is
    written again for the next process. A file grown over JINJA_CODE_MAX_BYTES keeps only the
    code its last block used."""
    import marshal

    path = tmp_path / dbtmod.JINJA_CODE_FILE
    with dbtmod.jinja_code_kept(tmp_path):
        render_as_dbt("select {{ 'a' }}")
    stamp, codes = marshal.loads(path.read_bytes())
    parsed = dbt_templates_parsed(monkeypatch)
    for written in (marshal.dumps(("another python|jinja2 0|dbt-common 0", codes)), b"not code"):
        path.write_bytes(written)
        parsed.clear()
        with dbtmod.jinja_code_kept(tmp_path):
            assert render_as_dbt("select {{ 'a' }}") == "select a"
        assert parsed == ["select {{ 'a' }}"]
        assert marshal.loads(path.read_bytes())[0] == stamp

    with dbtmod.jinja_code_kept(tmp_path):
        render_as_dbt("select {{ 'b' }}")  # the file: a and b
    monkeypatch.setattr(dbtmod, "JINJA_CODE_MAX_BYTES", len(path.read_bytes()))
    with dbtmod.jinja_code_kept(tmp_path):
        render_as_dbt("select {{ 'c' }}")  # a, b and c would be over: c alone is kept
    parsed.clear()
    with dbtmod.jinja_code_kept(tmp_path):
        for letter in "abc":
            assert render_as_dbt(f"select {{{{ '{letter}' }}}}") == f"select {letter}"
    assert parsed == ["select {{ 'a' }}", "select {{ 'b' }}"]


def test_a_dbt_invocation_compiles_no_template_an_earlier_one_kept(target, tmp_path, monkeypatch):
    """Every dbt invocation keeps the templates it compiled in the target folder: the next one,
    in a new process as each nightly build is, reads them instead of compiling its nodes' SQL
    and macros again, and compiles the same SQL."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    compiled = tmp_path / "target" / "compiled" / "hotdash" / "models" / "marts" / "kpi_tiles.sql"
    dbtmod.require_success(dbtmod.invoke(target, ["compile", "--select", "kpi_tiles"]))
    first = compiled.read_text()
    compiled.unlink()
    assert (tmp_path / "target" / dbtmod.JINJA_CODE_FILE).is_file()
    parsed = dbt_templates_parsed(monkeypatch)
    dbtmod.require_success(dbtmod.invoke(target, ["compile", "--select", "kpi_tiles"]))
    assert parsed == []
    assert compiled.read_text() == first


def dbt_style_connection(target: db.Target):
    """A psycopg2 connection as dbt-postgres opens one (not autocommit)."""
    import psycopg2

    return psycopg2.connect(target.conninfo)


def test_a_connection_dbt_committed_on_is_left_as_a_new_one(target):
    """dbt ends a model's transaction with a COMMIT statement psycopg2 does not see; the kept
    connection begins a new transaction for the next node's first statement, as a new one would."""
    import psycopg2.extensions as ext

    conn = dbt_style_connection(target)
    try:
        with conn.cursor() as cur:
            cur.execute("select 1")  # psycopg2 begins a transaction first
            cur.execute("commit")  # as dbt commits a model
        assert conn.status != ext.STATUS_READY  # psycopg2 still counts one open
        assert conn.info.transaction_status == ext.TRANSACTION_STATUS_IDLE

        assert dbtmod._as_new(conn) is True

        assert conn.status == ext.STATUS_READY
        assert conn.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
        assert conn.notices == []  # no "there is no transaction in progress"
        with conn.cursor() as cur:
            cur.execute("create temporary table kept (n int)")
        assert conn.info.transaction_status == ext.TRANSACTION_STATUS_INTRANS
        conn.rollback()
        with conn.cursor() as cur:  # the table went with the transaction that made it
            cur.execute("select to_regclass('pg_temp.kept')")
            assert cur.fetchone() == (None,)
    finally:
        conn.close()


def test_a_connection_left_in_a_failed_or_open_transaction_is_rolled_back(target):
    import psycopg2
    import psycopg2.extensions as ext

    conn = dbt_style_connection(target)
    try:
        with conn.cursor() as cur:
            cur.execute("create temporary table half (n int)")
            with pytest.raises(psycopg2.errors.DivisionByZero):
                cur.execute("select 1 / 0")
        assert conn.info.transaction_status == ext.TRANSACTION_STATUS_INERROR

        assert dbtmod._as_new(conn) is True

        with conn.cursor() as cur:
            cur.execute("select to_regclass('pg_temp.half')")
            assert cur.fetchone() == (None,)
            cur.execute("set local work_mem = '1MB'")
            cur.execute("show work_mem")
            (inside,) = cur.fetchone()
        assert dbtmod._as_new(conn) is True  # a transaction still open: rolled back too
        with conn.cursor() as cur:
            cur.execute("show work_mem")
            assert cur.fetchone() != (inside,)
    finally:
        conn.close()

    assert dbtmod._as_new(conn) is False  # closed: dbt's own release closes it


def test_each_dbt_thread_keeps_one_connection_for_its_nodes(target):
    """dbt alone opens a connection (a server process) for every node; within runner's
    invocations each thread keeps its own. dbt's release is its own again afterwards."""
    from dbt.adapters.base.connections import BaseConnectionManager

    insert_facts(target, [(SHOP, "shopify.orders", order(1)), (SHOP, "shopify.orders", order(2))])
    release = BaseConnectionManager.release

    def sessions(conn) -> int:
        # counted as each session ends, and dbt closes its connections as the invocation ends:
        # read until the count holds still for a second
        last, stable = None, 0
        for _ in range(100):
            conn.execute("select pg_stat_clear_snapshot()")
            (now,) = conn.execute(
                "select sessions from pg_stat_database where datname = current_database()"
            ).fetchone()
            stable = stable + 1 if now == last else 0
            if stable == 5:
                return now
            last = now
            time.sleep(0.2)
        raise AssertionError("the session count never held still")

    with db.connect(target) as conn:
        conn.autocommit = True
        before = sessions(conn)
        run = run_dbt(target, "build", "--select", *STAGING, "--threads", "2")
        opened = sessions(conn) - before
    assert len(run.nodes) > 20  # several times the connections allowed below
    # the two threads' and dbt's own, for its catalog and hooks; not one a node
    assert opened <= 6, opened
    assert BaseConnectionManager.release is release


def test_behavior_flags_name_their_module_without_reading_the_stack(target, monkeypatch):
    """The module a dbt behavior flag names as its source is the one dbt-common would name,
    found from the frames' globals: within the runner's invocations dbt-common never calls
    inspect.stack(), which reads every frame's source and scans sys.modules for each frame."""
    from dbt_common import behavior_flags
    from dbt_common.behavior_flags import Behavior

    flag = {"name": "hotdash_flag", "default": False, "description": "a flag of this test"}
    own_way = Behavior([flag], {}).hotdash_flag._behavior_change_event.flag_source
    with dbtmod.flag_sources_by_frame():
        by_frame = Behavior([flag], {}).hotdash_flag._behavior_change_event.flag_source
    assert by_frame == own_way == __name__

    stacks: list[int] = []
    stack = behavior_flags.inspect.stack

    def counted_stack(*args, **kwargs):
        stacks.append(1)
        return stack(*args, **kwargs)

    monkeypatch.setattr(behavior_flags.inspect, "stack", counted_stack)
    Behavior([flag], {})  # outside an invocation: dbt-common's own way, as before
    assert len(stacks) == 1
    run_dbt(target, "parse")
    assert len(stacks) == 1  # the adapter's flags, made in the invocation, read no stack


def test_each_database_keeps_its_partial_parse(new_target, tmp_path, monkeypatch):
    """dbt keeps one partial parse file, for the database it last parsed for; the runner keeps
    one per database, so going back to a database parses only what changed."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    first, second = new_target(), new_target()

    def whole_parse_reasons(target: db.Target) -> list[str]:
        reasons: list[str] = []

        def on_event(event) -> None:
            if event.info.name == "UnableToPartialParse":
                reasons.append(event.data.reason)

        dbtmod.require_success(dbtmod.invoke(target, ["parse"], on_event=on_event))
        return reasons

    assert whole_parse_reasons(first) == ["saved manifest not found. Starting full parse."]
    assert whole_parse_reasons(second) == ["profile has changed"]
    assert whole_parse_reasons(first) == []  # dbt alone: "profile has changed" again
    kept = list((tmp_path / "target" / dbtmod.PARSES_FOLDER).iterdir())
    assert len(kept) == 2


def test_a_partial_parse_is_kept_per_database_and_vars():
    """The key of a kept partial parse: the database and the command's --vars (else the
    target's), not the password."""
    base = db.Target(
        kind="embedded",
        conninfo="postgresql://postgres:secret@/t_0?host=/tmp/pg&port=5432",
        profiles_dir=Path("/tmp/profiles/t_0"),
        target_name="embedded",
        project_dir=db.PROJECT_DIR,
        home=Path("/tmp"),
    )
    other_db = dataclasses.replace(base, conninfo=base.conninfo.replace("/t_0?", "/t_1?"))
    other_password = dataclasses.replace(base, conninfo=base.conninfo.replace("secret", "s2"))
    key = dbtmod._parse_key
    as_of = ["parse", "--vars", "{as_of_date: '2024-06-30'}"]
    assert key(base, ["parse"]) == key(other_password, ["parse"])
    assert key(base, ["parse"]) != key(other_db, ["parse"])
    assert key(base, ["parse"]) != key(base, as_of)
    assert key(base, as_of) == key(dataclasses.replace(base, vars=as_of[2]), ["parse"])


def test_the_partial_parses_kept_are_the_most_recently_written(tmp_path):
    folder = tmp_path / "kept"
    folder.mkdir()
    for age in range(10):  # file_0 the newest
        path = folder / f"file_{age}.msgpack"
        path.write_bytes(b"x")
        stamp = 1_700_000_000 - age * 60
        os.utime(path, (stamp, stamp))
    dbtmod._prune(folder, 8)
    assert sorted(p.name for p in folder.iterdir()) == [f"file_{age}.msgpack" for age in range(8)]


def record_build(target: db.Target, args: list[str], seconds: dict[str, float]) -> None:
    run_id = uuid.uuid4()
    with db.connect(target) as conn:
        conn.execute(
            "insert into ops.build_runs (run_id, command_args, status, ended_at)"
            " values (%s, %s, 'success', now())",
            (run_id, Jsonb(args)),
        )
        for unique_id, took in seconds.items():
            conn.execute(
                "insert into ops.build_run_nodes (run_id, unique_id, name, resource_type, status,"
                " seconds) values (%s, %s, %s, 'model', 'success', %s)",
                (run_id, unique_id, unique_id.rsplit(".", 1)[1], took),
            )


def test_ops_tables_refuse_what_their_keys_forbid(target):
    """The ops tables' keys, links and statuses are constraints of their DDL, not data tests
    (models/operations/_ops__sources.yml): each row below breaks one and is refused, the rows
    that break none go in."""
    run_id = uuid.uuid4()
    node = (
        "insert into ops.build_run_nodes (run_id, unique_id, name, resource_type, status,"
        " seconds) values (%s, 'model.hotdash.m', 'm', 'model', 'success', 0.1)"
    )
    state = (
        "insert into ops.incremental_state (model, as_of_date, fingerprint, cursors)"
        " values ('intermediate.m', current_date, %s, '{}')"
    )
    batch = "insert into ops.facts_triage_batches (judge_batch, judged_xmin) values (%s, '1')"
    change = "insert into ops.order_changes (seq, model) overriding system value values (%s, 'm')"
    with db.connect(target) as conn:
        ops.ensure_ops_tables(conn)
        conn.execute("insert into ops.build_runs (run_id) values (%s)", (run_id,))
        conn.execute(node, (run_id,))
        conn.execute(state, ("f",))
        conn.execute(batch, (1,))
        conn.execute("insert into ops.order_changes (model) values ('m')")
        refused = [
            ("insert into ops.build_runs (run_id) values (%s)", (run_id,)),
            ("insert into ops.build_runs (run_id) values (null)", ()),
            ("insert into ops.build_runs (run_id, status) values (%s, 'done')", (uuid.uuid4(),)),
            (node, (uuid.uuid4(),)),
            (node, (None,)),
            (state, ("g",)),
            (change, (1,)),
            (change, (None,)),
            (batch, (1,)),
            (batch, (None,)),
        ]
        for statement, params in refused:
            with pytest.raises(psycopg.errors.IntegrityError), conn.transaction():
                conn.execute(statement, params)
        conn.execute(
            "insert into ops.build_runs (run_id, status) values (%s, 'abandoned')", (uuid.uuid4(),)
        )
        conn.execute("insert into ops.order_changes (model) values ('m')")
        assert conn.execute("select count(*) from ops.build_runs").fetchone() == (2,)
        assert [r[0] for r in conn.execute("select seq from ops.order_changes order by seq")] == [
            1,
            2,
        ]


def test_each_node_is_expected_to_take_what_it_took_when_it_last_ran_in_such_a_build(target):
    """A build narrowed by --select leaves the other nodes the times of the builds before it;
    only the last NODE_SECONDS_BUILDS builds of the same kind count."""
    model = "model.hotdash."
    with db.connect(target) as conn:
        ops.ensure_ops_tables(conn)
    record_build(target, ["build"], {model + "gone": 9.0})  # 11 builds back
    record_build(target, ["build"], {model + "a": 5.0, model + "b": 3.0})  # 10 builds back
    for _ in range(ops.NODE_SECONDS_BUILDS - 3):
        record_build(target, ["build", "--select", "c"], {model + "c": 1.0})
    record_build(target, ["build", "--select", "a"], {model + "a": 7.0})
    record_build(target, ["build", "--full-refresh"], {model + "a": 100.0})
    record_build(target, ["build"], {})  # a build whose dbt step had nothing to run

    assert ops.last_node_seconds(target, full_refresh=False) == {
        model + "a": 7.0,
        model + "b": 3.0,
        model + "c": 1.0,
    }
    assert ops.last_node_seconds(target, full_refresh=True) == {model + "a": 100.0}


def test_a_build_starts_the_longest_path_of_the_last_such_build_first(target):
    """dbt alone starts ready models by graph depth and name, and queues every ready model at
    once; the runner gives each free thread the model with the most expected seconds ahead."""
    from dbt.graph.queue import GraphQueue

    insert_facts(target, [(SHOP, "shopify.orders", order(1)), (SHOP, "shopify.orders", order(2))])
    model = "model.hotdash."
    record_build(
        target,
        ["build"],
        {
            model + "stg_search_console__search_analytics": 60.0,
            model + "stg_shopify__orders": 20.0,
            model + "stg_shopify__order_line_items": 20.0,
            model + "stg_shopify__inventory_items": 30.0,
        },
    )
    # a later full refresh: not the same kind of build, its times are not this one's
    record_build(target, ["build", "--full-refresh"], {model + "stg_chatwoot__messages": 600.0})
    scoring = GraphQueue._get_scores

    report = build(target, BuildOptions(select=STAGING, skip_contracts=True, threads=2))

    assert report.error is None
    assert GraphQueue._get_scores is scoring  # dbt's own order again after the build
    results = json.loads((dbtmod.target_dir(target) / "run_results.json").read_text())["results"]
    started = sorted(
        (r["timing"][0]["started_at"], r["unique_id"].removeprefix(model))
        for r in results
        if r["unique_id"].startswith(model + "stg_")
    )
    order_started = [name for _, name in started]
    # search console (60 s ahead) and the orders (40 s: theirs and their line items') start
    # first; then the inventory items (30 s) before the line items (20 s), which dbt alone would
    # have queued behind every staging model ready before them
    assert set(order_started[:2]) == {
        "stg_search_console__search_analytics",
        "stg_shopify__orders",
    }
    assert order_started[2:4] == ["stg_shopify__inventory_items", "stg_shopify__order_line_items"]
    assert "stg_chatwoot__messages" in order_started[4:]


def test_a_failing_dbt_build_is_recorded_with_its_failed_nodes(target):
    with pytest.raises(BuildError) as err:
        build(
            target,
            BuildOptions(
                select=STAGING, skip_contracts=True, vars="{facts_schema: missing_schema}"
            ),
        )
    report = build_report(err.value)
    assert report is not None
    assert build_run(target, report.run_id)[0] == "failed"
    # The facts source's tests run in the judge step, before anything is judged or staged.
    assert build_run(target, report.run_id)[4:6] == (6, "judge facts")
    nodes = query(
        target,
        "select unique_id, status, message from ops.build_run_nodes"
        " where run_id = %s and resource_type <> 'operation'",  # not the project's hooks
        (report.run_id,),
    )
    assert len(nodes) > 0
    # The facts keys check fails on the missing relation; everything downstream is skipped.
    errors = [(uid, message) for uid, status, message in nodes if status == "error"]
    assert errors
    assert {uid for uid, _ in errors} == {"test.hotdash.assert_facts_keys_hold"}
    assert all('relation "missing_schema.facts" does not exist' in m for _, m in errors)
    assert {status for _, status, _ in nodes} == {"error", "skipped"}


def test_a_builds_dbt_log_has_its_failure_and_at_debug_every_statement(
    target, tmp_path, monkeypatch
):
    """The runner keeps dbt's console quiet; logs/dbt.log (DBT_LOG_PATH), which its messages
    point to, has the build's nodes and errors, at info level unless DBT_LOG_LEVEL_FILE says
    otherwise: at debug, every statement dbt ran too."""
    options = BuildOptions(
        select=STAGING, skip_contracts=True, vars="{facts_schema: missing_schema}"
    )
    logs = {}
    for level in (None, "debug"):
        folder = tmp_path / f"logs-{level}"
        monkeypatch.setenv("DBT_LOG_PATH", str(folder))
        if level is None:
            monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
        else:
            monkeypatch.setenv("DBT_LOG_LEVEL_FILE", level)
        with pytest.raises(BuildError):
            build(target, options)
        logs[level] = (folder / "dbt.log").read_text()
    for log in logs.values():
        assert "assert_facts_keys_hold" in log
        assert 'relation "missing_schema.facts" does not exist' in log
    assert "SQL status" not in logs[None]
    assert "[debug]" not in logs[None]
    assert "SQL status" in logs["debug"]


def test_unread_debug_events_are_neither_built_nor_fired_within_the_block():
    """Within debug_events_unbuilt, an event the runner never reads (a statement's) is not
    built and reaches no logger or callback; any other event is built and fired as dbt does;
    after the block, dbt-common's own methods again."""
    from dbt.adapters.events.types import SQLQuery
    from dbt_common.events.base_types import BaseEvent
    from dbt_common.events.event_manager import EventManager
    from dbt_common.events.functions import fire_event, get_event_manager
    from dbt_common.events.types import Note

    own = BaseEvent.__dict__["__init__"], EventManager.__dict__["fire_event"]
    seen: list[str] = []
    manager = get_event_manager()
    manager.add_callback(lambda msg: seen.append(msg.info.name))
    try:
        with dbtmod.debug_events_unbuilt(dbtmod.UNREAD_DEBUG_EVENTS):
            query_event = SQLQuery(conn_name="t", sql="select 1", node_info={})
            fire_event(query_event)
            fire_event(Note(msg="kept"))
        assert query_event.pb_msg is None
        assert seen == ["Note"]
        assert (BaseEvent.__dict__["__init__"], EventManager.__dict__["fire_event"]) == own
        outside = SQLQuery(conn_name="t", sql="select 1", node_info={})
        fire_event(outside)
        assert outside.sql == "select 1"
        assert seen == ["Note", "SQLQuery"]
    finally:
        manager.callbacks.pop()


def test_the_collector_leaves_what_was_made_before_the_block_alone_until_it_ends():
    """Within heap_spared, a collection leaves alone garbage made before the block
    (it is frozen) and collects garbage made within it; after the block, nothing is frozen and
    the earlier garbage is collected. A process that froze objects itself keeps them frozen."""
    import weakref

    class Node:
        pass

    def garbage_cycle() -> weakref.ref:
        first, second = Node(), Node()
        first.other, second.other = second, first
        return weakref.ref(first)

    gc.disable()  # no automatic collection between the cycles and the asserts
    try:
        before = garbage_cycle()
        with heap.heap_spared():
            assert gc.get_freeze_count() > 0
            within = garbage_cycle()
            gc.collect()
            assert within() is None
            assert before() is not None
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert before() is None
        frozen_by_the_process = garbage_cycle()
        gc.freeze()
        try:
            with heap.heap_spared():
                assert gc.get_freeze_count() > 0
            # Still frozen after the block: a collection leaves the process's frozen garbage.
            # (The count itself is no witness: other threads free frozen objects meanwhile.)
            assert gc.get_freeze_count() > 0
            gc.collect()
            assert frozen_by_the_process() is not None
        finally:
            gc.unfreeze()
        gc.collect()
        assert frozen_by_the_process() is None
    finally:
        gc.enable()


def test_the_collector_is_paused_within_the_block_and_as_it_was_after():
    """Within collector_paused, no automatic collection runs (the collector is disabled); after
    the block, whatever it raised, the collector is enabled again, unless it was disabled
    before: then it stays so."""
    assert gc.isenabled()
    with pytest.raises(RuntimeError), heap.collector_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_dbt_invocation_runs_with_the_heap_spared_and_leaves_nothing_frozen(target):
    """Each dbt invocation of the runner runs within heap_spared: while dbt works,
    what the process held before is frozen; after it, nothing is."""
    seen: list[bool] = []

    def on_event(event) -> None:
        seen.append(gc.get_freeze_count() > 0)

    dbtmod.require_success(dbtmod.invoke(target, ["parse"], on_event=on_event))
    assert seen and set(seen) == {True}
    assert gc.get_freeze_count() == 0


def test_result_tables_are_typed_as_dbt_types_them_with_each_tester_made_once(monkeypatch):
    """Within agate_type_testers_kept, a statement's result becomes the table dbt makes of it
    (the same column types and values), a second result with the same text columns makes no
    new type tester (no parsedatetime calendar), and after the block dbt-common's own again."""
    import parsedatetime
    from dbt_common.clients import agate_helper

    calendars = []
    calendar_init = parsedatetime.Calendar.__init__

    def counted(self, *args, **kwargs):
        calendars.append(1)
        calendar_init(self, *args, **kwargs)

    monkeypatch.setattr(parsedatetime.Calendar, "__init__", counted)
    rows = [{"name": "a", "n": 1, "at": None}, {"name": "", "n": 2, "at": "null"}]
    columns = ["name", "n", "at"]
    own = agate_helper.table_from_data_flat(rows, columns)
    own_empty = agate_helper.empty_table()
    assert calendars  # dbt makes calendars for each table
    functions = agate_helper.build_type_tester, agate_helper.empty_table
    with dbtmod.agate_type_testers_kept():
        first = agate_helper.table_from_data_flat(rows, columns)
        calendars.clear()
        second = agate_helper.table_from_data_flat(list(reversed(rows)), columns)
        empty = agate_helper.empty_table()
        assert calendars == []
    for table in (first, second):
        assert [type(t) for t in table.column_types] == [type(t) for t in own.column_types]
    expected = [("a", 1, None), ("", 2, "null")]
    assert [tuple(r) for r in first.rows] == [tuple(r) for r in own.rows] == expected
    assert [tuple(r) for r in second.rows] == [("", 2, "null"), ("a", 1, None)]
    assert (empty.column_names, len(empty.rows)) == (own_empty.column_names, 0)
    assert (agate_helper.build_type_tester, agate_helper.empty_table) == functions


def test_macro_contexts_are_kept_per_thread_macro_and_adapter(monkeypatch):
    """Within macro_contexts_kept, a macro that dbt's Python runs again in the same thread, for
    the same adapter, manifest and configuration, gets the context made for it the first time;
    another macro, thread or adapter, a call adding to the context, and a call within another's
    macro get a context of their own; after the block, dbt's own methods again."""
    import threading
    from types import SimpleNamespace

    from dbt.adapters.base.impl import BaseAdapter

    made: list[dict] = []

    def generator(macro, config, resolver, package_name) -> dict:
        made.append({"macro": macro.unique_id})
        return made[-1]

    def execute_macro(
        self, macro_name, macro_resolver=None, project=None, context_override=None, kwargs=None
    ):
        # what dbt's does with the context: make it, add the override, run the macro in it
        macro = SimpleNamespace(unique_id=f"macro.dbt.{macro_name}")
        context = self._macro_context_generator(macro, self.config, self.resolver, project)
        context.update(context_override or {})
        if kwargs and "within" in kwargs:
            context["within"] = BaseAdapter.execute_macro(self, kwargs["within"])
        return context

    def set_macro_context_generator(self, generator) -> None:
        self._macro_context_generator = generator

    monkeypatch.setattr(BaseAdapter, "execute_macro", execute_macro)
    monkeypatch.setattr(BaseAdapter, "set_macro_context_generator", set_macro_context_generator)

    def adapter() -> SimpleNamespace:  # one per invocation, as dbt makes them
        made_adapter = SimpleNamespace(config=object(), resolver=object())
        BaseAdapter.set_macro_context_generator(made_adapter, generator)
        return made_adapter

    def run(on, name, **kwargs) -> dict:
        return BaseAdapter.execute_macro(on, name, **kwargs)

    with dbtmod.macro_contexts_kept():
        first = adapter()
        rename = run(first, "rename_relation")
        assert run(first, "rename_relation") is rename
        drop = run(first, "drop_relation")
        assert drop is not rename and run(first, "drop_relation") is drop
        shown = run(first, "rename_relation", context_override={"model": "m"})
        assert shown is not rename and "model" not in run(first, "rename_relation")
        outer = run(first, "drop_relation", kwargs={"within": "drop_relation"})
        assert outer is drop and outer["within"] is not drop
        elsewhere: list[dict] = []
        thread = threading.Thread(target=lambda: elsewhere.append(run(first, "rename_relation")))
        thread.start()
        thread.join()
        assert elsewhere[0] is not rename
        assert run(adapter(), "rename_relation") is not rename
        assert len(made) == 6  # rename, drop, shown, within, the thread's, the next adapter's
    assert BaseAdapter.__dict__["execute_macro"] is execute_macro
    assert BaseAdapter.__dict__["set_macro_context_generator"] is set_macro_context_generator
    after = adapter()
    assert run(after, "rename_relation") is not run(after, "rename_relation")


def test_a_selection_that_matches_nothing_fails(target):
    with pytest.raises(ConfigError) as err:
        build(target, BuildOptions(select=("no_such_model",)))
    assert err.value.message == "--select no_such_model matched no dbt node"
    assert err.value.exit_code == 2
    assert query(target, "select status, failed_step from ops.build_runs") == [
        ("failed", "dbt build")
    ]


# --- exports --------------------------------------------------------------------------------

MARKETING_TABLE = """
create schema if not exists marts;
create table marts.marketing_targets (
    shop_domain text, customer_id bigint, campaign text, email text,
    email_marketing_consent text, first_name text, last_name text, content_theme text,
    last_category_l1 text, offer text, net_revenue numeric
);
insert into marts.marketing_targets values
    ('a.myshopify.com', 2, 'reengagement_campaign', 'zoe@example.com', 'SUBSCRIBED', 'Zoë',
     'Hart, Jr.', 'chassis_builder', 'Suspension & Steering', null, 900),
    ('a.myshopify.com', 1, 'high_priority_winback', 'al@example.com', 'SUBSCRIBED', 'Al',
     'Bundy', 'engine_specialist', 'Brakes', '15% off Brakes', 7200),
    ('a.myshopify.com', 3, 'new_customer_nurture', null, 'SUBSCRIBED', 'No', 'Mail',
     'general_hotrod', 'Other', null, 50),
    ('b.myshopify.com', 4, 'new_customer_nurture', 'bo@example.com', 'SUBSCRIBED', null, null,
     'general_hotrod', 'Exhaust', null, 120);
"""


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def operator_may_read(conn, table: str) -> None:
    """The operator role (cluster-wide, shared by the tests) may read this database's table."""
    conn.execute(
        "do $$ begin create role hotdash_operator nologin;"
        " exception when duplicate_object then null; end $$"
    )
    conn.execute(
        "grant usage on schema marts to hotdash_operator;"
        f" grant select on {table} to hotdash_operator"
    )


def test_marketing_targets_csv_is_exact_and_written_atomically(target, tmp_path):
    with db.connect(target) as conn:
        conn.execute(MARKETING_TABLE)
        operator_may_read(conn, "marts.marketing_targets")
    out = tmp_path / "targets.csv"
    out.write_text("old content")
    with db.connect(target) as conn:
        everyone = marketing_targets(conn, out)
    assert (everyone.rows, everyone.skipped) == (3, 1)
    # The mart's columns the email tool reads, under Klaviyo's headers; net_revenue stays home.
    assert out.read_text(encoding="utf-8") == (
        "Email,First Name,Last Name,Email Marketing Consent,Campaign,Content Theme,"
        "Last Category,Offer,Shop Domain,Customer ID\n"
        "al@example.com,Al,Bundy,SUBSCRIBED,high_priority_winback,engine_specialist,"
        "Brakes,15% off Brakes,a.myshopify.com,1\n"
        'zoe@example.com,Zoë,"Hart, Jr.",SUBSCRIBED,reengagement_campaign,chassis_builder,'
        "Suspension & Steering,,a.myshopify.com,2\n"
        "bo@example.com,,,SUBSCRIBED,new_customer_nurture,general_hotrod,"
        "Exhaust,,b.myshopify.com,4\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.csv"]
    assert out.stat().st_mode & 0o777 == 0o666 & ~current_umask()

    with db.connect(target) as conn:
        one_shop = marketing_targets(conn, out, shop="b.myshopify.com")
    assert (one_shop.rows, one_shop.skipped) == (1, 0)
    assert out.read_text().splitlines()[1:] == [
        "bo@example.com,,,SUBSCRIBED,new_customer_nurture,general_hotrod,Exhaust,,b.myshopify.com,4"
    ]


def test_the_marketing_export_is_the_one_format_and_reads_only_the_marts_columns():
    """One format: the runner's export; no analysis writes another. Each of its columns is a
    column of the mart's contract."""
    contract = yaml.safe_load((db.PROJECT_DIR / "models/marts/marketing_targets.yml").read_text())
    (mart,) = contract["models"]
    declared = [c["name"] for c in mart["columns"]]
    assert [column for _, column in MARKETING_COLUMNS] == [
        "email",
        "first_name",
        "last_name",
        "email_marketing_consent",
        "campaign",
        "content_theme",
        "last_category_l1",
        "offer",
        "shop_domain",
        "customer_id",
    ]
    assert {column for _, column in MARKETING_COLUMNS} <= set(declared)
    assert list((db.PROJECT_DIR / "analyses").glob("marketing_targets*")) == []


# As the mart would hold it with var daily_email_top_n 1: a.myshopify.com's email is HDR-1
# alone (CAM-2 is its second slow mover; the monitored SHK-4 ties up more but is no slow
# mover); b.myshopify.com's is BRK-9, though its monitored RAD-2 ties up ten times as much.
INVENTORY_TABLE = """
create schema if not exists marts;
create table marts.inventory_alerts (
    shop_domain text, variant_id bigint, sku text, product_title text, units_on_hand integer,
    unit_cost numeric(12, 2), capital_tied_up numeric(14, 2), monthly_sales_avg numeric(10, 2),
    months_of_cover numeric(10, 1), margin_pct numeric(5, 1), recommended_action text,
    potential_cash_recovery numeric(14, 2), category_l1 text, capital_rank integer,
    slow_mover_rank integer, in_daily_email boolean
);
insert into marts.inventory_alerts values
    ('a.myshopify.com', 11, 'HDR-1', 'Headers | 350', 40, 250.00, 10000.00, 0.00, null, 38.5,
     'discontinue', 5000.00, 'Exhaust', 1, 1, true),
    ('a.myshopify.com', 12, 'CAM-2', 'Cam kit', 30, 150.00, 4500.00, 2.00, 15.0, 41.0,
     'discount_50_pct', 1125.00, 'Engine & Drivetrain', 3, 2, false),
    ('a.myshopify.com', 13, 'LUG-3', 'Lug nuts', 1000, null, null, 90.00, 11.1, null,
     'monitor', null, 'Wheels & Tires', 4, null, false),
    ('a.myshopify.com', 14, 'SHK-4', 'Shocks', 60, 100.00, 6000.00, 30.00, 2.0, 35.0,
     'monitor', 0.00, 'Suspension & Steering', 2, null, false),
    ('b.myshopify.com', 21, 'BRK-9', 'Brake kit', 2, 400.00, 800.00, 0.10, 20.0, 30.0,
     'discount_25_pct', 200.00, 'Brakes', 2, 1, true),
    ('b.myshopify.com', 22, 'RAD-2', 'Radiator', 20, 400.00, 8000.00, 10.00, 2.0, 30.0,
     'monitor', 0.00, 'Cooling', 1, null, false);
"""

INVENTORY_MARKDOWN_HEADER = (
    "| Product | SKU | On hand | Unit cost | Capital tied up | Sales / month"
    " | Months of cover | Margin | Action | Cash recovery |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n"
)


def test_inventory_alerts_top_is_each_shops_daily_email_with_shop_wide_totals(target, tmp_path):
    with db.connect(target) as conn:
        conn.execute(INVENTORY_TABLE)
        operator_may_read(conn, "marts.inventory_alerts")
    with db.connect(target) as conn:
        top_csv, result = inventory_alerts(conn, top=True, fmt="csv")
        top_md, _ = inventory_alerts(conn, top=True, fmt="markdown", shop="a.myshopify.com")
        all_md, _ = inventory_alerts(conn, fmt="markdown", shop="a.myshopify.com")
        none_md, _ = inventory_alerts(conn, top=True, fmt="markdown", shop="c.myshopify.com")
        out = tmp_path / "alerts.md"
        # after a shop's export on the same connection, all shops again
        written, _ = inventory_alerts(conn, top=True, fmt="markdown", out=out)

    # Each shop's own list, not the two variants with the most capital (HDR-1 and RAD-2).
    assert result.rows == 2
    assert top_csv == (
        "shop_domain,variant_id,sku,product_title,units_on_hand,unit_cost,capital_tied_up,"
        "monthly_sales_avg,months_of_cover,margin_pct,recommended_action,potential_cash_recovery\n"
        "a.myshopify.com,11,HDR-1,Headers | 350,40,250.00,10000.00,0.00,,38.5,discontinue,5000.00\n"
        "b.myshopify.com,21,BRK-9,Brake kit,2,400.00,800.00,0.10,20.0,30.0,discount_25_pct,200.00\n"
    )
    # The headline is over the shop's two slow movers, HDR-1 and CAM-2, though the email lists
    # one: 10,000 + 4,500 tied up, 5,000 + 1,125 recoverable.
    headline_a = (
        "$14,500.00 tied up in 2 slow movers (to discount or discontinue); $6,125.00 recoverable.\n"
    )
    assert top_md == (
        INVENTORY_MARKDOWN_HEADER
        + "| Headers \\| 350 | HDR-1 | 40 | $250.00 | $10,000.00 | 0.0 | n/a | 38.5%"
        " | discontinue | $5,000.00 |\n"
        "\n" + headline_a
    )
    # Without --top, every variant of the shop by capital tied up, with the same headline.
    assert all_md == (
        INVENTORY_MARKDOWN_HEADER
        + "| Headers \\| 350 | HDR-1 | 40 | $250.00 | $10,000.00 | 0.0 | n/a | 38.5%"
        " | discontinue | $5,000.00 |\n"
        "| Shocks | SHK-4 | 60 | $100.00 | $6,000.00 | 30.0 | 2.0 | 35.0% | monitor | $0.00 |\n"
        "| Cam kit | CAM-2 | 30 | $150.00 | $4,500.00 | 2.0 | 15.0 | 41.0%"
        " | discount_50_pct | $1,125.00 |\n"
        "| Lug nuts | LUG-3 | 1,000 | n/a | n/a | 90.0 | 11.1 | n/a | monitor | n/a |\n"
        "\n" + headline_a
    )
    assert none_md == (
        INVENTORY_MARKDOWN_HEADER
        + "\n$0.00 tied up in 0 slow movers (to discount or discontinue); $0.00 recoverable.\n"
    )
    assert out.read_text() == written
    assert written == (
        "| Shop | Product | SKU | On hand | Unit cost | Capital tied up | Sales / month"
        " | Months of cover | Margin | Action | Cash recovery |\n"
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n"
        "| a.myshopify.com | Headers \\| 350 | HDR-1 | 40 | $250.00 | $10,000.00 | 0.0 | n/a"
        " | 38.5% | discontinue | $5,000.00 |\n"
        "| b.myshopify.com | Brake kit | BRK-9 | 2 | $400.00 | $800.00 | 0.1 | 20.0 | 30.0%"
        " | discount_25_pct | $200.00 |\n"
        "\n"
        "a.myshopify.com: " + headline_a + "b.myshopify.com: $800.00 tied up in 1 slow mover"
        " (to discount or discontinue); $200.00 recoverable.\n"
    )


def test_exports_with_a_shop_run_in_its_row_level_security_context(target, tmp_path):
    """As hotdash_operator, a policy on app.shop_domain decides what the export sees."""
    with db.connect(target) as conn:
        conn.execute(MARKETING_TABLE)
        operator_may_read(conn, "marts.marketing_targets")
        conn.execute(
            """
            alter table marts.marketing_targets enable row level security;
            alter table marts.marketing_targets force row level security;
            create policy own_shop_consented on marts.marketing_targets for select
                to hotdash_operator
                using (shop_domain = current_setting('app.shop_domain', true)
                       and campaign <> 'reengagement_campaign');
            """
        )
    out = tmp_path / "a.csv"
    with db.connect(target) as conn:
        marketing_targets(conn, out, shop="a.myshopify.com")
        # the setting and the role were local to the export's transaction
        assert conn.execute(
            "select current_setting('app.shop_domain', true), current_user"
        ).fetchone() in ((None, "postgres"), ("", "postgres"))
    emails = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    assert emails == ["al@example.com"]  # zoe is hidden by the policy, not by the export's filter


def test_an_export_of_a_missing_mart_says_to_build(target, tmp_path):
    with db.connect(target) as conn, pytest.raises(ExportError) as err:
        marketing_targets(conn, tmp_path / "x.csv")
    assert err.value.message == "marts.marketing_targets does not exist in this database"
    assert err.value.exit_code == 9
    assert list(tmp_path.iterdir()) == []


# --- status ---------------------------------------------------------------------------------


def test_status_lists_runs_and_freshness_per_shop_and_topic(target):
    """Each topic is judged by its own thresholds in var freshness (orders 24 h / 72 h,
    customers 168 h / 336 h, an unlisted topic the default 24 h / 72 h)."""
    now = scalar(target, "select now()")
    rows = [
        (SHOP, "shopify.orders", now - dt.timedelta(hours=80)),
        (SHOP, "shopify.orders", now - dt.timedelta(hours=1)),
        (SHOP, "shopify.customers", now - dt.timedelta(hours=30)),
        (SHOP, "shopify.checkouts", now - dt.timedelta(hours=30)),
        (OTHER, "shopify.orders", now - dt.timedelta(hours=73)),
        (OTHER, "shopify.customers", now - dt.timedelta(hours=170)),
    ]
    with db.connect(target) as conn:
        for shop, topic, created_at in rows:
            conn.execute(
                "insert into facts (shop_domain, topic, value, created_at)"
                " values (%s, %s, '{}', %s)",
                (shop, topic, created_at),
            )
    report = build(target, BuildOptions(), steps=[Step("noop", lambda ctx: None)])

    vars = settings.of(target)
    with db.connect(target) as conn:
        result = status(conn, vars)
        only_other = freshness(conn, vars, shop=OTHER)
    assert [(r.run_id, r.status, r.nodes) for r in result.runs] == [(report.run_id, "success", 0)]
    assert [(f.shop_domain, f.topic, f.latest_created_at, f.status) for f in result.freshness] == [
        (OTHER, "shopify.customers", now - dt.timedelta(hours=170), "warn"),
        (OTHER, "shopify.orders", now - dt.timedelta(hours=73), "stale"),
        (SHOP, "shopify.checkouts", now - dt.timedelta(hours=30), "warn"),
        (SHOP, "shopify.customers", now - dt.timedelta(hours=30), "fresh"),
        (SHOP, "shopify.orders", now - dt.timedelta(hours=1), "fresh"),
    ]
    assert [(f.shop_domain, f.topic) for f in only_other] == [
        (OTHER, "shopify.customers"),
        (OTHER, "shopify.orders"),
    ]


def test_feed_thresholds_cross_strictly_above_and_refuse_nonsense(tmp_path):
    thresholds = settings.FeedThresholds(dt.timedelta(hours=24), dt.timedelta(hours=72))
    hour, second = dt.timedelta(hours=1), dt.timedelta(seconds=1)
    assert thresholds.status(24 * hour) == "fresh"
    assert thresholds.status(24 * hour + second) == "warn"
    assert thresholds.status(72 * hour) == "warn"
    assert thresholds.status(72 * hour + second) == "stale"
    project = settings.load(db.PROJECT_DIR)
    assert project.freshness("shopify.refunds") == settings.FeedThresholds(168 * hour, 336 * hour)
    for bad in (
        '{"freshness": {"default": {"warn_after_hours": 24}}}',
        '{"freshness": {"default": {"warn_after_hours": 1.5, "error_after_hours": 72}}}',
        '{"freshness": {"default": {"warn_after_hours": 80, "error_after_hours": 72}}}',
        '{"freshness": {"default": {"warn_after_hours": 0, "error_after_hours": 72}}}',
    ):
        with pytest.raises(ConfigError, match=r"var freshness\['default'\]"):
            settings.load(db.PROJECT_DIR, bad).freshness("shopify.orders")


def test_freshness_is_served_by_the_shop_topic_index(target):
    with db.connect(target) as conn:
        conn.execute(
            "insert into facts (shop_domain, topic, value, created_at)"
            " select 'shop' || (i % 3), 'topic' || (i % 4), '{}', now() - i * interval '1 second'"
            " from generate_series(1, 30000) as i"
        )
        conn.execute("analyze facts")
        from runner.status import freshness_sql

        explain = psycopg.sql.SQL("explain ") + freshness_sql()
        plan = "\n".join(row[0] for row in conn.execute(explain, {"shop": None}).fetchall())
        assert len(freshness(conn, settings.of(target))) == 12
    assert "facts_shop_topic_created_at_idx" in plan
    assert "Seq Scan" not in plan


def test_status_before_any_build(target):
    with db.connect(target) as conn:
        conn.execute("drop schema ops cascade")
        assert status(conn, settings.of(target)).runs == []


# --- doctor and lint ------------------------------------------------------------------------


def doctor_of(target: db.Target, monkeypatch) -> dict[str, tuple[str, str, str]]:
    monkeypatch.setenv("HOTDASH_DATABASE", db_name(target))
    return {c.name: (c.status, c.detail, c.hint) for c in run_checks()}


def db_name(target: db.Target) -> str:
    return str(scalar(target, "select current_database()"))


def test_doctor_reports_each_check_with_a_fix(target, monkeypatch):
    existing = {
        r[0] for r in query(target, "select rolname from pg_roles where rolname like 'hotdash_%%'")
    }
    checks = doctor_of(target, monkeypatch)
    assert checks["database"][0] == "ok"
    assert checks["facts table"][0] == "ok"
    assert checks["facts indexes"][0] == "ok"
    assert checks["build record"][0] == "ok"
    missing = [role for role in ROLES if role not in existing]
    if missing:
        assert checks["roles"] == ("fail", f"missing: {', '.join(missing)}", "`hotdash grants`")
    else:
        assert checks["roles"][0] == "ok"
    assert checks["row-level security"][0] == "warn"

    with db.connect(target) as conn:
        conn.execute(
            "create schema marts; create table marts.a (x int); create table marts.b (x int)"
        )
        conn.execute("alter table marts.b enable row level security, force row level security")
    assert doctor_of(target, monkeypatch)["row-level security"] == (
        "fail",
        "not enabled and forced on marts.a",
        "`hotdash grants`",
    )
    with db.connect(target) as conn:
        conn.execute("alter table marts.a enable row level security, force row level security")
        conn.execute("drop table facts")
    checks = doctor_of(target, monkeypatch)
    assert checks["row-level security"][0] == "ok"
    assert checks["facts table"] == (
        "fail",
        "public.facts is missing",
        "`hotdash load FILE` or `hotdash demo` creates it",
    )


def test_lint_names_violations_with_the_tests_own_profile(target, tmp_path, monkeypatch):
    # The bad file goes into a copy of the project: other workers parse the project meanwhile.
    project = tmp_path / "project"
    for folder in ("models", "macros", "seeds", "snapshots", "analyses", "tests/dbt"):
        shutil.copytree(db.PROJECT_DIR / folder, project / folder)
    for name in ("dbt_project.yml", "selectors.yml", ".sqlfluff"):
        shutil.copy(db.PROJECT_DIR / name, project / name)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    (project / "analyses" / "lint_probe.sql").write_text("SELECT 1 AS One\n")
    with pytest.raises(CheckError) as err:
        lint(dataclasses.replace(target, project_dir=project), ["analyses/lint_probe.sql"])
    assert err.value.message.startswith("sqlfluff found 3 violation(s)")
    assert err.value.exit_code == 10


def test_readme_lists_every_exit_code_once_as_errors_py_says():
    from runner.errors import exit_codes, exit_codes_markdown

    readme = (Path(db.PROJECT_DIR) / "README.md").read_text()
    assert exit_codes_markdown() in readme  # regenerate it when this fails
    for code, name, _ in exit_codes():
        assert readme.count(f"| {code} | {name} |") == 1


def test_a_build_with_nothing_new_skips_dbt_and_a_new_fact_date_or_failure_builds(
    target, monkeypatch
):
    """A build whose inputs (facts judged, project, vars, as-of date) equal the last build's,
    which succeeded, keeps that build's tables: dbt and the payload and mart contracts are
    skipped when that build ran them. A new fact, a new as-of date or a last build that failed
    build again."""
    import uuid

    from runner import inputs
    from tests.pytest.helpers import load_fixtures

    load_fixtures(target)
    options = BuildOptions(skip_contracts=True)

    def dbt_step(report) -> str:
        return next(step.status for step in report.steps if step.name == "dbt build")

    def mart_oid() -> int:
        return scalar(target, "select 'marts.growth_metrics'::regclass::oid")

    assert dbt_step(build(target, options)) == "success"
    built = mart_oid()
    report = build(target, options)
    assert dbt_step(report) == "skipped"
    assert "nothing new since run" in report.steps[2].summary
    assert mart_oid() == built

    insert_facts(target, [("fixture.myshopify.com", "app.heartbeat", {"ok": True})])
    assert dbt_step(build(target, options)) == "skipped"  # an ignored topic judges nothing
    insert_facts(
        target,
        [("fixture.myshopify.com", "shopify.customers", {"id": 77, "updated_at": "2024-01-01"})],
    )
    assert dbt_step(build(target, options)) == "success"
    assert mart_oid() != built

    # A last build that failed keeps nothing: the next build's inputs are not unchanged since
    # it, whatever they are (the decision the judge step takes, runner/inputs.py).
    last = (
        "update ops.build_runs set status = %s"
        " where started_at = (select max(started_at) from ops.build_runs)"
    )
    digest = inputs.fingerprint(target, options)
    with db.connect(target) as conn:
        conn.execute(last, ("failed",))
    assert inputs.unchanged_since(target, uuid.uuid4(), digest) is None
    with db.connect(target) as conn:
        conn.execute(last, ("success",))
    assert inputs.unchanged_since(target, uuid.uuid4(), digest) is not None
    assert dbt_step(build(target, options)) == "skipped"
    # The last build skipped the contracts: they run now, on the tables that stand.
    steps = {step.name: step.status for step in build(target, BuildOptions()).steps}
    assert steps["dbt build"] == "skipped"
    assert steps["payload contracts"] == steps["mart contracts"] == "success"
    steps = {step.name: step.status for step in build(target, BuildOptions()).steps}
    assert steps["dbt build"] == steps["mart contracts"] == "skipped"
    # A new as-of date is a new input (the build with it would build, as above).
    same = inputs.fingerprint(target, options)
    monkeypatch.setattr(inputs, "as_of_date", lambda values: "2099-01-01")
    assert inputs.fingerprint(target, options) != same


def test_the_triage_version_moves_with_each_judged_fact_not_with_a_batch_that_judged_none(target):
    """The fingerprint's facts judged (inputs.triage_version): a run of the judge that judged a
    fact changes it, also a fact committed late below the highest id judged; a run that judged
    nothing (its batch is empty) does not."""
    from runner import inputs
    from tests.pytest.helpers import load_fixtures

    load_fixtures(target)
    build(target, BuildOptions(skip_contracts=True, select=("facts_triage",)))
    topics = list(settings.of(target).topics)

    def version() -> list:
        with db.connect(target) as conn:
            return inputs.triage_version(conn, topics)

    def open_batch() -> int:
        return scalar(
            target,
            "insert into ops.facts_triage_batches (judge_batch, judged_xmin)"
            " select max(judge_batch) + 1, pg_current_xact_id() from ops.facts_triage_batches"
            " returning judge_batch",
        )

    first = version()
    batch, highest = (
        scalar(target, "select max(judge_batch) from ops.facts_triage"),
        scalar(target, "select max(fact_id) from ops.facts_triage"),
    )
    assert first == [batch, highest] and highest > 1
    open_batch()  # a run that judged nothing
    assert version() == first
    # A fact committed late: an id below the highest, judged by a later run.
    late = open_batch()
    with db.connect(target) as conn:
        conn.execute(
            "insert into ops.facts_triage (fact_id, shop_domain, topic, reason, judge_batch)"
            " values (%s, 'fixture.myshopify.com', 'shopify.orders', 'not an object', %s)",
            (-1, late),
        )
    assert version() == [late, highest]
    open_batch()
    assert version() == [late, highest]


class MartTamperer(BuildListener):
    """Changes a mart the moment dbt has built it, before anything else hears of it."""

    def __init__(self, target: db.Target, node: str, statement: str) -> None:
        self.target, self.node, self.statement = target, node, statement

    def node_event(self, event) -> None:
        if event.finished and event.unique_id == f"model.hotdash.{self.node}":
            with db.connect(self.target) as conn:
                conn.execute(self.statement)


def test_mart_checks_run_while_dbt_builds_and_count_only_when_dbt_succeeds(target, monkeypatch):
    """A mart's contracts are validated in the contract worker once dbt has built what they
    read, while dbt builds the rest; the mart contracts step reports them. A build that fails in
    dbt records none of them."""
    from runner.contracts import ContractWorker
    from tests.pytest.helpers import load_fixtures

    submitted: list[tuple[str, str]] = []
    validate_ahead = ContractWorker.validate_ahead

    def spy(self, target, stage, groups, run_id, new_facts_only):
        submitted.extend(groups)
        validate_ahead(self, target, stage, groups, run_id, new_facts_only)

    monkeypatch.setattr(ContractWorker, "validate_ahead", spy)
    load_fixtures(target)
    growth = ("marts_growth_metrics", "marts.growth_metrics")
    suite = yaml.safe_load(
        (db.PROJECT_DIR / "contracts" / "marts" / "growth_metrics.yml").read_text()
    )
    growth_checks = len(suite["expectations"])

    # A bad row written right after dbt built growth_metrics, then left: its checks read it.
    tamper = MartTamperer(
        target, "growth_metrics", "update marts.growth_metrics set gross_sales = -1"
    )
    with pytest.raises(MartContractError) as raised:
        build(target, BuildOptions(select=("+growth_metrics",)), tamper)
    assert "marts_growth_metrics / gross_sales_is_not_negative" in raised.value.message
    report = build_report(raised.value)
    assert growth in submitted and ("marts_kpi_tiles", "marts.kpi_tiles") not in submitted
    marts = report.contracts[-1]
    assert marts.stage == "marts" and marts.validated_ahead >= growth_checks
    assert query(
        target,
        "select count(*) from ops.contract_results"
        " where run_id = %s and stage = 'marts' and suite = 'marts_growth_metrics'",
        (report.run_id,),
    ) == [(growth_checks,)]

    # dbt fails after inventory_alerts' checks went to the worker: kpi_tiles cannot read it.
    submitted.clear()
    gone = MartTamperer(
        target, "inventory_alerts", "alter table marts.inventory_alerts rename to alerts_gone"
    )
    with pytest.raises(BuildError) as raised:
        build(target, BuildOptions(select=("+kpi_tiles",)), gone)
    assert "inventory_alerts" in raised.value.message  # its tests, and kpi_tiles, cannot read it
    report = build_report(raised.value)
    assert (report.steps[-1].name, report.steps[-1].status) == ("dbt build", "failed")
    assert ("marts_inventory_alerts", "marts.inventory_alerts") in submitted
    assert query(
        target,
        "select count(*) from ops.contract_results where run_id = %s and stage = 'marts'",
        (report.run_id,),
    ) == [(0,)]


# --- selectors -------------------------------------------------------------------------------


def dbt_ls(target: db.Target, manifest: object, *args: str) -> set[str]:
    """`dbt ls` of `args` on the project `manifest` (dbt parse's), parsed once for every list."""
    from dbt.cli.main import dbtRunner

    res = dbtRunner(manifest=manifest).invoke(
        dbtmod.dbt_args(target, ["ls", "--quiet", "--resource-type", "all", *args])
    )
    assert res.success, res.exception
    return set(res.result)


def test_the_builds_dbt_steps_are_the_selectors_plain_dbt_runs(target):
    """selectors.yml: judge is the facts source's tests and the triage; nightly everything else
    but unit tests; feeds the freshness sources. The runner's steps run these selectors."""
    manifest = dbtmod.invoke(target, ["parse"], silent=True).manifest
    judge = dbt_ls(target, manifest, "--selector", "judge")
    nightly = dbt_ls(target, manifest, "--selector", "nightly")
    everything = dbt_ls(target, manifest)
    # the facts' test and the triage (whose constraints check its rows: no test reads it)
    assert judge == {
        "hotdash.staging.facts_triage",
        "source:hotdash.app.facts",
        "hotdash.assert_facts_keys_hold",
    }
    assert judge & nightly == set()
    units = {n for n in everything if n.startswith("unit_test:")}
    sources = {n for n in everything if n.startswith("source:")}
    assert units and sources  # (a build runs a source's tests, not the source)
    assert nightly == everything - judge - units - sources
    assert "hotdash.customer_segments_history.customer_segments_history" in nightly  # snapshots
    assert dbt_ls(target, manifest, "--selector", "feeds") == {
        f"source:hotdash.app.{topic.replace('.', '_')}" for topic in settings.of(target).topics
    }
    assert contracts.judge_args() == ["build", "--selector", "judge"]
    assert pipeline.dbt_build_args(BuildOptions()) == ["build", "--selector", "nightly"]
    assert pipeline.dbt_build_args(BuildOptions(select=("staging",), full_refresh=True)) == [
        "build",
        "--select",
        "staging",
        "--exclude",
        "facts_triage",
        "source:app.facts",
        "--exclude-resource-type",
        "unit_test",
        "--full-refresh",
    ]


def test_a_server_tuned_by_an_earlier_hotdash_gets_new_settings_without_a_restart(
    hotdash_home, target
):
    """The embedded server's settings (db.EMBEDDED_SETTINGS) are applied once; a server tuned
    before deadlock_timeout joined them gets it on the next connection with a reload, and the
    sessions connected to it meanwhile go on."""
    marker = hotdash_home / "pgdata" / "hotdash_tuned"
    with db.connect(target, autocommit=True) as conn:
        conn.execute("alter system reset deadlock_timeout")
        conn.execute("select pg_reload_conf()")
        (started,) = conn.execute("select pg_postmaster_start_time()").fetchone()
    earlier = [name for name in db.EMBEDDED_SETTINGS if name != "deadlock_timeout"]
    marker.write_text("settings applied: " + ", ".join(earlier) + "\n")

    with db.connect(target, autocommit=True) as held:
        db.embedded_target(target.project_dir, hotdash_home, dbname="postgres")
        assert held.execute("select 1").fetchone() == (1,)

    deadline = time.monotonic() + 10
    while True:
        with db.connect(target) as conn:
            (timeout,) = conn.execute("show deadlock_timeout").fetchone()
            (now_started,) = conn.execute("select pg_postmaster_start_time()").fetchone()
        if timeout == "100ms" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (timeout, now_started) == ("100ms", started)
    assert "deadlock_timeout" in marker.read_text()
