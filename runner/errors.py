"""Typed errors: each carries a message a person can act on, a hint, and an exit code."""

from __future__ import annotations


class HotdashError(Exception):
    """Base error. The CLI prints `message` and `hint` on one line each and exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(HotdashError):
    """The profile, environment or arguments are not usable."""

    exit_code = 2


class DatabaseError(HotdashError):
    """The database cannot be reached or refused a statement."""

    exit_code = 3


class LoadError(HotdashError):
    """A file of facts could not be loaded; nothing from it was written."""

    exit_code = 4


class SourceContractError(HotdashError):
    """An error-level source contract failed: the build was stopped before dbt ran."""

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
