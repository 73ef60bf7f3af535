"""The runner's arrangements with Python's cyclic garbage collector (the gc module).

A collection of the oldest generation traverses every object the process holds, every thread
stopped meanwhile. The runner's process holds dbt's modules and a parsed manifest (and its
contract worker, Great Expectations'): millions of objects, almost none of them ever garbage.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Within the block, no automatic collection; after it, the collector as it was.

    For importing a large library (dbt, Great Expectations): an import makes hundreds of
    thousands of objects that live as long as the process, and almost no garbage, yet each
    collection it triggered traversed all that it had made so far (importing Great Expectations
    took 0.3-0.5 s longer with them)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextlib.contextmanager
def heap_spared() -> Iterator[None]:
    """Within the block, collections leave alone every object that existed before it.

    A dbt invocation allocates millions of objects while the process already holds dbt's
    modules and, for the judge and the build, the manifest parsed before: each collection of
    the oldest generation traversed all of them again (in a nightly build at 1M facts, 8 such
    collections took 1.1-1.5 s). The block moves what exists into the permanent generation
    (gc.freeze), so collections within it traverse only what the block made; after it, whatever
    the block raised, those objects are collectable again (gc.unfreeze), and garbage made
    before the block waits for a collection after it. A process that froze objects itself keeps
    its own arrangement: the block changes nothing."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def spared_for_good() -> None:
    """From now on, collections leave alone every object the process holds (gc.freeze, never
    undone). For a process that has just loaded what it keeps until it ends: the contract worker
    once Great Expectations is imported, whose first collections after the import traversed
    all that Great Expectations loaded (runner/contracts/worker.py `_worker_warm`)."""
    gc.freeze()


def frozen_at_exit() -> None:
    """At exit, the collector would walk every object dbt and Great Expectations loaded, about
    half a second after a build, only to free memory the process is about to give back. An exit
    handler freezes them first: every other exit handler still runs (logging's flush, the
    contract worker's shutdown), and what is frozen goes with the process."""
    atexit.register(gc.freeze)
