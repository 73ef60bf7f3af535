"""End to end: the installed `hotdash` command against the embedded PostgreSQL, as a scheduler
or a person runs it (output to a pipe, so plain lines)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import pytest
import yaml

from runner import db, settings
from runner.facts import VACUUM_AFTER_FACTS
from tests.pytest.helpers import (
    FIXTURES_DIR,
    PROJECT_DIR,
    assert_facts_vacuumed,
    insert_facts,
    query,
    scalar,
)

HOTDASH = Path(sys.executable).parent / "hotdash"
SHOP = "cli.myshopify.com"
ROLES = settings.project_security(PROJECT_DIR).roles.all()


def hotdash(
    target: db.Target, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOTDASH_DATABASE": str(scalar(target, "select current_database()")),
        **(env or {}),
    }
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
        "stg_chatwoot__conversations",
        "stg_chatwoot__messages",
        "stg_ga4__landing_pages",
        "stg_instagram__media",
        "stg_instagram__media_insights",
        "stg_search_console__search_analytics",
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


@pytest.mark.parametrize("facts", [VACUUM_AFTER_FACTS - 1, VACUUM_AFTER_FACTS])
def test_a_load_of_many_facts_vacuums_and_analyzes_the_facts_table(target, tmp_path, facts):
    """So the build right after it reads fact ids from the primary key alone."""
    result = hotdash(target, "demo", "--facts", str(facts), "--seed", "3")
    assert result.returncode == 0, result.stderr
    vacuumed = facts >= VACUUM_AFTER_FACTS
    assert_facts_vacuumed(target, result.stdout, vacuumed)

    path = tmp_path / "orders.jsonl"
    path.write_text("".join(json.dumps({**order(), "id": n}) + "\n" for n in range(1, facts + 1)))
    result = hotdash(target, "load", str(path), "--topic", "orders", "--shop", SHOP)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("; facts table vacuumed and analyzed") is vacuumed


# --- in dbt's and the shell's habits: --json, --junit, --target, --version, choices ----------


def junit_cases(path: Path) -> tuple[ET.Element, dict[str, list[ET.Element]]]:
    """The parsed JUnit file, its counts checked: each suite's and the root's add up."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites: dict[str, list[ET.Element]] = {}
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        for kind, attribute in (("failure", "failures"), ("error", "errors")):
            assert int(suite.get(attribute)) == sum(c.find(kind) is not None for c in cases)
        assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in cases)
        suites[suite.get("name")] = cases
    for attribute in ("tests", "failures", "errors", "skipped"):
        total = sum(int(s.get(attribute)) for s in root.findall("testsuite"))
        assert int(root.get(attribute)) == total
    return root, suites


def iso(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None, text
    return parsed


def test_version_names_hotdash_dbt_and_the_adapter():
    result = subprocess.run([str(HOTDASH), "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    line = result.stdout.strip()
    assert re.fullmatch(
        r"hotdash \S+ \(dbt-core 1\.11\.\S+, dbt-postgres 1\.11\.\S+, Python \S+\)", line
    ), line


def test_choices_are_checked_and_completion_is_on(target):
    bad = hotdash(target, "export", "inventory-alerts", "--format", "xml", env={"COLUMNS": "200"})
    assert bad.returncode == 2
    assert "'xml' is not one of 'csv', 'markdown'" in bad.stderr
    helped = subprocess.run(
        [str(HOTDASH), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "--install-completion" in helped.stdout
    completed = subprocess.run(
        [str(HOTDASH)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "_HOTDASH_COMPLETE": "complete_bash",
            "COMP_WORDS": "hotdash contracts --stage ",
            "COMP_CWORD": "3",
        },
    )
    assert completed.stdout.split() == ["source", "marts"]


def test_build_json_is_one_document_and_junit_has_steps_tests_and_contract_suites(target, tmp_path):
    insert_facts(target, [(SHOP, "shopify.orders", order())])
    xml = tmp_path / "build.xml"
    result = hotdash(
        target,
        "build",
        "-s",
        "staging",
        "-s",
        "facts_quarantine",
        "--exclude",
        "stg_shopify__refund_line_items",
        "--threads",
        "1",
        "-x",
        "--json",
        "--junit",
        str(xml),
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)  # the whole of stdout: progress went to stderr
    assert "==> dbt build" in result.stderr
    assert list(doc) == [
        "run_id",
        "status",
        "seconds",
        "command_args",
        "steps",
        "nodes",
        "contracts",
        "alerts",
        "alerts_error",
        "junit",
        "error",
        "exit_code",
    ]
    assert (doc["status"], doc["error"], doc["exit_code"]) == ("success", None, 0)
    assert query(target, "select run_id::text from ops.build_runs") == [(doc["run_id"],)]
    assert doc["command_args"] == [
        "build",
        "--select",
        "staging",
        "--select",
        "facts_quarantine",
        "--exclude",
        "stg_shopify__refund_line_items",
        "--threads",
        "1",
        "--fail-fast",
    ]
    assert [(s["name"], s["status"]) for s in doc["steps"]] == [
        (name, "skipped" if name == "source freshness" else "success")
        for name in (
            "load project",
            "facts contracts",
            "judge facts",
            "source freshness",
            "payload contracts",
            "dbt build",
            "mart contracts",
            "verify security",
        )
    ]
    names = {n["name"] for n in doc["nodes"]["items"]}
    assert "stg_shopify__orders" in names and "stg_shopify__refund_line_items" not in names
    assert (
        doc["nodes"]["total"] == len(doc["nodes"]["items"]) == sum(doc["nodes"]["counts"].values())
    )
    orders = next(n for n in doc["nodes"]["items"] if n["name"] == "stg_shopify__orders")
    assert (orders["resource_type"], orders["status"], orders["rows_affected"]) == (
        "model",
        "success",
        1,
    )
    stages = [s["stage"] for s in doc["contracts"]["stages"]]
    assert stages == ["source", "marts"]
    outcomes = sum(len(s["outcomes"]) for s in doc["contracts"]["stages"])
    assert sum(doc["contracts"]["counts"].values()) == outcomes
    assert set(doc["alerts"]) >= {"opened", "resolved", "open", "open_by_severity"}
    assert doc["junit"] == str(xml)

    root, suites = junit_cases(xml)
    assert root.get("id") == doc["run_id"]
    assert [c.get("name") for c in suites["build.steps"]] == [s["name"] for s in doc["steps"]]
    tests = [n for n in doc["nodes"]["items"] if n["resource_type"] in ("test", "unit_test")]
    assert len(suites["dbt.tests"]) == len(tests)
    assert len(suites["dbt.nodes"]) == doc["nodes"]["total"] - len(tests)
    contract_suites = [name for name in suites if name.startswith("contracts.")]
    assert "contracts.source.source_orders" in contract_suites
    assert sum(len(suites[name]) for name in contract_suites) == outcomes
    warned = doc["contracts"]["counts"]["warn"]
    outs = [c.find("system-out") for name in contract_suites for c in suites[name]]
    assert sum(o is not None and o.text.startswith("WARN: ") for o in outs) == warned
    assert root.get("failures") == root.get("errors") == "0"
    assert not list(tmp_path.glob(".build.xml.*"))  # written atomically: no temporary file left


def test_a_failing_build_under_json_has_its_error_and_junit_its_failed_tests(target, tmp_path):
    xml = tmp_path / "build.xml"
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
        "--json",
        "--junit",
        str(xml),
    )
    assert result.returncode == 6
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 6 and doc["status"] == "failed"
    assert doc["error"]["type"] == "BuildError"
    assert doc["error"]["message"].startswith("dbt build failed: assert_facts_keys_hold")
    assert doc["error"]["hint"]
    assert result.stderr.splitlines()[-2].startswith("error: dbt build failed:")

    root, suites = junit_cases(xml)
    steps = {c.get("name"): c for c in suites["build.steps"]}
    assert steps["judge facts"].find("failure").get("message").startswith("dbt build failed")
    assert steps["facts contracts"].find("skipped") is not None
    errored = [c for c in suites["dbt.tests"] if c.find("error") is not None]
    assert errored and int(root.get("errors")) >= len(errored)
    assert 'relation "nope.facts" does not exist' in errored[0].find("error").get("message")


def test_contracts_json_and_junit_name_the_failed_expectation(target, tmp_path):
    xml = tmp_path / "contracts.xml"
    result = hotdash(
        target,
        "contracts",
        "--stage",
        "source",
        "--vars",
        "{facts_schema: nope}",
        "--json",
        "--junit",
        str(xml),
    )
    assert result.returncode == 5
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["exit_code"], doc["error"]["type"]) == (
        False,
        5,
        "SourceContractError",
    )
    assert doc["counts"]["error"] >= 1
    assert [s["stage"] for s in doc["stages"]] == ["source"]
    failed = [o for o in doc["stages"][0]["outcomes"] if o["status"] == "error"]
    assert failed[0]["message"] == "needs nope.facts, which does not exist"

    root, suites = junit_cases(xml)
    assert root.get("name") == "hotdash contracts"
    assert int(root.get("failures")) == doc["counts"]["error"]
    assert int(root.get("tests")) == sum(doc["counts"].values())
    failures = [
        c.find("failure")
        for cases in suites.values()
        for c in cases
        if c.find("failure") is not None
    ]
    assert failures[0].get("message").endswith("needs nope.facts, which does not exist")
    assert all(name.startswith("contracts.source.") for name in suites)

    # both stages by default; --fail-fast stops after the failed source stage
    stopped = hotdash(target, "contracts", "-x", "--vars", "{facts_schema: nope}", "--json")
    assert stopped.returncode == 5
    assert [s["stage"] for s in json.loads(stopped.stdout)["stages"]] == ["source"]


def test_a_junit_file_in_a_missing_folder_is_refused_before_anything_runs(target, tmp_path):
    result = hotdash(target, "build", "--junit", str(tmp_path / "nope" / "b.xml"), "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["message"] == (
        f"--junit {tmp_path / 'nope' / 'b.xml'}: folder {tmp_path / 'nope'} does not exist"
    )
    assert query(target, "select count(*) from ops.build_runs") == [(0,)]


def test_status_and_doctor_json(target):
    insert_facts(target, [(SHOP, "shopify.orders", order())])
    result = hotdash(target, "status", "--json", "--fail-on", "critical")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert list(doc) == ["runs", "freshness", "fail_on", "failing", "error", "exit_code"]
    assert (doc["runs"], doc["fail_on"], doc["failing"], doc["error"]) == ([], "critical", [], None)
    (feed,) = doc["freshness"]
    assert (feed["shop_domain"], feed["topic"], feed["status"]) == (
        SHOP,
        "shopify.orders",
        "fresh",
    )
    assert iso(feed["latest_created_at"]) <= dt.datetime.now(dt.UTC)
    assert 0 <= feed["age_seconds"] < feed["warn_after_seconds"] < feed["error_after_seconds"]

    checked = hotdash(target, "doctor", "--json")
    doc = json.loads(checked.stdout)
    assert checked.returncode == doc["exit_code"] == (0 if doc["ok"] else 10)
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    assert statuses["database"] == "ok" and statuses["row-level security"] == "warn"
    assert doc["counts"] == {s: list(statuses.values()).count(s) for s in ("ok", "warn", "fail")}


def test_target_picks_the_profiles_target_for_the_runner_and_needs_a_profile(target, tmp_path):
    unknown = hotdash(target, "status", "-t", "prod", "--json")
    assert unknown.returncode == 2
    assert json.loads(unknown.stdout) == {
        "error": {
            "type": "ConfigError",
            "message": "--target prod: no profile is configured, only the embedded database"
            " (target embedded)",
            "hint": "set DBT_PROFILES_DIR, or put a profiles.yml in the project"
            " (profiles.yml.example)",
            "exit_code": 2,
        },
        "exit_code": 2,
    }

    params = psycopg.conninfo.conninfo_to_dict(target.conninfo)
    output = {
        "type": "postgres",
        "host": params["host"],
        "port": int(params["port"]),
        "user": "postgres",
        "password": "",
        "dbname": params["dbname"],
        "schema": "public",
    }
    profiles = {
        "hotdash": {
            "target": "nowhere",
            "outputs": {
                "nowhere": {**output, "port": 1},  # nothing listens there
                "dev": output,
            },
        }
    }
    (tmp_path / "profiles.yml").write_text(yaml.safe_dump(profiles))
    insert_facts(target, [(SHOP, "shopify.orders", order())])
    env = {"DBT_PROFILES_DIR": str(tmp_path)}
    default = hotdash(target, "status", "--json", env=env)
    assert default.returncode == 3
    assert json.loads(default.stdout)["error"]["type"] == "DatabaseError"
    chosen = hotdash(target, "status", "--target", "dev", "--json", env=env)
    assert chosen.returncode == 0, chosen.stderr
    assert [f["shop_domain"] for f in json.loads(chosen.stdout)["freshness"]] == [SHOP]
    checked = json.loads(hotdash(target, "doctor", "-t", "dev", "--json", env=env).stdout)
    detail = next(c["detail"] for c in checked["checks"] if c["name"] == "target")
    assert detail.startswith("profile: target dev of the dbt profile ")


def _as_from_a_terminal() -> None:
    """Ctrl-C reaches the command as it does from a terminal: a process started in the
    background (a CI job's `&`, a test worker) may pass SIGINT on ignored or blocked, and a
    Python started so never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_docs_static_writes_one_file_and_serve_serves_it(target):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HOTDASH_DATABASE": str(scalar(target, "select current_database()"))}
    server = subprocess.Popen(
        [str(HOTDASH), "docs", "--static", "--serve", "--port", str(port), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_as_from_a_terminal,
    )
    try:
        deadline = time.monotonic() + 240
        page = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/static_index.html") as r:
                    page = r.read()
                break
            except OSError:
                time.sleep(1)
        assert page is not None, server.stderr.read() if server.poll() is not None else "no page"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            out, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()  # not left holding the port and a connection
            raise
    static = PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target") / "static_index.html"
    assert f"dbt docs, one file: {static}" in out
    assert page == static.read_bytes()
    assert server.returncode == 130
    # The page carries the lineage it draws (no browser here: the page's own data is read): the
    # manifest inlined in it, with each mart's parents and the consumers (exposures) of kpi_tiles.
    text = page.decode()
    start = text.index(
        '{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest'
    )
    manifest, _ = json.JSONDecoder().raw_decode(text, start)
    assert sorted(manifest["parent_map"]["model.hotdash.kpi_tiles"]) == [
        "model.hotdash.int_seo__page_daily",
        "model.hotdash.int_shopify__revenue_daily",
        "model.hotdash.inventory_alerts",
        "model.hotdash.seo_dropped_pages",
        "model.hotdash.stg_chatwoot__conversations",
        "model.hotdash.stg_chatwoot__messages",
        "model.hotdash.stg_instagram__media",
        "model.hotdash.stg_instagram__media_insights",
    ]
    assert {"exposure.hotdash.operator_dashboard", "exposure.hotdash.ai_assistant"} <= set(
        manifest["child_map"]["model.hotdash.kpi_tiles"]
    )


def test_exclude_narrows_the_dbt_build_step_as_select_does():
    from runner.contracts.suites import FACTS_SOURCE, NIGHTLY_SELECTOR, TRIAGE_MODEL
    from runner.pipeline import BuildOptions, alert_rules, dbt_build_args, selected

    whole = BuildOptions(threads=4, fail_fast=True)
    assert dbt_build_args(whole) == [
        "build",
        "--selector",
        NIGHTLY_SELECTOR,
        "--threads",
        "4",
        "--fail-fast",
    ]
    # dbt 1.11 ignores --exclude next to --selector: an --exclude selects everything less it
    excluded = BuildOptions(exclude=("tag:slow", "kpi_tiles"))
    assert dbt_build_args(excluded) == [
        "build",
        "--select",
        "fqn:*",
        "--exclude",
        TRIAGE_MODEL,
        FACTS_SOURCE,
        "tag:slow",
        "kpi_tiles",
        "--exclude-resource-type",
        "unit_test",
    ]
    assert excluded.narrowed and selected(excluded) and not whole.narrowed
    assert alert_rules(excluded) == alert_rules(BuildOptions(select=("staging",)))
    assert excluded.command_args() == ["build", "--exclude", "tag:slow", "--exclude", "kpi_tiles"]


def test_junit_maps_dbt_outcomes_and_warnings(tmp_path):
    import uuid

    from runner import junit
    from runner.dbt import DbtRun, NodeResult
    from runner.pipeline import BuildOptions, BuildReport, StepResult

    def node(name: str, kind: str, status: str, message: str = "", failures=None) -> NodeResult:
        return NodeResult(
            f"{kind}.hotdash.{name}", name, kind, status, 0.5, None, message, failures
        )

    report = BuildReport(run_id=uuid.uuid4(), options=BuildOptions(), seconds=3.0)
    report.steps = [StepResult("dbt build", "failed", 2.0, "dbt build failed: t_fail (fail)")]
    report.dbt_runs = [
        DbtRun(
            ["build"],
            False,
            [
                node("m", "model", "success"),
                node("t_pass", "test", "pass"),
                node("t_warn", "test", "warn", "Got 2 results, configured to warn if != 0", 2),
                node("t_fail", "test", "fail", "Got 3 results\x1b, configured to fail", 3),
                node("t_skip", "test", "skipped"),
                node("m_err", "model", "error", 'relation "x" does not exist'),
            ],
        )
    ]
    path = junit.write(tmp_path / "b.xml", junit.build_xml(report))
    root, suites = junit_cases(path)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "2", "1")
    assert root.get("time") == "3.000"
    tests = {c.get("name"): c for c in suites["dbt.tests"]}
    failure = tests["t_fail"].find("failure")
    assert failure.get("message") == "3 failing row(s): Got 3 results, configured to fail"
    assert tests["t_warn"].find("failure") is None
    assert tests["t_warn"].find("system-out").text.startswith("WARN: test.hotdash.t_warn: Got 2")
    assert tests["t_skip"].find("skipped") is not None
    errored = next(c for c in suites["dbt.nodes"] if c.get("name") == "m_err").find("error")
    assert errored.get("message") == 'relation "x" does not exist'
