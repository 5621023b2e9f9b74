"""Reading a sweep's folder back: its record and its trials, for runs and show.

A sweep lives in ``runs/<name>/sweep-<stamp>/`` (see
:mod:`cbrun.runs.sweep_layout`): ``sweep.json`` and ``trials/<number>/``,
each trial a normal run dir whose run.json carries ``trial: {number,
params}``. Like every reader of a run dir, this one trusts nothing in it:
sweep.json is read with the bounded readers (:mod:`cbrun.runs.reading`)
and checked against :class:`~cbrun.runs.sweep_layout.SweepRecord`; a broken
one makes a sweep with status ``corrupt`` and the reason, its trials still
listed. Trials are summarised by :func:`cbrun.runs.listing.summarize`, so
they are ``dead`` or ``corrupt`` exactly as runs are.

No TensorFlow, no Optuna: the engine (:mod:`cbrun.sweep`) writes these
files, this module only reads them.

Example:
    ::

        for sweep in list_sweeps(Path("runs")):
            print(sweep.label, sweep.status, sweep.best_value)
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from cbrun.atomic import CorruptFileError, RunFileError
from cbrun.runs.layout import STAMP_FORMAT
from cbrun.runs.listing import (
    CORRUPT,
    DEAD,
    RunSummary,
    find_run_dirs,
    folders_down,
    format_value,
    is_run_dir,
    is_sweep_folder,
    iso_timestamp,
    subfolders,
    summarize,
)
from cbrun.runs.manifest import FINAL_STATUSES, RUNNING, load_history
from cbrun.runs.reading import MAX_RECORD_BYTES, load_json
from cbrun.runs.sweep_layout import SWEEP_FILE, SWEEP_PREFIX, TRIALS_DIR, SweepRecord

__all__ = [
    "FINISHED_STATES",
    "SweepSummary",
    "TrialSummary",
    "find_sweep_dirs",
    "format_param",
    "list_sweeps",
    "load_sweep_record",
    "summarize_sweep",
]

FINISHED_STATES: Final = ("complete", "pruned", "fail")
"""Optuna's states of a finished trial, as sweep.json's ``counts`` name them."""
_SHOWN_CHARS: Final = 60
_MAX_NUMBER_DIGITS: Final = 9  # a trial folder named by a huge number is no number


@dataclass(frozen=True)
class TrialSummary:
    """One trial of a sweep: a run dir in ``trials/`` and what it searched.

    Attributes:
        number: Optuna's trial number, from run.json's ``trial.number`` (else
            the folder's name, if it is a number); None if neither says.
        params: The trial's parameters, ``--set`` key to value (from
            run.json's ``trial.params``); empty when unknown.
        value: The best value of the sweep's metric over the trial's epochs
            (None if unknown or not finite).
        value_epoch: The epoch (from 1) of ``value``, or None.
        run: The trial's run, as ``cbrun runs`` summarises any run.
    """

    number: int | None
    params: dict[str, Any]
    value: float | None
    value_epoch: int | None
    run: RunSummary

    @property
    def status(self) -> str:
        """The trial run's status (``pruned``, ``dead`` and ``corrupt`` too)."""
        return self.run.status

    @property
    def label(self) -> str:
        """``trial 3``, or ``trial <folder>`` when the number is unknown."""
        return f"trial {self.run.stamp if self.number is None else self.number}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the run's keys plus ``number``, ``params``, ``value``."""
        return {
            "number": self.number,
            "params": self.params,
            "value": self.value,
            "value_epoch": self.value_epoch,
            **self.run.as_dict(),
        }


@dataclass(frozen=True)
class SweepSummary:
    """One sweep as ``cbrun runs`` lists it and ``cbrun show`` opens it.

    Attributes:
        sweep_dir: The sweep's folder, as found under the runs dir given.
        name: The experiment name (from sweep.json, else the parent folder).
        stamp: The folder's name, ``sweep-YYYYmmdd-HHMMSS[-N]``.
        status: sweep.json's status, or ``corrupt`` (unreadable), or
            ``dead`` (running, but a trial's process, the sweep's own, is
            gone on this machine).
        record: The parsed sweep.json, or None when corrupt.
        error: The sweep's error, or why sweep.json is corrupt.
        trials: The trials in ``trials/``, by number.
        duration: Seconds from start to end (to now while running), or None.
        sort_time: POSIX time used to order it among runs, newest first.
    """

    sweep_dir: Path
    name: str
    stamp: str
    status: str
    record: SweepRecord | None
    error: str | None
    trials: tuple[TrialSummary, ...]
    duration: float | None
    sort_time: float

    @property
    def label(self) -> str:
        """``name/sweep-stamp``, as a run's ``name/stamp``."""
        return f"{self.name}/{self.stamp}"

    @property
    def finished(self) -> int:
        """Finished trials of the study (every worker's), else of ``trials/``."""
        if self.record is not None and self.record.counts:
            return sum(self.record.counts.get(s, 0) for s in FINISHED_STATES)
        return sum(t.status in FINAL_STATUSES for t in self.trials)

    @property
    def planned(self) -> int | None:
        """The trials the sweep runs to, or None when sweep.json is corrupt."""
        return None if self.record is None else self.record.trials_planned

    def as_dict(self) -> dict[str, Any]:
        """The JSON form; the same keys for every sweep, corrupt too."""
        r = self.record
        return {
            "kind": "sweep",
            "sweep_dir": str(self.sweep_dir),
            "name": self.name,
            "stamp": self.stamp,
            "status": self.status,
            "study": r and r.study,
            "storage": r and r.storage,
            "config_file": r and r.config_file,
            "metric": r and r.metric,
            "direction": r and r.direction,
            "trials_planned": self.planned,
            "trials_finished": self.finished,
            "counts": r and r.counts,
            "best": r and r.best and r.best.model_dump(),
            "started_at": r and r.started_at,
            "ended_at": r and r.ended_at,
            "duration_seconds": (
                None if self.duration is None else round(self.duration, 3)
            ),
            "error": self.error,
            "trials": [t.as_dict() for t in self.trials],
        }


def list_sweeps(runs_dir: Path, now: float | None = None) -> list[SweepSummary]:
    """Summarise every sweep under ``runs_dir``, newest first.

    Args:
        runs_dir: ``RUNS_DIR``, one ``<name>`` folder, or one sweep folder.
        now: POSIX time for the duration of running sweeps and trials.
            Defaults to now.

    Raises:
        RunsError: ``runs_dir`` does not exist or is not a folder.
    """
    now = time.time() if now is None else now
    host = socket.gethostname()
    sweeps = [summarize_sweep(d, now, host) for d in find_sweep_dirs(runs_dir)]
    sweeps.sort(key=lambda s: (s.sort_time, str(s.sweep_dir)), reverse=True)
    return sweeps


def find_sweep_dirs(runs_dir: Path) -> list[Path]:
    """Return the sweep folders at most two levels down, as runs are found.

    Raises:
        RunsError: ``runs_dir`` does not exist or is not a folder.
    """
    runs_dir = Path(runs_dir)
    find_run_dirs(runs_dir)  # the same checks and messages as for runs
    return folders_down(runs_dir, is_sweep_folder, besides=is_run_dir)


def summarize_sweep(
    sweep_dir: Path, now: float | None = None, host: str | None = None
) -> SweepSummary:
    """Summarise one sweep folder and its trials; never raises on a bad file.

    Args:
        sweep_dir: A sweep's folder.
        now: POSIX time for running durations. Defaults to now.
        host: This machine's host name, to tell dead trials.

    Returns:
        The summary; status ``corrupt`` if sweep.json is missing, not a
        bounded regular file, not JSON or not a sweep record.
    """
    sweep_dir = Path(sweep_dir)
    now = time.time() if now is None else now
    host = socket.gethostname() if host is None else host
    record: SweepRecord | None = None
    try:
        record = load_sweep_record(sweep_dir)
    except RunFileError as exc:
        error: str | None = f"{SWEEP_FILE}: {exc.reason}"
    else:
        error = record.error
    started = iso_timestamp(record.started_at) if record else None
    trials = _trials(sweep_dir, record, now, host)
    status: str = record.status if record else CORRUPT
    # Trials run in the sweep's own process: a dead trial means a dead sweep.
    if status == RUNNING and any(t.status == DEAD for t in trials):
        status = DEAD
    return SweepSummary(
        sweep_dir=sweep_dir,
        name=record.name if record else sweep_dir.absolute().parent.name,
        stamp=sweep_dir.name,
        status=status,
        record=record,
        error=error,
        trials=tuple(trials),
        duration=_duration(record, started, now),
        sort_time=started if started is not None else _fallback_time(sweep_dir),
    )


def load_sweep_record(sweep_dir: Path) -> SweepRecord:
    """Read ``sweep_dir/sweep.json`` with the bounded readers, strictly.

    Raises:
        MissingFileError: There is no sweep.json.
        CorruptFileError: It is not a bounded regular file of JSON holding a
            sweep record; the reason names the first bad field of each.
    """
    path = Path(sweep_dir) / SWEEP_FILE
    data = load_json(path, MAX_RECORD_BYTES)
    try:
        return SweepRecord.model_validate(data)
    except ValidationError as exc:
        raise CorruptFileError(path, _describe(exc, data)) from None


def format_param(value: Any) -> str:
    """A parameter's value in a table: 4 significant digits, YAML words.

    Not escaped: the caller escapes the line it builds.
    """
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return format_value(value)
    if isinstance(value, int | str):
        return str(value)
    return _shown(value)  # a hostile run.json: a list or an object


def _trials(
    sweep_dir: Path, record: SweepRecord | None, now: float, host: str
) -> list[TrialSummary]:
    folder = sweep_dir / TRIALS_DIR
    trials = [
        _trial(summarize(d, now=now, host=host), record)
        for d in subfolders(folder)
        if is_run_dir(d)
    ]
    trials.sort(key=lambda t: (t.number is None, t.number or 0, t.run.stamp))
    return trials


def _trial(run: RunSummary, record: SweepRecord | None) -> TrialSummary:
    trial = run.record.trial if run.record is not None else None
    trial = trial if isinstance(trial, dict) else {}
    number = trial.get("number")
    if not _is_int(number):
        name = run.run_dir.name
        digits = name.isascii() and name.isdigit()
        number = int(name) if digits and len(name) <= _MAX_NUMBER_DIGITS else None
    params = trial.get("params")
    value, epoch = _metric_value(run, record)
    return TrialSummary(
        number=number,
        params={str(k): v for k, v in params.items()}
        if isinstance(params, dict)
        else {},
        value=value,
        value_epoch=epoch,
        run=run,
    )


def _metric_value(
    run: RunSummary, record: SweepRecord | None
) -> tuple[float | None, int | None]:
    """The trial's best value of the sweep metric, and its epoch.

    run.json's ``best`` when it monitors the sweep's metric (no other file
    read); else the best of that metric in history.json, in the sweep's
    direction.
    """
    if run.record is None or record is None:
        return None, None
    best = run.best
    if best and best.get("monitor") == record.metric:
        epoch = best.get("epoch")
        return _finite(best.get("value")), epoch if _is_int(epoch) else None
    try:
        values = load_history(run.run_dir).get(record.metric) or []
    except RunFileError:
        return None, None
    finite = [
        (number, i + 1)
        for i, v in enumerate(values)
        if (number := _finite(v)) is not None
    ]
    if not finite:
        return None, None
    pick = max if record.direction == "maximize" else min
    return pick(finite, key=lambda item: item[0])  # the first of equals


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _duration(
    record: SweepRecord | None, started: float | None, now: float
) -> float | None:
    if record is None or started is None:
        return None
    end = iso_timestamp(record.ended_at)
    if end is None and record.status == RUNNING:
        end = now
    return None if end is None else end - started


def _fallback_time(sweep_dir: Path) -> float:
    """Order a sweep without a start time by its folder's stamp, else its mtime."""
    stamp = sweep_dir.name.removeprefix(SWEEP_PREFIX).split("-")
    with contextlib.suppress(ValueError):
        return datetime.strptime("-".join(stamp[:2]), STAMP_FORMAT).timestamp()
    try:
        return sweep_dir.stat().st_mtime
    except OSError:
        return 0.0


def _describe(exc: ValidationError, data: Any) -> str:
    """One line naming the first problem of each bad field of sweep.json."""
    errors = exc.errors(include_url=False)
    if not isinstance(data, dict) or any(not e["loc"] for e in errors):
        return f"expected a JSON object (a sweep record), got {_shown(data)}"
    missing = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "missing"]
    parts: dict[str, str] = {}
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        parts[""] = f"missing {noun} {', '.join(map(repr, missing))}"
    for error in errors:
        if error["type"] != "missing":
            dotted = ".".join(map(str, error["loc"]))
            expected = error["msg"].removeprefix("Input should be ")
            got = _shown(error["input"])
            text = f"field {dotted!r} should be {expected}, got {got}"
            parts.setdefault(str(error["loc"][0]), text)
    return "; ".join(parts.values())


def _shown(value: Any) -> str:
    """``value`` as JSON, shortened; not escaped (callers escape lines)."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
