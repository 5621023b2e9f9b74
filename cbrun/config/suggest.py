"""Did-you-mean suggestions for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic_core import PydanticCustomError


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
    message = f"unknown {kind} {value!r}{did_you_mean(value, candidates)}"
    return PydanticCustomError("unknown_name", "{message}", {"message": message})
