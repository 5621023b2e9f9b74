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
from cbrun.config.training import MetricObject, MetricSpec, metrics_by_output


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

    With several outputs Keras logs ``<output>_<metric>`` for each output's
    metrics, and ``<output>_loss`` for each output's loss when more than one
    output has a loss (besides the total ``loss``).

    Returns:
        The names as Keras logs them, each known name's direction (``up`` or
        ``down``), and whether the list is complete: False when a metric comes
        from user code, whose logged name cannot be known without importing it,
        or when the model's outputs cannot be known without building it.
    """
    names: list[str] = []
    directions: dict[str, str] = {}
    complete = True
    spec = config.compile
    outputs = config.model.output_names()
    for loss_output in _loss_outputs(config, outputs):
        names.append(f"{loss_output}_loss")
        directions[f"{loss_output}_loss"] = "down"
    for setting, weighted in ((spec.metrics, False), (spec.weighted_metrics, True)):
        by_output = metrics_by_output(setting)
        several = outputs is not None and len(outputs) > 1
        if by_output is not None and outputs is None:
            several = len(by_output) > 1
            complete = complete and len(by_output) > 1
        if by_output is None:
            by_output = {"": list(setting or [])}
        for output, metrics in by_output.items():
            prefix = f"{output}_" if several and output else ""
            for metric in metrics:
                name, direction = _log_name(metric)
                if name is None:
                    complete = False
                    continue
                logged = prefix + name
                if weighted and logged in names:
                    # Keras renames a weighted metric that has an unweighted
                    # metric's name (compile_utils.CompileMetrics.result).
                    logged = f"{prefix}weighted_{name}"
                names.append(logged)
                if direction:
                    directions[logged] = direction
    return names, directions, complete


def _log_name(spec: MetricSpec) -> tuple[str | None, str | None]:
    """A metric's logged name and its direction, when known without Keras."""
    if isinstance(spec, MetricObject):
        default = METRIC_CLASS_LOG_NAMES.get(spec.type)
        name = (spec.model_extra or {}).get("name", default)
        return (name if isinstance(name, str) else None), METRIC_DIRECTIONS.get(
            default or ""
        )
    name = METRIC_LOG_NAMES.get(spec)
    return name, METRIC_DIRECTIONS.get(name or "")


def _loss_outputs(config: ExperimentConfig, outputs: list[str] | None) -> list[str]:
    """The outputs Keras logs a loss of their own for (none with one loss)."""
    loss = config.compile.loss
    if isinstance(loss, dict):
        with_loss = list(loss)
    elif loss is not None and outputs is not None:
        with_loss = list(outputs)
    else:
        with_loss = []
    return with_loss if len(with_loss) > 1 else []


def has_validation(config: ExperimentConfig) -> bool:
    """Whether fit validates, so that ``val_`` quantities are logged."""
    fit = config.fit
    if config.data.source == "timeseries" and config.data.split.validation > 0:
        return True  # the source's chronological validation split
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
