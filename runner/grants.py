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

from runner import dbt
from runner.db import Target, connect
from runner.errors import BuildError, SecurityError
from runner.facts import FACTS_TABLE
from runner.logins import Limits, login_group, project_limits
from runner.settings import SecurityModel, project_security
from runner.settings import of as settings_of

# Privileges a role can hold on a relation; SELECT/INSERT/UPDATE/REFERENCES count column grants too.
RELATION_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
WRITE_PRIVILEGES = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"}
SYSTEM_SCHEMAS_SQL = (
    "n.nspname not in ('pg_catalog', 'information_schema')"
    " and n.nspname not like 'pg\\_toast%%' and n.nspname not like 'pg\\_temp%%'"
)


@dataclass(frozen=True)
class SecuritySettings:
    """What verification compares against: the project's vars (runner.settings)."""

    model: SecurityModel = field(default_factory=project_security)
    facts_schema: str = "public"
    pii_columns: frozenset[str] = field(default_factory=frozenset)
    login_limits: Limits = field(default_factory=Limits)


def project_settings(target: Target) -> SecuritySettings:
    """The security model, the facts schema and the PII column names, from the project's vars."""
    project = settings_of(target)
    return SecuritySettings(
        model=project.security,
        facts_schema=project.facts_schema,
        pii_columns=frozenset(str(c).lower() for c in project.get("pii_columns", ())),
        login_limits=project_limits(target),
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


def _check_roles(conn: psycopg.Connection, m: SecurityModel) -> list[str]:
    problems = []
    rows = conn.execute(
        "select wanted.name, r.oid is not null, coalesce(r.rolsuper or r.rolbypassrls, false)"
        " from unnest(%s::text[]) as wanted (name) left join pg_roles r on r.rolname = wanted.name",
        (list(m.roles.all()),),
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
        (list(m.roles.all()),),
    ):
        problems.append(f"role {member} is a member of {parent} and holds its privileges")
    return problems


def _shop_qual(m: SecurityModel) -> str:
    """The shop policy's USING clause as pg_policies shows it."""
    fn = m.session_shop_function
    return f"({m.shop_column} = ( SELECT {m.marts_schema}.{fn}() AS {fn}))"


def _check_marts(conn: psycopg.Connection, m: SecurityModel) -> list[str]:
    """Every mart: a table with RLS enabled and forced, exactly three policies, a shop column."""
    problems = []
    marts_schema, shop_column = m.marts_schema, m.shop_column
    marts = conn.execute(
        "select c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,"
        " pg_get_userbyid(c.relowner), coalesce(c.reloptions, '{}'),"
        " exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = %s"
        "   and not a.attisdropped)"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f') order by c.relname",
        (shop_column, marts_schema),
    ).fetchall()
    for _oid, name, kind, rls, forced, owner, options, has_shop in marts:
        rel = f"{marts_schema}.{name}"
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
            problems.append(f"{rel}: has no {shop_column} column, so no shop policy can apply")
        expected = {
            m.policies.owner: ("PERMISSIVE", {owner}, "ALL", "true", "true"),
            m.policies.analyst: ("PERMISSIVE", {m.roles.analyst}, "SELECT", "true", ""),
        }
        if has_shop:
            readers = set(m.shop_readers)
            expected[m.policies.shop] = ("PERMISSIVE", readers, "SELECT", _shop_qual(m), "")
        found = {
            policy: (permissive, set(roles), cmd, _normalize(qual), _normalize(check))
            for policy, permissive, roles, cmd, qual, check in conn.execute(
                "select policyname, permissive, roles::text[], cmd, qual, with_check"
                " from pg_policies where schemaname = %s and tablename = %s",
                (marts_schema, name),
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
    m = s.model
    if role == m.roles.loader:
        return {"INSERT"} if (schema, table) == (s.facts_schema, FACTS_TABLE) else set()
    if role == m.roles.analyst:
        return {"SELECT"} if schema in m.analyst_schemas else set()
    if schema == m.marts_schema and kind not in ("m", "f"):
        return {"SELECT"}  # operator and AI (the AI's PII columns are checked separately)
    return set()


def _check_privileges(conn: psycopg.Connection, s: SecuritySettings) -> list[str]:
    """What each role can do on every relation: nothing beyond its part, and all of its part."""
    problems = []
    m = s.model
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
        (list(m.roles.all()),),
    ).fetchall()
    facts = (s.facts_schema, FACTS_TABLE)
    for role, schema, table, kind, usage, *held_flags in rows:
        rel = f"{schema}.{table}"
        held = {p for p, flag in zip(RELATION_PRIVILEGES, held_flags, strict=True) if flag}
        ours = schema in m.managed_schemas or (schema, table) == facts
        if not ours and not usage:
            continue  # elsewhere only privileges a role can actually use count
        allowed = _allowed(role, schema, table, kind, s)
        for privilege in sorted(held - allowed):
            problems.append(f"{role} can {privilege} {rel}")
        if role == m.roles.ai and schema == m.marts_schema:
            continue  # column by column below
        for privilege in sorted(allowed - held):
            verb = "read" if privilege == "SELECT" else privilege.lower() + " into"
            problems.append(f"{role} cannot {verb} {rel}")
    return problems


def _check_ai_columns(conn: psycopg.Connection, s: SecuritySettings) -> list[str]:
    problems = []
    ai, marts_schema = s.model.roles.ai, s.model.marts_schema
    rows = conn.execute(
        "select c.relname, a.attname, has_column_privilege(%s, c.oid, a.attnum, 'SELECT')"
        " from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p', 'v')"
        " and a.attnum > 0 and not a.attisdropped order by c.relname, a.attnum",
        (ai, marts_schema),
    ).fetchall()
    for table, column, can_read in rows:
        pii = column.lower() in s.pii_columns
        if pii and can_read:
            problems.append(f"{ai} can read PII column {marts_schema}.{table}.{column}")
        elif not pii and not can_read:
            problems.append(f"{ai} cannot read {marts_schema}.{table}.{column}")
    return problems


def _check_sequences(conn: psycopg.Connection, m: SecurityModel) -> list[str]:
    rows = conn.execute(
        "select r.rolname, n.nspname, c.relname from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace cross join pg_roles r"
        f" where r.rolname = any(%s) and c.relkind = 'S' and {SYSTEM_SCHEMAS_SQL}"
        " and (has_sequence_privilege(r.oid, c.oid, 'USAGE')"
        "   or has_sequence_privilege(r.oid, c.oid, 'SELECT')"
        "   or has_sequence_privilege(r.oid, c.oid, 'UPDATE'))"
        " and (n.nspname = any(%s) or has_schema_privilege(r.oid, n.oid, 'USAGE'))"
        " order by 2, 3, 1",
        (list(m.roles.all()), list(m.managed_schemas)),
    ).fetchall()
    return [f"{role} can use sequence {schema}.{seq}" for role, schema, seq in rows]


def _check_schemas(conn: psycopg.Connection, s: SecuritySettings) -> list[str]:
    problems = []
    m = s.model
    usage_allowed = {
        m.roles.loader: {s.facts_schema},
        m.roles.analyst: set(m.analyst_schemas),
        m.roles.operator: {m.marts_schema},
        m.roles.ai: {m.marts_schema},
    }
    rows = conn.execute(
        "select r.rolname, n.nspname, has_schema_privilege(r.oid, n.oid, 'CREATE'),"
        " has_schema_privilege(r.oid, n.oid, 'USAGE')"
        " from pg_namespace n cross join pg_roles r"
        f" where r.rolname = any(%s) and {SYSTEM_SCHEMAS_SQL} order by 2, 1",
        (list(m.roles.all()),),
    ).fetchall()
    for role, schema, create, usage in rows:
        if create:
            problems.append(f"{role} can CREATE in schema {schema}")
        if schema in m.managed_schemas and usage and schema not in usage_allowed[role]:
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
            "managed": list(s.model.managed_schemas),
            "fs": s.facts_schema,
            "ft": FACTS_TABLE,
            "roles": list(s.model.roles.all()),
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


def _check_session_shop_function(conn: psycopg.Connection, m: SecurityModel) -> list[str]:
    """The session's shop function: there, SECURITY DEFINER, executable by the shop readers only."""
    rel = f"{m.marts_schema}.{m.session_shop_function}()"
    row = conn.execute(
        "select p.oid, p.prosecdef, pg_get_userbyid(p.proowner),"
        " coalesce(array_to_string(p.proconfig, ','), '')"
        " from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname = %s and p.proname = %s and p.pronargs = 0",
        (m.marts_schema, m.session_shop_function),
    ).fetchone()
    if row is None:
        return [f"{rel} is missing: the marts' shop policy cannot pick a shop"]
    oid, definer, owner, config = row
    problems = []
    if not definer:
        problems.append(f"{rel} is not SECURITY DEFINER: readers cannot read ops.shop_logins")
    if "search_path=pg_catalog" not in config.replace(" ", ""):
        problems.append(f"{rel} does not fix its search_path")
    executors = {
        name
        for (name,) in conn.execute(
            "select case when x.grantee = 0 then 'PUBLIC' else pg_get_userbyid(x.grantee) end"
            " from pg_proc p cross join lateral aclexplode(coalesce(p.proacl, acldefault('f',"
            " p.proowner))) x where p.oid = %s and x.privilege_type = 'EXECUTE'",
            (oid,),
        )
    }
    for extra in sorted(executors - {owner, *m.shop_readers}):
        problems.append(f"{extra} can execute {rel} (granted outside the security model)")
    for missing in sorted(set(m.shop_readers) - executors):
        problems.append(f"{missing} cannot execute {rel}, so it reads no mart row")
    return problems


def _check_mart_functions(conn: psycopg.Connection, m: SecurityModel) -> list[str]:
    """The other functions in marts (the monitoring panels', macros/monitoring.sql): a SECURITY
    DEFINER one fixes its search_path; the analyst, operator and AI execute them, nobody else."""
    problems = []
    readers = {m.roles.analyst, *m.shop_readers}
    rows = conn.execute(
        "select p.oid, p.oid::regprocedure::text, p.prosecdef, pg_get_userbyid(p.proowner),"
        " coalesce(array_to_string(p.proconfig, ','), '')"
        " from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname = %s and p.proname <> %s and p.prokind = 'f' order by 2",
        (m.marts_schema, m.session_shop_function),
    ).fetchall()
    for oid, rel, definer, owner, config in rows:
        if definer and "search_path=pg_catalog" not in config.replace(" ", ""):
            problems.append(f"{rel} is SECURITY DEFINER and does not fix its search_path")
        executors = {
            name
            for (name,) in conn.execute(
                "select case when x.grantee = 0 then 'PUBLIC' else pg_get_userbyid(x.grantee) end"
                " from pg_proc p cross join lateral aclexplode(coalesce(p.proacl, acldefault('f',"
                " p.proowner))) x where p.oid = %s and x.privilege_type = 'EXECUTE'",
                (oid,),
            )
        }
        for extra in sorted(executors - {owner, *readers}):
            problems.append(f"{extra} can execute {rel} (granted outside the security model)")
        for missing in sorted(readers - executors):
            problems.append(f"{missing} cannot execute {rel}, so its panel fails")
    return problems


def _check_logins(conn: psycopg.Connection, m: SecurityModel, limits: Limits) -> list[str]:
    """Every bound login (ops.shop_logins): one shop, its group role only, nothing granted to it
    directly, no way around row-level security; an AI login also carries the ai_* limits and
    cannot create temporary tables. Every AI login is bound."""
    if not conn.execute("select to_regclass('ops.shop_logins') is not null").fetchone()[0]:
        return []
    problems = []
    rows = conn.execute(
        "select l.login, l.kind, array_agg(l.shop_domain order by l.shop_domain), r.oid,"
        " r.rolcanlogin, r.rolsuper or r.rolbypassrls, r.rolconnlimit,"
        " coalesce((select array_agg(g.rolname::text order by g.rolname) from pg_auth_members m"
        "   join pg_roles g on g.oid = m.roleid where m.member = r.oid), '{}'),"
        " coalesce((select s.setconfig from pg_db_role_setting s"
        "   where s.setrole = r.oid and s.setdatabase = 0), '{}'),"
        " case when r.oid is not null"
        "   then has_database_privilege(r.oid, current_database(), 'TEMP') end"
        " from ops.shop_logins l left join pg_roles r on r.rolname = l.login"
        " group by l.login, l.kind, r.oid, r.rolcanlogin, r.rolsuper, r.rolbypassrls,"
        " r.rolconnlimit order by l.login"
    ).fetchall()
    for login, kind, shops, oid, can_login, bypasses, connlimit, groups, config, temp in rows:
        who = f"{kind} login {login}"
        if oid is None:
            problems.append(f"{who} is bound to {', '.join(shops)} but has no role")
            continue
        if len(shops) != 1:
            problems.append(f"{who} is bound to {len(shops)} shops ({', '.join(shops)})")
        if not can_login:
            problems.append(f"{who} cannot log in")
        if bypasses:
            problems.append(f"{who} bypasses row-level security (superuser or BYPASSRLS)")
        group = login_group(m, kind)
        for extra in sorted(set(groups) - {group}):
            problems.append(f"{who} is a member of {extra}")
        if group not in groups:
            problems.append(f"{who} is not a member of {group}")
        direct = conn.execute(_DIRECT_GRANTS_SQL, {"role": oid}).fetchall()
        for what, privilege in direct:
            problems.append(f"{who} holds {privilege} on {what}, granted to it directly")
        if kind != "ai":
            continue
        held = dict(item.split("=", 1) for item in config)
        for setting, value in limits.settings().items():
            if held.get(setting) != value:
                problems.append(
                    f"{who}: {setting} is {held.get(setting, 'not set')}, expected {value}"
                )
        if connlimit != limits.connection_limit:
            shown = "unlimited" if connlimit < 0 else connlimit
            problems.append(
                f"{who}: connection limit is {shown}, expected {limits.connection_limit}"
            )
        if temp:
            problems.append(f"{who} can create temporary tables")
    for (login,) in conn.execute(
        "select r.rolname from pg_roles r join pg_auth_members m on m.member = r.oid"
        " join pg_roles g on g.oid = m.roleid"
        " where g.rolname = %s and r.rolcanlogin and not r.rolsuper"
        " and not exists (select 1 from ops.shop_logins l where l.login = r.rolname)"
        " order by 1",
        (m.roles.ai,),
    ):
        problems.append(
            f"AI login {login} is not bound to a shop (it reads no row; bind it with"
            " `hotdash grants login ai --shop S --name ...` or drop it)"
        )
    return problems


# Privileges granted to a role itself (not through a group) on the database, schemas,
# relations, columns and functions.
_DIRECT_GRANTS_SQL = """
select 'database ' || d.datname, x.privilege_type
from pg_database d cross join lateral aclexplode(d.datacl) x
where d.datname = current_database() and x.grantee = %(role)s
union all
select 'schema ' || n.nspname, x.privilege_type
from pg_namespace n cross join lateral aclexplode(n.nspacl) x where x.grantee = %(role)s
union all
select n.nspname || '.' || c.relname, x.privilege_type
from pg_class c join pg_namespace n on n.oid = c.relnamespace
cross join lateral aclexplode(c.relacl) x where x.grantee = %(role)s
union all
select n.nspname || '.' || c.relname || '.' || a.attname, x.privilege_type
from pg_attribute a join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
cross join lateral aclexplode(a.attacl) x where x.grantee = %(role)s
union all
select n.nspname || '.' || p.proname || '()', x.privilege_type
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
cross join lateral aclexplode(p.proacl) x where x.grantee = %(role)s
order by 1, 2
"""


def verify_security(target: Target, settings: SecuritySettings | None = None) -> list[str]:
    """Every difference between the database and the security model, one line each; [] if none."""
    s = settings or project_settings(target)
    with connect(target) as conn:
        problems = _check_roles(conn, s.model)
        if any(p.endswith("does not exist") for p in problems):
            return problems  # the privilege functions need the roles
        problems += _check_marts(conn, s.model)
        problems += _check_privileges(conn, s)
        problems += _check_ai_columns(conn, s)
        problems += _check_sequences(conn, s.model)
        problems += _check_schemas(conn, s)
        problems += _check_other_grantees(conn, s)
        problems += _check_session_shop_function(conn, s.model)
        problems += _check_mart_functions(conn, s.model)
        problems += _check_logins(conn, s.model, s.login_limits)
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
