"""The run directory: every file name in it, and creating it, never reused.

A run lives in ``runs/<name>/<YYYYmmdd-HHMMSS>/``. This module is the one
place that names what is inside (design section 5); every other module,
readers and writers alike, takes the names from here.

Exclusivity comes from ``mkdir`` itself, which is atomic: of several
processes racing for the same folder exactly one succeeds and the others
move on to the next suffix (``-1``, ``-2``, ...), so no lock file is needed.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path, PurePath
from typing import Final

from cbrun.errors import CbrunError

__all__ = [
    "BACKUP_DIR",
    "BACKUP_METADATA_FILE",
    "BACKUP_WEIGHTS_FILE",
    "CALLBACK_STATE_FILE",
    "CONFIG_FILE",
    "HISTORY_FILE",
    "HISTORY_PLOT",
    "LOCK_FILE",
    "MODEL_FILE",
    "OWN_NAMES",
    "RUN_FILE",
    "STAMP_FORMAT",
    "RunDirError",
    "create_run_dir",
    "resolve_inside",
    "validate_name",
]

RUN_FILE: Final = "run.json"
"""The run record: status, times, best value, test metrics (``runs.manifest``)."""
HISTORY_FILE: Final = "history.json"
"""Metric name to one value per epoch, as Keras's ``History.history``."""
CONFIG_FILE: Final = "config.yaml"
"""The resolved config: defaults filled in, overrides applied."""
MODEL_FILE: Final = "model.keras"
"""The trained model, saved after ``fit``."""
HISTORY_PLOT: Final = "history.png"
"""Loss and metrics per epoch, drawn at the end of the run."""
BACKUP_DIR: Final = "backup"
"""``BackupAndRestore``'s folder for ``--resume``; removed when a run ends well."""
BACKUP_WEIGHTS_FILE: Final = "latest.weights.h5"
"""Inside :data:`BACKUP_DIR`: Keras's ``BackupAndRestore`` weights."""
BACKUP_METADATA_FILE: Final = "training_metadata.json"
"""Inside :data:`BACKUP_DIR`: Keras's record of the backed-up epoch."""
CALLBACK_STATE_FILE: Final = "callbacks_state.json"
"""Inside :data:`BACKUP_DIR`: the counters of callbacks Keras does not back up."""
LOCK_FILE: Final = ".lock"
"""Held by the one process that trains in the run dir."""
OWN_NAMES: Final = (
    RUN_FILE,
    HISTORY_FILE,
    CONFIG_FILE,
    MODEL_FILE,
    HISTORY_PLOT,
    BACKUP_DIR,
    LOCK_FILE,
)
"""What cbrun itself writes at the top of a run dir."""

STAMP_FORMAT: Final = "%Y%m%d-%H%M%S"
# Far more than any real burst of runs in one second; only stops a runaway loop.
_MAX_SUFFIX = 10_000


class RunDirError(CbrunError):
    """A run directory cannot be created (exit code 3).

    Attributes:
        path: The folder that could not be created or written.
    """

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def validate_name(name: str) -> str:
    """Check that ``name`` is one safe path component and return it.

    Args:
        name: The experiment name, used as a folder name.

    Returns:
        ``name`` unchanged.

    Raises:
        ValueError: It is empty, ``.`` or ``..``, or contains a path separator
            or a NUL character.
    """
    if not name or name in {".", ".."}:
        raise ValueError(f"run name must be a folder name, not {name!r}")
    bad = [c for c in ("/", "\\", "\0") if c in name]
    if bad:
        raise ValueError(
            f"run name must be one folder name without {bad[0]!r}. Received {name!r}"
        )
    return name


def create_run_dir(
    runs_dir: Path, name: str, now: datetime | None = None, *, prefix: str = ""
) -> Path:
    """Create and return a new, empty folder ``runs_dir/name/<prefix><stamp>[-N]``.

    Args:
        runs_dir: The root of all runs; created with its parents if missing.
        name: The experiment name, one path component.
        now: The run's start time; defaults to now. An aware datetime is
            converted to local time, a naive one is taken as local already.
        prefix: Put before the stamp, e.g. ``sweep-`` for a sweep's folder.

    Returns:
        The created folder. It did not exist before this call, so no other
        run (in this or another process) uses it.

    Raises:
        ValueError: ``name`` is not a safe folder name.
        RunDirError: ``runs_dir`` cannot be created or written.
    """
    validate_name(name)
    now = datetime.now() if now is None else now
    if now.tzinfo is not None:
        now = now.astimezone()
    stamp = prefix + now.strftime(STAMP_FORMAT)
    parent = Path(runs_dir) / name
    _mkdir(parent, runs_dir, exclusive=False)
    for n in range(_MAX_SUFFIX):
        candidate = parent / (stamp if n == 0 else f"{stamp}-{n}")
        if _mkdir(candidate, runs_dir, exclusive=True):
            return candidate
    raise RunDirError(
        f"cannot create a run folder in {parent}: {_MAX_SUFFIX} runs already "
        f"started at {stamp}. Remove old runs or pass another --runs-dir DIR",
        parent,
    )


def resolve_inside(run_dir: Path, value: str) -> Path:
    """Resolve a path from the config against the run directory.

    A relative path lands inside ``run_dir`` (``log.csv`` becomes
    ``run_dir/log.csv``); an absolute path is kept as written. The check is
    lexical: symlinks inside the run directory are not followed.

    Args:
        run_dir: The run directory.
        value: The path as written in the config.

    Returns:
        The path to use.

    Raises:
        ValueError: ``value`` is empty, or relative but escapes ``run_dir``
            with ``..`` (e.g. ``../other/log.csv``).
    """
    if not value:
        raise ValueError("path must not be empty")
    pure = PurePath(value)
    if pure.is_absolute():
        return Path(value)
    if pure.drive:  # Windows drive-relative ("C:log.csv"): neither in nor out
        raise ValueError(f"path {value!r} has a drive but is not absolute")
    normal = os.path.normpath(value)
    if normal == os.pardir or normal.startswith(os.pardir + os.sep):
        raise ValueError(
            f"relative path {value!r} leaves the run directory; write a path "
            f"inside it, or an absolute path"
        )
    return Path(run_dir) / normal


def _mkdir(path: Path, runs_dir: Path, *, exclusive: bool) -> bool:
    """Create ``path``, its parents too unless ``exclusive``.

    Returns:
        True if created or (not ``exclusive``) already a folder; False if
        ``exclusive`` and it already exists, i.e. it is taken.

    Raises:
        RunDirError: Any other failure, with a message naming the fix.
    """
    try:
        path.mkdir(parents=not exclusive, exist_ok=not exclusive)
    except FileExistsError:
        if not exclusive:  # a file where a folder should be
            raise _unwritable(path, runs_dir, "a file is in the way") from None
        return False
    except OSError as exc:
        raise _unwritable(path, runs_dir, exc.strerror or str(exc)) from exc
    return True


def _unwritable(path: Path, runs_dir: Path, reason: str) -> RunDirError:
    return RunDirError(
        f"cannot create the run folder {path} ({reason}). Make {runs_dir} "
        f"writable or choose another folder with --runs-dir DIR",
        path,
    )
