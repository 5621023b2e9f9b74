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

import yaml

from cbrun.atomic import (
    CorruptFileError,
    FileTooLargeError,
    MissingFileError,
    NotRegularFileError,
    read_regular_bounded,
)

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_HISTORY_BYTES",
    "MAX_RECORD_BYTES",
    "MAX_YAML_VALUES",
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
MAX_YAML_VALUES: Final = 20_000
"""Values a config.yaml may expand to, aliases counted each time they are used."""
_INT64: Final = 2**63
_MAX_INT_DIGITS: Final = 19
_SHOWN: Final = 60
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_PLAIN_TAGS: Final = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
# libyaml's parser, when PyYAML has it, makes the pre-pass much faster.
_YAML_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    """Parse YAML text into plain data with the limits of this module.

    Args:
        text: The document.
        path: The file it came from, for errors.

    Returns:
        The document; None when it is empty.

    Raises:
        CorruptFileError: Not valid YAML, or too many values or levels.
    """
    # TODO(issue 17): cbrun.config.yaml_loader does the same with positions;
    # runs/ may not import config/ (tests/test_boundaries.py), so this stays
    # a plain-data twin until that loader's core moves to a shared module.
    try:
        _check_events(text)
        loader = _YAML_LOADER(text)
        try:
            node = loader.get_single_node()
            return None if node is None else _Builder(loader).build(node, 0)
        finally:
            loader.dispose()
    except _Refused as exc:
        raise CorruptFileError(path, str(exc)) from None
    except yaml.reader.ReaderError as exc:
        where = f"character {exc.character:#04x} at offset {exc.position}"
        raise CorruptFileError(
            path, f"not valid YAML: {where} is not allowed"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = _short(exc.problem or exc.context or "syntax error")
        raise CorruptFileError(path, f"not valid YAML{where}: {what}") from None
    except (yaml.YAMLError, ArithmeticError, LookupError, TypeError, ValueError):
        # PyYAML's constructors fail with plain exceptions on values such as
        # 2001-13-45 or an integer of 5000 digits.
        reason = "not valid YAML (a value cannot be read)"
        raise CorruptFileError(path, reason) from None
    except RecursionError:
        raise CorruptFileError(path, _too_deep()) from None


class _Builder:
    """Plain data from a composed node graph, counting every value it makes."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._count = 0

    def build(self, node: yaml.Node, depth: int) -> Any:
        self._count += 1
        if self._count > MAX_YAML_VALUES:
            raise _Refused(
                f"expands to more than {MAX_YAML_VALUES:,} values (aliases "
                "inside aliases?); cbrun writes no aliases"
            )
        if depth > MAX_DEPTH:
            raise _Refused(_too_deep())
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            # Scalars' tags are checked by the safe constructor itself.
            raise _Refused(f"YAML tag {node.tag[:_SHOWN]} is not allowed")
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, depth + 1) for item in node.value]
        if isinstance(node, yaml.MappingNode):
            result = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    raise _Refused("a mapping key is a list or a mapping")
                result[self._loader.construct_object(key)] = self.build(
                    value, depth + 1
                )
            return result
        return self._loader.construct_object(node)


def _check_events(text: str) -> None:
    """Refuse deep or huge documents from the event stream, before composing.

    PyYAML's composer recurses once per level and builds every node first;
    the event parser does neither, so this pass stops early.
    """
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_YAML_VALUES:
                raise _Refused(f"has more than {MAX_YAML_VALUES:,} values")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(_too_deep())
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


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
