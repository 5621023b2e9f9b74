"""Schema of ``keras.callbacks.TensorBoard``."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from cbrun.config.base import NonNegativeInt
from cbrun.config.callbacks.base import CallbackSchema


class TensorBoardSchema(CallbackSchema):
    """Write TensorBoard logs: scalars, histograms, graph, profiles.

    ``log_dir`` resolves inside the run dir; view with
    ``tensorboard --logdir runs/<name>``. Needs the ``tensorboard`` package,
    which cbrun installs.

    Args:
        log_dir: Where to write the logs. Defaults to ``"logs"``.
        histogram_freq: Epochs between weight histograms; 0 disables.
            Defaults to 0.
        write_graph: Write the graph. Defaults to True.
        write_images: Write weights as images. Defaults to False.
        write_steps_per_second: Log steps per second. Defaults to False.
        update_freq: ``"batch"``, ``"epoch"`` or a number of batches.
            Defaults to ``"epoch"``.
        profile_batch: Batch (or ``[start, stop]`` range) to profile; 0
            disables. Defaults to 0.
        embeddings_freq: Epochs between embedding visualisations. Defaults
            to 0.
        embeddings_metadata: Layer name to metadata file. Defaults to None.

    Example:
        ``{type: TensorBoard, log_dir: tensorboard, histogram_freq: 1}``
    """

    keras_class: ClassVar[str | None] = "TensorBoard"
    path_fields: ClassVar[tuple[str, ...]] = ("log_dir",)
    removed_parameters: ClassVar[dict[str, str]] = {
        "batch_size": "Keras 3 removed `batch_size`; delete it (fit.batch_size "
        "is used)",
        "write_grads": "Keras 3 removed `write_grads`; delete it (gradient "
        "histograms are not written any more)",
        "embeddings_layer_names": "Keras 3 removed `embeddings_layer_names`; use "
        "`embeddings_metadata` keyed by layer name",
        "embeddings_data": "Keras 3 removed `embeddings_data`; delete it",
    }
    summary: ClassVar[str] = "Write TensorBoard logs (scalars, histograms, graph)."

    type: Literal["TensorBoard"]
    log_dir: str = Field("logs", min_length=1, description="Where logs go.")
    histogram_freq: NonNegativeInt = Field(
        0, description="Epochs between weight histograms; 0 disables them."
    )
    write_graph: bool = Field(True, description="Write the model graph.")
    write_images: bool = Field(False, description="Write weights as images.")
    write_steps_per_second: bool = Field(
        False, description="Log training steps per second."
    )
    update_freq: Literal["batch", "epoch"] | Annotated[int, Field(gt=0)] = Field(
        "epoch", description="`batch`, `epoch`, or every N batches."
    )
    profile_batch: (
        NonNegativeInt
        | Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]
    ) = Field(0, description="Batch or [start, stop] to profile; 0 disables.")
    embeddings_freq: NonNegativeInt = Field(
        0, description="Epochs between embedding visualisations."
    )
    embeddings_metadata: dict[str, str] | None = Field(
        None, description="Layer name to embeddings metadata file."
    )
