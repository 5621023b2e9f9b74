"""Shared pieces of the pydantic schemas: strict models and common field types."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
