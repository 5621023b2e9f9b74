"""A trial's per-epoch report to its pruner (the Optuna half of pruning).

The Keras half, :class:`cbrun.keras.pruning.PruningCallback`, calls the
function made here after every epoch; steps are epochs counted from 0, as
Optuna's own Keras integration reports them.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna


def reporter(trial: optuna.Trial) -> Callable[[int, float], bool]:
    """``report(epoch, value) -> prune?`` for ``trial``; ``epoch`` counts from 1."""

    def report(epoch: int, value: float) -> bool:
        trial.report(value, step=epoch - 1)
        return trial.should_prune()

    return report
