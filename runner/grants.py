"""Grants and row-level security: applied by dbt macros, verified here from the catalog.

The macros in macros/security/ do the work, at the end of every dbt build (on-run-end) and on
demand (`dbt run-operation apply_security`). verify_security() reads what the database holds
and lists every way it differs from the model; the nightly build fails on any difference.

Privileges are checked with has_*_privilege(), which resolve grants to PUBLIC and through role
membership, so a privilege is found however it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
import yaml

from runner import dbt
from runner.db import Target, connect
from runner.errors import BuildError, SecurityError

LOADER = "hotdash_loader"
ANALYST = "hotdash_analyst"
OPERATOR = "hotdash_operator"
AI = "hotdash_ai_readonly"
ROLES = (LOADER, ANALYST, OPERATOR, AI)

MARTS_SCHEMA = "marts"
MANAGED_SCHEMAS = ("staging", "intermediate", "marts", "ops")
ANALYST_SCHEMAS = ("staging", "marts", "ops")
FACTS_TABLE = "facts"
SHOP_COLUMN = "shop_domain"

OWNER_POLICY = "hotdash_owner_all"
ANALYST_POLICY = "hotdash_analyst_read"
SHOP_POLICY = "hotdash_shop_read"
SHOP_QUAL = "(shop_domain = nullif(current_setting('app.shop_domain'::text, true), ''::text))"

# Privileges a role can hold on a relation; SELECT/INSERT/UPDATE/REFERENCES count column grants too.
RELATION_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
WRITE_PRIVILEGES = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"}
SYSTEM_SCHEMAS_SQL = (
    "n.nspname not in ('pg_catalog', 'information_schema')"
    " and n.nspname not like 'pg\\_toast%%' and n.nspname not like 'pg\\_temp%%'"
)


@dataclass(frozen=True)
class SecuritySettings:
    """What verification compares against: the project's vars, read from dbt_project.yml."""

    facts_schema: str = "public"
    pii_columns: frozenset[str] = field(default_factory=frozenset)


def project_settings(target: Target) -> SecuritySettings:
    """The facts schema and the PII column names, from the project's dbt vars."""
    project = yaml.safe_load((target.project_dir / "dbt_project.yml").read_text()) or {}
    variables = project.get("vars") or {}
    return SecuritySettings(
        facts_schema=str(variables.get("facts_schema", "public")),
        pii_columns=frozenset(str(c).lower() for c in variables.get("pii_columns") or ()),
    )


def apply_security(target: Target) -> dbt.DbtRun:
    """Create the roles, reset grants, force RLS and recreate the policies, through dbt."""
    errors: list[str] = []

    def on_event(event: object) -> None:
        info = getattr(event, "info", None)
        if info is not None and info.name in (
            "RunningOperationCaughtError",
            "RunningOperationUncaughtError",
        ):
            errors.append(str(getattr(event.data, "exc", "")))  # type: ignore[attr-defined]

    run = dbt.invoke(target, ["run-operation", "apply_security"], on_event=on_event)
    if not run.success:
        detail = errors[0].strip() if errors else run.exception or "see logs/dbt.log"
        raise BuildError(
            f"applying grants and row-level security failed: {detail}",
            hint="the README section Security lists what the database user needs",
        )
    return run


def _normalize(sql: str | None) -> str:
    return re.sub(r"\s+", "", (sql or "").lower())


def _check_roles(conn: psycopg.Connection) -> list[str]:
    problems = []
    rows = conn.execute(
        "select wanted.name, r.oid is not null, coalesce(r.rolsuper or r.rolbypassrls, false)"
        " from unnest(%s::text[]) as wanted (name) left join pg_roles r on r.rolname = wanted.name",
        (list(ROLES),),
    ).fetchall()
    for name, exists, bypasses in rows:
        if not exists:
            problems.append(f"role {name} does not exist")
        elif bypasses:
            problems.append(f"role {name} bypasses row-level security (superuser or BYPASSRLS)")
    for member, parent in conn.execute(
        "select m.rolname, p.rolname from pg_auth_members am"
        " join pg_roles m on m.oid = am.member join pg_roles p on p.oid = am.roleid"
        " where m.rolname = any(%s) order by 1, 2",
        (list(ROLES),),
    ):
        problems.append(f"role {member} is a member of {parent} and holds its privileges")
    return problems


def _check_marts(conn: psycopg.Connection) -> list[str]:
    """Every mart: a table with RLS enabled and forced, exactly three policies, a shop column."""
    problems = []
    marts = conn.execute(
        "select c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,"
        " pg_get_userbyid(c.relowner), coalesce(c.reloptions, '{}'),"
        " exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = %s"
        "   and not a.attisdropped)"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f') order by c.relname",
        (SHOP_COLUMN, MARTS_SCHEMA),
    ).fetchall()
    for _oid, name, kind, rls, forced, owner, options, has_shop in marts:
        rel = f"{MARTS_SCHEMA}.{name}"
        if kind == "v":
            if "security_invoker=true" not in options:
                problems.append(
                    f"{rel}: view does not run as its caller (security_invoker), so it would"
                    " bypass the row-level security of the tables it reads"
                )
            continue
        if kind in ("m", "f"):
            what = "materialized view" if kind == "m" else "foreign table"
            problems.append(f"{rel}: a {what} cannot carry row-level security; make it a table")
            continue
        if not rls:
            problems.append(f"{rel}: row-level security is not enabled")
        if not forced:
            problems.append(f"{rel}: row-level security is not forced (its owner bypasses it)")
        if not has_shop:
            problems.append(f"{rel}: has no {SHOP_COLUMN} column, so no shop policy can apply")
        expected = {
            OWNER_POLICY: ("PERMISSIVE", {owner}, "ALL", "true", "true"),
            ANALYST_POLICY: ("PERMISSIVE", {ANALYST}, "SELECT", "true", ""),
        }
        if has_shop:
            expected[SHOP_POLICY] = ("PERMISSIVE", {OPERATOR, AI}, "SELECT", SHOP_QUAL, "")
        found = {
            policy: (permissive, set(roles), cmd, _normalize(qual), _normalize(check))
            for policy, permissive, roles, cmd, qual, check in conn.execute(
                "select policyname, permissive, roles::text[], cmd, qual, with_check"
                " from pg_policies where schemaname = %s and tablename = %s",
                (MARTS_SCHEMA, name),
            )
        }
        for policy, (permissive, roles, cmd, qual, check) in expected.items():
            want = (permissive, roles, cmd, _normalize(qual), _normalize(check))
            if policy not in found:
                problems.append(f"{rel}: policy {policy} is missing")
            elif found[policy] != want:
                got = found[policy]
                problems.append(
                    f"{rel}: policy {policy} is {got[2]} to {', '.join(sorted(got[1]))}"
                    f" using {got[3]}, expected {cmd} to {', '.join(sorted(roles))} using {want[3]}"
                )
        for policy in sorted(set(found) - set(expected)):
            got = found[policy]
            problems.append(
                f"{rel}: unexpected policy {policy} ({got[0].lower()} {got[2]}"
                f" to {', '.join(sorted(got[1]))})"
            )
    return problems


def _allowed(role: str, schema: str, table: str, kind: str, s: SecuritySettings) -> set[str]:
    if role == LOADER:
        return {"INSERT"} if (schema, table) == (s.facts_schema, FACTS_TABLE) else set()
    if role == ANALYST:
        return {"SELECT"} if schema in ANALYST_SCHEMAS else set()
    if schema == MARTS_SCHEMA and kind not in ("m", "f"):
        return {"SELECT"}  # operator and AI (the AI's PII columns are checked separately)
    return set()


def _check_privileges(conn: psycopg.Connection, s: SecuritySettings) -> list[str]:
    """What each role can do on every relation: nothing beyond its part, and all of its part."""
    problems = []
    checks = ", ".join(
        f"has_{'any_column' if p in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES') else 'table'}"
        f"_privilege(r.oid, c.oid, '{p}')"
        for p in RELATION_PRIVILEGES
    )
    rows = conn.execute(
        f"select r.rolname, n.nspname, c.relname, c.relkind,"
        f" has_schema_privilege(r.oid, n.oid, 'USAGE'), {checks}"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " cross join pg_roles r"
        f" where r.rolname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')"
        f" and {SYSTEM_SCHEMAS_SQL}"
        " order by 2, 3, 1",
        (list(ROLES),),
    ).fetchall()
    facts = (s.facts_schema, FACTS_TABLE)
    for role, schema, table, kind, usage, *held_flags in rows:
        rel = f"{schema}.{table}"
        held = {p for p, flag in zip(RELATION_PRIVILEGES, held_flags, strict=True) if flag}
        ours = schema in MANAGED_SCHEMAS or (schema, table) == facts
        if not ours and not usage:
            continue  # elsewhere only privileges a role can actually use count
        allowed = _allowed(role, schema, table, kind, s)
        for privilege in sorted(held - allowed):
            problems.append(f"{role} can {privilege} {rel}")
        if role == AI and schema == MARTS_SCHEMA:
            continue  # column by column below
        for privilege in sorted(allowed - held):
            verb = "read" if privilege == "SELECT" else privilege.lower() + " into"
            problems.append(f"{role} cannot {verb} {rel}")
    return problems


def _check_ai_columns(conn: psycopg.Connection, s: SecuritySettings) -> list[str]:
    problems = []
    rows = conn.execute(
        "select c.relname, a.attname, has_column_privilege(%s, c.oid, a.attnum, 'SELECT')"
        " from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p', 'v')"
        " and a.attnum > 0 and not a.attisdropped order by c.relname, a.attnum",
        (AI, MARTS_SCHEMA),
    ).fetchall()
    for table, column, can_read in rows:
        pii = column.lower() in s.pii_columns
        if pii and can_read:
            problems.append(f"{AI} can read PII column {MARTS_SCHEMA}.{table}.{column}")
        elif not pii and not can_read:
            problems.append(f"{AI} cannot read {MARTS_SCHEMA}.{table}.{column}")
    return problems


def _check_sequences(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "select r.rolname, n.nspname, c.relname from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace cross join pg_roles r"
        f" where r.rolname = any(%s) and c.relkind = 'S' and {SYSTEM_SCHEMAS_SQL}"
        " and (has_sequence_privilege(r.oid, c.oid, 'USAGE')"
        "   or has_sequence_privilege(r.oid, c.oid, 'SELECT')"
        "   or has_sequence_privilege(r.oid, c.oid, 'UPDATE'))"
        " and (n.nspname = any(%s) or has_schema_privilege(r.oid, n.oid, 'USAGE'))"
        " order by 2, 3, 1",
        (list(ROLES), list(MANAGED_SCHEMAS)),
    ).fetchall()
    return [f"{role} can use sequence {schema}.{seq}" for role, schema, seq in rows]


def _check_schemas(conn: psycopg.Connection, s: SecuritySettings) -> list[str]:
    problems = []
    usage_allowed = {
        LOADER: {s.facts_schema},
        ANALYST: set(ANALYST_SCHEMAS),
        OPERATOR: {MARTS_SCHEMA},
        AI: {MARTS_SCHEMA},
    }
    rows = conn.execute(
        "select r.rolname, n.nspname, has_schema_privilege(r.oid, n.oid, 'CREATE'),"
        " has_schema_privilege(r.oid, n.oid, 'USAGE')"
        " from pg_namespace n cross join pg_roles r"
        f" where r.rolname = any(%s) and {SYSTEM_SCHEMAS_SQL} order by 2, 1",
        (list(ROLES),),
    ).fetchall()
    for role, schema, create, usage in rows:
        if create:
            problems.append(f"{role} can CREATE in schema {schema}")
        if schema in MANAGED_SCHEMAS and usage and schema not in usage_allowed[role]:
            problems.append(f"{role} can use schema {schema}")
        if schema in usage_allowed[role] and not usage:
            problems.append(f"{role} cannot use schema {schema}")
    return problems


def _check_other_grantees(conn: psycopg.Connection, s: SecuritySettings) -> list[str]:
    """Grants to PUBLIC or other roles on the project's relations (and writes on facts)."""
    rows = conn.execute(
        "with acls as ("
        "  select n.nspname, c.relname, null::text as attname, c.relowner, x.grantee,"
        "    x.privilege_type from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        "    cross join lateral aclexplode(c.relacl) x"
        "    where n.nspname = any(%(managed)s) or (n.nspname = %(fs)s and c.relname = %(ft)s)"
        "  union all"
        "  select n.nspname, c.relname, a.attname, c.relowner, x.grantee, x.privilege_type"
        "    from pg_attribute a join pg_class c on c.oid = a.attrelid"
        "    join pg_namespace n on n.oid = c.relnamespace"
        "    cross join lateral aclexplode(a.attacl) x"
        "    where n.nspname = any(%(managed)s) or (n.nspname = %(fs)s and c.relname = %(ft)s)"
        ")"
        " select distinct nspname, relname, attname,"
        "   case when grantee = 0 then 'PUBLIC' else pg_get_userbyid(grantee) end, privilege_type"
        " from acls where grantee <> relowner"
        "   and (grantee = 0 or pg_get_userbyid(grantee) <> all(%(roles)s))"
        " order by 1, 2, 3, 4, 5",
        {
            "managed": list(MANAGED_SCHEMAS),
            "fs": s.facts_schema,
            "ft": FACTS_TABLE,
            "roles": list(ROLES),
        },
    ).fetchall()
    problems = []
    for schema, table, column, grantee, privilege in rows:
        is_facts = (schema, table) == (s.facts_schema, FACTS_TABLE)
        if is_facts and grantee != "PUBLIC" and privilege not in WRITE_PRIVILEGES:
            continue  # other readers of the app's own table are the app's business
        where = f"{schema}.{table}" + (f".{column}" if column else "")
        problems.append(f"{grantee} can {privilege} {where} (granted outside the security model)")
    return problems


def verify_security(target: Target, settings: SecuritySettings | None = None) -> list[str]:
    """Every difference between the database and the security model, one line each; [] if none."""
    s = settings or project_settings(target)
    with connect(target) as conn:
        problems = _check_roles(conn)
        if any(p.endswith("does not exist") for p in problems):
            return problems  # the privilege functions need the roles
        problems += _check_marts(conn)
        problems += _check_privileges(conn, s)
        problems += _check_ai_columns(conn, s)
        problems += _check_sequences(conn)
        problems += _check_schemas(conn, s)
        problems += _check_other_grantees(conn, s)
    return problems


def require_secure(target: Target, settings: SecuritySettings | None = None) -> None:
    """Raise SecurityError naming each problem, or return quietly."""
    problems = verify_security(target, settings)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise SecurityError(
            f"{len(problems)} security problem(s):\n  {shown}{more}",
            hint="`hotdash grants` re-applies grants and row-level security;"
            " README, section Security, describes the model",
        )
