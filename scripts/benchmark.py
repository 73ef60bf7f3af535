"""Speed figures: generate+load demo facts, build staging full and incrementally, build the rest.

Usage: python scripts/benchmark.py --facts 1000000 [--repeat 3] [--select staging ...]
       python scripts/benchmark.py --facts 1000000 --pipeline   # `hotdash build`, step by step

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
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner import db, dbt
from runner.facts import copy_facts, ensure_facts_table, load_demo


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build(target: db.Target, select: list[str], *extra: str) -> None:
    run = dbt.invoke(target, ["build", "--select", *select, *extra])
    dbt.require_success(run)


CONTRACT_STEPS = ("facts contracts", "payload contracts", "mart contracts")
DBT_STEPS = ("load project", "judge facts", "dbt build")


def hotdash_build(target: db.Target, dbname: str, *args: str) -> dict[str, float]:
    """`hotdash build ARGS` in a process of its own; the seconds of each step, from ops."""
    env = {**os.environ, "HOTDASH_DATABASE": dbname, "HOTDASH_HOME": str(target.home)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli", "build", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=target.project_dir,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(
            f"hotdash build {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    with db.connect(target) as conn:
        (steps,) = conn.execute(
            "select steps from ops.build_runs order by started_at desc limit 1"
        ).fetchone()
    seconds = {step["name"]: float(step["seconds"]) for step in steps}
    seconds["contracts (3 steps)"] = sum(seconds.get(name, 0.0) for name in CONTRACT_STEPS)
    seconds["dbt (3 steps)"] = sum(seconds.get(name, 0.0) for name in DBT_STEPS)
    seconds["process, wall clock"] = wall
    return seconds


def add_new_facts(target: db.Target, share: float, seed: int) -> int:
    """Append `share` new facts: the tail of a longer generated stream, so they are realistic."""
    from runner.demo import iter_demo_facts

    with db.connect(target) as conn:
        total = conn.execute("select count(*) from facts").fetchone()[0]
        extra = max(1, int(total * share))
        stream = iter_demo_facts(total + extra, seed=seed + 1)
        rows = (row for i, row in enumerate(stream) if i >= total)
        with conn.transaction():
            return copy_facts(conn, rows)


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
                " where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
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


def load_demo_into(target: db.Target, facts: int, seed: int) -> None:
    with db.connect(target) as conn:
        load_demo(conn, facts, shops=2, seed=seed)


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
    args = parser.parse_args()
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

            def load(target: db.Target = target) -> None:
                with db.connect(target) as conn:
                    load_demo(conn, args.facts, seed=args.seed)

            loaded = timed(load)
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
            appended = timed(
                lambda target=target, share=share: add_new_facts(target, share, args.seed)
            )
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
