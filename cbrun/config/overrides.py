"""``--set KEY=VALUE`` overrides, applied to the loaded data before validation."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from cbrun.config.yaml_loader import SourceMap, load_yaml_text
from cbrun.errors import ConfigError, ConfigPath, Problem
from cbrun.suggest import shorten, shown

_KEY_RE = re.compile(r"^[A-Za-z_][\w.-]*$")


def _fail(source: SourceMap, text: str, message: str) -> ConfigError:
    return ConfigError([Problem(source.file, 0, 0, _origin(text), message)])


def _origin(text: str) -> str:
    """Name an override in messages; a value may be very long."""
    return f"--set {shorten(text, 80)}"


def split_key(key: str, source: SourceMap, text: str) -> list[str]:
    """Split a dotted ``--set`` key into its segments.

    Raises:
        ConfigError: An empty segment or a character a key cannot have.
    """
    parts = key.split(".")
    if not _KEY_RE.match(key) or any(not part for part in parts):
        raise _fail(
            source,
            text,
            f"{shown(key)} is not a dotted key like fit.epochs or callbacks.0.patience",
        )
    return parts


def parse_override(text: str, source: SourceMap) -> tuple[list[str], Any]:
    """Split ``KEY=VALUE`` and parse the value as YAML.

    Raises:
        ConfigError: No ``=``, an empty or malformed key, or a bad value.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise _fail(source, text, "expected KEY=VALUE, e.g. --set fit.epochs=3")
    parts = split_key(key, source, text)
    try:
        value = load_yaml_text(raw, _origin(text)).data
    except ConfigError as exc:
        raise _fail(source, text, exc.problems[0].message) from None
    return parts, value


def _callback_index(items: list[Any], kind: str) -> int | None:
    matches = [
        i
        for i, item in enumerate(items)
        if isinstance(item, dict) and item.get("type") == kind
    ]
    return matches[0] if len(matches) == 1 else (None if not matches else -len(matches))


def named_item_hint(items: list[Any], part: str, path: ConfigPath, rest: Any) -> str:
    """``; 'tune' is stages.1: write stages.1.fit.epochs`` when an item has that name.

    Args:
        items: The list (dicts, or validated models with a ``name``).
        part: The segment that is not an index.
        path: The list's place.
        rest: The segments after ``part``.
    """
    for index, item in enumerate(items):
        name = (
            item.get("name") if isinstance(item, dict) else getattr(item, "name", None)
        )
        if name == part:
            dotted = ".".join(str(step) for step in (*path, index))
            tail = ".".join(str(step) for step in rest)
            return f"; {shown(part)} is {dotted}: write {dotted}.{tail}".rstrip(".")
    return ""


def _step(
    container: Any,
    part: str,
    path: ConfigPath,
    text: str,
    source: SourceMap,
    rest: Sequence[str] = (),
) -> str | int:
    """Resolve one key segment against ``container`` to a dict key or index."""
    if isinstance(container, list):
        # ASCII only: int() refuses digits such as '²', and huge numbers.
        if part.isascii() and part.isdigit():
            if len(part) > 9 or int(part) >= len(container):
                raise _fail(
                    source,
                    text,
                    f"{shorten('.'.join(map(str, path))) or 'the list'} has "
                    f"{len(container)} items; index {shorten(part)} is out of range",
                )
            return int(part)
        if path == ("callbacks",):
            found = _callback_index(container, part)
            if found is None:
                kinds = [
                    kind if isinstance(kind, str) else shown(kind)
                    for kind in (
                        item.get("type") for item in container if isinstance(item, dict)
                    )
                ]
                raise _fail(
                    source,
                    text,
                    f"no callback of type {shown(part)} in this config "
                    f"(it has: {shorten(', '.join(kinds), 200) or 'none'})",
                )
            if found < 0:
                raise _fail(
                    source,
                    text,
                    f"{-found} callbacks have type {shown(part)}; pick one by index, "
                    "e.g. callbacks.0.patience",
                )
            return found
        hint = named_item_hint(container, part, path, rest)
        raise _fail(source, text, f"{shown(part)} is not an index into a list{hint}")
    return part


def _refuse_missing_list(
    path: ConfigPath, next_part: str, text: str, source: SourceMap
) -> None:
    """Refuse to step into a list the config does not have.

    ``--set callbacks.EarlyStopping.patience=3`` on a config without callbacks
    (or ``model.layers.0.units`` without layers) would otherwise build a
    mapping where the schema wants a list.
    """
    if path != ("callbacks",) and not (next_part.isascii() and next_part.isdigit()):
        return
    dotted = ".".join(map(str, path))
    example = (
        "--set 'callbacks=[{type: EarlyStopping, patience: 3}]'"
        if path == ("callbacks",)
        else f"--set '{dotted}=[...]'"
    )
    raise _fail(
        source,
        text,
        f"this config has no {dotted}, so there is no {shown(next_part)} in it to "
        f"change; set the whole list instead, e.g. {example}",
    )


def set_value(
    data: dict[str, Any],
    parts: Sequence[str],
    value: Any,
    source: SourceMap,
    text: str,
) -> ConfigPath:
    """Set ``value`` at a ``--set`` key in ``data``, in place.

    Missing mappings on the way are created (and recorded in
    ``source.origins`` as made by this override); ``callbacks.<Type>`` picks
    the one callback of that type.

    Args:
        data: The document to change.
        parts: The key's dotted segments, e.g. ``["fit", "epochs"]``.
        value: The parsed value.
        source: Its source map, updated in place.
        text: The override as written, e.g. ``fit.epochs=3``, for messages.

    Returns:
        The path that was set, with list indexes resolved.

    Raises:
        ConfigError: A bad index, a type no callback has, or a path through a
            value that is not a mapping or list.
    """
    container: Any = data
    path: ConfigPath = ()
    for depth, part in enumerate(parts):
        key = _step(container, part, path, text, source, parts[depth + 1 :])
        last = depth == len(parts) - 1
        if last:
            container[key] = value
        else:
            if isinstance(container, dict) and key not in container:
                _refuse_missing_list((*path, key), parts[depth + 1], text, source)
                container[key] = {}
                # A problem in the mapping made here is this override's.
                source.origins[(*path, key)] = _origin(text)
            child = container[key]
            if not isinstance(child, dict | list):
                raise _fail(
                    source,
                    text,
                    f"{shorten('.'.join(map(str, (*path, key))))} is "
                    f"{shown(child)}, not a mapping; set it as a whole instead",
                )
            container = child
        path = (*path, key)
    return path


def apply_overrides(
    data: dict[str, Any], source: SourceMap, overrides: Sequence[str]
) -> dict[str, Any]:
    """Return a copy of ``data`` with every override applied, in order.

    Each changed path is recorded in ``source.origins`` so that a validation
    error there names the ``--set`` instead of a line of the file.

    Args:
        data: The loaded document (a mapping).
        source: Its source map, updated in place.
        overrides: ``KEY=VALUE`` strings.

    Returns:
        The new data.

    Raises:
        ConfigError: A malformed override, a bad index, or a path through a
            value that is not a mapping or list.
    """
    result = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text, source)
        path = set_value(result, parts, value, source, text)
        source.origins[path] = _origin(text)
    return result
