"""How a run ended: its status and stop reason, and the lines that say so.

Read from the config's callback schemas (which callback stopped, what it
monitored) and from the built callbacks' state after ``fit``; the Keras
classes themselves are never inspected, so this module imports no Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cbrun.config.callbacks.early_stopping import EarlyStoppingSchema
from cbrun.config.callbacks.tensorboard import TensorBoardSchema
from cbrun.config.callbacks.terminate_on_nan import TerminateOnNaNSchema
from cbrun.config.experiment import ExperimentConfig
from cbrun.errors import CbrunError, ExitCode
from cbrun.runs import manifest as runs
from cbrun.runs.layout import (
    CONFIG_FILE,
    HISTORY_FILE,
    HISTORY_PLOT,
    MODEL_FILE,
    RUN_FILE,
    resolve_inside,
)

# The files a finished run points its user to, in the order they matter.
_SHOWN_FILES = (RUN_FILE, HISTORY_FILE, HISTORY_PLOT, CONFIG_FILE, MODEL_FILE)


class TrainingFailed(CbrunError):
    """Training raised, or stopped on NaN; run.json says which."""

    exit_code = ExitCode.TRAINING_FAILED


def classify(
    config: ExperimentConfig,
    indexed: Sequence[tuple[int, Any]],
    epochs_run: int,
    planned_epochs: int,
    extra: Sequence[Any] = (),
) -> tuple[str, str]:
    """Return ``(status, reason)`` of a run whose ``fit`` returned.

    Args:
        config: The run's config.
        indexed: ``(config index, built callback)`` pairs.
        epochs_run: Epochs finished.
        planned_epochs: Epochs the fit plan asked for.
        extra: Callbacks added by the caller; one whose ``ended`` is a
            ``(status, reason)`` pair stopped the run (a sweep's pruner).
    """
    for callback in extra:
        ended = getattr(callback, "ended", None)
        if ended is not None:
            return ended
    for index, callback in indexed:
        schema = config.callbacks[index]
        if isinstance(schema, EarlyStoppingSchema) and callback.stopped_epoch:
            return runs.STOPPED_EARLY, (
                f"EarlyStopping: {schema.monitor} did not improve for "
                f"{schema.patience} epochs after epoch {callback.best_epoch + 1} "
                f"(best {float(callback.best):.6g}); stopped at epoch "
                f"{callback.stopped_epoch + 1}"
            )
    if epochs_run < planned_epochs:
        return runs.STOPPED_EARLY, f"a callback stopped training at epoch {epochs_run}"
    return (
        runs.COMPLETED,
        f"finished {epochs_run} epoch{'' if epochs_run == 1 else 's'}",
    )


def guards_nan(config: ExperimentConfig) -> bool:
    """Whether the config lists TerminateOnNaN, which stops on a NaN loss."""
    return any(isinstance(c, TerminateOnNaNSchema) for c in config.callbacks)


def closing_lines(
    config: ExperimentConfig,
    run_dir: Path,
    reason: str,
    best: dict[str, Any] | None,
    test_metrics: dict[str, float] | None,
) -> list[str]:
    """What the user reads when a run ends well: why, best, test, files."""
    lines = [reason]
    if best is not None:
        lines.append(
            f"best {best['monitor']}: {best['value']:.6g} at epoch {best['epoch']}"
        )
    if test_metrics:
        lines.append(
            "test: " + ", ".join(f"{k} {v:.6g}" for k, v in test_metrics.items())
        )
    files = [name for name in _SHOWN_FILES if (run_dir / name).exists()]
    lines.append(f"files: {run_dir} ({', '.join(files)})")
    for callback in config.callbacks:
        if isinstance(callback, TensorBoardSchema):
            log_dir = resolve_inside(run_dir, callback.log_dir)
            lines.append(f"view it: tensorboard --logdir {log_dir}")
    return lines
