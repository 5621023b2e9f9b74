"""Schema of ``keras.callbacks.OrbaxCheckpoint``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.base import Mode, Monitor, PositiveInt, SaveFreq, Verbose
from cbrun.config.callbacks.base import CallbackSchema


class OrbaxCheckpointSchema(CallbackSchema):
    """Save checkpoints with Orbax (needs the ``orbax-checkpoint`` package).

    A relative ``directory`` resolves inside the run dir. Orbax deletes old
    checkpoints in it, so it must not exist when a run starts.

    Args:
        directory: Where checkpoints go; required.
        monitor: Metric for ``save_best_only``. Defaults to ``"val_loss"``.
        verbose: 1 prints a message per save. Defaults to 0.
        save_best_only: Save only on improvement. Defaults to False.
        mode: ``auto``, ``min`` or ``max``. Defaults to ``"auto"``.
        save_freq: ``"epoch"`` or a number of batches. Defaults to
            ``"epoch"``.
        initial_value_threshold: Value to beat before the first save.
            Defaults to None.
        max_to_keep: Checkpoints to keep. Defaults to 1.
        save_on_background: Save asynchronously. Defaults to True.
        save_weights_only: Save weights only. Defaults to False.

    Example:
        ``{type: OrbaxCheckpoint, directory: orbax, max_to_keep: 3}``
    """

    keras_class: ClassVar[str | None] = "OrbaxCheckpoint"
    path_fields: ClassVar[tuple[str, ...]] = ("directory",)
    monitor_fields: ClassVar[tuple[str, ...]] = ("monitor",)
    summary: ClassVar[str] = "Save checkpoints with Orbax."

    type: Literal["OrbaxCheckpoint"]
    directory: str = Field(min_length=1, description="Where checkpoints go.")
    monitor: Monitor = "val_loss"
    verbose: Verbose = Field(0, description="1: print a message per save.")
    save_best_only: bool = Field(False, description="Save only on improvement.")
    mode: Mode = Field("auto", description="`min`, `max`, or `auto` from the name.")
    save_freq: SaveFreq = Field("epoch", description="`epoch`, or every N batches.")
    initial_value_threshold: float | None = Field(
        None, description="Value to beat before the first save."
    )
    max_to_keep: PositiveInt = Field(1, description="Checkpoints to keep.")
    save_on_background: bool = Field(True, description="Save asynchronously.")
    save_weights_only: bool = Field(False, description="Save weights only.")
