"""The `hotdash` command line: parses, calls the library, prints. No logic of its own."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from runner import db as dbmod
from runner import dbt as dbtmod
from runner.errors import HotdashError

app = typer.Typer(
    help="Run the hotdash-data pipeline: Shopify facts in, marts out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Manage the embedded PostgreSQL (used when no profile is configured).")
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)


class State:
    debug: bool = False


state = State()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """hotdash: build the hotdash-data marts. Example: `hotdash demo --facts 100000 && hotdash build`."""
    state.debug = debug


def fail(exc: HotdashError) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    if exc.hint:
        err_console.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
    raise typer.Exit(exc.exit_code)


def run_guarded(fn: Callable[[], None]) -> None:
    """Turn typed errors into one clear line, a hint and an exit code (tracebacks with --debug)."""
    try:
        fn()
    except HotdashError as exc:
        if state.debug:
            raise
        fail(exc)


def progress_printer(label: str) -> Callable[[int], None]:
    start = time.monotonic()

    def report(count: int) -> None:
        rate = count / max(time.monotonic() - start, 1e-9)
        err_console.print(f"{label}: {count:,} ({rate:,.0f}/s)", highlight=False)

    return report


# --- db -------------------------------------------------------------------------------------


@db_app.command("up")
def db_up() -> None:
    """Start the embedded PostgreSQL (idempotent). Example: `hotdash db up`."""

    def go() -> None:
        target = dbmod.resolve_target()
        console.print(f"database ready ({target.kind}): {target.redacted()}")
        if target.kind == "embedded":
            console.print(f"plain dbt: export DBT_PROFILES_DIR={target.profiles_dir}")

    run_guarded(go)


@db_app.command("url")
def db_url() -> None:
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
    facts: Annotated[int, typer.Option("--facts", min=1, help="How many facts to generate.")] = 100_000,
    shops: Annotated[int, typer.Option("--shops", min=1, help="How many shops.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same facts.")] = 42,
) -> None:
    """Generate realistic demo facts and load them with COPY.

    Example: `hotdash demo --facts 1000000 --shops 2 --seed 7`.
    """
    from runner.facts import load_demo

    def go() -> None:
        target = dbmod.resolve_target()
        start = time.monotonic()
        with dbmod.connect(target) as conn:
            count = load_demo(
                conn, facts, shops=shops, seed=seed, progress=progress_printer("facts loaded")
            )
        console.print(f"loaded {count:,} demo facts in {time.monotonic() - start:.1f}s")

    run_guarded(go)


# --- build ----------------------------------------------------------------------------------


def node_table(run: dbtmod.DbtRun) -> Table:
    table = Table(title="dbt nodes", show_lines=False)
    for col in ("node", "type", "status", "rows", "seconds"):
        table.add_column(col, justify="right" if col in ("rows", "seconds") else "left")
    colors = {"success": "green", "pass": "green", "warn": "yellow", "skipped": "dim"}
    for n in run.nodes:
        color = colors.get(n.status, "red")
        rows = "" if n.rows_affected is None else f"{n.rows_affected:,}"
        table.add_row(n.name, n.resource_type, f"[{color}]{n.status}[/]", rows, f"{n.seconds:.2f}")
    return table


def event_printer() -> Callable[[object], None]:
    """Plain progress lines, one per finished node (works on a terminal, in CI and in a pipe)."""

    def on_event(event: object) -> None:
        info = getattr(event, "info", None)
        if info is None or info.name != "NodeFinished":
            return
        node = event.data.node_info  # type: ignore[attr-defined]
        err_console.print(
            f"  {node.node_status:<8} {node.resource_type:<6} {node.node_name}", highlight=False
        )

    return on_event


@app.command()
def build(
    select: Annotated[
        list[str] | None, typer.Option("--select", "-s", help="dbt selection (repeatable).")
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    skip_contracts: Annotated[
        bool, typer.Option("--skip-contracts", help="Do not run the contract suites.")
    ] = False,
    vars: Annotated[
        str | None, typer.Option("--vars", help="dbt vars as YAML, e.g. '{revenue_goal: 5000000}'.")
    ] = None,
) -> None:
    """Run the nightly job: dbt build (seeds, models, tests) and a per-node summary.

    Example: `hotdash build`, or `hotdash build --select staging --full-refresh`.
    """
    from runner.pipeline import BuildOptions
    from runner.pipeline import build as run_build

    options = BuildOptions(
        select=select or (), full_refresh=full_refresh, skip_contracts=skip_contracts, vars=vars
    )

    def go() -> None:
        target = dbmod.resolve_target()
        err_console.print(f"building on {target.kind} database {target.redacted()}")
        start = time.monotonic()
        try:
            report = run_build(target, options, on_event=event_printer())
        except HotdashError:
            raise
        finally:
            pass
        if report.dbt_run:
            console.print(node_table(report.dbt_run))
        for contract_report in report.contracts:
            console.print(contract_table(contract_report))
        console.print(f"build finished in {time.monotonic() - start:.1f}s")

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


@app.command()
def contracts(
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage", help="source (facts, before dbt) or marts (after dbt); default both."
        ),
    ] = None,
    new_facts_only: Annotated[
        bool,
        typer.Option(
            "--new-facts-only",
            help="Payload checks read only facts not yet staged (as an incremental build does).",
        ),
    ] = False,
) -> None:
    """Run the data contract suites (contracts/) against the database and print each result.

    Exits non-zero when an error-level contract fails (5 for source, 7 for marts).
    Example: `hotdash contracts --stage source`.
    """
    from runner import contracts as contractsmod

    def go() -> None:
        if stage not in (None, *contractsmod.STAGES):
            from runner.errors import ConfigError

            raise ConfigError(
                f"unknown stage {stage!r}", hint="use --stage source or --stage marts"
            )
        target = dbmod.resolve_target()
        session = contractsmod.ContractSession.for_target(target)
        reports = []
        run_id = None
        for name in [stage] if stage else list(contractsmod.STAGES):
            report = contractsmod.run_contracts(
                target, name, run_id=run_id, session=session, new_facts_only=new_facts_only
            )
            run_id = report.run_id
            reports.append(report)
            console.print(contract_table(report))
        if reports and reports[-1].data_docs:
            console.print(f"Data Docs: {reports[-1].data_docs}")
            console.print(f"summary: {reports[-1].summary}")
        for report in reports:
            contractsmod.require_contracts(report)

    run_guarded(go)


def entrypoint() -> None:
    app()


if __name__ == "__main__":
    sys.exit(app())
