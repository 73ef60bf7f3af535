"""`hotdash doctor`: each check of the setup is one line, ok / warn / fail, with a fix hint."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from runner import db, settings
from runner.errors import DatabaseError, HotdashError
from runner.facts import facts_table

PACKAGES = (
    ("dbt-core", "1.11."),
    ("dbt-postgres", "1.11."),
    ("psycopg", ""),
    ("great-expectations", ""),
    ("sqlfluff", ""),
    ("pgserver", ""),
)
FACTS_INDEXES = ("facts_topic_id_idx", "facts_shop_topic_created_at_idx")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn, fail
    detail: str
    hint: str = ""


def _versions() -> Iterator[Check]:
    version = platform.python_version()
    yield Check(
        "python",
        "ok" if version.startswith("3.11.") else "warn",
        version,
        "" if version.startswith("3.11.") else "the project is tested on Python 3.11",
    )
    for package, pin in PACKAGES:
        try:
            found = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            yield Check(package, "fail", "not installed", "pip install -e '.[dev]'")
            continue
        if pin and not found.startswith(pin):
            yield Check(package, "fail", found, f"pyproject.toml pins {pin}x: pip install -e .")
        else:
            yield Check(package, "ok", found)


def _database(target: db.Target) -> Iterator[Check]:
    try:
        with db.connect(target) as conn:
            version = conn.execute("show server_version").fetchone()
            yield Check(
                "database",
                "ok",
                f"PostgreSQL {version[0] if version else '?'} at {target.redacted()}",
            )
            project = settings.of(target)
            yield from _facts(conn, project.facts_schema)
            yield from _ops(conn)
            yield from _roles(conn, project.security)
            yield from _rls(conn, project.security)
    except HotdashError as exc:
        yield Check("database", "fail", exc.message, exc.hint or "")
    except psycopg.Error as exc:
        yield Check("database", "fail", str(exc).strip().splitlines()[0], "`hotdash db up`")


def _facts(conn: psycopg.Connection, schema: str = "public") -> Iterator[Check]:
    relation = f"{schema}.facts"
    regclass = facts_table(schema).as_string(conn)
    present = conn.execute("select to_regclass(%s) is not null", (regclass,)).fetchone()
    if not present or not present[0]:
        yield Check(
            "facts table",
            "fail",
            f"{relation} is missing",
            "`hotdash load FILE` or `hotdash demo` creates it",
        )
        return
    estimate = conn.execute(
        "select greatest(reltuples, 0)::bigint from pg_class where oid = %s::regclass",
        (regclass,),
    ).fetchone()
    yield Check("facts table", "ok", f"{relation}, about {estimate[0] if estimate else 0:,} rows")
    names = {
        row[0]
        for row in conn.execute(
            "select indexname from pg_indexes where schemaname = %s and tablename = 'facts'",
            (schema,),
        )
    }
    missing = [name for name in FACTS_INDEXES if name not in names]
    if missing:
        yield Check(
            "facts indexes",
            "fail",
            f"missing: {', '.join(missing)}",
            "`hotdash build` (or plain `dbt build`) creates them (macros/setup/ddl.sql)",
        )
    else:
        yield Check("facts indexes", "ok", ", ".join(FACTS_INDEXES))


def _ops(conn: psycopg.Connection) -> Iterator[Check]:
    tables = ("ops.build_runs", "ops.build_run_nodes", "ops.contract_results")
    missing = [
        name
        for name in tables
        if not conn.execute("select to_regclass(%s)", (name,)).fetchone()[0]  # type: ignore[index]
    ]
    if missing:
        yield Check(
            "build record", "warn", f"missing: {', '.join(missing)}", "`hotdash build` creates them"
        )
    else:
        yield Check("build record", "ok", ", ".join(tables))


def _roles(conn: psycopg.Connection, model: settings.SecurityModel) -> Iterator[Check]:
    roles = model.roles.all()
    found = {
        row[0]
        for row in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", (list(roles),)
        )
    }
    missing = [role for role in roles if role not in found]
    if missing:
        yield Check("roles", "fail", f"missing: {', '.join(missing)}", "`hotdash grants`")
    else:
        yield Check("roles", "ok", ", ".join(roles))


def _rls(conn: psycopg.Connection, model: settings.SecurityModel) -> Iterator[Check]:
    marts = model.marts_schema
    rows = conn.execute(
        """
        select cls.relname, cls.relrowsecurity, cls.relforcerowsecurity
        from pg_class as cls
        join pg_namespace as nsp on nsp.oid = cls.relnamespace
        where nsp.nspname = %s and cls.relkind in ('r', 'p')
        order by cls.relname
        """,
        (marts,),
    ).fetchall()
    if not rows:
        yield Check(
            "row-level security", "warn", "no marts tables yet", "`hotdash build` builds them"
        )
        return
    unprotected = [name for name, enabled, forced in rows if not (enabled and forced)]
    if unprotected:
        yield Check(
            "row-level security",
            "fail",
            f"not enabled and forced on {', '.join(f'{marts}.{name}' for name in unprotected)}",
            "`hotdash grants`",
        )
    else:
        yield Check("row-level security", "ok", f"enabled and forced on {len(rows)} {marts} tables")


def run_checks(project_dir: Path = db.PROJECT_DIR) -> list[Check]:
    """All checks, in order; a database that cannot be reached fails its check, nothing raises."""
    checks = list(_versions())
    try:
        target = db.resolve_target(project_dir, start=False)
    except HotdashError as exc:
        name = "database" if isinstance(exc, DatabaseError) else "target"
        checks.append(Check(name, "fail", exc.message, exc.hint or ""))
        return checks
    profile = target.profiles_dir / "profiles.yml"
    checks.append(
        Check(
            "target",
            "ok",
            f"{target.kind}: target {target.target_name} of the dbt profile {profile}",
        )
        if profile.exists()
        else Check("target", "fail", f"no dbt profile at {profile}", "`hotdash db up` writes it")
    )
    checks.extend(_database(target))
    return checks
