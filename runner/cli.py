"""The `hotdash` command line: parses, calls the library, prints. No logic of its own."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import psycopg
import typer
from psycopg import sql
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runner import db as dbmod
from runner import heap, settings, ui
from runner.errors import (
    INTERRUPTED_EXIT_CODE,
    UNEXPECTED_EXIT_CODE,
    DatabaseError,
    HotdashError,
    exit_codes,
)

heap.frozen_at_exit()

app = typer.Typer(
    help="Run the hotdash-data pipeline: Shopify facts in, marts out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
db_app = typer.Typer(help="Manage the embedded PostgreSQL (used when no profile is configured).")
app.add_typer(db_app, name="db")
export_app = typer.Typer(help="Export marts to files: the marketing list and the inventory alerts.")
app.add_typer(export_app, name="export")

# Long lines are not broken: a terminal wraps them itself, and CI logs and pipes get whole lines.
# In a pipe or a CI log there is no terminal width to fit: tables get room to stay on one line.
PIPE_WIDTH = 160
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH)
err_console = Console(
    stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else PIPE_WIDTH
)


class State:
    debug: bool = False
    # --json: the command prints one JSON document on stdout; an error that comes before the
    # command printed its own is printed as {"error": ..., "exit_code": ...} (runner/jsonout.py)
    json: bool = False
    json_printed: bool = False


state = State()


def versions() -> str:
    """`hotdash --version`: the package's version, dbt-core's and the adapter's."""
    import importlib.metadata
    import platform

    def of(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return (
        f"hotdash {of('hotdash-data')} (dbt-core {of('dbt-core')},"
        f" dbt-postgres {of('dbt-postgres')}, Python {platform.python_version()})"
    )


def print_version(value: bool) -> None:
    if value:
        print(versions())
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=print_version,
            is_eager=True,
            help="Print the versions of hotdash, dbt-core and dbt-postgres, and exit.",
        ),
    ] = False,
) -> None:
    """hotdash: build the hotdash-data marts.

    Example: `hotdash demo --facts 100000 && hotdash build`.
    """
    state.debug = debug
    state.json = state.json_printed = False  # set by the command's --json (one process, many runs)


def use_target(value: str | None) -> str | None:
    """--target/-t: dbt's target of the profile, for dbt and for the runner's own connections
    (set as DBT_TARGET, which runner.db and dbt both read)."""
    if value:
        if not dbmod.uses_profile() and value != "embedded":
            from runner.errors import ConfigError

            fail(
                ConfigError(
                    f"--target {value}: no profile is configured, only the embedded database"
                    " (target embedded)",
                    hint="set DBT_PROFILES_DIR, or put a profiles.yml in the project"
                    " (profiles.yml.example)",
                )
            )
        os.environ["DBT_TARGET"] = value
    return value


# A command that connects takes --target/-t, as dbt's commands do; the value reaches every
# connection through DBT_TARGET (the parameter itself stays None).
TargetOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        "-t",
        callback=use_target,
        expose_value=False,
        help="The profile's target to use (dbt's --target; default: the profile's target, or"
        " $DBT_TARGET).",
        show_default=False,
    ),
]


def use_json(value: bool) -> bool:
    state.json = value
    return value


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        callback=use_json,
        is_eager=True,
        help='Print one JSON document on stdout instead of tables (README "JSON output").',
    ),
]


def print_json(doc: object) -> None:
    """The command's document, once."""
    from runner import jsonout

    state.json_printed = True
    jsonout.write(doc)


def fail(exc: HotdashError) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
    if exc.hint:
        err_console.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
    if state.json and not state.json_printed:
        from runner import jsonout

        print_json(jsonout.with_outcome({}, exc))
    raise typer.Exit(exc.exit_code)


def fail_json(type_: str, message: str, hint: str | None, code: int) -> None:
    """Under --json, an error that is no HotdashError (interrupted, unexpected) as a document."""
    if state.json and not state.json_printed:
        from runner import jsonout

        print_json({"error": jsonout.error(type_, message, hint, code), "exit_code": code})


def run_guarded(fn: Callable[[], None]) -> None:
    """Turn errors into one clear line, a hint and an exit code (tracebacks only with --debug)."""
    try:
        fn()
    except typer.Exit:
        raise
    except HotdashError as exc:
        if state.debug:
            raise
        fail(exc)
    except psycopg.Error as exc:
        if state.debug:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        fail(
            DatabaseError(
                f"the database refused: {first}", hint="`hotdash doctor` checks the setup"
            )
        )
    except KeyboardInterrupt:
        if state.debug:
            raise
        err_console.print("[bold red]interrupted[/]")
        fail_json("interrupted", "interrupted", None, INTERRUPTED_EXIT_CODE)
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None
    except Exception as exc:
        if state.debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        err_console.print(
            f"[bold red]unexpected error:[/] {type(exc).__name__}: {first}", highlight=False
        )
        hint = "rerun with `hotdash --debug ...` for the traceback"
        err_console.print(f"[yellow]hint:[/] {hint}")
        fail_json("unexpected", f"{type(exc).__name__}: {first}", hint, UNEXPECTED_EXIT_CODE)
        raise typer.Exit(UNEXPECTED_EXIT_CODE) from None


def check_junit_path(path: Path | None) -> None:
    """--junit FILE: refused before anything runs when its folder does not exist."""
    if path is not None and not path.parent.is_dir():
        from runner.errors import ConfigError

        raise ConfigError(
            f"--junit {path}: folder {path.parent} does not exist", hint="create it first"
        )


def exit_code_help() -> str:
    """The exit codes, as --help prints them (the README has the same table)."""
    lines = [f"{code:>3}  {name}: {meaning}" for code, name, meaning in exit_codes()]
    return "Exit codes:\n\n" + "\n\n".join(lines)


def progress_printer(label: str) -> Callable[[int], None]:
    start = time.monotonic()

    def report(count: int) -> None:
        rate = count / max(time.monotonic() - start, 1e-9)
        err_console.print(f"{label}: {count:,} ({rate:,.0f}/s)", highlight=False)

    return report


# --- db -------------------------------------------------------------------------------------


@db_app.command("up")
def db_up(target_name: TargetOption = None) -> None:
    """Start the embedded PostgreSQL (idempotent). Example: `hotdash db up`."""

    def go() -> None:
        target = dbmod.resolve_target()
        console.print(f"database ready ({target.kind}): {target.redacted()}")
        if target.kind == "embedded":
            console.print(f"plain dbt: export DBT_PROFILES_DIR={target.profiles_dir}")

    run_guarded(go)


@db_app.command("url")
def db_url(target_name: TargetOption = None) -> None:
    """Print the libpq URI of the database in use. Example: `psql "$(hotdash db url)"`."""

    def go() -> None:
        print(dbmod.resolve_target().conninfo)

    run_guarded(go)


@db_app.command("down")
def db_down() -> None:
    """Stop the embedded PostgreSQL; its data stays. Example: `hotdash db down`."""

    def go() -> None:
        stopped = dbmod.stop_embedded(dbmod.hotdash_home())
        console.print("stopped" if stopped else "not running")

    run_guarded(go)


@db_app.command("reset")
def db_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop the embedded PostgreSQL and delete its data. Example: `hotdash db reset --yes`."""
    home = dbmod.hotdash_home()
    if not yes:
        typer.confirm(f"Delete the embedded database in {home / 'pgdata'}?", abort=True)
    run_guarded(lambda: dbmod.reset_embedded(home))
    console.print("embedded database deleted; `hotdash db up` creates a new one")


# --- facts ----------------------------------------------------------------------------------


@app.command()
def demo(
    facts: Annotated[
        int, typer.Option("--facts", min=1, help="How many facts to generate.")
    ] = 100_000,
    shops: Annotated[int, typer.Option("--shops", min=1, help="How many shops.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same facts.")] = 42,
    if_empty: Annotated[
        bool,
        typer.Option(
            "--if-empty", help="Load only into an empty facts table (a rerun adds nothing twice)."
        ),
    ] = False,
    target_name: TargetOption = None,
) -> None:
    """Generate realistic demo facts and load them with COPY, all or nothing.

    Example: `hotdash demo --facts 1000000 --shops 2 --seed 7`.
    """
    from runner.facts import (
        VACUUMED_NOTE,
        ensure_facts_table,
        facts_table,
        load_demo,
        vacuum_after_load,
    )

    def go() -> None:
        target = dbmod.resolve_target()
        schema = settings.of(target).facts_schema
        start = time.monotonic()
        with dbmod.connect(target) as conn:
            if if_empty:
                ensure_facts_table(conn, schema)
                query = sql.SQL("select exists (select 1 from {})").format(facts_table(schema))
                if conn.execute(query).fetchone()[0]:
                    console.print("facts table is not empty: no demo facts loaded (--if-empty)")
                    return
            count = load_demo(
                conn,
                facts,
                shops=shops,
                seed=seed,
                progress=progress_printer("facts loaded"),
                schema=schema,
            )
        vacuumed = vacuum_after_load(target, count, schema)
        console.print(
            f"loaded {count:,} demo facts in {time.monotonic() - start:.1f}s"
            + (VACUUMED_NOTE if vacuumed else "")
        )

    run_guarded(go)


@app.command()
def load(
    file: Annotated[
        Path, typer.Argument(help="JSONL (.jsonl or .jsonl.gz) or JSON file of facts.")
    ],
    topic: Annotated[
        str | None,
        typer.Option(
            "--topic",
            help="Topic of objects that do not name one (e.g. shopify.orders or orders). No"
            " short form: -t is --target, as in dbt.",
        ),
    ] = None,
    shop: Annotated[
        str | None,
        typer.Option(
            "--shop",
            help="Shop of objects that do not name one (default: $HOTDASH_SHOP_DOMAIN).",
        ),
    ] = None,
    target_name: TargetOption = None,
) -> None:
    """Load a file of Shopify facts in one transaction: all of it, or nothing.

    Accepts JSONL (one object per line, streamed; Shopify bulk-operation exports), a JSON array,
    webhook envelopes {"topic": "orders/create", "shop_domain": "...", "payload": {...}} and REST
    wrappers {"orders": [...]} / {"order": {...}}. A bad line stops the load and is named.

    Example: `hotdash load orders.jsonl --topic shopify.orders --shop hotrodan.myshopify.com`.
    """
    from runner.facts import VACUUMED_NOTE, vacuum_after_load
    from runner.load import load_file

    def go() -> None:
        target = dbmod.resolve_target()
        schema = settings.of(target).facts_schema
        with dbmod.connect(target) as conn, ui.LoadDisplay(err_console, file.name) as display:
            result = load_file(conn, file, topic=topic, shop=shop, progress=display, schema=schema)
        vacuumed = vacuum_after_load(target, result.facts, schema)
        topics = ", ".join(f"{t} {n:,}" for t, n in sorted(result.by_topic.items()))
        noun = "fact" if result.facts == 1 else "facts"
        console.print(
            f"loaded {result.facts:,} {noun} from {file} ({result.format}) in"
            f" {result.seconds:.1f}s"
            + (f": {topics}" if topics else "")
            + (VACUUMED_NOTE if vacuumed else ""),
            highlight=False,
        )

    run_guarded(go)


class BackfillObject(StrEnum):
    orders = "orders"
    customers = "customers"
    products = "products"
    inventory = "inventory"


@app.command()
def backfill(
    file: Annotated[
        Path, typer.Argument(help="Shopify GraphQL bulk-operation JSONL (.jsonl or .jsonl.gz).")
    ],
    shop: Annotated[
        str | None,
        typer.Option("--shop", help="The shop the file came from (default: $HOTDASH_SHOP_DOMAIN)."),
    ] = None,
    object_name: Annotated[
        BackfillObject | None,
        typer.Option(
            "--object",
            help="orders (with line items and refunds), customers, products (with variants) or"
            " inventory (items with levels); default: from the file's first line.",
        ),
    ] = None,
    target_name: TargetOption = None,
) -> None:
    """Backfill history from a Shopify GraphQL bulk operation, in one transaction.

    Each object is stored as the REST/webhook payload staging reads (numeric ids, shop money,
    "hotdash_source": "graphql_bulk"), children joined to parents by __parentId wherever they
    are in the file. A re-run adds nothing: each (shop, object, id, updatedAt) is stored once.

    Example: `hotdash backfill bulk-orders.jsonl.gz --shop hotrodan.myshopify.com`.
    """
    from runner.backfill import backfill_file
    from runner.facts import VACUUMED_NOTE, vacuum_after_load

    def go() -> None:
        target = dbmod.resolve_target()
        with (
            dbmod.connect(target) as conn,
            ui.LoadDisplay(err_console, file.name, unit="lines") as display,
        ):
            result = backfill_file(
                conn,
                file,
                shop=shop,
                object_name=object_name.value if object_name else None,
                progress=display,
                schema=settings.of(target).facts_schema,
            )
        vacuumed = vacuum_after_load(target, result.facts, settings.of(target).facts_schema)
        topics = ", ".join(f"{t} {n:,}" for t, n in sorted(result.by_topic.items()))
        noun = "fact" if result.facts == 1 else "facts"
        console.print(
            f"backfilled {result.facts:,} {noun} ({result.object}) from {result.lines:,} lines of"
            f" {file} in {result.seconds:.1f}s"
            + (f": {topics}" if topics else "")
            + (f"; {result.skipped:,} already stored" if result.skipped else "")
            + (
                "; ignored " + ", ".join(f"{t} {n:,}" for t, n in sorted(result.ignored.items()))
                if result.ignored
                else ""
            )
            + (VACUUMED_NOTE if vacuumed else ""),
            highlight=False,
        )

    run_guarded(go)


# --- build ----------------------------------------------------------------------------------


@app.command(
    short_help="Run the nightly job: steps, progress, a table of every node; recorded in ops.",
    help="Run the nightly job: the build steps (load project, facts contracts, judge facts, payload contracts,"
    " dbt build, mart contracts, verify security), each timed, with live progress and a table of every"
    " dbt node. Every run is recorded in ops.build_runs and ops.build_run_nodes, also when it"
    " fails.\n\nExample: `hotdash build`, or `hotdash build --select staging --full-refresh`,"
    " or in CI `hotdash build --junit build.xml --json > build.json`.\n\n" + exit_code_help(),
)
def build(
    select: Annotated[
        list[str] | None, typer.Option("--select", "-s", help="dbt selection (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="dbt exclusion for the dbt build step (repeatable)."),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option("--full-refresh", "-f", help="Rebuild incremental models from scratch."),
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads", min=1, help="dbt threads (default: the profile's), for every dbt step."
        ),
    ] = None,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast",
            "-x",
            help="dbt stops at its first failing node (the runner's steps always stop at the"
            " first failing step).",
        ),
    ] = False,
    skip_contracts: Annotated[
        bool, typer.Option("--skip-contracts", help="Do not run the contract suites.")
    ] = False,
    full_check: Annotated[
        bool,
        typer.Option(
            "--full-check",
            help="Check that every fact is accounted for, not only the new ones (done anyway on"
            " --full-refresh and when the last full check is more than 7 days old).",
        ),
    ] = False,
    vars: Annotated[
        str | None, typer.Option("--vars", help="dbt vars as YAML, e.g. '{revenue_goal: 5000000}'.")
    ] = None,
    skip_security: Annotated[
        bool,
        typer.Option(
            "--skip-security", help="Do not verify grants and row-level security after the build."
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="When another build is running on this database, wait for it to finish"
            " (default: exit at once with code 11, naming it).",
        ),
    ] = False,
    wait_timeout: Annotated[
        float | None,
        typer.Option(
            "--wait-timeout",
            help="With --wait, give up after this many seconds (exit code 11).",
            min=0,
        ),
    ] = None,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify",
            help="Once the build is recorded (also when it failed), run `hotdash notify`: send"
            " the new and resolved alerts and the briefing. A notify failure is a warning; the"
            " build's exit code stays the build's.",
        ),
    ] = False,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            help="Also write a JUnit XML report: the steps, dbt's tests and nodes, each contract"
            ' suite (README "JUnit XML"); written also when the build fails.',
        ),
    ] = None,
    as_json: JsonOption = False,
    target_name: TargetOption = None,
) -> None:
    from runner.pipeline import BuildOptions, BuildReport, build_report
    from runner.pipeline import build as run_build

    options = BuildOptions(
        select=tuple(select or ()),
        full_refresh=full_refresh,
        skip_contracts=skip_contracts,
        vars=vars,
        skip_security=skip_security,
        full_check=full_check,
        exclude=tuple(exclude or ()),
        threads=threads,
        fail_fast=fail_fast,
    )

    def go() -> None:
        options.validate()
        check_junit_path(junit)
        target = dbmod.resolve_target()
        err_console.print(
            f"building on {target.kind} database {target.redacted()}", highlight=False
        )
        try:
            with ui.build_display(err_console) as display:
                report = run_build(
                    target, options, listener=display, wait=(wait_timeout if wait else 0)
                )
        except HotdashError as exc:
            failed = build_report(exc)
            if failed is not None:
                show(failed, settings.with_vars(target, vars), exc)
            raise
        show(report, settings.with_vars(target, vars))

    def show(report: BuildReport, target: dbmod.Target, error: HotdashError | None = None) -> None:
        if junit is not None:
            from runner import junit as junitmod

            junitmod.write(junit, junitmod.build_xml(report))
            err_console.print(f"JUnit XML: {junit}", highlight=False)
        if as_json:
            from runner import jsonout

            if report.alerts_error is not None:
                err_console.print(
                    f"[yellow]warning:[/] alerts not evaluated: {escape(report.alerts_error)}",
                    highlight=False,
                )
            if notify:
                notify_after_build(target, out=err_console)
            print_json(jsonout.with_outcome(jsonout.build(report, junit), error))
            return
        ui.print_nodes(console, report.nodes)
        for contract_report in report.contracts:
            console.print(contract_table(contract_report))
        ui.print_steps(console, report.steps, report.seconds)
        if report.alerts is not None:
            console.print(report.alerts.line() + " (`hotdash alerts`)", highlight=False)
        if report.alerts_error is not None:
            err_console.print(
                f"[yellow]warning:[/] alerts not evaluated: {escape(report.alerts_error)}",
                highlight=False,
            )
        if notify:
            notify_after_build(target)
        # the last line: a scheduler reads the run id from it
        console.print(f"run {report.run_id} recorded in ops.build_runs", highlight=False)

    run_guarded(go)


# --- contracts ------------------------------------------------------------------------------


def contract_table(report) -> Table:  # report: runner.contracts.ContractReport
    counts = report.counts()
    table = Table(
        title=f"{report.stage} contracts: {counts['pass']} passed, {counts['warn']} warned, "
        f"{counts['error']} failed, {counts['skipped']} skipped ({report.seconds:.1f}s)",
        show_lines=False,
    )
    for col in ("suite", "expectation", "severity", "result", "bad rows", "sample"):
        table.add_column(col, justify="right" if col == "bad rows" else "left", overflow="fold")
    colors = {"pass": "green", "warn": "yellow", "error": "bold red", "skipped": "dim"}
    for o in report.outcomes:
        bad = "" if o.unexpected_count is None else f"{o.unexpected_count:,}"
        if o.unexpected_share is not None and o.unexpected_count:
            bad += f" ({o.unexpected_share:.2%})"
        detail = o.message or o.sample_text
        severity = o.severity
        if o.error_above_share is not None:
            severity += f" (error >{o.error_above_share:.0%})"
        table.add_row(
            o.suite,
            o.expectation,
            severity,
            f"[{colors[o.status]}]{o.status}[/]",
            bad,
            detail[:120],
        )
    return table


class Stage(StrEnum):
    source = "source"
    marts = "marts"


@app.command()
def contracts(
    stage: Annotated[
        Stage | None,
        typer.Option(
            "--stage", help="source (facts, before dbt) or marts (after dbt); default both."
        ),
    ] = None,
    new_facts_only: Annotated[
        bool,
        typer.Option(
            "--new-facts-only",
            help="Row checks read only facts not yet judged, payload checks only facts not yet"
            " staged (as an incremental build does).",
        ),
    ] = False,
    vars: Annotated[
        str | None,
        typer.Option(
            "--vars",
            help="dbt vars as YAML, as the build was given them (the suites read them too).",
        ),
    ] = None,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast",
            "-x",
            help="Stop at the first stage with an error-level failure (by default the marts are"
            " still checked after a failed source stage).",
        ),
    ] = False,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            help="Also write a JUnit XML report: one testsuite per contract suite, one testcase"
            ' per expectation (README "JUnit XML").',
        ),
    ] = None,
    as_json: JsonOption = False,
    target_name: TargetOption = None,
) -> None:
    """Run the data contract suites (contracts/) against the database and print each result.

    It runs the build's own contract steps: the source stage checks the facts table, judges the
    facts not yet judged (the build's judge step, ops.facts_triage), then checks the payloads by
    their verdicts; a stage stops at its first error-level failure, as in a build.
    Exits non-zero when an error-level contract fails (5 for source, 7 for marts).
    Example: `hotdash contracts --stage source`, or in CI `hotdash contracts --junit contracts.xml`.
    """
    from runner import contracts as contractsmod
    from runner import pipeline

    def go() -> None:
        check_junit_path(junit)
        target = settings.with_vars(dbmod.resolve_target(), vars)
        stages = [stage.value] if stage else list(contractsmod.STAGES)
        reports, error = pipeline.check_contracts(target, stages, new_facts_only, fail_fast)
        if junit is not None:
            from runner import junit as junitmod

            junitmod.write(junit, junitmod.contracts_xml(reports))
            err_console.print(f"JUnit XML: {junit}", highlight=False)
        if as_json:
            from runner import jsonout

            print_json(jsonout.with_outcome(jsonout.contracts(reports), error))
        else:
            for report in reports:
                console.print(contract_table(report))
            if reports and reports[-1].data_docs:
                console.print(f"Data Docs: {reports[-1].data_docs}")
                console.print(f"summary: {reports[-1].summary}")
        if error is not None:
            raise error

    run_guarded(go)


# --- status ---------------------------------------------------------------------------------


class Severity(StrEnum):
    warn = "warn"
    critical = "critical"


@app.command()
def status(
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="How many builds to list.")] = 10,
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop's freshness.")] = None,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            "--fail-on",
            help="Exit with code 12 when an alert at or above this severity is open (of --shop"
            " only, when given), a feed late (warn) or stale (critical) now included: warn or"
            " critical.",
        ),
    ] = None,
    as_json: JsonOption = False,
    target_name: TargetOption = None,
) -> None:
    """Show the last builds and how fresh the facts are per shop and topic.

    Example: `hotdash status --runs 5`, or `hotdash status --fail-on critical` in a monitor.
    """
    from runner.alerts import raised
    from runner.errors import AlertError
    from runner.status import status as get_status

    def go() -> None:
        target = dbmod.resolve_target()
        vars = settings.of(target)
        with dbmod.connect(target) as conn:
            result = get_status(conn, vars, runs=runs, shop=shop)
            failing = raised(conn, vars, fail_on.value, shop) if fail_on else []
        error = None
        if failing:
            error = AlertError(
                f"{len(failing)} open alert(s) at or above {fail_on.value}: "
                + "; ".join(
                    f"{s} {rule}{' ' + subject if subject else ''} ({sev})"
                    for s, rule, subject, sev in failing[:5]
                )
                + (" ..." if len(failing) > 5 else ""),
                hint="`hotdash alerts` lists them with what to do; `hotdash status` the feeds",
            )
        if as_json:
            from runner import jsonout

            doc = jsonout.status(result, fail_on.value if fail_on else None, failing)
            print_json(jsonout.with_outcome(doc, error))
            if error is not None:
                raise error
            return
        ui.print_runs(console, result.runs)
        console.print()
        ui.print_freshness(console, result.freshness)
        if fail_on is not None:
            console.print()
            console.print(
                f"{len(failing)} open alert(s) at or above {fail_on.value}", highlight=False
            )
            if error is not None:
                raise error

    run_guarded(go)


# --- alerts ---------------------------------------------------------------------------------


@app.command()
def alerts(
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop's alerts.")] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            callback=use_json,
            is_eager=True,
            help='Print a JSON array (on an error: the error document, README "JSON output").',
        ),
    ] = False,
    include_resolved: Annotated[
        bool, typer.Option("--all", help="Also the alerts resolved in the last 30 days.")
    ] = False,
    target_name: TargetOption = None,
) -> None:
    """List the open alerts (marts.alerts, evaluated at the end of every build), critical first,
    then by shop. README "Alerts" lists the rules.

    Example: `hotdash alerts`, `hotdash alerts --shop x.myshopify.com --json`.
    """
    import json

    from runner.alerts import list_alerts

    def go() -> None:
        target = dbmod.resolve_target()
        with dbmod.connect(target) as conn:
            found = list_alerts(conn, shop, include_resolved)
        if as_json:
            state.json_printed = True
            print(json.dumps([a.as_json() for a in found], indent=2))
            return
        if not found:
            console.print("no open alerts" if not include_resolved else "no alerts")
            return
        table = Table(title=f"{len(found)} alert(s)")
        for col in ("severity", "shop", "rule", "message", "opened", "resolved"):
            table.add_column(col, overflow="fold")
        colors = {"critical": "bold red", "warn": "yellow"}
        for a in found:
            table.add_row(
                f"[{colors[a.severity]}]{a.severity}[/]",
                a.shop_domain,
                a.rule + (f" {a.subject}" if a.subject else ""),
                escape(a.message),
                f"{a.opened_at:%Y-%m-%d %H:%M}",
                f"{a.resolved_at:%Y-%m-%d %H:%M}" if a.resolved_at else "",
            )
        console.print(table)

    run_guarded(go)


# --- notify ---------------------------------------------------------------------------------


def print_notify(report, out: Console = console) -> None:  # report: runner.notify.NotifyReport
    """The warnings and the summary line of a notify run (each message's line is printed as it
    is sent)."""
    if report.briefing_warning:
        err_console.print(f"[yellow]warning:[/] {escape(report.briefing_warning)}", highlight=False)
    for problem in report.problems:
        err_console.print(f"[yellow]warning:[/] {escape(problem)}", highlight=False)
    out.print(report.summary(), highlight=False, markup=False)


def notify_after_build(target: dbmod.Target, out: Console = console) -> None:
    """`hotdash build --notify`: deliver; a failure is printed as a warning, never raised.
    `out`: where the lines go (stderr under --json)."""
    from runner import notify as notifymod

    def line(outcome) -> None:
        out.print(outcome.line(), highlight=False, markup=False)

    report, warning = notifymod.after_build(target, on_outcome=line)
    if report is not None:
        print_notify(report, out)
    if warning is not None:
        err_console.print(
            f"[yellow]warning:[/] notify: {escape(warning)} (the build's outcome is unchanged;"
            " `hotdash notify` retries)",
            highlight=False,
        )


@app.command(
    short_help="Send the new and resolved alerts and the daily briefing to the destinations.",
    help="Send the new and resolved alerts (marts.alerts) and each shop's daily briefing to the"
    " destinations of HOTDASH_NOTIFY_URLS (Apprise URLs: mailtos://, slack://, json:// ...),"
    " or with none configured write them to the outbox folder under HOTDASH_HOME. Each message"
    " goes to each destination once; a failed one is recorded (ops.notification_deliveries)"
    " and retried on the next run. Prints what was sent where; URLs are never printed, only"
    " their redacted form (scheme and host).\n\nExample: `hotdash notify`, `hotdash notify"
    " --dry-run`, or nightly `hotdash build --notify`.\n\nExit code 13 (NotifyError) when a"
    " destination did not take a message or an entry of HOTDASH_NOTIFY_URLS is not usable.",
)
def notify(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print what would be sent where; send and record nothing."),
    ] = False,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            help="How many days back an alert change or a briefing is still news (default:"
            " $HOTDASH_NOTIFY_DAYS, else 7). Open alerts are sent whatever their age.",
        ),
    ] = None,
    no_briefing: Annotated[
        bool, typer.Option("--no-briefing", help="Only the alerts, not the daily briefing.")
    ] = False,
    target_name: TargetOption = None,
) -> None:
    from runner import notify as notifymod

    def go() -> None:
        target = dbmod.resolve_target()

        def line(outcome) -> None:
            console.print(outcome.line(), highlight=False, markup=False)

        report = notifymod.run(
            target,
            dry_run=dry_run,
            days=days,
            include_briefing=not no_briefing,
            on_outcome=line,
        )
        print_notify(report)
        error = report.error()
        if error is not None:
            raise error

    run_guarded(go)


# --- exports --------------------------------------------------------------------------------


@export_app.command("marketing-targets")
def export_marketing_targets(
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write.")],
    shop: Annotated[
        str | None,
        typer.Option("--shop", help="Only this shop, in its row-level-security context."),
    ] = None,
    target_name: TargetOption = None,
) -> None:
    """Write the marketing list as CSV for a Klaviyo or Mailchimp list import.

    One row per shop, campaign and email. Columns: Email, First Name, Last Name, Email
    Marketing Consent (SUBSCRIBED), Campaign, Content Theme, Last Category, Offer (win-back
    only), Shop Domain, Customer ID.

    Example: `hotdash export marketing-targets --out targets.csv --shop hotrodan.myshopify.com`.
    """
    from runner.exports import marketing_targets

    def go() -> None:
        target = dbmod.resolve_target()
        with dbmod.connect(target) as conn:
            security = settings.of(target).security
            result = marketing_targets(conn, out, shop=shop, security=security)
        skipped = f" ({result.skipped:,} without an email left out)" if result.skipped else ""
        console.print(f"wrote {result.rows:,} rows to {out}{skipped}", highlight=False)

    run_guarded(go)


class ExportFormat(StrEnum):
    csv = "csv"
    markdown = "markdown"


@export_app.command("inventory-alerts")
def export_inventory_alerts(
    top: Annotated[
        bool,
        typer.Option(
            "--top",
            help="Only the daily email's list: each shop's first var daily_email_top_n slow"
            " movers (to discount or discontinue) by capital tied up, the mart's in_daily_email.",
        ),
    ] = False,
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="csv, or markdown: a table and the headlines."),
    ] = ExportFormat.csv,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: standard output).")
    ] = None,
    shop: Annotated[
        str | None,
        typer.Option("--shop", help="Only this shop, in its row-level-security context."),
    ] = None,
    target_name: TargetOption = None,
) -> None:
    """Write each shop's variants by capital tied up and what to do about them; with --top, only
    its daily email's list. The markdown ends with each shop's headline over all of its slow
    movers: the capital they tie up and what the recommended actions could recover.

    Example: `hotdash export inventory-alerts --top --format markdown --out alerts.md`.
    """
    from runner.exports import inventory_alerts

    def go() -> None:
        target = dbmod.resolve_target()
        with dbmod.connect(target) as conn:
            security = settings.of(target).security
            text, result = inventory_alerts(
                conn, top=top, fmt=fmt.value, shop=shop, out=out, security=security
            )
        if out is None:
            sys.stdout.write(text)
        else:
            console.print(f"wrote {result.rows:,} rows to {out}", highlight=False)

    run_guarded(go)


# --- report ---------------------------------------------------------------------------------


@app.command()
def report(
    shop: Annotated[
        str | None,
        typer.Option("--shop", help="Only this shop, in its row-level-security context."),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write to, created when missing: <out>/<shop_domain>/briefing.html,"
            " briefing.txt and briefing.md. Default: ./briefing, in the current folder.",
        ),
    ] = Path("briefing"),
    target_name: TargetOption = None,
) -> None:
    """Write the morning briefing: per shop, a self-contained HTML page (inline CSS, charts as
    inline SVG, readable offline) and a plain-text and a Markdown body for email.

    It holds net revenue by month and year to date against the goal, with the pace needed, the
    run rate and the projected goal date; the capital tied up by recommended action; the
    headlines (capital in slow movers, cash the actions could recover); the daily email's top
    products to discount or discontinue; campaign sizes; open alerts; pipeline health.
    README "Morning briefing".

    Example: `hotdash report --shop hotrodan.myshopify.com --out /srv/briefings`.
    """
    from runner.briefing import briefings, write_briefings

    def go() -> None:
        target = dbmod.resolve_target()
        with dbmod.connect(target) as conn:
            found = briefings(conn, shop=shop, security=settings.of(target).security)
        if not found:
            console.print("no shop has rows in the marts: nothing written", highlight=False)
            return
        for item in found:
            if not item.in_marts:
                err_console.print(
                    f"[yellow]note:[/] {escape(item.shop_domain)} has no rows in the marts"
                    " (not built yet, or misspelt?): its briefing says none everywhere",
                    highlight=False,
                )
        for path in write_briefings(found, out):
            console.print(f"wrote {path}", highlight=False, soft_wrap=True)

    run_guarded(go)


# --- eval -----------------------------------------------------------------------------------


@app.command("eval")
def eval_(
    shop: Annotated[
        str | None,
        typer.Option("--shop", help="Only this shop (default: every shop with a row in a mart)."),
    ] = None,
    questions: Annotated[
        Path | None,
        typer.Option("--questions", help="The questions file. Default: evals/questions.yml."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write one JSON line per question and shop (question, sql, answer), atomically.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The AI answer check: ask every question of evals/questions.yml as hotdash_analyst and as
    hotdash_ai_readonly in the shop's row-level-security context, and check every mart table.

    Fails (exit 10) when the AI cannot answer a question that needs no PII, answers one
    differently, answers one that needs PII, sees another shop's rows or reads a PII column.
    With HOTDASH_EVAL_AI_URL (the connection string `hotdash grants login ai` printed), the
    AI's side runs as that login, for the shop it is bound to. README "AI answer check".

    Example: `hotdash eval --shop hotrodan.myshopify.com --out ai_eval.jsonl`.
    """
    import json

    from runner.errors import CheckError
    from runner.evals import load_questions, run_eval, write_jsonl
    from runner.grants import project_settings

    def go() -> None:
        from contextlib import nullcontext

        asked = load_questions(questions)
        target = dbmod.resolve_target()
        security = project_settings(target)
        ai_url = os.environ.get("HOTDASH_EVAL_AI_URL")
        with (
            dbmod.connect(target, autocommit=True) as conn,
            psycopg.connect(ai_url, autocommit=True) if ai_url else nullcontext() as ai_conn,
        ):
            report = run_eval(
                conn, asked, security.model, security.pii_columns, shop=shop, ai_conn=ai_conn
            )
        if out is not None:
            lines = write_jsonl(report, out, security.model)
            err_console.print(f"wrote {lines:,} lines to {out}", highlight=False)
        if as_json:
            print(json.dumps(report.as_json(), indent=2))
        else:
            table = Table(title="AI answer check")
            for col in ("shop", "question", "pii", "result", "why"):
                table.add_column(col, overflow="fold")
            for r in report.results:
                table.add_row(
                    escape(r.shop),
                    r.question.id,
                    "yes" if r.question.pii else "",
                    "[green]ok[/]" if r.ok else "[bold red]failed[/]",
                    escape(
                        r.why if not r.ok or r.question.pii else f"{len(r.answer or [])} row(s)"
                    ),
                )
            console.print(table)
            for leak in report.leaks:
                if not leak.ok:
                    console.print(
                        f"[bold red]failed[/] {escape(leak.shop)} {leak.table}: {escape(leak.why)}",
                        highlight=False,
                    )
            console.print(report.summary(), highlight=False)
        if not report.ok:
            names = sorted({r.question.id for r in report.failed})
            tables = sorted({leak.table for leak in report.leaked})
            raise CheckError(
                "the AI answer check failed: "
                + "; ".join(
                    part
                    for part in (
                        f"question(s) {', '.join(names)}" if names else "",
                        f"mart check(s) {', '.join(tables)}" if tables else "",
                    )
                    if part
                ),
                hint="each failed line says why; `hotdash grants --verify` checks the grants",
            )

    run_guarded(go)


# --- checks and docs ------------------------------------------------------------------------


@app.command()
def lint(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files or folders (default: models snapshots tests/dbt analyses)."),
    ] = None,
    target_name: TargetOption = None,
) -> None:
    """Lint the SQL with sqlfluff (dbt templater) on the resolved profile.

    Example: `hotdash lint`, or `hotdash lint models/staging`.
    """
    from runner.lint import DEFAULT_PATHS
    from runner.lint import lint as run_lint

    def go() -> None:
        target = dbmod.resolve_target()
        result = run_lint(
            target,
            paths or DEFAULT_PATHS,
            on_line=lambda line: console.print(line, highlight=False, markup=False),
        )
        if result.returncode == 0:
            console.print("lint clean")

    run_guarded(go)


@app.command()
def docs(
    static: Annotated[
        bool,
        typer.Option(
            "--static",
            help="Also write target/static_index.html: the whole site in one file, to open or"
            " ship without a server (dbt docs generate --static).",
        ),
    ] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Then serve the site (dbt docs serve) until Ctrl-C (exit code 130)."
        ),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="With --serve: the port.")
    ] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="With --serve: the address to listen on.")
    ] = "127.0.0.1",
    browser: Annotated[
        bool,
        typer.Option("--browser/--no-browser", help="With --serve: open a browser on the site."),
    ] = True,
    target_name: TargetOption = None,
) -> None:
    """Generate dbt's documentation site (and find the contracts' GX Data Docs).

    Example: `hotdash docs`, then open the printed index.html; `hotdash docs --static` for one
    self-contained file; `hotdash docs --serve --port 8081`.
    """
    from runner import docs as docsmod

    def go() -> None:
        target = dbmod.resolve_target()
        result = docsmod.generate(target, static=static)
        console.print(f"dbt docs: {result.dbt_index}", highlight=False)
        if result.static_index is not None:
            console.print(f"dbt docs, one file: {result.static_index}", highlight=False)
        if result.gx_index is not None:
            console.print(f"GX Data Docs: {result.gx_index}", highlight=False)
        else:
            console.print("GX Data Docs: not built yet (`hotdash build` runs the contracts)")
        if serve:
            err_console.print(f"serving dbt docs on http://{host}:{port} (Ctrl-C stops)")
            docsmod.serve(target, port=port, host=host, browser=browser)

    run_guarded(go)


@app.command()
def doctor(as_json: JsonOption = False, target_name: TargetOption = None) -> None:
    """Check the setup: versions, database, facts table, build record, roles and RLS.

    Each check prints ok, warn or fail with a fix; exits non-zero when one fails.
    Example: `hotdash doctor`, or `hotdash doctor --json`.
    """
    from runner.doctor import run_checks
    from runner.errors import CheckError

    def go() -> None:
        checks = run_checks()
        failed = [c.name for c in checks if c.status == "fail"]
        error = None
        if failed:
            error = CheckError(
                f"{len(failed)} check(s) failed: {', '.join(failed)}",
                hint="each failed check ends with its fix",
            )
        if as_json:
            from runner import jsonout

            print_json(jsonout.with_outcome(jsonout.doctor(checks), error))
        else:
            ui.print_checks(console, checks)
        if error is not None:
            raise error

    run_guarded(go)


# --- grants ---------------------------------------------------------------------------------


grants_app = typer.Typer(
    help="Roles, grants and row-level security: apply and verify them; manage bound logins.",
    invoke_without_command=True,
)
app.add_typer(grants_app, name="grants")


@grants_app.callback()
def grants(
    ctx: typer.Context,
    verify: Annotated[
        bool, typer.Option("--verify", help="Only check the database; change nothing.")
    ] = False,
    target_name: TargetOption = None,
) -> None:
    """Apply roles, grants and forced row-level security to the marts, then verify them.

    Example: `hotdash grants`, or `hotdash grants --verify` (exit code 8 on any problem).
    `hotdash grants login ai --shop S` creates a login bound to one shop.
    """
    if ctx.invoked_subcommand is not None:
        return
    from runner import grants as grantsmod
    from runner import logins

    def go() -> None:
        target = dbmod.resolve_target()
        if not verify:
            err_console.print(f"applying grants and row-level security on {target.redacted()}")
            grantsmod.apply_security(target)
            changed = logins.reapply_limits(target)
            if changed:
                err_console.print(f"AI login limits applied: {', '.join(changed)}")
        grantsmod.require_secure(target)
        console.print("security verified: roles, grants, forced row-level security and policies")

    run_guarded(go)


class LoginKind(StrEnum):
    ai = "ai"
    operator = "operator"


@grants_app.command("login")
def grants_login(
    kind: Annotated[
        LoginKind, typer.Argument(help="ai (the assistant) or operator (a dashboard).")
    ],
    shop: Annotated[
        str, typer.Option("--shop", help="The shop the login reads, e.g. x.myshopify.com.")
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="The login's role name (default hotdash_<kind>_<shop>)."),
    ] = None,
    drop: Annotated[bool, typer.Option("--drop", help="Remove the login and its binding.")] = False,
    target_name: TargetOption = None,
) -> None:
    """Create (or --drop) a login bound to one shop: it reads that shop's rows only.

    Whatever the session sets, the shop stays. The password comes from HOTDASH_LOGIN_PASSWORD,
    or is generated; the connection string is printed once and stored nowhere.

    Example: `hotdash grants login ai --shop hotrodan.myshopify.com`.
    """
    from runner import logins

    def go() -> None:
        target = dbmod.resolve_target()
        if drop:
            dropped = logins.drop_login(target, kind.value, shop, name)
            console.print(f"dropped {kind.value} login {dropped} of {shop}", highlight=False)
            return
        password = os.environ.get(logins.PASSWORD_ENV) or None
        login = logins.create_login(target, kind.value, shop, name, password)
        err_console.print(
            f"created {login.kind} login {login.name}, bound to {login.shop}"
            + ("" if password else "; its password was generated and is shown only here"),
            highlight=False,
        )
        console.print(login.conninfo, highlight=False, markup=False, soft_wrap=True)

    run_guarded(go)


def entrypoint() -> None:
    app()


if __name__ == "__main__":
    sys.exit(app())
