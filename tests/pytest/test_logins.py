"""Logins bound to one shop, as real sessions of those logins on the embedded server: what the
AI assistant's login can and cannot do, the dashboard's, and what verification reports when a
login drifts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql

from hotdash_demo import iter_demo_facts
from runner import db
from runner.errors import ConfigError
from runner.facts import copy_facts, ensure_facts_table
from runner.grants import project_settings, require_secure, verify_security
from runner.logins import Limits, create_login, drop_login
from runner.pipeline import BuildOptions, build
from tests.pytest.helpers import PROJECT_DIR, query, run_dbt, scalar

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("logins")

HOTDASH = Path(sys.executable).parent / "hotdash"
LIMITS = Limits(statement_timeout="1s", connection_limit=2)
ANCHOR = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclasses.dataclass
class Shops:
    target: db.Target
    a: str
    b: str
    names: list[str]

    def name(self, kind: str) -> str:
        name = f"t_{kind}_{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        return name

    def settings(self):
        return dataclasses.replace(project_settings(self.target), login_limits=LIMITS)


@pytest.fixture(scope="module")
def shops(hotdash_home: Path) -> Iterator[Shops]:
    """Two shops' demo facts, built once for the module."""
    name = f"t_login_{uuid.uuid4().hex[:8]}"
    target = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=name)
    with db.connect(target) as conn:
        ensure_facts_table(conn)
        with conn.transaction():
            copy_facts(conn, iter_demo_facts(2_000, shops=2, seed=41, anchor=ANCHOR))
    build(target, BuildOptions(skip_contracts=True))
    a, b = (row[0] for row in query(target, "select distinct shop_domain from facts order by 1"))
    made = Shops(target, a, b, [])
    yield made
    admin = db._embedded_uri(hotdash_home, start=False)
    db.drop_database(target)
    with psycopg.connect(admin, autocommit=True) as conn:
        for role in made.names:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def session(shops: Shops, login: str) -> psycopg.Connection:
    """A session of `login` itself (the embedded server trusts local connections)."""
    conninfo = shops.target.conninfo.replace("postgres@", f"{login}@", 1)
    return psycopg.connect(conninfo, autocommit=True)


def refused(conn: psycopg.Connection, statement: str) -> type[Exception] | None:
    """The error class a statement raises (None if it runs)."""
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        return type(exc)
    return None


def shops_seen(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute("select distinct shop_domain from marts.growth_metrics")]


def test_an_ai_login_reads_its_shop_only_whatever_it_tries(shops):
    login = create_login(shops.target, "ai", shops.a, name=shops.name("ai"), limits=LIMITS)
    assert login.conninfo.startswith(f"postgresql://{login.name}:")
    require_secure(shops.target, shops.settings())

    with session(shops, login.name) as conn:
        assert shops_seen(conn) == [shops.a]
        conn.execute("select set_config('app.shop_domain', %s, false)", (shops.b,))
        assert shops_seen(conn) == [shops.a]
        assert refused(conn, "set role hotdash_analyst") is errors.InsufficientPrivilege
        assert refused(conn, "set role hotdash_operator") is errors.InsufficientPrivilege
        assert refused(conn, "set role hotdash_ai_readonly") is None  # its own group: no wider
        assert shops_seen(conn) == [shops.a]
        assert refused(conn, "reset role") is None
        assert refused(conn, "set session authorization postgres") is (errors.InsufficientPrivilege)
        assert refused(conn, "select email from marts.customer_segments") is (
            errors.InsufficientPrivilege
        )
        assert refused(conn, "select * from marts.customer_segments") is (
            errors.InsufficientPrivilege
        )
        assert refused(conn, "select * from staging.stg_shopify__orders") is (
            errors.InsufficientPrivilege
        )
        assert refused(conn, "select pg_sleep(3)") is errors.QueryCanceled  # statement_timeout 1s
        insert = "insert into marts.growth_metrics (shop_domain) values ('x')"
        assert refused(conn, insert) is errors.ReadOnlySqlTransaction
        conn.execute("begin read write")
        assert refused(conn, insert) is errors.InsufficientPrivilege
        conn.execute("rollback")
        conn.execute("begin read write")
        assert refused(conn, "create temp table t (i int)") is errors.InsufficientPrivilege
        conn.execute("rollback")
        settings = dict(
            conn.execute(
                "select name, setting || coalesce(unit, '') from pg_settings where name = any(%s)",
                (["work_mem", "idle_in_transaction_session_timeout"],),
            ).fetchall()
        )
        assert settings == {"work_mem": "16384kB", "idle_in_transaction_session_timeout": "60000ms"}
        # Two connections at most: this one and one more.
        with (
            session(shops, login.name),
            pytest.raises(psycopg.OperationalError, match="too many connections"),
        ):
            session(shops, login.name)


def test_an_operator_login_is_bound_and_a_pooled_login_picks_its_shop_per_session(shops):
    bound = create_login(shops.target, "operator", shops.b, name=shops.name("op"))
    pooled = shops.name("pool")
    with db.connect(shops.target, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login in role hotdash_operator").format(sql.Identifier(pooled))
        )
    require_secure(shops.target, shops.settings())

    with session(shops, bound.name) as conn:
        conn.execute("select set_config('app.shop_domain', %s, false)", (shops.a,))
        assert shops_seen(conn) == [shops.b]
    with session(shops, pooled) as conn:
        assert shops_seen(conn) == []  # no shop set: no rows
        conn.execute("select set_config('app.shop_domain', %s, false)", (shops.a,))
        assert shops_seen(conn) == [shops.a]
        conn.execute("select set_config('app.shop_domain', %s, false)", (shops.b,))
        assert shops_seen(conn) == [shops.b]
    with db.connect(shops.target, autocommit=True) as conn:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(pooled)))


def test_verification_reports_a_drifted_login_and_the_login_then_reads_nothing(shops):
    login = create_login(shops.target, "ai", shops.a, name=shops.name("ai"), limits=LIMITS)
    who = f"ai login {login.name}"
    with db.connect(shops.target, autocommit=True) as conn:
        conn.execute(
            "insert into ops.shop_logins (login, shop_domain, kind) values (%s, %s, 'ai')",
            (login.name, shops.b),
        )
        ident = sql.Identifier(login.name)
        conn.execute(sql.SQL("grant hotdash_analyst to {}").format(ident))
        conn.execute(sql.SQL("grant select on marts.growth_metrics to {}").format(ident))
        conn.execute(sql.SQL("alter role {} reset statement_timeout").format(ident))
    problems = verify_security(shops.target, shops.settings())

    assert f"{who} is bound to 2 shops ({shops.a}, {shops.b})" in problems
    assert f"{who} is a member of hotdash_analyst" in problems
    assert f"{who} holds SELECT on marts.growth_metrics, granted to it directly" in problems
    assert f"{who}: statement_timeout is not set, expected 1s" in problems
    with session(shops, login.name) as conn:
        conn.execute("set role hotdash_ai_readonly")  # the analyst policy is not its way in
        assert shops_seen(conn) == []  # two shops: it reads none

    # An AI login nobody bound reads nothing, and is reported.
    stray = shops.name("stray")
    with db.connect(shops.target, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login in role hotdash_ai_readonly").format(
                sql.Identifier(stray)
            )
        )
    with session(shops, stray) as conn:
        conn.execute("select set_config('app.shop_domain', %s, false)", (shops.a,))
        assert shops_seen(conn) == []
    assert any(
        p.startswith(f"AI login {stray} is not bound")
        for p in verify_security(shops.target, shops.settings())
    )

    # `hotdash grants --verify` exits 8 naming the drift.
    env = {**os.environ, "HOTDASH_DATABASE": str(scalar(shops.target, "select current_database()"))}
    result = subprocess.run(
        [str(HOTDASH), "grants", "--verify"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 8
    assert f"{who} is a member of hotdash_analyst" in result.stderr

    drop_login(shops.target, "ai", shops.a, name=login.name)
    with db.connect(shops.target, autocommit=True) as conn:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(stray)))
    require_secure(shops.target, shops.settings())


def login_cli(env: dict[str, str], name: str, shop: str, *extra: str):
    return subprocess.run(
        [str(HOTDASH), "grants", "login", "ai", "--shop", shop, "--name", name, *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_the_cli_prints_a_connection_string_once_and_drops_the_login(shops):
    env = {
        **os.environ,
        "HOTDASH_DATABASE": str(scalar(shops.target, "select current_database()")),
        "HOTDASH_LOGIN_PASSWORD": "s3cret-for-the-assistant",
    }
    name = shops.name("cli")
    created = login_cli(env, name, shops.b)
    assert created.returncode == 0, created.stderr
    conninfo = created.stdout.strip()
    assert conninfo.startswith(f"postgresql://{name}:s3cret-for-the-assistant@")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert conn.execute("select session_user").fetchone()[0] == name
        assert shops_seen(conn) == [shops.b]
    assert query(
        shops.target, "select shop_domain, kind from ops.shop_logins where login = %s", (name,)
    ) == [(shops.b, "ai")]

    again = login_cli(env, name, shops.b)
    assert again.returncode == 2
    assert f"the role {name} exists already" in again.stderr

    dropped = login_cli(env, name, shops.b, "--drop")
    assert dropped.returncode == 0, dropped.stderr
    assert scalar(shops.target, "select count(*) from pg_roles where rolname = %s", (name,)) == 0
    assert (
        scalar(shops.target, "select count(*) from ops.shop_logins where login = %s", (name,)) == 0
    )


def test_a_shop_that_is_not_a_domain_is_refused_before_anything_is_created(shops):
    with pytest.raises(ConfigError, match="is not a shop domain"):
        create_login(shops.target, "ai", "x'; drop table facts; --", name=shops.name("bad"))


def test_a_login_needs_its_password_where_the_server_asks_for_one(tmp_path):
    """A cluster of its own whose pg_hba.conf asks every login but the administrator for a SCRAM
    password: the connection string `create_login` prints is the one that works."""
    home = tmp_path / "scram"
    try:
        target = db.embedded_target(PROJECT_DIR, home, dbname="scram")
        with db.connect(target) as conn:
            ensure_facts_table(conn)
        run_dbt(target, "run-operation", "apply_security")
        hba = home / "pgdata" / "pg_hba.conf"
        hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
        with db.connect(target, autocommit=True) as conn:
            conn.execute("select pg_reload_conf()")

        login = create_login(
            target, "ai", "scram.myshopify.com", name=f"t_scram_{uuid.uuid4().hex[:8]}"
        )
        with psycopg.connect(login.conninfo) as conn:
            assert conn.execute("select session_user").fetchone()[0] == login.name
        wrong = login.conninfo.replace(f":{login.password}@", ":not-the-password@")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong)
        without = target.conninfo.replace("postgres@", f"{login.name}@", 1)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(without)
        drop_login(target, "ai", "scram.myshopify.com", name=login.name)
    finally:
        db.stop_embedded(home)
