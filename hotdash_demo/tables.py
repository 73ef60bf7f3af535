"""The generator's data tables: the CSV files in ``data/``, read from the installed package."""

from __future__ import annotations

import csv
from importlib.resources import files


def read_table(name: str) -> list[dict[str, str]]:
    """The rows of ``data/<name>.csv`` in file order, keyed by its header."""
    path = files(__package__ or __name__) / "data" / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_column(name: str) -> tuple[str, ...]:
    """The values of a one-column table, in file order."""
    return tuple(value for row in read_table(name) for value in row.values())


def split_list(field: str) -> tuple[str, ...]:
    """A list kept in one CSV field, its values separated by ``|``."""
    return tuple(field.split("|"))


def yes(field: str) -> bool:
    """A ``yes``/``no`` field."""
    if field not in ("yes", "no"):
        raise ValueError(f"expected yes or no, got {field!r}")
    return field == "yes"
