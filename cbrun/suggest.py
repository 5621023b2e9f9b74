"""Did-you-mean suggestions for misspelt names, and values shown in messages.

Quoting rule: a config is the user's own file and values from it are shown
up to :data:`SHOWN_LENGTH`; a data file may be anything a config names (a
private key, a password file) and a message may reach public CI logs, so one
message quotes at most :data:`DATA_QUOTE_LENGTH` characters of a data file's
content, through :func:`shown_data` and :func:`shown_names`, and describes
bytes it did not expect with :func:`describe_start` instead of quoting them.
"""

from __future__ import annotations

import codecs
import difflib
import math
from collections.abc import Iterable, Sequence

from pydantic_core import PydanticCustomError

# Longest value quoted back in a message; a config may hold megabytes.
SHOWN_LENGTH = 60
# Most characters of a data file's content that one message may quote.
DATA_QUOTE_LENGTH = 80
# File signatures named (never quoted) when a file is not what was expected.
_SIGNATURES = (
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\x89HDF", "an HDF5 file"),
    (b"-----BEGIN ", "a PEM key or certificate"),
    (b"\x7fELF", "an executable"),
    (codecs.BOM_UTF16_LE, "UTF-16 text, not UTF-8"),
    (codecs.BOM_UTF16_BE, "UTF-16 text, not UTF-8"),
)


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


def shown_data(text: str, limit: int = DATA_QUOTE_LENGTH) -> str:
    """Return ``repr(text)`` of data-file content, at most ``limit`` characters.

    ``repr`` escapes control characters, so no terminal escape sequence
    passes through.
    """
    return shorten(repr(text), limit)


def shown_names(
    names: Sequence[str], limit: int = DATA_QUOTE_LENGTH, *, quote: bool = True
) -> str:
    """Return names from a data file as ``'a', 'b'``, at most ``limit`` characters.

    Names that do not fit are counted, not shown: ``'a', 'b', ... (40 in all)``.

    Args:
        names: Column or array names read from a file.
        limit: The most characters returned.
        quote: Quote each name (``'a'``); without, only escape it (``a``).
    """
    items = [repr(name) if quote else repr(name)[1:-1] for name in names]
    text = ", ".join(items)
    if len(text) <= limit or len(items) == 1:
        return shorten(text, limit)
    tail = f", ... ({len(items)} in all)"
    kept = ""
    for item in items:
        candidate = f"{kept}, {item}" if kept else item
        if len(candidate) + len(tail) > limit:
            break
        kept = candidate
    if not kept:  # the first name alone is too long: cut it
        kept = shorten(items[0], max(limit - len(tail), 4))
    return kept + tail


def describe_start(head: bytes) -> str:
    """Say what the first bytes of a file look like, without quoting any.

    Returns:
        E.g. ``a zip archive``, ``a PEM key or certificate``, ``binary data``
        (a NUL byte), ``text that is not UTF-8``, ``text`` or
        ``nothing (the file is empty)``.
    """
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    if not head:
        return "nothing (the file is empty)"
    if b"\0" in head:
        return "binary data"
    try:
        # Not final: the head may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "text that is not UTF-8"
    return "text"


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``word``, or ``None`` if none is close.

    Case is ignored for the comparison (``adam`` finds ``Adam``), but the
    candidate is returned as it is spelt; of two spellings (the metric
    ``accuracy`` and the class ``Accuracy``) the one cased as ``word`` is.
    """
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        kept = by_lower.setdefault(candidate.lower(), candidate)
        if kept.islower() != word.islower() and candidate.islower() == word.islower():
            by_lower[candidate.lower()] = candidate
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
