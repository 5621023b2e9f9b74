"""Schema of ``keras.callbacks.SwapEMAWeights``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.callbacks.base import CallbackSchema


class SwapEMAWeightsSchema(CallbackSchema):
    """Evaluate (and optionally checkpoint) with the optimizer's EMA weights.

    The optimizer needs ``use_ema: true``.

    Args:
        swap_on_epoch: Also swap at epoch ends, so that checkpoints hold the
            EMA weights. Defaults to False.

    Example:
        ``{type: SwapEMAWeights, swap_on_epoch: true}``
    """

    keras_class: ClassVar[str | None] = "SwapEMAWeights"
    summary: ClassVar[str] = "Evaluate with the optimizer's EMA weights."

    type: Literal["SwapEMAWeights"]
    swap_on_epoch: bool = Field(
        False, description="Swap at epoch ends too (checkpoints get EMA weights)."
    )
