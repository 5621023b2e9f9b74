"""The run record, ``run.json``, and the per-epoch ``history.json``.

Other tools read these files (design.md section 5): the field names are a
contract. Both files are rewritten atomically (see :mod:`cbrun.atomic`),
so a crash at any moment leaves the last complete record; non-finite floats
are written as ``null``.

Example:
    A training run records itself like this::

        manifest = RunManifest(run_dir)
        manifest.start("mnist", "mnist.yaml", seed=42, command=sys.argv)
        manifest.update(epochs_run=1, best={"monitor": "val_loss", ...})
        manifest.finish(COMPLETED)
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Final, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    with_config,
)
from pydantic_core import ErrorDetails

# pydantic validates only typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict, is_typeddict

from cbrun.atomic import (
    CorruptFileError,
    remove_stale_temps,
    write_json_atomic,
)
from cbrun.runs.layout import HISTORY_FILE, RUN_FILE
from cbrun.runs.reading import MAX_HISTORY_BYTES, MAX_RECORD_BYTES, load_json
from cbrun.suggest import shown

__all__ = [
    "COMPLETED",
    "FAILED",
    "FINAL_STATUSES",
    "INTERRUPTED",
    "PRUNED",
    "RUNNING",
    "STATUSES",
    "STOPPED_EARLY",
    "TERMINATED_NAN",
    "Best",
    "RunManifest",
    "RunRecord",
    "Versions",
    "load_history",
    "load_record",
    "now_iso",
    "versions",
    "write_history",
]


RUNNING: Final = "running"
COMPLETED: Final = "completed"
STOPPED_EARLY: Final = "stopped_early"
TERMINATED_NAN: Final = "terminated_nan"
FAILED: Final = "failed"
INTERRUPTED: Final = "interrupted"
PRUNED: Final = "pruned"
"""A sweep's trial that its pruner stopped after an epoch (history kept)."""
STATUSES: Final = (
    RUNNING,
    COMPLETED,
    STOPPED_EARLY,
    TERMINATED_NAN,
    FAILED,
    INTERRUPTED,
    PRUNED,
)
FINAL_STATUSES: Final = frozenset(STATUSES) - {RUNNING}

# Distributions that provide the `tensorflow` module, most common first.
_TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")


# Keys a newer cbrun adds inside these objects are kept: resuming rewrites
# the record, and must not drop them.
@with_config(ConfigDict(strict=True, extra="allow"))
class Best(TypedDict):
    """The best monitored value so far: ``{monitor, value, epoch}``."""

    monitor: str
    value: float | None
    epoch: int


# A process id as os.kill takes it (a C int); 0 and negatives mean groups.
_Pid = Annotated[int, Field(gt=0, lt=2**31)]
_Count = Annotated[int, Field(ge=0)]


@with_config(ConfigDict(strict=True, extra="allow"))
class Versions(TypedDict):
    """Installed versions; ``None`` when a distribution is not installed."""

    cbrun: str | None
    keras: str | None
    tensorflow: str | None
    python: str


class RunRecord(BaseModel):
    """The content of ``run.json``; names and meanings per design.md section 5.

    Fields are strict, as JSON types: ``"3"``, ``3.5`` and ``true`` are not
    integers. What the readers (``cbrun runs``, ``show``, ``compare``,
    ``plot``, ``--resume``) use inside nested objects is checked too: ``best``
    is a :class:`Best`, ``versions`` a :class:`Versions`, test metrics map
    names to numbers. Unknown keys are ignored at the top level and kept
    inside objects, as a newer cbrun may add some. The contents of
    ``resumes`` and ``distribute`` are not read, only their type.

    Attributes:
        name: The experiment name (the ``runs/<name>/`` folder).
        config_file: The config file as given on the command line.
        run_dir: The run directory, absolute, when the run started.
        status: One of :data:`STATUSES`.
        started_at: ISO 8601 local time with its UTC offset.
        ended_at: Like ``started_at``; ``None`` while running.
        epochs_run: Epochs finished so far.
        stop_reason: Why training stopped early, e.g. which callback; or None.
        best: ``{monitor, value, epoch}`` of the monitored metric (see
            :class:`Best`), or None.
        test_metrics: Metric name to value on the test set, or None.
        seed: The random seed used.
        versions: ``{cbrun, keras, tensorflow, python}`` (see
            :class:`Versions`); keys a record lacks are filled with None (and
            this Python's version).
        command: The command line (argv) that started the run.
        pid: The training process's id.
        host: The machine's host name.
        error: The error message of a failed run, or None.
        resumes: One entry per ``--resume``: ``{at, from_epoch, overrides,
            command}``.
        distribute: ``{strategy, processes, devices, ...}`` for a distributed
            run, else None.
        backup_epoch: The epoch the ``--resume`` backup holds; 0 before the
            first backup (backups are throttled, see
            :class:`cbrun.keras.backup.ThrottledBackupAndRestore`); None in
            records of a cbrun that backed up every epoch.
        trial: ``{number, params}`` of a sweep's trial (``cbrun sweep``),
            else None.
        tracking: ``{mlflow_run_id, tracking_uri, experiment}`` of the MLflow
            run that shows this run, else None.
        tracking_error: Why the run could not be logged to the tracker (its
            first line), else None; ``cbrun track`` sends it later.
        stages: A staged run's stages begun: ``{name, epochs, first_epoch,
            last_epoch, stop_reason}`` and ``interrupted: true`` for the one a
            run was cut short in (see :mod:`cbrun.training.stages`), else None.
    """

    # Unknown keys are ignored so that records of a newer cbrun still load.
    model_config = ConfigDict(strict=True, extra="ignore")

    name: str
    config_file: str
    run_dir: str
    status: str
    started_at: str
    ended_at: str | None = None
    epochs_run: _Count = 0
    stop_reason: str | None = None
    best: Best | None = None
    test_metrics: dict[str, float | None] | None = None
    seed: int | None = None
    versions: Versions = Field(default_factory=lambda: _no_versions())
    command: list[str] = Field(default_factory=list)
    pid: _Pid | None = None
    host: str | None = None
    error: str | None = None
    resumes: list[Any] = Field(default_factory=list)
    distribute: dict[str, Any] | None = None
    backup_epoch: _Count | None = None
    trial: dict[str, Any] | None = None
    tracking: dict[str, Any] | None = None
    tracking_error: str | None = None
    stages: list[Any] | None = None

    @field_validator("versions", mode="before")
    @classmethod
    def _fill_versions(cls, value: Any) -> Any:
        # Not-a-dict is left to the type check, which reports it.
        return {**_no_versions(), **value} if isinstance(value, dict) else value

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: fields in declaration order, plain dicts.

        Values are copied as given, unchecked: NaN stays NaN and a numpy
        scalar stays one (:func:`cbrun.atomic.write_json_atomic` converts
        both).
        """
        return self.model_dump(warnings=False)

    @classmethod
    def from_dict(cls, data: Any, path: Path) -> RunRecord:
        """Build a record from parsed ``run.json``, checking its shape.

        Unknown keys are ignored so that records written by a newer cbrun
        still load; missing optional keys take their defaults.

        Args:
            data: The parsed JSON.
            path: The file it came from, for error messages.

        Returns:
            The record.

        Raises:
            CorruptFileError: ``data`` is not an object, lacks a required field
                or has a field of the wrong type; the message names every
                such field, the value found and what it should be.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise CorruptFileError(path, _describe_errors(exc, data)) from None


_FIELD_NAMES: Final = frozenset(RunRecord.model_fields)
# A field's type in JSON words; generic types fall back to their origin.
_JSON_TYPE_NAMES: Final[dict[Any, str]] = {
    str: "a string",
    int: "an integer",
    dict: "an object",
    list: "a list",
    list[str]: "a list of strings",
    type(None): "null",
}
# pydantic's error types inside nested objects, in the same words.
_ERROR_WORDS: Final = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "dict_type": "an object",
    "list_type": "a list",
}
_SHOWN_CHARS: Final = 60


def _expected(annotation: Any) -> str:
    """Describe a field's type in JSON words: ``an integer or null``."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return " or ".join(map(_expected, get_args(annotation)))
    if origin is Annotated:
        return _expected(get_args(annotation)[0])
    if is_typeddict(annotation):  # its keys are named one by one: best.epoch
        return "an object"
    if annotation in _JSON_TYPE_NAMES:
        return _JSON_TYPE_NAMES[annotation]
    return _JSON_TYPE_NAMES[origin]


# What each field should hold, for error messages: "a string or null".
_EXPECTED: Final = {
    name: _expected(info.annotation) for name, info in RunRecord.model_fields.items()
}


def _describe_errors(exc: ValidationError, data: Any) -> str:
    """One line naming every bad field, its value and what it should be.

    Nested places are dotted (``best.epoch``); each top-level field is named
    once, by its first error, so a list of 10,000 bad items makes one part.
    """
    errors = exc.errors(include_url=False)
    if any(not error["loc"] for error in errors):
        return f"expected a JSON object (a run record), got {_shown(data)}"
    missing = [_dotted(e) for e in errors if e["type"] == "missing"]
    wrong: dict[str | int, ErrorDetails] = {}
    for error in errors:
        if error["type"] != "missing":
            wrong.setdefault(error["loc"][0], error)
    parts = []
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        parts.append(f"missing {noun} {', '.join(map(repr, missing))}")
    parts.extend(_describe(wrong[name], data) for name in wrong)
    return "; ".join(parts)


def _describe(error: ErrorDetails, data: dict[str, Any]) -> str:
    """``field 'epochs_run' should be an integer, got "3"``.

    An item of a list names the whole field (``command`` should be a list of
    strings); a key of an object names itself (``best.epoch``,
    ``test_metrics.loss``); a range says pydantic's words (``greater than 0``).
    """
    loc, kind = error["loc"], error["type"]
    name = str(loc[0])
    if kind.endswith("_type") and (len(loc) == 1 or isinstance(loc[1], int)):
        return f"field {name!r} should be {_EXPECTED[name]}, got {_shown(data[name])}"
    expected = _ERROR_WORDS.get(kind) or error["msg"].removeprefix("Input should be ")
    got = _shown(error["input"])
    return f"field {_dotted(error)!r} should be {expected}, got {got}"


def _dotted(error: ErrorDetails) -> str:
    return ".".join(map(str, error["loc"]))


def _shown(value: Any) -> str:
    """``value`` as it appears in the JSON file, shortened."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return text


class RunManifest:
    """Keeps a run's :class:`RunRecord` and ``run.json`` in step.

    Every change is written at once, atomically, so the file on disk is
    always the latest complete record. The in-memory record keeps the values
    as given (NaN stays NaN); the file has ``null`` for non-finite floats.
    Methods are thread-safe (a signal handler may call :meth:`finish` while
    a callback calls :meth:`update`).

    Args:
        run_dir: The run directory; it must exist.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RUN_FILE
        self._record: RunRecord | None = None
        self._lock = threading.RLock()

    @property
    def record(self) -> RunRecord:
        """The current record.

        Raises:
            RuntimeError: Neither :meth:`start` nor :meth:`resume` was called.
        """
        if self._record is None:
            raise RuntimeError("RunManifest.start() or resume() must be called first")
        return self._record

    def start(
        self,
        name: str,
        config_file: str | Path,
        seed: int | None,
        command: Sequence[str] | None = None,
    ) -> RunRecord:
        """Create the record of a new run (status ``running``) and write it.

        Args:
            name: The experiment name.
            config_file: The config file as given on the command line.
            seed: The random seed.
            command: The argv that started the run. Defaults to ``sys.argv``.

        Returns:
            The new record.
        """
        record = RunRecord(
            name=name,
            config_file=str(config_file),
            run_dir=str(self.run_dir.absolute()),
            status=RUNNING,
            started_at=now_iso(),
            seed=seed,
            versions=versions(),
            command=list(sys.argv if command is None else command),
            pid=os.getpid(),
            host=socket.gethostname(),
            backup_epoch=0,
        )
        with self._lock:
            self._record = record
            self._write()
        return record

    def resume(self, command: Sequence[str] | None = None) -> RunRecord:
        """Load the existing record to continue the run (``--resume``).

        Status goes back to ``running``; ``ended_at``, ``stop_reason`` and
        ``error`` are cleared; pid, host, versions and command describe the
        resuming process. ``started_at`` and ``epochs_run`` are kept. Temp
        files left by a killed writer are removed.

        Args:
            command: The argv of the resuming process. Defaults to ``sys.argv``.

        Returns:
            The updated record.

        Raises:
            MissingFileError: The folder has no run.json.
            CorruptFileError: Its run.json cannot be parsed.
        """
        record = load_record(self.run_dir).model_copy(
            update={
                "status": RUNNING,
                "ended_at": None,
                "stop_reason": None,
                "error": None,
                "versions": versions(),
                "command": list(sys.argv if command is None else command),
                "pid": os.getpid(),
                "host": socket.gethostname(),
            }
        )
        with self._lock:
            self._record = record
            self._write()
        remove_stale_temps(self.path)
        return record

    def update(self, *, durable: bool = True, **fields: Any) -> RunRecord:
        """Change fields of the record and rewrite run.json.

        Only the names are checked, not the values: this runs every epoch,
        and a value from Keras (a numpy scalar, NaN) is stored as given and
        written as plain JSON (see :meth:`RunRecord.to_dict`).

        Args:
            durable: fsync as well; per-epoch updates skip it (the rename
                keeps them atomic; see :mod:`cbrun.atomic`).
            **fields: :class:`RunRecord` field names and their new values,
                e.g. ``epochs_run=3, best={...}``.

        Returns:
            The updated record.

        Raises:
            TypeError: A name is not a :class:`RunRecord` field.
        """
        unknown = sorted(fields.keys() - _FIELD_NAMES)
        if unknown:
            raise TypeError(f"RunRecord has no field {unknown[0]!r}")
        with self._lock:
            self._record = self.record.model_copy(update=fields)
            self._write(durable=durable)
            return self._record

    def finish(
        self,
        status: str,
        *,
        stop_reason: str | None = None,
        error: str | None = None,
        **fields: Any,
    ) -> RunRecord:
        """Record the end of the run: its final status and ``ended_at``.

        Args:
            status: A final status, one of :data:`FINAL_STATUSES`.
            stop_reason: Why training stopped; None keeps the current value.
            error: The error message; None keeps the current value.
            **fields: Other fields to set at the same time.

        Returns:
            The final record.

        Raises:
            ValueError: ``status`` is not a final status.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(
                f"finish() needs one of {sorted(FINAL_STATUSES)}. "
                f"Received status={status!r}"
            )
        if stop_reason is not None:
            fields["stop_reason"] = stop_reason
        if error is not None:
            fields["error"] = error
        return self.update(status=status, ended_at=now_iso(), **fields)

    def _write(self, *, durable: bool = True) -> None:
        write_json_atomic(self.path, self.record.to_dict(), durable=durable)


def load_record(run_dir: Path) -> RunRecord:
    """Read ``run_dir/run.json``.

    Args:
        run_dir: The run directory.

    Returns:
        The record.

    Raises:
        MissingFileError: There is no run.json (not a run directory).
        CorruptFileError: It is not valid JSON or not a run record.
    """
    path = Path(run_dir) / RUN_FILE
    return RunRecord.from_dict(load_json(path, MAX_RECORD_BYTES), path)


STAGE_KEY = "stage"
"""history.json's list of a staged run's stage names, one per epoch."""


def write_history(
    run_dir: Path,
    history: Mapping[str, Sequence[float | None]],
    *,
    durable: bool = True,
    stages: Sequence[str] | None = None,
) -> Path:
    """Write Keras's ``History.history`` to ``run_dir/history.json`` atomically.

    Args:
        run_dir: The run directory.
        history: Metric name to one value per epoch; NaN and infinities are
            written as ``null``.
        durable: fsync as well (see :func:`cbrun.atomic.write_text_atomic`).
        stages: A staged run's stage of each epoch, written as ``stage``
            beside the metrics.

    Returns:
        The path written.
    """
    path = Path(run_dir) / HISTORY_FILE
    data: dict[str, list[Any]] = {str(k): list(v) for k, v in history.items()}
    if stages:
        data[STAGE_KEY] = list(stages)
    write_json_atomic(path, data, durable=durable)
    return path


def load_history(run_dir: Path) -> dict[str, list[float | None]]:
    """Read ``run_dir/history.json``.

    Args:
        run_dir: The run directory.

    Returns:
        Metric name to one value per epoch (``None`` where it was not finite);
        a staged run's ``stage`` list is left out.

    Raises:
        MissingFileError: There is no history.json (no epoch finished yet).
        CorruptFileError: It is not a regular file of a bounded size (see
            :mod:`cbrun.runs.reading`) or not a mapping of names to lists of
            numbers and nulls.
    """
    path = Path(run_dir) / HISTORY_FILE
    data = load_json(path, MAX_HISTORY_BYTES)
    if not isinstance(data, dict):
        raise CorruptFileError(path, f"expected a JSON object, got {_shown(data)}")
    stages = data.get(STAGE_KEY)
    if isinstance(stages, list) and all(isinstance(name, str) for name in stages):
        del data[STAGE_KEY]  # a staged run's stage of each epoch, not a metric
    for key, values in data.items():
        if not isinstance(values, list) or not all(
            _is_number_or_null(v) for v in values
        ):
            raise CorruptFileError(
                path, f"{shown(key)} should be a list of numbers, got {_shown(values)}"
            )
    return data


def _recorded(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value)


def has_skipped_epochs(values: Sequence[Any]) -> bool:
    """Whether a history list has epochs without a value between its values.

    ``val_*`` of ``fit.validation_freq: 2`` is null in the epochs Keras did
    not validate. A loss that became NaN is null from there to the end: no
    value follows, so it is no skipped epoch.
    """
    gap = False
    for value in values:
        if not _recorded(value):
            gap = True
        elif gap:
            return True
    return False


def last_recorded(values: Sequence[Any]) -> Any:
    """The last epoch's value; of a list with skipped epochs, the last one given.

    Returns:
        The value (None for null), or None for an empty list.
    """
    if has_skipped_epochs(values):
        return next(v for v in reversed(values) if _recorded(v))
    return values[-1] if values else None


def versions() -> Versions:
    """Return the installed versions of cbrun, Keras, TensorFlow and Python.

    Reads package metadata only: Keras and TensorFlow are not imported.
    """
    from cbrun import __version__  # the source tree may run uninstalled

    return {
        "cbrun": _dist_version("cbrun") or __version__,
        "keras": _dist_version("keras"),
        "tensorflow": next(filter(None, map(_dist_version, _TF_DISTRIBUTIONS)), None),
        "python": platform.python_version(),
    }


def now_iso() -> str:
    """Return the current local time, ISO 8601 with offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _dist_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _no_versions() -> Versions:
    return {
        "cbrun": None,
        "keras": None,
        "tensorflow": None,
        "python": platform.python_version(),
    }


def _is_number_or_null(value: Any) -> bool:
    # JSON true is not a number, though Python's bool is an int.
    return value is None or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )
