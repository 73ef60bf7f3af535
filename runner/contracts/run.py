"""Running a stage: which checks, the window each reads (the facts not judged yet, the verdicts
not staged yet), the GX validations in parallel, and the outcomes recorded in ops."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import psycopg.sql

from runner import ops, settings
from runner.contracts.gx import (
    ContractSession,
    _expectation,
    default_out_dir,
    judged_query,
    rows_query,
)
from runner.contracts.outcomes import _judged_outcome, _missing, _not_run, _outcome
from runner.contracts.report import SAMPLE_SIZE, ContractReport, Outcome, write_summary
from runner.contracts.suites import (
    CONTRACTS_DIR,
    JUDGE_SELECTOR,
    NEW_FACTS,
    STAGES,
    TRIAGE,
    Check,
    Part,
    Stage,
)
from runner.db import Target, connect, relation_exists
from runner.errors import ConfigError
from runner.settings import Settings

# With new_facts_only, a batch's share of bad facts is taken of at least this many facts, so a
# handful of new facts cannot block a build on one bad payload.
MIN_SHARE_BASE = 1000


def judge_args(full_refresh: bool = False, vars: str | None = None) -> list[str]:
    """The dbt command that judges the facts not yet judged (all of them on a full refresh),
    after dbt's own tests of the facts source: selector judge (selectors.yml), the facts source
    and the triage."""
    args = ["build", "--selector", JUDGE_SELECTOR]
    if full_refresh:
        args.append("--full-refresh")
    if vars:
        args += ["--vars", vars]
    return args


def judge_facts(target: Target) -> None:
    """Judge the facts stored since the last build (dbt build of ops.facts_triage); raises
    BuildError when dbt fails."""
    from runner import dbt

    args = judge_args(vars=target.vars)
    dbt.require_success(dbt.invoke(target, args, quiet=True, silent=True))


def run_contracts(
    target: Target,
    stage: Stage,
    run_id: str | None = None,
    *,
    session: ContractSession | None = None,
    contracts_dir: Path = CONTRACTS_DIR,
    out_dir: Path | None = None,
    write_docs: bool = True,
    new_facts_only: bool = False,
    part: Part | None = None,
    judge: bool = True,
    done: Mapping[tuple[str, str], Outcome] | None = None,
) -> ContractReport:
    """Run every expectation of `stage` (or of one `part` of the source stage) and report each;
    raises nothing for failed contracts.

    The caller decides: `require_contracts(report)` raises SourceContractError or
    MartContractError on an error-level failure.

    The source stage checks the facts table, then (with `judge`, when those checks passed) has
    dbt judge the facts not yet judged (ops.facts_triage), then checks the payloads by their
    verdicts. A build runs the three as separate steps (runner/pipeline.py: the facts contracts,
    the judge, the payload contracts).

    new_facts_only: facts-table row checks read only the facts past the triage cursor, and the
    payload checks only the facts past each topic's staging cursor (what an incremental dbt build
    is about to stage); a batch's share of bad facts is taken of at least MIN_SHARE_BASE facts.

    done: outcomes already validated in this run, by (suite, check name) (validate_groups, while
    dbt built what they read): they are reported and recorded with the rest, not run again.
    """
    if stage not in STAGES:
        raise ConfigError(f"unknown contract stage {stage!r}", hint="use source or marts")
    if part is not None and stage != "source":
        raise ConfigError(f"stage {stage} has no part {part!r}", hint="parts are of stage source")
    started = time.monotonic()
    run_id = run_id or str(uuid.uuid4())
    out_dir = out_dir or (session.out_dir if session else default_out_dir(target))
    session = session or ContractSession(out_dir)
    if stage == "source" and part is None:
        options = {
            "session": session,
            "contracts_dir": contracts_dir,
            "write_docs": False,
            "new_facts_only": new_facts_only,
        }
        report = run_contracts(target, stage, run_id, part="facts", **options)
        if judge and report.ok:
            judge_facts(target)
        blocked = None if report.ok else "not run: the facts table failed an error-level check"
        checks = _checks(session, contracts_dir, settings.of(target), stage, "payload")
        payload = ContractReport(
            run_id, stage, _run(target, checks, session, new_facts_only, blocked=blocked)
        )
        ops.record_contract_results(target, payload)
        report.extend(payload)
    else:
        checks = _checks(session, contracts_dir, settings.of(target), stage, part)
        keys = {(c.suite, c.name) for c in checks}
        done = {key: o for key, o in (done or {}).items() if key in keys}
        report = ContractReport(
            run_id, stage, _run(target, checks, session, new_facts_only, done=done)
        )
        report.validated_ahead = len(done)
        ops.record_contract_results(target, report)
    report.seconds = time.monotonic() - started
    if write_docs:
        publish(report, session)
    return report


def validate_groups(
    target: Target,
    stage: Stage,
    groups: Collection[tuple[str, str]],
    *,
    session: ContractSession,
    new_facts_only: bool = False,
    contracts_dir: Path = CONTRACTS_DIR,
) -> dict[tuple[str, str], Outcome]:
    """The outcomes of the checks of `groups` ((suite, relation) pairs) of `stage`, by (suite,
    check name), recorded nowhere: a build validates a mart's checks while dbt builds the rest
    (runner/contracts/worker.py ChecksAhead), and the stage's run reports them (`done`)."""
    checks = [
        c
        for c in _checks(session, contracts_dir, settings.of(target), stage, None)
        if (c.suite, c.relation) in groups
    ]
    outcomes = _run(target, checks, session, new_facts_only)
    return {(c.suite, c.name): o for c, o in zip(checks, outcomes, strict=True)}


def _checks(
    session: ContractSession,
    contracts_dir: Path,
    project: Settings,
    stage: Stage,
    part: Part | None,
) -> list[Check]:
    suites = session.suites(contracts_dir, project)
    return [c for s in suites for c in s.checks if c.stage == stage and part in (None, c.part)]


def publish(report: ContractReport, session: ContractSession) -> None:
    """Data Docs (every validation of the session) and the JSON summary (this stage)."""
    session.out_dir.mkdir(parents=True, exist_ok=True)
    report.data_docs = session.build_docs()
    report.summary = write_summary(report, session.out_dir)


def _run(
    target: Target,
    checks: Sequence[Check],
    session: ContractSession,
    new_facts_only: bool,
    blocked: str | None = None,
    done: Mapping[tuple[str, str], Outcome] | None = None,
) -> list[Outcome]:
    """Validate `checks` and return their outcomes, in order. `blocked`: skip every check that
    could run, with that message. `done`: outcomes already known, by (suite, check name)."""
    order = [(c.suite, c.name) for c in checks]
    outcomes: dict[tuple[str, str], Outcome] = dict(done or {})
    checks = [c for c in checks if (c.suite, c.name) not in outcomes]
    needed = sorted({r for c in checks for r in c.needs})
    with connect(target) as conn:
        exists = {r: relation_exists(conn, r) for r in needed}
        # The facts past the triage cursor are the ones no build has judged yet.
        judged_before = new_facts_only and relation_exists(conn, TRIAGE)
        facts_after = settled_through(conn) if judged_before else None
        cursors = {c.topic: c.cursor for c in checks if c.part == "payload" and c.topic}
        after = {
            topic: _cursor(conn, cursor) if new_facts_only and cursor else 0
            for topic, cursor in cursors.items()
        }
        totals = _topic_totals(conn, after) if exists.get(TRIAGE) else {}
    share_base = MIN_SHARE_BASE if new_facts_only else 0

    groups: dict[tuple[str, str, str], list[Check]] = {}
    for check in checks:
        missing = [r for r in check.needs if not exists.get(r)]
        if missing:
            outcomes[(check.suite, check.name)] = _missing(check, missing)
        elif blocked:
            outcomes[(check.suite, check.name)] = _not_run(check, "skipped", blocked)
        else:
            groups.setdefault((check.suite, check.relation), []).append(check)

    runs = []
    for (suite, relation), members in groups.items():
        name = f"{suite}.{relation}"
        judged = [c for c in members if c.kind == "judged"]
        topic = judged[0].topic if judged else None
        shared = judged_query(judged, after.get(topic or "", 0)) if judged else ""
        rows = [c for c in members if c.kind == "row"]
        shared_rows = rows_query(rows, _window(rows[0], after, facts_after)) if rows else ""
        expectations = []
        for c in members:
            if c.kind == "judged":
                expectations.append(_expectation(session.gx, c, shared))
            elif c.kind == "row":
                expectations.append(_expectation(session.gx, c, shared_rows))
            elif c.kind == "unexpected_rows":
                window = _window(c, after, facts_after)
                expectations.append(
                    _expectation(session.gx, c, (c.query or "").replace(NEW_FACTS, window))
                )
            else:
                expectations.append(_expectation(session.gx, c))
        validation = session.replace_suite(
            name, expectations, session.batch_definition(target, relation)
        )
        # SUMMARY: a sample of each column check's bad values, not all of them. The query
        # checks return their own rows whatever the format (see _rows_expectation_class).
        keys = sorted({k for c in members if c.kind == "expect" for k in c.keys})
        result_format = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": SAMPLE_SIZE,
            **({"unexpected_index_column_names": keys} if keys else {}),
        }
        runs.append((validation, result_format, members))

    # Validations are independent queries: run a few at once (PostgreSQL does the work).
    with ThreadPoolExecutor(max_workers=max(1, session.threads)) as pool:
        results = list(pool.map(lambda run: run[0].run(result_format=run[1]), runs))
    for (_, _, members), result in zip(runs, results, strict=True):
        by_name = {c.name: c for c in members}
        for r in result.results:
            check = by_name[r.expectation_config.meta["check"]]
            if check.kind == "judged":
                outcomes[(check.suite, check.name)] = _judged_outcome(
                    check, r, totals, after.get(check.topic or "", 0), share_base
                )
            else:
                outcomes[(check.suite, check.name)] = _outcome(check, r)
    return [outcomes[key] for key in order]


def _window(check: Check, after: Mapping[str, int], facts_after: int | None) -> str:
    """What a source check reads this run, as a condition on its relation ({new_facts}): the
    verdicts past its topic's staging cursor, or the facts not judged yet; `true` for the rest."""
    if check.part == "payload":
        since = after.get(check.topic or "", 0)
        return f"judge_batch > {since}" if since else "true"
    if check.part == "facts":
        return _unjudged(facts_after)
    return "true"


def _cursor(conn: psycopg.Connection, relation: str) -> int:
    """The last judge batch a staging model has read; 0 before its first build."""
    if not relation_exists(conn, relation):
        return 0
    schema, table = relation.split(".", 1)
    statement = psycopg.sql.SQL("select coalesce(max(judge_batch), 0) from {}").format(
        psycopg.sql.Identifier(schema, table)
    )
    return int(conn.execute(statement).fetchone()[0])


def settled_through(conn: psycopg.Connection) -> int:
    """The judge's watermark: every fact up to it is judged or will never commit (0 before the
    judge ever ran). The function ops.triage_settled_through() computes it, as the judge and the
    accounting check read it (macros/setup/ddl.sql); a database whose ops tables predate it reads
    0 until a build creates it, which only widens what is read past the watermark."""
    (found,) = conn.execute(
        "select to_regprocedure('ops.triage_settled_through()') is not null"
    ).fetchone()
    if not found:
        return 0
    return int(conn.execute("select ops.triage_settled_through()").fetchone()[0])


def _unjudged(settled: int | None) -> str:
    """The facts no build has judged yet, as a predicate on the facts table (`true`: every
    fact). They are the ones the next judge reads: past the watermark and not in the triage.
    An anti-join (hashed in parallel workers) where `not in` hashes in one process: right after a
    full refresh the watermark is 0 and it reads every fact. The watermark is repeated on the
    triage side: PostgreSQL carries an equality across a join, not a range, and without it
    every later night would hash the whole triage for a few new facts."""
    if settled is None:
        return "true"
    return (
        f"id > {int(settled)} and not exists (select from {TRIAGE} as judged"
        f" where judged.fact_id = id and judged.fact_id > {int(settled)})"
    )


def _topic_totals(conn: psycopg.Connection, after: dict[str, int]) -> dict[str, int]:
    """How many facts of each topic the payload checks read (the judged ones past its cursor).

    One query for the topics that share a cursor (all of them on a full refresh, and on a night
    when every staging model read the last batch): a full refresh counts every verdict in one
    pass over the triage, where a query per topic read it topic by topic through its index (at
    1M facts, 0.46 s for the 12 topics right after a full refresh, before the triage is
    vacuumed; one pass 0.05 s)."""
    schema, table = TRIAGE.split(".", 1)
    statement = psycopg.sql.SQL(
        "select topic, count(*) from {} where topic = any(%s) and judge_batch > %s group by topic"
    ).format(psycopg.sql.Identifier(schema, table))
    totals = dict.fromkeys(after, 0)
    for after_id in sorted(set(after.values())):
        topics = [topic for topic, cursor in after.items() if cursor == after_id]
        for topic, count in conn.execute(statement, (topics, after_id)):
            totals[topic] = int(count)
    return totals
