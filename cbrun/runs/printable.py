"""Text from a run dir, made safe to print on a terminal.

Names, stop reasons, errors, metric names and commands in a run dir were
written by a program that may have been fed anything. A terminal obeys the
control characters in what it prints: ``\\x1b]0;...\\x07`` retitles the
window, ``\\x1b[2J`` clears the screen, ``\\r`` overwrites the line. Every
string that reaches a table or a message goes through :func:`printable`
first, which writes such characters as Python escapes (``\\x1b``, ``\\n``).

Example:
    ::

        printable("stopped\\x1b[2J")  # 'stopped\\\\x1b[2J'
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from cbrun.atomic import sanitize_json

__all__ = ["dumps_output_json", "printable", "printable_json", "printable_lines"]

# C0, DEL and C1 (a lone \x9b is a CSI to some terminals), the Unicode
# bidirectional overrides that make text display in another order than it
# is, and lone surrogates (from JSON's "\ud800"), which UTF-8 cannot encode.
_CONTROL: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# Inside a JSON string only these can be raw: json.dumps escapes C0 already.
_JSON_RAW: Final = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """Return ``str(text)`` with every control character escaped, on one line.

    Line breaks are escaped too (``\\n``): a table cell or a message stays
    one line. Printable text, non-ASCII letters included, is unchanged.

    Args:
        text: Anything; non-strings are converted with ``str``.
    """
    return _CONTROL.sub(_escape, str(text))


def printable_lines(text: str) -> str:
    """Like :func:`printable`, but keep ``\\n`` line breaks (for a block of text)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def printable_json(text: str) -> str:
    """Escape DEL, C1 and bidi controls that ``json.dumps`` leaves raw.

    The result is the same JSON (``\\u009b`` for U+009B), so tools reading it
    get the same values; a terminal showing it gets no control sequence.

    Args:
        text: The output of ``json.dumps(..., ensure_ascii=False)``.
    """
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dumps_output_json(data: Any) -> str:
    """``--format json`` output: strict JSON that any parser reads, printable.

    A run dir's files may hold ``NaN`` or ``Infinity`` (Keras writes them,
    and they are read back as floats); those are not JSON, so they are
    written as ``null``, as cbrun writes them in run.json and history.json.
    """
    text = json.dumps(
        sanitize_json(data), indent=2, ensure_ascii=False, allow_nan=False
    )
    return printable_json(text)
