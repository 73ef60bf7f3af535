"""The record of builds in schema ops: runs, their dbt nodes, and (filled by the contracts step)
contract results. Written on short connections of its own, so a failed build is recorded too."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
import psycopg.sql
from psycopg.types.json import Jsonb

from runner.db import Target, connect, relation_exists
from runner.dbt import NodeResult
from runner.errors import INTERRUPTED_EXIT_CODE, UNEXPECTED_EXIT_CODE
from runner.lock import BuildLock, client_identity
from runner.setup import apply_ddl

if TYPE_CHECKING:
    from runner.contracts.report import ContractReport


def ensure_ops_tables(conn: psycopg.Connection) -> None:
    """Create schema ops and its tables if missing (serialized, so two builds cannot race)."""
    apply_ddl(conn, "hotdash_ops_ddl")


@dataclass(frozen=True)
class StepRecord:
    """One pipeline step as stored in build_runs.steps."""

    name: str
    status: str
    seconds: float
    summary: str = ""


def start_run(
    conn: psycopg.Connection, run_id: uuid.UUID, command_args: Sequence[str], lock: BuildLock
) -> dt.datetime:
    """Insert the run as running, with the process and the database session that hold the build
    lock for it (how the next build tells a live run from a dead one); returns its started_at."""
    client_pid, client_host = client_identity()
    (started_at,) = conn.execute(
        "insert into ops.build_runs (run_id, command_args, client_pid, client_host,"
        " backend_pid, backend_start) values (%s, %s, %s, %s, %s, %s) returning started_at",
        (
            run_id,
            Jsonb(list(command_args)),
            client_pid,
            client_host,
            lock.backend_pid,
            lock.backend_start,
        ),
    ).fetchone()
    return started_at


def set_step(conn: psycopg.Connection, run_id: uuid.UUID, step: str) -> None:
    """Record the step a run is in (an abandoned run keeps the step it died in)."""
    # A session that is gone (the database restarted) fails the step itself soon enough.
    with contextlib.suppress(psycopg.Error):
        conn.execute(
            "update ops.build_runs set current_step = %s where run_id = %s", (step, run_id)
        )


def finish_run(
    target: Target,
    run_id: uuid.UUID,
    status: str,
    steps: Sequence[StepRecord],
    nodes: Sequence[NodeResult],
    error: BaseException | None = None,
    failed_step: str | None = None,
) -> None:
    """Close the run with its status, steps, nodes and error, in one transaction."""
    message = getattr(error, "message", None) or (str(error) if error else None)
    if error is not None and not message:
        message = type(error).__name__
    if error is None:
        exit_code = 0
    elif isinstance(error, KeyboardInterrupt):
        exit_code = INTERRUPTED_EXIT_CODE
    else:
        exit_code = getattr(error, "exit_code", UNEXPECTED_EXIT_CODE)
    steps_json = json.dumps([s.__dict__ for s in steps])
    with connect(target) as conn, conn.transaction():
        if nodes:
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into ops.build_run_nodes (run_id, unique_id, name, resource_type,"
                    " status, rows_affected, failures, seconds, message)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " on conflict (run_id, unique_id) do update set status = excluded.status,"
                    " rows_affected = excluded.rows_affected, failures = excluded.failures,"
                    " seconds = excluded.seconds, message = excluded.message",
                    [
                        (
                            run_id,
                            n.unique_id,
                            n.name,
                            n.resource_type,
                            n.status,
                            n.rows_affected,
                            n.failures,
                            n.seconds,
                            n.message or None,
                        )
                        for n in nodes
                    ],
                )
        conn.execute(
            "update ops.build_runs set ended_at = clock_timestamp(), status = %s,"
            " error_message = %s, error_type = %s, exit_code = %s, failed_step = %s,"
            " steps = %s::jsonb where run_id = %s",
            (
                status,
                message,
                type(error).__name__ if error is not None else None,
                exit_code,
                failed_step,
                steps_json,
                run_id,
            ),
        )


# How many of the last successful builds of a kind last_node_seconds reads.
NODE_SECONDS_BUILDS = 10


def last_node_seconds(target: Target, full_refresh: bool) -> dict[str, float]:
    """What each dbt node took the last time it ran in a successful build of the same kind (a
    full refresh or not), among the last NODE_SECONDS_BUILDS such builds, by unique id; empty
    before the first one. A build narrowed by --select leaves the other nodes their earlier
    times. The next build orders its nodes by them (runner/dbt.py longest_path_first)."""
    with connect(target) as conn:
        if not relation_exists(conn, "ops.build_run_nodes"):
            return {}
        rows = conn.execute(
            """
            select distinct on (nodes.unique_id) nodes.unique_id, nodes.seconds
            from ops.build_run_nodes as nodes
            inner join (
                select runs.run_id, runs.started_at from ops.build_runs as runs
                where runs.status = 'success' and (runs.command_args ? '--full-refresh') = %s
                order by runs.started_at desc
                limit %s
            ) as recent on nodes.run_id = recent.run_id
            where nodes.seconds is not null
            order by nodes.unique_id, recent.started_at desc
            """,
            (full_refresh, NODE_SECONDS_BUILDS),
        ).fetchall()
    return {unique_id: float(seconds) for unique_id, seconds in rows}


@dataclass(frozen=True)
class RunSummary:
    """A recorded run, as `hotdash status` lists it."""

    run_id: uuid.UUID
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str
    command_args: list[str]
    error_message: str | None
    nodes: int
    failed_nodes: int

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


def recent_runs(conn: psycopg.Connection, limit: int = 10) -> list[RunSummary]:
    """The last `limit` runs, newest first; empty when no build was ever recorded."""
    exists = conn.execute("select to_regclass('ops.build_runs') is not null").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        """
        select
            runs.run_id, runs.started_at, runs.ended_at, runs.status, runs.command_args,
            runs.error_message,
            count(nodes.unique_id),
            count(nodes.unique_id) filter (where nodes.status in ('error', 'fail', 'runtime error'))
        from ops.build_runs as runs
        left join ops.build_run_nodes as nodes on nodes.run_id = runs.run_id
        group by runs.run_id
        order by runs.started_at desc
        limit %s
        """,
        (limit,),
    ).fetchall()
    return [RunSummary(*row) for row in rows]


# ops.contract_results: the columns a contract outcome fills, when the table has them.
RESULT_COLUMNS = (
    "run_id",
    "stage",
    "suite",
    "expectation",
    "severity",
    "status",
    "success",
    "unexpected_count",
    "unexpected_share",
    "sample",
    "relation",
    "message",
)


def record_contract_results(target: Target, report: ContractReport) -> int:
    """Append the outcomes to ops.contract_results when that table exists (its columns decide)."""
    with connect(target) as conn:
        if not relation_exists(conn, "ops.contract_results"):
            return 0
        present = {
            name: dtype
            for name, dtype in conn.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = 'ops' and table_name = 'contract_results'"
            ).fetchall()
        }
        columns = [c for c in RESULT_COLUMNS if c in present]
        if not columns:
            return 0
        rows = []
        for o in report.outcomes:
            values = {
                "run_id": report.run_id,
                "stage": report.stage,
                "suite": o.suite,
                "expectation": o.expectation,
                "severity": o.severity,
                "status": o.status,
                "success": o.success,
                "unexpected_count": o.unexpected_count,
                "unexpected_share": o.unexpected_share,
                "sample": json.dumps(o.sample),
                "relation": o.relation,
                "message": o.message or None,
            }
            rows.append(tuple(values[c] for c in columns))
        placeholders = psycopg.sql.SQL(", ").join(
            psycopg.sql.SQL("%s::jsonb") if present[c] == "jsonb" else psycopg.sql.Placeholder()
            for c in columns
        )
        statement = psycopg.sql.SQL("insert into ops.contract_results ({}) values ({})").format(
            psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns)), placeholders
        )
        with conn.cursor() as cur:
            cur.executemany(statement, rows)
        return len(rows)
