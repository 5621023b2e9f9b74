"""Schema of ``keras.callbacks.ModelCheckpoint``, with two TF 2.0 parameters."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.base import Mode, Monitor, PositiveInt, SaveFreq, Verbose
from cbrun.config.callbacks.base import CallbackSchema


class ModelCheckpointSchema(CallbackSchema):
    """Save the model or its weights during training.

    ``filepath`` may hold ``{epoch}`` and any logged metric, with format specs
    (``weights.{epoch:02d}-{val_loss:.2f}.weights.h5``). A relative path
    resolves inside the run dir. It must end in ``.keras``, or in
    ``.weights.h5`` with ``save_weights_only: true``.

    Args:
        filepath: Where to save; required.
        monitor: Metric for ``save_best_only``. Defaults to ``"val_loss"``.
        verbose: 1 prints a message per save. Defaults to 0.
        save_best_only: Save only when the monitored metric improves.
            Defaults to False.
        save_weights_only: Save weights only (``.weights.h5``). Defaults to
            False.
        mode: ``auto``, ``min`` or ``max``. Defaults to ``"auto"``.
        save_freq: ``"epoch"`` or a number of batches. Defaults to
            ``"epoch"``.
        initial_value_threshold: Value the metric must beat before the first
            save. Defaults to None.
        load_weights_on_restart: (cbrun, from TF 2.0) load the newest
            checkpoint matching ``filepath`` before training. Defaults to False.
        period: (cbrun, from TF 2.0) save every ``period`` epochs. Defaults
            to 1.

    Example:
        ``{type: ModelCheckpoint, filepath: best.keras, save_best_only: true}``
    """

    keras_class: ClassVar[str | None] = "ModelCheckpoint"
    cbrun_additions: ClassVar[tuple[str, ...]] = ("load_weights_on_restart", "period")
    path_fields: ClassVar[tuple[str, ...]] = ("filepath",)
    monitor_fields: ClassVar[tuple[str, ...]] = ("monitor",)
    removed_parameters: ClassVar[dict[str, str]] = {
        "options": "Keras 3 removed `options` (tf.train.CheckpointOptions); delete it",
    }
    summary: ClassVar[str] = "Save the model or its weights during training."

    type: Literal["ModelCheckpoint"]
    filepath: str = Field(
        min_length=1,
        description="Where to save: ends in .keras, or .weights.h5 with "
        "save_weights_only. May hold {epoch} and logged metrics.",
    )
    monitor: Monitor = "val_loss"
    verbose: Verbose = Field(0, description="1: print a message per save.")
    save_best_only: bool = Field(
        False, description="Save only when the monitored metric improves."
    )
    save_weights_only: bool = Field(
        False, description="Save only the weights (.weights.h5)."
    )
    mode: Mode = Field("auto", description="`min`, `max`, or `auto` from the name.")
    save_freq: SaveFreq = Field(
        "epoch", description="`epoch`, or save every N batches."
    )
    initial_value_threshold: float | None = Field(
        None, description="Value the metric must beat before the first save."
    )
    load_weights_on_restart: bool = Field(
        False,
        description="cbrun (TF 2.0 API): load the newest matching checkpoint "
        "before training.",
    )
    period: PositiveInt = Field(
        1, description="cbrun (TF 2.0 API): save every `period` epochs."
    )
