"""Schema of ``keras.callbacks.ProgbarLogger``."""

from __future__ import annotations

from typing import ClassVar, Literal

from cbrun.config.callbacks.base import CallbackSchema


class ProgbarLoggerSchema(CallbackSchema):
    """Print metrics to stdout; takes no parameters in Keras 3.

    ``fit.verbose`` controls the progress bar; listing this callback is
    accepted for configs written against the TF 2.0 tutorial.

    Example:
        ``{type: ProgbarLogger}``
    """

    keras_class: ClassVar[str | None] = "ProgbarLogger"
    removed_parameters: ClassVar[dict[str, str]] = {
        "count_mode": "Keras 3 removed `count_mode` (the bar counts steps); delete it",
        "stateful_metrics": "Keras 3 removed `stateful_metrics` from "
        "ProgbarLogger; delete it",
    }
    summary: ClassVar[str] = "Print metrics to stdout (fit.verbose controls it)."

    type: Literal["ProgbarLogger"]
