"""Data contracts: the Great Expectations suites in contracts/ run against the live database.

Suites are YAML files kept in the repo (contracts/source/*.yml, contracts/marts/*.yml; the format
is described in contracts/README.md). At run time they are loaded into an ephemeral GX context
and validated through SQLAlchemy: every expectation runs as SQL in PostgreSQL (column
expectations are compiled by GX; cross-column and verdict checks are UnexpectedRowsExpectation
queries that return only the offending keys or counts). Nothing pulls a table into Python.

Two stages. `source` guards what gets staged, in two parts: `facts` checks the facts table
before dbt runs; `payload` counts, per topic, the verdicts dbt's ops.facts_triage gave each fact
(judged once, by macros/quarantine_rules.sql) before anything is staged. `marts` runs after dbt
and checks the marts plus the staging models that dbt has just rebuilt. Each expectation has a
severity: an `error` that fails stops the build, a `warn` is reported.

One job per module:
- suites: the suite files, read and rendered into checks;
- gx: the GX session (context, datasource, Data Docs) and the custom expectations;
- run: a stage run (which checks, the window each reads, validation, recording in ops);
- outcomes: GX results mapped to outcomes;
- report: the outcomes of a stage, the error it raises, the JSON summary;
- worker: a build's contract steps in a process of their own.
The build steps that run them are in runner/pipeline.py; the results go to ops.contract_results
(runner/ops.py).
"""

from runner.contracts.gx import ContractSession, default_out_dir, sqlalchemy_url
from runner.contracts.report import (
    ContractReport,
    Outcome,
    contract_error,
    require_contracts,
    summary_line,
    write_summary,
)
from runner.contracts.run import (
    MIN_SHARE_BASE,
    judge_args,
    judge_facts,
    publish,
    run_contracts,
    settled_through,
)
from runner.contracts.suites import (
    CONTRACTS_DIR,
    FACTS_SOURCE,
    NEW_FACTS,
    STAGES,
    TRIAGE,
    TRIAGE_MODEL,
    Check,
    Part,
    Severity,
    Stage,
    Status,
    Suite,
    load_suite,
    load_suites,
)
from runner.contracts.worker import ContractWorker

__all__ = [
    "CONTRACTS_DIR",
    "FACTS_SOURCE",
    "MIN_SHARE_BASE",
    "NEW_FACTS",
    "STAGES",
    "TRIAGE",
    "TRIAGE_MODEL",
    "Check",
    "ContractReport",
    "ContractSession",
    "ContractWorker",
    "Outcome",
    "Part",
    "Severity",
    "Stage",
    "Status",
    "Suite",
    "contract_error",
    "default_out_dir",
    "judge_args",
    "judge_facts",
    "load_suite",
    "load_suites",
    "publish",
    "require_contracts",
    "run_contracts",
    "settled_through",
    "sqlalchemy_url",
    "summary_line",
    "write_summary",
]
