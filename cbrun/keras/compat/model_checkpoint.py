"""``ModelCheckpoint`` with TF 2.0's ``period`` and ``load_weights_on_restart``."""

from __future__ import annotations

import glob
import os
import re
import string
from typing import Any

import keras


def checkpoint_glob(filepath: str) -> str:
    """Turn a ``{placeholder}`` file path into a glob pattern."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(filepath):
        parts.append(glob.escape(literal))
        if name is not None:
            parts.append("*")
    return re.sub(r"\*+", "*", "".join(parts))


def newest_checkpoint(filepath: str) -> str | None:
    """Return the most recently written file matching ``filepath``, if any."""
    matches = [p for p in glob.glob(checkpoint_glob(filepath)) if os.path.isfile(p)]
    return max(matches, key=os.path.getmtime) if matches else None


class PeriodicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras 3's ``ModelCheckpoint`` plus two parameters of the TF 2.0 API.

    Args:
        period: Save only every ``period`` epochs (with ``save_freq="epoch"``).
            Defaults to 1.
        load_weights_on_restart: Before training, load the newest checkpoint
            matching ``filepath`` if one exists. Defaults to False.
        **kwargs: ``keras.callbacks.ModelCheckpoint`` parameters.
    """

    def __init__(
        self, *, period: int = 1, load_weights_on_restart: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.period = period
        self.load_weights_on_restart = load_weights_on_restart
        self.restored_from: str | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Load the newest matching checkpoint when asked to."""
        super().on_train_begin(logs)
        if not self.load_weights_on_restart:
            return
        found = newest_checkpoint(self.filepath)
        if found is not None:
            optimizer = self.model.optimizer
            if optimizer is not None and not optimizer.built:
                # Built first, so that its saved state is loaded as well.
                optimizer.build(self.model.trainable_variables)
            self.model.load_weights(found)
            self.restored_from = found

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Save only on every ``period``-th epoch."""
        if self.save_freq == "epoch" and (epoch + 1) % self.period:
            return
        super().on_epoch_end(epoch, logs)
