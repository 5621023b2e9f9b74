"""cbrun's own bookkeeping callback: history.json and run.json at every epoch."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras


class RunRecorder(keras.callbacks.Callback):
    """Keep the epoch logs and hand them to ``on_epoch`` after every epoch.

    It runs last, so it sees the logs after every other callback has added to
    them (``learning_rate``, BaseLogger's averages). Its cost is one dict copy
    and two small atomic file writes per epoch.

    Args:
        monitor: The quantity whose best value is tracked.
        maximize: Whether larger is better for ``monitor``.
        on_epoch: Called with ``(epochs_run, history, best)`` after each epoch.
        initial_history: History to append to (a resumed run).
        initial_best: The best so far (a resumed run).
    """

    def __init__(
        self,
        monitor: str,
        maximize: bool,
        on_epoch: Callable[[int, dict[str, list[float]], dict[str, Any] | None], None],
        initial_history: dict[str, list[float]] | None = None,
        initial_best: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.maximize = maximize
        self.on_epoch = on_epoch
        self.history: dict[str, list[float]] = {
            k: list(v) for k, v in (initial_history or {}).items()
        }
        self.best: dict[str, Any] | None = initial_best
        self.epochs_run = max((len(v) for v in self.history.values()), default=0)
        self.last_logs: dict[str, float] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Record the epoch and write the files."""
        values = {key: float(value) for key, value in (logs or {}).items()}
        self.last_logs = values
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        self.epochs_run = epoch + 1
        current = values.get(self.monitor)
        if current is not None and math.isfinite(current):
            best = None if self.best is None else self.best["value"]
            if best is None or (current > best if self.maximize else current < best):
                self.best = {
                    "monitor": self.monitor,
                    "value": current,
                    "epoch": epoch + 1,
                }
        self.on_epoch(self.epochs_run, self.history, self.best)
