"""Shared fixtures: one embedded PostgreSQL per test session, one fresh database per scenario."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner import db
from runner.facts import ensure_facts_table
from runner.ops import ensure_ops_tables
from tests.pytest.helpers import PROJECT_DIR


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`-n`), each worker's dbt writes its own target and log folders:
    dbt's partial parse file, manifest and run results are per process, not per project.

    dbt's file log is off: the tests read dbt's results, and writing every debug event costs
    about a tenth of a small build. DBT_LOG_LEVEL_FILE=debug keeps it.
    """
    os.environ.setdefault("DBT_LOG_LEVEL_FILE", "none")
    # pytest 9.2 drops the xdist_group of every test under --dist loadgroup (pytest-xdist issue
    # 1386): the tests of a module that share one built database would be spread over the
    # workers, each building it again, and the suite would take far longer, silently.
    major, minor = (int(part) for part in pytest.__version__.split(".")[:2])
    if config.getoption("dist", "no") == "loadgroup" and (major, minor) >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} does not keep the tests' xdist_group under --dist"
            " loadgroup: install the versions pyproject.toml names (pip install -e '.[dev]')"
        )
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        os.environ["DBT_TARGET_PATH"] = str(PROJECT_DIR / "target" / f"pytest-{worker}")
        os.environ["DBT_LOG_PATH"] = str(PROJECT_DIR / "logs" / f"pytest-{worker}")


# The longest modules first, so that parallel workers (scripts/test.sh) finish together: xdist
# hands out tests and groups in collection order, and the killed-build cases of test_live are
# one group of several minutes.
SLOW_FIRST = ("test_live.py", "test_fuzz.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def hotdash_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An embedded server of the tests' own, away from the developer's .hotdash."""
    home = Path(os.environ.get("HOTDASH_TEST_HOME") or tmp_path_factory.mktemp("hotdash"))
    saved = {k: os.environ.pop(k, None) for k in ("DBT_PROFILES_DIR", "HOTDASH_DATABASE")}
    os.environ["HOTDASH_HOME"] = str(home)
    yield home
    for key, value in saved.items():
        if value is not None:
            os.environ[key] = value
    if not os.environ.get("HOTDASH_TEST_HOME"):
        db.stop_embedded(home)


@pytest.fixture
def new_target(hotdash_home: Path) -> Iterator[Callable[[], db.Target]]:
    """Factory of fresh, empty databases (with the facts table) on the session's server.

    The n-th database of every test has the same name (t_0, t_1, ...), dropped and made again:
    dbt parses a project partially only for a profile, and so a database name, it parsed for
    before (the runner keeps the partial parses of the last 8: runner/dbt.py). Each test
    worker has a server of its own (hotdash_home).
    """
    made: list[db.Target] = []

    def make() -> db.Target:
        name = f"t_{len(made)}"
        stale = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=name)
        db.drop_database(stale)  # what a test that stopped before its teardown left
        target = db.embedded_target(PROJECT_DIR, hotdash_home, dbname=name)
        with db.connect(target) as conn:
            ensure_facts_table(conn)
            ensure_ops_tables(conn)  # the runner's build record, which pipeline_health reads
        made.append(target)
        return target

    yield make
    for target in made:
        db.drop_database(target)


@pytest.fixture
def target(new_target: Callable[[], db.Target]) -> db.Target:
    return new_target()
