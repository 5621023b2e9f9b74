"""Schema of ``keras.callbacks.EarlyStopping``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.base import Mode, Monitor, NonNegativeInt, Verbose
from cbrun.config.callbacks.base import CallbackSchema


class EarlyStoppingSchema(CallbackSchema):
    """Stop training when a monitored metric has stopped improving.

    cbrun records the stop epoch, the best value and its epoch in ``run.json``
    and ends the run with status ``stopped_early`` (exit code 0).

    Args:
        monitor: Quantity to be monitored. Defaults to ``"val_loss"``.
        min_delta: Minimum change to qualify as an improvement. Defaults to 0.
        patience: Epochs with no improvement after which training stops.
            Defaults to 0.
        verbose: 1 prints a message when the callback acts. Defaults to 0.
        mode: ``auto``, ``min`` or ``max``. Defaults to ``"auto"``.
        baseline: Value the monitored quantity must beat. Defaults to None.
        restore_best_weights: Restore the weights of the best epoch when
            training stops. Defaults to False.
        start_from_epoch: Epochs to wait before watching for improvement.
            Defaults to 0.

    Example:
        ``{type: EarlyStopping, monitor: val_accuracy, patience: 3}``
    """

    keras_class: ClassVar[str | None] = "EarlyStopping"
    monitor_fields: ClassVar[tuple[str, ...]] = ("monitor",)
    summary: ClassVar[str] = "Stop training when a monitored metric stops improving."

    type: Literal["EarlyStopping"]
    monitor: Monitor = "val_loss"
    min_delta: float = Field(
        0, ge=0, description="Minimum change that counts as an improvement."
    )
    patience: NonNegativeInt = Field(
        0, description="Epochs with no improvement after which training stops."
    )
    verbose: Verbose = Field(0, description="1: print when the callback acts.")
    mode: Mode = Field("auto", description="`min`, `max`, or `auto` from the name.")
    baseline: float | None = Field(
        None, description="Baseline value the monitored quantity must beat."
    )
    restore_best_weights: bool = Field(
        False, description="Restore the best epoch's weights when training stops."
    )
    start_from_epoch: NonNegativeInt = Field(
        0, description="Warm-up epochs before improvement is watched."
    )
