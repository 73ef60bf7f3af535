"""Terminal output of the CLI: live progress on a terminal, plain lines in CI or a pipe, tables.

The only module besides cli.py that knows about the terminal; the library reports through
listeners and callbacks, and this module draws what they report.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from runner import dbt
from runner.doctor import Check
from runner.load import LoadProgress
from runner.ops import RunSummary
from runner.pipeline import BuildListener, StepResult
from runner.status import Freshness

FAILED = ("error", "fail", "runtime error", "failed")
MAX_MESSAGES = 5
MAX_MESSAGE_LINES = 4
SUMMARY_CHARS = 100
PLAIN_PROGRESS_SECONDS = 5.0
UNCOUNTED = ("unit_test",)  # dbt runs them besides the nodes it counts for "N of M"
COLORS = {
    "success": "green",
    "pass": "green",
    "ok": "green",
    "fresh": "green",
    "warn": "yellow",
    "skipped": "dim",
    "running": "cyan",
    "cancelled": "yellow",
    "abandoned": "red",
}


def color(status: str) -> str:
    return COLORS.get(status, "red" if status in (*FAILED, "stale") else "white")


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def styled(status: str) -> str:
    return f"[{color(status)}]{escape(status)}[/]"


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """A fixed-width text table for logs: no box characters, no wrapping."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def print_table(
    console: Console,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: set[int] = frozenset(),  # type: ignore[assignment]
    status_col: int | None = None,
) -> None:
    """A rich table on a terminal, a plain one elsewhere (CI logs, pipes, files)."""
    if not console.is_terminal:
        text = f"{title}\n{plain_table(headers, rows, right)}"
        console.print(text, highlight=False, markup=False, soft_wrap=True)
        return
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in right else "left")
    for row in rows:
        cells = [escape(c) for c in row]
        if status_col is not None:
            cells[status_col] = styled(row[status_col])
        table.add_row(*cells)
    console.print(table)


# --- build ----------------------------------------------------------------------------------


class PlainBuildDisplay(BuildListener):
    """One line per step and per finished node: readable in CI logs and pipes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.total = 0
        self.done = 0
        self.lock = threading.Lock()  # dbt reports nodes from its worker threads

    def waiting_for_lock(self, holder) -> None:  # holder: runner.lock.Holder | None
        running = holder.describe() if holder is not None else "another build"
        self.console.print(f"waiting for the running build to finish: {running}", highlight=False)

    def __enter__(self) -> PlainBuildDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def step_started(self, name: str) -> None:
        self._print(f"==> {name}")
        self.total = self.done = 0

    def nodes_selected(self, count: int) -> None:
        self.total = count

    def node_event(self, event: dbt.NodeEvent) -> None:
        if not event.finished:
            return
        with self.lock:
            if event.resource_type in UNCOUNTED:
                position = "unit"
            else:
                self.done += 1
                position = f"{self.done}/{self.total or '?'}"
            width = 2 * len(str(self.total or self.done)) + 1
            self._print(
                f"  [{position:>{width}}] {event.status:<7} "
                f"{event.resource_type:<8} {event.name} ({event.seconds:.2f}s)"
            )

    def step_finished(self, result: StepResult) -> None:
        detail = f": {result.summary}" if result.summary else ""
        self._print(f"<== {result.name} {result.status} in {result.seconds:.1f}s{detail}")


class LiveBuildDisplay(BuildListener):
    """A live bar of the running step and nodes; finished steps and failures scroll above it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("starting", total=None)
        self.step = ""
        self.running: dict[str, str] = {}
        self.lock = threading.Lock()  # dbt reports nodes from its worker threads

    def waiting_for_lock(self, holder) -> None:  # holder: runner.lock.Holder | None
        running = holder.describe() if holder is not None else "another build"
        self.console.print(f"waiting for the running build to finish: {running}", highlight=False)

    def __enter__(self) -> LiveBuildDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _describe(self) -> None:
        names = ", ".join(list(self.running.values())[:3])
        description = f"[bold]{escape(self.step)}[/]" + (f" {escape(names)}" if names else "")
        self.progress.update(self.task, description=description)

    def step_started(self, name: str) -> None:
        self.step = name
        self.running.clear()
        self.progress.reset(self.task, total=None)
        self._describe()

    def nodes_selected(self, count: int) -> None:
        self.progress.update(self.task, total=count)

    def node_event(self, event: dbt.NodeEvent) -> None:
        with self.lock:
            if not event.finished:
                self.running[event.unique_id] = event.name
            else:
                self.running.pop(event.unique_id, None)
                if event.resource_type not in UNCOUNTED:
                    self.progress.advance(self.task)
                if event.status in FAILED or event.status == "warn":
                    self.progress.console.print(
                        f"  {styled(event.status)} {event.resource_type} {escape(event.name)}"
                    )
            self._describe()

    def step_finished(self, result: StepResult) -> None:
        mark = {"success": "[green]✓[/]", "skipped": "[dim]-[/]"}.get(result.status, "[red]✗[/]")
        detail = f" [dim]{escape(result.summary)}[/]" if result.summary else ""
        self.progress.console.print(
            f"{mark} {escape(result.name)} [dim]{result.seconds:.1f}s[/]{detail}"
        )


def build_display(console: Console) -> PlainBuildDisplay | LiveBuildDisplay:
    return LiveBuildDisplay(console) if console.is_terminal else PlainBuildDisplay(console)


def print_nodes(console: Console, nodes: Sequence[dbt.NodeResult]) -> None:
    """Every node with status, rows affected and seconds; then the messages of failures."""
    rows = []
    for node in nodes:
        status = node.status
        if node.failures and node.resource_type == "test":
            status = f"{status} ({node.failures})"
        rows.append(
            [
                node.name,
                node.resource_type,
                status,
                "" if node.rows_affected is None else f"{node.rows_affected:,}",
                f"{node.seconds:.2f}",
            ]
        )
    if rows:
        print_table(
            console, "dbt nodes", ["node", "type", "status", "rows", "seconds"], rows, {3, 4}, 2
        )
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.status] = counts.get(node.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    console.print(f"{len(nodes)} nodes: {summary or 'none'}", highlight=False, markup=False)
    failed = [node for node in nodes if node.status in FAILED and node.message]
    for node in failed[:MAX_MESSAGES]:
        lines = node.message.strip().splitlines()[:MAX_MESSAGE_LINES]
        console.print(
            f"{node.status} in {node.name}: " + "\n  ".join(line.strip() for line in lines),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if len(failed) > MAX_MESSAGES:
        console.print(f"... and {len(failed) - MAX_MESSAGES} more failures in logs/dbt.log")


def print_steps(console: Console, steps: Sequence[StepResult], seconds: float) -> None:
    rows = [[s.name, s.status, f"{s.seconds:.1f}", shorten(s.summary)] for s in steps]
    print_table(console, "steps", ["step", "status", "seconds", "summary"], rows, {2}, 1)
    console.print(f"build finished in {seconds:.1f}s", highlight=False, markup=False)


# --- load -----------------------------------------------------------------------------------


class LoadDisplay:
    """Bytes read and facts loaded: a bar on a terminal, a line per report elsewhere."""

    def __init__(self, console: Console, label: str, unit: str = "facts") -> None:
        self.console = console
        self.label = label
        self.unit = unit  # what LoadProgress.facts counts: facts, or lines (hotdash backfill)
        self.start = self.last_line = time.monotonic()
        self.progress: Progress | None = None
        if console.is_terminal:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[facts]:,} " + unit),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.task = self.progress.add_task(escape(label), total=None, facts=0)

    def __enter__(self) -> LoadDisplay:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, report: LoadProgress) -> None:
        if self.progress is not None:
            self.progress.update(
                self.task,
                total=report.total_bytes,
                completed=report.bytes_read,
                facts=report.facts,
            )
            return
        now = time.monotonic()
        if not report.done and now - self.last_line < PLAIN_PROGRESS_SECONDS:
            return
        self.last_line = now
        rate = report.facts / max(now - self.start, 1e-9)
        share = (
            f", {report.bytes_read / report.total_bytes:.0%} of the file"
            if report.total_bytes
            else ""
        )
        self.console.print(
            f"{self.label}: {report.facts:,} {self.unit} ({rate:,.0f}/s{share})",
            highlight=False,
            markup=False,
        )


# --- status and doctor ----------------------------------------------------------------------


def age(delta: dt.timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "in the future"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds % 60}s" if minutes else f"{seconds}s"


def print_runs(console: Console, runs: Sequence[RunSummary]) -> None:
    if not runs:
        console.print("no builds recorded yet (`hotdash build` records them in ops.build_runs)")
        return
    rows = [
        [
            r.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            "" if r.seconds is None else f"{r.seconds:.1f}",
            str(r.nodes),
            str(r.failed_nodes),
            " ".join(r.command_args),
            shorten(r.error_message or "", 80),
        ]
        for r in runs
    ]
    print_table(
        console,
        "recent builds (UTC)",
        ["started", "status", "seconds", "nodes", "failed", "command", "error"],
        rows,
        {2, 3, 4},
        1,
    )


def print_freshness(console: Console, rows: Sequence[Freshness]) -> None:
    if not rows:
        console.print("no facts yet")
        return
    print_table(
        console,
        "source freshness (newest fact per shop and topic, UTC)",
        ["shop", "topic", "newest fact", "age", "status"],
        [
            [
                f.shop_domain,
                f.topic,
                f.latest_created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                age(f.age),
                f.status,
            ]
            for f in rows
        ],
        {3},
        4,
    )


def print_checks(console: Console, checks: Sequence[Check]) -> None:
    width = max(len(c.name) for c in checks)
    for check in checks:
        hint = f"  (fix: {check.hint})" if check.hint and check.status != "ok" else ""
        if console.is_terminal:
            console.print(
                f"[{color(check.status)}]{check.status:<4}[/] {escape(check.name.ljust(width))}  "
                f"{escape(check.detail)}[yellow]{escape(hint)}[/]"
            )
        else:
            console.print(
                f"{check.status:<4} {check.name.ljust(width)}  {check.detail}{hint}",
                highlight=False,
                markup=False,
            )
