"""Create the Keras callbacks a config lists.

One builder per callback where cbrun adds behaviour; plain
``getattr(keras.callbacks, type)(**params)`` where it does not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from cbrun.config.callbacks import CallbackSchema, CustomCallbackSchema
from cbrun.config.callbacks.base_logger import BaseLoggerSchema
from cbrun.config.callbacks.learning_rate_scheduler import (
    LearningRateSchedulerSchema,
    ScheduleFunction,
)
from cbrun.config.callbacks.model_checkpoint import ModelCheckpointSchema
from cbrun.config.expressions import parse_schedule
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.compat.base_logger import BaseLogger
from cbrun.keras.compat.model_checkpoint import PeriodicModelCheckpoint
from cbrun.keras.imports import check_parameters, import_object
from cbrun.runs.layout import resolve_inside


@dataclass
class BuildContext:
    """What the builders need beyond a callback's own parameters.

    Attributes:
        run_dir: Relative paths resolve inside it.
        train_samples: Training samples per epoch (after validation_split).
        batch_size: fit's batch size.
        resumed_epochs: For a resumed run, the epochs already finished: logs
            are appended to, cut to that many epochs first.
    """

    run_dir: Path
    train_samples: int
    batch_size: int
    resumed_epochs: int | None = None


def _resolve_paths(
    schema: CallbackSchema,
    params: dict[str, Any],
    context: BuildContext,
    where: ConfigPath,
) -> dict[str, Any]:
    for field in schema.path_fields:
        try:
            target = resolve_inside(context.run_dir, params[field])
        except ValueError as exc:
            raise BuildError(str(exc), (*where, field)) from None
        # A file's folder, or the folder itself, must exist: CSVLogger and
        # checkpoints do not create their folders.
        folder = (
            target if field in ("log_dir", "backup_dir", "directory") else target.parent
        )
        folder.mkdir(parents=True, exist_ok=True)
        params[field] = str(target)
    return params


def _schedule_function(
    schema: LearningRateSchedulerSchema, where: ConfigPath
) -> Callable[[int, float], float]:
    if isinstance(schema.schedule, ScheduleFunction):
        function = import_object(schema.schedule.function, (*where, "schedule"))
        if not callable(function):
            raise BuildError(
                f"{schema.schedule.function} is not a function", (*where, "schedule")
            )
        return function
    return parse_schedule(schema.schedule)


@dataclass
class _Request:
    """One callback to build: its schema, Keras parameters, context and place."""

    schema: CallbackSchema
    params: dict[str, Any]
    context: BuildContext
    where: ConfigPath


def _build_scheduler(request: _Request) -> keras.callbacks.Callback:
    schema = request.schema
    assert isinstance(schema, LearningRateSchedulerSchema)
    return keras.callbacks.LearningRateScheduler(
        _schedule_function(schema, request.where), verbose=schema.verbose
    )


def _build_lambda(request: _Request) -> keras.callbacks.Callback:
    hooks = {
        name: import_object(value, (*request.where, name))
        for name, value in request.params.items()
        if value is not None
    }
    return keras.callbacks.LambdaCallback(**hooks)


def _build_checkpoint(request: _Request) -> keras.callbacks.Callback:
    schema = request.schema
    assert isinstance(schema, ModelCheckpointSchema)
    return PeriodicModelCheckpoint(
        period=schema.period,
        load_weights_on_restart=schema.load_weights_on_restart,
        **request.params,
    )


def _build_base_logger(request: _Request) -> keras.callbacks.Callback:
    schema = request.schema
    assert isinstance(schema, BaseLoggerSchema)
    samples, size = request.context.train_samples, request.context.batch_size

    def batch_size_of(batch: int) -> int:
        return max(1, min(size, samples - batch * size))

    return BaseLogger(schema.stateful_metrics, batch_size_of=batch_size_of)


def _build_custom(request: _Request) -> keras.callbacks.Callback:
    name, params, where = request.schema.type, request.params, request.where
    cls = import_object(name, (*where, "type"))
    if not (inspect.isclass(cls) and issubclass(cls, keras.callbacks.Callback)):
        raise BuildError(
            f"{name} is not a keras.callbacks.Callback subclass", (*where, "type")
        )
    check_parameters(cls, params, where, name)
    try:
        return cls(**params)
    except Exception as exc:
        raise BuildError(
            f"{name}({', '.join(f'{k}={v!r}' for k, v in params.items())}) "
            f"raised {type(exc).__name__}: {exc}",
            where,
        ) from None


def _build_csv_logger(request: _Request) -> keras.callbacks.Callback:
    params, resumed = request.params, request.context.resumed_epochs
    if resumed is not None:
        _cut_csv(Path(params["filename"]), resumed)
        params = {**params, "append": True}
    return keras.callbacks.CSVLogger(**params)


def _cut_csv(path: Path, epochs: int) -> None:
    """Keep the header and the first ``epochs`` rows of a CSV log."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[: 1 + epochs]), encoding="utf-8")


def _build_plain(request: _Request) -> keras.callbacks.Callback:
    """A Keras callback cbrun adds nothing to: its class with the parameters."""
    name, where = request.schema.type, request.where
    cls = getattr(keras.callbacks, name)
    try:
        return cls(**request.params)
    except (ImportError, ModuleNotFoundError) as exc:
        raise BuildError(
            f"{name} needs a package that is not installed: {exc}", where
        ) from None
    except (ValueError, TypeError) as exc:
        raise BuildError(f"{name}: {exc}", where) from None


_BUILDERS: dict[str, Callable[[_Request], keras.callbacks.Callback]] = {
    "CSVLogger": _build_csv_logger,
    "LearningRateScheduler": _build_scheduler,
    "LambdaCallback": _build_lambda,
    "ModelCheckpoint": _build_checkpoint,
    "BaseLogger": _build_base_logger,
}


def _build_one(
    schema: CallbackSchema, context: BuildContext, where: ConfigPath
) -> keras.callbacks.Callback:
    params = _resolve_paths(schema, schema.keras_parameters(), context, where)
    request = _Request(schema, params, context, where)
    if isinstance(schema, CustomCallbackSchema):
        return _build_custom(request)
    return _BUILDERS.get(schema.type, _build_plain)(request)


def build_callbacks(
    schemas: list[CallbackSchema], context: BuildContext
) -> list[tuple[int, keras.callbacks.Callback]]:
    """Create every callback, each with its index in the config's list.

    ``History`` is skipped: Keras adds one to every ``fit`` and cbrun records
    it as history.json anyway. ``BaseLogger`` goes first, as in TF 2.0, so
    that every other callback (CSVLogger, TensorBoard, ...) logs the same
    averaged values as History; the rest keep the config's order.

    Returns:
        ``(config index, callback)`` pairs in the order ``fit`` gets them.

    Raises:
        BuildError: At the callback's line, for anything Keras or the user's
            code refuses.
    """
    built = [
        (index, _build_one(schema, context, ("callbacks", index)))
        for index, schema in enumerate(schemas)
        if schema.type != "History"
    ]
    loggers = [pair for pair in built if isinstance(pair[1], BaseLogger)]
    return loggers + [pair for pair in built if not isinstance(pair[1], BaseLogger)]
