"""Shared pieces of the pydantic schemas: strict models and common field types."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cbrun.suggest import unknown_name_error

# `package.module:Name`, the form of a user's own class or function.
IMPORT_PATH_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"
IMPORT_PATH_RE = re.compile(IMPORT_PATH_PATTERN)


class StrictModel(BaseModel):
    """A schema that refuses unknown keys, coercions and non-finite floats.

    Strict mode keeps YAML honest: ``patience: "3"`` or ``patience: true`` is an
    error instead of a silent conversion. Integers are still accepted where a
    float is expected, as in Python.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        validate_default=False,
        use_attribute_docstrings=False,
        # Build each schema on its first validation: a config uses only some.
        defer_build=True,
    )


class OpenModel(StrictModel):
    """A ``{type: Name, ...}`` mapping whose other keys pass through to Keras."""

    model_config = ConfigDict(extra="allow")


ImportPath = Annotated[
    str,
    Field(
        pattern=IMPORT_PATH_PATTERN,
        description="An import path `package.module:name`.",
        examples=["my_project.hooks:log_epoch"],
    ),
]
Monitor = Annotated[
    str,
    Field(
        min_length=1,
        description="Quantity to monitor: `loss`, a compiled metric's name, "
        "`learning_rate`, or `val_` + one of those.",
    ),
]


def check_name(kind: str, value: str, *tables: Iterable[str]) -> str:
    """Return ``value`` if one of ``tables`` holds it or it is an import path.

    Args:
        kind: What the name names, for the message, e.g. ``optimizer``.
        value: The name as written in the config.
        tables: The names Keras knows, e.g. ``keras_names.OPTIMIZERS``.

    Raises:
        PydanticCustomError: ``unknown_name``, suggesting the closest name.
    """
    names = [name for table in tables for name in table]
    if value in names or IMPORT_PATH_RE.match(value):
        return value
    raise unknown_name_error(kind, value, names)


def known_name(kind: str, *tables: Iterable[str]) -> AfterValidator:
    """Check a ``type`` field with :func:`check_name`, as ``Annotated`` metadata.

    Example:
        ``type: Annotated[str, known_name("optimizer", OPTIMIZERS)]``
    """
    return AfterValidator(lambda value: check_name(kind, value, *tables))


Mode = Literal["auto", "min", "max"]
Verbose = Literal[0, 1]
SaveFreq = Literal["epoch"] | Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]


def model_fields_in_order(model: type[BaseModel]) -> list[str]:
    """Return a schema's field names in declaration order."""
    return list(model.model_fields)


def default_of(model: type[BaseModel], name: str) -> Any:
    """Return the default of field ``name`` (``...`` when it is required)."""
    info = model.model_fields[name]
    return ... if info.is_required() else info.get_default(call_default_factory=True)
