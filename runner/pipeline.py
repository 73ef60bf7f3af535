"""The nightly job as a list of named steps, each timed, reported and recorded in ops.build_runs.

A step is a function of the BuildContext that raises a HotdashError when it fails and may return
a one-line summary. `default_steps()` is where steps plug in, one line each, in the order
load project -> facts contracts -> judge facts -> payload contracts -> dbt build -> mart contracts
-> verify security. Once the run is recorded, the alert rules are evaluated (runner/alerts.py),
also after a failed build; their outcome never changes the build's.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runner import alerts, dbt, inputs, lock, ops, settings
from runner.db import Target, connect, relation_exists
from runner.errors import ConfigError, DatabaseError, HotdashError
from runner.facts import ensure_facts_table

if TYPE_CHECKING:
    import psycopg

    from runner.contracts import ContractReport, ContractSession, ContractWorker, Part, Stage
    from runner.contracts.worker import ChecksAhead


@dataclass(frozen=True)
class BuildOptions:
    """What `hotdash build` was asked to do; validated once by `validate()`."""

    select: Sequence[str] = ()
    full_refresh: bool = False
    skip_contracts: bool = False
    skip_security: bool = False
    vars: str | None = None
    full_check: bool = False
    # dbt's own flags, passed through: --exclude to the dbt build step, --threads and
    # --fail-fast to every dbt step that builds (the judge step and dbt build).
    exclude: Sequence[str] = ()
    threads: int | None = None
    fail_fast: bool = False

    def validate(self) -> None:
        settings.parse_cli_vars(self.vars)
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")

    @property
    def narrowed(self) -> bool:
        """A --select or --exclude build: not every model is built (no whole night's record,
        data alerts or source freshness)."""
        return bool(self.select or self.exclude)

    def dbt_flags(self) -> list[str]:
        """--threads and --fail-fast, as every dbt step that builds gets them."""
        flags = ["--threads", str(self.threads)] if self.threads is not None else []
        return flags + (["--fail-fast"] if self.fail_fast else [])

    def command_args(self) -> list[str]:
        """The equivalent command line, as recorded in ops.build_runs.command_args."""
        args = ["build"]
        for sel in self.select:
            args += ["--select", sel]
        for sel in self.exclude:
            args += ["--exclude", sel]
        if self.full_refresh:
            args.append("--full-refresh")
        if self.skip_contracts:
            args.append("--skip-contracts")
        if self.skip_security:
            args.append("--skip-security")
        if self.full_check:
            args.append("--full-check")
        if self.vars:
            args += ["--vars", self.vars]
        if self.threads is not None:
            args += ["--threads", str(self.threads)]
        if self.fail_fast:
            args.append("--fail-fast")
        return args


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str  # success, failed, skipped
    seconds: float
    summary: str = ""


class BuildListener:
    """Receives progress as the build runs. The CLI subclasses it to draw; tests can record."""

    def step_started(self, name: str) -> None: ...

    def step_finished(self, result: StepResult) -> None: ...

    def nodes_selected(self, count: int) -> None: ...

    def node_event(self, event: dbt.NodeEvent) -> None: ...

    def waiting_for_lock(self, holder: lock.Holder | None) -> None: ...


@dataclass
class BuildReport:
    """Everything a build did; `error` is the first failure (or None), already recorded."""

    run_id: uuid.UUID
    options: BuildOptions
    steps: list[StepResult] = field(default_factory=list)
    dbt_runs: list[dbt.DbtRun] = field(default_factory=list)
    error: HotdashError | None = None
    seconds: float = 0.0
    contracts: list[ContractReport] = field(default_factory=list)  # one per stage
    # The alerts evaluated once the run was recorded, or why they could not be (alerts_error).
    alerts: alerts.Summary | None = None
    alerts_error: str | None = None

    @property
    def nodes(self) -> list[dbt.NodeResult]:
        """Every node the build's dbt steps ran; a node run by two steps (the project's
        on-run-end hook) counts once, as the later step left it."""
        latest = {node.unique_id: node for run in self.dbt_runs for node in run.nodes}
        return list(latest.values())

    @property
    def status(self) -> str:
        return "failed" if self.error is not None else "success"


@dataclass
class BuildContext:
    """What a step gets: where to build, what was asked, this run's id, and the report so far."""

    target: Target
    options: BuildOptions
    run_id: uuid.UUID
    report: BuildReport
    listener: BuildListener
    lock: lock.BuildLock | None = None
    manifest: object | None = None  # the project as the load project step parsed it
    # The last build, when this one's inputs equal its (runner/inputs.py).
    unchanged_since: inputs.LastBuild | None = None
    # The contract steps: the worker that runs them (started by the load project step), or the
    # GX session they share in this process without one; the facts checks' report, which the
    # payload checks complete (one source stage).
    contract_worker: ContractWorker | None = None
    contract_session: ContractSession | None = None
    source_report: ContractReport | None = None
    # `hotdash contracts` (check_contracts): the contract steps and the judge step outside a build,
    # nothing recorded as a build's inputs; the windows its checks read (None: as the build does,
    # the new facts unless it is a full refresh).
    checks_only: bool = False
    new_facts_only: bool | None = None
    # Whether the build runs the facts contracts step: the load project step has the worker
    # validate the facts table's checks while dbt parses (set by _build).
    facts_ahead: bool = False
    # What each dbt node took when it last ran in a successful build of the same kind (ops
    # last_node_seconds): dbt starts the longest remaining path first (runner/dbt.py
    # longest_path_first). Read once.
    node_seconds: dict[str, float] | None = None

    def dbt(self, args: Sequence[str], on_built: Callable[[str], None] | None = None) -> dbt.DbtRun:
        """Run a dbt command with progress events; its nodes join the report (and ops tables).
        Once the project is loaded, every command reuses it; the longest path of nodes starts
        first. `on_built(unique_id)`: called, from dbt's threads, for each node that succeeds."""
        if self.node_seconds is None:
            self.node_seconds = ops.last_node_seconds(self.target, self.options.full_refresh)
        on_node = self.listener.node_event
        if on_built is not None:

            def on_node(event: dbt.NodeEvent) -> None:
                self.listener.node_event(event)
                if event.finished and event.status == "success":
                    on_built(event.unique_id)

        callback = dbt.progress_events(on_node, self.listener.nodes_selected)
        run = dbt.invoke(
            self.target,
            args,
            on_event=callback,
            quiet=True,
            silent=True,
            manifest=self.manifest,
            node_seconds=self.node_seconds,
        )
        self.report.dbt_runs.append(run)
        return run


StepFn = Callable[[BuildContext], "str | None"]


@dataclass(frozen=True)
class Step:
    """A named step; `skip` says when the options leave it out (e.g. --skip-contracts)."""

    name: str
    run: StepFn
    skip: Callable[[BuildOptions], bool] = lambda options: False


def contracts_skipped(options: BuildOptions) -> bool:
    """The `skip` of contract steps: --skip-contracts leaves them out."""
    return options.skip_contracts


def security_skipped(options: BuildOptions) -> bool:
    """The `skip` of the security check: --skip-security leaves it out."""
    return options.skip_security


def verify_security_step(ctx: BuildContext) -> str:
    """dbt's on-run-end hook re-applied grants and row-level security; check what it left."""
    from runner.grants import require_secure

    require_secure(ctx.target)
    return "grants and forced row-level security verified"


# The parse, judge and freshness steps leave target/ alone: the dbt build step writes
# manifest.json and run_results.json for the night. Writing them (a 2 MB manifest) cost the
# parse 0.5-0.7 s and each other step about 0.2 s. dbt's partial parse file is written anyway.
NO_ARTIFACTS = ["--no-write-json"]


def load_project_step(ctx: BuildContext) -> str:
    """dbt parses the project once for the build's dbt steps. Unless contracts are skipped, a
    worker process loads Great Expectations meanwhile (runner.contracts.ContractWorker), then
    validates the facts table's checks, which read no dbt model: the facts contracts step
    reports them (it still comes before the judge, and a failure stops the build there)."""
    if not ctx.options.skip_contracts:
        from runner.contracts import ContractWorker

        if ContractWorker.available():
            ctx.contract_worker = ContractWorker(ctx.target)
            if ctx.facts_ahead:
                ctx.contract_worker.validate_part_ahead(
                    ctx.target, "source", "facts", str(ctx.run_id), _new_facts_only(ctx)
                )
    args = ["parse", *NO_ARTIFACTS] + (["--vars", ctx.options.vars] if ctx.options.vars else [])
    run = ctx.dbt(args)
    dbt.require_success(run)
    ctx.manifest = run.manifest
    return "dbt project parsed" + ("" if ctx.options.skip_contracts else "; contracts loading")


def judge_step(ctx: BuildContext) -> str:
    """dbt tests the facts source and judges the facts stored since the last build
    (ops.facts_triage and its tests), so the payload contracts can count the verdicts before
    anything is staged.

    It runs whatever --select says: staging reads only judged facts. --full-refresh re-judges
    every fact when no --select narrows the build. A run that judged every fact anew (a full
    refresh, a database's first build) then settles what it judged (_settle_judged_anew).
    """
    from runner import contracts

    full = ctx.options.full_refresh and not ctx.options.narrowed
    with connect(ctx.target) as conn:
        whole = full or not relation_exists(conn, contracts.TRIAGE)  # every fact judged anew
    ahead = _checks_ahead(ctx, "source")
    run = ctx.dbt(
        contracts.judge_args(full_refresh=full, vars=ctx.options.vars)
        + ctx.options.dbt_flags()
        + NO_ARTIFACTS,
        on_built=ahead.node_built if ahead else None,
    )
    dbt.require_success(run)
    rows = _judged_rows(run)
    summary = f"{rows:,} {'fact' if rows == 1 else 'facts'} judged" + (
        " (every fact: full refresh)" if full else ""
    )
    if whole:
        summary += _settle_judged_anew(ctx)
    if not ctx.options.narrowed and not ctx.checks_only:
        # a build of every model: its inputs say what its tables hold
        digest = inputs.fingerprint(ctx.target, ctx.options)
        inputs.record(ctx.target, ctx.run_id, digest)
        if not (ctx.options.full_refresh or ctx.options.full_check):
            ctx.unchanged_since = inputs.unchanged_since(ctx.target, ctx.run_id, digest)
    last = ctx.unchanged_since
    if last:
        summary += (
            f"; nothing new since run {str(last.run_id)[:8]} ({last.started_at:%Y-%m-%d %H:%M}):"
            " same facts, project, vars and as-of date, so what it built and checked stands"
        )
    return summary


def _judged_rows(run: dbt.DbtRun) -> int:
    """The facts a dbt run judged: the rows its triage node inserted."""
    from runner.contracts import TRIAGE_MODEL

    return sum(node.rows_affected or 0 for node in run.nodes if node.name == TRIAGE_MODEL)


# A full refresh that kept the judge's watermark leaves up to this many fact ids past it to the
# next build's judge to settle (_settle_judged_anew): comparing them with the verdicts costs that
# build about 1 s per million ids (its facts contracts and judge both do), where judging once more
# right after the full refresh costs 0.4 to 0.7 s whatever their number.
SETTLE_AT_ONCE_ABOVE = 100_000


def _settle_judged_anew(ctx: BuildContext) -> str:
    """After the judge judged every fact anew (a full refresh, or the triage's first build),
    judge once more, incrementally, and say how it went.

    A batch's facts are settled (macros/triage.sql) only once a later batch began after every
    transaction older than the batch had ended. A judge built anew has one batch and no later
    one, so until the next build's judge runs, the next build's facts contracts and judge compare
    the ids past the watermark with the verdicts: every fact's id on a database's first build (at
    3M facts 1.9 s each, against 0.4 and 1.0 s once settled), the ids past the watermark the full
    refresh kept (inherited_through: the one settled before it) on a full refresh. The run here is
    that later batch: it judges the facts committed since the first run's snapshot (a writer's
    transaction holding an id below the judged ones, committed meanwhile), and it settles the
    first run's batch unless a transaction older than it is still running (then the next build
    settles it, as before). Its node stays out of the build's report, which keeps the whole
    judge's timing of the triage, unless it fails. A full refresh that kept a watermark with at
    most SETTLE_AT_ONCE_ABOVE judged ids past it (a nightly database: the last night's facts)
    leaves them to the next build's judge instead, which settles them as it settles any night's
    batch: this run's fixed cost is more than their comparison."""
    from runner import contracts

    with connect(ctx.target, autocommit=True) as conn:
        kept = contracts.settled_through(conn)
        if kept == 0:
            # Nothing settled to keep (a database's first build): the run compares every fact's
            # id with the new triage's unique index, whose heap no one has read yet. VACUUM
            # (ANALYZE) first sets its hint bits and visibility map (and gives the planner its
            # statistics), so the comparison reads the index alone: at 3M facts, on a copy of
            # the triage, 0.46 s and then 0.46 s, where the comparison took 4.3 s on the table as
            # built; a first build's judge step 23.5 s against 24.9 s (one pair).
            conn.execute(f"vacuum (analyze) {contracts.TRIAGE}")
        else:
            past = _judged_through(conn) - kept
            if past <= SETTLE_AT_ONCE_ABOVE:
                said = f"; settled through fact id {kept:,}, as before it"
                if past > 0:
                    ids = f"{past:,} {'id' if past == 1 else 'ids'}"
                    said += f"; the next build's judge settles the {ids} past it"
                return said
    args = ["run", "--select", contracts.TRIAGE_MODEL, *NO_ARTIFACTS]
    run = dbt.invoke(
        ctx.target,
        args + (["--vars", ctx.options.vars] if ctx.options.vars else []),
        quiet=True,
        silent=True,
        manifest=ctx.manifest,
    )
    if not run.success:
        ctx.report.dbt_runs.append(run)
        dbt.require_success(run)
    late = _judged_rows(run)
    with connect(ctx.target) as conn:
        settled = contracts.settled_through(conn)
        judged_through = _judged_through(conn)
    said = f", {late:,} more committed meanwhile" if late else ""
    if settled >= judged_through:
        return said + (f"; settled through fact id {judged_through:,}" if judged_through else "")
    return said + "; not settled yet: a transaction older than the judge still runs"


def _judged_through(conn: psycopg.Connection) -> int:
    """The highest fact id the judge built anew judged (its batch, the first)."""
    (judged_through,) = conn.execute(
        "select max_fact_id from ops.facts_triage_batches order by judge_batch limit 1"
    ).fetchone()
    return int(judged_through or 0)


def selected(options: BuildOptions) -> bool:
    """The `skip` of the steps of a whole night: a --select (or --exclude) build narrows the
    build to it."""
    return options.narrowed


def source_freshness_step(ctx: BuildContext) -> str:
    """dbt source freshness of each staged topic's feed (selector feeds: its stalest shop's
    newest fact against var freshness, README "Freshness"). A late or stale feed is reported
    here and alerted (stale_feed); it never fails the build."""
    from runner.contracts.suites import FEEDS_SELECTOR

    args = ["source", "freshness", "--selector", FEEDS_SELECTOR, *NO_ARTIFACTS]
    run = ctx.dbt(args + (["--vars", ctx.options.vars] if ctx.options.vars else []))
    feeds = [node for node in run.nodes if node.resource_type == "source"]
    if run.exception and not feeds:
        dbt.require_success(run)
    counts: dict[str, int] = {}
    for node in feeds:
        counts[node.status] = counts.get(node.status, 0) + 1
    late = sorted(f"{node.name} {node.status}" for node in feeds if node.status != "pass")
    return (
        f"{len(feeds)} feeds: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + (f" ({', '.join(late)})" if late else "")
    )


def facts_contracts_step(ctx: BuildContext) -> str:
    """Build step before dbt: the facts table's checks (the gate's first half).

    `ctx` is the build's context (target, options, run_id); the contract steps share one GX
    context through it, so the Data Docs index shows the whole build. Unless the build is a full
    refresh, row checks read only the facts past the triage cursor (the facts not yet judged).
    Raises SourceContractError on an error-level failure.
    """
    return _contracts_step(ctx, "source", "facts")


def payload_contracts_step(ctx: BuildContext) -> str:
    """Build step after the judge step, before staging: the payloads as ops.facts_triage judged
    them, per topic (the gate's second half). Unless the build is a full refresh, only the facts
    past each topic's staging cursor count. Raises SourceContractError."""
    return _contracts_step(ctx, "source", "payload")


def mart_contracts_step(ctx: BuildContext) -> str:
    """Build step after dbt: mart suites and staging checks. Raises MartContractError."""
    return _contracts_step(ctx, "marts")


def _contracts_step(ctx: BuildContext, stage: Stage, part: Part | None = None) -> str:
    from runner import contracts

    worker = ctx.contract_worker
    session: ContractSession | None = None
    new_facts_only = _new_facts_only(ctx)
    if worker is not None:
        report = worker.run(ctx.target, stage, part, str(ctx.run_id), new_facts_only)
    else:
        if ctx.contract_session is None:
            ctx.contract_session = contracts.ContractSession.for_target(ctx.target)
        session = ctx.contract_session
        report = contracts.run_contracts(
            ctx.target,
            stage,
            run_id=str(ctx.run_id),
            session=session,
            new_facts_only=new_facts_only,
            part=part,
            write_docs=False,
        )
    whole = report
    if part == "payload" and ctx.source_report is not None:
        whole = ctx.source_report.extend(report)
    else:
        ctx.report.contracts.append(report)
        if part == "facts":
            ctx.source_report = report
    if part != "facts" or not report.ok:
        if worker is not None:
            # A passing gate's Data Docs are written while dbt builds.
            worker.publish(whole, wait=not (part == "payload" and whole.ok))
        else:
            contracts.publish(whole, session)
    contracts.require_contracts(whole)
    while_ = {"facts": "while dbt loaded the project", "payload": "while dbt judged the facts"}.get(
        part or "", "while dbt built"
    )
    ahead = f"; {report.validated_ahead} {while_}" if report.validated_ahead else ""
    return contracts.summary_line(report) + ahead


def _new_facts_only(ctx: BuildContext) -> bool:
    """Whether the contract steps read only the new facts: unless the build is a full refresh,
    or `hotdash contracts` says otherwise."""
    return ctx.new_facts_only if ctx.new_facts_only is not None else not ctx.options.full_refresh


def dbt_build_args(options: BuildOptions) -> list[str]:
    """Everything selected but what the judge step built (the triage and the facts source's
    tests): selector nightly (selectors.yml), or the build's --select (all with only --exclude)
    without those and its --exclude (dbt 1.11 ignores --exclude next to --selector). Unit tests
    check the models' logic on fixed inputs, not the night's data: CI runs them (`dbt build`,
    `dbt test --select test_type:unit`); the nightly job does not pay for them."""
    from runner.contracts.suites import FACTS_SOURCE, NIGHTLY_SELECTOR, TRIAGE_MODEL

    args = ["build"]
    if options.narrowed:
        args += ["--select", *(options.select or ["fqn:*"])]
        args += ["--exclude", TRIAGE_MODEL, FACTS_SOURCE, *options.exclude]
        args += ["--exclude-resource-type", "unit_test"]
    else:
        args += ["--selector", NIGHTLY_SELECTOR]
    if options.full_refresh:
        args.append("--full-refresh")
    if options.vars:
        args += ["--vars", options.vars]
    return args + options.dbt_flags()


# The accounting check reads every fact when the last passing full check is older than this.
FULL_CHECK_EVERY = "7 days"
ACCOUNTING_ENV = "HOTDASH_ACCOUNTING"  # tests/dbt/assert_every_fact_is_accounted_for.sql


def accounting_scope(target: Target, options: BuildOptions) -> str:
    """'all' (every fact) on a full refresh, with --full-check, and when no passing check has
    read every fact for FULL_CHECK_EVERY; else 'new' (what no passing check has read)."""
    if options.full_refresh or options.full_check:
        return "all"
    with connect(target) as conn:
        (recent,) = conn.execute(
            "select coalesce(max(all_checked_at) > now() - %s::interval, false)"
            " from ops.facts_triage_batches",
            (FULL_CHECK_EVERY,),
        ).fetchone()
    return "new" if recent else "all"


def dbt_build_step(ctx: BuildContext) -> str:
    """dbt build: seeds, models, snapshots and tests in DAG order. The accounting check reads
    what is new on an incremental night (accounting_scope)."""
    from runner.contracts import FACTS_SOURCE, TRIAGE_MODEL

    scope = accounting_scope(ctx.target, ctx.options)
    ahead = _checks_ahead(ctx, "marts")
    saved = os.environ.get(ACCOUNTING_ENV)
    os.environ[ACCOUNTING_ENV] = scope
    try:
        run = ctx.dbt(dbt_build_args(ctx.options), on_built=ahead.node_built if ahead else None)
    finally:
        if saved is None:
            os.environ.pop(ACCOUNTING_ENV, None)
        else:
            os.environ[ACCOUNTING_ENV] = saved
    dbt.require_success(run)
    judged_only = set(ctx.options.select) <= {TRIAGE_MODEL, f"ops.{TRIAGE_MODEL}", FACTS_SOURCE}
    if not run.nodes and ctx.options.select and not judged_only:
        raise ConfigError(
            f"--select {' '.join(ctx.options.select)} matched no dbt node",
            hint="`dbt ls --select ...` lists what a selection matches",
        )
    counts: dict[str, int] = {}
    for node in run.nodes:
        counts[node.status] = counts.get(node.status, 0) + 1
    checked = "every fact" if scope == "all" else "new facts"
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + (
        f"; accounting check: {checked}"
    )


def _checks_ahead(ctx: BuildContext, stage: Stage) -> ChecksAhead | None:
    """A stage's contracts validated in the contract worker while dbt runs (ChecksAhead), when
    the build has one and runs them: the payload checks as soon as the judge has written its
    verdicts (while dbt tests them and reads the feeds' freshness), the mart checks as soon as
    dbt has built what each reads. The facts table's checks read nothing dbt builds."""
    if ctx.contract_worker is None or ctx.options.skip_contracts or ctx.manifest is None:
        return None
    from runner.contracts.worker import ChecksAhead

    return ChecksAhead(
        ctx.contract_worker,
        ctx.target,
        stage,
        str(ctx.run_id),
        _new_facts_only(ctx),
        ctx.manifest,
    )


# What a build skips when its inputs equal the last build's (judge_step, runner/inputs.py) and
# that build ran the step and it passed, or skipped it for the same reason.
SKIPPED_WHEN_UNCHANGED = ("payload contracts", "dbt build", "mart contracts")
UNCHANGED = "nothing new since the last build"


def _stands(last: inputs.LastBuild | None, step: str) -> bool:
    if last is None or step not in SKIPPED_WHEN_UNCHANGED:
        return False
    status, summary = last.steps.get(step, ("", ""))
    return status == "success" or (status == "skipped" and summary == UNCHANGED)


def default_steps() -> list[Step]:
    """The build, in order: the source gate in two halves (the facts table before dbt runs, then
    the payloads as dbt judged them, before anything is staged), dbt (whose on-run-end hook
    re-applies grants and row-level security), the mart contracts, and the security check.
    A new step is one line.
    """
    return [
        Step("load project", load_project_step),
        Step("facts contracts", facts_contracts_step, skip=contracts_skipped),
        Step("judge facts", judge_step),
        Step("source freshness", source_freshness_step, skip=selected),
        Step("payload contracts", payload_contracts_step, skip=contracts_skipped),
        Step("dbt build", dbt_build_step),
        Step("mart contracts", mart_contracts_step, skip=contracts_skipped),
        Step("verify security", verify_security_step, skip=security_skipped),
    ]


# The steps of default_steps() that `hotdash contracts` runs, per stage, in the build's order.
CONTRACT_STEPS: dict[str, tuple[str, ...]] = {
    "source": ("facts contracts", "judge facts", "payload contracts"),
    "marts": ("mart contracts",),
}


def check_contracts(
    target: Target, stages: Sequence[str], new_facts_only: bool = False, fail_fast: bool = False
) -> tuple[list[ContractReport], HotdashError | None]:
    """`hotdash contracts`: the build's own contract steps for each stage (the source stage with
    the build's judge step between the facts and the payload checks), outside a build: no lock,
    no ops.build_runs record, no inputs recorded. A stage stops at its first error-level failure,
    as the build does, and the next stage still runs (not with fail_fast). Returns each stage's
    report and the first contract error (the caller prints the reports, then raises it)."""
    from runner.errors import MartContractError, SourceContractError

    options = BuildOptions(vars=target.vars)
    run_id = uuid.uuid4()
    ctx = BuildContext(
        target,
        options,
        run_id,
        BuildReport(run_id=run_id, options=options),
        BuildListener(),
        checks_only=True,
        new_facts_only=new_facts_only,
    )
    steps = {step.name: step for step in default_steps()}
    first: HotdashError | None = None
    for stage in stages:
        for name in CONTRACT_STEPS[stage]:
            try:
                steps[name].run(ctx)
            except (SourceContractError, MartContractError) as exc:
                first = first or exc
                break
        if first is not None and fail_fast:
            break
    return ctx.report.contracts, first


def prepare(target: Target) -> None:
    """The tables the build reads and writes: facts (the source) and the ops record. The facts
    table is created when missing in schema public only (the embedded default): a facts_schema
    that names a schema without it fails the build, in the facts contracts or dbt, rather than
    building empty marts over full ones."""
    with connect(target) as conn:
        if settings.of(target).facts_schema == "public":
            ensure_facts_table(conn)
        ops.ensure_ops_tables(conn)


def _run_steps(ctx: BuildContext, steps: Sequence[Step]) -> tuple[str | None, BaseException | None]:
    """Run the steps in order until one fails: (the failed step, an exception that is not a
    HotdashError, to re-raise once recorded). A HotdashError goes to ctx.report.error."""
    report, options, listener = ctx.report, ctx.options, ctx.listener
    unexpected: BaseException | None = None
    for step in steps:
        skipped = "skipped by option" if step.skip(options) else None
        if not skipped and _stands(ctx.unchanged_since, step.name):
            skipped = UNCHANGED
        if skipped:
            result = StepResult(step.name, "skipped", 0.0, skipped)
            report.steps.append(result)
            listener.step_finished(result)
            continue
        listener.step_started(step.name)
        if ctx.lock is not None:
            ops.set_step(ctx.lock.conn, ctx.run_id, step.name)
        step_start = time.monotonic()
        try:
            summary = step.run(ctx) or ""
            status = "success"
        except HotdashError as exc:
            report.error, summary, status = exc, exc.message, "failed"
        except BaseException as exc:  # recorded, then re-raised: a bug or Ctrl-C
            unexpected, summary, status = exc, f"{type(exc).__name__}: {exc}", "failed"
        result = StepResult(step.name, status, time.monotonic() - step_start, summary)
        report.steps.append(result)
        listener.step_finished(result)
        if status == "failed":
            return step.name, unexpected
    return None, None


def build(
    target: Target,
    options: BuildOptions,
    listener: BuildListener | None = None,
    steps: Sequence[Step] | None = None,
    wait: float | None = 0,
) -> BuildReport:
    """Run the steps in order, stopping at the first failure, and record the run in ops.

    One build at a time: the build lock is taken first (runner.lock). wait: 0 raises
    BuildLockedError at once when another build holds it, None waits for it, a number waits that
    many seconds; the listener hears `waiting_for_lock` when the wait starts. Runs that died
    (their session no longer holds the lock) are marked abandoned before this one starts.

    A failing step's HotdashError is raised once the run is recorded, with the report attached
    (`build_report(exc)`), so a caller can still show every node that ran.
    """
    options.validate()
    # Every step reads the project's settings with the build's --vars (runner.settings).
    target = settings.with_vars(target, options.vars)
    listener = listener or BuildListener()
    steps = default_steps() if steps is None else list(steps)
    held = lock.acquire(target, wait=wait, on_wait=listener.waiting_for_lock)
    saved_env = os.environ.get(lock.RUN_ID_ENV)
    try:
        prepare(target)
        run_id = uuid.uuid4()
        lock.mark_abandoned(held.conn)
        ops.start_run(held.conn, run_id, options.command_args(), held)
        os.environ[lock.RUN_ID_ENV] = str(run_id)
        return _build(target, options, listener, steps, run_id, held)
    finally:
        if saved_env is None:
            os.environ.pop(lock.RUN_ID_ENV, None)
        else:
            os.environ[lock.RUN_ID_ENV] = saved_env
        held.close()


def _build(
    target: Target,
    options: BuildOptions,
    listener: BuildListener,
    steps: Sequence[Step],
    run_id: uuid.UUID,
    held: lock.BuildLock,
) -> BuildReport:
    report = BuildReport(run_id=run_id, options=options)
    ctx = BuildContext(target, options, run_id, report, listener, held)
    ctx.facts_ahead = any(s.name == "facts contracts" and not s.skip(options) for s in steps)
    start = time.monotonic()
    failed_step: str | None = None
    unexpected: BaseException | None = None
    try:
        failed_step, unexpected = _run_steps(ctx, steps)
    finally:
        worker, ctx.contract_worker = ctx.contract_worker, None
        if worker is not None:
            worker.close(cancel=unexpected is not None)
    report.seconds = time.monotonic() - start
    if isinstance(unexpected, KeyboardInterrupt):
        run_status = "cancelled"
    else:
        run_status = "failed" if (report.error or unexpected) else "success"
    try:
        ops.finish_run(
            target,
            run_id,
            run_status,
            [
                ops.StepRecord(s.name, s.status, round(s.seconds, 3), s.summary)
                for s in report.steps
            ],
            report.nodes,
            error=report.error or unexpected,
            failed_step=failed_step,
        )
    except DatabaseError as exc:
        # The database went away (a restart, a lost network): the run stays `running` until
        # the next build or `hotdash status` finds its lock gone and marks it abandoned.
        if unexpected is None and report.error is None:
            raise DatabaseError(
                f"the build ran, but its record could not be closed: {exc.message}",
                hint="the next build marks it abandoned; build again once the database is back",
            ) from exc
    if run_status != "cancelled":
        evaluate_alerts(target, options, report)
    if unexpected is not None:
        raise unexpected
    if report.error is not None:
        report.error.build_report = report  # type: ignore[attr-defined]
        raise report.error
    return report


def alert_rules(options: BuildOptions) -> list[str]:
    """The rules a build evaluates: all of them, but on a --select (--exclude) build only its own
    (build_failed, contract_errors): the marts may not have been rebuilt, so the data rules'
    alerts stay as the last full build left them. With --skip-contracts, contract_errors is left
    as it was too (no contract ran)."""
    rules = list(alerts.BUILD_RULES) if options.narrowed else list(alerts.RULES)
    if options.skip_contracts:
        rules.remove("contract_errors")
    return rules


def evaluate_alerts(target: Target, options: BuildOptions, report: BuildReport) -> None:
    """Evaluate the alert rules for the recorded run. An error is kept in report.alerts_error
    (the CLI prints it): it never changes the build's outcome, nor hides the build's own error."""
    try:
        report.alerts = alerts.evaluate(target, report.run_id, alert_rules(options))
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc).strip() or type(exc).__name__
        report.alerts_error = f"{type(exc).__name__}: {message.splitlines()[0]}"


def build_report(exc: BaseException) -> BuildReport | None:
    """The report of the build that raised `exc`, if a build did."""
    report = getattr(exc, "build_report", None)
    return report if isinstance(report, BuildReport) else None
