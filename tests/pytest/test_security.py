"""Roles, grants and forced row-level security, as each role sees them through SET ROLE.

One database per module, built by a non-superuser dbt user (as in production: superusers
bypass row-level security, so only a plain owner proves the owner policy). The project is a
temporary copy with two stand-in marts of its own (customers with PII columns, incremental
orders), so these tests do not depend on the real marts. Roles are cluster-wide and shared
with every other test database: tests never drop or alter them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import errors, sql
from typer.testing import CliRunner

from runner import db, dbt, grants, settings
from runner.cli import app
from runner.errors import ConfigError, SecurityError
from runner.facts import ensure_facts_table
from runner.pipeline import BuildOptions, build
from tests.pytest.helpers import FIXTURES_DIR, PROJECT_DIR, insert_facts, query, run_dbt

# One worker builds this module's database once (scripts/test.sh: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("security")

SHOP_A = "a.myshopify.com"
SHOP_B = "b.myshopify.com"
SHOP_QUOTE = "evil' or '1'='1"  # a real (odd) shop domain with a quote in it: data, never SQL
LOADER, ANALYST, OPERATOR, AI = settings.project_security(PROJECT_DIR).roles.all()
READERS = (ANALYST, OPERATOR, AI)
PII = (
    "email",
    "first_name",
    "last_name",
    "customer_name",
    "phone",
    "company",
    "address1",
    "city",
    "province",
    "zip",
)

SEC_CUSTOMERS = """
{{ config(materialized='table', schema='marts') }}
with
customers as (select * from {{ ref('stg_shopify__customers') }}),
final as (
    select
        shop_domain, customer_id, email, first_name, last_name,
        first_name || ' ' || last_name as customer_name,
        phone, company, address1, city, province, zip, country_code, accepts_marketing
    from customers
)
select * from final
"""

SEC_ORDERS = """
{{ config(
    materialized='incremental', incremental_strategy='delete+insert',
    unique_key=['shop_domain', 'order_id'], schema='marts',
) }}
with
orders as (select * from {{ ref('stg_shopify__orders') }}),
final as (
    select shop_domain, order_id, customer_id, total_price, fact_id
    from orders
    {% if is_incremental() %}
    where fact_id > (select coalesce(max(existing.fact_id), 0) from {{ this }} as existing)
    {% endif %}
)
select * from final
"""

# Fails when the owner sees no rows (forced RLS without an owner policy would do that).
SEC_ORDERS_VISIBLE = "select 1 as no_rows from {{ ref('sec_orders') }} having count(*) = 0\n"

MODELS = ["staging", "facts_quarantine"]  # with every test on them (the singular tests need all)
MARTS = ["sec_customers", "sec_orders"]


def payload(name: str) -> dict:
    return json.loads((FIXTURES_DIR / f"{name}.json").read_text())[name]


def customer(cid: int, first: str, last: str, email: str, company: str | None = None) -> dict:
    value = copy.deepcopy(payload("customer"))
    value.update(id=cid, first_name=first, last_name=last, email=email)
    value["updated_at"] = "2024-01-01T00:00:00Z"
    value["default_address"].update(
        company=company, address1=f"{cid} Main St", city="Tulsa", province="OK", zip="74103"
    )
    return value


def order(oid: int, cid: int, total: str) -> dict:
    value = copy.deepcopy(payload("order"))
    value.update(id=oid, total_price=total, updated_at="2024-02-01T00:00:00Z", currency="USD")
    value["customer"]["id"] = cid
    return value


FACTS = [
    (SHOP_A, "shopify.customers", customer(101, "Ann", "Alpha", "ann@a.test", "Ann's Rods")),
    (SHOP_A, "shopify.customers", customer(102, "Al", "Able", "al@a.test")),
    (SHOP_B, "shopify.customers", customer(201, "Bea", "Beta", "bea@b.test")),
    (SHOP_QUOTE, "shopify.customers", customer(301, "Eve", "Evil", "eve@e.test")),
    (SHOP_A, "shopify.orders", order(1001, 101, "10.00")),
    (SHOP_A, "shopify.orders", order(1002, 102, "20.00")),
    (SHOP_B, "shopify.orders", order(2001, 201, "30.00")),
]


@dataclasses.dataclass(frozen=True)
class Secured:
    admin: db.Target  # the superuser: sets up and switches roles
    builder: db.Target  # the non-superuser dbt user that owns the marts
    builder_role: str


def project_copy(dest: Path) -> Path:
    """The project with two stand-in marts (and one test) that exist only here."""
    dest.mkdir(parents=True)
    for item in (
        "dbt_project.yml",
        "selectors.yml",
        "macros",
        "models",
        "snapshots",
        "seeds",
        "analyses",
        "tests/dbt",
    ):
        src = PROJECT_DIR / item
        if src.is_dir():
            shutil.copytree(src, dest / item)
        elif src.exists():
            shutil.copy(src, dest / item)
    (dest / "models" / "marts").mkdir(parents=True, exist_ok=True)
    (dest / "models" / "marts" / "sec_customers.sql").write_text(SEC_CUSTOMERS)
    (dest / "models" / "marts" / "sec_orders.sql").write_text(SEC_ORDERS)
    (dest / "tests" / "dbt").mkdir(parents=True, exist_ok=True)
    (dest / "tests" / "dbt" / "assert_sec_orders_visible_to_owner.sql").write_text(
        SEC_ORDERS_VISIBLE
    )
    return dest


def builder_target(admin: db.Target, role: str, profiles_dir: Path) -> db.Target:
    """The same database, reached as `role` (the embedded server trusts local connections)."""
    profile = yaml.safe_load((admin.profiles_dir / "profiles.yml").read_text())
    profile["hotdash"]["outputs"]["embedded"]["user"] = role
    profiles_dir.mkdir(parents=True, exist_ok=True)
    (profiles_dir / "profiles.yml").write_text(yaml.safe_dump(profile))
    conninfo = admin.conninfo.replace("postgres@", f"{role}@", 1)
    return dataclasses.replace(admin, kind="profile", conninfo=conninfo, profiles_dir=profiles_dir)


@pytest.fixture(scope="module")
def secured(hotdash_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    base = tmp_path_factory.mktemp("security")
    project = project_copy(base / "project")
    name = f"t_sec_{uuid.uuid4().hex[:8]}"
    role = f"t_builder_{uuid.uuid4().hex[:8]}"
    admin = db.embedded_target(project, hotdash_home, dbname=name)
    with db.connect(admin, autocommit=True) as conn:
        ensure_facts_table(conn)
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("grant create on database {} to {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
        # the runner's ensure-facts step issues `create table if not exists` in public
        conn.execute(sql.SQL("grant create on schema public to {}").format(sql.Identifier(role)))
        # the dbt user owns the source here, so it can grant the loader its insert
        conn.execute(sql.SQL("alter table public.facts owner to {}").format(sql.Identifier(role)))
    # the roles are created once by a user who may (the builder lacks CREATEROLE)
    run_dbt(admin, "run-operation", "hotdash_ensure_roles")
    insert_facts(admin, FACTS)
    builder = builder_target(admin, role, base / "builder")
    run_dbt(builder, "build", "--select", *MODELS, *MARTS)
    try:
        yield Secured(admin, builder, role)
    finally:
        db.drop_database(admin)
        with psycopg.connect(db._embedded_uri(hotdash_home, start=False), autocommit=True) as conn:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def as_role(target: db.Target, role: str, statement: str, shop: str | None = None) -> list[tuple]:
    """Run one statement as `role` (SET ROLE from the superuser) and roll everything back."""
    with db.connect(target) as conn:
        try:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            if shop is not None:
                conn.execute("select set_config('app.shop_domain', %s, false)", (shop,))
            cur = conn.execute(statement)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else [("rowcount", cur.rowcount)]
        finally:
            conn.rollback()


def denied(target: db.Target, role: str, statement: str, shop: str | None = SHOP_A) -> bool:
    try:
        as_role(target, role, statement, shop)
    except errors.InsufficientPrivilege:
        return True
    return False


# --- reading: each role its own rows ----------------------------------------------------------


@pytest.mark.parametrize("role", [OPERATOR, AI])
def test_operator_and_ai_see_only_their_shop(secured: Secured, role: str) -> None:
    t = secured.admin
    customers = "select customer_id from marts.sec_customers order by 1"
    orders = "select order_id, total_price from marts.sec_orders order by 1"
    assert as_role(t, role, customers, SHOP_A) == [(101,), (102,)]
    assert as_role(t, role, customers, SHOP_B) == [(201,)]
    assert as_role(t, role, orders, SHOP_A) == [(1001, Decimal("10.00")), (1002, Decimal("20.00"))]
    assert as_role(t, role, orders, SHOP_B) == [(2001, Decimal("30.00"))]
    # no setting, an empty one, or an unknown shop: no rows
    assert as_role(t, role, customers) == []
    assert as_role(t, role, orders, "") == []
    assert as_role(t, role, customers, "nobody.myshopify.com") == []


def test_shop_setting_is_data_never_sql(secured: Secured) -> None:
    t = secured.admin
    customers = "select shop_domain, customer_id from marts.sec_customers order by 2"
    for role in (OPERATOR, AI):
        assert as_role(t, role, customers, "x' or '1'='1") == []
        assert as_role(t, role, customers, f"{SHOP_A}' or '1'='1") == []
        assert as_role(t, role, customers, "%") == []
        assert as_role(t, role, customers, "'; set role postgres; --") == []
        # the odd shop that really has a quote in its name gets exactly its own row
        assert as_role(t, role, customers, SHOP_QUOTE) == [(SHOP_QUOTE, 301)]


def test_analyst_reads_every_shop_in_marts_staging_and_ops(secured: Secured) -> None:
    t = secured.admin
    assert as_role(t, ANALYST, "select customer_id from marts.sec_customers order by 1", None) == [
        (101,),
        (102,),
        (201,),
        (301,),
    ]
    assert as_role(t, ANALYST, "select count(*) from marts.sec_orders") == [(3,)]
    assert as_role(t, ANALYST, "select count(*) from staging.stg_shopify__customers") == [(4,)]
    assert as_role(t, ANALYST, "select count(*) from ops.facts_quarantine") == [(0,)]
    assert as_role(t, ANALYST, "select email from marts.sec_customers where customer_id = 201") == [
        ("bea@b.test",)
    ]


# --- columns: the AI never reads PII ----------------------------------------------------------


def test_ai_cannot_read_pii_columns_but_reads_the_rest(secured: Secured) -> None:
    t = secured.admin
    for column in PII:
        assert denied(t, AI, f"select {column} from marts.sec_customers"), column
        # the operator reads the same column of its shop
        assert not denied(t, OPERATOR, f"select {column} from marts.sec_customers"), column
    assert denied(t, AI, "select * from marts.sec_customers")
    assert as_role(
        t,
        AI,
        "select shop_domain, customer_id, country_code, accepts_marketing"
        " from marts.sec_customers order by customer_id",
        SHOP_A,
    ) == [(SHOP_A, 101, "US", False), (SHOP_A, 102, "US", False)]
    assert as_role(
        t, OPERATOR, "select email, customer_name from marts.sec_customers order by 1", SHOP_A
    ) == [("al@a.test", "Al Able"), ("ann@a.test", "Ann Alpha")]


# --- writing: nobody but the loader, and the loader only into facts ---------------------------

WRITES = [
    "insert into marts.sec_orders (shop_domain, order_id) values ('a.myshopify.com', 9)",
    "update marts.sec_orders set total_price = 0",
    "delete from marts.sec_orders",
    "truncate marts.sec_orders",
    "update marts.sec_customers set email = null",
    "insert into public.facts (shop_domain, topic, value) values ('a.myshopify.com', 't', '{}')",
    "update public.facts set topic = 't'",
    "delete from public.facts",
    "update staging.stg_shopify__orders set total_price = 0",
]


@pytest.mark.parametrize("role", READERS)
def test_readers_cannot_write_or_read_raw_facts(secured: Secured, role: str) -> None:
    t = secured.admin
    for statement in [*WRITES, "select count(*) from public.facts"]:
        assert denied(t, role, statement), statement
    if role != ANALYST:
        assert denied(t, role, "select count(*) from staging.stg_shopify__orders")
        assert denied(t, role, "select count(*) from ops.facts_quarantine")


def test_loader_inserts_facts_and_reads_nothing(secured: Secured) -> None:
    t = secured.admin
    insert = (
        "insert into public.facts (shop_domain, topic, value)"
        " values ('a.myshopify.com', 'shopify.orders', '{\"id\": 1}')"
    )
    assert as_role(t, LOADER, insert) == [("rowcount", 1)]
    for statement in [
        f"{insert} returning id",  # reading back the id is reading
        "select count(*) from public.facts",
        "update public.facts set topic = 't'",
        "delete from public.facts",
        "select count(*) from marts.sec_orders",
        "select count(*) from staging.stg_shopify__orders",
        "select count(*) from ops.facts_quarantine",
        "insert into marts.sec_orders (shop_domain, order_id) values ('a.myshopify.com', 9)",
    ]:
        assert denied(t, LOADER, statement, shop=None), statement


# --- the owner: forced RLS applies to it, its policy lets dbt work -----------------------------


def test_owner_reads_every_row_under_forced_rls(secured: Secured) -> None:
    flags = query(
        secured.admin,
        "select relname, relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner)"
        " from pg_class where relnamespace = 'marts'::regnamespace and relkind = 'r'"
        " order by relname",
    )
    owner = secured.builder_role
    # marts.alerts (the runner's record of alerts, created with the ops tables) is secured too.
    assert flags == [
        ("alerts", True, True, owner),
        ("sec_customers", True, True, owner),
        ("sec_orders", True, True, owner),
    ]
    assert query(secured.builder, "select count(*) from marts.sec_customers") == [(4,)]
    # dbt's own tests on the marts, as the owner, see the rows
    run = run_dbt(secured.builder, "test", "--select", *MARTS)
    tests = {n.name: n.status for n in run.nodes if n.resource_type == "test"}
    assert tests == {"assert_sec_orders_visible_to_owner": "pass"}


def test_verify_passes_after_build(secured: Secured) -> None:
    assert grants.verify_security(secured.admin) == []


# --- rebuilds: grants and policies come back ---------------------------------------------------


def policies(target: db.Target) -> list[tuple]:
    return query(
        target,
        "select tablename, policyname, roles::text[], cmd from pg_policies"
        " where schemaname = 'marts' order by 1, 2",
    )


def test_rebuild_restores_grants_and_policies(secured: Secured) -> None:
    before = query(secured.admin, "select 'marts.sec_customers'::regclass::oid")
    insert_facts(secured.admin, [(SHOP_B, "shopify.orders", order(2002, 201, "5.00"))])
    # the runner's build: dbt build (its on-run-end hook re-applies), then verification
    report = build(
        secured.builder,
        BuildOptions(select=[*MODELS, *MARTS], skip_contracts=True, vars=None),
    )
    assert [(s.name, s.status) for s in report.steps if s.status != "skipped"] == [
        ("load project", "success"),
        ("judge facts", "success"),
        ("dbt build", "success"),
        ("verify security", "success"),
    ]
    after = query(secured.admin, "select 'marts.sec_customers'::regclass::oid")
    assert before != after  # a new table: its policies were created again
    owner = secured.builder_role
    assert policies(secured.admin) == [
        # marts.alerts (the runner's, made at on-run-start) is secured like every mart
        ("alerts", "hotdash_analyst_read", [ANALYST], "SELECT"),
        ("alerts", "hotdash_owner_all", [owner], "ALL"),
        ("alerts", "hotdash_shop_read", [AI, OPERATOR], "SELECT"),
        ("sec_customers", "hotdash_analyst_read", [ANALYST], "SELECT"),
        ("sec_customers", "hotdash_owner_all", [owner], "ALL"),
        ("sec_customers", "hotdash_shop_read", [AI, OPERATOR], "SELECT"),
        ("sec_orders", "hotdash_analyst_read", [ANALYST], "SELECT"),
        ("sec_orders", "hotdash_owner_all", [owner], "ALL"),
        ("sec_orders", "hotdash_shop_read", [AI, OPERATOR], "SELECT"),
    ]
    # the incremental mart merged the new order as its (RLS-bound) owner
    assert as_role(
        secured.admin, OPERATOR, "select order_id from marts.sec_orders order by 1", SHOP_B
    ) == [(2001,), (2002,)]
    assert grants.verify_security(secured.admin) == []


def test_switched_off_rebuild_exposes_nothing_and_grants_restores(secured: Secured) -> None:
    run_dbt(
        secured.builder, "run", "--select", "sec_customers", "--vars", "{apply_security: false}"
    )
    # a rebuilt table without the security step: readers are refused, never shown rows
    assert denied(secured.admin, OPERATOR, "select count(*) from marts.sec_customers")
    assert denied(secured.admin, ANALYST, "select count(*) from marts.sec_customers")
    problems = grants.verify_security(secured.admin)
    assert "marts.sec_customers: row-level security is not enabled" in problems
    assert "marts.sec_customers: policy hotdash_shop_read is missing" in problems
    assert "hotdash_operator cannot read marts.sec_customers" in problems
    assert all("sec_orders" not in p for p in problems)
    # `hotdash grants` puts it back, as the non-superuser owner
    grants.apply_security(secured.builder)
    assert grants.verify_security(secured.admin) == []
    assert as_role(
        secured.admin, OPERATOR, "select customer_id from marts.sec_customers", SHOP_B
    ) == [(201,)]


# --- re-applying security repairs what was changed by hand, and keeps the rest ---------------

# A change by hand to one mart's row-level security, each repaired by `hotdash grants` (as at the
# end of every build): the policies are dropped and created again only where they are not exactly
# the model's three.
CHANGED_BY_HAND = [
    "alter policy hotdash_shop_read on marts.sec_orders using (true)",
    "alter policy hotdash_shop_read on marts.sec_orders to hotdash_operator",
    "alter policy hotdash_owner_all on marts.sec_orders using (false)",
    "create policy leak on marts.sec_orders for select to hotdash_operator using (true)",
    "drop policy hotdash_analyst_read on marts.sec_orders",
    "alter table marts.sec_orders no force row level security",
]


@pytest.mark.parametrize("change", CHANGED_BY_HAND, ids=lambda v: v[:48])
def test_security_repairs_a_mart_changed_by_hand_and_keeps_the_others(
    secured: Secured, change: str
) -> None:
    wanted = policies(secured.admin)
    kept = "select oid from pg_policy where polrelid = 'marts.sec_customers'::regclass order by 1"
    untouched = query(secured.admin, kept)
    with db.connect(secured.admin, autocommit=True) as conn:
        conn.execute(change)  # type: ignore[arg-type]
    grants.apply_security(secured.builder)
    assert policies(secured.admin) == wanted
    assert grants.verify_security(secured.admin) == []
    orders = "select distinct shop_domain from marts.sec_orders"
    assert as_role(secured.admin, OPERATOR, orders, SHOP_B) == [(SHOP_B,)]
    assert as_role(secured.admin, AI, orders, SHOP_B) == [(SHOP_B,)]
    # the owner (dbt) reads every row again
    assert query(secured.builder, "select count(distinct shop_domain) from marts.sec_orders") == [
        (2,)
    ]
    # the mart nobody changed keeps its policies: not dropped, so not locked
    assert query(secured.admin, kept) == untouched


# --- verification catches changes made by hand -----------------------------------------------


def test_verify_names_the_mart_when_rls_is_disabled(
    secured: Secured, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = secured.admin
    dbname = psycopg.conninfo.conninfo_to_dict(admin.conninfo)["dbname"]
    monkeypatch.setenv("HOTDASH_DATABASE", str(dbname))
    cli = CliRunner()
    assert cli.invoke(app, ["grants", "--verify"]).exit_code == 0
    with db.connect(admin, autocommit=True) as conn:
        conn.execute("alter table marts.sec_orders disable row level security")
        conn.execute("alter table marts.sec_customers no force row level security")
    try:
        assert grants.verify_security(admin) == [
            "marts.sec_customers: row-level security is not forced (its owner bypasses it)",
            "marts.sec_orders: row-level security is not enabled",
        ]
        with pytest.raises(SecurityError, match=r"marts\.sec_orders: row-level security"):
            grants.require_secure(admin)
        result = cli.invoke(app, ["grants", "--verify"])
        assert result.exit_code == SecurityError.exit_code == 8
        assert "marts.sec_orders: row-level security is not enabled" in result.output
    finally:
        with db.connect(admin, autocommit=True) as conn:
            conn.execute("alter table marts.sec_orders enable row level security")
            conn.execute("alter table marts.sec_customers force row level security")
    assert grants.verify_security(admin) == []


HAND_GRANTS = [
    (
        "grant select (email) on marts.sec_customers to hotdash_ai_readonly",
        "revoke select (email) on marts.sec_customers from hotdash_ai_readonly",
        ["hotdash_ai_readonly can read PII column marts.sec_customers.email"],
    ),
    (
        "grant select on staging.stg_shopify__orders to hotdash_operator",
        "revoke select on staging.stg_shopify__orders from hotdash_operator",
        ["hotdash_operator can SELECT staging.stg_shopify__orders"],
    ),
    (
        "grant select on public.facts to hotdash_loader",
        "revoke select on public.facts from hotdash_loader",
        ["hotdash_loader can SELECT public.facts"],
    ),
    (
        "grant insert on public.facts to hotdash_analyst",
        "revoke insert on public.facts from hotdash_analyst",
        ["hotdash_analyst can INSERT public.facts"],
    ),
    (
        "grant update on marts.sec_orders to hotdash_operator",
        "revoke update on marts.sec_orders from hotdash_operator",
        ["hotdash_operator can UPDATE marts.sec_orders"],
    ),
    (
        "grant select on marts.sec_orders to public",
        "revoke select on marts.sec_orders from public",
        [
            "PUBLIC can SELECT marts.sec_orders (granted outside the security model)",
            "hotdash_loader can SELECT marts.sec_orders",
        ],
    ),
    (
        "create policy leak on marts.sec_orders for select to hotdash_operator using (true)",
        "drop policy leak on marts.sec_orders",
        ["marts.sec_orders: unexpected policy leak (permissive SELECT to hotdash_operator)"],
    ),
    (
        "grant usage on schema staging to hotdash_ai_readonly",
        "revoke usage on schema staging from hotdash_ai_readonly",
        ["hotdash_ai_readonly can use schema staging"],
    ),
]


@pytest.mark.parametrize(("grant", "undo", "expected"), HAND_GRANTS, ids=lambda v: str(v)[:40])
def test_verify_names_each_extra_grant(
    secured: Secured, grant: str, undo: str, expected: list[str]
) -> None:
    with db.connect(secured.admin, autocommit=True) as conn:
        conn.execute(grant)  # type: ignore[arg-type]
    try:
        assert sorted(grants.verify_security(secured.admin)) == sorted(expected)
    finally:
        with db.connect(secured.admin, autocommit=True) as conn:
            conn.execute(undo)  # type: ignore[arg-type]
    assert grants.verify_security(secured.admin) == []


def test_build_fails_when_verification_fails(secured: Secured) -> None:
    """What the macros cannot fix fails the nightly build, naming the relation."""
    with db.connect(secured.admin, autocommit=True) as conn:
        conn.execute(
            "create materialized view marts.sec_by_shop as"
            " select 'a.myshopify.com'::text as shop_domain, 2 as customers"
        )
    try:
        with pytest.raises(SecurityError) as failure:
            build(secured.builder, BuildOptions(select=["sec_customers"], skip_contracts=True))
        assert failure.value.message.splitlines()[1:] == [
            "  marts.sec_by_shop: a materialized view cannot carry row-level security;"
            " make it a table",
            "  hotdash_analyst cannot read marts.sec_by_shop",
        ]
    finally:
        with db.connect(secured.admin, autocommit=True) as conn:
            conn.execute("drop materialized view marts.sec_by_shop")
    assert grants.verify_security(secured.admin) == []


# --- users that cannot create roles; several databases on one server ---------------------------


def test_user_without_createrole_gets_a_clear_message(secured: Secured) -> None:
    missing = f"t_missing_{uuid.uuid4().hex[:8]}"
    messages: list[str] = []

    def on_event(event: object) -> None:
        if event.info.name == "RunningOperationCaughtError":  # type: ignore[attr-defined]
            messages.append(event.data.exc)  # type: ignore[attr-defined]

    run = dbt.invoke(
        secured.builder,
        ["run-operation", "hotdash_ensure_roles", "--args", f"{{roles: [{missing}]}}"],
        on_event=on_event,
    )
    assert not run.success
    assert len(messages) == 1
    assert f"the role(s) {missing} do not exist" in messages[0]
    assert f"database user {secured.builder_role} cannot create roles" in messages[0]
    assert "apply_security: false" in messages[0]
    assert query(secured.admin, "select count(*) from pg_roles where rolname = %s", (missing,)) == [
        (0,)
    ]


def test_role_created_by_another_database_meanwhile_is_not_an_error(secured: Secured) -> None:
    """Roles are cluster-wide: two databases building at once may both find a role missing."""
    name = f"t_race_{uuid.uuid4().hex[:8]}"
    admin_uri = db._embedded_uri(secured.admin.home, start=False)
    outcome: list[dbt.DbtRun] = []
    args = ["run-operation", "hotdash_ensure_roles", "--args", f"{{roles: [{name}]}}"]
    try:
        with (
            psycopg.connect(admin_uri) as other,  # left open: the role is not visible yet
            psycopg.connect(admin_uri, autocommit=True) as watch,
        ):
            other.execute(sql.SQL("create role {} nologin").format(sql.Identifier(name)))
            worker = threading.Thread(
                target=lambda: outcome.append(dbt.invoke(secured.admin, args))
            )
            worker.start()
            waiting = False
            for _ in range(300):  # until dbt's create role waits on ours
                waiting = bool(
                    watch.execute(
                        "select 1 from pg_stat_activity where wait_event_type = 'Lock'"
                        " and query like %s",
                        (f"%create role%{name}%",),
                    ).fetchone()
                )
                if waiting or not worker.is_alive():
                    break
                time.sleep(0.1)
            assert waiting
            other.commit()
        worker.join(60)
        assert outcome and outcome[0].success
    finally:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def test_marts_made_outside_dbt_in_another_database(secured: Secured, new_target) -> None:
    """A second database on the same server: its own marts (made by SQL), the shared roles."""
    other = dataclasses.replace(new_target(), project_dir=secured.admin.project_dir)
    with db.connect(other, autocommit=True) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.hand_made (shop_domain text, zip text, units int);"
            "insert into marts.hand_made values ('a.myshopify.com', '74103', 1),"
            " ('b.myshopify.com', '10001', 2)"
        )
    assert "marts.hand_made: row-level security is not enabled" in grants.verify_security(other)
    grants.apply_security(other)
    assert grants.verify_security(other) == []
    assert as_role(other, AI, "select units from marts.hand_made", SHOP_B) == [(2,)]
    assert denied(other, AI, "select zip from marts.hand_made")
    # the first database is untouched by the second one's run
    assert grants.verify_security(secured.admin) == []


# --- credentials only from the environment ---------------------------------------------------


def test_profile_example_takes_every_setting_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (PROJECT_DIR / "profiles.yml.example").read_text()
    (tmp_path / "profiles.yml").write_text(text)
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    monkeypatch.delenv("DBT_TARGET", raising=False)
    env = {
        "HOTDASH_PG_HOST": "db.example.com",
        "HOTDASH_PG_PORT": "6543",
        "HOTDASH_PG_USER": "hotdash_dbt",
        "HOTDASH_PG_PASSWORD": "s3cret-from-env",
        "HOTDASH_PG_DBNAME": "analytics",
        "HOTDASH_PG_SSLMODE": "verify-full",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    target = db.resolve_target(start=False)
    assert (target.kind, target.target_name) == ("profile", "prod")
    assert psycopg.conninfo.conninfo_to_dict(target.conninfo) == {
        "host": "db.example.com",
        "port": "6543",
        "user": "hotdash_dbt",
        "password": "s3cret-from-env",
        "dbname": "analytics",
        "sslmode": "verify-full",
    }
    monkeypatch.delenv("HOTDASH_PG_PASSWORD")
    with pytest.raises(ConfigError, match="HOTDASH_PG_PASSWORD"):
        db.resolve_target(start=False)
    outputs = yaml.safe_load(text)["hotdash"]["outputs"]["prod"]
    for key in ("host", "port", "user", "password", "dbname", "sslmode"):
        assert "env_var(" in str(outputs[key]), key


def test_the_dev_and_ci_targets_are_databases_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """profiles.yml.example: dev and ci build in prod's database name plus _dev and _ci, so a
    build there cannot touch prod's relations, grants or build record."""
    (tmp_path / "profiles.yml").write_text((PROJECT_DIR / "profiles.yml.example").read_text())
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    for key, value in {
        "HOTDASH_PG_HOST": "db.example.com",
        "HOTDASH_PG_USER": "hotdash_dbt",
        "HOTDASH_PG_PASSWORD": "s3cret-from-env",
        "HOTDASH_PG_DBNAME": "analytics",
    }.items():
        monkeypatch.setenv(key, value)
    found = {}
    for name in ("prod", "dev", "ci"):
        monkeypatch.setenv("DBT_TARGET", name)
        target = db.resolve_target(start=False)
        info = psycopg.conninfo.conninfo_to_dict(target.conninfo)
        found[target.target_name] = (info["host"], info["dbname"])
    assert found == {
        "prod": ("db.example.com", "analytics"),
        "dev": ("db.example.com", "analytics_dev"),
        "ci": ("db.example.com", "analytics_ci"),
    }
