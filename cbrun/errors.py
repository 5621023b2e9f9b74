"""Domain exceptions and the exit codes the CLI maps them to."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

ConfigPath = tuple[str | int, ...]
"""A place in a config document: keys and list indexes from its root, e.g.
``("callbacks", 0, "patience")``; ``()`` is the whole document."""


class ExitCode(IntEnum):
    """Process exit codes, shared by every command (design.md section 4)."""

    OK = 0
    INVALID_CONFIG = 1
    USAGE = 2
    TRAINING_FAILED = 3
    INTERRUPTED = 130
    TERMINATED = 143


@dataclass(frozen=True)
class Problem:
    """One finding about a config file, with the place it comes from.

    Attributes:
        file: The config file's path as the user gave it, or ``--set``.
        line: 1-based line, 0 when the problem concerns the whole file.
        column: 1-based column, 0 when unknown.
        where: The dotted place in the config, e.g.
            ``callbacks[0] (EarlyStopping).patience``; empty for the file.
        message: What is wrong and how to fix it.
        severity: ``error`` or ``warning``.
    """

    file: str
    line: int
    column: int
    where: str
    message: str
    severity: str = "error"

    def format(self) -> str:
        """Render as ``FILE:LINE:COL: where: message``, the compiler convention."""
        place = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        prefix = "warning: " if self.severity == "warning" else ""
        if self.where:
            return f"{place}: {self.where}: {prefix}{self.message}"
        return f"{place}: {prefix}{self.message}"

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable form for ``--format json``."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "where": self.where,
            "message": self.message,
            "severity": self.severity,
        }


class CbrunError(Exception):
    """Base of every error cbrun reports without a traceback."""

    exit_code: ExitCode = ExitCode.TRAINING_FAILED


@dataclass
class ConfigError(CbrunError):
    """A config file (or the overrides applied to it) is invalid.

    Attributes:
        problems: Every problem found, errors and warnings, in file order.
    """

    problems: list[Problem] = field(default_factory=list)
    exit_code: ExitCode = ExitCode.INVALID_CONFIG

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)


class UsageError(CbrunError):
    """The command line itself is wrong (exit code 2)."""

    exit_code = ExitCode.USAGE


class MissingDependencyError(CbrunError):
    """An optional dependency is not installed; the message says what to install."""

    exit_code = ExitCode.TRAINING_FAILED


class BuildError(CbrunError):
    """A config value that validated but cannot be built or loaded.

    Raised while loading data, building the model or the callbacks, e.g. a
    missing data file or a user module that does not import. ``path`` is the
    place in the config it comes from, so the CLI can show its line.

    Attributes:
        path: Keys and list indexes from the config's root, e.g.
            ``("data", "path")``.
    """

    exit_code = ExitCode.INVALID_CONFIG

    def __init__(self, message: str, path: ConfigPath = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
