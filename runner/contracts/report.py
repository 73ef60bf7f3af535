"""What a contract run reports: one Outcome per expectation, the stage's ContractReport, the
error it raises, and the JSON summary."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.contracts.suites import Severity, Stage, Status
from runner.errors import HotdashError, MartContractError, SourceContractError

SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Outcome:
    """The result of one expectation: GX's success, the severity it earned, and evidence."""

    suite: str
    expectation: str
    stage: Stage
    severity: Severity
    status: Status
    success: bool
    unexpected_count: int | None
    unexpected_share: float | None
    sample: list[Any]
    relation: str
    why: str
    message: str = ""
    error_above_share: float | None = None  # a warn that becomes an error above this share
    checked: int | None = None  # payload checks: how many facts of the topic were read
    after_batch: int = 0  # payload checks: only facts of judge batches past this one were read

    @property
    def sample_text(self) -> str:
        if not self.sample:
            return ""
        first = self.sample[0]
        if isinstance(first, dict) and set(first) >= {"fact_id"}:
            return "fact ids " + ", ".join(str(s["fact_id"]) for s in self.sample)
        return "; ".join(
            ", ".join(f"{k}={v}" for k, v in s.items()) if isinstance(s, dict) else str(s)
            for s in self.sample
        )

    def describe(self) -> str:
        """One sentence a person can act on."""
        text = f"{self.suite} / {self.expectation}"
        if self.status == "pass":
            return f"{text}: passed"
        if self.message:
            return f"{text}: {self.message}"
        if self.unexpected_count is not None:
            text += (
                f": {self.unexpected_count:,} bad row{'s' if self.unexpected_count != 1 else ''}"
            )
            if self.unexpected_share is not None:
                scope = f" after judge batch {self.after_batch}" if self.after_batch else ""
                text += f" ({self.unexpected_share:.2%} of {self.checked or 0:,} facts{scope})"
        else:
            text += ": failed"
        if self.sample:
            text += f"; sample: {self.sample_text}"
        return text


@dataclass
class ContractReport:
    run_id: str
    stage: Stage
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    data_docs: Path | None = None
    summary: Path | None = None
    # Of the outcomes, how many were validated while dbt built (run_contracts `done`).
    validated_ahead: int = 0

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "error"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "warn"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return {
            s: sum(o.status == s for o in self.outcomes)
            for s in ("pass", "warn", "error", "skipped")
        }

    def extend(self, other: ContractReport) -> ContractReport:
        """Add a later part of the same stage (the source payloads after the facts table)."""
        self.outcomes.extend(other.outcomes)
        self.seconds += other.seconds
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "data_docs": str(self.data_docs) if self.data_docs else None,
            "outcomes": [asdict(o) for o in self.outcomes],
        }


def contract_error(report: ContractReport) -> HotdashError | None:
    """The error to raise for a report with error-level failures, or None."""
    if report.ok:
        return None
    errors = report.errors
    first = errors[0].describe()
    more = f" (and {len(errors) - 1} more error-level failures)" if len(errors) > 1 else ""
    hint = (
        "`hotdash contracts --stage "
        + report.stage
        + "` lists every result"
        + (f"; Data Docs: {report.data_docs}" if report.data_docs else "")
    )
    if report.stage == "source":
        return SourceContractError(f"error-level source contract failed: {first}{more}", hint)
    return MartContractError(f"error-level mart contract failed: {first}{more}", hint)


def require_contracts(report: ContractReport) -> ContractReport:
    """Raise SourceContractError / MartContractError on an error-level failure."""
    error = contract_error(report)
    if error is not None:
        raise error
    return report


def write_summary(report: ContractReport, out_dir: Path) -> Path:
    """contracts_summary.json: the latest report of each stage (a later run replaces its stage)."""
    path = out_dir / "contracts_summary.json"
    try:
        doc = json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        doc = {}
    stages = doc.get("stages") if isinstance(doc.get("stages"), dict) else {}
    stages[report.stage] = report.to_dict()
    doc = {
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ok": all(s.get("ok", False) for s in stages.values()),
        "stages": stages,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def summary_line(report: ContractReport) -> str:
    """A build step's one line: the counts, and the first warnings with their bad rows."""
    counts = report.counts()
    summary = f"{counts['pass']} passed, {counts['warn']} warned, {counts['skipped']} skipped"
    if report.warnings:
        summary += "; warnings: " + ", ".join(
            f"{o.suite}/{o.expectation} ({o.unexpected_count or 0:,})" for o in report.warnings[:5]
        )
    return summary
