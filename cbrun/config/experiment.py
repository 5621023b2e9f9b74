"""The top-level schema: one experiment, one training run."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from cbrun.config.base import StrictModel
from cbrun.config.callbacks import CallbackConfig
from cbrun.config.data import DataConfig
from cbrun.config.model import ModelConfig
from cbrun.config.stages import StageConfig
from cbrun.config.sweep import SweepConfig
from cbrun.config.tracking import TrackingConfig
from cbrun.config.training import CompileConfig, FitConfig

RUN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
STRATEGIES = ("mirrored", "data_parallel")


class DistributeConfig(StrictModel):
    """How to spread training over devices or processes.

    Example:
        ``{strategy: mirrored}``
    """

    strategy: Literal["mirrored", "data_parallel"] = Field(
        description="mirrored (TensorFlow, one machine's GPUs) or data_parallel "
        "(JAX, many processes)."
    )
    devices: list[str] | None = Field(
        None, description="Devices to use, e.g. [/gpu:0, /gpu:1]; default all."
    )

    @field_validator("strategy", mode="before")
    @classmethod
    def _refuse_multi_worker(cls, value: Any) -> Any:
        if value == "multi_worker_mirrored":
            raise ValueError(
                "multi_worker_mirrored does not work with Keras 3 (fit fails on "
                "PerReplica values; keras-team/keras issue 20585); use "
                "`strategy: data_parallel` with `backend: jax` for many machines, "
                "or `strategy: mirrored` for one machine's GPUs"
            )
        return value


class ExperimentConfig(StrictModel):
    """One training run: data, model, compile and fit settings, callbacks.

    Example:
        See ``configs/earlystop.yaml``.
    """

    name: Annotated[str, Field(pattern=RUN_NAME_PATTERN)] | None = Field(
        None,
        description="Run name, one safe path component; defaults to the file's "
        "stem. Runs go to runs/<name>/<timestamp>/.",
    )
    seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        42, description="keras.utils.set_random_seed(seed) before anything random."
    )
    deterministic: bool = Field(
        False, description="Also enable TensorFlow op determinism."
    )
    backend: Literal["tensorflow", "jax", "torch"] = Field(
        "tensorflow", description="The Keras 3 backend."
    )
    distribute: DistributeConfig | None = None
    data: DataConfig
    model: ModelConfig
    compile: CompileConfig = Field(default_factory=CompileConfig)
    fit: FitConfig = Field(default_factory=FitConfig)
    callbacks: list[CallbackConfig] = Field(default_factory=list)
    stages: list[StageConfig] | None = Field(
        None,
        description="Train in steps (e.g. a frozen base, then fine-tuning): each "
        "stage may set layers' trainable and override compile and fit keys; "
        "epochs count on across stages.",
    )
    tracking: TrackingConfig | None = Field(
        None, description="Also show the run in MLflow or TensorBoard's HParams."
    )
    sweep: SweepConfig | None = Field(
        None,
        description="A hyperparameter search, run by `cbrun sweep`; "
        "`cbrun train` trains the config as written.",
    )

    @field_validator("name")
    @classmethod
    def _not_dots(cls, value: str | None) -> str | None:
        if value is not None and set(value) <= {"."}:
            raise ValueError(f"run name {value!r} is not a folder name")
        return value
