"""`hotdash docs`: dbt's documentation site, and the GX Data Docs of the contracts if built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner import dbt
from runner.db import Target


@dataclass(frozen=True)
class DocsResult:
    dbt_index: Path
    gx_index: Path | None


def gx_data_docs(target: Target) -> Path | None:
    """The contracts' Data Docs index, written by the last `hotdash contracts` or build."""
    from runner.contracts import default_out_dir

    index = default_out_dir(target) / "data_docs" / "index.html"
    return index if index.is_file() else None


def generate(target: Target) -> DocsResult:
    """`dbt docs generate` (with the catalog from the database); raises BuildError on failure."""
    run = dbt.invoke(target, ["docs", "generate"], quiet=True)
    dbt.require_success(run)
    return DocsResult(
        dbt_index=target.project_dir / "target" / "index.html",
        gx_index=gx_data_docs(target),
    )
