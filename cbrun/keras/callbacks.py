"""Create the Keras callbacks a config lists.

One builder per callback where cbrun adds behaviour; plain
``getattr(keras.callbacks, type)(**params)`` where it does not.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from cbrun.atomic import open_regular
from cbrun.config.callback_outputs import (
    DELETING_FIELDS,
    character_problem,
    own_name_problem,
)
from cbrun.config.callbacks import CallbackSchema, CustomCallbackSchema
from cbrun.config.callbacks.base_logger import BaseLoggerSchema
from cbrun.config.callbacks.learning_rate_scheduler import (
    LearningRateSchedulerSchema,
    ScheduleFunction,
)
from cbrun.config.callbacks.model_checkpoint import ModelCheckpointSchema
from cbrun.config.expressions import parse_schedule
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.backup import OwnedBackupAndRestore, deleted_folder_problem
from cbrun.keras.compat.base_logger import BaseLogger
from cbrun.keras.compat.model_checkpoint import PeriodicModelCheckpoint
from cbrun.keras.imports import check_parameters, import_object
from cbrun.keras.values import check_function_strings, with_functions
from cbrun.runs.layout import OWN_NAMES as LAYOUT_NAMES
from cbrun.runs.layout import RUN_FILE, resolve_inside
from cbrun.suggest import shown


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
        target = _output_path(schema.type, field, params[field], context, where)
        # A file's folder, or the folder itself, must exist: CSVLogger and
        # checkpoints do not create their folders. A folder the callback
        # deletes is created when training begins (OwnedBackupAndRestore).
        folder = target if field == "log_dir" else target.parent
        folder.mkdir(parents=True, exist_ok=True)
        params[field] = str(target)
    return params


def _output_path(
    kind: str, field: str, value: str, context: BuildContext, where: ConfigPath
) -> Path:
    """Resolve an output path against the run dir, checking it again.

    ``cbrun validate`` checked the path as written; here the run dir is known,
    so an absolute path into it (or into another run dir) is caught too, and
    whether a folder the callback deletes exists already.

    Raises:
        BuildError: At the path's place, with the reason.
    """
    place = (*where, field)
    reason = character_problem(value)
    if reason is None:
        try:
            target = resolve_inside(context.run_dir, value)
        except ValueError as exc:
            raise BuildError(str(exc), place) from None
        reason = _own_file_problem(context.run_dir, target)
    if reason is None and DELETING_FIELDS.get(kind) == field:
        resuming = context.resumed_epochs is not None
        reason = deleted_folder_problem(target, context.run_dir, resuming=resuming)
    if reason is not None:
        raise BuildError(f"{shown(value)} {reason}", place)
    return target


def _own_file_problem(run_dir: Path, target: Path) -> str | None:
    """Why ``target`` is a run dir or a file cbrun writes in one, or None.

    Judged against this run's dir and any run dir above ``target`` (one with a
    run.json), both as written and with symlinks resolved.
    """
    for resolve in (os.path.abspath, os.path.realpath):
        path = Path(resolve(target))
        bases = [Path(resolve(run_dir))]
        bases += [p for p in path.parents if (p / RUN_FILE).is_file()]
        for base in bases:
            if not path.is_relative_to(base):
                continue
            relative = path.relative_to(base).as_posix()
            reason = own_name_problem(relative)
            first = relative.split("/")[0].casefold()
            if reason is None and first in {n.casefold() for n in LAYOUT_NAMES}:
                # layout's names, should they ever outgrow config's copy
                reason = f"is cbrun's own {relative!r} in the run directory"
            if reason is not None:
                return reason.replace("the run directory", f"run directory {base}")
    return None


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
    # `schedule: pkg.mod:fn` would reach the class as a string.
    check_function_strings(cls, params, where, name)
    params = with_functions(params, where)
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
    with open_regular(path) as file:  # Never a FIFO or a device.
        text = file.read().decode("utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    path.write_text("".join(lines[: 1 + epochs]), encoding="utf-8")


def _build_backup(request: _Request) -> keras.callbacks.Callback:
    context = request.context
    return OwnedBackupAndRestore(
        run_dir=context.run_dir,
        resuming=context.resumed_epochs is not None,
        **request.params,
    )


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
    "BackupAndRestore": _build_backup,
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
