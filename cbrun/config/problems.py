"""Turn pydantic's validation errors into positioned, plain-English problems."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from cbrun.config.base import IMPORT_PATH_PATTERN
from cbrun.config.callbacks import (
    CALLBACK_NAMES,
    UNKNOWN_CALLBACK_ERROR,
    callback_schema,
    callback_tag,
)
from cbrun.config.data import (
    DATA_SOURCES,
    CsvData,
    FunctionData,
    KerasData,
    NpzData,
    NpzKeys,
    SklearnData,
    SyntheticData,
    TimeseriesData,
)
from cbrun.config.data_folders import ImagesData, TextData
from cbrun.config.experiment import (
    RUN_NAME_PATTERN,
    DistributeConfig,
    ExperimentConfig,
)
from cbrun.config.model import NODE_NAME_PATTERN, ModelConfig
from cbrun.config.places import child, describe, is_absent, value_at
from cbrun.config.stages import StageConfig
from cbrun.config.tracking import MlflowTracking, TrackingConfig
from cbrun.config.training import CompileConfig, FitConfig
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem
from cbrun.suggest import closest, did_you_mean, shown

_DATA_SCHEMAS: dict[str, type[BaseModel]] = {
    "sklearn": SklearnData,
    "keras": KerasData,
    "npz": NpzData,
    "csv": CsvData,
    "synthetic": SyntheticData,
    "timeseries": TimeseriesData,
    "function": FunctionData,
    "images": ImagesData,
    "text": TextData,
}
_SECTION_SCHEMAS: dict[ConfigPath, type[BaseModel]] = {
    (): ExperimentConfig,
    ("model",): ModelConfig,
    ("compile",): CompileConfig,
    ("fit",): FitConfig,
    ("distribute",): DistributeConfig,
    ("data", "keys"): NpzKeys,
    ("tracking",): TrackingConfig,
    ("tracking", "mlflow"): MlflowTracking,
}
_STAGE_SECTIONS: dict[str, type[BaseModel]] = {
    "compile": CompileConfig,
    "fit": FitConfig,
}
_PATTERNS = {
    IMPORT_PATH_PATTERN: "an import path like package.module:name",
    RUN_NAME_PATTERN: "one folder name: letters, digits, '.', '_' and '-', "
    "starting with a letter or digit, no '/'",
    r"^https?://": "a URL starting with http:// or https://",
    NODE_NAME_PATTERN: "a name of letters, digits, '_', '.' and '-' that starts "
    "with a letter or '_' (no spaces)",
}
_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "literal_error": None,
    "none_required": "null",
    "finite_number": "a finite number",
}
MAX_PROBLEMS = 50
"""Problems listed per file; the rest are counted. A mistake repeated a
thousand times (a generated file) needs only its first few fixed, and the
output stays readable."""
_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def schema_at(path: ConfigPath, data: Any) -> type[BaseModel] | None:
    """Return the schema class that validates the mapping at ``path``."""
    if path in _SECTION_SCHEMAS:
        return _SECTION_SCHEMAS[path]
    if path == ("data",):
        source = value_at(data, ("data", "source"))
        return _DATA_SCHEMAS.get(source) if isinstance(source, str) else None
    if path[:1] == ("stages",) and len(path) == 2:
        return StageConfig
    if path[:1] == ("stages",) and len(path) == 3:
        return _STAGE_SECTIONS.get(str(path[2]))
    if len(path) == 2 and path[0] == "callbacks" and isinstance(path[1], int):
        tag = callback_tag(value_at(data, path))
        return None if tag is None else callback_schema(tag)
    if len(path) >= 2 and isinstance(path[-1], str):
        # A mapping inside a section, e.g. data.labels or data.split.
        parent = schema_at(path[:-1], data)
        field = parent.model_fields.get(path[-1]) if parent else None
        if field is not None:
            models = _models_in(field.annotation)
            return models[0] if len(models) == 1 else None
    return None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The schema classes an annotation (``X | None``, ...) names."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _data_path(loc: tuple[int | str, ...], data: Any, kind: str) -> ConfigPath:
    """Map pydantic's ``loc`` to a path in the data, dropping union tags.

    A last element that is not in the data is kept only for a missing key;
    otherwise it names a union member (``str``, a model's name).
    """
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if path == ["data"] and part == value_at(data, ("data", "source")):
            # The source union's tag: source: function has a key `function` too.
            continue
        found = child(current, part)
        if not is_absent(found):
            current = found
            path.append(part)
        elif (
            last
            and kind in ("missing", "invalid_key")
            and isinstance(current, dict)
            and isinstance(part, str)
        ):
            path.append(part)  # a missing key, or a key like `null` as text
    return tuple(path)


def _shown(value: Any) -> str:
    """A value as the user wrote it in YAML (``null``, ``true``), not Python."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        # An unquoted yes/no/on/off reads as a boolean too.
        return (
            f"{str(value).lower()} (YAML reads unquoted yes, no, on, off as booleans)"
        )
    return shown(value)


def _expected_values(error: ErrorDetails) -> list[str]:
    expected = str((error.get("ctx") or {}).get("expected", ""))
    return re.findall(r"'([^']*)'", expected) or re.findall(r"(\w+)", expected)


def _unknown_key(path: ConfigPath, data: Any) -> str:
    parent, key = path[:-1], path[-1]
    schema = schema_at(parent, data)
    in_callback = len(parent) == 2 and parent[0] == "callbacks"
    noun = "parameter" if in_callback else "key"
    if schema is None:
        return f"unknown {noun}"
    removed = getattr(schema, "removed_parameters", {})
    if key in removed:
        return f"`{key}` is from the TF 2.0 API: {removed[key]}"
    known = [name for name in schema.model_fields if name != "type"]
    hint = did_you_mean(str(key), known)
    if not hint:
        hint = "; known: " + ", ".join(known) if known else "; it takes none"
    return f"unknown {noun}{hint}"


def _missing(path: ConfigPath, data: Any) -> str:
    key = path[-1] if path else ""
    parent = value_at(data, path[:-1]) if path else None
    if key == "type" and isinstance(parent, dict) and "function" in parent:
        # {function: ...} is read by layers, builders and user callbacks only.
        if _compile_argument(path[:-1]):
            return function_in_compile(parent)
        return (
            "{function: ...} is not taken here (only by the parameters of layers, "
            "model.build and your own callbacks); give a value, or an object "
            "{type: ClassName, ...}"
        )
    if key == "type" and path[:1] != ("callbacks",):
        return "missing `type`: the class name, e.g. Dense, Adam or AUC"
    if key == "type":
        return (
            "missing `type`: a callback name (e.g. EarlyStopping) or "
            "package.module:Class"
        )
    if key == "source":
        return "missing `source`: one of " + ", ".join(DATA_SOURCES)
    return f"required; add `{key}: ...`"


def _compile_argument(path: ConfigPath) -> bool:
    """Whether ``path`` is a loss, metric or the optimizer of a compile section.

    Those take the user's own as an import path; the parameters inside them
    (an optimizer's learning_rate) do not.
    """
    if "compile" not in path:
        return False
    rest = path[path.index("compile") + 1 :]
    if rest[:1] in (("loss",), ("metrics",), ("weighted_metrics",)):
        return len(rest) <= 3  # loss, loss.<output>, metrics.<output>[i]
    return rest == ("optimizer",)


def function_in_compile(value: Any) -> str:
    """Compile takes the user's loss, metric or optimizer as an import path.

    Args:
        value: The ``{function: ...}`` mapping written in compile.
    """
    spec = value.get("function") if isinstance(value, dict) else None
    instead = (
        f"{spec} instead of {{function: {spec}}}"
        if isinstance(spec, str)
        else "e.g. loss: pkg.mod:my_loss"
    )
    return (
        "{function: ...} is not taken in compile: write your own loss, metric "
        f"or optimizer as its import path, {instead}"
    )


# The members of cbrun's name-or-list-or-mapping unions, in words.
_UNION_TAG_WORDS = {
    "name": "a name",
    "list": "a list of names",
    "mapping": "a mapping",
    "object": "an object {type: ClassName, ...}",
}


def _no_union_member(
    path: ConfigPath, value: Any, data: Any, ctx: dict[str, Any]
) -> str:
    """A value none of a tagged union's kinds takes (not ``data``'s sources)."""
    expected = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
    if isinstance(value, dict) and "object" in expected:  # a loss without `type`
        if "function" in value:
            return _missing((*path, "type"), data)
        return (
            "missing `type`: a loss is a name (mse) or an object with its class, "
            "e.g. {type: Huber, delta: 2.0}"
        )
    words = [_UNION_TAG_WORDS.get(tag, tag) for tag in expected]
    wanted = " or ".join(words) if words else "another kind of value"
    return f"expected {wanted}, got {_shown(value)}"


def _message(error: ErrorDetails, path: ConfigPath, data: Any) -> str:
    kind = error["type"]
    value = value_at(data, path)
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_key(path, data)
    if kind == "invalid_key":
        # The path ends at the key itself; its value is not what is wrong.
        return f"a key must be a name, got {_shown(error.get('input'))}"
    if kind == "missing":
        return _missing(path, data)
    if kind == UNKNOWN_CALLBACK_ERROR:
        given = value_at(data, (*path, "type")) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            return f"expected a mapping with `type`, got {_shown(value)}"
        if given is None:
            return _missing((*path, "type"), data)
        return (
            f"unknown callback type {_shown(given)}"
            f"{did_you_mean(str(given), CALLBACK_NAMES)} (or package.module:Class "
            "for your own)"
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        if path != ("data",):  # a name-or-list (layer inputs) or a loss union
            return _no_union_member(path, value, data, ctx)
        tag = value_at(data, (*path, "source"))
        if tag is None:
            return _missing((*path, "source"), data)
        return (
            f"unknown data source {_shown(tag)}{did_you_mean(str(tag), DATA_SOURCES)}"
            f" (one of {', '.join(DATA_SOURCES)})"
        )
    if kind == "literal_error":
        choices = _expected_values(error)
        hint = ""
        if isinstance(value, str) and (match := closest(value, choices)):
            hint = f"; did you mean {match!r}?"
        listed = ", ".join(repr(c) for c in choices)
        return f"expected one of {listed}, got {_shown(value)}{hint}"
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}, got {_shown(value)}"
    if kind == "string_pattern_mismatch":
        wanted = _PATTERNS.get(
            str(ctx.get("pattern")), f"to match {ctx.get('pattern')}"
        )
        return f"expected {wanted}, got {_shown(value)}"
    if kind in ("string_too_short", "too_short"):
        if not value:
            return "must not be empty"
        if kind == "too_short" and isinstance(value, list):
            return _list_length(error, value)
        return str(error["msg"])
    if kind == "too_long" and isinstance(value, list):
        return _list_length(error, value)
    if kind in ("unknown_name", "schedule_expression"):
        return str(ctx.get("message", error["msg"]))
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {_shown(value)}"
    return f"{error['msg']}, got {_shown(value)}"


def _list_length(error: ErrorDetails, value: list[Any]) -> str:
    """``expected at least 2 items, got 1: [24]``, for a list too short or long."""
    ctx = error.get("ctx") or {}
    least, most = ctx.get("min_length"), ctx.get("max_length")
    if least is None and most is None:
        return f"{error['msg']}, got {_shown(value)}"
    short = error["type"] == "too_short"
    wanted = f"at least {least}" if short else f"at most {most}"
    return f"expected {wanted} items, got {len(value)}: {shown(value, 40)}"


def problems_from_validation(
    exc: ValidationError, data: Any, source: SourceMap
) -> list[Problem]:
    """Turn every error of a validation into a :class:`Problem` with a position.

    Union members that failed only on type are folded into one message ("a
    string or a mapping"), and dropped where another member got further.
    """
    located: list[tuple[ConfigPath, ErrorDetails]] = [
        (_data_path(error["loc"], data, error["type"]), error) for error in exc.errors()
    ]
    deeper = {path[:n] for path, _ in located for n in range(len(path))}
    merged: dict[ConfigPath, list[ErrorDetails]] = {}
    for path, error in located:
        if error["type"] in _TYPE_WORDS and path in deeper:
            continue
        merged.setdefault(path, []).append(error)
    problems = []
    for path, errors in merged.items():
        problems.append(_problem(path, errors, data, source))
    return first_problems(sorted(problems, key=lambda p: (p.line, p.column)))


def first_problems(problems: list[Problem]) -> list[Problem]:
    """Keep the first :data:`MAX_PROBLEMS` problems and count the others."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = problems[MAX_PROBLEMS:]
    severity = "error" if any(p.severity == "error" for p in rest) else "warning"
    summary = Problem(
        problems[0].file,
        0,
        0,
        "",
        f"{len(rest)} more problems not shown; fix the first {MAX_PROBLEMS} "
        "and run again",
        severity,
    )
    return [*problems[:MAX_PROBLEMS], summary]


def _problem(
    path: ConfigPath, errors: list[ErrorDetails], data: Any, source: SourceMap
) -> Problem:
    type_errors = [e for e in errors if _TYPE_WORDS.get(e["type"])]
    if len(type_errors) > 1 and len(type_errors) == len(errors):
        words = _unique(str(_TYPE_WORDS[e["type"]]) for e in type_errors)
        value = value_at(data, path)
        message = f"expected {' or '.join(words)}, got {_shown(value)}"
    else:
        misspelt = any(e["type"] == "literal_error" for e in errors)
        if type_errors and misspelt and isinstance(value_at(data, path), str):
            # A misspelt name ('balance' for 'balanced'): the other members'
            # types (a mapping) are noise.
            errors = [e for e in errors if e not in type_errors]
        message = "; ".join(_unique(_message(e, path, data) for e in errors))
    return make_problem(
        source,
        data,
        path,
        message,
        key=errors[0]["type"] in ("extra_forbidden", "invalid_key"),
    )


def make_problem(
    source: SourceMap,
    data: Any,
    path: ConfigPath,
    message: str,
    *,
    key: bool = False,
    severity: str = "error",
) -> Problem:
    """Build a problem at ``path``, or at the ``--set`` that put the value there."""
    where = describe(path, data)
    origin = source.origin(path)
    if origin is not None:
        return Problem(source.file, 0, 0, f"{origin}: {where}", message, severity)
    mark = source.locate(path, key=key)
    return Problem(source.file, mark.line, mark.column, where, message, severity)


class ProblemList:
    """The problems a check finds in one document, each placed by its config path.

    Attributes:
        source: Where each value came from.
        data: The document (for the places' descriptions).
        problems: What :meth:`add` collected, in the order found.
    """

    def __init__(self, source: SourceMap, data: Any) -> None:
        self.source = source
        self.data = data
        self.problems: list[Problem] = []

    def add(
        self,
        path: ConfigPath,
        message: str,
        severity: str = "error",
        *,
        key: bool = False,
    ) -> None:
        """Add a problem at ``path`` (at its key's position with ``key``)."""
        self.problems.append(
            make_problem(
                self.source, self.data, path, message, key=key, severity=severity
            )
        )


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
