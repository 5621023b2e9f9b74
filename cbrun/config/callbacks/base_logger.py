"""Schema of cbrun's ``BaseLogger``, the TF 2.0 callback Keras 3 removed."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.callbacks.base import CallbackSchema


class BaseLoggerSchema(CallbackSchema):
    """Average batch logs into epoch logs, as TF 2.0's ``BaseLogger`` did.

    Keras 3 removed it; cbrun implements it with the same semantics: each
    metric's epoch value is the batch-size-weighted mean of its batch values,
    except the ``stateful_metrics``, which take their last batch value.

    Args:
        stateful_metrics: Metric names that must not be averaged. Defaults
            to None.

    Example:
        ``{type: BaseLogger, stateful_metrics: [accuracy]}``
    """

    keras_class: ClassVar[str | None] = None
    summary: ClassVar[str] = "cbrun: TF 2.0's BaseLogger (epoch means of batch logs)."

    type: Literal["BaseLogger"]
    stateful_metrics: list[str] | None = Field(
        None, description="Metric names taken as their last value, not averaged."
    )
