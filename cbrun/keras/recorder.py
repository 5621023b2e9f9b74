"""cbrun's own bookkeeping callback: history.json and run.json during training."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import keras

from cbrun.keras.budget import CostBudget

# Writing history.json and run.json takes ~1.3 ms; at this share of the
# training time they are rewritten every epoch once epochs take ~0.7 s, and
# every few epochs (about twice a second) when epochs are shorter.
RECORD_SHARE = 0.002


class _Backup(Protocol):
    saved_epoch: int | None


class RunRecorder(keras.callbacks.Callback):
    """Keep the epoch logs and hand them to ``on_epoch`` when it costs little.

    It runs last, so it sees the logs after every other callback has added to
    them (``learning_rate``, BaseLogger's averages). Every epoch is kept in
    memory; ``on_epoch`` (the file writes) is called after the first epoch,
    after every epoch the backup saved (so a resume finds the history of its
    epoch) and otherwise when its last call took at most ``share`` of the
    time since, and at the end of training for the epochs not written yet.

    Args:
        monitor: The quantity whose best value is tracked.
        maximize: Whether larger is better for ``monitor``.
        on_epoch: Called with ``(epochs_run, history, best)``.
        initial_history: History to append to (a resumed run).
        initial_best: The best so far (a resumed run).
        initial_stages: The stage of each epoch in ``initial_history`` (a
            resumed staged run).
        backup: The run's backup callback (placed before this one), or None.
        share: The most of training time ``on_epoch`` may take; None calls it
            after every epoch. Defaults to :data:`RECORD_SHARE`.
    """

    def __init__(
        self,
        monitor: str,
        maximize: bool,
        on_epoch: Callable[[int, dict[str, list[float]], dict[str, Any] | None], None],
        initial_history: dict[str, list[float]] | None = None,
        initial_best: dict[str, Any] | None = None,
        backup: _Backup | None = None,
        share: float | None = RECORD_SHARE,
        initial_stages: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.maximize = maximize
        self.on_epoch = on_epoch
        self.backup = backup
        self.budget = CostBudget(share)
        self.history: dict[str, list[float]] = {
            k: list(v) for k, v in (initial_history or {}).items()
        }
        self.best: dict[str, Any] | None = initial_best
        self.epochs_run = max((len(v) for v in self.history.values()), default=0)
        self.epochs_written = self.epochs_run
        self.last_logs: dict[str, float] = {}
        # A staged run's: the stage training now, and the stage of each epoch.
        self.stage: str | None = None
        self.stages: list[str] = list(initial_stages or [])

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start the budget's clock."""
        self.budget.restart()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Record the epoch; write the files if due."""
        values = {key: float(value) for key, value in (logs or {}).items()}
        self.last_logs = values
        self._append(values)
        self.epochs_run = epoch + 1
        if self.stage is not None:
            self.stages.append(self.stage)
        current = values.get(self.monitor)
        if current is not None and math.isfinite(current):
            best = None if self.best is None else self.best["value"]
            if best is None or (current > best if self.maximize else current < best):
                self.best = {
                    "monitor": self.monitor,
                    "value": current,
                    "epoch": epoch + 1,
                }
        backed_up = self.backup is not None and self.backup.saved_epoch == epoch + 1
        if backed_up or self.budget.allows():
            self._write()

    def _append(self, values: dict[str, float]) -> None:
        """Add one epoch to every list, NaN (null in history.json) where absent.

        Keras logs ``val_*`` only in the epochs it validates
        (``validation_freq``), so its lists would be shorter than the
        epochs: every list keeps one entry per epoch instead, and a metric
        first logged now is NaN for the epochs before.
        """
        rows = max((len(v) for v in self.history.values()), default=0)
        for key in self.history.keys() - values.keys():
            self.history[key].append(math.nan)
        for key, value in values.items():
            column = self.history.setdefault(key, [])
            column.extend([math.nan] * (rows - len(column)))
            column.append(value)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Write the epochs not written yet, before evaluate() and save()."""
        if self.epochs_written < self.epochs_run:
            self._write()

    def _write(self) -> None:
        with self.budget.spend():
            self.on_epoch(self.epochs_run, self.history, self.best)
        self.epochs_written = self.epochs_run
