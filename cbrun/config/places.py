"""Naming places in a config: ``callbacks[0] (EarlyStopping).patience``."""

from __future__ import annotations

from typing import Any

from cbrun.errors import ConfigPath
from cbrun.suggest import shorten, shown

_ABSENT = object()


def child(container: Any, part: str | int) -> Any:
    """Return ``container[part]`` for a dict key or list index, else ``_ABSENT``."""
    if isinstance(container, dict):
        return container.get(part, _ABSENT)
    if isinstance(container, list) and isinstance(part, int):
        return container[part] if 0 <= part < len(container) else _ABSENT
    return _ABSENT


def is_absent(value: Any) -> bool:
    """Tell whether :func:`child` found nothing."""
    return value is _ABSENT


def value_at(data: Any, path: ConfigPath) -> Any:
    """Return the value at ``path`` in plain data, or ``None`` if absent."""
    current = data
    for part in path:
        current = child(current, part)
        if current is _ABSENT:
            return None
    return current


def describe(path: ConfigPath, data: Any) -> str:
    """Render ``path`` for a message, naming the ``type`` of list items.

    Args:
        path: Keys and list indexes from the document's root.
        data: The document, to look up each list item's ``type``.

    Returns:
        E.g. ``callbacks[0] (EarlyStopping).patience``; ``""`` for the root.
    """
    text = ""
    current = data
    for part in path:
        if isinstance(part, int):
            text += f"[{shown(part)}]"
        else:
            name = shorten(str(part))  # a key may be thousands of characters
            text += f".{name}" if text else name
        current = value_at(current, (part,))
        if isinstance(part, int) and isinstance(current, dict):
            kind = current.get("type")
            if isinstance(kind, str) and kind:
                text += f" ({shorten(kind)})"
    return text
