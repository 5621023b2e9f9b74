"""Safe YAML loading that remembers where every key and value came from.

PyYAML's ``safe_load`` forgets positions, keeps the last of duplicate keys and
expands aliases without limit. This loader composes the node graph with the
safe loader, then builds plain Python data itself so that it can record the
line and column of every key and value, refuse duplicate keys and tags, and
stop alias bombs and runaway nesting early.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cbrun.atomic import FileTooLargeError, NotRegularFileError, read_regular_bounded
from cbrun.errors import ConfigError, ConfigPath, Problem
from cbrun.suggest import shorten, shown

# PyYAML's pure-Python composer reads 1 MB a second at worst: the limit keeps
# the check of any file under half a second (configs are a few kB; MAX_NODES
# already bounds structured content to about this size).
MAX_FILE_BYTES = 500_000
MAX_NODES = 20_000
MAX_DEPTH = 64
# Python refuses to print an integer of more than 4300 digits, so messages
# (and pydantic's own errors) would fail on one; no setting needs 1000.
MAX_INT = 10**1000

_STANDARD_TAG_PREFIX = "tag:yaml.org,2002:"
_SCALAR_TAGS = {
    _STANDARD_TAG_PREFIX + name
    for name in ("str", "int", "float", "bool", "null", "timestamp")
}
_MERGE_TAG = _STANDARD_TAG_PREFIX + "merge"
_STR_TAG = _STANDARD_TAG_PREFIX + "str"
# YAML 1.2 floats that PyYAML's YAML 1.1 resolver leaves as strings: 1e-3, 1.0e30.
_FLOAT_12 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$")
# libyaml's parser, when PyYAML has it, makes the pre-pass 20 times faster.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG_WORDS = {
    _STANDARD_TAG_PREFIX + "int": "an integer",
    _STANDARD_TAG_PREFIX + "float": "a number",
    _STANDARD_TAG_PREFIX + "bool": "true or false",
    _STANDARD_TAG_PREFIX + "timestamp": "a date",
}


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column in a source file."""

    line: int
    column: int


@dataclass
class SourceMap:
    """Positions of the keys and values of one loaded document.

    Attributes:
        file: The file name used in messages.
        keys: Where the key of each mapping entry starts, by its path.
        values: Where each value starts, by its path (``()`` is the document).
        origins: Paths whose value came from somewhere other than the file,
            e.g. a ``--set`` override, with that origin's description.
    """

    file: str
    keys: dict[ConfigPath, Mark] = field(default_factory=dict)
    values: dict[ConfigPath, Mark] = field(default_factory=dict)
    origins: dict[ConfigPath, str] = field(default_factory=dict)

    def locate(self, path: ConfigPath, *, key: bool = False) -> Mark:
        """Return the position of ``path``, or of its closest known ancestor.

        Args:
            path: The place in the document.
            key: Prefer the position of the mapping key over that of the value,
                as for "unknown key" errors.

        Returns:
            The best known position; line 1, column 1 when nothing is known.
        """
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            first, second = (
                (self.keys, self.values) if key else (self.values, self.keys)
            )
            if prefix in first:
                return first[prefix]
            if prefix in second:
                return second[prefix]
        return Mark(1, 1)

    def origin(self, path: ConfigPath) -> str | None:
        """Return the override that set ``path`` or one of its ancestors, if any."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.origins:
                return self.origins[path[:end]]
        return None


@dataclass
class LoadedDocument:
    """Plain data (dicts, lists, scalars) plus where each piece came from."""

    data: Any
    source: SourceMap


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _position(mark: Any) -> Mark | None:
    """A PyYAML mark (0-based, maybe None) as a 1-based :class:`Mark`."""
    return Mark(mark.line + 1, mark.column + 1) if mark else None


def _error(file: str, mark: Mark | None, message: str) -> ConfigError:
    line, column = (mark.line, mark.column) if mark else (0, 0)
    return ConfigError([Problem(file, line, column, "", message)])


class _Builder:
    """Turns a composed node graph into plain data, recording positions."""

    def __init__(self, loader: yaml.SafeLoader, source: SourceMap) -> None:
        self._loader = loader
        self._source = source
        self._nodes = 0

    def build(self, node: yaml.Node, path: ConfigPath, depth: int) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _error(
                self._source.file,
                _mark(node),
                f"the document expands to more than {MAX_NODES} values "
                "(aliases repeated inside aliases?); write the values out or "
                "use fewer aliases",
            )
        if depth > MAX_DEPTH:
            raise _error(
                self._source.file,
                _mark(node),
                f"nesting deeper than {MAX_DEPTH} levels; a cbrun config needs "
                "only a few",
            )
        self._source.values.setdefault(path, _mark(node))
        if isinstance(node, yaml.MappingNode):
            self._check_tag(node, _STANDARD_TAG_PREFIX + "map")
            return self._build_mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, _STANDARD_TAG_PREFIX + "seq")
            return [
                self.build(item, (*path, index), depth + 1)
                for index, item in enumerate(node.value)
            ]
        if node.tag not in _SCALAR_TAGS:
            self._reject_tag(node)
        plain = isinstance(node, yaml.ScalarNode) and node.style is None
        if node.tag == _STR_TAG and plain and _FLOAT_12.match(node.value):
            # Unquoted 1e-3 is a number to every YAML 1.2 reader and to users.
            return float(node.value)
        try:
            value = self._loader.construct_object(node, deep=True)
        except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError):
            # PyYAML's constructors fail with plain exceptions on values such
            # as 2001-13-45, `!!bool maybe` or an integer of 5000 digits.
            what = _TAG_WORDS.get(node.tag, "a value")
            raise _error(
                self._source.file,
                _mark(node),
                f"cannot read {shown(node.value)} as {what}"
                + (" (too many digits)" if len(node.value) > 4000 else "")
                + "; quote it to make it a string",
            ) from None
        if isinstance(value, int) and abs(value) >= MAX_INT:
            raise _error(
                self._source.file,
                _mark(node),
                "this integer has more than 1000 digits; no setting takes one "
                "so large (quote it to make it a string)",
            )
        return value

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            self._reject_tag(node)

    def _reject_tag(self, node: yaml.Node) -> None:
        tag = shorten(node.tag.replace(_STANDARD_TAG_PREFIX, "!!"))
        raise _error(
            self._source.file,
            _mark(node),
            f"YAML tag {tag} is not allowed; cbrun configs hold plain values "
            "only (remove the tag)",
        )

    def _build_mapping(
        self, node: yaml.MappingNode, path: ConfigPath, depth: int
    ) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        first_seen: dict[Any, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge_source(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _error(
                    self._source.file,
                    _mark(key_node),
                    "a mapping key must be a plain name, not a list or mapping",
                )
            key = self.build(key_node, (*path, "<key>"), depth + 1)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise _error(
                    self._source.file,
                    _mark(key_node),
                    f"a mapping key must be a name or a number, got {shown(key)}",
                )
            if key in first_seen:
                first = first_seen[key]
                raise _error(
                    self._source.file,
                    _mark(key_node),
                    f"duplicate key {shown(key)} (first at line {first.line}); "
                    "YAML would silently keep only the last, so remove one",
                )
            first_seen[key] = _mark(key_node)
            # Paths hold names and indexes; other scalar keys are rare.
            child = (*path, key if isinstance(key, str | int) else str(key))
            self._source.keys[child] = _mark(key_node)
            result[key] = self.build(value_node, child, depth + 1)
        self._source.values.pop((*path, "<key>"), None)
        return {**{k: v for k, v in merged.items() if k not in result}, **result}

    def _merge_source(
        self, node: yaml.Node, path: ConfigPath, depth: int
    ) -> dict[Any, Any]:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for item in nodes:
            value = self.build(item, path, depth + 1)
            if not isinstance(value, dict):
                raise _error(
                    self._source.file,
                    _mark(item),
                    "a merge key (<<) must refer to a mapping",
                )
            merged.update(value)
        return merged


def _check_nesting(text: str, file: str) -> None:
    """Refuse runaway nesting and size from the event stream, before composing.

    The composer is recursive and slow on thousands of nested brackets, and
    builds every node of a huge document before the builder can count them;
    the event parser is not, so this pass stops as soon as a limit is crossed.
    """
    try:
        _check_events(yaml.parse(text, Loader=_FAST_LOADER), file)
    except (yaml.YAMLError, UnicodeError):
        # libyaml refused the text (a syntax error, or its own limits): check
        # again with PyYAML's parser, whose errors are the ones reported.
        _check_events(yaml.parse(text, Loader=yaml.SafeLoader), file)


def _check_events(events: Iterator[yaml.Event], file: str) -> None:
    depth = 0
    nodes = 0
    for event in events:
        if isinstance(event, yaml.DocumentEndEvent):
            return  # a second document is the composer's error to report
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise _error(
                    file,
                    _position(event.start_mark),
                    f"the document has more than {MAX_NODES} values; a cbrun "
                    "config needs only a few",
                )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _error(
                    file,
                    _position(event.start_mark),
                    f"nesting deeper than {MAX_DEPTH} levels; a cbrun config "
                    "needs only a few",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml_text(text: str, file: str) -> LoadedDocument:
    """Load one YAML document from text with positions.

    Args:
        text: The document.
        file: The name used in messages.

    Returns:
        The data and its source map; ``data`` is ``None`` for an empty document.

    Raises:
        ConfigError: For syntax errors, tags, duplicate keys, alias bombs and
            runaway nesting, with the position.
    """
    source = SourceMap(file)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        # Control characters (other than tab and line breaks) are not YAML.
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        raise _error(
            file,
            Mark(line, column),
            f"character {exc.character:#06x} is not allowed in YAML; remove it "
            "(or write it as an escape such as \\x07 inside double quotes)",
        ) from None
    try:
        try:
            _check_nesting(text, file)
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            where = _position(exc.problem_mark or exc.context_mark)
            detail = shorten(exc.problem or exc.context or "invalid YAML", 200)
            raise _error(file, where, f"YAML syntax error: {detail}") from None
        except yaml.YAMLError as exc:
            raise _error(file, None, f"YAML syntax error: {exc}") from None
        except RecursionError:
            raise _error(
                file,
                None,
                "nesting is too deep for the YAML parser; "
                "a cbrun config needs only a few levels",
            ) from None
        if node is None:
            return LoadedDocument(None, source)
        data = _Builder(loader, source).build(node, (), 0)
    except yaml.YAMLError as exc:
        # Raised while constructing a scalar, e.g. an invalid timestamp.
        raise _error(file, None, f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    return LoadedDocument(data, source)


def read_config_text(path: Path, display: str | None = None) -> str:
    """Read a config file as UTF-8 text, with a clear error for every failure.

    Only a regular file is read (a FIFO would block, ``/dev/zero`` never
    ends), and at most :data:`MAX_FILE_BYTES` + 1 bytes of it.

    Args:
        path: The file.
        display: The name used in messages; defaults to ``str(path)``.

    Returns:
        The file's text.

    Raises:
        ConfigError: A missing file, a directory, a FIFO, a device or a
            socket, an unreadable, huge or non-UTF-8 file.
    """
    name = display or str(path)
    try:
        raw = read_regular_bounded(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise _error(
            name, None, "no such file; check the path (or run `ls` on its folder)"
        ) from None
    except NotRegularFileError as exc:
        # A config is read whole: a FIFO would block and a device never end.
        what = "a config file" if exc.kind == "a directory" else "a regular file"
        raise _error(name, None, f"is {exc.kind}, not {what}") from None
    except FileTooLargeError:
        raise _error(
            name,
            None,
            f"file is larger than {MAX_FILE_BYTES} bytes, the most a config "
            "may hold; a cbrun config is a few kB",
        ) from None
    except OSError as exc:
        raise _error(name, None, f"cannot read the file: {exc.strerror}") from None
    except ValueError:  # from the API only: argv cannot hold a NUL
        raise _error(name, None, "a file name cannot contain a NUL character") from None
    # The BOM is dropped first: utf-8-sig counts error offsets after it.
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = body[: exc.start]
        line = before.count(b"\n") + 1
        # In characters, as editors count; the bytes before the error decode.
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8")) + 1
        raise _error(
            name,
            Mark(line, column),
            f"byte 0x{body[exc.start]:02x} is not valid UTF-8; save the file as UTF-8",
        ) from None


def load_yaml_file(path: Path, display: str | None = None) -> LoadedDocument:
    """Read and load a config file; see :func:`load_yaml_text`."""
    name = display or str(path)
    return load_yaml_text(read_config_text(path, name), name)
