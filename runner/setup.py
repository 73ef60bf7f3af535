"""The tables a build needs before anything runs, as macros/setup/ddl.sql defines them.

dbt runs those macros at on-run-start (plain `dbt build` stands alone); the runner reads the
same bodies here, so there is one definition of the facts table and the ops record.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import psycopg

DDL_FILE = Path(__file__).resolve().parent.parent / "macros" / "setup" / "ddl.sql"


@functools.cache
def ddl(macro: str) -> str:
    """The body of one DDL macro: plain SQL (a body with Jinja in it is refused)."""
    text = DDL_FILE.read_text()
    pattern = r"\{%-?\s*macro\s+" + re.escape(macro) + r"\(\)\s*-?%\}(.*?)\{%-?\s*endmacro\s*-?%\}"
    match = re.search(pattern, text, re.S)
    if match is None:
        raise LookupError(f"{DDL_FILE}: no macro {macro}()")
    body = match.group(1)
    if "{{" in body or "{%" in body:
        raise ValueError(f"{DDL_FILE}: macro {macro}() must be plain SQL")
    return body.strip() + "\n"


def facts_ddl(schema: str = "public") -> str:
    """The facts table's DDL, in the schema the dbt var facts_schema names."""
    body = ddl("hotdash_facts_ddl")
    if schema == "public":
        return body
    quoted = '"' + schema.replace('"', '""') + '"'
    return f"create schema if not exists {quoted};\n" + body.replace(
        "public.facts", f"{quoted}.facts"
    )


def apply_ddl(conn: psycopg.Connection, *macros: str) -> None:
    """Run DDL macros of macros/setup/ddl.sql in one transaction, serialized with every other
    session that does (as dbt's on-run-start is), so two builds cannot race."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('hotdash.ops_ddl'))")
        for macro in macros:
            conn.execute(ddl(macro))
