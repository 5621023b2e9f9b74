"""How a run tells its user what happens: one line at a time, through a callable.

The core never prints. The CLI passes a function that writes ``cbrun: ...``
lines to stderr; library callers pass their own, or get the ``cbrun``
logger (:func:`log_line`), which stays silent until logging is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

Echo = Callable[[str], None]
"""Receives each of cbrun's own lines (run dir, stop reason, best, files)."""

LOGGER = logging.getLogger("cbrun")


def log_line(message: str) -> None:
    """The default :data:`Echo`: an INFO record on the ``cbrun`` logger."""
    LOGGER.info(message)


def silent(message: str) -> None:
    """An :data:`Echo` that drops every line (smoke runs, worker processes)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
