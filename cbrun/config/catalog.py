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


def table() -> str:
    """``cbrun callbacks``: one line per callback a config can name."""
    from cbrun.config.callbacks import CALLBACK_SCHEMAS

    width = max(len(n) for n in CALLBACK_SCHEMAS)
    lines = [
        f"{key:<{width}}  {origin(schema):<11}  {schema.summary}"
        for key, schema in CALLBACK_SCHEMAS.items()
    ]
    lines.append(
        f"{'pkg.mod:Class':<{width}}  {'yours':<11}  Your own Callback subclass."
    )
    return "\n".join(lines)


def details(name: str) -> str | None:
    """``cbrun callbacks NAME``: its docs, parameters and TF 2.0 migrations.

    Returns:
        The text, or None when no callback has that name.
    """
    from cbrun.config.callbacks import CALLBACK_SCHEMAS

    chosen = CALLBACK_SCHEMAS.get(name)
    if chosen is None:
        return None
    lines = [f"{name} ({origin(chosen)})\n", docstring(chosen)]
    params = parameters(chosen)
    if params:
        lines.append("\nParameters:")
        for p in params:
            lines.append(f"  {p.name}: {p.type} = {p.default}")
            if p.description:
                lines.append(f"      {p.description}")
    if chosen.removed_parameters:
        lines.append("\nFrom the TF 2.0 API, refused with the fix:")
        lines += [f"  {old}: {fix}" for old, fix in chosen.removed_parameters.items()]
    return "\n".join(lines)


def did_you_mean_callback(name: str) -> str:
    """`` did you mean 'X'?`` over the callback names, or ``""``."""
    from cbrun.config.callbacks import CALLBACK_SCHEMAS
    from cbrun.suggest import did_you_mean

    return did_you_mean(name, CALLBACK_SCHEMAS)
