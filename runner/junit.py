"""JUnit XML of the contracts and the build (`--junit FILE`), for a CI page to show.

One <testsuite> per contract suite (named `contracts.<stage>.<suite>`, one <testcase> per
expectation); a build adds `build.steps` (one testcase per runner step), `dbt.tests` (dbt's data
and unit tests) and `dbt.nodes` (its models, seeds, snapshots and hooks). JUnit knows no warning:
a warning is a passing testcase whose <system-out> starts with "WARN"; an error-level failure or a
failed dbt test is a <failure>, a dbt node that errored an <error>, a skipped one <skipped>.
The file is written atomically (a temporary file renamed over it).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.contracts import ContractReport
    from runner.dbt import NodeResult
    from runner.pipeline import BuildReport, StepResult

# XML 1.0 forbids most control characters, even escaped
_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
DBT_TESTS = ("test", "unit_test")


def _clean(text: str) -> str:
    return _INVALID.sub("", text)


@dataclass(frozen=True)
class Case:
    """One testcase: status is pass, warn, failure, error or skipped."""

    classname: str
    name: str
    seconds: float
    status: str
    message: str = ""
    detail: str = ""


def _suite(name: str, cases: Sequence[Case]) -> ET.Element:
    suite = ET.Element("testsuite", name=_clean(name))
    counts = {s: sum(c.status == s for c in cases) for s in ("failure", "error", "skipped")}
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", f"{sum(c.seconds for c in cases):.3f}")
    for case in cases:
        element = ET.SubElement(
            suite,
            "testcase",
            classname=_clean(case.classname),
            name=_clean(case.name),
            time=f"{case.seconds:.3f}",
        )
        message, detail = _clean(case.message), _clean(case.detail or case.message)
        if case.status in ("failure", "error"):
            child = ET.SubElement(element, case.status, message=message, type=case.status)
            child.text = detail
        elif case.status == "skipped":
            ET.SubElement(element, "skipped", message=message)
        elif case.status == "warn":
            ET.SubElement(element, "system-out").text = f"WARN: {detail}"
    return suite


def _root(name: str, suites: Iterable[ET.Element]) -> ET.Element:
    root = ET.Element("testsuites", name=name)
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    seconds = 0.0
    for suite in suites:
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        seconds += float(suite.get("time", "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    return root


# --- contracts ------------------------------------------------------------------------------

CONTRACT_STATUS = {"pass": "pass", "warn": "warn", "error": "failure", "skipped": "skipped"}


def contract_suites(reports: Sequence[ContractReport]) -> list[ET.Element]:
    """One testsuite per (stage, suite), in the order the suites ran."""
    grouped: dict[str, list[Case]] = {}
    for report in reports:
        share = report.seconds / max(len(report.outcomes), 1)  # GX times the stage, not a check
        for o in report.outcomes:
            name = f"contracts.{o.stage}.{o.suite}"
            detail = o.describe()
            if o.relation:
                detail += f"\nrelation: {o.relation}"
            if o.why:
                detail += f"\nwhy: {o.why}"
            grouped.setdefault(name, []).append(
                Case(name, o.expectation, share, CONTRACT_STATUS[o.status], o.describe(), detail)
            )
    return [_suite(name, cases) for name, cases in grouped.items()]


def contracts_xml(reports: Sequence[ContractReport]) -> ET.Element:
    return _root("hotdash contracts", contract_suites(reports))


# --- build ----------------------------------------------------------------------------------


def _node_case(node: NodeResult, classname: str) -> Case:
    status = node.status
    message = node.message or status
    if status in ("pass", "success"):
        kind = "pass"
    elif status == "warn":
        kind = "warn"
    elif status == "fail":
        kind = "failure"
        if node.failures is not None:
            message = f"{node.failures:,} failing row(s): {node.message}".rstrip(": ")
    elif status in ("error", "runtime error"):
        kind = "error"
    elif status == "skipped":
        kind = "skipped"
        message = node.message or "skipped (an upstream node failed)"
    else:
        kind = "pass"
    return Case(classname, node.name, node.seconds, kind, message, f"{node.unique_id}: {message}")


def _step_case(step: StepResult) -> Case:
    kind = {"success": "pass", "failed": "failure", "skipped": "skipped"}.get(step.status, "pass")
    return Case("build.steps", step.name, step.seconds, kind, step.summary or step.status)


def build_xml(report: BuildReport) -> ET.Element:
    nodes = report.nodes
    tests = [_node_case(n, "dbt.tests") for n in nodes if n.resource_type in DBT_TESTS]
    others = [_node_case(n, "dbt.nodes") for n in nodes if n.resource_type not in DBT_TESTS]
    suites = [_suite("build.steps", [_step_case(s) for s in report.steps])]
    if tests:
        suites.append(_suite("dbt.tests", tests))
    if others:
        suites.append(_suite("dbt.nodes", others))
    suites += contract_suites(report.contracts)
    root = _root("hotdash build", suites)
    root.set("id", str(report.run_id))
    root.set("time", f"{report.seconds:.3f}")  # the suites overlap: the steps hold the rest
    return root


def write(path: Path, root: ET.Element) -> Path:
    """Write the XML atomically; raises ConfigError when its folder does not exist."""
    from runner.exports import write_atomic

    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)

    def body(handle) -> None:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        handle.write(text + "\n")

    write_atomic(Path(path), body)
    return Path(path)
