"""Schema of ``keras.callbacks.CSVLogger``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.callbacks.base import CallbackSchema


class CSVLoggerSchema(CallbackSchema):
    """Stream each epoch's logs to a CSV file.

    A relative ``filename`` resolves inside the run dir, whose folders cbrun
    creates (Keras does not).

    Args:
        filename: The CSV file; required.
        separator: Column separator. Defaults to ``","``.
        append: Append to an existing file instead of overwriting it.
            Defaults to False.

    Example:
        ``{type: CSVLogger, filename: log.csv}``
    """

    keras_class: ClassVar[str | None] = "CSVLogger"
    path_fields: ClassVar[tuple[str, ...]] = ("filename",)
    summary: ClassVar[str] = "Stream each epoch's logs to a CSV file."

    type: Literal["CSVLogger"]
    filename: str = Field(min_length=1, description="The CSV file.")
    separator: str = Field(
        ",", min_length=1, max_length=1, description="Column separator."
    )
    append: bool = Field(False, description="Append instead of overwriting.")
