"""One build at a time per database, and builds that died recorded as abandoned.

A build holds a session advisory lock (macros/setup/on_run_start.sql names its key) on a
connection of its own for as long as it runs. The lock is the database's, not a file's: it ends
with the session, so a build killed with kill -9, a lost connection or a restarted database
leaves no stale lock. A second `hotdash build` stops with BuildLockedError naming the running
build, or waits for it (`--wait`); a plain `dbt build` of this project started meanwhile stops in
its on-run-start hook with the same description.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from runner.db import Target
from runner.errors import BuildLockedError, DatabaseError

LOCK_KEY = (1752134756, 1)  # ('hotd', 1), as hotdash_build_lock_key() in macros/setup
RUN_ID_ENV = "HOTDASH_BUILD_RUN_ID"  # lets the build's own dbt steps past the on-run-start check

_HOLDER_SQL = """
select
    locks.pid,
    runs.run_id,
    runs.started_at,
    runs.client_pid,
    runs.client_host,
    runs.current_step
from pg_locks as locks
left join ops.build_runs as runs on runs.backend_pid = locks.pid and runs.status = 'running'
where
    locks.locktype = 'advisory'
    and locks.granted
    and locks.database = (select oid from pg_database where datname = current_database())
    and (locks.classid, locks.objid, locks.objsubid) = (%s, %s, 2)
limit 1
"""

# A running build is alive while its session holds the build lock (and is the session that
# started it: a pid is reused). Read by `hotdash status` and the next build.
ABANDON_SQL = """
update ops.build_runs as runs
set
    status = 'abandoned',
    ended_at = clock_timestamp(),
    failed_step = runs.current_step,
    error_message = 'the build ended without finishing: its process or database session died'
        || coalesce(' during step ' || runs.current_step, ''),
    error_type = 'Abandoned'
where
    runs.status = 'running'
    and runs.run_id is distinct from %(own)s
    and not exists (
        select 1
        from pg_locks as locks
        left join pg_stat_activity as activity on activity.pid = locks.pid
        where
            locks.locktype = 'advisory'
            and locks.granted
            and locks.database = (select oid from pg_database where datname = current_database())
            and (locks.classid, locks.objid, locks.objsubid) = (%(class)s, %(obj)s, 2)
            and locks.pid = runs.backend_pid
            and coalesce(activity.backend_start = runs.backend_start, true)
    )
returning runs.run_id
"""


@dataclass(frozen=True)
class Holder:
    """The build that holds the lock, as far as ops.build_runs tells."""

    backend_pid: int
    run_id: uuid.UUID | None
    started_at: dt.datetime | None
    client_pid: int | None
    client_host: str | None
    current_step: str | None

    def describe(self) -> str:
        started = self.started_at.strftime("%Y-%m-%d %H:%M:%S %Z") if self.started_at else "?"
        return (
            f"run {self.run_id or '?'}, started {started} by pid {self.client_pid or '?'}"
            f" on {self.client_host or '?'}, step {self.current_step or '?'}"
            f" (database session {self.backend_pid})"
        )


@dataclass
class BuildLock:
    """The held lock and its session; `close()` releases both."""

    conn: psycopg.Connection
    backend_pid: int
    backend_start: dt.datetime

    def close(self) -> None:
        # Unlock first: closing the session alone releases the lock only when its backend has
        # exited, after close() returns, and a build started right after would be refused.
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("select pg_advisory_unlock(%s, %s)", LOCK_KEY)
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


def holder(conn: psycopg.Connection) -> Holder | None:
    """Who holds the build lock (None: nobody)."""
    if not conn.execute("select to_regclass('ops.build_runs') is not null").fetchone()[0]:
        row = conn.execute(
            "select pid from pg_locks where locktype = 'advisory' and granted"
            " and database = (select oid from pg_database where datname = current_database())"
            " and (classid, objid, objsubid) = (%s, %s, 2)",
            LOCK_KEY,
        ).fetchone()
        return Holder(row[0], None, None, None, None, None) if row else None
    row = conn.execute(_HOLDER_SQL, LOCK_KEY).fetchone()
    return Holder(*row) if row else None


def acquire(
    target: Target,
    wait: float | None = 0,
    on_wait: Callable[[Holder | None], None] | None = None,
    poll: float = 1.0,
) -> BuildLock:
    """Take the build lock on a new session. wait: 0 fails at once when another build holds it,
    None waits as long as it takes, a number waits that many seconds. on_wait is told once,
    when the wait starts."""
    try:
        conn = psycopg.connect(target.conninfo, autocommit=True, application_name="hotdash build")
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to {target.redacted()}: {str(exc).strip()}",
            hint="`hotdash doctor` checks the setup; `hotdash db up` starts the embedded database",
        ) from exc
    deadline = None if wait is None else time.monotonic() + wait
    told = False
    try:
        while True:
            if conn.execute("select pg_try_advisory_lock(%s, %s)", LOCK_KEY).fetchone()[0]:
                pid, start = conn.execute(
                    "select pid, backend_start from pg_stat_activity where pid = pg_backend_pid()"
                ).fetchone()
                return BuildLock(conn, pid, start)
            current = holder(conn)
            if deadline is not None and time.monotonic() >= deadline:
                raise BuildLockedError(
                    "another build is running on this database: "
                    + (current.describe() if current else "(it just ended; try again)"),
                    hint="wait for it with `hotdash build --wait`; `hotdash status` lists builds",
                )
            if not told and on_wait is not None:
                on_wait(current)
                told = True
            time.sleep(poll)
    except BaseException:
        conn.close()
        raise


def client_identity() -> tuple[int, str]:
    """(pid, host) of this process, as ops.build_runs records them."""
    return os.getpid(), socket.gethostname()


def mark_abandoned(conn: psycopg.Connection, own: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Mark every running build whose session no longer holds the lock as abandoned."""
    if not conn.execute("select to_regclass('ops.build_runs') is not null").fetchone()[0]:
        return []
    params = {"own": own, "class": LOCK_KEY[0], "obj": LOCK_KEY[1]}
    return [row[0] for row in conn.execute(ABANDON_SQL, params).fetchall()]
