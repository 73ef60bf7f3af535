"""GX validation results mapped to Outcomes: the status a check earned, its count, share and
sample, or the message of a check that could not run."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from runner.contracts.report import SAMPLE_SIZE, Outcome
from runner.contracts.suites import Check, Status


def _missing(check: Check, missing: list[str]) -> Outcome:
    """A relation the check reads is absent: the facts table is an error, a model is skipped.

    A model that should exist after a full build is dbt's to report; skipping here keeps a
    `--select` build from failing on marts it did not build.
    """
    status: Status = "error" if check.facts in missing else "skipped"
    return _not_run(check, status, f"needs {', '.join(missing)}, which does not exist")


def _of(check: Check, **result: Any) -> Outcome:
    """An outcome of `check`: what the check says of itself, and `result`."""
    return Outcome(
        suite=check.suite,
        expectation=check.name,
        stage=check.stage,
        severity=check.severity,
        relation=check.relation,
        why=check.why,
        **result,
    )


def _judged_outcome(
    check: Check, r: Any, totals: dict[str, int], after_id: int = 0, share_base: int = 0
) -> Outcome:
    result = r.result or {}
    error = _exception_message(r.exception_info)
    if error is not None:
        return _failed_to_run(check, "the check could not run: " + error)
    rows = (result.get("details") or {}).get("unexpected_rows") or []
    count = sum(int(row["bad_facts"]) for row in rows)
    sample = [{"fact_id": i} for row in rows for i in (row["sample_fact_ids"] or [])]
    total = max(totals.get(check.topic or "", 0), share_base)
    share = count / total if total else 0.0
    status: Status
    if count == 0:
        status = "pass"
    elif check.error_above_share is not None:
        status = "error" if share > check.error_above_share else "warn"
    else:
        status = check.severity
    return _of(
        check,
        status=status,
        success=count == 0,
        unexpected_count=count,
        unexpected_share=share,
        sample=sample[:SAMPLE_SIZE],
        error_above_share=check.error_above_share,
        checked=totals.get(check.topic or "", 0),
        after_batch=after_id,
    )


def _exception_message(info: Any) -> str | None:
    """GX's exception_info is one record, or one record per metric that failed."""
    if not isinstance(info, dict):
        return None
    records = [info] if "raised_exception" in info else list(info.values())
    for record in records:
        if isinstance(record, dict) and record.get("raised_exception"):
            return str(record.get("exception_message") or "unknown error").strip()
    return None


def _failed_to_run(check: Check, message: str) -> Outcome:
    return _not_run(check, check.severity, (message.splitlines() or [""])[0][:400])


def _not_run(check: Check, status: Status, message: str) -> Outcome:
    """The outcome of a check that produced no result: no count, no sample, a message."""
    return _of(
        check,
        status=status,
        success=False,
        unexpected_count=None,
        unexpected_share=None,
        sample=[],
        message=message,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _outcome(check: Check, r: Any) -> Outcome:
    result = r.result or {}
    error = _exception_message(r.exception_info)
    if error is not None:
        return _failed_to_run(check, "the check could not run: " + error)
    count: int | None = None
    sample: list[Any] = []
    if check.kind == "expect":
        count = result.get("unexpected_count")
        if result.get("partial_unexpected_index_list"):
            sample = result["partial_unexpected_index_list"]
        elif result.get("partial_unexpected_list"):
            sample = result["partial_unexpected_list"]
        elif not r.success and "observed_value" in result:
            sample = [{"observed_value": result["observed_value"], **(result.get("details") or {})}]
    else:
        observed = result.get("observed_value")
        count = int(observed) if isinstance(observed, int | float) else None
        sample = list(((result.get("details") or {}).get("unexpected_rows")) or [])
    return _of(
        check,
        status="pass" if r.success else check.severity,
        success=bool(r.success),
        unexpected_count=count,
        unexpected_share=None,
        sample=_jsonable(sample[:SAMPLE_SIZE]),
    )
