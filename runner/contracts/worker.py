"""The contract worker: a build's contract steps in a process of its own, so Great Expectations
loads while dbt parses the project."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from runner import heap, settings
from runner.contracts.gx import ContractSession, default_out_dir, import_gx
from runner.contracts.report import ContractReport
from runner.contracts.run import publish, run_contracts, validate_groups
from runner.contracts.suites import CONTRACTS_DIR, Part, Stage
from runner.db import Target


class ContractWorker:
    """Runs a build's contract steps in a process of its own.

    Importing Great Expectations and creating its context takes about 1.3 s of one core (with
    scipy.stats and altair deferred: gx.import_gx, and what it loaded frozen after: _worker_warm).
    Started with the build, the worker spends them while the build loads the dbt project, then
    validates the facts table's checks (validate_part_ahead), the payload checks once the judge
    has written its verdicts and the mart checks as dbt builds what they read (ChecksAhead); the
    contract steps then cost only what is left. The source stage's Data Docs are written while
    dbt builds.
    Ctrl-C is left to the build, which closes the worker.
    """

    @staticmethod
    def available() -> bool:
        """Whether a worker can start: a spawned process re-imports the main module from its
        file, which a script read from stdin does not have."""
        path = getattr(sys.modules.get("__main__"), "__file__", None)
        return path is None or Path(path).is_file()

    def __init__(self, target: Target) -> None:
        import multiprocessing

        self.out_dir = default_out_dir(target)
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(str(self.out_dir),),
        )
        self._warm = self._pool.submit(_worker_warm, target)
        self._pending: list[Future] = [self._warm]
        self._local = False  # the worker died: the checks run in this process

    def run(
        self, target: Target, stage: Stage, part: Part | None, run_id: str, new_facts_only: bool
    ) -> ContractReport:
        args = (target, stage, part, run_id, new_facts_only)
        try:
            return self._pool.submit(_worker_run, *args).result()
        except BrokenProcessPool:  # the process died (killed, out of memory): go on without it
            self._local = True
            _WORKER.setdefault("out_dir", self.out_dir)
            return _worker_run(*args)

    def groups(self, stage: Stage) -> dict[tuple[str, str], tuple[str, ...]]:
        """The relations each (suite, relation) group of `stage`'s checks reads (Check.needs),
        as the worker loaded the suites (this process does not import Great Expectations, which
        checks the suites' expectation names); {} when the worker could not load them."""
        try:
            return self._warm.result()[stage]
        except Exception:  # a dead worker or a bad suite: the contract steps report it
            return {}

    def validate_ahead(
        self,
        target: Target,
        stage: Stage,
        groups: list[tuple[str, str]],
        run_id: str,
        new_facts_only: bool,
    ) -> None:
        """Validate the checks of `groups` ((suite, relation) pairs) in the worker now, without
        waiting: the stage's `run` for the same run id reports their outcomes instead of
        validating them again. Nothing happens without a worker process."""
        if self._local:
            return
        args = (target, stage, groups, run_id, new_facts_only)
        # A dead or closed worker: the stage's run validates them all.
        with contextlib.suppress(BrokenProcessPool, RuntimeError):
            self._pending.append(self._pool.submit(_worker_validate_ahead, *args))

    def validate_part_ahead(
        self, target: Target, stage: Stage, part: Part, run_id: str, new_facts_only: bool
    ) -> None:
        """Validate every check of one part of `stage` in the worker now, without waiting (the
        facts table's checks, which read no dbt model, while dbt parses the project): the part's
        `run` for the same run id reports their outcomes, as after validate_ahead."""
        if self._local:
            return
        args = (target, stage, part, run_id, new_facts_only)
        with contextlib.suppress(BrokenProcessPool, RuntimeError):
            self._pending.append(self._pool.submit(_worker_validate_part_ahead, *args))

    def publish(self, report: ContractReport, wait: bool = True) -> None:
        """Data Docs and the JSON summary, as `publish` writes them; `wait=False` returns at once
        (the worker does it before its next task)."""
        if self._local:
            publish(report, _worker_session())
            return
        future = self._pool.submit(_worker_publish, report)
        report.data_docs = self.out_dir / "data_docs" / "index.html"
        report.summary = self.out_dir / "contracts_summary.json"
        if wait:
            future.result()
        else:
            self._pending.append(future)

    def close(self, cancel: bool = False) -> None:
        """Let pending Data Docs finish, then stop the process. `cancel` (the build was
        interrupted): drop what is pending and return at once; the worker ends when its current
        task does, or with this process."""
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


_WORKER: dict[str, Any] = {}


def _worker_session() -> ContractSession:
    if "session" not in _WORKER:
        _WORKER["session"] = ContractSession(_WORKER["out_dir"])
    return _WORKER["session"]


def _worker_start(out_dir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the build's to handle
    _WORKER["out_dir"] = Path(out_dir)
    # A build killed outright cannot close its worker: the worker goes with it.
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    # Once the pool has let the worker go, end it without tearing down what GX loaded (that
    # takes most of a second): the last of multiprocessing's exit finalizers.
    import multiprocessing.util

    multiprocessing.util.Finalize(None, os._exit, args=(0,), exitpriority=-(10**6))


def _worker_warm(target: Target) -> dict[Stage, dict[tuple[str, str], tuple[str, ...]]]:
    # Great Expectations stays loaded as long as the worker runs: once imported, collections
    # leave it alone (heap.spared_for_good) and traverse only what the session and each check
    # make. The rest of the warm-up (the GX context, the suites) took 0.31-0.37 s without it
    # and takes 0.08 s.
    import_gx()
    heap.spared_for_good()
    groups: dict[Stage, dict[tuple[str, str], tuple[str, ...]]] = {"source": {}, "marts": {}}
    for suite in _worker_session().suites(CONTRACTS_DIR, settings.of(target)):
        for check in suite.checks:
            needs = groups[check.stage].get((check.suite, check.relation), ())
            groups[check.stage][(check.suite, check.relation)] = tuple(
                dict.fromkeys((*needs, *check.needs))
            )
    return groups


def _worker_run(
    target: Target, stage: Stage, part: Part | None, run_id: str, new_facts_only: bool
) -> ContractReport:
    ahead = _WORKER.get("ahead", {}).pop((run_id, stage), None)
    return run_contracts(
        target,
        stage,
        run_id,
        session=_worker_session(),
        new_facts_only=new_facts_only,
        part=part,
        write_docs=False,
        done=ahead,
    )


def _worker_validate_ahead(
    target: Target, stage: Stage, groups: list[tuple[str, str]], run_id: str, new_facts_only: bool
) -> None:
    try:
        outcomes = validate_groups(
            target, stage, groups, session=_worker_session(), new_facts_only=new_facts_only
        )
    except Exception:  # the stage's run validates these checks again, and reports any error
        return
    _WORKER.setdefault("ahead", {}).setdefault((run_id, stage), {}).update(outcomes)


def _worker_validate_part_ahead(
    target: Target, stage: Stage, part: Part, run_id: str, new_facts_only: bool
) -> None:
    try:
        suites = _worker_session().suites(CONTRACTS_DIR, settings.of(target))
    except Exception:  # a bad suite: the part's run loads the suites again and reports it
        return
    groups = {
        (check.suite, check.relation): None
        for suite in suites
        for check in suite.checks
        if check.stage == stage and check.part == part
    }
    _worker_validate_ahead(target, stage, list(groups), run_id, new_facts_only)


class ChecksAhead:
    """A stage's checks validated while dbt runs (the judge for the payload checks, the build for
    the mart checks): each (suite, relation) group of checks goes to the worker once dbt has
    built, in this invocation, every model, seed and snapshot the group reads (Check.needs). A
    relation dbt built is final for the build: each node runs once. Groups that read nothing
    this invocation builds wait for the stage's step, as before.

    `node_built(unique_id)` is called from dbt's threads as nodes succeed. The outcomes stay in
    the worker until the stage's step asks for them; a failed build never records them.
    """

    def __init__(
        self,
        worker: ContractWorker,
        target: Target,
        stage: Stage,
        run_id: str,
        new_facts_only: bool,
        manifest: Any,
    ) -> None:
        self._worker = worker
        self._args = (target, stage, run_id, new_facts_only)
        self._lock = threading.Lock()
        # A dbt node's relation (schema.name), for the nodes that build one.
        built_by = {
            f"{node.schema}.{node.alias}".lower(): unique_id
            for unique_id, node in manifest.nodes.items()
            if str(getattr(node.resource_type, "value", node.resource_type))
            in ("model", "seed", "snapshot")
        }
        # Each group that reads something this build makes: the nodes it still waits for.
        self.waiting = {
            group: nodes
            for group, needs in worker.groups(stage).items()
            if (nodes := {built_by[r] for r in needs if r in built_by})
        }

    def node_built(self, unique_id: str) -> None:
        with self._lock:
            ready = []
            for group, nodes in self.waiting.items():
                nodes.discard(unique_id)
                if not nodes:
                    ready.append(group)
            for group in ready:
                del self.waiting[group]
        if ready:
            target, stage, run_id, new_facts_only = self._args
            self._worker.validate_ahead(target, stage, ready, run_id, new_facts_only)


def _worker_publish(report: ContractReport) -> None:
    publish(report, _worker_session())
