"""`hotdash lint`: sqlfluff (dbt templater) over the SQL of the project, on the resolved profile."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner.db import Target
from runner.errors import CheckError

DEFAULT_PATHS = ("models", "snapshots", "tests/dbt", "analyses")


@dataclass(frozen=True)
class LintResult:
    returncode: int
    output: str


def lint(
    target: Target,
    paths: Sequence[str] = DEFAULT_PATHS,
    on_line: Callable[[str], None] | None = None,
) -> LintResult:
    """Run `sqlfluff lint` in a subprocess (dbt's global state stays out of this process).

    The target's profile folder and target name override the ones in .sqlfluff, so linting
    works on a configured profile and on an embedded database in another HOTDASH_HOME.
    Raises CheckError on violations or when sqlfluff cannot run.
    """
    override = (
        "[sqlfluff:templater:dbt]\n"
        f"profiles_dir = {target.profiles_dir}\n"
        f"target = {target.target_name}\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", prefix="hotdash-sqlfluff-") as cfg:
        cfg.write(override)
        cfg.flush()
        command = [
            sys.executable, "-m", "sqlfluff", "lint", *paths,
            "--config", cfg.name, "--disable-progress-bar", "--nocolor",
        ]  # fmt: skip
        proc = subprocess.Popen(
            command,
            cwd=target.project_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))
        returncode = proc.wait()
    result = LintResult(returncode, "".join(lines))
    if returncode == 1:
        violations = sum(1 for line in lines if line.startswith("L:"))
        raise CheckError(
            f"sqlfluff found {violations} violation(s) in {' '.join(paths)}",
            hint="`sqlfluff fix <file>` fixes most of them; the lines above name each one",
        )
    if returncode != 0:
        raise CheckError(
            f"sqlfluff could not lint {' '.join(paths)} (exit {returncode})",
            hint="the output above says why; `hotdash doctor` checks the setup",
        )
    return result
