"""TF 2.0's ``BaseLogger``, which Keras 3 removed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import keras


class BaseLogger(keras.callbacks.Callback):
    """Average batch logs into the epoch logs, as TF 2.0's ``BaseLogger`` did.

    Each metric's epoch value becomes the batch-size-weighted mean of its
    batch values; ``stateful_metrics`` keep their last batch value. Note that
    Keras 3 already reports running means in batch logs, so for exact epoch
    values list your metrics in ``stateful_metrics``.

    Args:
        stateful_metrics: Names not to average. Defaults to None.
        batch_size_of: Gives the number of samples in batch ``i`` (Keras 3
            logs do not carry TF 2.0's ``size``). Defaults to 1 per batch.
    """

    def __init__(
        self,
        stateful_metrics: Iterable[str] | None = None,
        batch_size_of: Callable[[int], int] | None = None,
    ) -> None:
        super().__init__()
        self.stateful_metrics = set(stateful_metrics or ())
        self._batch_size_of = batch_size_of or (lambda batch: 1)
        self._seen = 0
        self._totals: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Reset the sums."""
        self._seen = 0
        self._totals = {}
        self._last = {}

    def on_train_batch_end(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        """Add one batch's values, weighted by its size."""
        size = self._batch_size_of(batch)
        self._seen += size
        for key, value in (logs or {}).items():
            number = float(value)
            if key in self.stateful_metrics:
                self._last[key] = number
            else:
                self._totals[key] = self._totals.get(key, 0.0) + number * size

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Write the averages (and last values) into the epoch logs."""
        if logs is None or not self._seen:
            return
        for key, total in self._totals.items():
            logs[key] = total / self._seen
        logs.update(self._last)
