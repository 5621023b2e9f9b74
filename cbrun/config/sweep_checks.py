"""Check a ``sweep`` section against the config it searches, TF- and Optuna-free.

``cbrun validate`` reports, before any trial runs: a space key that
addresses no field of this config, a candidate value (a choice item, a
range's bounds) that the field's schema refuses, and a metric the run will
not log. :func:`sweep_objective` is what the engine optimizes.
"""

from __future__ import annotations

from typing import Literal

from cbrun.config.checks import _Checker
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.monitor import run_monitor

Direction = Literal["maximize", "minimize"]


def logged_names(experiment: ExperimentConfig) -> tuple[list[str], dict[str, str]]:
    """What the run logs, and each known name's direction (``up``/``down``)."""
    # The same rule `monitor:` is checked against (design.md section 2).
    names, directions, _ = _Checker(experiment, None, None).logged()  # type: ignore[arg-type]
    return names, directions


def sweep_objective(experiment: ExperimentConfig) -> tuple[str, Direction]:
    """The metric a sweep optimizes and which way.

    The metric is ``sweep.metric``, else the run's monitor: the first
    callback's ``monitor``, else ``val_loss`` (``loss`` without validation).
    The direction is ``sweep.direction``, else the callback's ``mode`` when
    the metric is its monitor and the mode is not ``auto``, else the
    metric's known direction (down for losses and unknown names).

    Args:
        experiment: A validated config (with or without a ``sweep`` section).

    Returns:
        The logged metric name and ``"maximize"`` or ``"minimize"``.
    """
    sweep = experiment.sweep
    monitor = run_monitor(experiment)
    metric = sweep.metric if sweep and sweep.metric else monitor.name
    if sweep and sweep.direction:
        return metric, sweep.direction
    if metric == monitor.name:
        maximize = monitor.maximize
    else:
        _, directions = logged_names(experiment)
        maximize = directions.get(metric.removeprefix("val_")) == "up"
    return metric, "maximize" if maximize else "minimize"
