"""`hotdash docs`: dbt's documentation site, and the GX Data Docs of the contracts if built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner import dbt
from runner.db import Target

DEFAULT_PORT = 8080  # dbt docs serve's
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class DocsResult:
    dbt_index: Path
    gx_index: Path | None
    # `--static`: dbt's one self-contained page (manifest and catalog inlined), to open or ship
    # without a server
    static_index: Path | None = None


def gx_data_docs(target: Target) -> Path | None:
    """The contracts' Data Docs index, written by the last `hotdash contracts` or build."""
    from runner.contracts import default_out_dir

    index = default_out_dir(target) / "data_docs" / "index.html"
    return index if index.is_file() else None


def generate(target: Target, static: bool = False) -> DocsResult:
    """`dbt docs generate` (with the catalog from the database), with `--static` also
    target/static_index.html; raises BuildError on failure."""
    run = dbt.invoke(target, ["docs", "generate", *(["--static"] if static else [])], quiet=True)
    dbt.require_success(run)
    out = dbt.target_dir(target)
    return DocsResult(
        dbt_index=out / "index.html",
        gx_index=gx_data_docs(target),
        static_index=out / "static_index.html" if static else None,
    )


def serve(
    target: Target, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, browser: bool = True
) -> None:
    """`dbt docs serve` of what `generate` wrote, until Ctrl-C; raises BuildError on failure."""
    args = ["docs", "serve", "--port", str(port), "--host", host]
    if not browser:
        args.append("--no-browser")
    dbt.require_success(dbt.invoke(target, args, quiet=False))
