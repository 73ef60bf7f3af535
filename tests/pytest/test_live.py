"""On a live database: writers commit while builds run, readers query marts while they are
rebuilt, a second build starts, a build dies. Real sessions on the embedded PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hotdash_demo import iter_demo_facts
from runner import contracts, db, lock, pipeline, settings
from runner.errors import BuildLockedError
from runner.facts import copy_facts, ensure_facts_table
from runner.grants import require_secure
from runner.pipeline import BuildListener, BuildOptions, Step, build
from runner.status import status
from tests.live_load import READERS, WriterStats, mart_counts, reader, unjudged, writer
from tests.pytest.helpers import (
    PROJECT_DIR,
    failing_rows,
    insert_facts,
    query,
    scalar,
    table_rows,
)

HOTDASH = Path(sys.executable).parent / "hotdash"
SHOP = "live.myshopify.com"
FAST = BuildOptions(skip_contracts=True)


def order(order_id: int, updated_at: str = "2024-03-01T10:00:00Z", price: str = "10.00") -> dict:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "email": f"buyer{order_id}@example.com",
        "created_at": "2024-03-01T09:00:00Z",
        "updated_at": updated_at,
        "processed_at": "2024-03-01T09:00:00Z",
        "currency": "USD",
        "financial_status": "paid",
        "total_price": price,
        "subtotal_price": price,
        "total_tax": "0.00",
        "total_discounts": "0.00",
        "customer": {"id": 9000 + order_id},
        "line_items": [
            {"id": order_id * 10, "product_id": 1, "variant_id": 2, "quantity": 1, "price": price}
        ],
    }


ANCHOR = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def load_demo(target: db.Target, facts: int, seed: int) -> None:
    """Demo facts, the same ones (and stored at the same times) for the same seed."""
    with db.connect(target) as conn, conn.transaction():
        copy_facts(conn, iter_demo_facts(facts, shops=2, seed=seed, anchor=ANCHOR))


def staged_order_ids(target: db.Target) -> set[int]:
    return {row[0] for row in query(target, "select order_id from staging.stg_shopify__orders")}


def relations(target: db.Target, schema: str) -> list[str]:
    return [
        f"{schema}.{row[0]}"
        for row in query(
            target,
            "select table_name from information_schema.tables where table_schema = %s"
            " and table_type = 'BASE TABLE' order by table_name",
            (schema,),
        )
    ]


def state(target: db.Target) -> dict[str, list[tuple]]:
    """Every staging and mart table, row for row (bookkeeping columns aside), but the records
    of what each build found (settings.BUILD_RECORDS: the alerts, the snapshots), which are not
    tables built from the facts."""
    records = {f"marts.{name}" for name in settings.BUILD_RECORDS}
    tables = relations(target, "staging") + relations(target, "marts")
    return {table: table_rows(target, table) for table in tables if table not in records}


# --- late commits ---------------------------------------------------------------------------


def _hold_an_order_below_a_committed_one(target, held: psycopg.Connection) -> tuple[int, int]:
    """Session `held` takes a fact id and keeps its transaction open; the next id commits."""
    (late_id,) = held.execute(
        "insert into facts (shop_domain, topic, value) values (%s, %s, %s) returning id",
        (SHOP, "shopify.orders", psycopg.types.json.Jsonb(order(2))),
    ).fetchone()
    (early_id,) = insert_facts(target, [(SHOP, "shopify.orders", order(3))])
    assert early_id == late_id + 1
    return late_id, early_id


def test_a_fact_committed_late_below_judged_ids_is_staged_on_the_next_build(target):
    insert_facts(target, [(SHOP, "shopify.orders", order(1))])
    build(target, FAST)
    with psycopg.connect(target.conninfo) as held:
        late_id, early_id = _hold_an_order_below_a_committed_one(target, held)
        build(target, FAST)
        assert staged_order_ids(target) == {1, 3}
        build(target, FAST)  # still held: a second build neither stages it nor fails
        assert staged_order_ids(target) == {1, 3}
        held.commit()
    build(target, FAST)

    assert staged_order_ids(target) == {1, 2, 3}
    assert unjudged(target) == 0
    judged = query(target, "select fact_id, judge_batch from ops.facts_triage order by fact_id")
    assert [fact_id for fact_id, _ in judged] == [1, late_id, early_id]
    # Judged in commit order: the late fact's batch is after its higher-numbered neighbour's.
    batches = dict(judged)
    assert batches[late_id] > batches[early_id] > batches[1]


class _CommitWhenJudged(BuildListener):
    """Commits a writer's transaction as soon as the judge's own run has built the triage: after
    the full refresh's snapshot, before the build judges again."""

    def __init__(self, held: psycopg.Connection) -> None:
        self.held = held

    def node_event(self, event) -> None:
        if event.finished and event.name == "facts_triage":
            self.held.commit()


def _judge_line(report) -> str:
    """What a build's judge step said."""
    return {step.name: step.summary for step in report.steps}["judge facts"]


def test_a_full_refresh_settles_what_it_judged_with_a_fact_committed_meanwhile(target):
    """A full refresh judges once more right after, so the next build reads only facts past its
    highest id (its facts contracts and judge compare no old id): the fact a writer committed
    after the full refresh's snapshot, below a judged id, is judged then, and staged."""
    insert_facts(target, [(SHOP, "shopify.orders", order(1))])
    with psycopg.connect(target.conninfo) as held:
        late_id, early_id = _hold_an_order_below_a_committed_one(target, held)
        report = build(
            target, BuildOptions(full_refresh=True, skip_contracts=True), _CommitWhenJudged(held)
        )

    assert _judge_line(report) == (
        "2 facts judged (every fact: full refresh), 1 more committed meanwhile;"
        f" settled through fact id {early_id:,}"
    )
    with db.connect(target) as conn:
        assert contracts.settled_through(conn) == early_id
    assert staged_order_ids(target) == {1, 2, 3}
    judged = query(target, "select fact_id, judge_batch from ops.facts_triage order by fact_id")
    assert judged == [(late_id - 1, 1), (late_id, 2), (early_id, 1)]


def test_a_databases_first_build_settles_what_it_judged(target):
    """The first build judges every fact, as a full refresh does, and settles it the same way
    (the new triage vacuumed first: nothing was settled before it): the next build's judge reads
    only the facts past the highest id."""
    _, second = insert_facts(
        target, [(SHOP, "shopify.orders", order(1)), (SHOP, "shopify.orders", order(2))]
    )
    assert _judge_line(build(target, FAST)) == f"2 facts judged; settled through fact id {second:,}"
    with db.connect(target) as conn:
        assert contracts.settled_through(conn) == second
    # Vacuumed before that run, which compares every fact's id with the new triage's: its pages
    # all visible, the comparison reads the triage's index alone.
    pages, visible = scalar(
        target,
        "select array[relpages, relallvisible] from pg_class where oid = 'ops.facts_triage'::regclass",
    )
    assert visible == pages > 0
    insert_facts(target, [(SHOP, "shopify.orders", order(3))])
    assert _judge_line(build(target, FAST)) == "1 fact judged"
    assert staged_order_ids(target) == {1, 2, 3}


def test_a_full_refresh_leaves_unsettled_what_a_running_writer_may_still_commit(target):
    """A writer holding an id below the judged ones through the whole full refresh: its batch
    cannot be settled (the id may still commit), so the next build still reads past the old
    ids and stages the fact once it commits."""
    insert_facts(target, [(SHOP, "shopify.orders", order(1))])
    with psycopg.connect(target.conninfo) as held:
        late_id, _ = _hold_an_order_below_a_committed_one(target, held)
        report = build(target, BuildOptions(full_refresh=True, skip_contracts=True))
        with db.connect(target) as conn:
            assert contracts.settled_through(conn) == 0
        assert _judge_line(report) == (
            "2 facts judged (every fact: full refresh);"
            " not settled yet: a transaction older than the judge still runs"
        )
        assert staged_order_ids(target) == {1, 3}
        held.commit()
    build(target, FAST)

    assert staged_order_ids(target) == {1, 2, 3}
    assert unjudged(target) == 0
    with db.connect(target) as conn:
        assert contracts.settled_through(conn) == late_id + 1


def test_a_full_refresh_keeps_the_watermark_settled_before_it(target):
    """Every fact up to the watermark settled before a full refresh had committed when it began,
    so the full refresh judges them all and keeps that watermark: with a writer holding an id
    through the full refresh (its own batch cannot settle), the watermark stays at the facts
    settled before, not 0 (the next builds compare only the ids past it), and the writer's fact
    is judged and staged once it commits."""
    (first,) = insert_facts(target, [(SHOP, "shopify.orders", order(1))])
    build(target, FAST)
    with db.connect(target) as conn:
        assert contracts.settled_through(conn) == first
    with psycopg.connect(target.conninfo) as held:
        _, early_id = _hold_an_order_below_a_committed_one(target, held)
        report = build(target, BuildOptions(full_refresh=True, skip_contracts=True))
        with db.connect(target) as conn:
            assert contracts.settled_through(conn) == first
        assert _judge_line(report) == (
            f"2 facts judged (every fact: full refresh); settled through fact id {first:,},"
            f" as before it; the next build's judge settles the {early_id - first} ids past it"
        )
        assert staged_order_ids(target) == {1, 3}
        held.commit()
    assert _judge_line(build(target, FAST)) == "1 fact judged"

    assert staged_order_ids(target) == {1, 2, 3}
    assert unjudged(target) == 0
    with db.connect(target) as conn:
        assert contracts.settled_through(conn) == early_id


def test_a_full_refresh_judges_again_at_once_only_past_so_many_ids_beyond_the_kept_watermark(
    target, monkeypatch
):
    """A full refresh that kept a watermark judges once more right after only when more than
    SETTLE_AT_ONCE_ABOVE judged ids lie past it: at that many it leaves them to the next build's
    judge, which settles them; one more and it settles them itself."""
    (first,) = insert_facts(target, [(SHOP, "shopify.orders", order(1))])
    build(target, FAST)
    _, last = insert_facts(
        target, [(SHOP, "shopify.orders", order(2)), (SHOP, "shopify.orders", order(3))]
    )
    full = BuildOptions(full_refresh=True, skip_contracts=True)
    monkeypatch.setattr(pipeline, "SETTLE_AT_ONCE_ABOVE", last - first)
    assert _judge_line(build(target, full)) == (
        f"3 facts judged (every fact: full refresh); settled through fact id {first:,},"
        f" as before it; the next build's judge settles the {last - first} ids past it"
    )
    with db.connect(target) as conn:
        assert contracts.settled_through(conn) == first
    assert _judge_line(build(target, FAST)).startswith("0 facts judged")
    with db.connect(target) as conn:
        assert contracts.settled_through(conn) == last

    (newest,) = insert_facts(target, [(SHOP, "shopify.orders", order(4))])
    build(target, FAST)  # settles through newest once the full refresh below judges again
    with db.connect(target) as conn:
        kept = contracts.settled_through(conn)
    monkeypatch.setattr(pipeline, "SETTLE_AT_ONCE_ABOVE", newest - kept - 1)
    assert _judge_line(build(target, full)) == (
        f"4 facts judged (every fact: full refresh); settled through fact id {newest:,}"
    )
    with db.connect(target) as conn:
        assert contracts.settled_through(conn) == newest
    assert staged_order_ids(target) == {1, 2, 3, 4}


def test_the_accounting_check_holds_a_full_refresh_to_the_watermark_it_kept(target):
    """The accounting check reads every fact up to the judge's watermark, the one a full refresh
    kept included: a fact settled before the full refresh and missing from its triage is named,
    while a writer keeps the full refresh's own batch unsettled."""
    (first,) = insert_facts(target, [(SHOP, "shopify.orders", order(1))])
    build(target, FAST)
    with psycopg.connect(target.conninfo) as held:
        _hold_an_order_below_a_committed_one(target, held)
        build(target, BuildOptions(full_refresh=True, skip_contracts=True))
        with db.connect(target) as conn:
            conn.execute("delete from ops.facts_triage where fact_id = %s", (first,))
        failures, rows = failing_rows(
            target, "assert_every_fact_is_accounted_for", "fact_id, topic, problem"
        )
        held.rollback()
    assert failures == [1]
    assert rows == [(first, "shopify.orders", "never judged")]


def test_a_late_child_reaches_line_items_after_its_parent_moved_on(target):
    """The child models' cursor is the parent's judge batch: an order committed late still
    gets its line items."""
    with psycopg.connect(target.conninfo) as held:
        held.execute(
            "insert into facts (shop_domain, topic, value) values (%s, %s, %s)",
            (SHOP, "shopify.orders", psycopg.types.json.Jsonb(order(7))),
        )
        insert_facts(target, [(SHOP, "shopify.orders", order(8))])
        build(target, FAST)
        held.commit()
    build(target, FAST)

    rows = query(target, "select order_id, line_item_id from staging.stg_shopify__order_line_items")
    assert sorted(rows) == [(7, 70), (8, 80)]


def test_writers_committing_during_builds_lose_no_fact_and_incremental_equals_full(target):
    load_demo(target, 2_000, seed=3)
    build(target, FAST)
    stop = threading.Event()
    stats = [WriterStats() for _ in range(3)]
    threads = [
        threading.Thread(target=writer, args=(target, 100 + i, stop, stats[i])) for i in range(3)
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            build(target, FAST)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    build(target, FAST)

    assert [s.errors for s in stats] == [[], [], []]
    written = sum(s.committed for s in stats)
    assert written > 50  # the writers did write during the builds
    assert scalar(target, "select count(*) from facts") == 2_000 + written
    assert unjudged(target) == 0
    incremental = state(target)
    build(target, BuildOptions(skip_contracts=True, full_refresh=True))
    assert state(target) == incremental


# --- readers during a rebuild ---------------------------------------------------------------


def test_readers_see_the_old_or_the_new_mart_during_a_full_rebuild(target):
    load_demo(target, 3_000, seed=5)
    build(target, FAST)
    marts = relations(target, "marts")
    shop = str(scalar(target, "select min(shop_domain) from marts.growth_metrics"))
    old = mart_counts(target, marts, shop)
    load_demo(target, 1_500, seed=6)  # the rebuild changes the marts

    stop = threading.Event()
    seen: dict[str, list[tuple[str, int]]] = {role: [] for role in READERS}
    errors: list[str] = []
    threads = [
        threading.Thread(target=reader, args=(target, role, shop, marts, stop, seen[role], errors))
        for role in READERS
    ]
    for thread in threads:
        thread.start()
    try:
        build(target, BuildOptions(skip_contracts=True, full_refresh=True))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    new = mart_counts(target, marts, shop)

    assert errors == []
    assert old != new
    for role in READERS:
        assert len(seen[role]) > 5 * len(marts)
        wrong = [(mart, n) for mart, n in seen[role] if n not in (old[mart], new[mart])]
        assert wrong == [], role


# --- one build at a time --------------------------------------------------------------------


def test_a_build_returns_with_its_lock_released_so_the_next_one_starts_at_once(target):
    """A script running builds one after the other (`hotdash build && hotdash build`, a retry)
    is never told that another build is running: the lock is free when a build returns."""
    quick = [Step("quick", lambda ctx: None)]
    with db.connect(target) as watcher:
        for _ in range(5):
            report = build(target, FAST, steps=quick)
            assert report.error is None
            held = watcher.execute(
                "select count(*) from pg_locks where locktype = 'advisory'"
                " and classid = %s and objid = %s and granted",
                lock.LOCK_KEY,
            ).fetchone()[0]
            assert held == 0


class Recorder(BuildListener):
    def __init__(self) -> None:
        self.waited_for: list[lock.Holder | None] = []

    def waiting_for_lock(self, holder: lock.Holder | None) -> None:
        self.waited_for.append(holder)


def test_a_second_build_is_refused_or_waits_naming_the_running_one(target):
    release = threading.Event()
    first_done: list[object] = []

    def hold(ctx) -> str:
        assert release.wait(60)
        return "held"

    first = threading.Thread(
        target=lambda: first_done.append(build(target, FAST, steps=[Step("hold", hold)]))
    )
    first.start()
    try:
        deadline = time.monotonic() + 30
        while (
            scalar(target, "select count(*) from ops.build_runs where current_step = 'hold'") != 1
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        run_id = scalar(target, "select run_id from ops.build_runs where status = 'running'")

        with pytest.raises(BuildLockedError) as refused:
            build(target, FAST, steps=[Step("quick", lambda ctx: None)])
        message = refused.value.message
        assert f"run {run_id}" in message
        assert f"by pid {os.getpid()}" in message
        assert "step hold" in message
        assert refused.value.exit_code == 11

        start = time.monotonic()
        with pytest.raises(BuildLockedError):
            build(target, FAST, steps=[Step("quick", lambda ctx: None)], wait=0.5)
        assert time.monotonic() - start >= 0.5

        # Plain dbt of this project (another process) is refused by its on-run-start hook.
        plain = plain_dbt(target, "run", "--select", "facts_triage")
        assert plain.returncode != 0
        assert f"another build is running on this database: run {run_id}" in plain.stdout
        assert scalar(target, "select count(*) from ops.facts_triage_batches") == 0

        recorder = Recorder()
        waiting = threading.Thread(
            target=lambda: build(
                target, FAST, listener=recorder, steps=[Step("quick", lambda c: None)], wait=None
            )
        )
        waiting.start()
        time.sleep(1.5)
        assert waiting.is_alive()  # it waits for the first one
    finally:
        release.set()
        first.join()
    waiting.join(30)
    assert not waiting.is_alive()
    assert [h.run_id if h else None for h in recorder.waited_for] == [run_id]
    runs = query(target, "select status from ops.build_runs order by started_at")
    assert runs == [("success",), ("success",)]  # refused builds record nothing


def plain_dbt(target: db.Target, *args: str) -> subprocess.CompletedProcess[str]:
    """dbt's own command line on the target's profile, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k != lock.RUN_ID_ENV}
    env["DBT_PROFILES_DIR"] = str(target.profiles_dir)
    return subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(PROJECT_DIR)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


# --- killed builds --------------------------------------------------------------------------


def hotdash_process(target: db.Target, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HOTDASH_DATABASE": str(scalar(target, "select current_database()"))}
    env.pop(lock.RUN_ID_ENV, None)
    return subprocess.Popen(
        [str(HOTDASH), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


# A short step is held where it reads a table that the test locks (ACCESS EXCLUSIVE), so the
# kill lands inside it: (the table, the step during which the lock is taken; None: before the
# build starts). The facts contracts read facts; the payload contracts read each staging
# model's cursor; the security check reads ops.shop_logins.
HOLD = {
    "facts contracts": ("public.facts", None),
    "payload contracts": ("staging.stg_shopify__orders", None),
    "verify security": ("ops.shop_logins", "mart contracts"),
}


# The as-of date of every build of the killed-build tests: a run that crosses midnight still
# compares marts computed for one day.
KILLED_VARS = f"{{as_of_date: '{dt.date.today().isoformat()}'}}"
KILLED = BuildOptions(skip_contracts=True, vars=KILLED_VARS)


def kill_in_step(target: db.Target, step: str) -> None:
    """Start `hotdash build` and kill -9 it once it records that it is in `step`."""
    table, lock_during = HOLD.get(step, (None, None))
    with psycopg.connect(target.conninfo) as holder:
        if table and lock_during is None:
            holder.execute(f"lock table {table} in access exclusive mode")
        process = hotdash_process(target, "build", "--vars", KILLED_VARS)
        deadline = time.monotonic() + 300
        while True:
            current = scalar(
                target, "select current_step from ops.build_runs where status = 'running' limit 1"
            )
            if table and lock_during is not None and current == lock_during:
                holder.execute(f"lock table {table} in access exclusive mode")
                lock_during = None
            if current == step:
                break
            assert process.poll() is None, f"the build ended before step {step}"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        if table:
            time.sleep(0.5)  # it is waiting for the lock, inside the step
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
        holder.rollback()


@pytest.fixture(scope="module")
def killed_template(hotdash_home: Path):
    """A database with 2,000 demo facts built once, and the state of the same database after
    500 more facts and an uninterrupted build: what every killed build must come back to."""
    name = f"t_tpl_{uuid.uuid4().hex[:8]}"
    template = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=name)
    with db.connect(template) as conn:
        ensure_facts_table(conn)
    load_demo(template, 2_000, seed=11)
    build(template, KILLED)
    reference = clone(template, hotdash_home)
    load_demo(reference, 500, seed=12)
    build(reference, KILLED)
    expected = state(reference)
    db.drop_database(reference)
    yield template, expected
    db.drop_database(template)


def clone(template: db.Target, home: Path) -> db.Target:
    source = str(scalar(template, "select current_database()"))
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = db._embedded_uri(home, start=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(source)
            )
        )
    return db.embedded_target(PROJECT_DIR, home, dbname=name)


@pytest.mark.xdist_group("live_killed")  # its parameters share killed_template
@pytest.mark.parametrize(
    "step",
    [
        "facts contracts",
        "judge facts",
        "payload contracts",
        "dbt build",
        "mart contracts",
        "verify security",
    ],
)
def test_a_killed_build_is_abandoned_and_the_next_build_restores_the_marts(
    killed_template, hotdash_home, step
):
    template, expected = killed_template
    target = clone(template, hotdash_home)
    try:
        load_demo(target, 500, seed=12)
        kill_in_step(target, step)

        # Right after the kill: the dashboard's tile already says abandoned, the marts are
        # readable and secured.
        health = query(
            target, "select status, failed_step from ops.pipeline_health order by started_at"
        )
        assert health[-1] == ("abandoned", step)
        require_secure(target)
        assert scalar(target, "select count(*) from marts.growth_metrics") > 0
        # A read-only session gets the status all the same (it cannot record anything) ...
        with db.connect(target) as conn:
            conn.read_only = True
            assert status(conn, settings.of(target)).runs[0].status == "running"
        # ... and `hotdash status` records it so.
        with db.connect(target) as conn:
            runs = status(conn, settings.of(target)).runs
        assert (runs[0].status, runs[0].error_message) == (
            "abandoned",
            f"the build ended without finishing: its process or database session died during step {step}",
        )

        build(target, KILLED)
        assert state(target) == expected
        assert unjudged(target) == 0
    finally:
        db.drop_database(target)


def kill_server(home: Path) -> None:
    """kill -9 the embedded PostgreSQL's postmaster and every process it started."""
    import psutil

    pid = int((home / "pgdata" / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    for process in [postmaster, *postmaster.children()]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs([postmaster], timeout=10)


def test_a_build_survives_a_killed_database_and_the_next_build_restores_the_marts(tmp_path):
    """The embedded server itself is killed in the middle of dbt: the build fails, the next
    command starts the server again (PostgreSQL recovers), the run shows as abandoned, and the
    next build gives the marts an uninterrupted build gives."""
    home = tmp_path / "crash"
    env = {**os.environ, "HOTDASH_HOME": str(home), "HOTDASH_DATABASE": "crash"}
    env.pop(lock.RUN_ID_ENV, None)
    try:
        reference = db.embedded_target(PROJECT_DIR, home, dbname="reference")
        target = db.embedded_target(PROJECT_DIR, home, dbname="crash")
        for database in (reference, target):
            with db.connect(database) as conn:
                ensure_facts_table(conn)
            load_demo(database, 2_000, seed=21)
            build(database, FAST)
            load_demo(database, 500, seed=22)
        build(reference, FAST)
        expected = state(reference)

        process = subprocess.Popen(
            [str(HOTDASH), "build", "--skip-contracts"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 300
        while (
            scalar(target, "select current_step from ops.build_runs where status = 'running'")
            != "dbt build"
        ):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(1)  # into dbt's nodes
        kill_server(home)
        output, _ = process.communicate(timeout=120)
        assert process.returncode != 0, output
        assert "Traceback" not in output

        target = db.embedded_target(PROJECT_DIR, home, dbname="crash")  # starts it again
        with db.connect(target) as conn:
            (run,) = [r for r in status(conn, settings.of(target)).runs if r.status != "success"]
        assert (run.status, run.error_message) == (
            "abandoned",
            "the build ended without finishing: its process or database session died"
            " during step dbt build",
        )
        require_secure(target)
        build(target, FAST)
        assert state(target) == expected
        assert unjudged(target) == 0
    finally:
        db.stop_embedded(home)


def test_plain_dbt_build_on_an_empty_database_stands_alone_and_ends_secured(hotdash_home):
    name = f"t_{uuid.uuid4().hex[:10]}"
    target = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=name)
    try:
        assert scalar(target, "select to_regclass('public.facts')") is None
        result = plain_dbt(target, "build")
        assert result.returncode == 0, result.stdout[-3000:]
        for relation in ("public.facts", "ops.build_runs", "ops.facts_triage_batches"):
            assert scalar(target, "select to_regclass(%s) is not null", (relation,)), relation
        require_secure(target)
        # and again, now with facts: the same project, incremental
        load_demo(target, 1_000, seed=31)
        result = plain_dbt(target, "build")
        assert result.returncode == 0, result.stdout[-3000:]
        assert unjudged(target) == 0
        require_secure(target)
    finally:
        db.drop_database(target)
