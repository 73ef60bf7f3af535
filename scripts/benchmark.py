"""Speed figures: generate+load demo facts, build staging full and incrementally, build the rest.

Usage: python scripts/benchmark.py --facts 1000000 [--repeat 3] [--select staging ...]
       python scripts/benchmark.py --facts 1000000 --pipeline   # `hotdash build`, step by step

Each figure runs in a fresh database `bench_<n>` on the embedded server (or the configured
profile's server) and prints min / median / max seconds over the repeats.

--pipeline runs the whole nightly job, `hotdash build --full-refresh` and then `hotdash build`
after the new facts, each in a process of its own as a scheduler would, and reports every step
(from ops.build_runs) plus the contract steps against the dbt steps.

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
        "--fuzz", type=int, metavar="N", help="build N fuzz corpus cases and count what was lost"
    )
    args = parser.parse_args()
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
