"""Schema of ``keras.callbacks.LearningRateScheduler``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from cbrun.config.base import ImportPath, StrictModel, Verbose
from cbrun.config.callbacks.base import CallbackSchema
from cbrun.config.expressions import ExpressionError, parse_schedule


class ScheduleFunction(StrictModel):
    """A schedule given as an import path instead of an expression."""

    function: ImportPath


class LearningRateSchedulerSchema(CallbackSchema):
    """Set the learning rate at the start of every epoch from a schedule.

    The learning rate is logged as ``learning_rate``.

    Args:
        schedule: A safe expression of ``epoch`` (from 0) and ``lr`` (the
            current rate), e.g.
            ``"0.001 if epoch < 10 else 0.001 * exp(0.1 * (10 - epoch))"``, or
            ``{function: my_pkg.schedules:warmup}``, a function
            ``(epoch, lr) -> float``; required.
        verbose: 1 prints each update. Defaults to 0.

    Example:
        ``{type: LearningRateScheduler, schedule: "lr * 0.9"}``
    """

    keras_class: ClassVar[str | None] = "LearningRateScheduler"
    summary: ClassVar[str] = "Set the learning rate each epoch from a schedule."

    type: Literal["LearningRateScheduler"]
    schedule: str | ScheduleFunction = Field(
        description="Expression of `epoch` and `lr`, or {function: pkg.mod:fn}."
    )
    verbose: Verbose = Field(0, description="1: print each update.")

    @field_validator("schedule")
    @classmethod
    def _parse_expression(cls, value: str | ScheduleFunction) -> str | ScheduleFunction:
        if isinstance(value, str):
            try:
                parse_schedule(value)
            except ExpressionError as exc:
                raise PydanticCustomError(
                    "schedule_expression",
                    "{message}",
                    {"message": exc.message, "offset": exc.offset},
                ) from None
        return value
