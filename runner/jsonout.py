"""The documents of `--json`: one JSON document per command on stdout, with stable keys.

Conventions (README "JSON output"): keys are snake_case and always present (null when there is
nothing); numbers are JSON numbers, decimals included (as `hotdash alerts --json` has always
printed them); durations are seconds (`seconds`, `age_seconds`); timestamps are ISO 8601 with
their UTC offset; ids are strings. Every document but `hotdash alerts --json` (an array, as it
always was) ends with `error` (null, or {type, message, hint, exit_code}) and `exit_code`, the
process's exit code; a command that fails before it has a document prints only those two.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.alerts import Summary as AlertSummary
    from runner.contracts import ContractReport
    from runner.dbt import NodeResult
    from runner.doctor import Check
    from runner.errors import HotdashError
    from runner.pipeline import BuildReport
    from runner.status import Status


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (uuid.UUID, Path)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, default=_default, ensure_ascii=False)


def write(doc: Any) -> None:
    """The one document on stdout."""
    sys.stdout.write(dumps(doc) + "\n")
    sys.stdout.flush()


def error(
    type_: str, message: str, hint: str | None, exit_code: int
) -> dict[str, str | int | None]:
    return {"type": type_, "message": message, "hint": hint, "exit_code": exit_code}


def of_error(exc: HotdashError | None) -> dict[str, str | int | None] | None:
    if exc is None:
        return None
    return error(type(exc).__name__, exc.message, exc.hint, exc.exit_code)


def with_outcome(doc: dict[str, Any], exc: HotdashError | None) -> dict[str, Any]:
    """`doc` with its closing keys: error and exit_code."""
    return {**doc, "error": of_error(exc), "exit_code": exc.exit_code if exc else 0}


# --- status ---------------------------------------------------------------------------------


def status(
    result: Status,
    fail_on: str | None,
    failing: Sequence[tuple[str, str, str | None, str]],
) -> dict[str, Any]:
    return {
        "runs": [
            {
                "run_id": str(r.run_id),
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "status": r.status,
                "seconds": None if r.seconds is None else round(r.seconds, 3),
                "command_args": list(r.command_args),
                "nodes": r.nodes,
                "failed_nodes": r.failed_nodes,
                "error_message": r.error_message,
            }
            for r in result.runs
        ],
        "freshness": [
            {
                "shop_domain": f.shop_domain,
                "topic": f.topic,
                "latest_created_at": f.latest_created_at,
                "age_seconds": round(f.age.total_seconds(), 3),
                "status": f.status,
                "warn_after_seconds": f.thresholds.warn_after.total_seconds(),
                "error_after_seconds": f.thresholds.error_after.total_seconds(),
            }
            for f in result.freshness
        ],
        "fail_on": fail_on,
        "failing": [
            {"shop_domain": s, "rule": rule, "subject": subject, "severity": severity}
            for s, rule, subject, severity in failing
        ],
    }


# --- doctor ---------------------------------------------------------------------------------


def doctor(checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "ok": all(c.status != "fail" for c in checks),
        "counts": {s: sum(c.status == s for c in checks) for s in ("ok", "warn", "fail")},
        "checks": [
            {"name": c.name, "status": c.status, "detail": c.detail, "hint": c.hint or None}
            for c in checks
        ],
    }


# --- contracts ------------------------------------------------------------------------------


def contracts(reports: Sequence[ContractReport]) -> dict[str, Any]:
    """The contract stages run: their totals, and each stage as contracts_summary.json has it."""
    totals = {s: 0 for s in ("pass", "warn", "error", "skipped")}
    for report in reports:
        for key, n in report.counts().items():
            totals[key] += n
    last = reports[-1] if reports else None
    return {
        "ok": all(r.ok for r in reports),
        "counts": totals,
        "stages": [r.to_dict() for r in reports],
        "data_docs": last.data_docs if last else None,
        "summary": last.summary if last else None,
    }


# --- build ----------------------------------------------------------------------------------


def node(n: NodeResult) -> dict[str, Any]:
    return {
        "unique_id": n.unique_id,
        "name": n.name,
        "resource_type": n.resource_type,
        "status": n.status,
        "seconds": round(n.seconds, 3),
        "rows_affected": n.rows_affected,
        "failures": n.failures,
        "message": n.message or None,
    }


def alerts_summary(summary: AlertSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "opened": summary.opened,
        "still_open": summary.updated,
        "resolved": summary.resolved,
        "open": sum(summary.open_by_severity.values()),
        "open_by_severity": dict(summary.open_by_severity),
        "evaluated": list(summary.evaluated),
        "skipped": list(summary.skipped),
    }


def build(report: BuildReport, junit: Path | None = None) -> dict[str, Any]:
    nodes = report.nodes
    counts: dict[str, int] = {}
    for n in nodes:
        counts[n.status] = counts.get(n.status, 0) + 1
    return {
        "run_id": str(report.run_id),
        "status": report.status,
        "seconds": round(report.seconds, 3),
        "command_args": report.options.command_args(),
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "seconds": round(s.seconds, 3),
                "summary": s.summary,
            }
            for s in report.steps
        ],
        "nodes": {
            "total": len(nodes),
            "counts": dict(sorted(counts.items())),
            "items": [node(n) for n in nodes],
        },
        "contracts": contracts(report.contracts),
        "alerts": alerts_summary(report.alerts),
        "alerts_error": report.alerts_error,
        "junit": str(junit) if junit else None,
    }
