"""Import a user's function or class from a ``package.module:name`` path."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cbrun.errors import BuildError, ConfigPath
from cbrun.suggest import did_you_mean


def keras_error(exc: BaseException) -> str:
    """The first line of what Keras raised (its message, else its type)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def add_import_root(folder: Path) -> None:
    """Let a config import modules that sit beside it (as pytest does for tests)."""
    root = str(folder.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)


def import_object(spec: str, where: ConfigPath) -> Any:
    """Import ``package.module:name`` (``name`` may be dotted).

    Args:
        spec: The import path as written in the config.
        where: The config path it came from, for the error's position.

    Returns:
        The object.

    Raises:
        BuildError: The module does not import, or has no such attribute.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise BuildError(
            f"cannot import {module_name!r}: no module named {missing!r}; put it "
            "beside the config or on PYTHONPATH, or pip install it",
            where,
        ) from None
    except Exception as exc:
        raise BuildError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}", where
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            raise BuildError(
                f"{module_name!r} has no attribute {part!r}{did_you_mean(part, names)}",
                where,
            )
        target = getattr(target, part)
    return target


def check_parameters(
    target: Any, params: Mapping[str, Any], where: ConfigPath, label: str
) -> None:
    """Check that ``target`` can be called with ``params`` as keyword arguments.

    Raises:
        BuildError: An unknown or missing parameter, naming what it takes.
    """
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return  # Builtins without a signature: let the call itself decide.
    accepted = [
        name
        for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for name in params:
        if name not in accepted and not takes_kwargs:
            raise BuildError(
                f"{label} takes no parameter {name!r}{did_you_mean(name, accepted)}"
                f" (it takes: {', '.join(accepted) or 'none'})",
                (*where, name),
            )
    try:
        signature.bind(**params)
    except TypeError as exc:
        raise BuildError(f"{label}: {exc}", where) from None
