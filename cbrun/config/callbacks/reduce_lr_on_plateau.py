"""Schema of ``keras.callbacks.ReduceLROnPlateau``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.base import Mode, Monitor, NonNegativeInt, Verbose
from cbrun.config.callbacks.base import CallbackSchema


class ReduceLROnPlateauSchema(CallbackSchema):
    """Reduce the learning rate when a metric has stopped improving.

    Keras 3 accepts but silently ignores the TF 1 parameter ``epsilon``; cbrun
    rejects it and points to ``min_delta``.

    Args:
        monitor: Quantity to be monitored. Defaults to ``"val_loss"``.
        factor: Factor by which the learning rate is reduced,
            ``new_lr = lr * factor``; in (0, 1). Defaults to 0.1.
        patience: Epochs with no improvement after which the rate is reduced.
            Defaults to 10.
        verbose: 1 prints a message on each reduction. Defaults to 0.
        mode: ``auto``, ``min`` or ``max``. Defaults to ``"auto"``.
        min_delta: Threshold for a new optimum. Defaults to 0.0001.
        cooldown: Epochs to wait after a reduction. Defaults to 0.
        min_lr: Lower bound on the learning rate. Defaults to 0.0.

    Example:
        ``{type: ReduceLROnPlateau, monitor: val_loss, factor: 0.2, patience: 5}``
    """

    keras_class: ClassVar[str | None] = "ReduceLROnPlateau"
    monitor_fields: ClassVar[tuple[str, ...]] = ("monitor",)
    removed_parameters: ClassVar[dict[str, str]] = {
        "epsilon": "Keras 3 silently ignores `epsilon`; write `min_delta` instead",
    }
    summary: ClassVar[str] = "Reduce the learning rate when a metric plateaus."

    type: Literal["ReduceLROnPlateau"]
    monitor: Monitor = "val_loss"
    factor: float = Field(
        0.1, gt=0, lt=1, description="new_lr = lr * factor; must be in (0, 1)."
    )
    patience: NonNegativeInt = Field(
        10, description="Epochs with no improvement before the rate is reduced."
    )
    verbose: Verbose = Field(0, description="1: print each reduction.")
    mode: Mode = Field("auto", description="`min`, `max`, or `auto` from the name.")
    min_delta: float = Field(
        0.0001, ge=0, description="Threshold for measuring the new optimum."
    )
    cooldown: NonNegativeInt = Field(
        0, description="Epochs to wait before resuming normal operation."
    )
    min_lr: float = Field(0.0, ge=0, description="Lower bound on the learning rate.")
