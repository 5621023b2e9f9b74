"""A sweep's pruning callback: report the metric each epoch, stop when told.

Optuna-free: the sweep engine (:mod:`cbrun.sweeper`) hands it a ``report``
function that feeds the pruner and answers whether to stop, so this module
knows Keras and nothing of the engine (design section 10).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras

PRUNED = "pruned"
"""The run status (``cbrun.runs.manifest.PRUNED``; the Keras side may not import it)."""

Report = Callable[[int, float], bool]
"""``report(epoch, value) -> prune?``; ``epoch`` counts from 1."""


class PruningCallback(keras.callbacks.Callback):
    """Report ``metric`` after every epoch; stop training when the pruner says so.

    The epoch that was reported is kept whole: training stops after it, the
    run records its history and ends with status ``pruned``
    (:attr:`ended`, read by :func:`cbrun.training.outcome.classify`).

    Args:
        metric: The logged quantity to report, e.g. ``val_accuracy``.
        report: Called as ``report(epoch, value)`` (epochs count from 1);
            returns True to prune.
        pruner: The pruner's name, for the stop reason.

    Attributes:
        ended: ``("pruned", reason)`` once pruned, else None.
        missing: True when an epoch's logs lacked ``metric``.

    Example:
        ``PruningCallback("val_loss", lambda epoch, value: value > 1.0, "median")``
    """

    def __init__(self, metric: str, report: Report, pruner: str) -> None:
        super().__init__()
        self.metric = metric
        self.report = report
        self.pruner = pruner
        self.ended: tuple[str, str] | None = None
        self.missing = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report this epoch's value; ask the model to stop if pruned."""
        value = (logs or {}).get(self.metric)
        if value is None:
            self.missing = True
            return
        value = float(value)
        if not math.isfinite(value):  # a NaN is the run's to handle, not the pruner's
            return
        if self.ended is None and self.report(epoch + 1, value):
            self.ended = (
                PRUNED,
                f"pruned by the {self.pruner} pruner after epoch {epoch + 1} "
                f"({self.metric} {value:.6g})",
            )
            self.model.stop_training = True
