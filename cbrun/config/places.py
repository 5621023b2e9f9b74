"""Naming places in a config: ``callbacks[0] (EarlyStopping).patience``."""

from __future__ import annotations

from typing import Any

from cbrun.config.yaml_loader import ConfigPath


def value_at(data: Any, path: ConfigPath) -> Any:
    """Return the value at ``path`` in plain data, or ``None`` if absent."""
    current = data
    for part in path:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif (
            isinstance(current, list)
            and isinstance(part, int)
            and 0 <= part < len(current)
        ):
            current = current[part]
        else:
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
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
        current = value_at(current, (part,))
        if isinstance(part, int) and isinstance(current, dict):
            kind = current.get("type")
            if isinstance(kind, str) and kind:
                text += f" ({kind})"
    return text
