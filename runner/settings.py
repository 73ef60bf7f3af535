"""The project's settings, read one way for every command: dbt_project.yml's vars with the
command's `--vars` over them (as dbt merges them: top-level keys), and what follows from them,
such as the facts relation (var facts_schema) and the security model (var security).

A command that takes `--vars` puts them on its Target (`with_vars`); every module reads the
settings of the target it was given (`of(target)`), so the contracts, the grants, the status and
the loaders see the vars dbt builds with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from runner.db import PROJECT_DIR, Target
from runner.errors import ConfigError
from runner.facts import FACTS_TABLE


def yaml_load(text: str) -> Any:
    """yaml.safe_load, with the C loader when PyYAML has it (ten times faster)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@lru_cache(maxsize=8)
def _file_vars(path: Path, mtime_ns: int) -> dict[str, Any]:
    try:
        project = yaml_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    values = project.get("vars") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: vars must be a mapping of names to values")
    return values


def project_vars(project_dir: Path) -> dict[str, Any]:
    """The vars of dbt_project.yml (a copy: callers may change it)."""
    path = project_dir / "dbt_project.yml"
    if not path.is_file():
        raise ConfigError(f"{project_dir} has no dbt_project.yml", hint="run from the project")
    return dict(_file_vars(path, path.stat().st_mtime_ns))


def parse_cli_vars(text: str | None) -> dict[str, Any]:
    """--vars as dbt reads it: a YAML mapping (none or an empty string: no vars)."""
    if text is None or not text.strip():
        return {}
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"--vars is not valid YAML: {str(exc).splitlines()[0]}",
            hint="""pass a YAML mapping, e.g. --vars '{revenue_goal: 5000000}'""",
        ) from exc
    if not isinstance(values, dict):
        raise ConfigError(
            f"--vars must be a YAML mapping, got {text!r}",
            hint="""e.g. --vars '{revenue_goal: 5000000}'""",
        )
    return values


@dataclass(frozen=True)
class Roles:
    """The four group roles of the security model."""

    loader: str
    analyst: str
    operator: str
    ai: str

    def all(self) -> tuple[str, ...]:
        return (self.loader, self.analyst, self.operator, self.ai)


@dataclass(frozen=True)
class Policies:
    """The three policies on every mart table."""

    owner: str
    analyst: str
    shop: str


@dataclass(frozen=True)
class SecurityModel:
    """The security model's names: the dbt var `security` (dbt_project.yml declares it; the
    macros in macros/security/ read the same var through hotdash_security_config())."""

    roles: Roles
    policies: Policies
    marts_schema: str
    analyst_only_schemas: tuple[str, ...]  # read by the analyst besides the marts
    private_schemas: tuple[str, ...]  # read by no reader
    shop_column: str
    shop_setting: str
    session_shop_function: str

    @property
    def analyst_schemas(self) -> tuple[str, ...]:
        """Every schema the analyst reads, the marts included."""
        return (*self.analyst_only_schemas, self.marts_schema)

    @property
    def managed_schemas(self) -> tuple[str, ...]:
        """Every schema of the project whose grants the model resets."""
        return (*self.analyst_only_schemas, self.marts_schema, *self.private_schemas)

    @property
    def shop_readers(self) -> tuple[str, ...]:
        """The roles that read the marts' rows of their own shop only."""
        return (self.roles.operator, self.roles.ai)

    @classmethod
    def from_var(cls, value: Any) -> SecurityModel:
        """The var's value, or ConfigError naming what it lacks."""
        value = value if isinstance(value, Mapping) else {}
        missing = [
            key
            for key in (
                "roles",
                "marts_schema",
                "analyst_schemas",
                "private_schemas",
                "shop_column",
                "shop_setting",
                "session_shop_function",
                "policies",
            )
            if value.get(key) is None
        ]
        for group, kind in (("roles", Roles), ("policies", Policies)):
            if isinstance(value.get(group), Mapping):
                names = [f.name for f in dataclasses.fields(kind)]
                missing += [f"{group}.{n}" for n in names if value[group].get(n) is None]
        if missing:
            raise ConfigError(
                f"the dbt var security lacks {', '.join(missing)}",
                hint="dbt_project.yml declares them all; --vars replaces the whole var",
            )

        def names(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in value[key] or ())

        return cls(
            roles=Roles(**{f.name: str(value["roles"][f.name]) for f in dataclasses.fields(Roles)}),
            policies=Policies(
                **{f.name: str(value["policies"][f.name]) for f in dataclasses.fields(Policies)}
            ),
            marts_schema=str(value["marts_schema"]),
            analyst_only_schemas=names("analyst_schemas"),
            private_schemas=names("private_schemas"),
            shop_column=str(value["shop_column"]),
            shop_setting=str(value["shop_setting"]),
            session_shop_function=str(value["session_shop_function"]),
        )


# The tables of the marts schema that record what the builds found, not what the facts say: the
# alerts (runner/alerts.py) and the snapshots (snapshots/). Two builds of the same facts differ
# there, so every comparison of marts across builds leaves them out.
BUILD_RECORDS = ("alerts", "customer_segments_history", "inventory_actions_history")


@dataclass(frozen=True)
class FeedThresholds:
    """A feed is late (warn) past warn_after and stale (error) past error_after."""

    warn_after: dt.timedelta
    error_after: dt.timedelta

    def status(self, age: dt.timedelta) -> str:
        """fresh, warn or stale: an age above a threshold crosses it (dbt's rule too)."""
        return "stale" if age > self.error_after else "warn" if age > self.warn_after else "fresh"


@dataclass(frozen=True)
class Settings:
    """dbt_project.yml's vars with --vars over them, and what the runner derives from them."""

    project_dir: Path
    vars: Mapping[str, Any]
    cli_vars: str | None = None

    def get(self, name: str, default: Any = None) -> Any:
        value = self.vars.get(name)
        return default if value is None else value

    @property
    def facts_schema(self) -> str:
        return str(self.get("facts_schema", "public"))

    @property
    def facts_relation(self) -> str:
        """schema.facts, as text (for suites and messages)."""
        return f"{self.facts_schema}.{FACTS_TABLE}"

    @property
    def topics(self) -> Mapping[str, Mapping[str, Any]]:
        """The staged topics (var topics): topic -> model, keys, entity, version, rule, suite."""
        return self.get("topics", {})

    def freshness(self, topic: str) -> FeedThresholds:
        """The topic's freshness thresholds (var freshness; its `default` for a topic not
        listed): the one set dbt source freshness, status, the contracts and the alerts use."""
        table = self.get("freshness", {})
        spec = table.get(topic) or table.get("default")
        where = f"var freshness[{topic!r}]" if topic in table else "var freshness['default']"
        try:
            warn, error = (spec[k] for k in ("warn_after_hours", "error_after_hours"))
        except (TypeError, KeyError) as exc:
            raise ConfigError(
                f"{where} needs warn_after_hours and error_after_hours: {spec!r}",
                hint="dbt_project.yml declares them per topic; --vars replaces the whole var",
            ) from exc
        # Whole hours: dbt source freshness counts periods in integers.
        if not all(type(h) is int for h in (warn, error)) or not 0 < warn <= error:
            raise ConfigError(
                f"{where}: warn_after_hours ({warn!r}) and error_after_hours ({error!r}) must be"
                " whole hours, above 0, warn at most error"
            )
        return FeedThresholds(dt.timedelta(hours=warn), dt.timedelta(hours=error))

    @property
    def security(self) -> SecurityModel:
        """The security model (var security)."""
        return SecurityModel.from_var(self.vars.get("security"))


def load(project_dir: Path, cli_vars: str | None = None) -> Settings:
    values = project_vars(project_dir)
    values.update(parse_cli_vars(cli_vars))
    return Settings(project_dir=project_dir, vars=values, cli_vars=cli_vars or None)


def project_security(project_dir: Path | None = None) -> SecurityModel:
    """The security model of dbt_project.yml, for code that has no target (a bare connection)."""
    return load(project_dir or PROJECT_DIR).security


def of(target: Target) -> Settings:
    """The settings a command on `target` runs with."""
    return load(target.project_dir, target.vars)


def with_vars(target: Target, cli_vars: str | None) -> Target:
    """The target with the command's --vars (checked now: a bad --vars fails before any work)."""
    parse_cli_vars(cli_vars)
    return dataclasses.replace(target, vars=cli_vars or None)
