"""The nightly job: source gate, dbt build, mart checks, grants; each step reports its nodes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from runner import contracts, dbt
from runner.db import Target, connect
from runner.facts import ensure_facts_table


@dataclass
class BuildOptions:
    select: Sequence[str] = ()
    full_refresh: bool = False
    skip_contracts: bool = False
    vars: str | None = None


@dataclass
class BuildReport:
    dbt_run: dbt.DbtRun | None = None
    steps: list[tuple[str, str, float]] = field(default_factory=list)
    contracts: list[contracts.ContractReport] = field(default_factory=list)


def dbt_build_args(options: BuildOptions) -> list[str]:
    args = ["build"]
    if options.select:
        args += ["--select", *options.select]
    if options.full_refresh:
        args.append("--full-refresh")
    if options.vars:
        args += ["--vars", options.vars]
    return args


def build(
    target: Target,
    options: BuildOptions,
    on_event: Callable[[object], None] | None = None,
) -> BuildReport:
    """Run the whole job against the target; raises a HotdashError on the first failing step."""
    report = BuildReport()
    with connect(target) as conn:
        ensure_facts_table(conn)
    session = None if options.skip_contracts else contracts.ContractSession.for_target(target)
    if session is not None:
        # The source gate: an error-level source contract stops the build before dbt runs.
        # An incremental build stages only the facts past each topic's cursor: check those.
        source = contracts.run_contracts(
            target, "source", session=session, new_facts_only=not options.full_refresh
        )
        report.contracts.append(source)
        contracts.require_contracts(source)
    run = dbt.invoke(target, dbt_build_args(options), on_event=on_event)
    report.dbt_run = run
    dbt.require_success(run)
    if session is not None:
        marts = contracts.run_contracts(target, "marts", run_id=source.run_id, session=session)
        report.contracts.append(marts)
        contracts.require_contracts(marts)
    return report
