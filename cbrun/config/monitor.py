"""What a run logs, and which logged quantity its record calls best.

Both ``cbrun validate`` (a ``monitor`` the run will not log) and a training
run (the ``best`` in run.json) read these from the validated config, so the
rule for a metric's name and direction is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cbrun.config.experiment import ExperimentConfig
from cbrun.config.keras_names import (
    METRIC_CLASS_LOG_NAMES,
    METRIC_DIRECTIONS,
    METRIC_LOG_NAMES,
)
from cbrun.config.training import MetricObject


@dataclass(frozen=True)
class Monitor:
    """The quantity whose best value a run records.

    Attributes:
        name: The logged name, e.g. ``val_accuracy``.
        maximize: Whether larger is better.
    """

    name: str
    maximize: bool


def compiled_metrics(
    config: ExperimentConfig,
) -> tuple[list[str], dict[str, str], bool]:
    """The compiled metrics' logged names and their directions.

    Returns:
        The names as Keras logs them, each known name's direction (``up`` or
        ``down``), and whether the list is complete: False when a metric comes
        from user code, whose logged name cannot be known without importing it.
    """
    names: list[str] = []
    directions: dict[str, str] = {}
    complete = True
    for spec in config.compile.metrics or []:
        if isinstance(spec, MetricObject):
            default = METRIC_CLASS_LOG_NAMES.get(spec.type)
            name = (spec.model_extra or {}).get("name", default)
            direction = METRIC_DIRECTIONS.get(default or "")
        else:
            name = METRIC_LOG_NAMES.get(spec)
            direction = METRIC_DIRECTIONS.get(name or "")
        if not isinstance(name, str):
            complete = False
            continue
        names.append(name)
        if direction:
            directions[name] = direction
    return names, directions, complete


def has_validation(config: ExperimentConfig) -> bool:
    """Whether fit validates, so that ``val_`` quantities are logged."""
    fit = config.fit
    return bool(fit.validation_split) or fit.validation_data is not None


def run_monitor(config: ExperimentConfig) -> Monitor:
    """The first callback's monitored quantity, else ``val_loss`` or ``loss``.

    Its direction is the callback's ``mode`` when not ``auto``; otherwise the
    metric's known direction, and down for anything unknown (as Keras's
    ``auto`` does for losses).
    """
    for callback in config.callbacks:
        for field in callback.monitor_fields:
            name = getattr(callback, field)
            mode = getattr(callback, "mode", "auto")
            if mode != "auto":
                return Monitor(name, mode == "max")
            return Monitor(name, _direction(config, name) == "up")
    name = "val_loss" if has_validation(config) else "loss"
    return Monitor(name, maximize=False)


def _direction(config: ExperimentConfig, monitor: str) -> str:
    _, directions, _ = compiled_metrics(config)
    base = monitor.removeprefix("val_")
    return {"loss": "down", **directions}.get(base, "down")
