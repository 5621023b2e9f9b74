"""A model and a callback that let a test signal a run in a chosen phase.

``CBRUN_TEST_SIGNAL_AT`` names the phase; nothing happens without it:

- ``build``: the model builder writes the file named by
  ``CBRUN_TEST_MARKER`` and sleeps, so the test can signal the process while
  it loads and builds (after TensorFlow's import, before training);
- ``train_end``: :class:`SignalAtTrainEnd` signals the process in
  ``on_train_end``, the last moment of ``fit``;
- ``evaluate``: :class:`SignalLayer` signals it when called in inference mode,
  which in a run without validation data is only ``model.evaluate`` after
  ``fit``;
- ``save``: :class:`SignalLayer` signals it from ``get_config``, which
  ``model.save`` calls.

The process signals itself with ``CBRUN_TEST_SIGNALS`` (comma-separated, e.g.
``SIGTERM`` or ``SIGINT,SIGINT`` for a second signal that stops at once):
the kernel delivers it as it would one from another process, at the phase the
test asked for.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import keras

PHASE_ENV = "CBRUN_TEST_SIGNAL_AT"
SIGNALS_ENV = "CBRUN_TEST_SIGNALS"
MARKER_ENV = "CBRUN_TEST_MARKER"

_sent: set[str] = set()


def _signal_at(phase: str) -> None:
    """Send this process the signals the test asked for, once per phase."""
    if os.environ.get(PHASE_ENV) != phase or phase in _sent:
        return
    _sent.add(phase)
    for name in os.environ.get(SIGNALS_ENV, "SIGTERM").split(","):
        os.kill(os.getpid(), signal.Signals[name.strip()])
        time.sleep(0.05)  # the handler runs before the next one is sent


@keras.saving.register_keras_serializable(package="cbrun_tests")
class SignalLayer(keras.layers.Layer):
    """The identity; signals the process in the ``evaluate`` or ``save`` phase."""

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training is False:
            _signal_at("evaluate")
        return inputs

    def get_config(self) -> dict[str, Any]:
        _signal_at("save")
        return super().get_config()


class SignalAtTrainEnd(keras.callbacks.Callback):
    """Signals the process when ``fit`` ends (phase ``train_end``)."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        _signal_at("train_end")


def model(features: int = 4, classes: int = 3) -> keras.Model:
    """A tiny classifier with a :class:`SignalLayer`; sleeps in phase ``build``.

    Args:
        features: Inputs per sample.
        classes: Output classes.
    """
    if os.environ.get(PHASE_ENV) == "build":
        Path(os.environ[MARKER_ENV]).write_text(str(os.getpid()))
        time.sleep(60)
    return keras.Sequential(
        [
            keras.Input(shape=(features,)),
            SignalLayer(),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
