"""The state Keras's ``BackupAndRestore`` leaves out: callbacks' counters.

Keras backs up the model, the optimizer and the epoch counter. A resumed run
also needs EarlyStopping's wait and best (and best weights),
ReduceLROnPlateau's wait, cooldown and best, and ModelCheckpoint's best, or a
restart forgets them (and may overwrite a better checkpoint, Keras issue
17012). This callback saves them beside Keras's backup after every epoch and
puts them back when training begins again.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cbrun.runs.atomic import write_json_atomic

STATE_FILE = "callbacks_state.json"

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


class CallbackStateKeeper(keras.callbacks.Callback):
    """Save and restore other callbacks' progress, keyed by their config index.

    Place it after the callbacks it keeps and after ``BackupAndRestore``, so
    that it saves what they did this epoch and restores after they reset.

    Args:
        backup_dir: The folder of the run's ``BackupAndRestore``.
        callbacks: Config index to built callback.
        restore: Whether to load the saved state at the start of training.
    """

    def __init__(
        self,
        backup_dir: Path,
        callbacks: dict[int, keras.callbacks.Callback],
        *,
        restore: bool = False,
    ) -> None:
        super().__init__()
        self.backup_dir = backup_dir
        self.kept = {i: c for i, c in callbacks.items() if _attributes(c)}
        self.restore = restore
        self.restored: dict[str, Any] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Put the saved counters back (after the callbacks reset them)."""
        path = self.backup_dir / STATE_FILE
        if not self.restore or not path.is_file():
            return
        saved = json.loads(path.read_text())
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
        """Save every kept callback's counters for this epoch."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {"epoch": epoch + 1, "callbacks": {}}
        for index, callback in self.kept.items():
            values = {
                name: _plain(getattr(callback, name, None))
                for name in _attributes(callback)
            }
            values["type"] = type(callback).__name__
            state["callbacks"][str(index)] = values
            best_weights = getattr(callback, "best_weights", None)
            if (
                best_weights is not None
                and getattr(callback, "best_epoch", -1) == epoch
            ):
                target = self.backup_dir / f"best_weights_{index}.npz"
                partial = target.with_suffix(".partial.npz")
                np.savez(partial, **{f"w{i}": w for i, w in enumerate(best_weights)})
                os.replace(partial, target)
        write_json_atomic(self.backup_dir / STATE_FILE, state)
