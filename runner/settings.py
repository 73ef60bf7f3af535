"""The project's settings, read one way for every command: dbt_project.yml's vars with the
command's `--vars` over them (as dbt merges them: top-level keys), and what follows from them,
such as the facts relation (var facts_schema).

A command that takes `--vars` puts them on its Target (`with_vars`); every module reads the
settings of the target it was given (`of(target)`), so the contracts, the grants, the status and
the loaders see the vars dbt builds with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from runner.db import Target
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


def load(project_dir: Path, cli_vars: str | None = None) -> Settings:
    values = project_vars(project_dir)
    values.update(parse_cli_vars(cli_vars))
    return Settings(project_dir=project_dir, vars=values, cli_vars=cli_vars or None)


def of(target: Target) -> Settings:
    """The settings a command on `target` runs with."""
    return load(target.project_dir, target.vars)


def with_vars(target: Target, cli_vars: str | None) -> Target:
    """The target with the command's --vars (checked now: a bad --vars fails before any work)."""
    parse_cli_vars(cli_vars)
    return dataclasses.replace(target, vars=cli_vars or None)
