"""Suite files: contracts/source/*.yml and contracts/marts/*.yml, read and rendered into checks.

The format is described in contracts/README.md. A suite renders with the project's vars (and the
command's --vars, through runner.settings); a malformed file is a ConfigError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.nativetypes
import yaml

from runner import settings
from runner.errors import ConfigError
from runner.settings import Settings, yaml_load

Stage = Literal["source", "marts"]


# The source stage in two parts: the facts table itself (before dbt judges anything), then the
# payloads as ops.facts_triage judged them.
Part = Literal["facts", "payload"]


Severity = Literal["error", "warn"]


Status = Literal["pass", "warn", "error", "skipped"]


STAGES: tuple[Stage, ...] = ("source", "marts")


PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


CONTRACTS_DIR = PROJECT_DIR / "contracts"


MODEL_SCHEMAS = ("staging", "intermediate", "marts", "ops")


# Every fact of a staged topic with its verdict (models/staging/facts_triage.sql).
TRIAGE = "ops.facts_triage"


TRIAGE_MODEL = "facts_triage"


FACTS_SOURCE = "source:app.facts"  # dbt's name of the facts table, with its tests

# The build's dbt steps (selectors.yml): the judge (the facts source and the triage), and
# everything after it but the unit tests.
JUDGE_SELECTOR = "judge"
NIGHTLY_SELECTOR = "nightly"
# The freshness sources, one per staged topic, for `dbt source freshness`.
FEEDS_SELECTOR = "feeds"


# In a source query, the facts this run checks, or `true` when it checks every fact: on the facts
# table the facts not judged yet (past the judge's watermark and not in ops.facts_triage), on
# ops.facts_triage `judge_batch > <the suite's staging cursor>` (the facts not staged yet).
NEW_FACTS = "{new_facts}"


@dataclass(frozen=True)
class Check:
    """One expectation of a suite file, rendered and ready to become a GX expectation."""

    suite: str
    name: str
    severity: Severity
    why: str
    stage: Stage
    relation: str  # schema.table the GX batch reads
    kind: Literal["judged", "unexpected_rows", "row", "expect"]
    query: str | None = None  # unexpected_rows: a query reading {batch}
    # row: the condition a bad row meets (fails_when), and what its sample shows (name, SQL)
    condition: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
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
        sql = " ".join(filter(None, (self.query, self.condition, *(e for _, e in self.columns))))
        if sql:
            schemas = "|".join((*MODEL_SCHEMAS, self.relation.split(".")[0]))
            found += [m.group(0) for m in re.finditer(rf"\b(?:{schemas})\.[a-z_][a-z0-9_]*\b", sql)]
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
    topic = doc.get("topic")
    if topic is not None and topic not in project.topics:
        raise ConfigError(
            f"contract suite {path.name} is of topic {topic!r}, which var topics does not list",
            hint='add the topic to var topics in dbt_project.yml (README "Adding a topic")',
        )
    # The staging model that stages the topic: the facts past its highest judge batch are new.
    context["cursor"] = f"staging.{project.topics[topic]['model']}" if topic else None
    # is_fresh: the topic's warn threshold in var freshness, as an interval.
    if topic:
        hours = project.freshness(topic).warn_after.total_seconds() / 3600
        context["fresh_within"] = f"{hours:g} hours"

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
    forms = [f for f in ("unexpected_rows", "fails_when", "expect") if f in raw]
    if len(forms) + judged > 1:
        given = ["quarantined/flagged"] * judged + forms
        raise ConfigError(f"{where}: give one of {', '.join(given)}, not several")
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
    if "fails_when" in raw:
        condition = _render(raw["fails_when"], context, native=False)
        columns = _render(raw.get("columns"), context, native=False)
        if not isinstance(condition, str) or not condition.strip():
            raise ConfigError(
                f"{where}: `fails_when` is a SQL condition on one row of the relation"
            )
        if "{batch}" in condition or NEW_FACTS in condition:
            raise ConfigError(
                f"{where}: `fails_when` is a condition on one row: its query reads the relation"
                f" and the facts this run checks ({NEW_FACTS}) itself"
            )
        if (
            not isinstance(columns, dict)
            or not columns
            or not all(isinstance(v, str) and v.strip() for v in columns.values())
        ):
            raise ConfigError(
                f"{where}: `fails_when` needs `columns`, what a bad row's sample shows:"
                " a mapping of names to SQL expressions, e.g. {fact_id: id}"
            )
        return Check(
            kind="row",
            condition=condition.strip(),
            columns=tuple((str(k), v.strip()) for k, v in columns.items()),
            **common,
        )
    if "expect" in raw:
        from runner.contracts.gx import import_gx

        gx = import_gx()
        if not hasattr(gx.expectations, raw["expect"]):
            raise ConfigError(f"{where}: gx.expectations has no {raw['expect']}")
        kwargs = _render(raw.get("kwargs") or {}, context, native=True)
        return Check(kind="expect", expect=raw["expect"], kwargs=kwargs, **common)
    raise ConfigError(
        f"{where}: give one of quarantined/flagged, unexpected_rows, fails_when or expect"
    )


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
    _require_topic_suites(suites, contracts_dir, project)
    return suites


def _require_topic_suites(suites: list[Suite], contracts_dir: Path, project: Settings) -> None:
    """Every staged topic (var topics) has its source suite, and the suite is of that topic."""
    by_file = {s.path.stem: s for s in suites if s.kind == "source"}
    for topic, spec in project.topics.items():
        suite = by_file.get(str(spec.get("suite")))
        path = contracts_dir / "source" / f"{spec.get('suite')}.yml"
        if suite is None:
            raise ConfigError(
                f"staged topic {topic} has no source contract suite: {path} does not exist",
                hint="write the suite (contracts/README.md) or fix `suite` in var topics",
            )
        topics = {c.topic for c in suite.checks if c.topic}
        if topics != {topic}:
            raise ConfigError(
                f"{path.name} is the suite of topic {topic} (var topics), but it is of"
                f" {', '.join(sorted(map(str, topics))) or 'no topic'}",
                hint="set `topic:` in the suite to the topic it checks",
            )
