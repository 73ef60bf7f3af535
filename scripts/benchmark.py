"""Speed figures: generate+load demo facts, build staging full and incrementally, build the rest.

Usage: python scripts/benchmark.py --report [--sizes 100000 1000000 3000000]
       python scripts/benchmark.py --facts 1000000 [--repeat 3] [--select staging ...]
       python scripts/benchmark.py --facts 1000000 --pipeline   # `hotdash build`, step by step

--report is the performance report (README "Performance"): at each size, in a fresh database,
the plain SQL floor (scripts/plain_sql.py, checked row for row against dbt's tables), `hotdash
build --full-refresh` step by step (the database's first build: dbt parses the whole project),
--pairs runs of the floor side by side with a full refresh (dbt parses partially, as on a
scheduled full refresh; default 3: their median ratio is the figure the goal is judged by, as
the machine's speed drifts between runs minutes apart) and one full refresh more, a build with
no new facts against dbt's own start-up, a build after --incremental-share new facts and one
more such night (the facts that follow the base in one generated stream: DemoStream), the
slowest staging model, the judge's facts per second (in the build, and alone on one core), the
peak memory of the runner and of the largest PostgreSQL backend, and the operator's tile
queries (p95 over repeated runs, one shop, row-level security on); then the ratios the goals
are stated in, and a build with no new facts against the full refresh (the least a night's
ratio can be). Each size starts and ends with a machine check (one backend counting 5M generated
rows, best of 3): the same machine runs up to twice as slow on some days, and the figures with it.

Each figure runs in a fresh database `bench_<n>` on the embedded server (or the configured
profile's server) and prints min / median / max seconds over the repeats.

--pipeline runs the whole nightly job, `hotdash build --full-refresh` and then `hotdash build`
after the new facts, each in a process of its own as a scheduler would, and reports every step
(from ops.build_runs) plus the contract steps against the dbt steps.

--live runs the nightly job on a live database: readers query every mart as the operator and
the AI role, and writers insert facts (some in transactions held open, some rolled back), while
`hotdash build --full-refresh` and then `hotdash build` run; a last build after the writers stop
judges what they committed late. It prints reader queries and errors (must be 0), mart counts
that were neither the old nor the new mart (must be 0) and facts lost (must be 0).

--fuzz N builds N cases of the fuzz corpus (tests/fuzz_corpus.py) next to a good shop, once, and
prints how many facts were staged, quarantined, ignored and lost (must be 0), and whether the good
shop's marts equal a build of its facts alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import plain_sql  # scripts/plain_sql.py: the floor

from runner import db, dbt, settings
from runner.facts import copy_facts, ensure_facts_table, load_demo, vacuum_after_load


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build(target: db.Target, select: list[str], *extra: str) -> None:
    run = dbt.invoke(target, ["build", "--select", *select, *extra])
    dbt.require_success(run)


CONTRACT_STEPS = ("facts contracts", "payload contracts", "mart contracts")
DBT_STEPS = ("load project", "judge facts", "dbt build")


def process_env(target: db.Target, dbname: str, **extra: str) -> dict[str, str]:
    """The environment of a process of its own that runs on database `dbname` of the target's
    server (and `extra` variables)."""
    return {**os.environ, "HOTDASH_DATABASE": dbname, "HOTDASH_HOME": str(target.home), **extra}


def hotdash_build(target: db.Target, dbname: str, *args: str) -> dict[str, float]:
    """`hotdash build ARGS` in a process of its own; the seconds of each step, from ops."""
    env = process_env(target, dbname)
    started = time.perf_counter()
    out_path, err_path = (Path(f"/tmp/hotdash-bench-{os.getpid()}.{s}") for s in ("out", "err"))
    with out_path.open("w") as out, err_path.open("w") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "runner.cli", "build", *args],
            env=env,
            stdout=out,
            stderr=err,
            cwd=target.project_dir,
        )
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    stdout, stderr = out_path.read_text(), err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"hotdash build {' '.join(args)} failed:\n{stdout[-3000:]}{stderr[-3000:]}")
    with db.connect(target) as conn:
        (steps,) = conn.execute(
            "select steps from ops.build_runs order by started_at desc limit 1"
        ).fetchone()
    seconds = {step["name"]: float(step["seconds"]) for step in steps}
    seconds["contracts (3 steps)"] = sum(seconds.get(name, 0.0) for name in CONTRACT_STEPS)
    seconds["dbt (3 steps)"] = sum(seconds.get(name, 0.0) for name in DBT_STEPS)
    seconds["process, wall clock"] = wall
    seconds["runner peak RSS, MB"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return seconds


class DemoStream:
    """One stream of demo facts, loaded in parts: the first `facts` of it, then each night's
    `share` of that many more.

    The stream is generated once for the base and every night together, so a night's facts are
    the ones that follow the base in time, as a store sends them: new orders of the same
    customers, catalog and order ids that go on from the last, updates, refunds and restocks of
    what came before. (A stream generated for another length, or another seed, is another store:
    its catalog and its order ids would overwrite the base's.)"""

    def __init__(self, facts: int, share: float, nights: int, seed: int, shops: int) -> None:
        from hotdash_demo import iter_demo_facts

        self.facts = facts
        self.per_night = max(1, int(facts * share))
        self._rows = iter_demo_facts(facts + nights * self.per_night, shops=shops, seed=seed)

    def _copy(self, target: db.Target, count: int) -> int:
        with db.connect(target) as conn, conn.transaction():
            return copy_facts(conn, islice(self._rows, count))

    def load_base(self, target: db.Target) -> None:
        """What `hotdash demo` does: the facts, then VACUUM (ANALYZE) of the table."""
        vacuum_after_load(target, self._copy(target, self.facts))

    def add_night(self, target: db.Target) -> int:
        """The next night's new facts, committed at once, as the app's inserts are."""
        return self._copy(target, self.per_night)


def fuzz(cases: int) -> None:
    """The fuzz corpus at `cases` cases, in databases bench_fuzz and bench_fuzz_good."""
    from runner.ops import ensure_ops_tables
    from tests.fuzz_corpus import BuildFailed, check_corpus, generate_corpus

    base = db.resolve_target()
    targets = []
    for dbname in ("bench_fuzz", "bench_fuzz_good"):
        db.drop_database(db.embedded_target(base.project_dir, base.home, dbname=dbname))
        target = db.embedded_target(base.project_dir, base.home, dbname=dbname)
        with db.connect(target) as conn:
            ensure_facts_table(conn)
            ensure_ops_tables(conn)
        targets.append(target)
    corpus: list = []
    drawn = timed(lambda: corpus.extend(generate_corpus(cases)))
    try:
        report = check_corpus(*targets, corpus)
    except BuildFailed as exc:
        sys.exit(f"a fuzzed payload failed the build:\n{exc}")
    for target in targets:
        db.drop_database(target)
    lost = len(report.lost)
    print(
        f"cases {report.cases:,}  facts {report.facts:,} (draw {drawn:.1f} s,"
        f" build {report.build_seconds:.1f} s)"
    )
    print(
        f"staged {report.staged:,}  quarantined {report.quarantined:,}"
        f"  ignored {report.ignored:,}  lost {lost:,}"
    )
    print(
        f"good-shop marts unchanged: {'yes' if report.good_marts_unchanged else 'no'}"
        + (f" ({', '.join(report.marts_differ)} differ)" if report.marts_differ else "")
    )
    problems = [f"blank reasons: {report.blank_reasons}"] if report.blank_reasons else []
    problems += report.bad_numbers + report.wide_ids
    problems += [f"lost fact ids: {report.lost[:20]}"] if lost else []
    if problems or not report.good_marts_unchanged:
        sys.exit("\n".join(problems or ["the good shop's marts changed"]))


def live(facts: int, seed: int, writers: int = 2) -> None:
    """Builds under load, in database bench_live: readers and writers next to `hotdash build`."""
    import threading

    from tests.live_load import READERS, WriterStats, mart_counts, reader, unjudged, writer

    base = db.resolve_target()
    dbname = "bench_live"
    db.drop_database(db.embedded_target(base.project_dir, base.home, dbname=dbname))
    target = db.embedded_target(base.project_dir, base.home, dbname=dbname)
    with db.connect(target) as conn:
        ensure_facts_table(conn)
    loaded = timed(lambda: load_demo_into(target, facts, seed))
    print(f"loaded {facts:,} facts in {loaded:.1f} s", file=sys.stderr)
    first = hotdash_build(target, dbname, "--skip-contracts")["process, wall clock"]
    print(f"first build {first:.1f} s; readers and writers start", file=sys.stderr)

    with db.connect(target) as conn:
        marts = [
            f"marts.{name}"
            for (name,) in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'marts' and table_type = 'BASE TABLE'"
                # the records of what builds found (alerts, snapshots) are not built from facts
                " and table_name <> all(%s) order by 1",
                (list(settings.BUILD_RECORDS),),
            )
        ]
        shops = [
            s for (s,) in conn.execute("select distinct shop_domain from marts.growth_metrics")
        ]
    allowed: dict[tuple[str, str], set[int]] = {}

    def remember_counts() -> None:
        for shop in shops:
            for mart, count in mart_counts(target, marts, shop).items():
                allowed.setdefault((shop, mart), set()).add(count)

    remember_counts()
    stop = threading.Event()
    seen: dict[tuple[str, str], list[tuple[str, int]]] = {}
    errors: list[str] = []
    stats = [WriterStats() for _ in range(writers)]
    threads = [
        threading.Thread(target=writer, args=(target, seed + 100 + i, stop, stats[i]))
        for i in range(writers)
    ]
    for role in READERS:
        for shop in shops:
            rows = seen.setdefault((role, shop), [])
            threads.append(
                threading.Thread(
                    target=reader, args=(target, role, shop, marts, stop, rows, errors)
                )
            )
    for thread in threads:
        thread.start()
    walls = {}
    try:
        walls["hotdash build --full-refresh (under load)"] = hotdash_build(
            target, dbname, "--full-refresh"
        )["process, wall clock"]
        remember_counts()
        walls["hotdash build (under load)"] = hotdash_build(target, dbname)["process, wall clock"]
        remember_counts()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    walls["hotdash build (after the writers stopped)"] = hotdash_build(target, dbname)[
        "process, wall clock"
    ]
    with db.connect(target) as conn:
        total = conn.execute("select count(*) from facts").fetchone()[0]
    lost = unjudged(target)
    queries = sum(len(rows) for rows in seen.values())
    wrong = sum(
        1
        for (_, shop), rows in seen.items()
        for mart, count in rows
        if count not in allowed[(shop, mart)]
    )
    committed = sum(s.committed for s in stats)
    print(f"\nlive database, {facts:,} facts loaded; {len(threads) - writers} readers")
    for name, seconds in walls.items():
        print(f"{name:<48} {seconds:8.1f} s")
    print(
        f"writers: {committed:,} facts committed, {sum(s.rolled_back for s in stats):,} rolled back"
    )
    print(f"facts: {total:,} (= {facts:,} + {committed:,}: {total == facts + committed})")
    print(
        f"reader queries {queries:,}  reader errors {len(errors)}  counts neither old nor new {wrong}"
    )
    print(f"facts lost (of a staged topic, never judged) {lost}")
    for message in sorted(set(errors))[:10]:
        print("  " + message)
    db.drop_database(target)
    if errors or wrong or lost or total != facts + committed or any(s.errors for s in stats):
        sys.exit("the live database lost facts or readers saw errors")


class BackendMemory:
    """Samples the PostgreSQL processes' memory while a build runs: the largest peak resident
    set (VmHWM, which counts the shared buffers a backend touched) and the largest private
    memory (RssAnon) of any one process."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_private_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> BackendMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    fields = dict(
                        line.split(":", 1)
                        for line in status.read_text().splitlines()
                        if ":" in line
                    )
                except OSError:
                    continue
                if fields.get("Name", "").strip() != "postgres":
                    continue
                hwm = int(fields.get("VmHWM", "0 kB").split()[0])
                private = int(fields.get("RssAnon", "0 kB").split()[0])
                self.peak_rss_kb = max(self.peak_rss_kb, hwm)
                self.peak_private_kb = max(self.peak_private_kb, private)
            self._stop.wait(self.interval)


# The operator's tiles (README "Security": the operator reads every mart of its shop).
TILE_QUERIES = {
    "sales: months against the goal": "select month, net_revenue, cumulative_net_revenue,"
    " pct_of_goal, projected_goal_date from marts.growth_metrics order by month desc limit 12",
    "inventory: capital by action": "select recommended_action, count(*), sum(capital_tied_up),"
    " sum(potential_cash_recovery) from marts.inventory_alerts group by 1",
    "inventory: daily top alerts": "select * from marts.inventory_alerts where in_daily_email"
    " order by capital_rank limit 10",
    "customers: segment breakdown": "select primary_segment, lifecycle_stage, customers,"
    " net_revenue from marts.customer_segment_summary",
    "customers: top by net revenue": "select customer_id, net_revenue from marts.customer_segments"
    " order by net_revenue desc limit 20",
    "marketing: campaign counts": "select campaign, count(*) from marts.marketing_targets"
    " group by 1",
    "products: velocity by category": "select category_l1, inventory_velocity, count(*)"
    " from marts.product_categories group by 1, 2",
    "kpi tiles: today's five": "select tile, headline_value, headline_label, comparison_value,"
    " comparison_label, status, explanation, figures from marts.kpi_tiles where is_as_of_day",
    "kpi tiles: sales history": "select tile_date, headline_value, status from marts.kpi_tiles"
    " where tile = 'sales' order by tile_date",
    "seo: dropped pages": "select page_path, clicks_last_7_days, clicks_prior_7_days,"
    " clicks_change_share from marts.seo_dropped_pages order by drop_rank limit 20",
    "monitoring: freshness": "select * from marts.monitor_freshness",
    "monitoring: open alerts": "select * from marts.monitor_open_alerts",
}


def tile_p95(target: db.Target, runs: int) -> dict[str, float]:
    """p95 milliseconds of each tile query as the operator role of the first shop."""
    from psycopg import sql

    model = settings.of(target).security
    with db.connect(target) as conn:
        (shop,) = conn.execute("select min(shop_domain) from marts.growth_metrics").fetchone()
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(model.roles.operator)))
        conn.execute("select set_config(%s, %s, false)", (model.shop_setting, shop))
        result = {}
        for name, statement in TILE_QUERIES.items():
            for _ in range(3):
                conn.execute(statement).fetchall()
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                conn.execute(statement).fetchall()
                times.append((time.perf_counter() - start) * 1000)
            result[name] = statistics.quantiles(times, n=20)[-1]
        return result


def machine_check(target: db.Target) -> float:
    """Seconds of one backend counting 5M generated rows, the best of 3: the machine's speed at
    that moment, printed beside every report's figures so that reports of different days (and a
    drift within one) can be told apart from a change of the build."""
    with db.connect(target) as conn:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            conn.execute("select count(*) from generate_series(1, 5000000)").fetchone()
            times.append(time.perf_counter() - started)
    return min(times)


def dbt_startup(target: db.Target, dbname: str) -> float:
    """Seconds of `dbt parse` in a process of its own with nothing changed: dbt's own start-up."""
    env = process_env(target, dbname)
    command = [
        sys.executable,
        "-c",
        "import sys; from runner import db, dbt;"
        " dbt.require_success(dbt.invoke(db.resolve_target(), ['parse']))",
    ]
    subprocess.run(command, env=env, cwd=target.project_dir, check=True)  # settle partial parsing
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=target.project_dir, check=True)
    return time.perf_counter() - started


# No parallel workers in the judge's sessions: its query, indexes and ANALYZE on one core.
ONE_CORE = "-c max_parallel_workers_per_gather=0 -c max_parallel_maintenance_workers=0"


def judge_one_core(target: db.Target, dbname: str) -> float:
    """Seconds of the judge's model alone, rebuilt whole on one core (`dbt run --select
    facts_triage --full-refresh`, in a process of its own with PGOPTIONS ruling out parallel
    workers): its query, its two indexes and ANALYZE, as dbt timed the node. It leaves the
    verdicts rebuilt behind the staging models: only a full refresh may follow."""
    env = process_env(target, dbname, PGOPTIONS=ONE_CORE)
    code = (
        "from runner import db, dbt;"
        " run = dbt.invoke(db.resolve_target(),"
        " ['run', '--select', 'facts_triage', '--full-refresh']);"
        " dbt.require_success(run);"
        " print(next(n.seconds for n in run.nodes if n.name == 'facts_triage'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=target.project_dir,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.split()[-1])


def paired_runs(
    target: db.Target, dbname: str, as_of: str, pairs: int
) -> list[tuple[float, float]]:
    """`pairs` runs of the plain SQL floor, each next to a `hotdash build --full-refresh` of the
    same facts (the project parsed partially, as on a scheduled full refresh), the two in turn
    first: (the full refresh's seconds, the floor's), pair by pair. On a machine whose speed
    drifts by the minute (the floor at 1M took 10 to 25 s in one day on the machine of README
    "Performance"), a ratio of two runs minutes apart moves with the drift; runs side by side
    share it."""

    def floor() -> float:
        return plain_sql.run(target, as_of_date=as_of)["total"]

    def full() -> float:
        return hotdash_build(target, dbname, "--full-refresh")["process, wall clock"]

    runs = []
    for pair in range(pairs):
        print(f"pair {pair + 1} of {pairs}: the floor and a full refresh", file=sys.stderr)
        if pair % 2 == 0:
            floor_seconds = floor()
            runs.append((full(), floor_seconds))
        else:
            full_seconds = full()
            runs.append((full_seconds, floor()))
    return runs


def report(sizes: list[int], seed: int, share: float, tile_runs: int, pairs: int = 3) -> None:
    """The performance report: every figure of README "Performance" at each size."""
    base = db.resolve_target()
    columns: dict[int, dict[str, float | str]] = {}
    for size in sizes:
        dbname = f"bench_report_{size}"
        db.drop_database(db.embedded_target(base.project_dir, base.home, dbname=dbname))
        target = db.embedded_target(base.project_dir, base.home, dbname=dbname)
        with db.connect(target) as conn:
            ensure_facts_table(conn)
        figures: dict[str, float | str] = {}
        columns[size] = figures
        figures["machine: 5M generated rows counted, at the start"] = machine_check(target)
        # two nights of new facts follow the base
        stream = DemoStream(size, share, nights=2, seed=seed, shops=2)
        figures["generate+load facts"] = timed(lambda s=stream, t=target: s.load_base(t))
        as_of = dt.datetime.now(dt.UTC).date().isoformat()  # var reporting_timezone: UTC
        print(f"{size:,} facts loaded; the plain SQL floor", file=sys.stderr)
        plain = plain_sql.run(target, as_of_date=as_of)
        figures["plain SQL floor"] = sum(plain.values()) if "total" not in plain else plain["total"]
        print("hotdash build --full-refresh", file=sys.stderr)
        with BackendMemory() as memory:
            full = hotdash_build(target, dbname, "--full-refresh")
        differ = plain_sql.compare(target)
        figures["plain SQL tables equal dbt's"] = "yes" if not differ else ", ".join(differ)
        figures["full: wall clock"] = full["process, wall clock"]
        for step in ("load project", "judge facts", "dbt build", "contracts (3 steps)"):
            figures[f"full: {step}"] = full[step]
        with db.connect(target) as conn:
            nodes = dict(
                conn.execute(
                    "select name, seconds from ops.build_run_nodes"
                    " where run_id = (select run_id from ops.build_runs order by started_at desc"
                    " limit 1)"
                ).fetchall()
            )
            (judged,) = conn.execute("select count(*) from ops.facts_triage").fetchone()
        staging = {name: sec for name, sec in nodes.items() if name.startswith("stg_")}
        slowest = max(staging, key=staging.get)
        figures["full: judge (facts_triage model)"] = nodes["facts_triage"]
        figures["judge: facts per second"] = judged / nodes["facts_triage"]
        figures["full: slowest staging model"] = staging[slowest]
        figures["slowest staging model"] = slowest.removeprefix("stg_shopify__")
        print("hotdash build, no new facts", file=sys.stderr)
        with BackendMemory() as noop_memory:
            noop = hotdash_build(target, dbname)
        figures["no new facts: wall clock"] = noop["process, wall clock"]
        figures["dbt start-up (dbt parse, nothing changed)"] = dbt_startup(target, dbname)
        figures["full: wall clock, --skip-contracts"] = hotdash_build(
            target,
            dbname,
            "--full-refresh",
            "--skip-contracts",
        )["process, wall clock"]
        # The ratio the goal is stated in, from runs side by side (paired_runs).
        if pairs:
            runs = paired_runs(target, dbname, as_of, pairs)
            ratios = [full / floor for full, floor in runs]
            figures[f"paired: full refresh, median of {pairs}"] = statistics.median(
                full for full, _ in runs
            )
            figures[f"paired: plain SQL floor, median of {pairs}"] = statistics.median(
                floor for _, floor in runs
            )
            figures[f"ratio: full / floor, median of {pairs} pairs (goal <= 2)"] = (
                statistics.median(ratios)
            )
            figures["... lowest / highest pair"] = f"{min(ratios):.2f} / {max(ratios):.2f}"
        # The first build of a database parses the project whole (dbt keeps one partial parse,
        # for the database it last parsed for); a scheduled full refresh of it parses partially.
        again = hotdash_build(target, dbname, "--full-refresh")
        figures["full again, project parsed: wall clock"] = again["process, wall clock"]
        figures["full again: load project"] = again["load project"]
        figures["append new facts"] = timed(lambda s=stream, t=target: s.add_night(t))
        print(f"hotdash build after {share:.0%} new facts", file=sys.stderr)
        with BackendMemory() as inc_memory:
            inc = hotdash_build(target, dbname)
        figures[f"+{share:.0%}: wall clock"] = inc["process, wall clock"]
        for step in ("judge facts", "dbt build", "contracts (3 steps)"):
            figures[f"+{share:.0%}: {step}"] = inc[step]
        # The first night after a full refresh, then the next, which is every night after.
        stream.add_night(target)
        with BackendMemory() as next_memory:
            after = hotdash_build(target, dbname)
        figures[f"+{share:.0%} the next night: wall clock"] = after["process, wall clock"]
        for step in ("judge facts", "dbt build", "contracts (3 steps)"):
            figures[f"+{share:.0%} the next night: {step}"] = after[step]
        figures["no new facts, a later night: wall clock"] = hotdash_build(target, dbname)[
            "process, wall clock"
        ]
        figures["runner peak RSS, MB"] = max(
            run["runner peak RSS, MB"] for run in (full, noop, inc, after)
        )
        figures["largest PostgreSQL backend peak RSS, MB"] = (
            max(m.peak_rss_kb for m in (memory, noop_memory, inc_memory, next_memory)) / 1024
        )
        figures["... of it private (RssAnon), MB"] = (
            max(m.peak_private_kb for m in (memory, noop_memory, inc_memory, next_memory)) / 1024
        )
        for name, p95 in tile_p95(target, tile_runs).items():
            figures[f"tile p95 ms: {name}"] = p95
        # the ratios the goals are stated in
        figures["ratio: full / plain SQL (goal <= 2)"] = (
            figures["full: wall clock"] / figures["plain SQL floor"]
        )
        figures["ratio: full again / plain SQL (goal <= 2)"] = (
            figures["full again, project parsed: wall clock"] / figures["plain SQL floor"]
        )
        figures[f"ratio: +{share:.0%} / full (goal <= 0.10)"] = (
            figures[f"+{share:.0%}: wall clock"] / figures["full: wall clock"]
        )
        figures[f"ratio: +{share:.0%} the next night / full (goal <= 0.10)"] = (
            figures[f"+{share:.0%} the next night: wall clock"] / figures["full: wall clock"]
        )
        # A night runs at least what a build with no new facts runs (that one skips the dbt
        # build step): the least a night's ratio to the full refresh can be.
        figures["ratio: no new facts / full (a night's least)"] = (
            figures["no new facts, a later night: wall clock"] / figures["full: wall clock"]
        )
        startup = figures["dbt start-up (dbt parse, nothing changed)"]
        figures["no new facts beyond dbt start-up, s (goal <= 5)"] = (
            figures["no new facts: wall clock"] - startup
        )
        figures["... a later night, s (goal <= 5)"] = (
            figures["no new facts, a later night: wall clock"] - startup
        )
        figures["full: seconds per 1k facts"] = figures["full: wall clock"] / size * 1000
        # Last: it rebuilds the verdicts, and autovacuum then reads the new table for a while (a
        # full refresh renaming it meanwhile waits for autovacuum to be cancelled, 1 s).
        print("the judge alone on one core", file=sys.stderr)
        one_core = judge_one_core(target, dbname)
        figures["judge alone on one core (facts_triage model)"] = one_core
        figures["judge on one core: facts per second (goal >= 50k)"] = judged / one_core
        figures["machine: 5M generated rows counted, at the end"] = machine_check(target)
        db.drop_database(target)

    print(f"\nperformance report; {os.cpu_count()} cores; seed {seed}")
    names = list(next(iter(columns.values())))
    print(f"{'figure (seconds unless named)':<52}" + "".join(f"{size:>14,}" for size in sizes))
    for name in names:
        cells = []
        for size in sizes:
            value = columns[size].get(name, "")
            cells.append(f"{value:>14.2f}" if isinstance(value, float) else f"{value!s:>14}")
        print(f"{name:<52}" + "".join(cells))


def load_demo_into(target: db.Target, facts: int, seed: int, shops: int = 2) -> None:
    """What `hotdash demo` does: the facts, then VACUUM (ANALYZE) of the table."""
    with db.connect(target) as conn:
        loaded = load_demo(conn, facts, shops=shops, seed=seed)
    vacuum_after_load(target, loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--select", nargs="+", default=["staging", "facts_quarantine"])
    parser.add_argument("--incremental-share", type=float, default=0.01)
    parser.add_argument(
        "--pipeline", action="store_true", help="time `hotdash build` step by step instead"
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="build --facts under readers and writers; print reader errors and lost facts",
    )
    parser.add_argument(
        "--fuzz", type=int, metavar="N", help="build N fuzz corpus cases and count what was lost"
    )
    parser.add_argument(
        "--report", action="store_true", help="the performance report at each of --sizes"
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000], metavar="N"
    )
    parser.add_argument("--tile-runs", type=int, default=50)
    parser.add_argument(
        "--pairs",
        type=int,
        default=3,
        metavar="N",
        help="--report: N runs of the floor side by side with a full refresh (0: none)",
    )
    parser.add_argument(
        "--tiles",
        action="store_true",
        help="only the tile queries' p95, on the database already built ($HOTDASH_DATABASE)",
    )
    args = parser.parse_args()
    if args.tiles:
        target = db.resolve_target()
        with db.connect(target) as conn:
            (facts,) = conn.execute("select count(*) from facts").fetchone()
        print(
            f"tile queries on {target.redacted()} ({facts:,} facts), p95 of {args.tile_runs} runs:"
        )
        for name, p95 in tile_p95(target, args.tile_runs).items():
            print(f"  {name:<40} {p95:8.2f} ms")
        return
    if args.report:
        report(args.sizes, args.seed, args.incremental_share, args.tile_runs, args.pairs)
        return
    if args.live:
        live(args.facts, args.seed)
        return
    if args.fuzz:
        fuzz(args.fuzz)
        return

    base = db.resolve_target()
    figures: dict[str, list[float]] = {}
    share = args.incremental_share
    # --pipeline: the same facts built twice, with contracts and with --skip-contracts, in two
    # databases; what the contracts cost is the difference in wall clock.
    variants = (
        [("", ()), (" (--skip-contracts)", ("--skip-contracts",))] if args.pipeline else [("", ())]
    )
    for i in range(args.repeat):
        for label, extra in variants:
            dbname = f"bench_{i}" + ("_skip" if extra else "")
            target = db.embedded_target(base.project_dir, base.home, dbname=dbname)
            db.drop_database(target)
            target = db.embedded_target(base.project_dir, base.home, dbname=dbname)
            with db.connect(target) as conn:
                ensure_facts_table(conn)

            stream = DemoStream(args.facts, share, nights=1, seed=args.seed, shops=1)
            loaded = timed(lambda target=target, stream=stream: stream.load_base(target))
            if not extra:
                figures.setdefault(f"generate+load {args.facts:,} facts", []).append(loaded)

            def measure(
                run: str, *build_args: str, target=target, dbname=dbname, label=label, extra=extra
            ) -> None:
                """One build, as `hotdash build` (step by step) or as a dbt build of --select."""
                if not args.pipeline:
                    figures.setdefault(f"build {run}", []).append(
                        timed(lambda: build(target, args.select, *build_args))
                    )
                    return
                steps = hotdash_build(target, dbname, *build_args, *extra)
                figures.setdefault(f"{run}: wall clock{label}", []).append(
                    steps.pop("process, wall clock")
                )
                if not extra:
                    for name, value in steps.items():
                        figures.setdefault(f"{run}: {name}", []).append(value)

            measure("full", "--full-refresh")
            appended = timed(lambda target=target, stream=stream: stream.add_night(target))
            if not extra:
                figures.setdefault(f"append {share:.0%} new facts", []).append(appended)
            measure(f"+{share:.0%}")
            db.drop_database(target)
        print(f"run {i + 1}/{args.repeat} done", file=sys.stderr)

    if args.pipeline:
        for run in ("full", f"+{share:.0%}"):
            with_contracts = figures[f"{run}: wall clock"]
            without = figures[f"{run}: wall clock (--skip-contracts)"]
            figures[f"{run}: contracts' share of wall clock %"] = [
                100 * (w - wo) / w for w, wo in zip(with_contracts, without, strict=True)
            ]

    scope = "hotdash build" if args.pipeline else f"select: {' '.join(args.select)}"
    print(f"\n{scope}; {args.repeat} runs")
    print(f"{'figure (seconds)':<48} {'min':>8} {'median':>8} {'max':>8}")
    for name, values in figures.items():
        print(f"{name:<48} {min(values):8.1f} {statistics.median(values):8.1f} {max(values):8.1f}")


if __name__ == "__main__":
    main()
