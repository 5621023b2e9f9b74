"""Schemas of ``compile`` and ``fit``, mirroring ``keras.Model``'s parameters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cbrun.config.base import (
    NonNegativeInt,
    OpenModel,
    PositiveInt,
    StrictModel,
    check_name,
    known_name,
)
from cbrun.config.keras_names import (
    LOSS_ALIASES,
    LOSS_COMPILE_ALIASES,
    LOSSES,
    LR_SCHEDULES,
    METRIC_CLASS_LOG_NAMES,
    METRIC_LOG_NAMES,
    METRICS,
    OPTIMIZER_ALIASES,
    OPTIMIZERS,
)
from cbrun.suggest import closest, shown, unknown_name_error


def _class_indexes(value: Any) -> Any:
    """Read ``class_weight`` keys as class indexes.

    A resolved config.yaml is written from a JSON dump, whose keys are
    strings (``'0': 2.0``); cbrun must read its own files back (``--resume``).
    """
    if not isinstance(value, dict):
        return value
    indexes: dict[int, Any] = {}
    for key, weight in value.items():
        index = key
        if isinstance(key, str) and key.isascii() and key.isdigit():
            index = int(key)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(
                f"class_weight keys are class indexes (0, 1, ...), got {key!r}; "
                "e.g. `class_weight: {0: 1.0, 1: 5.0}`"
            )
        indexes[index] = weight
    return indexes


def _schedule_name(value: str) -> str:
    # Training builds keras.optimizers.schedules classes only: an import path
    # here would pass validate and fail in train.
    if value in LR_SCHEDULES:
        return value
    if closest(value, LR_SCHEDULES) is not None:
        raise unknown_name_error("learning rate schedule", value, LR_SCHEDULES)
    raise PydanticCustomError(
        "unknown_name",
        "{message}",
        {
            "message": f"unknown learning rate schedule {shown(value)}; "
            f"use one of keras.optimizers.schedules: {', '.join(LR_SCHEDULES)}"
        },
    )


class ScheduleObject(OpenModel):
    """A ``keras.optimizers.schedules`` object as a learning rate.

    Example:
        ``{type: ExponentialDecay, initial_learning_rate: 0.01,
        decay_steps: 100, decay_rate: 0.9}``
    """

    # Only the Keras schedules: `type` is not an import path here.
    type: Annotated[str, AfterValidator(_schedule_name)]


class OptimizerObject(OpenModel):
    """An optimizer with arguments.

    Example:
        ``{type: Adam, learning_rate: 0.001}``
    """

    type: Annotated[str, known_name("optimizer", OPTIMIZERS)]
    learning_rate: float | ScheduleObject | None = Field(
        None, description="A number, or a schedule object."
    )

    @field_validator("learning_rate")
    @classmethod
    def _positive(cls, value: float | ScheduleObject | None) -> Any:
        if isinstance(value, float | int) and value <= 0:
            raise ValueError(f"learning_rate must be > 0, got {value}")
        return value


class LossObject(OpenModel):
    """A loss class with arguments, e.g. ``{type: Huber, delta: 2.0}``."""

    type: Annotated[str, known_name("loss", LOSSES)]


class MetricObject(OpenModel):
    """A metric class with arguments, e.g. ``{type: AUC, name: auc}``."""

    type: Annotated[str, known_name("metric", METRICS)]


def _optimizer_name(value: Any) -> Any:
    # keras.optimizers.get ignores case, but builds only the aliases' classes.
    if isinstance(value, str) and value.lower() in OPTIMIZER_ALIASES:
        return value
    if isinstance(value, str):
        return check_name("optimizer", value, OPTIMIZER_ALIASES)
    return value


def _loss_name(value: Any) -> Any:
    if isinstance(value, str):
        return check_name("loss", value, LOSS_ALIASES, LOSS_COMPILE_ALIASES, LOSSES)
    return value


def _metric_name(value: Any) -> Any:
    if isinstance(value, str):
        return check_name("metric", value, METRIC_LOG_NAMES, METRIC_CLASS_LOG_NAMES)
    return value


MetricSpec = str | MetricObject


def _loss_kind(value: Any) -> str:
    """Tell a loss name, a ``{type: ...}`` object and a mapping by output apart.

    A mapping without ``type`` is by output name (``{out_a: mse}``); with it,
    one loss object. Validation sees the mapping as written, serialization
    the models.
    """
    if isinstance(value, LossObject):
        return "object"
    if isinstance(value, dict):
        return "object" if "type" in value else "by_output"
    return "name"


def _metrics_kind(value: Any) -> str:
    return "by_output" if isinstance(value, dict) else "list"


def _metric_kind(value: Any) -> str:
    return "object" if isinstance(value, dict | MetricObject) else "name"


def _one_or_list(value: Any) -> str:
    return "list" if isinstance(value, list) else "one"


# In a mapping, each name is checked at its own line.
_LossName = Annotated[str, AfterValidator(_loss_name)]
_MetricItem = Annotated[
    Annotated[Annotated[str, AfterValidator(_metric_name)], Tag("name")]
    | Annotated[MetricObject, Tag("object")],
    Discriminator(_metric_kind),
]
_OutputMetrics = Annotated[
    Annotated[_MetricItem, Tag("one")] | Annotated[list[_MetricItem], Tag("list")],
    Discriminator(_one_or_list),
]
LossSpec = Annotated[
    Annotated[_LossName, Tag("name")] | Annotated[LossObject, Tag("object")],
    Discriminator(_loss_kind),
]
LossSetting = Annotated[
    Annotated[str, Tag("name")]
    | Annotated[LossObject, Tag("object")]
    | Annotated[dict[str, LossSpec], Field(min_length=1), Tag("by_output")],
    Discriminator(_loss_kind),
]
"""A loss for every output, or a mapping from output name to its loss."""
MetricsSetting = Annotated[
    Annotated[list[MetricSpec], Tag("list")]
    | Annotated[dict[str, _OutputMetrics], Field(min_length=1), Tag("by_output")],
    Discriminator(_metrics_kind),
]
"""Metrics of the one output, or a mapping from output name to its metrics."""


def metrics_by_output(value: Any) -> dict[str, list[MetricSpec]] | None:
    """A ``metrics`` mapping with each output's metrics as a list, else None."""
    if not isinstance(value, dict):
        return None
    return {
        out: item if isinstance(item, list) else [item] for out, item in value.items()
    }


class CompileConfig(StrictModel):
    """Arguments of ``keras.Model.compile``.

    Example:
        ``{optimizer: adam, loss: sparse_categorical_crossentropy,
        metrics: [accuracy]}``
    """

    optimizer: str | OptimizerObject = Field(
        "rmsprop", description="A name (adam) or {type: Adam, learning_rate: ...}."
    )
    loss: LossSetting | None = Field(
        None,
        description="A loss name, or {type: LossClass, ...}; or a mapping by "
        "output name; required to fit.",
    )
    loss_weights: list[float] | dict[str, float] | None = Field(
        None, description="A weight per output: a list, or a mapping by output name."
    )
    metrics: MetricsSetting | None = Field(
        None,
        description="Metric names (logged exactly as written) or objects; or a "
        "mapping by output name.",
    )
    weighted_metrics: MetricsSetting | None = Field(
        None,
        description="Metrics weighed by sample_weight or class_weight, as "
        "`metrics`: a list, or a mapping by output name.",
    )
    run_eagerly: bool = False
    steps_per_execution: PositiveInt = 1
    jit_compile: bool | Literal["auto"] = "auto"
    auto_scale_loss: bool = True

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, value: Any) -> Any:
        return _optimizer_name(value)

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value  # Each name was checked at its line.
        return _loss_name(value)

    @field_validator("metrics", "weighted_metrics")
    @classmethod
    def _known_metrics(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value  # Each name was checked at its line.
        for item in value or []:
            _metric_name(item)
        return value


class FitConfig(StrictModel):
    """Arguments of ``keras.Model.fit`` (the data comes from ``data``).

    Example:
        ``{epochs: 20, batch_size: 32, validation_split: 0.1}``
    """

    batch_size: PositiveInt | None = Field(
        None, description="Samples per batch; Keras's default is 32."
    )
    epochs: PositiveInt = Field(1, description="Epochs to train.")
    verbose: Literal["auto", 0, 1, 2] = Field(
        "auto", description="0 silent, 1 progress bar, 2 one line per epoch."
    )
    validation_split: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="Fraction of the training data held out for validation."
    )
    validation_data: Literal["test"] | None = Field(
        None, description="`test`: validate on the test split."
    )
    shuffle: bool = True
    class_weight: Annotated[
        Literal["balanced"] | dict[int, Annotated[float, Field(gt=0)]] | None,
        BeforeValidator(_class_indexes),
    ] = Field(
        None,
        description=(
            "Class index to loss weight, or `balanced`: n_samples / (n_classes * "
            "count) from the training labels, as scikit-learn computes it."
        ),
    )
    initial_epoch: NonNegativeInt = 0
    steps_per_epoch: PositiveInt | None = None
    validation_steps: PositiveInt | None = None
    validation_batch_size: PositiveInt | None = None
    validation_freq: PositiveInt = 1

    @model_validator(mode="after")
    def _consistent(self) -> FitConfig:
        if self.validation_split and self.validation_data is not None:
            raise ValueError(
                "give either validation_split or validation_data, not both"
            )
        if self.initial_epoch >= self.epochs:
            raise ValueError(
                f"initial_epoch ({self.initial_epoch}) must be below epochs "
                f"({self.epochs})"
            )
        return self
