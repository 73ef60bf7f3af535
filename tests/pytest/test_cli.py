"""End to end: the installed `hotdash` command against the embedded PostgreSQL, as a scheduler
or a person runs it (output to a pipe, so plain lines)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from runner import db, settings
from tests.pytest.helpers import FIXTURES_DIR, PROJECT_DIR, insert_facts, query, scalar

HOTDASH = Path(sys.executable).parent / "hotdash"
SHOP = "cli.myshopify.com"
ROLES = settings.project_security(PROJECT_DIR).roles.all()


def hotdash(target: db.Target, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTDASH_DATABASE": str(scalar(target, "select current_database()"))}
    env.pop("HOTDASH_SHOP_DOMAIN", None)
    return subprocess.run(
        [str(HOTDASH), *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def order() -> dict:
    return json.loads((FIXTURES_DIR / "order.json").read_text())["order"]


def test_load_of_a_bad_file_exits_with_the_load_code_and_no_traceback(target, tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(order()) + "\n" + "not json at all\n")
    result = hotdash(target, "load", str(path), "--topic", "orders", "--shop", SHOP)

    assert result.returncode == 4
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "error: orders.jsonl line 2: not JSON (Expecting value at column 1): not json at all;"
        " nothing was loaded",
        "hint: fix that object (or remove it) and load the file again",
    ]
    assert scalar(target, "select count(*) from facts") == 0

    path.write_text(json.dumps(order()) + "\n")
    ok = hotdash(target, "load", str(path), "--topic", "orders", "--shop", SHOP)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"loaded 1 fact from {path} (jsonl) in ")
    assert ok.stdout.rstrip().endswith(": shopify.orders 1")


def test_build_prints_progress_lines_and_the_node_table(target):
    insert_facts(target, [(SHOP, "shopify.orders", order())])
    result = hotdash(target, "build", "--select", "staging", "--select", "facts_quarantine")

    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "dbt nodes"
    assert out[1].split() == ["node", "type", "status", "rows", "seconds"]
    summary = next(i for i, line in enumerate(out) if " nodes: " in line)
    table = [line.split() for line in out[3:summary]]
    statuses = [row[2] for row in table]
    assert out[summary] == (
        f"{len(table)} nodes: {statuses.count('pass')} pass, {statuses.count('success')} success"
    )
    assert sorted(row[0] for row in table if row[1] == "model") == [
        "facts_quarantine",
        "facts_triage",
        "stg_shopify__customers",
        "stg_shopify__inventory_items",
        "stg_shopify__inventory_levels",
        "stg_shopify__order_line_items",
        "stg_shopify__orders",
        "stg_shopify__product_variants",
        "stg_shopify__products",
        "stg_shopify__refund_line_items",
        "stg_shopify__refunds",
    ]
    orders_row = next(row for row in table if row[0] == "stg_shopify__orders")
    assert orders_row[:4] == ["stg_shopify__orders", "model", "success", "1"]
    # one numbered progress line per node dbt counts (not its hooks, nor unit tests), numbered
    # in each dbt step: the judge step (the facts source's tests, facts_triage and its tests),
    # then dbt build
    progress = [line for line in result.stderr.splitlines() if re.match(r"  \[ *\d+/", line)]
    dbt_nodes = len([row for row in table if row[1] not in ("operation", "unit_test")])
    judged = len(
        [
            row
            for row in table
            if "facts_triage" in row[0] or "_app_facts_" in row[0] or "_facts_keys_" in row[0]
        ]
    )
    assert len(progress) == dbt_nodes
    assert progress[judged - 1].startswith(f"  [{judged}/{judged}] ")
    assert progress[-1].startswith(f"  [{dbt_nodes - judged}/{dbt_nodes - judged}] ")
    stderr = result.stderr
    assert stderr.index("==> judge facts") < stderr.index("==> payload contracts")
    assert stderr.index("==> payload contracts") < stderr.index("==> dbt build")
    run_id = out[-1].split()[1]
    assert query(target, "select run_id::text, status from ops.build_runs") == [(run_id, "success")]


def test_a_build_whose_facts_schema_has_no_facts_table_stops_at_the_facts_contracts(target):
    result = hotdash(target, "build", "--vars", "{facts_schema: nope}")
    assert result.returncode == 5
    assert "Traceback" not in result.stderr
    assert "needs nope.facts, which does not exist" in result.stderr
    # Nothing was created to build from, and no mart was replaced.
    assert scalar(target, "select to_regclass('nope.facts') is null") is True
    assert query(target, "select status, exit_code from ops.build_runs") == [("failed", 5)]


def test_a_failing_build_still_prints_its_nodes_and_exits_with_the_build_code(target):
    result = hotdash(
        target,
        "build",
        "-s",
        "staging",
        "-s",
        "facts_quarantine",
        "--skip-contracts",
        "--vars",
        "{facts_schema: nope}",
    )
    assert result.returncode == 6
    assert "Traceback" not in result.stdout + result.stderr
    table = result.stdout.splitlines()
    assert table[0] == "dbt nodes"
    assert any(line.split()[1:3] == ["test", "error"] for line in table[3:] if line.strip())
    assert 'relation "nope.facts" does not exist' in result.stdout
    # the facts source's first check: its keys
    assert result.stderr.splitlines()[-2].startswith(
        "error: dbt build failed: assert_facts_keys_hold"
    )
    assert query(target, "select status, exit_code from ops.build_runs") == [("failed", 6)]


def test_build_with_bad_vars_exits_with_the_config_code(target):
    result = hotdash(target, "build", "--vars", "[1, 2]")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0] == "error: --vars must be a YAML mapping, got '[1, 2]'"


def test_doctor_prints_one_line_per_check_and_fails_on_missing_roles(target):
    result = hotdash(target, "doctor")
    lines = result.stdout.splitlines()
    by_name = {line[5:].split("  ")[0].strip(): line[:4].strip() for line in lines}

    for name in ("python", "dbt-core", "dbt-postgres", "psycopg", "target", "database"):
        assert by_name[name] == "ok", result.stdout
    assert by_name["facts table"] == "ok"
    assert by_name["row-level security"] == "warn"  # no marts in this database
    existing = {r[0] for r in query(target, "select rolname from pg_roles")}
    if all(role in existing for role in ROLES):
        assert by_name["roles"] == "ok"
        assert result.returncode == 0
    else:
        assert by_name["roles"] == "fail"
        roles_line = next(line for line in lines if line.startswith("fail roles"))
        assert roles_line.endswith("(fix: `hotdash grants`)")
        assert result.returncode == 10
        assert result.stderr.splitlines()[0] == "error: 1 check(s) failed: roles"


def test_build_help_lists_the_exit_codes():
    result = subprocess.run(
        [str(HOTDASH), "build", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0
    for line in ("0  -: Success.", "4  LoadError:", "6  BuildError:", "130  interrupted:"):
        assert line in result.stdout


def test_demo_loads_deterministic_facts_and_if_empty_makes_a_rerun_add_nothing(new_target):
    first, second = new_target(), new_target()
    for target in (first, second):
        result = hotdash(
            target, "demo", "--facts", "800", "--shops", "2", "--seed", "5", "--if-empty"
        )
        assert result.returncode == 0, result.stderr
    again = hotdash(first, "demo", "--facts", "800", "--if-empty")
    assert again.returncode == 0, again.stderr
    assert "no demo facts loaded" in again.stdout

    content = "select shop_domain, topic, value::text, created_at from facts order by id"
    assert scalar(first, "select count(*) from facts") == 800
    assert query(first, content) == query(second, content)
    assert scalar(first, "select count(distinct shop_domain) from facts") == 2
