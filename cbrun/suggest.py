"""Did-you-mean suggestions for misspelt names."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

from pydantic_core import PydanticCustomError

# Longest value quoted back in a message; a config may hold megabytes.
SHOWN_LENGTH = 60


def shorten(text: str, limit: int = SHOWN_LENGTH) -> str:
    """Return ``text`` cut to ``limit`` characters, ending in ``...`` if cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object, limit: int = SHOWN_LENGTH) -> str:
    """Return ``repr(value)`` for a message, cut to ``limit`` characters.

    A huge integer is described by its size: its repr would be thousands of
    digits, and Python refuses to write out more than 4300.
    """
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"an integer of about {digits} digits"
    return shorten(repr(value), limit)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``word``, or ``None`` if none is close.

    Case is ignored for the comparison (``adam`` finds ``Adam``), but the
    candidate is returned as it is spelt.
    """
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    match = closest(word, candidates)
    return f"; did you mean {match!r}?" if match and match != word else ""


def unknown_name_error(kind: str, value: str, candidates: Iterable[str]) -> Exception:
    """Build the pydantic error for a name that is not one of ``candidates``."""
    message = f"unknown {kind} {shown(value)}{did_you_mean(value, candidates)}"
    return PydanticCustomError("unknown_name", "{message}", {"message": message})
