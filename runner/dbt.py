"""dbt invocation: in-process through dbtRunner, with per-node results the runner can report."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.db import Target
from runner.errors import BuildError

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
"""Colour codes dbt puts in some messages (unit test diffs); stripped for logs and ops tables."""


@dataclass(frozen=True)
class NodeResult:
    """One node of a dbt invocation: a model, seed, test, snapshot or operation."""

    unique_id: str
    name: str
    resource_type: str
    status: str
    seconds: float
    rows_affected: int | None
    message: str
    failures: int | None = None


@dataclass
class DbtRun:
    """The outcome of one dbt command."""

    command: list[str]
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    exception: str | None = None
    # `dbt parse` returns the project it parsed: later commands of the same build reuse it
    # instead of loading and checking the project again (invoke(manifest=...)).
    manifest: object | None = field(default=None, repr=False)

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]


def dbt_args(target: Target, args: Sequence[str]) -> list[str]:
    """Full argument list: the project, the profile folder and the target the runner resolved."""
    return [
        *args,
        "--project-dir",
        str(target.project_dir),
        "--profiles-dir",
        str(target.profiles_dir),
        "--target",
        target.target_name,
    ]


def target_dir(target: Target) -> Path:
    """Where dbt writes its artifacts: DBT_TARGET_PATH when set (relative to the project), else
    the project's target/."""
    env = os.environ.get("DBT_TARGET_PATH")
    return target.project_dir / env if env else target.project_dir / "target"


def _node_result(result) -> NodeResult:  # result: dbt RunResult
    node = result.node
    adapter = getattr(result, "adapter_response", None) or {}
    rows = adapter.get("rows_affected") if isinstance(adapter, dict) else None
    status = str(getattr(result.status, "value", result.status))
    resource_type = str(getattr(node.resource_type, "value", node.resource_type))
    if resource_type == "test":
        rows = None  # a test's "rows" is its count query's single row; failures say more
    return NodeResult(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=resource_type,
        status=status,
        seconds=float(result.execution_time or 0.0),
        rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
        message=ANSI_ESCAPE.sub("", str(result.message or "")),
        failures=result.failures,
    )


def invoke(
    target: Target,
    args: Sequence[str],
    on_event: Callable[[object], None] | None = None,
    quiet: bool = True,
    silent: bool = False,
    manifest: object | None = None,
) -> DbtRun:
    """Run one dbt command in-process and collect its per-node results.

    dbtRunner keeps global state: one invocation at a time per process. `silent` keeps dbt's
    console quiet even on errors (the caller reports them); logs/dbt.log still has everything.
    `manifest` (a DbtRun.manifest from `dbt parse` with the same vars) skips loading the project.
    """
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from dbt.cli.main import dbtRunner

    callbacks = [on_event] if on_event else []
    runner = dbtRunner(manifest=manifest, callbacks=callbacks)
    full = dbt_args(target, args)
    if quiet:
        full = ["--quiet", *full]
    if silent:
        full = ["--log-level", "none", *full]
    res = runner.invoke(full)
    if isinstance(res.exception, KeyboardInterrupt):
        raise res.exception  # dbt catches Ctrl-C and reports a failure: it is an interruption
    run = DbtRun(command=list(args), success=bool(res.success))
    if args and args[0] == "parse" and res.success:
        run.manifest = res.result
    if res.exception is not None:
        run.exception = str(res.exception)
    results = getattr(res.result, "results", None)
    if results:
        run.nodes = [_node_result(r) for r in results if hasattr(r, "node") and r.node]
    return run


@dataclass(frozen=True)
class NodeEvent:
    """A node starting or finishing, as a progress display needs it (no dbt types leak out)."""

    unique_id: str
    name: str
    resource_type: str
    finished: bool
    status: str = "started"
    seconds: float = 0.0


def progress_events(
    on_node: Callable[[NodeEvent], None], on_total: Callable[[int], None] | None = None
) -> Callable[[object], None]:
    """A dbtRunner callback turning dbt's events into NodeEvents (and the selected node count)."""

    def handle(event) -> None:  # event: dbt EventMsg
        kind = event.info.name
        if kind == "ConcurrencyLine" and on_total is not None:
            on_total(int(event.data.node_count))
        elif kind in ("NodeStart", "NodeFinished"):
            info = event.data.node_info
            finished = kind == "NodeFinished"
            result = event.data.run_result if finished else None
            on_node(
                NodeEvent(
                    unique_id=info.unique_id,
                    name=info.node_name,
                    resource_type=info.resource_type,
                    finished=finished,
                    status=str(result.status) if result is not None else "started",
                    seconds=float(result.execution_time) if result is not None else 0.0,
                )
            )

    return handle


def require_success(run: DbtRun) -> DbtRun:
    """Raise BuildError naming what failed, or return the run."""
    if run.success:
        return run
    if run.failed:
        names = ", ".join(f"{n.name} ({n.status})" for n in run.failed[:5])
        more = f" and {len(run.failed) - 5} more" if len(run.failed) > 5 else ""
        raise BuildError(
            f"dbt {' '.join(run.command[:1])} failed: {names}{more}",
            hint="the node table above has each message; `dbt build --select <name>` reruns one",
        )
    raise BuildError(
        f"dbt {' '.join(run.command[:1])} failed:"
        f" {run.exception or 'see the dbt log in logs/dbt.log'}",
        hint="`hotdash doctor` checks the setup",
    )
