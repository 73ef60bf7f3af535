"""The AI answer check (`hotdash eval`): every question of evals/questions.yml answered twice,
by the analyst (the reference) and by the AI role in the shop's row-level-security context.

A question's reference SQL reads the marts only and names its shop as `{{ shop }}`:

- the analyst run (`set local role hotdash_analyst`, every shop visible) binds `{{ shop }}` to
  the shop as a query parameter, so the SQL is that shop's answer;
- the AI run (`set local role hotdash_ai_readonly`, the session's shop setting set to the shop,
  as runner/exports.py shop_context does) replaces `{{ shop }}` with
  `(select marts.hotdash_session_shop())`, the function the marts' shop policy reads: the SQL
  never names the shop, so it answers for whatever shop the session is bound to. That is the
  SQL the export writes, runnable as it is by an AI login bound to its shop.

A question that needs no PII passes when the AI's answer equals the analyst's (same columns,
same rows, same values to the last decimal digit; same order when the SQL has an ORDER BY). A
question with `pii: true` passes when the AI is refused (permission denied). Besides the
questions, one query per table of the marts schema checks, as the AI in the shop's context,
that no row of another shop is visible and that no PII column (var pii_columns) is readable.

Each query runs in a read-only transaction of its own, with a statement timeout; the connected
user must be able to SET ROLE to both roles (a superuser, or a member of them: `hotdash db up`'s
user). With a connection of a real AI login (HOTDASH_EVAL_AI_URL), the AI's side runs there as
it is, for the one shop the login is bound to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from runner.db import PROJECT_DIR
from runner.errors import ConfigError, ExportError
from runner.exports import write_atomic
from runner.settings import SecurityModel, yaml_load

QUESTIONS_FILE = PROJECT_DIR / "evals" / "questions.yml"
SHOP_PLACEHOLDER = re.compile(r"\{\{\s*shop\s*\}\}")
ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
MART_NAME = re.compile(r"\b(\w+)\s*\.\s*(\w+)\b")
STATEMENT_TIMEOUT = "60s"


@dataclasses.dataclass(frozen=True)
class Question:
    """One operator question of evals/questions.yml."""

    id: str
    question: str
    sql: str  # with {{ shop }}
    pii: bool = False
    columns: tuple[str, ...] | None = None  # the expected shape, when given

    def analyst_sql(self) -> str:
        """The SQL with the shop as the query parameter %(shop)s."""
        return SHOP_PLACEHOLDER.sub("%(shop)s", self.sql.replace("%", "%%"))

    def ai_sql(self, model: SecurityModel) -> str:
        """The SQL with the session's shop (the marts' policy function) in place of the shop."""
        function = ".".join(
            name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else sql.Identifier(name).as_string()
            for name in (model.marts_schema, model.session_shop_function)
        )
        return SHOP_PLACEHOLDER.sub(f"(select {function}())", self.sql).strip()


@dataclasses.dataclass
class Result:
    """One question for one shop: ok, or failed with why."""

    shop: str
    question: Question
    ok: bool
    why: str = ""
    columns: list[str] = dataclasses.field(default_factory=list)
    answer: list[list[Any]] | None = None  # the analyst's (the reference), JSON values
    ai_refused: bool = False


@dataclasses.dataclass
class Leak:
    """One mart table for one shop: what the AI in the shop's context can see beyond it."""

    shop: str
    table: str
    ok: bool
    why: str = ""


@dataclasses.dataclass
class EvalReport:
    shops: list[str]
    results: list[Result]
    leaks: list[Leak]

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def leaked(self) -> list[Leak]:
        return [leak for leak in self.leaks if not leak.ok]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.leaked

    def summary(self) -> str:
        questions = len({r.question.id for r in self.results})
        return (
            f"eval: {len(self.results) - len(self.failed)} ok, {len(self.failed)} failed"
            f" ({questions} questions x {len(self.shops)} shop(s));"
            f" mart checks: {len(self.leaks) - len(self.leaked)} ok,"
            f" {len(self.leaked)} failed"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "shops": self.shops,
            "summary": self.summary(),
            "questions": [result_json(r) for r in self.results],
            "mart_checks": [dataclasses.asdict(leak) for leak in self.leaks],
        }


def result_json(r: Result, sql_text: str | None = None) -> dict[str, Any]:
    """A result as a JSON object: also the line the JSONL export writes."""
    return {
        "shop": r.shop,
        "id": r.question.id,
        "question": r.question.question,
        "sql": sql_text if sql_text is not None else r.question.sql.strip(),
        "pii": r.question.pii,
        "columns": r.columns,
        "answer": None if r.question.pii else r.answer,
        "refused": r.question.pii,
        "ok": r.ok,
        "why": r.why,
    }


# --- the questions file -------------------------------------------------------------------------


def load_questions(path: Path | None = None) -> list[Question]:
    """The questions of `path` (default evals/questions.yml), checked: ConfigError naming the
    question and what is wrong with it."""
    path = Path(path or QUESTIONS_FILE)
    try:
        doc = yaml_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except Exception as exc:  # yaml's errors
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    items = doc.get("questions") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path} has no list `questions`", hint="README 'AI answer check'")
    questions: list[Question] = []
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        where = f"{path.name} question {n}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} is not a mapping")
        qid = item.get("id")
        if not isinstance(qid, str) or not re.fullmatch(r"[a-z0-9_]+", qid):
            raise ConfigError(f"{where}: id must be lower-case letters, digits and _: {qid!r}")
        where = f"{path.name} question {qid}"
        if qid in seen:
            raise ConfigError(f"{where}: the id is used twice")
        seen.add(qid)
        unknown = set(item) - {"id", "question", "sql", "pii", "columns"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        text, query, pii = item.get("question"), item.get("sql"), item.get("pii", False)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: no question text")
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"{where}: no sql")
        if not SHOP_PLACEHOLDER.search(query):
            raise ConfigError(
                f"{where}: the sql never names its shop as {{{{ shop }}}}",
                hint="the analyst reads every shop: filter on shop_domain = {{ shop }}",
            )
        if ";" in query.strip().rstrip(";"):
            raise ConfigError(f"{where}: one statement only")
        if not isinstance(pii, bool):
            raise ConfigError(f"{where}: pii must be true or false")
        columns = item.get("columns")
        if columns is not None and (
            not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
        ):
            raise ConfigError(f"{where}: columns must be a list of column names")
        questions.append(
            Question(
                id=qid,
                question=text.strip(),
                sql=query.strip().rstrip(";").strip(),
                pii=pii,
                columns=tuple(columns) if columns is not None else None,
            )
        )
    return questions


# --- running ------------------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A database value as JSON, exactly: decimals as their text (scale kept), times ISO."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta | uuid.UUID | bytes):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def _may_take(conn: psycopg.Connection, role: str) -> bool:
    """Whether the connected user may SET ROLE to `role` (tried, and rolled back)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.InvalidParameterValue):
        return False
    return True


def _as(conn: psycopg.Connection, role: str | None, model: SecurityModel, shop: str | None) -> None:
    """Start the context of one reading, inside the caller's transaction (role None: the
    connected login as it is, e.g. an AI login bound to its shop)."""
    conn.execute("set transaction read only")
    conn.execute("select set_config('statement_timeout', %s, true)", (STATEMENT_TIMEOUT,))
    conn.execute("select set_config(%s, %s, true)", (model.shop_setting, shop or ""))
    if role is not None:
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))


def _run(
    conn: psycopg.Connection,
    role: str | None,
    model: SecurityModel,
    shop: str | None,
    query: str,
    params: dict[str, Any] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """Run one query as `role` in `shop`'s context; rolled back whatever happens."""
    tx = conn.transaction(force_rollback=True)
    with tx:
        _as(conn, role, model, shop)
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        columns = [d.name for d in cur.description or ()]
        rows = [[json_value(v) for v in row] for row in cur.fetchall()]
    return columns, rows


def _first_line(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag else None
    return primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _unreadable(
    conn: psycopg.Connection, role: str, query: str, model: SecurityModel, pii: frozenset[str]
) -> list[str]:
    """The non-PII columns of the marts `query` names (schema.table) that `role` cannot read and
    the query mentions: why it was refused (PostgreSQL names the table, not the column)."""
    names = {table for schema, table in MART_NAME.findall(query) if schema == model.marts_schema}
    if not names:
        return []
    words = set(re.findall(r"\w+", query.lower()))
    rows = conn.execute(
        "select c.relname, a.attname, has_column_privilege(%s, c.oid, a.attnum, 'SELECT')"
        " from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relname = any(%s) and a.attnum > 0 and not a.attisdropped"
        " order by c.relname, a.attnum",
        (role, model.marts_schema, sorted(names)),
    ).fetchall()
    return [
        f"{model.marts_schema}.{table}.{column}"
        for table, column, can in rows
        if not can and column.lower() not in pii and column.lower() in words
    ]


def _same(ordered: bool, a: list[list[Any]], b: list[list[Any]]) -> bool:
    if ordered:
        return a == b
    key = lambda row: json.dumps(row, sort_keys=True, default=str)  # noqa: E731
    return sorted(a, key=key) == sorted(b, key=key)


def _difference(a: list[list[Any]], b: list[list[Any]]) -> str:
    if len(a) != len(b):
        return f"{len(b)} row(s) instead of {len(a)}"
    for n, (x, y) in enumerate(zip(a, b, strict=True), 1):
        if x != y:
            return (
                f"row {n} is {json.dumps(y, default=str)} instead of {json.dumps(x, default=str)}"
            )
    return "rows in another order"


def ask(
    conn: psycopg.Connection,
    q: Question,
    shop: str,
    model: SecurityModel,
    pii_columns: frozenset[str],
    ai_conn: psycopg.Connection | None = None,
) -> Result:
    """Answer `q` for `shop` as the analyst and as the AI (SET ROLE on `conn`, or `ai_conn`: a
    login of the AI role bound to the shop); compare."""
    roles = model.roles
    ai_reader, ai_role = (ai_conn, None) if ai_conn is not None else (conn, roles.ai)
    result = Result(shop=shop, question=q, ok=False)
    try:
        columns, reference = _run(conn, roles.analyst, model, None, q.analyst_sql(), {"shop": shop})
    except psycopg.Error as exc:
        result.why = f"the reference SQL failed as {roles.analyst}: {_first_line(exc)}"
        return result
    result.columns, result.answer = columns, reference
    if q.columns is not None and tuple(columns) != q.columns:
        result.why = (
            f"the reference SQL returns ({', '.join(columns)}), expected ({', '.join(q.columns)})"
        )
        return result
    try:
        ai_columns, ai_rows = _run(ai_reader, ai_role, model, shop, q.ai_sql(model))
    except psycopg.errors.InsufficientPrivilege as exc:
        result.ai_refused = True
        if q.pii:
            result.ok = True
            result.why = f"refused: {_first_line(exc)}"
            return result
        named = _unreadable(conn, roles.ai, q.sql, model, pii_columns)
        result.why = f"{roles.ai} cannot answer: {_first_line(exc)}" + (
            f" (cannot read {', '.join(named)})" if named else ""
        )
        return result
    except psycopg.Error as exc:
        result.why = f"{roles.ai} failed: {_first_line(exc)}"
        return result
    if q.pii:
        result.why = f"{roles.ai} answered a question that needs PII ({len(ai_rows)} row(s))"
        return result
    if ai_columns != columns:
        result.why = f"{roles.ai} got columns ({', '.join(ai_columns)}), not ({', '.join(columns)})"
        return result
    if not _same(bool(ORDER_BY.search(q.sql)), reference, ai_rows):
        result.why = f"{roles.ai} got a different answer: {_difference(reference, ai_rows)}"
        return result
    result.ok = True
    return result


def mart_tables(conn: psycopg.Connection, model: SecurityModel) -> list[str]:
    """The tables (and views) of the marts schema that have the shop column."""
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p', 'v')"
        " and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = %s"
        "   and a.attnum > 0 and not a.attisdropped)"
        " order by c.relname",
        (model.marts_schema, model.shop_column),
    ).fetchall()
    return [name for (name,) in rows]


def check_mart(
    conn: psycopg.Connection,
    table: str,
    shop: str,
    model: SecurityModel,
    pii_columns: frozenset[str],
    ai_conn: psycopg.Connection | None = None,
) -> Leak:
    """As the AI in `shop`'s context: no row of another shop in `table`, no PII column readable."""
    ai = model.roles.ai
    ai_reader, ai_role = (ai_conn, None) if ai_conn is not None else (conn, ai)
    leak = Leak(shop=shop, table=f"{model.marts_schema}.{table}", ok=False)
    relation = sql.Identifier(model.marts_schema, table)
    query = sql.SQL("select count(*) from {} where {} is distinct from %(shop)s").format(
        relation, sql.Identifier(model.shop_column)
    )
    problems = []
    try:
        _, rows = _run(ai_reader, ai_role, model, shop, query.as_string(conn), {"shop": shop})
        if rows[0][0]:
            problems.append(f"{ai} in {shop}'s context sees {rows[0][0]} row(s) of other shops")
    except psycopg.Error as exc:
        problems.append(f"{ai} cannot read it: {_first_line(exc)}")
    pii = conn.execute(
        "select a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped"
        " and lower(a.attname) = any(%s) order by a.attnum",
        (model.marts_schema, table, sorted(pii_columns)),
    ).fetchall()
    for (column,) in pii:
        select = sql.SQL("select {} from {} limit 1").format(sql.Identifier(column), relation)
        try:
            _run(ai_reader, ai_role, model, shop, select.as_string(conn))
        except psycopg.errors.InsufficientPrivilege:
            continue
        except psycopg.Error as exc:
            problems.append(f"reading PII column {column} failed otherwise: {_first_line(exc)}")
            continue
        problems.append(f"{ai} can read PII column {leak.table}.{column}")
    leak.ok = not problems
    leak.why = "; ".join(problems)
    return leak


def check_session_shop(
    conn: psycopg.Connection,
    shop: str,
    model: SecurityModel,
    ai_conn: psycopg.Connection | None = None,
) -> Leak:
    """In the AI's context of `shop`, the marts' policy function must return that shop (it
    returns none to a session user that is a non-superuser member of the AI role: the AI
    answers would all be empty)."""
    function = sql.Identifier(model.marts_schema, model.session_shop_function)
    leak = Leak(shop=shop, table=f"{model.marts_schema}.{model.session_shop_function}()", ok=False)
    try:
        _, rows = _run(
            *((ai_conn, None) if ai_conn is not None else (conn, model.roles.ai)),
            model,
            shop,
            sql.SQL("select {}()").format(function).as_string(),
        )
    except psycopg.Error as exc:
        leak.why = f"{model.roles.ai} cannot call it: {_first_line(exc)}"
        return leak
    if rows[0][0] != shop:
        leak.why = (
            f"in {model.roles.ai}'s context of {shop} the session's shop is {rows[0][0]!r}"
            " (or a login of that role runs `hotdash eval`: its unbound sessions read no shop)"
        )
        return leak
    leak.ok = True
    return leak


def shops_in_marts(
    conn: psycopg.Connection, model: SecurityModel, tables: Sequence[str]
) -> list[str]:
    """Every shop with a row in a mart, as the analyst reads them."""
    if not tables:
        return []
    union = sql.SQL(" union ").join(
        sql.SQL("select {} from {}").format(
            sql.Identifier(model.shop_column), sql.Identifier(model.marts_schema, t)
        )
        for t in tables
    )
    _, rows = _run(
        conn,
        model.roles.analyst,
        model,
        None,
        sql.SQL("{} order by 1").format(union).as_string(conn),
    )
    return [row[0] for row in rows if row[0] is not None]


def run_eval(
    conn: psycopg.Connection,
    questions: Sequence[Question],
    model: SecurityModel,
    pii_columns: frozenset[str],
    shop: str | None = None,
    ai_conn: psycopg.Connection | None = None,
) -> EvalReport:
    """Ask every question for `shop` (default: every shop with a row in a mart) and check every
    mart table. `conn` takes the analyst's role, and the AI's unless `ai_conn` is given: a
    connection of a real AI login, bound to its shop (the only shop then asked). The
    connections are switched to autocommit (what they hold open is committed)."""
    roles = (model.roles.analyst,) if ai_conn is not None else (model.roles.analyst, model.roles.ai)
    not_marts = (*model.analyst_only_schemas, *model.private_schemas)
    for q in questions:
        schemas = sorted({s for s, _ in MART_NAME.findall(q.sql) if s.lower() in not_marts})
        if schemas:
            raise ConfigError(
                f"question {q.id} reads {', '.join(schemas)}: the questions read the marts only",
                hint=f"the AI reads schema {model.marts_schema} only (README 'Security')",
            )
    for c in (conn, ai_conn):
        if c is not None and not c.autocommit:  # each reading is a transaction of its own
            c.commit()
            c.autocommit = True
    for role in roles:
        if not _may_take(conn, role):
            raise ConfigError(
                f"the connected user {conn.info.user} cannot take the role {role}",
                hint=f"run `hotdash eval` as a user who may SET ROLE to {' and '.join(roles)}"
                " (a superuser, or a member of them)",
            )
    tables = mart_tables(conn, model)
    if not tables:
        raise ExportError(
            f"schema {model.marts_schema} has no mart tables in this database",
            hint="`hotdash build` builds the marts",
        )
    if ai_conn is not None:
        bound = _login_shop(ai_conn, model)
        if shop and shop != bound:
            raise ConfigError(
                f"the AI login {ai_conn.info.user} is bound to {bound}, not {shop}",
                hint="leave out --shop, or use that shop's AI login",
            )
        shops = [bound]
    else:
        shops = [shop] if shop else shops_in_marts(conn, model, tables)
    if not shops:
        raise ExportError("no shop has a row in the marts", hint="`hotdash build` builds them")
    pii = frozenset(c.lower() for c in pii_columns)
    results = [ask(conn, q, s, model, pii, ai_conn) for s in shops for q in questions]
    leaks = [check_session_shop(conn, s, model, ai_conn) for s in shops]
    leaks += [check_mart(conn, t, s, model, pii, ai_conn) for s in shops for t in tables]
    return EvalReport(shops=shops, results=results, leaks=leaks)


def _login_shop(ai_conn: psycopg.Connection, model: SecurityModel) -> str:
    """The shop an AI login is bound to; ConfigError when it is not one of the AI role's, or
    reads no shop."""
    user = ai_conn.info.user
    member = ai_conn.execute(
        "select pg_has_role(session_user, %s, 'member'), (select rolsuper from pg_roles"
        " where rolname = session_user)",
        (model.roles.ai,),
    ).fetchone()
    if not member or not member[0] or member[1]:
        raise ConfigError(
            f"{user} is not a login of {model.roles.ai}"
            + (" (a superuser)" if member and member[1] else ""),
            hint="HOTDASH_EVAL_AI_URL is the connection string `hotdash grants login ai` printed",
        )
    function = sql.Identifier(model.marts_schema, model.session_shop_function)
    row = ai_conn.execute(sql.SQL("select {}()").format(function)).fetchone()
    if not row or not row[0]:
        raise ConfigError(
            f"the AI login {user} is bound to no shop (or to two): it reads nothing",
            hint="`hotdash grants --verify` names the drift; `hotdash grants login ai --shop S`",
        )
    return str(row[0])


def write_jsonl(report: EvalReport, out: Path, model: SecurityModel) -> int:
    """One line per question and shop: shop, id, question, the SQL as the AI runs it (no shop
    in it: the session's), pii, columns, the reference answer (null for a PII question: the
    AI must be refused), ok and why. Written atomically. Returns the number of lines."""
    lines = [
        json.dumps(result_json(r, r.question.ai_sql(model)), ensure_ascii=False)
        for r in report.results
    ]
    write_atomic(Path(out), lambda handle: handle.write("".join(line + "\n" for line in lines)))
    return len(lines)
