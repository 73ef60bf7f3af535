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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import jinja2
import jinja2.nativetypes
import psycopg
import psycopg.sql
import yaml

from runner import settings
from runner.db import Target, connect
from runner.errors import ConfigError, HotdashError, MartContractError, SourceContractError
from runner.settings import Settings, yaml_load

Stage = Literal["source", "marts"]
# The source stage in two parts: the facts table itself (before dbt judges anything), then the
# payloads as ops.facts_triage judged them.
Part = Literal["facts", "payload"]
Severity = Literal["error", "warn"]
Status = Literal["pass", "warn", "error", "skipped"]

STAGES: tuple[Stage, ...] = ("source", "marts")
PROJECT_DIR = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = PROJECT_DIR / "contracts"
SAMPLE_SIZE = 10
# With new_facts_only, a batch's share of bad facts is taken of at least this many facts, so a
# handful of new facts cannot block a build on one bad payload.
MIN_SHARE_BASE = 1000
DOCS_SITE = "hotdash"
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "ops")
# Every fact of a staged topic with its verdict (models/staging/facts_triage.sql).
TRIAGE = "ops.facts_triage"
TRIAGE_MODEL = "facts_triage"
FACTS_SOURCE = "source:app.facts"  # dbt's name of the facts table, with its tests
# In a source query, the facts this run checks, or `true` when it checks every fact: on the facts
# table the facts not judged yet (past the judge's watermark and not in ops.facts_triage), on
# ops.facts_triage `judge_batch > <the suite's staging cursor>` (the facts not staged yet).
NEW_FACTS = "{new_facts}"


# --- what a suite file holds -----------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One expectation of a suite file, rendered and ready to become a GX expectation."""

    suite: str
    name: str
    severity: Severity
    why: str
    stage: Stage
    relation: str  # schema.table the GX batch reads
    kind: Literal["judged", "unexpected_rows", "expect"]
    query: str | None = None  # unexpected_rows: a query reading {batch}
    expect: str | None = None  # a gx.expectations class name, for kind expect
    kwargs: dict[str, Any] = field(default_factory=dict)
    topic: str | None = None
    error_above_share: float | None = None
    keys: tuple[str, ...] = ()  # columns that identify a bad row in samples
    cursor: str | None = None  # staging model whose max(fact_id) marks the facts already staged
    part: Part | None = None  # source stage: facts (before judging) or payload (after)
    # judged: LIKE patterns on a fact's triage reason (quarantined) and warnings (flagged).
    quarantined: tuple[str, ...] = ()
    flagged: tuple[str, ...] = ()
    facts: str = "public.facts"  # the facts relation

    @property
    def needs(self) -> tuple[str, ...]:
        """Every relation the check reads (its batch and any named in its query)."""
        found = [self.relation]
        if self.part == "payload":
            found.append(self.facts)  # verdicts are of facts: no facts table, no verdicts
        if self.query:
            schemas = "|".join((*MODEL_SCHEMAS, self.relation.split(".")[0]))
            found += [
                m.group(0) for m in re.finditer(rf"\b(?:{schemas})\.[a-z_][a-z0-9_]*\b", self.query)
            ]
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Suite:
    name: str
    kind: Stage  # which folder it came from
    path: Path
    description: str
    checks: tuple[Check, ...]


def _literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


_TEXT_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
_NATIVE_ENV = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)


def _render(value: Any, context: dict[str, Any], native: bool) -> Any:
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        env = _NATIVE_ENV if native else _TEXT_ENV
        return env.from_string(value).render(**context)
    if isinstance(value, list):
        return [_render(v, context, native) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, context, native) for k, v in value.items()}
    return value


def load_suite(path: Path, kind: Stage, project: Settings) -> Suite:
    """Read one suite file and render its checks with the project's vars (and the command's
    --vars); a malformed file is a ConfigError."""
    try:
        doc = yaml_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"contract suite {path} is not valid YAML: {exc}") from exc
    name = doc.get("suite") or path.stem
    context = {
        "sql_list": lambda values: ", ".join(map(_literal, values)),
        "vars": doc.get("vars") or {},
        "col": doc.get("columns") or {},
        "topic": doc.get("topic"),
        "facts": project.facts_relation,
        "triage": TRIAGE,
        "dbt_vars": dict(project.vars),
    }
    context["cursor"] = doc.get("cursor")
    default_relation = _render(doc.get("relation") or "{{ facts }}", context, native=False)
    context["relation"] = default_relation
    default_keys = tuple(_render(doc.get("keys") or ["id"], context, native=False))
    checks = []
    for i, raw in enumerate(doc.get("expectations") or []):
        where = f"{path.name}, expectation {raw.get('name') or i + 1}"
        checks.append(_check(name, kind, raw, context, default_relation, default_keys, where))
    names = [c.name for c in checks]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"contract suite {path.name} repeats expectation names: {sorted(dupes)}")
    return Suite(name, kind, path, str(doc.get("description") or "").strip(), tuple(checks))


def _check(
    suite: str,
    kind: Stage,
    raw: dict[str, Any],
    context: dict[str, Any],
    default_relation: str,
    default_keys: tuple[str, ...],
    where: str,
) -> Check:
    for key in ("name", "severity", "why"):
        if not raw.get(key):
            raise ConfigError(f"{where}: `{key}` is required")
    severity = raw["severity"]
    if severity not in ("error", "warn"):
        raise ConfigError(f"{where}: severity must be error or warn, not {severity!r}")
    judged = "quarantined" in raw or "flagged" in raw
    relation = (
        TRIAGE if judged else _render(raw.get("relation") or default_relation, context, False)
    )
    on_facts = relation == context["facts"]
    stage: Stage = "marts"
    part: Part | None = None
    if kind == "source" and (on_facts or relation.startswith("ops.")):
        stage, part = "source", ("facts" if on_facts else "payload")
    keys = tuple(_render(raw.get("keys") or ([] if not on_facts else ["id"]), context, False))
    keys = keys or default_keys
    share = raw.get("error_above_share")
    if share is not None:
        share = float(_render(share, context, native=True))
        if severity != "warn" or not judged:
            raise ConfigError(
                f"{where}: error_above_share goes with severity warn and quarantined/flagged"
            )
    common = {
        "suite": suite,
        "name": raw["name"],
        "severity": severity,
        "why": " ".join(str(raw["why"]).split()),
        "stage": stage,
        "part": part,
        "relation": relation,
        "topic": context.get("topic"),
        "cursor": context.get("cursor"),
        "error_above_share": share,
        "keys": keys,
        "facts": context["facts"],
    }
    if judged:
        if kind != "source" or not context.get("topic"):
            raise ConfigError(f"{where}: quarantined/flagged need a source suite with a `topic`")
        patterns = {}
        for key in ("quarantined", "flagged"):
            value = _render(raw.get(key) or [], context, native=False)
            if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{where}: `{key}` is a list of LIKE patterns")
            patterns[key] = tuple(value)
        return Check(kind="judged", **patterns, **common)
    if "unexpected_rows" in raw:
        query = _render(raw["unexpected_rows"], context, native=False).strip()
        if "{batch}" not in query:
            raise ConfigError(
                f"{where}: an unexpected_rows query must read its relation as {{batch}}"
            )
        if part and NEW_FACTS not in query and raw.get("all_facts") is not True:
            raise ConfigError(
                f"{where}: a source query reads {NEW_FACTS} (the facts this run checks),"
                " or says `all_facts: true`"
            )
        return Check(kind="unexpected_rows", query=query, **common)
    if "expect" in raw:
        import great_expectations as gx

        if not hasattr(gx.expectations, raw["expect"]):
            raise ConfigError(f"{where}: gx.expectations has no {raw['expect']}")
        kwargs = _render(raw.get("kwargs") or {}, context, native=True)
        return Check(kind="expect", expect=raw["expect"], kwargs=kwargs, **common)
    raise ConfigError(f"{where}: give one of quarantined/flagged, unexpected_rows or expect")


def load_suites(
    contracts_dir: Path = CONTRACTS_DIR, project: Settings | None = None
) -> list[Suite]:
    project = project or settings.load(PROJECT_DIR)
    suites = []
    for kind in STAGES:
        for path in sorted((contracts_dir / kind).glob("*.yml")):
            suites.append(load_suite(path, kind, project))
    if not suites:
        raise ConfigError(f"no contract suites in {contracts_dir}/source or {contracts_dir}/marts")
    return suites


# --- what a run reports ----------------------------------------------------------------------


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


# --- build steps -----------------------------------------------------------------------------


def facts_step(ctx: Any) -> str:
    """Build step before dbt: the facts table's checks (the gate's first half).

    `ctx` is the build's context (target, options, run_id); the contract steps share one GX
    context through it, so the Data Docs index shows the whole build. Unless the build is a full
    refresh, row checks read only the facts past the triage cursor (the facts not yet judged).
    Raises SourceContractError on an error-level failure.
    """
    return _step(ctx, "source", "facts")


def payload_step(ctx: Any) -> str:
    """Build step after the judge step, before staging: the payloads as ops.facts_triage judged
    them, per topic (the gate's second half). Unless the build is a full refresh, only the facts
    past each topic's staging cursor count. Raises SourceContractError."""
    return _step(ctx, "source", "payload")


def mart_step(ctx: Any) -> str:
    """Build step after dbt: mart suites and staging checks. Raises MartContractError."""
    return _step(ctx, "marts")


def _step(ctx: Any, stage: Stage, part: Part | None = None) -> str:
    worker: ContractWorker | None = ctx.__dict__.get("contract_worker")
    session: ContractSession | None = None
    new_facts_only = not ctx.options.full_refresh
    if worker is not None:
        report = worker.run(ctx.target, stage, part, str(ctx.run_id), new_facts_only)
    else:
        session = ctx.__dict__.get("contract_session")
        if session is None:
            session = ctx.__dict__["contract_session"] = ContractSession.for_target(ctx.target)
        report = run_contracts(
            ctx.target,
            stage,
            run_id=str(ctx.run_id),
            session=session,
            new_facts_only=new_facts_only,
            part=part,
            write_docs=False,
        )
    whole = report
    earlier = ctx.__dict__.get("source_report")
    if part == "payload" and earlier is not None:
        whole = earlier.extend(report)
    else:
        build_report = getattr(ctx, "report", None)
        if build_report is not None:
            build_report.contracts.append(report)
        if part == "facts":
            ctx.__dict__["source_report"] = report
    if part != "facts" or not report.ok:
        if worker is not None:
            # A passing gate's Data Docs are written while dbt builds.
            worker.publish(whole, wait=not (part == "payload" and whole.ok))
        else:
            publish(whole, session)
    require_contracts(whole)
    counts = report.counts()
    summary = f"{counts['pass']} passed, {counts['warn']} warned, {counts['skipped']} skipped"
    if report.warnings:
        summary += "; warnings: " + ", ".join(
            f"{o.suite}/{o.expectation} ({o.unexpected_count or 0:,})" for o in report.warnings[:5]
        )
    return summary


def judge_args(full_refresh: bool = False, vars: str | None = None) -> list[str]:
    """The dbt command that judges the facts not yet judged (all of them on a full refresh),
    after dbt's own tests of the facts source."""
    args = ["build", "--select", FACTS_SOURCE, TRIAGE_MODEL]
    if full_refresh:
        args.append("--full-refresh")
    if vars:
        args += ["--vars", vars]
    return args


def judge_facts(target: Target) -> None:
    """Judge the facts stored since the last build (dbt build of ops.facts_triage); raises
    BuildError when dbt fails."""
    from runner import dbt

    args = judge_args(vars=target.vars)
    dbt.require_success(dbt.invoke(target, args, quiet=True, silent=True))


class ContractWorker:
    """Runs a build's contract steps in a process of its own.

    Importing Great Expectations and creating its context takes 2–3 s of one core. Started with
    the build, the worker spends them while the build loads the dbt project; the contract steps
    then cost only their checks. The source stage's Data Docs are written while dbt builds.
    Ctrl-C is left to the build, which closes the worker.
    """

    @staticmethod
    def available() -> bool:
        """Whether a worker can start: a spawned process re-imports the main module from its
        file, which a script read from stdin does not have."""
        path = getattr(sys.modules.get("__main__"), "__file__", None)
        return path is None or Path(path).is_file()

    def __init__(self, target: Target) -> None:
        import multiprocessing

        self.out_dir = default_out_dir(target)
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(str(self.out_dir),),
        )
        self._pending: list[Future] = [self._pool.submit(_worker_warm, target)]
        self._local = False  # the worker died: the checks run in this process

    def run(
        self, target: Target, stage: Stage, part: Part | None, run_id: str, new_facts_only: bool
    ) -> ContractReport:
        args = (target, stage, part, run_id, new_facts_only)
        try:
            return self._pool.submit(_worker_run, *args).result()
        except BrokenProcessPool:  # the process died (killed, out of memory): go on without it
            self._local = True
            _WORKER.setdefault("out_dir", self.out_dir)
            return _worker_run(*args)

    def publish(self, report: ContractReport, wait: bool = True) -> None:
        """Data Docs and the JSON summary, as `publish` writes them; `wait=False` returns at once
        (the worker does it before its next task)."""
        if self._local:
            publish(report, _worker_session())
            return
        future = self._pool.submit(_worker_publish, report)
        report.data_docs = self.out_dir / "data_docs" / "index.html"
        report.summary = self.out_dir / "contracts_summary.json"
        if wait:
            future.result()
        else:
            self._pending.append(future)

    def close(self, cancel: bool = False) -> None:
        """Let pending Data Docs finish, then stop the process. `cancel` (the build was
        interrupted): drop what is pending and return at once; the worker ends when its current
        task does, or with this process."""
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


_WORKER: dict[str, Any] = {}


def _worker_session() -> ContractSession:
    if "session" not in _WORKER:
        _WORKER["session"] = ContractSession(_WORKER["out_dir"])
    return _WORKER["session"]


def _worker_start(out_dir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the build's to handle
    _WORKER["out_dir"] = Path(out_dir)
    # A build killed outright cannot close its worker: the worker goes with it.
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    # Once the pool has let the worker go, end it without tearing down what GX loaded (that
    # takes most of a second): the last of multiprocessing's exit finalizers.
    import multiprocessing.util

    multiprocessing.util.Finalize(None, os._exit, args=(0,), exitpriority=-(10**6))


def _worker_warm(target: Target) -> None:
    _worker_session().suites(CONTRACTS_DIR, settings.of(target))


def _worker_run(
    target: Target, stage: Stage, part: Part | None, run_id: str, new_facts_only: bool
) -> ContractReport:
    return run_contracts(
        target,
        stage,
        run_id,
        session=_worker_session(),
        new_facts_only=new_facts_only,
        part=part,
        write_docs=False,
    )


def _worker_publish(report: ContractReport) -> None:
    publish(report, _worker_session())


# --- running ---------------------------------------------------------------------------------


def sqlalchemy_url(target: Target) -> str:
    """The target as a SQLAlchemy URL with the psycopg 3 driver spelled out.

    GX's add_postgres rejects socket-only URLs, so the socket folder goes in the query string.
    """
    from sqlalchemy.engine import URL

    info = psycopg.conninfo.conninfo_to_dict(target.conninfo)
    host = str(info.get("host") or "")
    query: dict[str, str] = {}
    url_host: str | None = host or None
    if host.startswith("/"):
        query["host"] = host
        url_host = None
        if info.get("port"):
            query["port"] = str(info["port"])
    for key in ("sslmode", "sslrootcert", "options"):
        if info.get(key):
            query[key] = str(info[key])
    url = URL.create(
        "postgresql+psycopg",
        username=str(info.get("user") or "") or None,
        password=str(info.get("password") or "") or None,
        host=url_host,
        port=int(info["port"]) if info.get("port") and url_host else None,
        database=str(info.get("dbname") or "") or None,
        query=query,
    )
    return url.render_as_string(hide_password=False)


class ContractSession:
    """One ephemeral GX context, reused for several runs (a build's two stages, a test module).

    Data Docs and the JSON summary go to `out_dir`.
    """

    def __init__(self, out_dir: Path, threads: int | None = None) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.out_dir = out_dir
        self.docs_dir = out_dir / "data_docs"
        self.threads = threads or int(os.environ.get("HOTDASH_CONTRACT_THREADS") or 2)
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # The ephemeral context comes with a docs site in a fresh temporary folder: replace it.
        for site, config in dict(self.context.get_config().data_docs_sites or {}).items():
            self.context.delete_data_docs_site(site)
            folder = (config.get("store_backend") or {}).get("base_directory")
            if folder and Path(folder).is_relative_to(tempfile.gettempdir()):
                shutil.rmtree(folder, ignore_errors=True)
        self.context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(self.docs_dir),
                },
            },
        )

    @classmethod
    def for_target(cls, target: Target) -> ContractSession:
        return cls(default_out_dir(target))

    def suites(self, contracts_dir: Path, project: Settings) -> list[Suite]:
        """The suite files, read once per session and vars (a build reads them in each step)."""
        key = (contracts_dir, project.project_dir, project.cli_vars)
        cache = self.__dict__.setdefault("_suites", {})
        if key not in cache:
            cache[key] = load_suites(contracts_dir, project)
        return cache[key]

    def datasource(self, target: Target):
        name = "hotdash_" + hashlib.sha1(target.conninfo.encode()).hexdigest()[:10]
        try:
            return self.context.data_sources.get(name)
        except (KeyError, ValueError, LookupError):
            return self.context.data_sources.add_sql(
                name=name, connection_string=sqlalchemy_url(target)
            )

    def batch_definition(self, target: Target, relation: str):
        source = self.datasource(target)
        schema, table = relation.split(".", 1)
        try:
            asset = source.get_asset(relation)
        except LookupError:
            asset = source.add_table_asset(name=relation, table_name=table, schema_name=schema)
        try:
            return asset.get_batch_definition("whole_table")
        except (KeyError, LookupError, ValueError):
            return asset.add_batch_definition_whole_table("whole_table")

    def replace_suite(self, name: str, expectations: Sequence[Any], batch_definition) -> Any:
        """A fresh suite and validation definition under `name` (replacing an earlier run's)."""
        gx = self.gx
        for factory in (self.context.validation_definitions, self.context.suites):
            with contextlib.suppress(Exception):  # absent on the first run
                factory.delete(name)
        # Built whole, then added: add_expectation on a stored suite re-saves it every time.
        suite = self.context.suites.add(
            gx.ExpectationSuite(name=name, expectations=list(expectations))
        )
        return self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )

    def build_docs(self) -> Path:
        self.context.build_data_docs(site_names=[DOCS_SITE])
        return self.docs_dir / "index.html"


def default_out_dir(target: Target) -> Path:
    """Git-ignored: the target's HOTDASH_HOME (.hotdash by default) / contracts."""
    return target.home / "contracts"


def run_contracts(
    target: Target,
    stage: Stage,
    run_id: str | None = None,
    *,
    session: ContractSession | None = None,
    contracts_dir: Path = CONTRACTS_DIR,
    out_dir: Path | None = None,
    write_docs: bool = True,
    new_facts_only: bool = False,
    part: Part | None = None,
    judge: bool = True,
) -> ContractReport:
    """Run every expectation of `stage` (or of one `part` of the source stage) and report each;
    raises nothing for failed contracts.

    The caller decides: `require_contracts(report)` raises SourceContractError or
    MartContractError on an error-level failure.

    The source stage checks the facts table, then (with `judge`, when those checks passed) has
    dbt judge the facts not yet judged (ops.facts_triage), then checks the payloads by their
    verdicts. A build runs the three as separate steps (`facts_step`, its judge step,
    `payload_step`).

    new_facts_only: facts-table row checks read only the facts past the triage cursor, and the
    payload checks only the facts past each topic's staging cursor (what an incremental dbt build
    is about to stage); a batch's share of bad facts is taken of at least MIN_SHARE_BASE facts.
    """
    if stage not in STAGES:
        raise ConfigError(f"unknown contract stage {stage!r}", hint="use source or marts")
    if part is not None and stage != "source":
        raise ConfigError(f"stage {stage} has no part {part!r}", hint="parts are of stage source")
    started = time.monotonic()
    run_id = run_id or str(uuid.uuid4())
    out_dir = out_dir or (session.out_dir if session else default_out_dir(target))
    session = session or ContractSession(out_dir)
    if stage == "source" and part is None:
        options = {
            "session": session,
            "contracts_dir": contracts_dir,
            "write_docs": False,
            "new_facts_only": new_facts_only,
        }
        report = run_contracts(target, stage, run_id, part="facts", **options)
        if judge and report.ok:
            judge_facts(target)
        blocked = None if report.ok else "not run: the facts table failed an error-level check"
        checks = _checks(session, contracts_dir, settings.of(target), stage, "payload")
        payload = ContractReport(
            run_id, stage, _run(target, checks, session, new_facts_only, blocked=blocked)
        )
        record_results(target, payload)
        report.extend(payload)
    else:
        checks = _checks(session, contracts_dir, settings.of(target), stage, part)
        report = ContractReport(run_id, stage, _run(target, checks, session, new_facts_only))
        record_results(target, report)
    report.seconds = time.monotonic() - started
    if write_docs:
        publish(report, session)
    return report


def _checks(
    session: ContractSession,
    contracts_dir: Path,
    project: Settings,
    stage: Stage,
    part: Part | None,
) -> list[Check]:
    suites = session.suites(contracts_dir, project)
    return [c for s in suites for c in s.checks if c.stage == stage and part in (None, c.part)]


def publish(report: ContractReport, session: ContractSession) -> None:
    """Data Docs (every validation of the session) and the JSON summary (this stage)."""
    session.out_dir.mkdir(parents=True, exist_ok=True)
    report.data_docs = session.build_docs()
    report.summary = write_summary(report, session.out_dir)


def _run(
    target: Target,
    checks: Sequence[Check],
    session: ContractSession,
    new_facts_only: bool,
    blocked: str | None = None,
) -> list[Outcome]:
    """Validate `checks` and return their outcomes, in order. `blocked`: skip every check that
    could run, with that message."""
    needed = sorted({r for c in checks for r in c.needs})
    with connect(target) as conn:
        exists = {r: _relation_exists(conn, r) for r in needed}
        # The facts past the triage cursor are the ones no build has judged yet.
        judged_before = new_facts_only and _relation_exists(conn, TRIAGE)
        facts_after = _settled_through(conn) if judged_before else None
        cursors = {c.topic: c.cursor for c in checks if c.part == "payload" and c.topic}
        after = {
            topic: _cursor(conn, cursor) if new_facts_only and cursor else 0
            for topic, cursor in cursors.items()
        }
        totals = _topic_totals(conn, after) if exists.get(TRIAGE) else {}
    share_base = MIN_SHARE_BASE if new_facts_only else 0

    outcomes: dict[tuple[str, str], Outcome] = {}
    groups: dict[tuple[str, str, str], list[Check]] = {}
    for check in checks:
        missing = [r for r in check.needs if not exists.get(r)]
        if missing:
            outcomes[(check.suite, check.name)] = _missing(check, missing)
        elif blocked:
            outcomes[(check.suite, check.name)] = _not_run(check, "skipped", blocked)
        else:
            groups.setdefault((check.suite, check.relation), []).append(check)

    runs = []
    for (suite, relation), members in groups.items():
        name = f"{suite}.{relation}"
        judged = [c for c in members if c.kind == "judged"]
        topic = judged[0].topic if judged else None
        shared = judged_query(judged, after.get(topic or "", 0)) if judged else ""
        expectations = []
        for c in members:
            if c.kind == "judged":
                expectations.append(_expectation(session.gx, c, shared))
            elif c.kind == "unexpected_rows":
                if c.part == "payload":
                    since = after.get(c.topic or "", 0)
                    window = f"judge_batch > {since}" if since else "true"
                else:
                    window = _unjudged(facts_after)
                expectations.append(
                    _expectation(session.gx, c, (c.query or "").replace(NEW_FACTS, window))
                )
            else:
                expectations.append(_expectation(session.gx, c))
        validation = session.replace_suite(
            name, expectations, session.batch_definition(target, relation)
        )
        # SUMMARY: a sample of each column check's bad values, not all of them. The query
        # checks return their own rows whatever the format (see _rows_expectation_class).
        keys = sorted({k for c in members if c.kind == "expect" for k in c.keys})
        result_format = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": SAMPLE_SIZE,
            **({"unexpected_index_column_names": keys} if keys else {}),
        }
        runs.append((validation, result_format, members))

    # Validations are independent queries: run a few at once (PostgreSQL does the work).
    with ThreadPoolExecutor(max_workers=max(1, session.threads)) as pool:
        results = list(pool.map(lambda run: run[0].run(result_format=run[1]), runs))
    for (_, _, members), result in zip(runs, results, strict=True):
        by_name = {c.name: c for c in members}
        for r in result.results:
            check = by_name[r.expectation_config.meta["check"]]
            if check.kind == "judged":
                outcomes[(check.suite, check.name)] = _judged_outcome(
                    check, r, totals, after.get(check.topic or "", 0), share_base
                )
            else:
                outcomes[(check.suite, check.name)] = _outcome(check, r)
    return [outcomes[(c.suite, c.name)] for c in checks]


def _relation_exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _cursor(conn: psycopg.Connection, relation: str) -> int:
    """The last judge batch a staging model has read; 0 before its first build."""
    if not _relation_exists(conn, relation):
        return 0
    schema, table = relation.split(".", 1)
    statement = psycopg.sql.SQL("select coalesce(max(judge_batch), 0) from {}").format(
        psycopg.sql.Identifier(schema, table)
    )
    return int(conn.execute(statement).fetchone()[0])


def _settled_through(conn: psycopg.Connection) -> int:
    """The judge's watermark, as triage_settled_through() in macros/triage.sql computes it:
    every fact up to it is judged or will never commit."""
    if not _relation_exists(conn, "ops.facts_triage_batches"):
        return 0
    return int(
        conn.execute(
            "select coalesce(max(settled.max_fact_id), 0) from ops.facts_triage_batches as settled"
            " where exists (select 1 from ops.facts_triage_batches as later"
            " where later.judge_batch > settled.judge_batch and later.xid_horizon is not null"
            " and later.judged_xmin >= settled.xid_horizon)"
        ).fetchone()[0]
    )


def _unjudged(settled: int | None) -> str:
    """The facts no build has judged yet, as a predicate on the facts table (`true`: every
    fact). They are the ones the next judge reads: past the watermark and not in the triage.
    An anti-join (hashed in parallel workers) where `not in` hashes in one process: right after a
    full refresh the watermark is 0 and it reads every fact."""
    if settled is None:
        return "true"
    return (
        f"id > {int(settled)} and not exists"
        f" (select from {TRIAGE} as judged where judged.fact_id = id)"
    )


def _topic_totals(conn: psycopg.Connection, after: dict[str, int]) -> dict[str, int]:
    """How many facts of each topic the payload checks read (the judged ones past its cursor)."""
    schema, table = TRIAGE.split(".", 1)
    statement = psycopg.sql.SQL(
        "select count(*) from {} where topic = %s and judge_batch > %s"
    ).format(psycopg.sql.Identifier(schema, table))
    return {
        topic: int(conn.execute(statement, (topic, after_id)).fetchone()[0])
        for topic, after_id in after.items()
    }


def _missing(check: Check, missing: list[str]) -> Outcome:
    """A relation the check reads is absent: the facts table is an error, a model is skipped.

    A model that should exist after a full build is dbt's to report; skipping here keeps a
    `--select` build from failing on marts it did not build.
    """
    status: Status = "error" if check.facts in missing else "skipped"
    return _not_run(check, status, f"needs {', '.join(missing)}, which does not exist")


def _expectation(gx: Any, check: Check, query: str = "") -> Any:
    common = {
        "description": f"{check.name} ({check.severity}): {check.why}",
        "severity": "critical" if check.severity == "error" else "warning",
        "meta": {
            "check": check.name,
            "suite": check.suite,
            "severity": check.severity,
            "why": check.why,
            **({"error_above_share": check.error_above_share} if check.error_above_share else {}),
            **({"quarantined": list(check.quarantined)} if check.quarantined else {}),
            **({"flagged": list(check.flagged)} if check.flagged else {}),
        },
    }
    if check.kind == "expect":
        return getattr(gx.expectations, check.expect)(**check.kwargs, **common)
    # GX formats the query with str.format: literal braces (regex counts) are doubled.
    query = query.replace("{", "{{").replace("}", "}}").replace("{{batch}}", "{batch}")
    if check.kind == "judged":
        return _judged_expectation_class()(unexpected_rows_query=query, **common)
    counted = (
        f"select unexpected.*, count(*) over () as {ROWS_TOTAL}\n"
        f"from (\n{query.rstrip().rstrip(';')}\n) as unexpected\nlimit {SAMPLE_LIMIT}"
    )
    return _rows_expectation_class()(unexpected_rows_query=counted, **common)


# unexpected_rows checks: the column that carries the count of all bad rows next to the sample,
# and how many rows are fetched.
ROWS_TOTAL = "unexpected_rows_total"
SAMPLE_LIMIT = 200


@functools.cache
def _rows_expectation_class() -> type:
    """UnexpectedRowsExpectation that evaluates its query once.

    The stock expectation runs the query twice, to count its rows and then to fetch them; a
    reconciliation over every staged order is not cheap. Here the query carries its own count
    (`count(*) over ()`) and one fetch gives the count and the sample.
    """
    import great_expectations as gx

    class ExpectNoUnexpectedRows(gx.expectations.UnexpectedRowsExpectation):
        metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

        def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
            rows = [dict(row) for row in metrics["unexpected_rows_query.table"]]
            count = int(rows[0][ROWS_TOTAL]) if rows else 0
            for row in rows:
                row.pop(ROWS_TOTAL, None)
            return {
                "success": count == 0,
                "result": {"observed_value": count, "details": {"unexpected_rows": rows}},
            }

    return ExpectNoUnexpectedRows


def judged_query(checks: Sequence[Check], after_id: int = 0) -> str:
    """One query for every judged check of a topic: per check, how many facts (past fact id
    `after_id`) it accounts for and the lowest of their ids.

    A quarantined fact counts for the first check whose `quarantined` pattern matches its reason;
    a staged fact counts once for each check whose `flagged` pattern matches one of its warnings
    (the first that matches each warning). The checks share the query text, so GX computes it
    once for all of them.
    """
    topic = checks[0].topic

    def case(value: str, field: str) -> str:
        whens = [
            f"when {value} like any (array[{', '.join(map(_literal, patterns))}]) "
            f"then {_literal(c.name)}"
            for c in checks
            if (patterns := getattr(c, field))
        ]
        return "case " + " ".join(whens) + " end" if whens else "null::text"

    after = f" and judge_batch > {int(after_id)}" if after_id else ""
    return f"""with judged as (
    select fact_id, reason, warnings from {{batch}}
    where topic = {_literal(topic)}{after}
        and (reason is not null or warnings is not null)
),
verdicts as (
    select fact_id, {case("reason", "quarantined")} as check_name
    from judged
    where reason is not null
    union all
    select judged.fact_id, {case("w.warning", "flagged")}
    from judged cross join lateral unnest(judged.warnings) as w (warning)
    where judged.reason is null
)
select
    check_name,
    count(distinct fact_id) as bad_facts,
    (array_agg(distinct fact_id order by fact_id))[1:{SAMPLE_SIZE}] as sample_fact_ids
from verdicts
where check_name is not null
group by check_name"""


@functools.cache
def _judged_expectation_class() -> type:
    """UnexpectedRowsExpectation over a topic's verdicts.

    Every judged check of a topic carries the same query (see judged_query), so GX computes the
    metric once and each expectation reads its own row. The stock expectation would count the
    query's rows and then fetch them: fetching the rows is all it takes here.
    """
    import great_expectations as gx

    class ExpectNoJudgedFacts(gx.expectations.UnexpectedRowsExpectation):
        metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

        def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
            name = (self.meta or {}).get("check")
            rows = [r for r in metrics["unexpected_rows_query.table"] if r["check_name"] == name]
            count = sum(int(row["bad_facts"]) for row in rows)
            return {
                "success": count == 0,
                "result": {"observed_value": count, "details": {"unexpected_rows": rows}},
            }

    return ExpectNoJudgedFacts


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
    return Outcome(
        suite=check.suite,
        expectation=check.name,
        stage=check.stage,
        severity=check.severity,
        status=status,
        success=count == 0,
        unexpected_count=count,
        unexpected_share=share,
        sample=sample[:SAMPLE_SIZE],
        relation=check.relation,
        why=check.why,
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
    return Outcome(
        suite=check.suite,
        expectation=check.name,
        stage=check.stage,
        severity=check.severity,
        status=status,
        success=False,
        unexpected_count=None,
        unexpected_share=None,
        sample=[],
        relation=check.relation,
        why=check.why,
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
    return Outcome(
        suite=check.suite,
        expectation=check.name,
        stage=check.stage,
        severity=check.severity,
        status="pass" if r.success else check.severity,
        success=bool(r.success),
        unexpected_count=count,
        unexpected_share=None,
        sample=_jsonable(sample[:SAMPLE_SIZE]),
        relation=check.relation,
        why=check.why,
    )


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


RESULT_COLUMNS = (
    "run_id",
    "stage",
    "suite",
    "expectation",
    "severity",
    "status",
    "success",
    "unexpected_count",
    "unexpected_share",
    "sample",
    "relation",
    "message",
)


def record_results(target: Target, report: ContractReport) -> int:
    """Append the outcomes to ops.contract_results when that table exists (its columns decide)."""
    with connect(target) as conn:
        if not _relation_exists(conn, "ops.contract_results"):
            return 0
        present = {
            name: dtype
            for name, dtype in conn.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = 'ops' and table_name = 'contract_results'"
            ).fetchall()
        }
        columns = [c for c in RESULT_COLUMNS if c in present]
        if not columns:
            return 0
        rows = []
        for o in report.outcomes:
            values = {
                "run_id": report.run_id,
                "stage": report.stage,
                "suite": o.suite,
                "expectation": o.expectation,
                "severity": o.severity,
                "status": o.status,
                "success": o.success,
                "unexpected_count": o.unexpected_count,
                "unexpected_share": o.unexpected_share,
                "sample": json.dumps(o.sample),
                "relation": o.relation,
                "message": o.message or None,
            }
            rows.append(tuple(values[c] for c in columns))
        placeholders = psycopg.sql.SQL(", ").join(
            psycopg.sql.SQL("%s::jsonb") if present[c] == "jsonb" else psycopg.sql.Placeholder()
            for c in columns
        )
        statement = psycopg.sql.SQL("insert into ops.contract_results ({}) values ({})").format(
            psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns)), placeholders
        )
        with conn.cursor() as cur:
            cur.executemany(statement, rows)
        return len(rows)
