"""Schema of the ``sweep`` section: what ``cbrun sweep`` searches and how.

The section is read by ``cbrun validate`` without importing Optuna or
TensorFlow. Each ``space`` key uses the ``--set`` syntax and addresses a
field of this config; its values are checked against that field's schema
by :mod:`cbrun.config.sweep_checks`.

Example:
    ``{metric: val_accuracy, trials: 20, space: {fit.batch_size: {choice: [16, 32]}}}``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from cbrun.config.base import PositiveInt, StrictModel

if TYPE_CHECKING:
    from cbrun.config.experiment import ExperimentConfig
    from cbrun.config.yaml_loader import SourceMap
    from cbrun.errors import Problem

SAMPLERS = ("tpe", "random", "grid", "cmaes", "qmc")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
# What Optuna stores as a categorical value, as JSON Schema types.
_SCALAR_TYPES = ("string", "number", "integer", "boolean", "null")
# A space key: --set syntax (overrides.py), not reaching `sweep`, `name` or
# `backend` (refused by sweep_checks, where the message says why).
_SPACE_KEY_PATTERN = r"^(?!(sweep|backend)(\.|$)|name$)[A-Za-z_][\w-]*(\.[\w-]+)*$"


class FloatRange(StrictModel):
    """A float between two bounds: ``{float: [1.0e-4, 1.0e-2], log: true}``."""

    # Written back (a run's config.yaml, best.yaml) under the keys users write.
    model_config = ConfigDict(serialize_by_alias=True)

    bounds: list[float] = Field(
        alias="float",
        min_length=2,
        max_length=2,
        description="[low, high], both included.",
    )
    log: bool = Field(False, description="Sample on a log scale (bounds > 0).")
    step: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Only multiples of step above low (not with log)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> FloatRange:
        low, high = self.bounds
        _check_bounds(low, high, self.log)
        if self.log and self.step is not None:
            raise ValueError("give `log` or `step`, not both (Optuna refuses both)")
        return self

    def is_finite(self) -> bool:
        """Whether the range has finitely many values (a grid can take it)."""
        return self.step is not None


class IntRange(StrictModel):
    """An integer between two bounds: ``{int: [32, 256], step: 32}``."""

    # Written back (a run's config.yaml, best.yaml) under the keys users write.
    model_config = ConfigDict(serialize_by_alias=True)

    bounds: list[int] = Field(
        alias="int",
        min_length=2,
        max_length=2,
        description="[low, high], both included.",
    )
    step: PositiveInt = Field(1, description="Only multiples of step above low.")
    log: bool = Field(False, description="Sample on a log scale (bounds > 0).")

    @model_validator(mode="after")
    def _consistent(self) -> IntRange:
        low, high = self.bounds
        _check_bounds(low, high, self.log)
        if self.log and self.step != 1:
            raise ValueError("`log` needs step 1 (Optuna refuses both)")
        return self

    def is_finite(self) -> bool:
        """Always: a grid can take an integer range."""
        return True


class Choice(StrictModel):
    """One of a list of values: ``{choice: [adam, sgd]}``."""

    # Written back (a run's config.yaml, best.yaml) under the keys users write.
    model_config = ConfigDict(serialize_by_alias=True)

    values: list[Any] = Field(
        alias="choice",
        min_length=1,
        description="The candidate values: numbers, strings, booleans or null, "
        "each valid for the field the key addresses.",
        json_schema_extra={"items": {"type": list(_SCALAR_TYPES)}},
    )

    @model_validator(mode="after")
    def _plain(self) -> Choice:
        for index, value in enumerate(self.values):
            if not isinstance(value, str | int | float | bool) and value is not None:
                raise ValueError(
                    f"choice item {index} is a {type(value).__name__}; Optuna "
                    "stores only numbers, strings, booleans and null"
                )
        if len({repr(v) for v in self.values}) != len(self.values):
            raise ValueError("choice values must be different")
        return self

    def is_finite(self) -> bool:
        """Always."""
        return True


def _check_bounds(low: float, high: float, log: bool) -> None:
    if low > high:
        raise ValueError(f"low {low} is above high {high}; write [low, high]")
    if log and low <= 0:
        raise ValueError(f"`log` needs bounds above 0, got low {low}")


def _kind(value: Any) -> str | None:
    """Tell the three kinds apart by their one required key (or by class).

    Validation sees the mapping as written; serialization sees the models.
    """
    if isinstance(value, dict):
        found = [key for key in ("float", "int", "choice") if key in value]
        return found[0] if len(found) == 1 else None
    kinds: dict[type, str] = {FloatRange: "float", IntRange: "int", Choice: "choice"}
    return kinds.get(type(value))


SpaceItem = Annotated[
    Annotated[FloatRange, Tag("float")]
    | Annotated[IntRange, Tag("int")]
    | Annotated[Choice, Tag("choice")],
    Discriminator(
        _kind,
        custom_error_type="space_item",
        custom_error_message="a space item is one of {float: [lo, hi]}, "
        "{int: [lo, hi]} or {choice: [...]}",
    ),
]


class SweepConfig(StrictModel):
    """A hyperparameter search over this config, run by ``cbrun sweep``.

    Example:
        ``{trials: 20, space: {compile.optimizer.learning_rate: {float: [1.0e-4,
        1.0e-2], log: true}}}``
    """

    metric: str | None = Field(
        None,
        description="What a trial optimizes: a logged quantity; default the "
        "first callback's monitor, else val_loss (loss without validation).",
    )
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="Default: the metric's own direction."
    )
    trials: PositiveInt = Field(20, description="Trials in the whole study.")
    timeout: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Stop starting trials after this many seconds."
    )
    sampler: Literal["tpe", "random", "grid", "cmaes", "qmc"] = Field(
        "tpe", description="Optuna sampler."
    )
    pruner: Literal["median", "hyperband", "successive_halving", "none"] = Field(
        "median", description="Optuna pruner, fed the metric after every epoch."
    )
    space: dict[str, SpaceItem] = Field(
        min_length=1,
        description="What to search: --set keys of this config (fit.batch_size, "
        "model.layers.1.units, callbacks.EarlyStopping.patience), each "
        "{float: [lo, hi], log, step}, {int: [lo, hi], step, log} or "
        "{choice: [...]}.",
        examples=[
            {
                "compile.optimizer.learning_rate": {
                    "float": [1.0e-4, 1.0e-2],
                    "log": True,
                },
                "model.layers.1.units": {"int": [32, 256], "step": 32},
                "callbacks.EarlyStopping.patience": {"choice": [2, 3, 5]},
            }
        ],
        json_schema_extra={"propertyNames": {"pattern": _SPACE_KEY_PATTERN}},
    )

    def infinite_keys(self) -> list[str]:
        """The space keys a grid cannot take: float ranges without a step.

        ``sampler: grid`` with any is refused by
        :mod:`cbrun.config.sweep_checks`, at each such item's line.
        """
        return [key for key, item in self.space.items() if not item.is_finite()]


def check_sweep(
    experiment: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """Check the sweep section against its config; nothing without one.

    The checks (:func:`cbrun.config.sweep_checks.sweep_problems`) are imported
    only for a config with a sweep: ``validate`` loads what a config uses.
    """
    if experiment.sweep is None:
        return []
    from cbrun.config.sweep_checks import sweep_problems

    return sweep_problems(experiment, data, source)
