"""Logins bound to one shop: the AI assistant's (one per shop, required) and, for deployments
that want it, the dashboard's.

A bound login is a LOGIN role made a member of one group role (the AI's or the operator's, var
security) and listed in ops.shop_logins with its shop. The marts' shop policy asks the session's
shop function (macros/security/session_shop.sql), which answers from that table by session_user:
setting the shop (var security: shop_setting), `set role` and `reset role` change nothing.
An AI login also gets limits on its role (statement_timeout, idle_in_transaction_session_timeout,
work_mem, read-only transactions by default, a connection limit: the ai_* dbt vars), and cannot
create temporary tables (TEMP on the database is revoked from PUBLIC once an AI login exists).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from psycopg import sql

from runner import settings
from runner.db import Target, connect
from runner.errors import ConfigError

KINDS = ("ai", "operator")
PASSWORD_ENV = "HOTDASH_LOGIN_PASSWORD"
SHOP_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")


@dataclass(frozen=True)
class Limits:
    """What an AI login's role carries (dbt vars ai_*)."""

    statement_timeout: str = "30s"
    idle_in_transaction_session_timeout: str = "60s"
    work_mem: str = "16MB"
    connection_limit: int = 5
    default_transaction_read_only: bool = True
    temp_table_roles: tuple[str, ...] = ()

    def settings(self) -> dict[str, str]:
        """The role settings (ALTER ROLE ... SET), as PostgreSQL stores them."""
        return {
            "statement_timeout": self.statement_timeout,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_session_timeout,
            "work_mem": self.work_mem,
            "default_transaction_read_only": "on" if self.default_transaction_read_only else "off",
        }


def project_limits(target: Target) -> Limits:
    """The AI login limits from the project's dbt vars."""
    v = settings.of(target).vars
    default = Limits()
    return Limits(
        statement_timeout=str(v.get("ai_statement_timeout", default.statement_timeout)),
        idle_in_transaction_session_timeout=str(
            v.get(
                "ai_idle_in_transaction_session_timeout",
                default.idle_in_transaction_session_timeout,
            )
        ),
        work_mem=str(v.get("ai_work_mem", default.work_mem)),
        connection_limit=int(v.get("ai_connection_limit", default.connection_limit)),
        default_transaction_read_only=bool(
            v.get("ai_default_transaction_read_only", default.default_transaction_read_only)
        ),
        temp_table_roles=tuple(str(r) for r in v.get("temp_table_roles") or ()),
    )


def login_group(model: settings.SecurityModel, kind: str) -> str:
    """The group role a login of `kind` (KINDS) is made a member of."""
    return {"ai": model.roles.ai, "operator": model.roles.operator}[kind]


def check_shop(shop: str) -> str:
    """A shop domain as the marts hold it (lowercase host name), or ConfigError."""
    if not SHOP_PATTERN.match(shop):
        raise ConfigError(
            f"--shop {shop!r} is not a shop domain",
            hint="give it as the marts hold it, e.g. --shop hotrodan.myshopify.com",
        )
    return shop


def default_name(kind: str, shop: str) -> str:
    """hotdash_<kind>_<shop>, lowercase, at most PostgreSQL's 63 characters."""
    slug = re.sub(r"[^a-z0-9]+", "_", shop.lower()).strip("_")
    return f"hotdash_{kind}_{slug}"[:63]


@dataclass(frozen=True)
class Login:
    """A login as created: its password is shown once and stored nowhere but the database."""

    name: str
    kind: str
    shop: str
    password: str
    conninfo: str


def create_login(
    target: Target,
    kind: str,
    shop: str,
    name: str | None = None,
    password: str | None = None,
    limits: Limits | None = None,
) -> Login:
    """Create a login bound to `shop`, in one transaction (all of it, or nothing)."""
    group = login_group(settings.of(target).security, kind)
    shop = check_shop(shop)
    name = name or default_name(kind, shop)
    password = password or secrets.token_urlsafe(24)
    limits = limits or project_limits(target)
    with connect(target) as conn, conn.transaction():
        _require_createrole(conn)
        if conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone():
            raise ConfigError(
                f"the role {name} exists already",
                hint=f"`hotdash grants login {kind} --shop {shop} --drop` removes it;"
                " --name picks another name",
            )
        ident = sql.Identifier(name)
        conn.execute(
            sql.SQL("create role {} login password {} in role {}").format(
                ident, sql.Literal(password), sql.Identifier(group)
            )
        )
        conn.execute(
            "insert into ops.shop_logins (login, shop_domain, kind) values (%s, %s, %s)",
            (name, shop, kind),
        )
        if kind == "ai":
            apply_limits(conn, name, limits)
            revoke_public_temp(conn, limits)
        else:
            conn.execute(
                sql.SQL("alter role {} set default_transaction_read_only = on").format(ident)
            )
        dbname = conn.info.dbname
        host, port = conn.info.host, conn.info.port
    userinfo = f"{quote(name)}:{quote(password, safe='')}"
    if host.startswith("/"):  # a Unix socket folder goes in the query string
        conninfo = f"postgresql://{userinfo}@/{quote(dbname)}?host={quote(host)}&port={port}"
    else:
        conninfo = f"postgresql://{userinfo}@{host}:{port}/{quote(dbname)}"
    return Login(name, kind, shop, password, conninfo)


def drop_login(target: Target, kind: str, shop: str, name: str | None = None) -> str:
    """Remove a bound login: its mapping and its role. Returns its name."""
    shop = check_shop(shop)
    name = name or default_name(kind, shop)
    with connect(target) as conn, conn.transaction():
        _require_createrole(conn)
        bound = conn.execute(
            "select count(*) from ops.shop_logins where login = %s and kind = %s",
            (name, kind),
        ).fetchone()[0]
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
        if not bound and not exists:
            raise ConfigError(
                f"no {kind} login {name}",
                hint="`hotdash grants --verify` lists the bound logins it checks",
            )
        conn.execute("delete from ops.shop_logins where login = %s", (name,))
        if exists:
            # whatever was granted to it directly in this database goes with it
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
    return name


def apply_limits(conn: psycopg.Connection, name: str, limits: Limits) -> None:
    ident = sql.Identifier(name)
    for setting, value in limits.settings().items():
        conn.execute(
            sql.SQL("alter role {} set {} = {}").format(
                ident, sql.Identifier(setting), sql.Literal(value)
            )
        )
    conn.execute(
        sql.SQL("alter role {} connection limit {}").format(
            ident, sql.Literal(limits.connection_limit)
        )
    )


def revoke_public_temp(conn: psycopg.Connection, limits: Limits) -> None:
    """No temporary tables for the AI: TEMP on the database is revoked from PUBLIC (which every
    login holds), and granted back to the dbt user (dbt's incremental models use temporary
    tables) and the roles of the var temp_table_roles."""
    db_ident = sql.Identifier(conn.info.dbname)
    owner = conn.execute(
        "select pg_has_role(current_user, datdba, 'usage') or"
        " (select rolsuper from pg_roles where rolname = current_user)"
        " from pg_database where datname = current_database()"
    ).fetchone()[0]
    if not owner:
        raise ConfigError(
            "the database user cannot take TEMP on this database from PUBLIC (it does not own it)",
            hint=f"an administrator runs `revoke temporary on database {conn.info.dbname}"
            " from public; grant temporary on database ... to <the dbt user>;` once",
        )
    conn.execute(sql.SQL("revoke temporary on database {} from public").format(db_ident))
    grantees = [sql.SQL("current_user")]
    grantees += [sql.Identifier(r) for r in limits.temp_table_roles]
    conn.execute(
        sql.SQL("grant temporary on database {} to {}").format(
            db_ident, sql.SQL(", ").join(grantees)
        )
    )


def _require_createrole(conn: psycopg.Connection) -> None:
    user, can = conn.execute(
        "select current_user::text, rolsuper or rolcreaterole from pg_roles"
        " where rolname = current_user"
    ).fetchone()
    if not can:
        raise ConfigError(
            f"the database user {user} cannot create or drop login roles (it lacks CREATEROLE)",
            hint="run this as a user with CREATEROLE, e.g. the administrator who created the"
            " hotdash roles",
        )


def reapply_limits(target: Target, limits: Limits | None = None) -> list[str]:
    """Put the ai_* limits back on every bound AI login (after the vars changed, or drift), and
    TEMP off PUBLIC when one exists. Returns the logins changed."""
    limits = limits or project_limits(target)
    with connect(target) as conn, conn.transaction():
        if not conn.execute("select to_regclass('ops.shop_logins') is not null").fetchone()[0]:
            return []
        names = [
            name
            for (name,) in conn.execute(
                "select distinct l.login from ops.shop_logins l"
                " join pg_roles r on r.rolname = l.login where l.kind = 'ai' order by 1"
            )
        ]
        if names:
            _require_createrole(conn)
            for name in names:
                apply_limits(conn, name, limits)
            revoke_public_temp(conn, limits)
    return names
