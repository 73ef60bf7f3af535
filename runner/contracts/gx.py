"""The Great Expectations side: one ephemeral GX context per session, its SQL datasource, its
Data Docs site, and the two custom expectations that evaluate a query once (unexpected rows with
their own count, and a topic's verdicts)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import psycopg.sql

from runner import heap
from runner.contracts.report import SAMPLE_SIZE
from runner.contracts.suites import Check, Suite, _literal, load_suites
from runner.db import Target
from runner.settings import Settings

DOCS_SITE = "hotdash"


# Imported by Great Expectations when it loads, used only by its expectations of distributions
# (KL divergence, KS tests, and altair for the KL divergence's charts), which no hotdash contract
# runs: scipy.stats about 0.5 s and altair about 0.1 s of the 1.9 s GX took to import, and the
# contract steps wait for that import.
DEFERRED_IMPORTS = ("scipy.stats", "altair")


def import_gx() -> Any:
    """The great_expectations module, imported with DEFERRED_IMPORTS loaded on first use instead
    (_DeferredModule): GX's `from scipy import stats` and `import altair` then bind a module
    whose code runs only when one of its attributes is read."""
    if "great_expectations" not in sys.modules:
        for name in DEFERRED_IMPORTS:
            _defer_import(name)
    with heap.collector_paused():
        import great_expectations

    return great_expectations


class _DeferredModule(types.ModuleType):
    """Stands in sys.modules for a module not imported yet, and imports it when an attribute it
    lacks is read (PEP 562), then holds the module's attributes too. `import name` finds it and
    reads only its __spec__, which it has: importlib.util.LazyLoader's module would load then."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        module = importlib.import_module(name)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


def _defer_import(name: str) -> None:
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:  # its package is not installed: nothing to defer
        return
    if spec is None:
        return
    module = _DeferredModule(name)
    module.__spec__ = spec
    sys.modules[name] = module
    # `from package import name` then finds the attribute and does not import it again.
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, module)


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
        gx = import_gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.out_dir = out_dir
        self._suites: dict[tuple[Path, Path, str | None], list[Suite]] = {}
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
            site_name=DOCS_SITE, site_config={"class_name": "SiteBuilder", **self._site_config()}
        )
        # The site's builder, made at the first build_docs, and the validations it rendered.
        self._site: Any = None
        self._rendered: set[Any] = set()

    def _site_config(self) -> dict[str, Any]:
        return {
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(self.docs_dir),
            },
        }

    @classmethod
    def for_target(cls, target: Target) -> ContractSession:
        return cls(default_out_dir(target))

    def suites(self, contracts_dir: Path, project: Settings) -> list[Suite]:
        """The suite files, read once per session and vars (a build reads them in each step)."""
        key = (contracts_dir, project.project_dir, project.cli_vars)
        if key not in self._suites:
            self._suites[key] = load_suites(contracts_dir, project)
        return self._suites[key]

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
        """Data Docs: the pages of the session's validations not rendered yet and of their
        suites, then the index of every validation of the session.

        One site builder serves the session, so GX compiles its page templates once, and a page
        is rendered once: a build's mart contracts render their own validations, not the source
        stage's again (GX's build_data_docs does both anew at every call). A suite replaced by a
        later run is rendered again with the run's validation. The mart contracts step of a
        night at 1M facts, which waits for its Data Docs: 0.49-0.60 s before, 0.22-0.28 s."""
        if self._site is None:
            from great_expectations.render.renderer.site_builder import SiteBuilder

            self._site = SiteBuilder(
                data_context=self.context, site_name=DOCS_SITE, **self._site_config()
            )
        new = [
            key
            for key in self.context.validation_results_store.list_keys()
            if key not in self._rendered
        ]
        if new:
            suites = {key.expectation_suite_identifier for key in new}
            self._site.build(resource_identifiers=[*new, *suites])
        else:  # an empty list would render every page: the index alone
            self._site.site_index_builder.build()
        self._rendered.update(new)
        return self.docs_dir / "index.html"


def default_out_dir(target: Target) -> Path:
    """Git-ignored: the target's HOTDASH_HOME (.hotdash by default) / contracts."""
    return target.home / "contracts"


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
    if check.kind == "row":
        return _row_expectation_class()(unexpected_rows_query=query, **common)
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
    gx = import_gx()

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


def rows_query(checks: Sequence[Check], window: str = "true") -> str:
    """One query for every row check (`fails_when`) of one relation: per check, how many of the
    rows the run reads (`window`, a condition such as {new_facts} is replaced by) fail its
    condition, and up to SAMPLE_LIMIT of them, each as its `columns` in a JSON object.

    The relation is read once for all of them, failing rows only going further; as separate
    queries, a full refresh read the facts table once per check (at 1M facts, 1.5 GB each time).
    The checks share the query text, so GX computes it once for all of them.

    It first asks whether any row fails (an EXISTS PostgreSQL evaluates once, before the scan
    it gates): that reads only the columns the conditions name, which an index may hold (the
    facts' shop, topic and time: facts_shop_topic_created_at_idx), where the samples need every
    column they show (the fact's id: the facts' whole table). When no row fails, that is all it
    reads: at 1M facts 0.26-0.32 s in one process, where the scan of the table took 0.37-0.58 s
    in three.
    """
    conditions = [f"({c.condition})" for c in checks]
    failing = f"({window}) and ({' or '.join(conditions)})"
    samples = ",\n        ".join(
        f"({_literal(c.name)}, case when {condition} then jsonb_build_object("
        + ", ".join(f"{_literal(name)}, {expr}" for name, expr in c.columns)
        + ") end)"
        for c, condition in zip(checks, conditions, strict=True)
    )
    return f"""select counted.check_name, counted.sample, counted.{ROWS_TOTAL}
from (
    select
        failed.check_name,
        failed.sample,
        count(*) over (partition by failed.check_name) as {ROWS_TOTAL},
        row_number() over (partition by failed.check_name) as sampled
    from {{batch}}
    cross join lateral (values
        {samples}
    ) as failed (check_name, sample)
    where
        {failing} and failed.sample is not null
        and exists (select from {{batch}} as any_failing where {failing})
) as counted
where counted.sampled <= {SAMPLE_LIMIT}"""


def _shared_query_class(name: str, outcome: Callable[[list[Any]], tuple[int, list[Any]]]) -> type:
    """An UnexpectedRowsExpectation whose query every check of a group carries (rows_query,
    judged_query): GX computes it once, and each expectation takes the rows of its own check
    (column check_name), from which `outcome` gives its count and sample. The stock expectation
    would count the query's rows and then fetch them: fetching the rows is all it takes here."""
    gx = import_gx()

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        check = (self.meta or {}).get("check")
        rows = [r for r in metrics["unexpected_rows_query.table"] if r["check_name"] == check]
        count, sample = outcome(rows)
        return {
            "success": count == 0,
            "result": {"observed_value": count, "details": {"unexpected_rows": sample}},
        }

    namespace = {
        "__module__": __name__,
        "__annotations__": {"metric_dependencies": ClassVar[tuple[str, ...]]},
        "metric_dependencies": ("unexpected_rows_query.table",),
        "_validate": _validate,
    }
    return type(name, (gx.expectations.UnexpectedRowsExpectation,), namespace)


@functools.cache
def _row_expectation_class() -> type:
    """The row checks of one relation (rows_query): each its count and sampled rows."""
    return _shared_query_class(
        "ExpectNoFailingRows",
        lambda rows: (
            int(rows[0][ROWS_TOTAL]) if rows else 0,
            [dict(r["sample"]) for r in rows],
        ),
    )


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
    """The judged checks of a topic (judged_query): each its count of facts and their rows."""
    return _shared_query_class(
        "ExpectNoJudgedFacts", lambda rows: (sum(int(r["bad_facts"]) for r in rows), rows)
    )
