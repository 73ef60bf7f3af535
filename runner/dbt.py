"""dbt invocation: in-process through dbtRunner, with per-node results the runner can report."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import marshal
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner import heap
from runner.db import Target
from runner.errors import BuildError

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
"""Colour codes dbt puts in some messages (unit test diffs); stripped for logs and ops tables."""


@dataclass(frozen=True)
class NodeResult:
    """One node of a dbt invocation: a model, seed, test, snapshot or operation."""

    unique_id: str
    name: str
    resource_type: str
    status: str
    seconds: float
    rows_affected: int | None
    message: str
    failures: int | None = None


@dataclass
class DbtRun:
    """The outcome of one dbt command."""

    command: list[str]
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    exception: str | None = None
    # `dbt parse` returns the project it parsed: later commands of the same build reuse it
    # instead of loading and checking the project again (invoke(manifest=...)).
    manifest: object | None = field(default=None, repr=False)

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]


def dbt_args(target: Target, args: Sequence[str]) -> list[str]:
    """Full argument list: the project, the profile folder and the target the runner resolved."""
    return [
        *args,
        "--project-dir",
        str(target.project_dir),
        "--profiles-dir",
        str(target.profiles_dir),
        "--target",
        target.target_name,
    ]


def target_dir(target: Target) -> Path:
    """Where dbt writes its artifacts: DBT_TARGET_PATH when set (relative to the project), else
    the project's target/."""
    env = os.environ.get("DBT_TARGET_PATH")
    return target.project_dir / env if env else target.project_dir / "target"


# dbt keeps one partial parse file per target folder (partial_parse.msgpack), for the profile,
# database and --vars it last parsed with: a parse for another one reads the project whole
# (4.1 s for this project against 1.4 s). The runner keeps a copy per database and vars beside
# it, the most recent PARSES_KEPT of them, and puts the right one back before dbt reads it.
PARSE_FILE = "partial_parse.msgpack"
PARSES_FOLDER = "partial_parse_by_database"
PARSES_KEPT = 8


def _parse_key(target: Target, args: Sequence[str]) -> str:
    """What a partial parse is for: the profile folder, target, connection (without password)
    and --vars (the command's, else the target's). dbt checks the file it reads itself; a key
    that met another profile's file would only cost a whole parse."""
    vars = target.vars or ""
    for flag, value in itertools.pairwise(args):
        if flag == "--vars":
            vars = value
    parts = (str(target.profiles_dir), target.target_name, target.redacted(), vars)
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:20]


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _replace_whole(dest: Path, fill: Callable[[Path], object]) -> None:
    """`dest` replaced whole by the file `fill` writes beside it (os.replace: a reader gets the
    old file or the new one); a write that fails leaves nothing behind and raises."""
    partial = dest.with_name(f".{dest.name}.{os.getpid()}")
    try:
        fill(partial)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _copy(source: Path, dest: Path) -> None:
    """`source` to `dest`, modification time included, replacing `dest` whole."""
    _replace_whole(dest, lambda partial: shutil.copy2(source, partial))


@contextlib.contextmanager
def partial_parse_kept(target: Target, args: Sequence[str] = ()) -> Iterator[None]:
    """Within the block, dbt reads the partial parse file of `target`'s database and vars (the
    command's `args`), and the one it writes is kept for the next parse for them (PARSES_FOLDER
    in the target folder).

    A kept copy has the size and modification time of the file it was copied from, so the file
    dbt would read is the right one when the two match and is put back otherwise. Copies and
    replacements are whole (os.replace): a parse that reads a file another process is replacing
    reads one file or the other, and dbt parses whole when it is for another profile."""
    folder = target_dir(target)
    current = folder / PARSE_FILE
    kept = folder / PARSES_FOLDER / f"{_parse_key(target, args)}.msgpack"
    with contextlib.suppress(OSError):
        if kept.exists() and _stamp(kept) != _stamp(current):
            _copy(kept, current)
    before = _stamp(current)
    try:
        yield
    finally:
        after = _stamp(current)
        if after is not None and after != before:  # dbt parsed and wrote it
            with contextlib.suppress(OSError):
                kept.parent.mkdir(parents=True, exist_ok=True)
                _copy(current, kept)
                _prune(kept.parent, PARSES_KEPT)


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the `keep` most recently written partial parse files of `folder`."""
    files = sorted(folder.glob("*.msgpack"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for stale in files[keep:]:
        with contextlib.suppress(OSError):
            stale.unlink()


def _node_result(result) -> NodeResult:  # result: dbt RunResult
    node = result.node
    adapter = getattr(result, "adapter_response", None) or {}
    rows = adapter.get("rows_affected") if isinstance(adapter, dict) else None
    status = str(getattr(result.status, "value", result.status))
    resource_type = str(getattr(node.resource_type, "value", node.resource_type))
    if resource_type == "test":
        rows = None  # a test's "rows" is its count query's single row; failures say more
    return NodeResult(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=resource_type,
        status=status,
        seconds=float(result.execution_time or 0.0),
        rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
        message=ANSI_ESCAPE.sub("", str(result.message or "")),
        failures=result.failures,
    )


# What a node is expected to take when no earlier build ran it, in seconds: a model, seed or
# snapshot writes a table; a test reads one.
DEFAULT_NODE_SECONDS = 1.0
DEFAULT_TEST_SECONDS = 0.05


def node_cost(unique_id: str, seconds: Mapping[str, float]) -> float:
    """What `unique_id` is expected to take: its time in `seconds` (an earlier build's), else a
    default by resource type."""
    if unique_id in seconds:
        return max(0.0, float(seconds[unique_id]))
    kind = unique_id.split(".", 1)[0]
    return DEFAULT_TEST_SECONDS if kind in ("test", "unit_test") else DEFAULT_NODE_SECONDS


def path_scores(graph, seconds: Mapping[str, float]) -> dict[str, int]:
    """Each node's priority, lowest first: minus the longest chain of expected seconds from the
    node to the end of the build (itself included), in milliseconds.

    A node ready to run whose descendants take longest starts first, so the build's critical
    path (at 1M facts: stg_shopify__orders, its line items, the order and customer tables,
    customer_segments and its snapshot) does not wait behind small models that happen to sort
    before it. Ties keep dbt's order (by unique id). `graph` is dbt's networkx DiGraph.
    """
    import networkx as nx  # dbt-core's own dependency

    remaining: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        after = max((remaining[child] for child in graph.successors(node)), default=0.0)
        remaining[node] = node_cost(node, seconds) + after
    return {node: -round(total * 1000) for node, total in remaining.items()}


@contextlib.contextmanager
def attributes_replaced(replacements: Mapping[tuple[object, str], object]) -> Iterator[None]:
    """Within the block, each class (or module) attribute `(cls, name)` is the replacement
    given; after it, whatever the block raised, the class's own again. The runner's patches of
    dbt below hold because dbtRunner runs one invocation at a time per process. A class without
    an attribute of that name of its own (a dbt that moved it): nothing is replaced, dbt runs as
    it is."""
    originals = {(cls, name): cls.__dict__.get(name) for cls, name in replacements}
    if None in originals.values():
        yield
        return
    for (cls, name), value in replacements.items():
        setattr(cls, name, value)
    try:
        yield
    finally:
        for (cls, name), value in originals.items():
            setattr(cls, name, value)


@contextlib.contextmanager
def longest_path_first(seconds: Mapping[str, float] | None) -> Iterator[None]:
    """Within the block, each free dbt thread takes the ready node with the longest path of
    expected seconds ahead of it (path_scores).

    dbt-core 1.11 has no setting for this, and its own order would not do it: it orders ready
    nodes by graph depth, and its main loop hands every ready node to the thread pool's queue at
    once, first in first out, so a node that becomes ready later (stg_shopify__order_line_items
    when the orders are staged) waits behind every small model queued before it. The block
    replaces three methods and restores them after: the graph queue's scoring
    (dbt.graph.queue.GraphQueue._get_scores), its `get`, which then waits for a free thread
    before taking a node, and the task's run_queue, which tells the queue how many threads run.
    None of them decides what runs, only when: a node still starts after its parents and their
    tests. `seconds` None, or a dbt without those methods: dbt's own order.
    """
    try:
        from dbt.graph.queue import GraphQueue
        from dbt.task.runnable import GraphRunnableTask
    except ImportError:  # pragma: no cover - dbt-core moved them
        yield
        return
    get = GraphQueue.__dict__.get("get")
    run_queue = GraphRunnableTask.__dict__.get("run_queue")
    if seconds is None or get is None or run_queue is None:
        yield
        return

    def scores(queue, graph):
        return path_scores(graph, seconds)

    def get_when_a_thread_is_free(queue, block=True, timeout=None):
        threads = getattr(queue, "hotdash_threads", None)
        if threads:
            with queue.lock:
                while len(queue.in_progress) >= threads:
                    queue.some_task_done.wait()
        return get(queue, block, timeout)

    def run_queue_on_threads(task, pool):
        task.job_queue.hotdash_threads = task.config.threads
        return run_queue(task, pool)

    with attributes_replaced(
        {
            (GraphQueue, "_get_scores"): scores,
            (GraphQueue, "get"): get_when_a_thread_is_free,
            (GraphRunnableTask, "run_queue"): run_queue_on_threads,
        }
    ):
        yield


@contextlib.contextmanager
def connections_kept() -> Iterator[None]:
    """Within the block, each dbt thread keeps its PostgreSQL connection from one node to the
    next, its transaction rolled back at the end of each node as closing it would.

    dbt-core 1.11 closes a thread's connection after every node (BaseConnectionManager.release)
    and opens a new one for the next: a new server process each time, whose catalog caches
    start empty, for each of a build's 112 nodes. The block replaces `release`, and restores it
    after: a connection that is open is rolled back (what dbt's close does first) and kept;
    one that is not open, or whose rollback fails (a broken connection), is released as dbt
    does. What a node leaves in its session is what `set local` and dbt's own statements leave:
    nothing past its transaction but temporary tables, whose names dbt makes unique. dbt closes
    every connection at the end of the invocation, as before. A dbt without that method: dbt's
    own behaviour.
    """
    try:
        from dbt.adapters.base.connections import BaseConnectionManager
    except ImportError:  # pragma: no cover - dbt-adapters moved it
        yield
        return
    release = BaseConnectionManager.__dict__.get("release")

    def release_keeping_open(manager) -> None:
        with manager.lock:
            conn = manager.get_if_exists()
        if conn is None or conn.state != "open" or not _as_new(conn.handle):
            release(manager)
            return
        conn.transaction_open = False

    with attributes_replaced({(BaseConnectionManager, "release"): release_keeping_open}):
        yield


@contextlib.contextmanager
def flag_sources_by_frame() -> Iterator[None]:
    """Within the block, a dbt behavior flag that names no source is given the module of the
    code that declared it from the caller's frames, without inspect.stack().

    dbt-common (BehaviorFlagRendered._default_source) finds that module for every flag of the
    adapter, which dbt makes again in every invocation, by inspect.stack(): it reads the source
    lines of every frame and looks each frame's file up in sys.modules. The first invocation of
    a `hotdash build` spent 0.24 to 0.39 s in it. Where a frame has no file (code run by
    exec, as pytest-xdist's workers run every test) each lookup walks all of sys.modules, and
    in a test worker that had loaded Great Expectations it took most of each invocation. The
    block reads the module's name from each frame's globals, as inspect.getmodule finds it,
    and restores dbt-common's method after. A dbt-common without that method: its own way.
    """
    try:
        from dbt_common import behavior_flags
    except ImportError:  # pragma: no cover - dbt-common moved it
        yield
        return

    def source_by_frame() -> str:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_globals.get("__name__")
            if name and name != behavior_flags.__name__:
                return name
            frame = frame.f_back
        return "Unknown"

    with attributes_replaced(
        {(behavior_flags.BehaviorFlagRendered, "_default_source"): staticmethod(source_by_frame)}
    ):
        yield


# dbt's events of every statement, connection and node step: always at debug level, and read by
# nothing of the runner's (progress_events reads ConcurrencyLine, NodeStart and NodeFinished;
# grants the operation's errors). Without a debug logger they are built and dropped.
UNREAD_DEBUG_EVENTS = frozenset(
    {
        "ConnectionUsed",
        "SQLQuery",
        "SQLQueryStatus",
        "SQLCommit",
        "Rollback",
        "NewConnection",
        "NewConnectionOpening",
        "ConnectionReused",
        "ConnectionClosed",
        "ConnectionClosedInCleanup",
        "NodeCompiling",
        "NodeExecuting",
        "WritingInjectedSQLForNode",
        "JinjaLogDebug",
        "ArtifactWritten",
    }
)


@contextlib.contextmanager
def debug_events_unbuilt(names: frozenset[str]) -> Iterator[None]:
    """Within the block, an event of a class named in `names` is not built (its message is not
    converted to protobuf) nor sent to dbt's loggers and callbacks; every other event is.

    dbt-common builds each event's message when the event is made, before any logger decides
    whether to write it, and then again for each one it fires: every statement a node runs
    makes three, about sixty a model. In a night's build at 1M facts that was a quarter of the
    Python time of dbt's threads (2.7 of 11.1 s), which hold one lock (the GIL) between them.
    The caller enters the block only when no logger takes debug events (invoke: console off,
    file log above debug). A dbt-common without those methods: its own way.
    """
    try:
        from dbt_common.events.base_types import BaseEvent
        from dbt_common.events.event_manager import EventManager
    except ImportError:  # pragma: no cover - dbt-common moved them
        yield
        return
    if not names:
        yield
        return
    # Without either method of their own, attributes_replaced replaces neither.
    init = BaseEvent.__dict__.get("__init__")
    fire = EventManager.__dict__.get("fire_event")

    def init_unless_unread(event, *args, **kwargs) -> None:
        if type(event).__name__ in names:
            event.pb_msg = None
        else:
            init(event, *args, **kwargs)

    def fire_unless_unbuilt(manager, e, *args, **kwargs) -> None:
        if type(e).__name__ in names and e.pb_msg is None:
            return
        fire(manager, e, *args, **kwargs)

    with attributes_replaced(
        {
            (BaseEvent, "__init__"): init_unless_unread,
            (EventManager, "fire_event"): fire_unless_unbuilt,
        }
    ):
        yield


@contextlib.contextmanager
def agate_type_testers_kept() -> Iterator[None]:
    """Within the block, dbt's tables of query results reuse their column type testers.

    dbt turns every statement's result into an agate table (dbt-common's agate_helper), and
    for each one that has a text column, and each statement without a result, it makes a new
    type tester: seven data types, of which agate's Date and DateTime each make a parsedatetime
    calendar, whose locale constants cost about a millisecond. A node runs tens of statements:
    in a small build that was a tenth of the Python time of dbt's threads. A tester holds no
    state of a table it typed (dbt already shares its default one between threads), so the
    block keeps one per set of text columns and makes the empty table with dbt's default one:
    the same column types, the same tables. A dbt-common without those names: its own way.
    """
    try:
        import agate
        from dbt_common.clients import agate_helper
    except ImportError:  # pragma: no cover - dbt-common moved them
        yield
        return
    default = agate_helper.__dict__.get("DEFAULT_TYPE_TESTER")
    if default is None:
        yield
        return
    # Without build_type_tester or empty_table of its own, attributes_replaced replaces neither.
    build = agate_helper.__dict__.get("build_type_tester")
    testers: dict[tuple, object] = {}

    def build_kept(text_columns, string_null_values=("null", "")):
        nulls = None if string_null_values is None else tuple(string_null_values)
        key = (frozenset(text_columns), nulls)
        tester = testers.get(key)
        if tester is None:  # two threads may both build one: either is the same tester
            tester = testers.setdefault(key, build(text_columns, string_null_values))
        return tester

    def empty_table_kept():
        return agate.Table(rows=[], column_types=default)

    with attributes_replaced(
        {
            (agate_helper, "build_type_tester"): build_kept,
            (agate_helper, "empty_table"): empty_table_kept,
        }
    ):
        yield


@contextlib.contextmanager
def macro_contexts_kept() -> Iterator[None]:
    """Within the block, each thread reuses the context it made for a macro that dbt's Python
    runs (rename_relation, drop_relation, get_columns_in_relation: the adapter's
    execute_macro), instead of making it again for every call.

    Such a context holds every macro of the project and of dbt as a callable, about 660 of
    them: 4 ms each, and a night's build makes about 140 (every table model renames two
    relations and drops one). A kept context is one that dbt made for the same macro, package,
    manifest and configuration, in the same invocation (a new adapter each time) and thread;
    a call that adds to the context (dbt show's) or runs within another's macro gets a new one.
    """
    try:
        from dbt.adapters.base.impl import BaseAdapter
    except ImportError:  # pragma: no cover - dbt-adapters moved it
        yield
        return
    execute = BaseAdapter.__dict__.get("execute_macro")
    set_generator = BaseAdapter.__dict__.get("set_macro_context_generator")
    calls = threading.local()  # per thread: execute_macro's depth, whether to keep its context

    def execute_kept(adapter, macro_name, *args, **kwargs):
        override = kwargs.get("context_override", args[2] if len(args) > 2 else None)
        depth = getattr(calls, "depth", 0)
        calls.depth, calls.keep = depth + 1, depth == 0 and not override
        try:
            return execute(adapter, macro_name, *args, **kwargs)
        finally:
            calls.depth, calls.keep = depth, False

    def set_kept(adapter, generator) -> None:
        kept = threading.local()  # this adapter's contexts, per thread

        def generate(macro, config, resolver, package_name):
            if not getattr(calls, "keep", False):
                return generator(macro, config, resolver, package_name)
            calls.keep = False
            contexts = kept.__dict__.setdefault("contexts", {})
            key = (macro.unique_id, package_name)
            made = contexts.get(key)
            if made is None or made[0] is not resolver or made[1] is not config:
                made = (resolver, config, generator(macro, config, resolver, package_name))
                contexts[key] = made
            return made[2]

        set_generator(adapter, generate)

    with attributes_replaced(
        {
            (BaseAdapter, "execute_macro"): execute_kept,
            (BaseAdapter, "set_macro_context_generator"): set_kept,
        }
    ):
        yield


# Compiled Jinja templates kept between processes (jinja_code_kept), in the target folder.
JINJA_CODE_FILE = "jinja_code.marshal"
JINJA_CODE_MAX_BYTES = 64 * 1024 * 1024


def _jinja_code_stamp() -> str:
    """What compiled code depends on besides the template: Python (marshal's format, bytecode)
    and the versions of Jinja and dbt-common (the code generator, dbt's environments)."""
    from importlib.metadata import version

    return f"{sys.version}|jinja2 {version('jinja2')}|dbt-common {version('dbt-common')}"


def _jinja_code_read(path: Path, stamp: str) -> dict[bytes, object]:
    """The kept code of `path`, or nothing when it is missing, unreadable or for another stamp."""
    try:
        kept_stamp, codes = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return codes if kept_stamp == stamp and isinstance(codes, dict) else {}


def _environment_key(env) -> str:  # env: a jinja2.Environment
    """What of a Jinja environment its compiled code depends on: its class and code generator,
    extensions, syntax and whitespace settings, optimizer, autoescape, async and finalize, and
    the names of its filters and tests with what each is passed (the generated call differs)."""

    def passed(functions: Mapping[str, object]) -> str:
        pairs = sorted((n, getattr(f, "jinja_pass_arg", None)) for n, f in functions.items())
        return ",".join(f"{n}:{arg}" for n, arg in pairs)

    settings = (
        type(env).__module__,
        type(env).__qualname__,
        env.code_generator_class.__qualname__,
        ",".join(sorted(env.extensions)),
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.optimized,
        env.autoescape,
        env.is_async,
        env.finalize,
    )
    return "\x00".join((*map(repr, settings), passed(env.filters), passed(env.tests)))


@contextlib.contextmanager
def jinja_code_kept(folder: Path) -> Iterator[None]:
    """Within the block, a template dbt compiles whose source, environment and Jinja call were
    compiled before (in this process or an earlier one that kept its code in `folder`) is not
    compiled again: its code object is reused; after the block, the code compiled in it is kept.

    dbt compiles every node's SQL and every macro it calls from their source in each process, with
    Jinja's Environment.compile (parse, generate Python, compile it): 1.6 s of the interpreter's
    time in a night's `hotdash build` at 1M facts, while its two threads share the interpreter.
    The code depends only on the source, the call's name, filename and defer_init, and the
    environment (_environment_key), so that is the key, beside the versions of Python, Jinja
    and dbt-common the file is stamped with. A file over JINJA_CODE_MAX_BYTES keeps only
    the code used in the block. Environments that are not dbt's compile as before. The file is
    code the runner runs, as trusted as the rest of the target folder (dbt's partial parse, the
    compiled SQL it runs)."""
    try:
        import jinja2
        from dbt_common.clients import jinja as dbt_jinja
    except ImportError:  # pragma: no cover - dbt-common moved them
        yield
        return
    compile_ = jinja2.Environment.__dict__.get("compile")
    dbt_env = getattr(dbt_jinja, "MacroFuzzEnvironment", None)
    # dbt's macro debugging writes each template's Python where it compiles it: let it compile.
    if compile_ is None or dbt_env is None or getattr(dbt_jinja, "MACRO_DEBUGGING", False):
        yield
        return
    path = folder / JINJA_CODE_FILE
    stamp = _jinja_code_stamp()
    kept = _jinja_code_read(path, stamp)
    used: dict[bytes, object] = {}

    def compile_kept(env, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or not isinstance(source, str) or not isinstance(env, dbt_env):
            return compile_(env, source, name, filename, raw, defer_init)
        parts = (_environment_key(env), str(name), str(filename), str(defer_init), source)
        key = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).digest()
        code = used.get(key) or kept.get(key)
        if code is None:
            code = compile_(env, source, name, filename, raw, defer_init)
        used[key] = code
        return code

    try:
        with attributes_replaced({(jinja2.Environment, "compile"): compile_kept}):
            yield
    finally:
        # Code compiled in the block is kept for the next process; a write that fails keeps none.
        if used.keys() - kept.keys():
            data = marshal.dumps((stamp, {**kept, **used}))
            if len(data) > JINJA_CODE_MAX_BYTES:
                data = marshal.dumps((stamp, used))
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                _replace_whole(path, lambda partial: partial.write_bytes(data))


def _as_new(handle: object) -> bool:
    """Leave a psycopg2 connection as a new one is: no transaction, on the server or in
    psycopg2's idea of it. False when it cannot be (closed, broken, not psycopg2's).

    dbt ends a model's transaction with a COMMIT statement, which psycopg2 does not see: it
    still counts a transaction open and would not begin one before the next node's first
    statement. Its rollback sends ROLLBACK, which on a server with no transaction open logs a
    warning, so one is opened first for it to end."""
    try:
        import psycopg2.extensions as ext

        if handle.closed:
            return False
        if handle.status != ext.STATUS_READY:
            if handle.info.transaction_status == ext.TRANSACTION_STATUS_IDLE:
                with handle.cursor() as cursor:
                    cursor.execute("begin")
            handle.rollback()
        return (
            handle.status == ext.STATUS_READY
            and handle.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
        )
    except Exception:  # a broken connection: dbt closes it and the next node opens one
        return False


def invoke(
    target: Target,
    args: Sequence[str],
    on_event: Callable[[object], None] | None = None,
    quiet: bool = True,
    silent: bool = False,
    manifest: object | None = None,
    node_seconds: Mapping[str, float] | None = None,
) -> DbtRun:
    """Run one dbt command in-process and collect its per-node results.

    dbtRunner keeps global state: one invocation at a time per process. `silent` keeps dbt's
    console quiet even on errors (the caller reports them) and writes logs/dbt.log (DBT_LOG_PATH)
    at level DBT_LOG_LEVEL_FILE, info when unset: each node's start and result, warnings and
    errors with the failing SQL's path; `debug` adds every statement, as plain dbt writes.
    `manifest` (a DbtRun.manifest from `dbt parse` with the same vars) skips loading the project.
    `node_seconds` (what each node took in an earlier build, by unique id): start the longest
    remaining path first (longest_path_first); None keeps dbt's order.
    """
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    with heap.collector_paused():  # the first invocation imports dbt
        from dbt.cli.main import dbtRunner

    callbacks = [on_event] if on_event else []
    runner = dbtRunner(manifest=manifest, callbacks=callbacks)
    full = dbt_args(target, args)
    if quiet:
        full = ["--quiet", *full]
    unread: frozenset[str] = frozenset()
    if silent:
        # dbt's --log-level sets the file's level too unless --log-level-file is given
        file_level = os.environ.get("DBT_LOG_LEVEL_FILE") or "info"
        full = ["--log-level", "none", "--log-level-file", file_level, *full]
        debug = os.environ.get("DBT_DEBUG", "").lower() in ("1", "true", "yes", "on")
        if file_level.lower() != "debug" and not debug:  # DBT_DEBUG: both logs at debug
            unread = UNREAD_DEBUG_EVENTS
    parsing = partial_parse_kept(target, args) if manifest is None else contextlib.nullcontext()
    with (
        heap.heap_spared(),
        parsing,
        longest_path_first(node_seconds),
        connections_kept(),
        flag_sources_by_frame(),
        jinja_code_kept(target_dir(target)),
        debug_events_unbuilt(unread),
        agate_type_testers_kept(),
        macro_contexts_kept(),
    ):
        res = runner.invoke(full)
    if isinstance(res.exception, KeyboardInterrupt):
        raise res.exception  # dbt catches Ctrl-C and reports a failure: it is an interruption
    run = DbtRun(command=list(args), success=bool(res.success))
    if args and args[0] == "parse" and res.success:
        run.manifest = res.result
    if res.exception is not None:
        run.exception = str(res.exception)
    results = getattr(res.result, "results", None)
    if results:
        run.nodes = [_node_result(r) for r in results if hasattr(r, "node") and r.node]
    return run


@dataclass(frozen=True)
class NodeEvent:
    """A node starting or finishing, as a progress display needs it (no dbt types leak out)."""

    unique_id: str
    name: str
    resource_type: str
    finished: bool
    status: str = "started"
    seconds: float = 0.0


def progress_events(
    on_node: Callable[[NodeEvent], None], on_total: Callable[[int], None] | None = None
) -> Callable[[object], None]:
    """A dbtRunner callback turning dbt's events into NodeEvents (and the selected node count)."""

    def handle(event) -> None:  # event: dbt EventMsg
        kind = event.info.name
        if kind == "ConcurrencyLine" and on_total is not None:
            on_total(int(event.data.node_count))
        elif kind in ("NodeStart", "NodeFinished"):
            info = event.data.node_info
            finished = kind == "NodeFinished"
            result = event.data.run_result if finished else None
            on_node(
                NodeEvent(
                    unique_id=info.unique_id,
                    name=info.node_name,
                    resource_type=info.resource_type,
                    finished=finished,
                    status=str(result.status) if result is not None else "started",
                    seconds=float(result.execution_time) if result is not None else 0.0,
                )
            )

    return handle


def require_success(run: DbtRun) -> DbtRun:
    """Raise BuildError naming what failed, or return the run."""
    if run.success:
        return run
    if run.failed:
        names = ", ".join(f"{n.name} ({n.status})" for n in run.failed[:5])
        more = f" and {len(run.failed) - 5} more" if len(run.failed) > 5 else ""
        raise BuildError(
            f"dbt {' '.join(run.command[:1])} failed: {names}{more}",
            hint="the node table above has each message; `dbt build --select <name>` reruns one",
        )
    raise BuildError(
        f"dbt {' '.join(run.command[:1])} failed:"
        f" {run.exception or 'see the dbt log in logs/dbt.log'}",
        hint="`hotdash doctor` checks the setup",
    )
