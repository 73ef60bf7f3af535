"""`hotdash docs`: dbt's documentation site, and the GX Data Docs of the contracts if built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner import dbt
from runner.db import Target

# Where the contract suites' Data Docs may be; the first index.html found is reported.
GX_DATA_DOCS = (
    Path("gx") / "uncommitted" / "data_docs" / "local_site" / "index.html",
    Path("target") / "gx_data_docs" / "index.html",
    Path("target") / "data_docs" / "index.html",
)


@dataclass(frozen=True)
class DocsResult:
    dbt_index: Path
    gx_index: Path | None


def gx_data_docs(project_dir: Path) -> Path | None:
    for candidate in GX_DATA_DOCS:
        if (project_dir / candidate).is_file():
            return project_dir / candidate
    return None


def generate(target: Target) -> DocsResult:
    """`dbt docs generate` (with the catalog from the database); raises BuildError on failure."""
    run = dbt.invoke(target, ["docs", "generate"], quiet=True)
    dbt.require_success(run)
    return DocsResult(
        dbt_index=target.project_dir / "target" / "index.html",
        gx_index=gx_data_docs(target.project_dir),
    )
