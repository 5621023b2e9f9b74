"""Continuing a killed sweep: its base config back, its killed trials failed.

``cbrun sweep --resume SWEEP_DIR`` reads ``sweep.json`` and the sweep's
``config.yaml`` (the resolved base config, paths made absolute), then fails
the trials this sweep dir left ``running`` when its process died: the study
says FAIL and the trial's run.json says ``failed`` with the epoch it died
in. A failed trial counts towards the study's trials; its number is never
run again (Optuna numbers every new trial afresh).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import optuna

from cbrun.atomic import write_json_atomic
from cbrun.config.loading import LoadedConfig, load_mapping
from cbrun.config.yaml_loader import load_yaml_file
from cbrun.errors import CbrunError
from cbrun.runs import manifest as runs
from cbrun.runs.layout import RUN_FILE
from cbrun.runs.sweep_layout import JOURNAL_FILE, SWEEP_CONFIG_FILE, SweepRecord
from cbrun.sweeper import SweepError
from cbrun.sweeper.records import HOST_ATTR, PID_ATTR, RUN_DIR_ATTR, SWEEP_DIR_ATTR


def base_config(
    sweep_dir: Path, record: SweepRecord, *, allow_user_code: bool
) -> LoadedConfig:
    """The sweep's base config, read back from its ``config.yaml``.

    User code is imported from the original config's folder when it still
    exists (as ``cbrun train --resume`` does), else from the sweep dir.

    Raises:
        ConfigError: The file no longer validates (edited, or another cbrun).
    """
    path = sweep_dir / SWEEP_CONFIG_FILE
    document = load_yaml_file(path, str(path))
    original = Path(record.config_file)
    folder = original.parent if original.parent.is_dir() else sweep_dir
    # As a mapping from the original folder: the same checks as the trials'
    # configs get (--no-user-code confines paths to that folder).
    return load_mapping(
        document.data,
        base_dir=folder,
        display=original.name,
        allow_user_code=allow_user_code,
    )


def storage_of(record: SweepRecord, given: str | None, sweep_dir: Path) -> str | None:
    """The storage to reopen: ``--storage`` if given, else the recorded one.

    Returns:
        None for the journal in the sweep dir, else a path or URL.

    Raises:
        SweepError: The recorded URL had a password, which is not kept.
    """
    if given is not None:
        return given
    if record.storage == JOURNAL_FILE:
        return None
    if "***@" in record.storage:
        raise SweepError(
            f"{sweep_dir}: its storage {record.storage} had a password, which "
            "sweep.json does not keep; pass --storage URL again"
        )
    return record.storage


def fail_killed_trials(
    study: optuna.Study, sweep_dir: Path
) -> list[optuna.trial.FrozenTrial]:
    """Fail this sweep dir's trials left running by a dead process.

    A trial is this sweep dir's when its ``cbrun_sweep_dir`` attr names it,
    and dead when its process, on this host, is gone. Its run.json (if the
    run had started) is finished as ``failed``, naming the epoch it died in.

    Returns:
        The trials failed.
    """
    here = str(sweep_dir.absolute())
    host = socket.gethostname()
    failed = []
    running = study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
    )
    for trial in running:
        attrs = trial.user_attrs
        if attrs.get(SWEEP_DIR_ATTR) != here or attrs.get(HOST_ATTR) != host:
            continue
        if _alive(attrs.get(PID_ATTR)):
            continue
        run_dir = sweep_dir / str(attrs.get(RUN_DIR_ATTR, ""))
        _fail_run(run_dir, attrs.get(PID_ATTR))
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        failed.append(trial)
    return failed


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process has that pid now
    return True


def _fail_run(run_dir: Path, pid: object) -> None:
    """Finish a killed trial's run.json as ``failed``, if it has one running."""
    if not (run_dir / RUN_FILE).is_file():
        return
    try:
        record = runs.load_record(run_dir)
    except CbrunError:
        return  # corrupt: the listing says so; nothing true to add
    if record.status != runs.RUNNING:
        return
    epoch = record.epochs_run + 1
    finished = record.model_copy(
        update={
            "status": runs.FAILED,
            "ended_at": runs.now_iso(),
            "error": f"the sweep process (pid {pid}) was killed at epoch {epoch} "
            f"({record.epochs_run} finished); the sweep was resumed and this "
            "trial is failed, not run again",
        }
    )
    write_json_atomic(run_dir / RUN_FILE, finished.to_dict())
