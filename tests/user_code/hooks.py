"""Hooks, callbacks and a schedule that test configs import by path.

Each leaves its evidence in a file, so a test can check that cbrun imported
and called it: LambdaCallback hooks append JSON lines to the file named by the
``CBRUN_TEST_HOOK_LOG`` environment variable; the callback classes write to the
``path`` they are given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

HOOK_LOG_ENV = "CBRUN_TEST_HOOK_LOG"


def _append(event: str, **values: Any) -> None:
    path = os.environ.get(HOOK_LOG_ENV)
    if not path:
        raise RuntimeError(f"set {HOOK_LOG_ENV} to the file the hooks append to")
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps({"event": event, **values}) + "\n")


def _plain(logs: dict[str, Any] | None) -> dict[str, float]:
    return {key: float(value) for key, value in (logs or {}).items()}


def on_train_begin(logs: dict[str, Any] | None = None) -> None:
    """LambdaCallback hook: training starts."""
    _append("train_begin")


def on_epoch_begin(epoch: int, logs: dict[str, Any] | None = None) -> None:
    """LambdaCallback hook: an epoch starts."""
    _append("epoch_begin", epoch=epoch)


def on_epoch_end(epoch: int, logs: dict[str, Any] | None = None) -> None:
    """LambdaCallback hook: an epoch ends, with its logs."""
    _append("epoch_end", epoch=epoch, logs=_plain(logs))


def on_train_batch_end(batch: int, logs: dict[str, Any] | None = None) -> None:
    """LambdaCallback hook: a training batch ends."""
    _append("batch_end", batch=batch)


def on_train_end(logs: dict[str, Any] | None = None) -> None:
    """LambdaCallback hook: training ends."""
    _append("train_end")


def halving_schedule(epoch: int, lr: float) -> float:
    """A LearningRateScheduler function: 0.01 halved every epoch."""
    return 0.01 * 0.5**epoch


class BatchLogRecorder(keras.callbacks.Callback):
    """Record every training batch's logs and every epoch's logs.

    Writes ``{"batches": [[{...}, ...] per epoch], "epochs": [{...}, ...]}`` as
    JSON to ``path`` at the end of every epoch.

    Args:
        path: The JSON file to write.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.batches: list[list[dict[str, float]]] = []
        self.epochs: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.batches.append([])

    def on_train_batch_end(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        self.batches[-1].append(_plain(logs))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs.append(_plain(logs))
        Path(self.path).write_text(
            json.dumps({"batches": self.batches, "epochs": self.epochs}),
            encoding="utf-8",
        )


class WeightsAtTrainBegin(keras.callbacks.Callback):
    """Save the model's weights as they are when training begins.

    Listed after a ModelCheckpoint with ``load_weights_on_restart``, it shows
    the weights that training starts from.

    Args:
        path: The ``.npz`` file to write.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        weights = self.model.get_weights()
        np.savez(self.path, *weights)


class NeedsTarget(keras.callbacks.Callback):
    """A callback with a required parameter, for bad-parameter tests.

    Args:
        target: Any number.
    """

    def __init__(self, target: float) -> None:
        super().__init__()
        self.target = target


class PredictionsPerEpoch(keras.callbacks.Callback):
    """Save the model's predictions on fixed inputs at the end of every epoch.

    The inputs are ``samples`` seeded random rows of the model's input shape;
    the file holds ``x`` and ``epoch_<n>`` (n from 1) for each finished epoch,
    so a checkpoint saved at epoch n can be compared with the model that saved
    it.

    Args:
        path: The ``.npz`` file to write.
        samples: How many input rows. Defaults to 16.
    """

    def __init__(self, path: str, samples: int = 16) -> None:
        super().__init__()
        self.path = path
        self.samples = samples
        self.saved: dict[str, np.ndarray] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        shape = tuple(self.model.inputs[0].shape[1:])
        rng = np.random.default_rng(0)
        self.saved = {
            "x": rng.uniform(0, 8, size=(self.samples, *shape)).astype("float32")
        }

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        predictions = self.model(self.saved["x"], training=False)
        self.saved[f"epoch_{epoch + 1}"] = keras.ops.convert_to_numpy(predictions)
        np.savez(self.path, **self.saved)
