"""A sweep's own files: ``sweep.json``, ``trials.csv`` and ``best.yaml``.

All three are rewritten whole and atomically (temp file, then rename) after
every trial, so a reader, or a killed sweep, never leaves half a file.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import yaml
from pydantic import ValidationError

from cbrun.atomic import (
    CorruptFileError,
    MissingFileError,
    RunFileError,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from cbrun.config.sweep_apply import apply_params
from cbrun.runs.sweep_layout import (
    BEST_CONFIG,
    SWEEP_FILE,
    TRIALS_DIR,
    TRIALS_TABLE,
    BestTrial,
    SweepRecord,
)
from cbrun.sweeper import SweepError

RUN_DIR_ATTR = "cbrun_run_dir"
STATUS_ATTR = "cbrun_status"
HOST_ATTR = "cbrun_host"
PID_ATTR = "cbrun_pid"
SWEEP_DIR_ATTR = "cbrun_sweep_dir"
SECONDS_ATTR = "cbrun_seconds"
MESSAGE_ATTR = "cbrun_message"
_MESSAGE_CHARS = 500


def write_record(sweep_dir: Path, record: SweepRecord) -> None:
    """Write ``sweep.json`` atomically."""
    write_json_atomic(sweep_dir / SWEEP_FILE, record.model_dump(mode="json"))


def read_record(sweep_dir: Path) -> SweepRecord:
    """Read ``sweep.json`` of a sweep dir.

    Raises:
        SweepError: The folder has none (not a sweep dir), or it is corrupt;
            the message names the folder and the fix.
    """
    path = sweep_dir / SWEEP_FILE
    if not sweep_dir.is_dir():
        raise SweepError(f"--resume {sweep_dir}: no such folder")
    try:
        data = read_json(path)
    except MissingFileError:
        raise SweepError(
            f"--resume {sweep_dir}: not a sweep dir (it has no {SWEEP_FILE}); "
            "give the runs/<name>/sweep-<time>/ folder that cbrun sweep printed"
        ) from None
    except (CorruptFileError, RunFileError) as exc:
        raise SweepError(f"--resume {sweep_dir}: {exc}") from None
    try:
        return SweepRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "the file"
        raise SweepError(
            f"--resume {sweep_dir}: {SWEEP_FILE} is corrupt ({where}: "
            f"{first['msg']}); it cannot be resumed"
        ) from None


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials of the study by state, in lower case (every worker's)."""
    found: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        state = trial.state.name.lower()
        found[state] = found.get(state, 0) + 1
    return found


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's best complete trial, or None before the first."""
    complete = study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
    )
    if not complete:
        return None
    return study.best_trial


def best_entry(
    trial: optuna.trial.FrozenTrial | None, sweep_dir: Path
) -> BestTrial | None:
    """sweep.json's ``best``: run_dir set only when this sweep dir ran it."""
    if trial is None or trial.value is None:
        return None
    folder = Path(TRIALS_DIR) / str(trial.number)
    return BestTrial(
        number=trial.number,
        value=float(trial.value),
        params=dict(trial.params),
        run_dir=str(folder) if (sweep_dir / folder).is_dir() else None,
    )


def write_trials_table(sweep_dir: Path, study: optuna.Study, keys: list[str]) -> None:
    """Write ``trials.csv``: one row per trial of the study, by number."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["number", "state", "value", "status", "seconds", "run_dir", "host", *keys]
    )
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        attrs = trial.user_attrs
        value = trial.value
        writer.writerow(
            [
                trial.number,
                trial.state.name.lower(),
                "" if value is None or not math.isfinite(value) else repr(value),
                _status(trial),
                attrs.get(SECONDS_ATTR, ""),
                attrs.get(RUN_DIR_ATTR, ""),
                attrs.get(HOST_ATTR, ""),
                *(_cell(trial.params.get(k)) for k in keys),
            ]
        )
    write_text_atomic(sweep_dir / TRIALS_TABLE, out.getvalue())


def _status(trial: optuna.trial.FrozenTrial) -> str:
    """The run's status; a trial failed on resume still says ``running``."""
    status = str(trial.user_attrs.get(STATUS_ATTR, ""))
    if status == "running" and trial.state == optuna.trial.TrialState.FAIL:
        return "failed"
    return status


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def write_best_config(
    sweep_dir: Path,
    base_data: Mapping[str, Any],
    trial: optuna.trial.FrozenTrial,
    *,
    metric: str,
    config_file: str,
    study_name: str,
) -> Path:
    """Write ``best.yaml``: the base config with the best params, no ``sweep``.

    Its relative data and model paths were made absolute (unless user code
    is refused, see :func:`cbrun.sweeper.trials.anchored`), so ``cbrun train
    best.yaml`` trains the best trial again from anywhere.
    """
    data = apply_params(base_data, trial.params, file=config_file)
    header = [
        f"# The best trial, {trial.number}, of study {study_name}: "
        f"{metric} {trial.value!r}.",
        f"# {config_file} with these params applied and no sweep section:",
        *(f"#   {key}: {value!r}" for key, value in trial.params.items()),
        "# Relative data and model paths were made absolute, so this file",
        "# trains from anywhere (under --no-user-code they stay relative to",
        f"# {Path(config_file).parent}: copy this file there); code it names",
        "# (package.module:Name) is imported from this file's folder or PYTHONPATH.",
        f"# Train it again: cbrun train {sweep_dir / BEST_CONFIG}",
    ]
    text = "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False)
    path = sweep_dir / BEST_CONFIG
    write_text_atomic(path, text)
    return path


def short(message: str) -> str:
    """A message short enough for a trial's user attr (the study keeps it)."""
    first = message.strip().splitlines()[0] if message.strip() else message
    return first[:_MESSAGE_CHARS]
