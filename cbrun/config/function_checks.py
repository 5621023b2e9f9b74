"""TF-free checks of values that stand for functions: ``{function: pkg.mod:fn}``.

Layer, builder and user-callback parameters may be ``{function: ...}``
(imported at build time, :mod:`cbrun.keras.values`); validate says where one
names no import path, and warns of an import path written as plain text
where a user callback's parameter looks like it takes a function.
"""

from __future__ import annotations

from typing import Any

from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.problems import ProblemList
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem
from cbrun.suggest import did_you_mean, shown

_CALLABLE_NAMES = ("schedule", "fn", "func", "function", "callback", "hook")
_CALLABLE_SUFFIXES = ("_fn", "_func", "_function", "_callback", "_hook")


def function_value_problems(
    config: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """``{function: ...}`` values that name no import path; import paths as text.

    A user callback's parameter named like a function (``schedule``,
    ``*_fn``) given as a plain ``pkg.mod:fn`` string reaches the class as a
    string; ``validate --deep`` knows from its signature, this only warns.
    """
    found = ProblemList(source, data)
    add = found.add

    places: list[tuple[ConfigPath, dict[str, Any]]] = [
        (("model", "layers", i), dict(layer.model_extra or {}))
        for i, layer in enumerate(config.model.layers or [])
    ]
    places.append((("model", "params"), dict(config.model.params)))
    for index, callback in enumerate(config.callbacks):
        if callback.type.count(":") == 1:  # a user's class
            extra = dict(callback.model_extra or {})
            places.append((("callbacks", index), extra))
            for name, value in extra.items():
                if not (isinstance(value, str) and IMPORT_PATH_RE.match(value)):
                    continue
                if name in _CALLABLE_NAMES or name.endswith(_CALLABLE_SUFFIXES):
                    add(
                        ("callbacks", index, name),
                        f"{shown(value)} is passed to {callback.type} as a string; "
                        f"if {name} takes a function, write `{name}: {{function: "
                        f"{value}}}`",
                        severity="warning",
                    )
    for where, params in places:
        for name, value in params.items():
            if isinstance(value, dict) and len(value) == 1:
                (key,) = value
                hint = did_you_mean(str(key), ["function", "path"])
                if key not in ("function", "path") and hint:
                    add(
                        (*where, name, key),
                        f"unknown key {shown(key)} of a one-key value{hint} "
                        "({function: package.module:name} or {path: file})",
                        severity="warning",  # a builder may take such a dict
                    )
            if (
                isinstance(value, dict)
                and set(value) == {"function"}
                and not (
                    isinstance(value["function"], str)
                    and IMPORT_PATH_RE.match(value["function"])
                )
            ):
                add(
                    (*where, name, "function"),
                    f"function {shown(value['function'])} is not an import path; "
                    "write {function: package.module:name}",
                )
    return found.problems
