"""The state Keras's ``BackupAndRestore`` leaves out: callbacks' counters.

Keras backs up the model, the optimizer and the epoch counter. A resumed run
also needs EarlyStopping's wait and best (and best weights),
ReduceLROnPlateau's wait, cooldown and best, and ModelCheckpoint's best, or a
restart forgets them (and may overwrite a better checkpoint, Keras issue
17012). This callback saves them beside Keras's backup after every epoch and
puts them back when training begins again.

Keras's ``BackupAndRestore`` also removes its folder when training ends; a
config's own one is built as :class:`OwnedBackupAndRestore`, which first makes
sure that folder is one cbrun created for the run.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cbrun.atomic import read_json, write_json_atomic
from cbrun.errors import CbrunError
from cbrun.keras.budget import CostBudget
from cbrun.runs.layout import (
    BACKUP_METADATA_FILE,
    BACKUP_WEIGHTS_FILE,
    CALLBACK_STATE_FILE,
)

# Attributes that carry a callback's progress from one epoch to the next.
_STATE_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    keras.callbacks.EarlyStopping: ("wait", "stopped_epoch", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "cooldown_counter", "best"),
    keras.callbacks.ModelCheckpoint: ("best",),
}


def _attributes(callback: keras.callbacks.Callback) -> tuple[str, ...]:
    for cls, names in _STATE_ATTRIBUTES.items():
        if isinstance(callback, cls):
            return names
    return ()


def _plain(value: Any) -> Any:
    number = float(value) if isinstance(value, int | float | np.number) else None
    if number is not None and not math.isfinite(number):
        return str(number)  # JSON has no inf; "inf" round-trips through float().
    if isinstance(value, np.generic):
        return value.item()
    return value


def _restore(value: Any) -> Any:
    return float(value) if value in ("inf", "-inf", "nan") else value


# The most of training time backups may take by default. With the per-epoch
# records (cbrun.keras.recorder) cbrun's own work stays under 1 % of training.
BACKUP_SHARE = 0.005

# A backup's cost before the first one is timed: h5py's fixed cost plus
# writing the weights and optimizer slots (measured here: 13 ms for 0.1 MB,
# 20 ms for 3.6 MB, 110 ms for 52 MB).
_SAVE_FIXED_S = 0.015
_SAVE_BYTES_PER_S = 250e6


def estimated_save_seconds(model: keras.Model) -> float:
    """Roughly how long ``BackupAndRestore`` takes to save this model.

    Args:
        model: A built model; its optimizer's variables count too.
    """
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(optimizer.variables)
    total = 0
    for variable in variables:
        try:
            itemsize = np.dtype(variable.dtype).itemsize
        except TypeError:
            itemsize = 4
        total += int(np.prod(variable.shape)) * itemsize
    return _SAVE_FIXED_S + total / _SAVE_BYTES_PER_S


class ThrottledBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's ``BackupAndRestore``, saving only while it costs little.

    A backup writes the model and optimizer; on tiny epochs that can cost a
    tenth of the epoch. This one saves after an epoch only when the last
    save (before the first, an estimate from the model's size) took at most
    ``max_share`` of the training time since it. Long epochs are backed up
    every epoch; a resume continues from the last backed-up epoch, and a
    kill loses at most about ``save time / max_share`` of training.

    Args:
        backup_dir: As for ``BackupAndRestore``.
        max_share: The most of training time backups may take; ``None``
            saves every epoch (all processes of a job must decide alike).
            Defaults to :data:`BACKUP_SHARE`.
        restore_from: Restore from this folder's backup instead (processes
            other than 0 of a resumed job read process 0's). Defaults to
            None.
        **kwargs: ``BackupAndRestore`` parameters.
    """

    def __init__(
        self,
        backup_dir: str,
        max_share: float | None = BACKUP_SHARE,
        restore_from: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(backup_dir, **kwargs)
        self.budget = CostBudget(max_share)
        self.restore_from = restore_from
        self.saved_epoch: int | None = None
        self._estimate: float | None = None
        # Off from a staged run's second fit on: the model in memory is newer.
        self.restore_on_begin = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Restore as Keras does (from ``restore_from`` if set), start the clock."""
        if not self.restore_on_begin:
            pass
        elif self.restore_from is None:
            super().on_train_begin(logs)
        else:
            own = (
                str(getattr(self, "_weights_path")),  # noqa: B009 - untyped Keras
                str(getattr(self, "_training_metadata_path")),  # noqa: B009
            )
            self._weights_path = os.path.join(self.restore_from, BACKUP_WEIGHTS_FILE)
            self._training_metadata_path = os.path.join(
                self.restore_from, BACKUP_METADATA_FILE
            )
            try:
                self._load_model()
            finally:
                self._weights_path, self._training_metadata_path = own
        self.budget.restart()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Save when the budget allows."""
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq != "epoch":
            return
        if self._estimate is None and self.budget.share is not None:
            self._estimate = estimated_save_seconds(self.model)
        if not self.budget.allows(self._estimate):
            return
        with self.budget.spend():
            self._save_model()
        self.saved_epoch = epoch + 1


class CallbackStateKeeper(keras.callbacks.Callback):
    """Save and restore other callbacks' progress, keyed by their config index.

    Place it after the callbacks it keeps and after ``BackupAndRestore``, so
    that it saves what they did this epoch and restores after they reset.

    Args:
        backup_dir: The folder of the run's ``BackupAndRestore``.
        callbacks: Config index to built callback.
        restore: Whether to load the saved state at the start of training.
        backup: The backup it follows: state is saved for exactly the epochs
            the backup saved. None saves every epoch.
        save_to: Where to save, when not ``backup_dir`` (the folder restored
            from). Defaults to ``backup_dir``.
    """

    def __init__(
        self,
        backup_dir: Path,
        callbacks: dict[int, keras.callbacks.Callback],
        *,
        restore: bool = False,
        backup: ThrottledBackupAndRestore | None = None,
        save_to: Path | None = None,
    ) -> None:
        super().__init__()
        self.backup = backup
        self.backup_dir = backup_dir
        self.save_to = save_to or backup_dir
        self.kept = {i: c for i, c in callbacks.items() if _attributes(c)}
        self.restore = restore
        self.restored: dict[str, Any] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Put the saved counters back (after the callbacks reset them)."""
        path = self.backup_dir / CALLBACK_STATE_FILE
        if not self.restore or not path.is_file():
            return
        # Checked by resume before TensorFlow; read bounded all the same.
        saved = read_json(path)
        if saved.get("epoch") != getattr(self.model, "_initial_epoch", None):
            # Killed between the model's backup and this one: the counters
            # belong to another epoch than the weights; start them afresh.
            return
        for key, values in saved.get("callbacks", {}).items():
            callback = self.kept.get(int(key))
            if callback is None or values.get("type") != type(callback).__name__:
                continue
            for name in _attributes(callback):
                if name in values:
                    setattr(callback, name, _restore(values[name]))
            weights = self.backup_dir / f"best_weights_{key}.npz"
            if getattr(callback, "restore_best_weights", False) and weights.is_file():
                with np.load(weights) as arrays:
                    callback.best_weights = [
                        arrays[f"w{i}"] for i in range(len(arrays))
                    ]
        self.restored = saved

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Save every kept callback's counters, when the backup saved too."""
        if self.backup is not None and self.backup.saved_epoch != epoch + 1:
            return
        start = time.monotonic()
        self._save(epoch)
        if self.backup is not None:
            # Part of the backup: it counts against the backup's budget.
            self.backup.budget.charge(time.monotonic() - start)

    def _save(self, epoch: int) -> None:
        self.save_to.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {"epoch": epoch + 1, "callbacks": {}}
        for index, callback in self.kept.items():
            values = {
                name: _plain(getattr(callback, name, None))
                for name in _attributes(callback)
            }
            values["type"] = type(callback).__name__
            state["callbacks"][str(index)] = values
            best_weights = getattr(callback, "best_weights", None)
            if best_weights is not None:
                target = self.save_to / f"best_weights_{index}.npz"
                partial = target.with_suffix(".partial.npz")
                np.savez(partial, **{f"w{i}": w for i, w in enumerate(best_weights)})
                os.replace(partial, target)
        # Atomic like the other per-epoch records; fsync only at the end of a run.
        write_json_atomic(self.save_to / CALLBACK_STATE_FILE, state, durable=False)


OWNER_FILE = ".cbrun-backup-of"
"""Written by cbrun into a callback's backup folder it created: the run dir's
path, so that ``--resume`` knows the folder is that run's and not another's."""


class BackupFolderError(CbrunError):
    """A folder a callback deletes from is not one cbrun created for this run."""


def _within(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _mark(run_dir: Path) -> bytes:
    return os.path.realpath(run_dir).encode("utf-8", "surrogateescape")


def _owned_by(folder: Path, run_dir: Path) -> bool:
    """Whether ``folder`` carries cbrun's mark naming ``run_dir``."""
    expected = _mark(run_dir)
    try:
        with open(folder / OWNER_FILE, "rb") as stream:
            return stream.read(len(expected) + 1) == expected
    except OSError:
        return False


def deleted_folder_problem(
    folder: Path, run_dir: Path, *, resuming: bool
) -> str | None:
    """Why a callback may not use ``folder``, a folder it deletes from.

    Keras's ``BackupAndRestore`` removes its folder when training ends (and
    Orbax prunes its own), so the folder must be one cbrun creates: it must
    not exist when a run starts. A resumed run may find the folder its first
    part created: inside its run dir, or carrying cbrun's mark for that run.

    Args:
        folder: The resolved folder.
        run_dir: The run dir.
        resuming: Whether this is ``--resume`` of the run in ``run_dir``.

    Returns:
        The reason, or None if the folder may be used.
    """
    if not os.path.lexists(folder):
        return None
    if resuming and (_within(folder, run_dir) or _owned_by(folder, run_dir)):
        return None
    why = (
        "and cbrun did not create it for this run"
        if resuming
        else "before the run starts"
    )
    return (
        f"already exists {why}; the callback deletes this folder (or "
        "files in it), so it must be a new folder that cbrun creates. Choose a "
        "path that does not exist yet, or remove it if it holds nothing of value"
    )


def claim_folder(folder: Path, run_dir: Path, *, resuming: bool) -> None:
    """Create ``folder`` for this run, or accept the one a resumed run made.

    Raises:
        BackupFolderError: The folder exists and is not this run's.
    """
    reason = deleted_folder_problem(folder, run_dir, resuming=resuming)
    if reason is not None:
        raise BackupFolderError(f"backup_dir {folder} {reason}")
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True)  # exclusive: a folder made meanwhile fails
        except FileExistsError:
            raise BackupFolderError(
                f"backup_dir {folder} is in the way (a file, or a folder made "
                "after the callbacks were built); choose a path nothing else uses"
            ) from None
    (folder / OWNER_FILE).write_bytes(_mark(run_dir))


class OwnedBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's ``BackupAndRestore`` in a folder cbrun created for this run.

    Keras removes ``backup_dir`` when training ends; this one first makes
    sure that folder is new (or, on ``--resume``, this run's own), so the
    removal never takes anything cbrun did not create.

    Args:
        backup_dir: As for ``BackupAndRestore``; resolved already.
        run_dir: The run dir.
        resuming: Whether the run is resumed.
        **kwargs: ``BackupAndRestore`` parameters.
    """

    def __init__(
        self, backup_dir: str, *, run_dir: Path, resuming: bool, **kwargs: Any
    ) -> None:
        super().__init__(backup_dir, **kwargs)
        self.run_dir = run_dir
        self.resuming = resuming

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Claim the folder, then restore as Keras does."""
        claim_folder(Path(self.backup_dir), self.run_dir, resuming=self.resuming)
        super().on_train_begin(logs)
