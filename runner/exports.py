"""Exports of marts to files: the marketing list (CSV for Klaviyo or Mailchimp) and the inventory
alerts, or only the daily email's list (CSV or Markdown). All export SQL lives here.

With a shop, the query runs in that shop's row-level-security context: in a transaction, the
session's shop setting set to it (`set_config(setting, shop, true)`), as the operator role when
the connected user may take it, and filtered on the same setting (so an owner or superuser, whom
RLS does not bind, gets the same rows). The setting, the role and the marts schema are the
security model's (var security, runner.settings.SecurityModel). Files are written to a temporary
file next to the target and renamed.
"""

from __future__ import annotations

import csv
import io
import os
import string
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from runner.db import relation_exists
from runner.errors import ConfigError, ExportError
from runner.settings import SecurityModel, project_security

# The marketing list's one format: (CSV header, column of marts.marketing_targets), in file
# order. Klaviyo's list import maps Email, First Name and Last Name to the profile and Email
# Marketing Consent to its email consent status (SUBSCRIBED); it keeps every other column as a
# custom property named by its header, which a template merges by that name.
# Mailchimp's import maps the same columns to its audience fields and merge fields.
MARKETING_COLUMNS = (
    ("Email", "email"),
    ("First Name", "first_name"),
    ("Last Name", "last_name"),
    ("Email Marketing Consent", "email_marketing_consent"),
    ("Campaign", "campaign"),
    ("Content Theme", "content_theme"),
    ("Last Category", "last_category_l1"),
    ("Offer", "offer"),
    ("Shop Domain", "shop_domain"),
    ("Customer ID", "customer_id"),
)
MARKETING_HEADER = tuple(header for header, _ in MARKETING_COLUMNS)

# No shop in the session: every shop; with one (--shop), only its rows (RLS says the same).
SHOP_FILTER = """\
where
    current_setting(%(shop_setting)s, true) is null
    or current_setting(%(shop_setting)s, true) = ''
    or shop_domain = current_setting(%(shop_setting)s, true)
"""

MARKETING_SQL = (
    "select\n    "
    + ",\n    ".join(column for _, column in MARKETING_COLUMNS)
    + "\nfrom {mart}\n"
    + SHOP_FILTER
    + "order by shop_domain, campaign, email\n"
)

INVENTORY_COLUMNS = (
    "shop_domain",
    "variant_id",
    "sku",
    "product_title",
    "units_on_hand",
    "unit_cost",
    "capital_tied_up",
    "monthly_sales_avg",
    "months_of_cover",
    "margin_pct",
    "recommended_action",
    "potential_cash_recovery",
)

# Each shop's variants by capital tied up; with top, only its daily email's (the mart's
# in_daily_email: its first var daily_email_top_n slow movers, in capital_rank's order too).
INVENTORY_SQL = (
    "select\n    "
    + ",\n    ".join(INVENTORY_COLUMNS)
    + "\nfrom (\n    select * from {mart}\n"
    + SHOP_FILTER
    + ") as alerts\nwhere in_daily_email or not %(top)s\norder by shop_domain, capital_rank\n"
)

# The email's headline, per shop and over all of its slow movers (the mart's slow_mover_rank:
# to discount or discontinue, capital above 0), not only those the email lists.
INVENTORY_TOTALS_SQL = (
    """
select
    shop_domain,
    count(slow_mover_rank) as slow_movers,
    coalesce(sum(capital_tied_up) filter (where slow_mover_rank is not null), 0)
        as capital_tied_up,
    coalesce(sum(potential_cash_recovery) filter (where slow_mover_rank is not null), 0)
        as potential_cash_recovery
from {mart}
"""
    + SHOP_FILTER
    + "group by shop_domain\norder by shop_domain\n"
)

# The daily email's table: (header, column, how to show a value).
INVENTORY_MARKDOWN: tuple[tuple[str, str, str], ...] = (
    ("Product", "product_title", "text"),
    ("SKU", "sku", "text"),
    ("On hand", "units_on_hand", "int"),
    ("Unit cost", "unit_cost", "money"),
    ("Capital tied up", "capital_tied_up", "money"),
    ("Sales / month", "monthly_sales_avg", "number"),
    ("Months of cover", "months_of_cover", "number"),
    ("Margin", "margin_pct", "pct"),
    ("Action", "recommended_action", "text"),
    ("Cash recovery", "potential_cash_recovery", "money"),
)


@dataclass(frozen=True)
class SlowMoverTotals:
    """A shop's slow movers (to discount or discontinue, capital above 0): the email's headline."""

    shop_domain: str
    slow_movers: int
    capital_tied_up: Decimal
    potential_cash_recovery: Decimal


@dataclass(frozen=True)
class ExportResult:
    rows: int
    path: Path | None  # None: written to the caller's stream
    skipped: int = 0  # rows left out (marketing: no email)


def _may_be_operator(conn: psycopg.Connection, operator: str) -> bool:
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (operator,)).fetchone()
    if not exists:
        return False
    member = conn.execute("select pg_has_role(current_user, %s, 'member')", (operator,))
    return bool(member.fetchone()[0])  # type: ignore[index]


def _query(
    conn: psycopg.Connection,
    table: str,
    query: str,
    params: dict[str, object],
    shop: str | None,
    security: SecurityModel | None,
) -> tuple[list[str], list[tuple]]:
    """Run an export query on the mart `table`, in the shop's RLS context when a shop is given."""
    return _queries(conn, table, (query,), params, shop, security)[0]


def mart_sql(query: str, model: SecurityModel, table: str | None = None) -> sql.Composed:
    """`query` with each `{name}` the mart `name` in the model's marts schema, and `{mart}` the
    mart `table`."""
    names = {field for _, field, _, _ in string.Formatter().parse(query) if field}
    return sql.SQL(query).format(
        **{
            name: sql.Identifier(model.marts_schema, table if name == "mart" and table else name)
            for name in names
        }
    )


@contextmanager
def shop_context(
    conn: psycopg.Connection,
    shop: str | None,
    security: SecurityModel | None = None,
    marts: Sequence[str] = (),
    reader: str = "runner/exports.py",
) -> Iterator[SecurityModel]:
    """A transaction of its own in which to read the marts, in the shop's row-level-security
    context when a shop is given (the session's shop setting, and the operator role when the
    connected user may take it); yields the security model. The queries run in it pass
    `shop_setting` to SHOP_FILTER.

    The context (setting and role) is local to the transaction, so the connection must have none
    open: inside another it would outlive the reading. A missing mart (of `marts`, the tables
    read), a missing column or a refused read becomes an ExportError naming it; `reader` is the
    module whose queries to align when a mart's columns changed.
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("exports need a connection with no transaction open (commit first)")
    model = security or project_security()
    try:
        with conn.transaction():
            if shop:
                conn.execute("select set_config(%s, %s, true)", (model.shop_setting, shop))
                operator = model.roles.operator
                if _may_be_operator(conn, operator):
                    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(operator)))
            yield model
    except psycopg.errors.UndefinedTable as exc:
        relations = [f"{model.marts_schema}.{table}" for table in marts]
        with conn.transaction():
            missing = [name for name in relations if not relation_exists(conn, name)]
        raise ExportError(
            f"{', '.join(missing)} {'does' if len(missing) == 1 else 'do'} not exist in this"
            " database"
            if missing
            else str(exc.diag.message_primary),
            hint="`hotdash build` builds the marts",
        ) from exc
    except psycopg.errors.UndefinedColumn as exc:
        names = ", ".join(f"{model.marts_schema}.{table}" for table in marts) or "a mart"
        raise ExportError(
            f"{names} lacks a column the export reads: {exc.diag.message_primary}",
            hint=f"the mart's columns changed: align the query in {reader}",
        ) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        names = ", ".join(f"{model.marts_schema}.{table}" for table in marts) or "the marts"
        raise ExportError(
            f"not allowed to read {names}: {exc.diag.message_primary}",
            hint="`hotdash grants` re-applies grants and row-level security",
        ) from exc


def _queries(
    conn: psycopg.Connection,
    table: str,
    queries: Sequence[str],
    params: dict[str, object],
    shop: str | None,
    security: SecurityModel | None,
) -> list[tuple[list[str], list[tuple]]]:
    """Run export queries on the mart `table` (`{mart}` in them), one after the other in one
    transaction, in the shop's RLS context when a shop is given (shop_context); each query's
    columns and rows."""
    with shop_context(conn, shop, security, (table,)) as model:
        results = []
        for query in queries:
            cur = conn.execute(
                mart_sql(query, model, table), {**params, "shop_setting": model.shop_setting}
            )
            results.append(([d.name for d in cur.description or ()], cur.fetchall()))
        return results


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, write: Callable[[io.TextIOBase], None]) -> None:
    """Write a text file through a temporary file in the same folder, then rename it over."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a new file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_value(value: object) -> object:
    return "" if value is None else value


def marketing_targets(
    conn: psycopg.Connection,
    out: Path,
    shop: str | None = None,
    security: SecurityModel | None = None,
) -> ExportResult:
    """The marketing list as CSV (MARKETING_COLUMNS), one row per shop, campaign and email.

    The mart lists no row without an email; one that has none cannot be imported and is left
    out, counted in `skipped`.
    `security`: the target's model (settings.of(target).security); default the project's.
    """
    _, all_rows = _query(conn, "marketing_targets", MARKETING_SQL, {}, shop, security)
    rows = [row for row in all_rows if row[0] and str(row[0]).strip()]

    def write(handle: io.TextIOBase) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(MARKETING_HEADER)
        writer.writerows([[_csv_value(v) for v in row] for row in rows])

    write_atomic(out, write)
    return ExportResult(rows=len(rows), path=Path(out), skipped=len(all_rows) - len(rows))


def inventory_alerts_rows(
    conn: psycopg.Connection,
    top: bool = False,
    shop: str | None = None,
    security: SecurityModel | None = None,
) -> tuple[list[dict[str, object]], list[SlowMoverTotals]]:
    """Each shop's variants (of one shop, or of all) by capital tied up, or with `top` only its
    daily email's list (the mart's in_daily_email); and each shop's slow mover totals, over all
    of its slow movers whatever `top`. With a shop, its totals even when it has no alerts."""
    (columns, rows), (_, totals) = _queries(
        conn,
        "inventory_alerts",
        (INVENTORY_SQL, INVENTORY_TOTALS_SQL),
        {"top": top},
        shop,
        security,
    )
    shop_totals = [SlowMoverTotals(*row) for row in totals]
    if shop and not shop_totals:
        shop_totals = [SlowMoverTotals(shop, 0, Decimal(0), Decimal(0))]
    return [dict(zip(columns, row, strict=True)) for row in rows], shop_totals


def _show(value: object, how: str) -> str:
    if value is None:
        return "n/a"
    if how == "money":
        return f"${Decimal(str(value)):,.2f}"
    if how == "int":
        return f"{int(value):,}"  # type: ignore[call-overload]
    if how == "number":
        return f"{Decimal(str(value)):,.1f}"
    if how == "pct":
        return f"{Decimal(str(value)):.1f}%"
    return str(value).replace("|", "\\|")


def inventory_alerts_markdown(
    rows: Sequence[dict[str, object]], totals: Sequence[SlowMoverTotals], shop: str | None
) -> str:
    """The daily email's table, with a Shop column when several shops are listed, and its
    headline: per shop, the capital tied up in all of its slow movers and what the recommended
    actions could recover (not only the rows listed)."""
    columns = list(INVENTORY_MARKDOWN)
    if not shop:
        columns.insert(0, ("Shop", "shop_domain", "text"))
    lines = [
        "| " + " | ".join(header for header, _, _ in columns) + " |",
        "| " + " | ".join("---:" if how != "text" else "---" for _, _, how in columns) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_show(row[col], how) for _, col, how in columns) + " |")
    lines.append("")
    for total in totals:
        movers = f"{total.slow_movers:,} slow mover" + ("" if total.slow_movers == 1 else "s")
        lines.append(
            ("" if shop else f"{total.shop_domain}: ")
            + f"{_show(total.capital_tied_up, 'money')} tied up in {movers}"
            " (to discount or discontinue);"
            f" {_show(total.potential_cash_recovery, 'money')} recoverable."
        )
    return "\n".join(lines) + "\n"


def inventory_alerts_csv(
    rows: Sequence[dict[str, object]], totals: Sequence[SlowMoverTotals], shop: str | None
) -> str:
    """CSV with the mart's column names (shop_domain left out when one shop is exported); the
    rows only, no totals."""
    columns = [c for c in INVENTORY_COLUMNS if not (shop and c == "shop_domain")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row[c]) for c in columns])
    return buffer.getvalue()


def inventory_alerts(
    conn: psycopg.Connection,
    top: bool = False,
    fmt: str = "csv",
    shop: str | None = None,
    out: Path | None = None,
    security: SecurityModel | None = None,
) -> tuple[str, ExportResult]:
    """Render the alerts (with `top`, each shop's daily email list) as csv or markdown; written
    atomically to `out` when given."""
    if fmt not in ("csv", "markdown"):
        raise ConfigError(f"--format must be csv or markdown, got {fmt!r}")
    rows, totals = inventory_alerts_rows(conn, top=top, shop=shop, security=security)
    render = inventory_alerts_csv if fmt == "csv" else inventory_alerts_markdown
    text = render(rows, totals, shop)
    if out is not None:
        write_atomic(out, lambda handle: handle.write(text))
    return text, ExportResult(rows=len(rows), path=Path(out) if out else None)
