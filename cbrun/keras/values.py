"""Config values that stand for something else: ``{function: ...}``, ``{path: ...}``.

* ``{function: pkg.mod:fn}`` as the value of any parameter that Keras (or a
  user's class) takes as a callable: the function is imported and passed
  (user code; ``--no-user-code`` refuses it at its line).
* ``{path: data/vocab.txt}`` in ``model.params``: a file relative to the
  config's folder, passed to the builder as an absolute path string, the
  way data paths resolve (a plain string is passed as written).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cbrun.config.base import IMPORT_PATH_RE
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.imports import import_object
from cbrun.suggest import shown

# Parameter names that hold functions, for classes that do not annotate them.
_CALLABLE_NAMES = ("schedule", "fn", "func", "function", "callback", "hook")
_CALLABLE_SUFFIXES = ("_fn", "_func", "_function", "_callback", "_hook")


def is_function_value(value: Any) -> bool:
    """Whether ``value`` is written ``{function: pkg.mod:fn}``."""
    return (
        isinstance(value, dict)
        and set(value) == {"function"}
        and isinstance(value["function"], str)
    )


def is_path_value(value: Any) -> bool:
    """Whether ``value`` is written ``{path: some/file}``."""
    return (
        isinstance(value, dict)
        and set(value) == {"path"}
        and isinstance(value["path"], str)
    )


def imported_function(spec: str, where: ConfigPath) -> Any:
    """Import ``pkg.mod:fn`` for a ``{function: ...}`` value; it must be callable.

    Raises:
        BuildError: Not an import path, not importable, or not callable.
    """
    place = (*where, "function")
    if not IMPORT_PATH_RE.match(spec):
        raise BuildError(
            f"function {shown(spec)} is not an import path; write "
            "{function: package.module:name}",
            place,
        )
    function = import_object(spec, place)
    if not callable(function):
        raise BuildError(
            f"{spec} is a {type(function).__name__}, not a function", place
        )
    return function


def with_functions(params: Mapping[str, Any], where: ConfigPath) -> dict[str, Any]:
    """``params`` with each ``{function: ...}`` value (also in lists) imported."""
    resolved: dict[str, Any] = {}
    for key, value in params.items():
        here = (*where, key)
        if is_function_value(value):
            resolved[key] = imported_function(value["function"], here)
        elif isinstance(value, list):
            resolved[key] = [
                imported_function(item["function"], (*here, index))
                if is_function_value(item)
                else item
                for index, item in enumerate(value)
            ]
        else:
            resolved[key] = value
    return resolved


def with_paths(
    params: Mapping[str, Any], where: ConfigPath, base_dir: Path | None
) -> dict[str, Any]:
    """``params`` with each ``{path: ...}`` value resolved against ``base_dir``.

    The file need not exist yet (a builder may write it); ``~`` is expanded.
    """
    resolved: dict[str, Any] = {}
    for key, value in params.items():
        if is_path_value(value):
            given = Path(value["path"]).expanduser()
            base = base_dir or Path.cwd()
            resolved[key] = str(given if given.is_absolute() else base / given)
        else:
            resolved[key] = value
    return resolved


def check_function_strings(
    target: Any, params: Mapping[str, Any], where: ConfigPath, label: str
) -> None:
    """Refuse an import path written as a plain string where a function goes.

    ``schedule: pkg.mod:fn`` would reach the class as the string and fail in
    training with ``'str' object is not callable``; the parameter is judged
    a function's by its annotation (``Callable``), its default (a function),
    or its name (``schedule``, ``*_fn``, ...) when not annotated ``str``.

    Raises:
        BuildError: At the parameter, with the ``{function: ...}`` fix.
    """
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    for name, value in params.items():
        if not (isinstance(value, str) and IMPORT_PATH_RE.match(value)):
            continue
        parameter = parameters.get(name)
        if parameter is None or not _takes_function(name, parameter):
            continue
        raise BuildError(
            f"{label} takes a function as {name}, but {shown(value)} would be "
            f"passed as a string; write `{name}: {{function: {value}}}` to import "
            "it",
            (*where, name),
        )


def _takes_function(name: str, parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    text = "" if annotation is inspect.Parameter.empty else str(annotation)
    if "Callable" in text or "callable" in text:
        return True
    default = parameter.default
    if default is not inspect.Parameter.empty and callable(default):
        return True
    if text and "str" in text:
        return False
    return name in _CALLABLE_NAMES or name.endswith(_CALLABLE_SUFFIXES)
