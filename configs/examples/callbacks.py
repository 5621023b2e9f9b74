"""The tutorial's custom callback, as a config names it.

``configs/custom_callback.yaml`` names it ``examples.callbacks:StopAtAccuracy``.
"""

from __future__ import annotations

from typing import Any

import keras


class StopAtAccuracy(keras.callbacks.Callback):
    """Stop training once an epoch's accuracy reaches a target.

    Args:
        target: The accuracy to reach, in (0, 1]. Defaults to 0.99.
        monitor: The logged metric to watch. Defaults to ``"accuracy"``.
    """

    def __init__(self, target: float = 0.99, monitor: str = "accuracy") -> None:
        super().__init__()
        if not 0 < target <= 1:
            raise ValueError(f"target must be in (0, 1], got {target}")
        self.target = target
        self.monitor = monitor
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Stop when the monitored accuracy reaches the target."""
        value = (logs or {}).get(self.monitor)
        if value is not None and value >= self.target:
            self.stopped_epoch = epoch
            self.model.stop_training = True
