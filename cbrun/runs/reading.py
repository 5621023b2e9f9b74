"""Hardened reads of the files in a run dir: bounded, regular files, plain data.

A run dir may come from anywhere (a colleague's tarball, a CI artefact), so
its readers (``runs``, ``show``, ``plot``, ``compare``, ``--resume``) trust
nothing in it:

- only regular files are read, and at most ``limit + 1`` bytes of them: a
  FIFO would block forever, ``/dev/zero`` would fill memory, and ``st_size``
  is not to be trusted;
- JSON is parsed with limits: integers must fit in 64 bits (Python refuses
  to parse more than 4300 digits, and ``os.kill`` an int beyond C's), nesting
  is at most :data:`MAX_DEPTH` levels; ``NaN`` and ``Infinity``, as Keras
  writes them, stay readable;
- YAML is parsed into plain data with a bound on the values it expands to
  (aliases inside aliases make a billion from a few lines) and on nesting.

Every failure is a :class:`~cbrun.atomic.MissingFileError` (no such file) or
a :class:`~cbrun.atomic.CorruptFileError` whose reason says what is wrong in
a few words, never quoting more than a few characters of the file.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Any, Final

from cbrun.atomic import (
    CorruptFileError,
    FileTooLargeError,
    MissingFileError,
    NotRegularFileError,
    read_regular_bounded,
)
from cbrun.config.yaml_loader import load_yaml_text
from cbrun.errors import ConfigError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_HISTORY_BYTES",
    "MAX_RECORD_BYTES",
    "load_json",
    "load_yaml",
    "parse_yaml",
    "read_bounded",
]

MAX_RECORD_BYTES: Final = 1_000_000
"""run.json and small JSON files: a record is a few kB, even after many resumes."""
MAX_HISTORY_BYTES: Final = 32_000_000
"""history.json: 100 metrics over 10,000 epochs is about 25 MB."""
MAX_CONFIG_BYTES: Final = 500_000
"""config.yaml: as for a config given to ``cbrun validate``."""
MAX_DEPTH: Final = 32
"""Nesting of JSON and YAML; cbrun's files need four levels at most."""
_INT64: Final = 2**63
_MAX_INT_DIGITS: Final = 19
_SHOWN: Final = 60
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class _Refused(Exception):
    """A limit was crossed while parsing; the message says which."""


def read_bounded(path: Path, limit: int) -> bytes:
    """Read a regular file of at most ``limit`` bytes, as a run file error.

    Args:
        path: The file; a symlink is followed, its target must be regular.
        limit: The largest size accepted, in bytes.

    Returns:
        The content.

    Raises:
        MissingFileError: There is no such file.
        CorruptFileError: It is not a regular file, is larger than ``limit``
            or cannot be read.
    """
    path = Path(path)
    try:
        return read_regular_bounded(path, limit)
    except FileNotFoundError:
        raise MissingFileError(path, "no such file") from None
    except (NotRegularFileError, FileTooLargeError) as exc:
        raise CorruptFileError(path, exc.reason) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise CorruptFileError(path, f"cannot be read ({reason})") from None


def load_json(path: Path, limit: int = MAX_RECORD_BYTES) -> Any:
    """Read and parse a JSON file with the limits of this module.

    Args:
        path: The file.
        limit: Its largest accepted size in bytes.

    Returns:
        Plain data: dicts, lists, strings, ints, floats (NaN and infinities
        as Keras writes them), bools and None.

    Raises:
        MissingFileError: There is no such file.
        CorruptFileError: It is not a regular file, too large, not UTF-8, not
            valid JSON, nested too deeply or holds an integer beyond 64 bits.
    """
    path = Path(path)
    text = _decode(path, read_bounded(path, limit))
    try:
        data = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        reason = "empty file" if not text.strip() else f"not valid JSON ({exc})"
        raise CorruptFileError(path, reason) from None
    except _Refused as exc:
        raise CorruptFileError(path, str(exc)) from None
    except RecursionError:
        raise CorruptFileError(path, _too_deep()) from None
    try:
        _check_nodes(data)
    except _Refused as exc:
        raise CorruptFileError(path, str(exc)) from None
    return data


def load_yaml(path: Path, limit: int = MAX_CONFIG_BYTES) -> Any:
    """Read and parse a YAML file into plain data, with the limits of this module.

    Args:
        path: The file.
        limit: Its largest accepted size in bytes.

    Returns:
        The document: dicts, lists and scalars; None when it is empty.

    Raises:
        MissingFileError: There is no such file.
        CorruptFileError: It is not a regular file, too large, not UTF-8, not
            valid YAML, or expands to too many values or levels.
    """
    path = Path(path)
    return parse_yaml(_decode(path, read_bounded(path, limit)), path)


def parse_yaml(text: str, path: Path) -> Any:
    """Parse YAML text into plain data with the config loader's limits.

    The same loader as ``cbrun validate`` (:mod:`cbrun.config.yaml_loader`):
    no tags, no duplicate keys, aliases counted each time they are used, the
    nesting bounded, the events checked before anything is composed.

    Args:
        text: The document.
        path: The file it came from, for errors.

    Returns:
        The document; None when it is empty.

    Raises:
        CorruptFileError: Not valid YAML, or too many values or levels.
    """
    try:
        data = load_yaml_text(text, str(path)).data
    except ConfigError as exc:
        first = exc.problems[0] if exc.problems else None
        where = f" at line {first.line}" if first and first.line else ""
        what = _short(first.message) if first else "not valid YAML"
        raise CorruptFileError(path, f"not valid YAML{where}: {what}") from None
    try:
        _check_nodes(data)
    except _Refused as exc:
        raise CorruptFileError(path, str(exc)) from None
    return data


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(path, f"not UTF-8 text (byte {exc.start})") from None


def _bounded_int(text: str) -> int:
    # Checked before int(): 10**6 digits would take seconds to convert.
    if len(text.lstrip("-")) > _MAX_INT_DIGITS or not -_INT64 <= int(text) < _INT64:
        digits = len(text.lstrip("-"))
        raise _Refused(f"holds an integer beyond 64 bits ({digits} digits)")
    return int(text)


def _check_nodes(data: Any) -> None:
    """Refuse nesting beyond :data:`MAX_DEPTH` and strings that are not text.

    JSON may escape half of a UTF-16 pair (``"\\ud800"``); such a string
    cannot be printed or written back as UTF-8, and cbrun never writes one.
    """
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise _Refused("holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise _Refused(_too_deep())
            items = [*value, *value.values()] if isinstance(value, dict) else value
            stack.extend(
                (v, depth + 1) for v in items if isinstance(v, str | dict | list)
            )


def _too_deep() -> str:
    return f"nested deeper than {MAX_DEPTH} levels"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
