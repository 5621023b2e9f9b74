"""Schema of ``keras.callbacks.History``."""

from __future__ import annotations

from typing import ClassVar, Literal

from cbrun.config.callbacks.base import CallbackSchema


class HistorySchema(CallbackSchema):
    """Record every epoch's logs; Keras adds it to every ``fit`` itself.

    cbrun writes it as ``history.json`` in the run dir in any case; listing it
    is accepted and adds nothing.

    Example:
        ``{type: History}``
    """

    keras_class: ClassVar[str | None] = "History"
    summary: ClassVar[str] = "Record logs per epoch (always on: history.json)."

    type: Literal["History"]
