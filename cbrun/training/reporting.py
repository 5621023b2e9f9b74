"""How a run tells its user what happens: one line at a time, through a callable.

The core never prints. The CLI passes a function that writes ``cbrun: ...``
lines to stderr; library callers pass their own, or get the ``cbrun``
logger (:func:`log_line`), which stays silent until logging is configured.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Any

from cbrun.suggest import shorten

Echo = Callable[[str], None]
"""Receives each of cbrun's own lines (run dir, stop reason, best, files)."""

LOGGER = logging.getLogger("cbrun")


def log_line(message: str) -> None:
    """The default :data:`Echo`: an INFO record on the ``cbrun`` logger."""
    LOGGER.info(message)


def silent(message: str) -> None:
    """An :data:`Echo` that drops every line (smoke runs, worker processes)."""


# The most of an exception's text a message or run.json keeps.
MESSAGE_LIMIT = 300

# Lines of TensorFlow's graph errors that say where, not what: the header, the
# node, the frames of the stack where the op was defined, the op's name.
_NOISE = (
    re.compile(r"^Graph execution error:?$"),
    re.compile(r"^Detected at node\b"),
    re.compile(r"^File \"[^\"]*\", line \d+"),
    re.compile(r"^\(?most recent call last\)?:?$"),
    # In place of the frames when a tf.data op (an image decode) failed.
    re.compile(r"^<stack traces unavailable>$"),
    re.compile(r"^\[\[.*\]\]"),
    re.compile(r"^Traceback \(most recent call last\):$"),
)
# Keras wraps a layer's error: "Exception encountered when calling
# Dense.call().", the sentence in bold (ANSI codes), then the arguments.
_CALLING = re.compile(r"^Exception encountered when calling (?P<call>\S+?)\.?$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NODE_SUFFIX = re.compile(
    r"\s*\[\[\{\{.*$|\s*\[Op:[^\]]*\](\s*name:.*)?\s*$"
    # An eager op's error starts with the function and device it ran on.
    r"|^\{\{function_node [^}]*\}\}\s*"
)


def informative_lines(text: str) -> list[str]:
    """The lines of an error's text that say what went wrong.

    TensorFlow's ``InvalidArgumentError`` starts with "Graph execution
    error:", then the node and the stack frames where the op was defined;
    Keras's own sentence ("Received a label value of -1 which is outside the
    valid range of [0, 2)") comes after them.
    """
    kept: list[str] = []
    context = ""
    for raw in _ANSI.sub("", text).splitlines():
        line = _NODE_SUFFIX.sub("", raw.strip()).strip()
        if line.startswith("Arguments received by "):
            break  # Keras's list of the call's arguments: not what went wrong
        calling = _CALLING.match(line)
        if calling:
            # Keras's header names the layer; its sentence follows on its own.
            context = f"{calling['call']}: "
            continue
        if line and not any(pattern.match(line) for pattern in _NOISE):
            kept.append(context + line if not kept else line)
    if not kept and context:
        kept.append(context.rstrip(": "))
    return kept


def end_progress_line(verbose: Any) -> None:
    """End the line Keras's progress bar left open when fit failed mid-epoch.

    With ``verbose`` 1 (``auto`` on one machine) the bar redraws one line
    with carriage returns and ends it only with the epoch, so without this
    the error would be printed at the end of the bar.
    """
    if verbose in (1, "auto"):
        sys.stdout.write("\n")
        sys.stdout.flush()


def first_line(exc: BaseException, limit: int = MESSAGE_LIMIT) -> str:
    """The informative line of an exception's message, or its type's name.

    Skips what TensorFlow puts before Keras's message (see
    :func:`informative_lines`) and cuts it to ``limit`` characters.
    """
    lines = informative_lines(str(exc))
    return shorten(lines[0], limit) if lines else type(exc).__name__
