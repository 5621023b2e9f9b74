"""What ``cbrun callbacks`` shows: each callback's parameters, types and docs."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from cbrun.config.callbacks import CALLBACK_NAMES, CallbackSchema


@dataclass(frozen=True)
class Parameter:
    """One parameter of a callback, as shown to users."""

    name: str
    type: str
    default: str
    description: str


def _type_text(prop: dict[str, Any]) -> str:
    if "const" in prop:
        return repr(prop["const"])
    if "enum" in prop:
        return " | ".join(repr(v) for v in prop["enum"])
    if "anyOf" in prop:
        return " | ".join(_type_text(p) for p in prop["anyOf"])
    if "$ref" in prop:
        return "mapping"
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list[{_type_text(prop.get('items', {}))}]"
    if kind == "object":
        return "mapping"
    return {
        "integer": "int",
        "number": "float",
        "boolean": "bool",
        "string": "str",
    }.get(kind, str(kind))


def parameters(schema: type[CallbackSchema]) -> list[Parameter]:
    """List a callback's parameters in signature order, without ``type``."""
    props = schema.model_json_schema()["properties"]
    result = []
    for name, info in schema.model_fields.items():
        if name == "type":
            continue
        default = (
            "required"
            if info.is_required()
            else repr(info.get_default(call_default_factory=True))
        )
        description = info.description or props.get(name, {}).get("description", "")
        result.append(
            Parameter(name, _type_text(props.get(name, {})), default, description)
        )
    return result


def docstring(schema: type[CallbackSchema]) -> str:
    """Return the schema's description and example, without the ``Args:`` list.

    The parameters are listed separately, with their types and defaults.
    """
    text = inspect.cleandoc(schema.__doc__ or "")
    head, _, rest = text.partition("\nArgs:")
    _, example, tail = rest.partition("\nExample:")
    return head.rstrip() + (f"\n\nExample:{tail}" if example else "")


def origin(schema: type[CallbackSchema]) -> str:
    """Say where the callback comes from: Keras, or cbrun itself."""
    if schema.keras_class is None:
        return "cbrun"
    if schema.cbrun_additions:
        return "keras+cbrun"
    return "keras"


def callback_names() -> list[str]:
    """The callback types a config may name, tutorial order first."""
    return list(CALLBACK_NAMES)
