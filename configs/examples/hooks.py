"""LambdaCallback hooks, as configs name them: ``examples.hooks:print_epoch``.

A hook is any importable function with the arguments Keras passes: epoch
hooks get ``(epoch, logs)``, train hooks ``(logs)``, batch hooks
``(batch, logs)``; ``logs`` maps each logged metric to its value.
"""

from __future__ import annotations

from typing import Any


def _format(logs: dict[str, Any] | None) -> str:
    items = (logs or {}).items()
    return ", ".join(f"{name} {float(value):.4f}" for name, value in items)


def print_epoch(epoch: int, logs: dict[str, Any] | None = None) -> None:
    """Print an epoch's number (from 1, as Keras shows it) and its metrics."""
    print(f"epoch {epoch + 1:2d}: {_format(logs)}", flush=True)


def print_train_end(logs: dict[str, Any] | None = None) -> None:
    """Print the metrics of the last epoch when training ends."""
    print(f"training ended; last epoch: {_format(logs)}", flush=True)
