"""Schema of ``keras.callbacks.TerminateOnNaN``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.callbacks.base import CallbackSchema


class TerminateOnNaNSchema(CallbackSchema):
    """Stop training when the loss becomes NaN or infinite.

    cbrun ends such a run with status ``terminated_nan`` and exit code 3.

    Args:
        raise_error: Raise an error instead of stopping quietly. Defaults to
            False.

    Example:
        ``{type: TerminateOnNaN}``
    """

    keras_class: ClassVar[str | None] = "TerminateOnNaN"
    summary: ClassVar[str] = "Stop training when the loss becomes NaN."

    type: Literal["TerminateOnNaN"]
    raise_error: bool = Field(
        False, description="Raise an error instead of stopping quietly."
    )
