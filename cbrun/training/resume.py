"""``cbrun train --resume RUN_DIR``: check a run can continue, and from where.

A run continues from its last finished epoch with its own ``config.yaml``:
Keras's ``BackupAndRestore`` brings back the model, the optimizer and the epoch
counter, cbrun's state keeper the callbacks' counters, and the history is cut
to the backed-up epochs so nothing is duplicated or missing.

The run dir is read like any other (``cbrun.runs.reading``): bounded regular
files, a strict record, and strings escaped in messages, so that a broken or
hostile run dir is refused before TensorFlow is imported.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cbrun.atomic import CorruptFileError, MissingFileError, RunFileError
from cbrun.config.loading import LoadedConfig, load_config
from cbrun.config.stages import stage_epochs
from cbrun.errors import CbrunError, ConfigError, ExitCode
from cbrun.runs import manifest as runs
from cbrun.runs.layout import (
    BACKUP_DIR,
    BACKUP_METADATA_FILE,
    BACKUP_WEIGHTS_FILE,
    CALLBACK_STATE_FILE,
    CONFIG_FILE,
    RUN_FILE,
)
from cbrun.runs.printable import printable_lines
from cbrun.runs.reading import load_json
from cbrun.suggest import shown

# config.yaml's second line: the folder relative data paths start in.
BASE_DIR_HEADER = "# Relative paths are relative to "
# What may change when a run continues: how long it trains and how it prints
# (a stage's own, as stages.<index>.fit.epochs).
SAFE_OVERRIDES = ("fit.epochs", "fit.verbose")
_SAFE_STAGE_OVERRIDE = re.compile(r"^stages\.(\d{1,9})\.fit\.(epochs|verbose)$")


@dataclass
class ResumePoint:
    """Where a resumed run continues from.

    Attributes:
        run_dir: The run being continued.
        epoch: Epochs finished according to its backup (0: none).
        history: Its history, cut to ``epoch`` epochs.
        best: The best monitored value so far, if within those epochs.
        overrides: The ``--set`` strings given with ``--resume``.
        stages: run.json's ``stages`` of a staged run (the stages begun), to
            continue inside the right one (:func:`cbrun.training.stages.start_point`).
    """

    run_dir: Path
    epoch: int
    history: dict[str, list[float]]
    best: dict[str, Any] | None
    overrides: tuple[str, ...] = ()
    stages: list[Any] = field(default_factory=list)


class ResumeError(CbrunError):
    """The run cannot be resumed; the message says why and what to do.

    Exit code 1, as for a config that cannot train: the run dir is there but
    its record, config or history is not usable (corrupt included). The
    message is escaped (control characters as ``\\x1b``): it quotes paths
    and values from the run dir.
    """

    exit_code = ExitCode.INVALID_CONFIG

    def __init__(self, message: str) -> None:
        super().__init__(printable_lines(message))


class NotARunDir(ResumeError):
    """``--resume`` was given a path that is not a run dir (exit code 2, usage)."""

    exit_code = ExitCode.USAGE


class AlreadyFinished(CbrunError):
    """The run ended well; there is nothing to resume (exit code 0)."""

    exit_code = ExitCode.OK

    def __init__(self, message: str) -> None:
        super().__init__(printable_lines(message))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_record(run_dir: Path, record: runs.RunRecord) -> None:
    if record.status in (runs.COMPLETED, runs.STOPPED_EARLY, runs.PRUNED):
        raise AlreadyFinished(
            f"{run_dir} already finished ({record.status}, {record.epochs_run} "
            "epochs); nothing to resume. To train longer, start a new run from "
            "its config.yaml"
        )
    if record.status == runs.TERMINATED_NAN:
        raise ResumeError(
            f"{run_dir} stopped on a NaN loss; resuming would repeat it. Lower "
            "the learning rate and start a new run"
        )
    if (
        record.status == runs.RUNNING
        and record.pid is not None
        and record.host == socket.gethostname()
        and record.pid != os.getpid()
        and _pid_alive(record.pid)
    ):
        raise ResumeError(f"{run_dir} is still running (pid {record.pid})")


def _check_overrides(overrides: Sequence[str]) -> None:
    for override in overrides:
        key = override.partition("=")[0].strip()
        if key not in SAFE_OVERRIDES and not _SAFE_STAGE_OVERRIDE.match(key):
            raise ResumeError(
                f"--set {override}: only {', '.join(SAFE_OVERRIDES)} can change "
                "when resuming (and a stage's stages.<index>.fit.epochs and "
                ".fit.verbose; the rest would make a different run); start a new "
                "run for other changes"
            )


def _original_folder(path: Path, record: runs.RunRecord) -> Path | None:
    """The folder the run's user code and relative data paths start in.

    run.json's ``config_file`` is the path as given: an absolute one names
    it; a relative one starts in the folder training started in, which may
    not be this one (a resume from elsewhere), so config.yaml's header, an
    absolute path, comes first then. os.path.isdir: False, not an error,
    for a NUL or an over-long name.
    """
    given = Path(record.config_file)
    if given.is_absolute():
        return given.parent if os.path.isdir(given.parent) else None
    candidates = [given.parent]
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            header = [file.readline(4096) for _ in range(3)]
    except OSError:
        header = []
    for line in header:
        if line.startswith(BASE_DIR_HEADER):
            written = Path(line[len(BASE_DIR_HEADER) :].strip())
            if written.is_absolute():
                candidates.insert(0, written)
    return next((c for c in candidates if os.path.isdir(c)), None)


def _load_own_config(
    run_dir: Path,
    record: runs.RunRecord,
    overrides: Sequence[str],
    allow_user_code: bool,
) -> LoadedConfig:
    path = run_dir / CONFIG_FILE
    if not os.path.lexists(path):
        raise ResumeError(f"{run_dir} has no config.yaml; it cannot be resumed")
    if not path.is_file():  # a FIFO would block the reader, a device fill memory
        raise ResumeError(f"{path} is not a regular file; it cannot be resumed")
    base_dir = _original_folder(path, record)
    if not allow_user_code and base_dir is not None:
        _check_folder_confined(base_dir)  # before validate reads files there
    try:
        loaded = load_config(
            path, overrides, allow_user_code=allow_user_code, base_dir=base_dir
        )
    except ConfigError as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        if overrides and all(p.where.startswith("--set ") for p in errors):
            # The run's own config loads; what it refuses is the --set given.
            raise ResumeError(str(ConfigError(errors))) from None
        written_by = record.versions.get("cbrun") or "an unknown version"
        from cbrun import __version__

        raise ResumeError(
            f"{path} was written by cbrun {written_by} and does not load with "
            f"cbrun {__version__}:\n{exc}"
        ) from None
    if not allow_user_code:
        _check_confined(loaded, path)
    return loaded


def _check_confined(loaded: LoadedConfig, path: Path) -> None:
    """Keep ``--no-user-code``'s path rule when the folder comes from run.json.

    The run's data is read from its original config's folder, which run.json
    names; a hostile run.json could name ``/``. Under the flag that folder
    must be inside the working directory (the checkout CI trains in), and
    the data paths inside that folder.
    """
    from cbrun.config.user_code import refusal_message, refusals

    base = _check_folder_confined(loaded.base_dir)
    refused = refusals(loaded.data, base)
    if refused:
        where = ".".join(str(part) for part in refused[0].where)
        raise ResumeError(f"{path}: {where}: {refusal_message(refused[0])}")


def _check_folder_confined(folder: Path) -> Path:
    """Under --no-user-code the config's folder must be inside the working one."""
    base = folder.resolve()
    here = Path.cwd().resolve()
    if base != here and here not in base.parents:
        raise ResumeError(
            f"run.json names {shown(str(base))} as the config's folder, outside "
            f"the working directory {shown(str(here))}; under --no-user-code "
            "resume from the folder the run was trained in"
        )
    return base


def _cut_history(history: dict[str, list[Any]], epochs: int) -> dict[str, list[float]]:
    """The history of the first ``epochs`` epochs, NaN where none was written.

    history.json is written at every backed-up epoch, but a kill between the
    backup and that write leaves it shorter than the backup.
    """
    return {
        k: [float("nan") if v is None else v for v in values[:epochs]]
        + [float("nan")] * (epochs - len(values))
        for k, values in history.items()
    }


def _best_within(best: dict[str, Any] | None, epochs: int) -> dict[str, Any] | None:
    if best is None or int(best.get("epoch", 0)) > epochs:
        return None
    return dict(best)


def prepare_resume(
    run_dir: Path, overrides: Sequence[str], *, allow_user_code: bool = True
) -> tuple[LoadedConfig, ResumePoint]:
    """Check that ``run_dir`` can continue and work out from where.

    Returns:
        The run's own config (with the safe overrides) and where it resumes.

    Raises:
        NotARunDir: Not a run dir (exit code 2).
        ResumeError: A corrupt record, config or history, a NaN run, a live
            run, an unsafe override, an incompatible config, a lost backup
            (exit code 1).
        AlreadyFinished: The run ended well.
    """
    if not os.path.lexists(run_dir / RUN_FILE):
        raise NotARunDir(
            f"{run_dir} is not a run directory (it has no run.json); "
            "give a folder like runs/<name>/<YYYYmmdd-HHMMSS>"
        )
    try:
        record = runs.load_record(run_dir)
    except RunFileError as exc:
        raise ResumeError(
            f"cannot read the run's record: {exc}; it cannot be resumed"
        ) from None
    _check_record(run_dir, record)
    _check_overrides(overrides)
    loaded = _load_own_config(run_dir, record, overrides, allow_user_code)
    epoch = _backup_epoch(run_dir)
    _check_callback_state(run_dir)
    if epoch is None:
        # backup_epoch 0: stopped before its first (throttled) backup, so it
        # starts again from epoch 0. None: a record from a cbrun that backed
        # up every epoch.
        if record.backup_epoch != 0 and record.epochs_run > 0:
            raise ResumeError(
                f"{run_dir}/{BACKUP_DIR} is gone, so the model and optimizer of "
                f"epoch {record.backup_epoch or record.epochs_run} cannot be "
                "restored; start a new run (with model.path set to a checkpoint "
                "of this run's, if it saved one)"
            )
        epoch = 0
    experiment = loaded.experiment
    planned = experiment.fit.epochs
    if experiment.stages:
        planned = sum(stage_epochs(experiment.fit, experiment.stages))
    # epoch == planned: stopped after fit (while evaluating or saving); the
    # resume trains no epoch, then evaluates and saves.
    if epoch > planned:
        if experiment.stages:
            each = stage_epochs(experiment.fit, experiment.stages)
            spans = ", ".join(
                f"{stage.name!r} {n}"
                for stage, n in zip(experiment.stages, each, strict=True)
            )
            what = f"the {planned} its stages add up to ({spans})"
        else:
            what = f"fit.epochs={planned}"
        raise ResumeError(
            f"{run_dir} continues from its backup of epoch {epoch}, past "
            f"{what}; to train longer, use "
            f"{_longer_override(loaded, epoch - planned + 10)}"
        )
    if experiment.stages:
        _check_stage_epochs(run_dir, loaded, overrides, record.stages or [], epoch)
    try:
        history = runs.load_history(run_dir)
    except MissingFileError:  # killed before the first epoch's record
        history = {}
    except CorruptFileError as exc:
        # Resuming would overwrite it with NaN for every past epoch.
        raise ResumeError(
            f"cannot read the run's history: {exc}; remove that file "
            "to resume without the past epochs' values"
        ) from None
    return loaded, ResumePoint(
        run_dir=run_dir,
        epoch=epoch,
        history=_cut_history(history, epoch),
        best=_best_within(dict(record.best) if record.best else None, epoch),
        overrides=tuple(overrides),
        stages=list(record.stages or []),
    )


def _longer_override(loaded: LoadedConfig, more: int) -> str:
    """The ``--set`` that trains ``more`` epochs more (the last stage's own)."""
    experiment = loaded.experiment
    if not experiment.stages:
        return f"--set fit.epochs={experiment.fit.epochs + more}"
    last = len(experiment.stages) - 1
    epochs = stage_epochs(experiment.fit, experiment.stages)[last]
    if "epochs" in experiment.stages[last].fit_overrides():
        return f"--set stages.{last}.fit.epochs={epochs + more}"
    return f"--set fit.epochs={epochs + more}"


def _check_stage_epochs(
    run_dir: Path,
    loaded: LoadedConfig,
    overrides: Sequence[str],
    records: Sequence[Any],
    epoch: int,
) -> None:
    """Refuse a ``--set`` of epochs that only stages already ended would use.

    Such a stage does not train again, so the run would end as it would
    have without the override; the user asked for epochs they would not get.

    Raises:
        ResumeError: Naming the override, the stage that ended and the
            ``--set`` of a stage still to train.
    """
    from cbrun.training.stage_records import start_point

    stages = loaded.experiment.stages or []
    first = start_point(records, epoch, len(stages)).stage  # the first to fit
    if first == 0 or first >= len(stages):
        return  # no stage has ended, or none is left to train
    remaining = stages[first:]
    for override in overrides:
        key, _, value = override.partition("=")
        key, value = key.strip(), value.strip()
        found = _SAFE_STAGE_OVERRIDE.match(key)
        if found and found.group(2) == "epochs":
            used_by = [int(found.group(1))]
        elif key == "fit.epochs":  # the stages without their own take it
            used_by = [
                i for i, s in enumerate(stages) if "epochs" not in s.fit_overrides()
            ]
        else:
            continue
        # None: refused by validate already (every stage has its own).
        if not used_by or any(i >= first for i in used_by):
            continue
        index = len(stages) - 1
        fix = f"--set stages.{index}.fit.epochs={value}"
        raise ResumeError(
            f"{run_dir / CONFIG_FILE}: --set {override}: it changes the epochs of "
            f"{', '.join(shown(stages[i].name) for i in used_by)} only, which "
            f"had ended by epoch {epoch} (the backup this run continues from), "
            "so the run would train no longer; to train a stage still to come "
            f"({', '.join(shown(s.name) for s in remaining)}) longer, e.g. {fix}"
        )


def _backup_epoch(run_dir: Path) -> int | None:
    """The epoch Keras's backup holds; None when there is no backup.

    Raises:
        ResumeError: The weights are there but Keras's record of their epoch
            is not a bounded JSON object with a whole ``epoch`` (a kill while
            Keras wrote it, or another tool).
    """
    folder = run_dir / BACKUP_DIR
    path = folder / BACKUP_METADATA_FILE
    if not (folder / BACKUP_WEIGHTS_FILE).is_file():
        return None
    try:
        metadata = load_json(path)
    except MissingFileError:
        return None
    except CorruptFileError as exc:
        raise _unknown_epoch(path, exc.reason) from None
    epoch = metadata.get("epoch") if isinstance(metadata, dict) else None
    if not _is_count(epoch):
        raise _unknown_epoch(path, f"'epoch' should be an integer, got {shown(epoch)}")
    return epoch


def _unknown_epoch(path: Path, reason: str) -> ResumeError:
    return ResumeError(
        f"{path}: {reason}; the epoch of the backup is unknown, so it cannot be "
        "restored. Start a new run"
    )


# Values cbrun.keras.backup writes for a callback's counters: numbers, null,
# and the strings it writes for non-finite floats.
_NON_FINITE = ("inf", "-inf", "nan")


def _check_callback_state(run_dir: Path) -> None:
    """Refuse a callbacks' state file the Keras side could not restore.

    It is read after TensorFlow is imported, by
    ``cbrun.keras.backup.CallbackStateKeeper``, which trusts its shape; this
    check, before the import, gives a clear refusal instead of a crash.

    Raises:
        ResumeError: The file is not a bounded regular file of JSON of the
            shape ``{epoch, callbacks: {index: {type, counter: value}}}``.
    """
    path = run_dir / BACKUP_DIR / CALLBACK_STATE_FILE
    try:
        problem = _state_problem(load_json(path))
    except MissingFileError:
        return
    except CorruptFileError as exc:
        problem = exc.reason
    if problem:
        raise ResumeError(
            f"{path}: {problem}; remove that file to resume with the callbacks' "
            "counters (patience, best value) reset"
        )


def _state_problem(state: Any) -> str | None:
    """What is wrong with parsed callbacks' state, or None."""
    if not isinstance(state, dict):
        return f"expected a JSON object, got {shown(state)}"
    if not _is_count(state.get("epoch")):
        return f"'epoch' should be an integer, got {shown(state.get('epoch'))}"
    callbacks = state.get("callbacks", {})
    if not isinstance(callbacks, dict):
        return f"'callbacks' should be an object, got {shown(callbacks)}"
    for key, values in callbacks.items():
        if not (key.isascii() and key.isdecimal()):
            return f"callback key {shown(key)} should be a callback's index"
        if not isinstance(values, dict) or not isinstance(values.get("type"), str):
            return f"callback {key} should be an object with a 'type' string"
        for name, value in values.items():
            if name != "type" and not _is_counter(value):
                return f"callback {key}: {shown(name)} should be a number or null"
    return None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_counter(value: Any) -> bool:
    return (
        value is None
        or value in _NON_FINITE
        or (isinstance(value, int | float) and not isinstance(value, bool))
    )
