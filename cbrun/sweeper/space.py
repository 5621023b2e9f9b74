"""The ``sweep.space`` section as Optuna suggestions, and as a grid.

Each key is a ``--set`` key (``compile.optimizer.learning_rate``), used as
the Optuna parameter's name, so a trial's ``params`` apply to the base config
as they are (:func:`cbrun.config.sweep_apply.apply_params`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import optuna

from cbrun.config.sweep import Choice, FloatRange, IntRange, SpaceItem


def suggest(trial: optuna.Trial, space: Mapping[str, SpaceItem]) -> dict[str, Any]:
    """Draw one value per space key from the trial's sampler.

    Args:
        trial: The trial being asked for.
        space: ``sweep.space``, key to range or choice.

    Returns:
        ``--set`` key to value, in the space's order.
    """
    params: dict[str, Any] = {}
    for key, item in space.items():
        if isinstance(item, FloatRange):
            low, high = item.bounds
            params[key] = trial.suggest_float(
                key, low, high, log=item.log, step=item.step
            )
        elif isinstance(item, IntRange):
            low_int, high_int = item.bounds
            params[key] = trial.suggest_int(
                key, low_int, high_int, step=item.step, log=item.log
            )
        else:
            params[key] = trial.suggest_categorical(key, item.values)
    return params


def grid(space: Mapping[str, SpaceItem]) -> dict[str, list[Any]]:
    """Every value of each (finite) space item, for Optuna's GridSampler.

    A float range with ``step`` lists ``low, low + step, ...`` up to
    ``high``, computed in decimal so that ``0.1`` steps stay exact.

    Raises:
        ValueError: An item is a float range without ``step`` (the schema
            refuses such a grid first).
    """
    values: dict[str, list[Any]] = {}
    for key, item in space.items():
        if isinstance(item, Choice):
            values[key] = list(item.values)
        elif isinstance(item, IntRange):
            low, high = item.bounds
            values[key] = list(range(low, high + 1, item.step))
        else:
            values[key] = _float_steps(key, item)
    return values


def _float_steps(key: str, item: FloatRange) -> list[float]:
    if item.step is None:
        raise ValueError(f"{key}: a float range needs a step to be a grid")
    low, high = (Decimal(repr(b)) for b in item.bounds)
    step = Decimal(repr(item.step))
    count = int((high - low) / step)
    return [float(low + step * n) for n in range(count + 1)]
