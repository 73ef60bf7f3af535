"""Typed errors: each carries a message a person can act on, a hint, and an exit code."""

from __future__ import annotations


class HotdashError(Exception):
    """Base error: the CLI prints `message` and `hint`, one line each, and exits `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self):  # raised in a worker process, re-raised here: keep the hint
        return (type(self), (self.message, self.hint))


class ConfigError(HotdashError):
    """The profile, environment or arguments are not usable (also: bad command-line usage)."""

    exit_code = 2


class DatabaseError(HotdashError):
    """The database cannot be reached or refused a statement."""

    exit_code = 3


class LoadError(HotdashError):
    """A file of facts could not be loaded; nothing from it was written."""

    exit_code = 4


class SourceContractError(HotdashError):
    """An error-level source contract failed: the build was stopped before anything was staged
    (the facts-table checks run before dbt; the payload checks once dbt has judged the new facts).
    """

    exit_code = 5


class BuildError(HotdashError):
    """dbt reported an error or a failing test."""

    exit_code = 6


class MartContractError(HotdashError):
    """An error-level mart contract failed after the build."""

    exit_code = 7


class SecurityError(HotdashError):
    """Grants or row-level security are not what they must be."""

    exit_code = 8


class ExportError(HotdashError):
    """An export or the briefing could not be written (a mart is missing or its columns changed)."""

    exit_code = 9


class CheckError(HotdashError):
    """A check found problems: lint violations, a failed `hotdash doctor` check, or a failed
    question or mart check of `hotdash eval` (the AI answer check)."""

    exit_code = 10


class BuildLockedError(HotdashError):
    """Another build holds this database's build lock (one build at a time); nothing was run."""

    exit_code = 11


class AlertError(HotdashError):
    """`hotdash status --fail-on warn|critical`: an alert at or above that severity is open
    (printed after the status)."""

    exit_code = 12


class NotifyError(HotdashError):
    """`hotdash notify`: a destination did not take a message, or an entry of
    `HOTDASH_NOTIFY_URLS` is not usable; the messages are kept and retried on the next run
    (`hotdash build --notify` only warns)."""

    exit_code = 13


INTERRUPTED_EXIT_CODE = 130
UNEXPECTED_EXIT_CODE = 1


def exit_codes() -> list[tuple[int, str, str]]:
    """(code, error type, meaning) of every exit code, in order, as `--help` and the README list."""
    classes: list[type[HotdashError]] = []
    pending: list[type[HotdashError]] = list(HotdashError.__subclasses__())
    while pending:
        cls = pending.pop(0)
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    rows = [
        (0, "-", "Success."),
        (
            UNEXPECTED_EXIT_CODE,
            "unexpected",
            "An error the runner does not know (a bug): `--debug` shows the traceback.",
        ),
    ]
    rows += [(c.exit_code, c.__name__, " ".join((c.__doc__ or "").split())) for c in classes]
    rows.append(
        (
            INTERRUPTED_EXIT_CODE,
            "interrupted",
            "Ctrl-C; a build is recorded as cancelled (also how `hotdash docs --serve` stops).",
        )
    )
    return sorted(rows, key=lambda row: row[0])


def exit_codes_markdown() -> str:
    """README "Exit codes": the table, made from exit_codes() (a test checks the README has it).
    Print it with `python -c 'from runner.errors import *; print(exit_codes_markdown())'`."""
    lines = ["| code | error | meaning |", "| --- | --- | --- |"]
    for code, name, meaning in exit_codes():
        lines.append(f"| {code} | {name} | {meaning.replace('|', chr(92) + '|')} |")
    return "\n".join(lines)
