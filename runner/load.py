"""Loading facts from files: Shopify JSONL, JSON arrays, webhook dumps and REST wrappers.

A file loads in one transaction: every fact in it lands, or none does. JSONL streams line by line;
a JSON document (array or object) is read whole. Each JSON object is one of:

- a webhook envelope `{"topic": "orders/create", "shop_domain": "...", "payload": {...}}`
  (optional "created_at": when the app received it); the topic is normalized (below);
- a Shopify REST wrapper `{"orders": [...]}` or `{"order": {...}}`: the topic comes from the key;
- a bare resource `{"id": ..., ...}`: the topic comes from a Shopify gid in "id"
  (bulk-operation exports: `gid://shopify/Order/1` -> shopify.orders) or else from --topic.

Topics are normalized: `orders/create`, `orders` and `shopify.orders` all mean `shopify.orders`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg

from runner.errors import LoadError
from runner.facts import FactRow, copy_facts, ensure_facts_table

SHOP_ENV = "HOTDASH_SHOP_DOMAIN"
PROGRESS_EVERY = 1_000
SNIPPET_CHARS = 80

_GID = re.compile(r"^gid://shopify/([A-Za-z]+)/")
_KEY = re.compile(r"^[a-z][a-z_]*$")
_COPY_LINE = re.compile(r"COPY facts, line (\d+)")


@dataclass(frozen=True)
class LoadProgress:
    facts: int
    bytes_read: int
    total_bytes: int | None
    done: bool = False  # the last report of a file


@dataclass
class LoadResult:
    path: Path
    format: str  # jsonl or json
    facts: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def default_shop() -> str | None:
    """The shop of facts that do not name one: HOTDASH_SHOP_DOMAIN, if set."""
    return os.environ.get(SHOP_ENV) or None


def normalize_topic(topic: str) -> str:
    """`orders/create`, `orders` and `shopify.orders` -> `shopify.orders`; dotted names stay."""
    topic = topic.strip()
    if "/" in topic:
        topic = topic.split("/", 1)[0]
    if "." in topic:
        return topic
    return f"shopify.{topic.lower()}"


def _plural(name: str) -> str:
    return name if name.endswith("s") else f"{name}s"


def topic_from_gid(value: object) -> str | None:
    """`gid://shopify/InventoryItem/1` -> `shopify.inventory_items`; None for other ids."""
    if not isinstance(value, str):
        return None
    match = _GID.match(value)
    if not match:
        return None
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", match.group(1)).lower()
    return f"shopify.{_plural(snake)}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # Python's parser recurses per level of nesting
        raise ValueError("nested more deeply than the loader reads") from None


# A \u0000 escape, which jsonb refuses; not a backslash-escaped "\\u0000", which is text.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _snippet(text: str, column: int | None = None) -> str:
    text = text.strip()
    if len(text) <= SNIPPET_CHARS:
        return text
    start = 0 if not column or column < SNIPPET_CHARS // 2 else column - SNIPPET_CHARS // 2
    piece = text[start : start + SNIPPET_CHARS]
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(text) else "")


def _kind(obj: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(obj), "a number"
    )


class _Records:
    """Turns JSON objects into fact rows, with the options that fill in what an object lacks."""

    def __init__(self, name: str, topic: str | None, shop: str | None) -> None:
        self.name = name
        self.topic = normalize_topic(topic) if topic else None
        self.shop = shop

    def error(self, where: str, problem: str, hint: str | None = None) -> LoadError:
        return LoadError(
            f"{self.name} {where}: {problem}; nothing was loaded",
            hint=hint or "fix that object (or remove it) and load the file again",
        )

    def _shop(self, where: str, value: object = None) -> str:
        shop = value if isinstance(value, str) and value.strip() else self.shop
        if not shop:
            raise self.error(
                where,
                "no shop: the object names none and no --shop was given",
                hint=f"pass --shop your-store.myshopify.com or set {SHOP_ENV}",
            )
        return shop.strip()

    def rows(self, obj: object, where: str, raw: str | None = None) -> Iterator[FactRow]:
        """The facts of one JSON object: an envelope, a REST wrapper or a bare resource."""
        if not isinstance(obj, dict):
            raise self.error(where, f"is {_kind(obj)}, not a JSON object")
        if "topic" in obj and "payload" in obj:
            yield self._envelope(obj, where)
            return
        if len(obj) == 1:
            key, value = next(iter(obj.items()))
            if _KEY.match(key) and isinstance(value, dict | list):
                yield from self._wrapper(key, value, where)
                return
        topic = topic_from_gid(obj.get("id")) or self.topic
        if topic is None:
            raise self.error(
                where,
                "cannot tell the topic of a bare resource",
                hint="pass --topic (e.g. --topic shopify.orders), or load webhook envelopes",
            )
        yield (self._shop(where), topic, raw if raw is not None else _dumps(obj), None)

    def _envelope(self, obj: dict, where: str) -> FactRow:
        topic, payload = obj["topic"], obj["payload"]
        if not isinstance(topic, str) or not topic.strip():
            raise self.error(where, "the envelope's topic is not a non-empty string")
        if not isinstance(payload, dict):
            raise self.error(where, f"the envelope's payload is {_kind(payload)}, not an object")
        created_at = None
        if obj.get("created_at") is not None:
            try:
                created_at = dt.datetime.fromisoformat(str(obj["created_at"]))
            except ValueError:
                raise self.error(
                    where, f"created_at {obj['created_at']!r} is not an ISO 8601 timestamp"
                ) from None
            if created_at.tzinfo is None:
                created_at = created_at.replace(tzinfo=dt.UTC)
        shop = self._shop(where, obj.get("shop_domain") or obj.get("shop"))
        return (shop, normalize_topic(topic), _dumps(payload), created_at)

    def _wrapper(self, key: str, value: dict | list, where: str) -> Iterator[FactRow]:
        topic = normalize_topic(_plural(key))
        items = value if isinstance(value, list) else [value]
        shop = self._shop(where)
        for index, item in enumerate(items, 1):
            if not isinstance(item, dict):
                raise self.error(where, f"item {index} of {key!r} is {_kind(item)}, not an object")
            yield (shop, topic, _dumps(item), None)


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(stream to read, underlying file for progress); .gz files are decompressed on the fly."""
    raw = path.open("rb")
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw), raw
    return raw, raw


def _first_char(path: Path) -> str:
    """The first character that is not blank (or a byte order mark); '' for an empty file."""
    stream, raw = _open(path)
    with raw, stream:
        while chunk := stream.read(65536):
            text = chunk.decode("utf-8", errors="replace").lstrip(" \t\r\n\ufeff")
            if text:
                return text[0]
    return ""


def detect_format(path: Path) -> str:
    """`jsonl` when the first non-blank line is a JSON object on its own, else `json`."""
    first = _first_char(path)
    if first != "{":
        return "json" if first == "[" else "jsonl"
    stream, raw = _open(path)
    with raw, stream:
        for line in stream:
            text = line.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
            if not text:
                continue
            if not text.startswith("{"):
                return "json" if text.startswith("[") else "jsonl"
            try:
                _loads(text)
            except json.JSONDecodeError as exc:
                # An object left open at the end of the line continues below: one document.
                return "json" if exc.pos >= len(text) else "jsonl"
            except ValueError:
                return "jsonl"
            return "jsonl"
    return "jsonl"


class _Source:
    """Iterates fact rows of a file and remembers where each came from (for database errors)."""

    def __init__(
        self,
        path: Path,
        records: _Records,
        fmt: str,
        result: LoadResult,
        progress: Callable[[LoadProgress], None] | None,
    ) -> None:
        self.path = path
        self.records = records
        self.fmt = fmt
        self.result = result
        self.progress = progress
        self.origins = array("q")  # line number (jsonl) or array element (json) of each row
        self.total_bytes = path.stat().st_size

    def where(self, origin: int) -> str:
        if self.fmt == "jsonl":
            return f"line {origin}"
        return f"element {origin}" if origin else "the document"

    def _emit(self, row: FactRow, origin: int, position: Callable[[], int]) -> FactRow:
        self.origins.append(origin)
        self.result.facts += 1
        self.result.by_topic[row[1]] = self.result.by_topic.get(row[1], 0) + 1
        if self.progress is not None and self.result.facts % PROGRESS_EVERY == 0:
            self.progress(LoadProgress(self.result.facts, position(), self.total_bytes))
        return row

    def __iter__(self) -> Iterator[FactRow]:
        stream, raw = _open(self.path)
        with raw, stream:
            rows = self._jsonl(stream, raw) if self.fmt == "jsonl" else self._document(stream)
            yield from rows
            if self.progress is not None:
                position = raw.tell()
                self.progress(LoadProgress(self.result.facts, position, self.total_bytes, True))

    def _jsonl(self, stream: IO[bytes], raw: IO[bytes]) -> Iterator[FactRow]:
        for lineno, line in enumerate(stream, 1):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.records.error(
                    f"line {lineno}", f"is not UTF-8 text (byte {exc.start + 1} of the line)"
                ) from None
            if lineno == 1:
                text = text.lstrip("\ufeff")
            text = text.strip()
            if not text:
                continue
            obj = self._parse(text, f"line {lineno}")
            for row in self.records.rows(obj, f"line {lineno}", raw=text):
                yield self._emit(row, lineno, raw.tell)

    def _parse(self, text: str, where: str) -> Any:
        if _NUL_ESCAPE.search(text):
            raise self.records.error(
                where, "contains \\u0000, which PostgreSQL's jsonb cannot store: " + _snippet(text)
            )
        try:
            return _loads(text)
        except json.JSONDecodeError as exc:
            raise self.records.error(
                where,
                f"not JSON ({exc.msg} at column {exc.colno}): {_snippet(text, exc.colno)}",
            ) from None
        except ValueError as exc:
            raise self.records.error(where, f"not JSON ({exc}): {_snippet(text)}") from None

    def _document(self, stream: IO[bytes]) -> Iterator[FactRow]:
        data = stream.read()
        try:
            text = data.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            raise self.records.error(f"byte {exc.start + 1}", "is not UTF-8 text") from None
        try:
            doc = _loads(text)
        except json.JSONDecodeError as exc:
            line = text.splitlines()[exc.lineno - 1] if text.splitlines() else ""
            raise self.records.error(
                f"line {exc.lineno}",
                f"not JSON ({exc.msg} at column {exc.colno}): {_snippet(line, exc.colno)}",
            ) from None
        except ValueError as exc:
            raise self.records.error("the document", f"not JSON ({exc})") from None
        if _NUL_ESCAPE.search(text):
            raise self.records.error(
                "the document", "contains \\u0000, which PostgreSQL's jsonb cannot store"
            )
        size = len(data)
        if isinstance(doc, list):
            for index, obj in enumerate(doc, 1):
                for row in self.records.rows(obj, f"element {index}"):
                    yield self._emit(row, index, lambda: size)
        else:
            for row in self.records.rows(doc, "the document"):
                yield self._emit(row, 0, lambda: size)


def load_file(
    conn: psycopg.Connection,
    path: Path,
    topic: str | None = None,
    shop: str | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
    schema: str = "public",
) -> LoadResult:
    """Load one file of facts in one transaction into the facts table of `schema`
    (settings.of(target).facts_schema); raises LoadError naming the bad line."""
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path} is not a file", hint="check the path")
    start = time.monotonic()
    fmt = detect_format(path)
    result = LoadResult(path=path, format=fmt)
    records = _Records(path.name, topic, shop if shop else default_shop())
    source = _Source(path, records, fmt, result, progress)
    ensure_facts_table(conn, schema)
    try:
        with conn.transaction():
            copy_facts(conn, source, schema=schema)
    except psycopg.Error as exc:
        raise _database_error(exc, source, records) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate escape (\ud800) in a string
        origin = source.origins[-1] if source.origins else 0
        problem = f"has text PostgreSQL cannot store ({exc.reason})"
        raise records.error(source.where(origin), problem) from None
    result.seconds = time.monotonic() - start
    return result


def _database_error(exc: psycopg.Error, source: _Source, records: _Records) -> LoadError:
    """Name the line the database refused, from COPY's row number in the error context."""
    diag = exc.diag
    primary = diag.message_primary or str(exc).strip().splitlines()[0]
    match = _COPY_LINE.search(diag.context or "")
    if match and 0 < int(match.group(1)) <= len(source.origins):
        origin = source.origins[int(match.group(1)) - 1]
        return records.error(source.where(origin), f"the database refused it: {primary}")
    return LoadError(
        f"the database refused {source.path.name}: {primary}; nothing was loaded",
        hint="`hotdash doctor` checks the database",
    )
