"""A real run stopped by SIGTERM after a chosen epoch, backed up at every epoch.

Resume tests need a run dir as a signal leaves it: status ``interrupted``,
a backup of the last finished epoch, history and stage records up to it.
The signal is sent by the process to itself from a callback, so the run
stops exactly there, in the process the tests already run Keras in.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from cbrun.config.loading import load_config


def run_stopped_after(config: Path, runs_dir: Path, epochs: int) -> Path:
    """Train ``config`` into ``runs_dir`` until SIGTERM ends epoch ``epochs``.

    Returns:
        The run dir (the only one under ``runs_dir/<name>/``).
    """
    import keras

    import cbrun.keras.backup as backup
    import cbrun.training.lifecycle as lifecycle
    from cbrun.training.signals import Interrupted

    class SignalAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch + 1 == epochs:
                os.kill(os.getpid(), signal.SIGTERM)

    real = lifecycle._Run._fit_once

    def fit_once(self: Any, plan: Any, callbacks: list[Any]) -> None:
        real(self, plan, [SignalAfter(), *callbacks])

    loaded = load_config(config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lifecycle._Run, "_fit_once", fit_once)
        patch.setattr(backup, "BACKUP_SHARE", None)  # a backup at every epoch
        with pytest.raises(Interrupted):
            lifecycle.train(
                loaded,
                runs_dir,
                command=["cbrun", "train", str(config)],
                echo=lambda line: None,
            )
    (run_dir,) = (runs_dir / str(loaded.experiment.name)).iterdir()
    return run_dir
