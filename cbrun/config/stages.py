"""Schema and checks of ``stages``: one model trained in steps (fine-tuning).

A staged run is what a script does when it calls ``fit`` more than once on
the same model, as the Keras transfer-learning guide does: freeze the base,
compile, fit; unfreeze, compile with a low learning rate, fit again.

- The top-level ``compile`` and ``fit`` are the defaults every stage starts
  from; a stage's ``compile`` and ``fit`` override only the keys they give.
- A stage's ``fit.epochs`` is the number of epochs *of that stage* (default:
  the top-level ``fit.epochs``). Epochs count on across stages: stage two of
  a 3 + 5 run trains epochs 4 to 8 (``initial_epoch=3, epochs=8`` in Keras's
  0-based terms), as a script calling ``fit`` twice with ``initial_epoch``.
- ``trainable`` maps layer names to ``true``/``false``; layers it does not
  name keep their state from the stage before (or the model's build).

The checks against the rest of the config are in
:mod:`cbrun.config.stage_checks`; the training loop in
:mod:`cbrun.training.stages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, FieldSerializationInfo, field_serializer

from cbrun.config.base import StrictModel
from cbrun.config.training import CompileConfig, FitConfig

if TYPE_CHECKING:
    from cbrun.config.experiment import ExperimentConfig

STAGE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class StageConfig(StrictModel):
    """One stage of a staged run: layers to (un)freeze, compile and fit changes.

    Example:
        ``{name: fine_tune, trainable: {base: true},
        compile: {optimizer: {type: Adam, learning_rate: 1.0e-5}},
        fit: {epochs: 5}}``
    """

    name: Annotated[str, Field(pattern=STAGE_NAME_PATTERN)] = Field(
        description="The stage's name, in history.json's `stage` list and run.json."
    )
    trainable: dict[str, bool] = Field(
        default_factory=dict,
        description="Layer name to trainable (false freezes it) from this stage on.",
    )
    compile: CompileConfig | None = Field(
        None,
        description="Keys that override the top-level compile in this stage "
        "(the model is compiled again, with a new optimizer).",
    )
    fit: FitConfig | None = Field(
        None,
        description="Keys that override the top-level fit in this stage; "
        "`epochs` is this stage's number of epochs.",
    )

    @field_serializer("compile", "fit")
    def _only_given(
        self, section: StrictModel | None, info: FieldSerializationInfo
    ) -> dict[str, Any] | None:
        # A resolved config.yaml must say what the stage overrides, not every
        # default: those would override the top level when it is read back.
        if section is None:
            return None
        return section.model_dump(mode=info.mode, exclude_unset=True)

    def compile_overrides(self) -> dict[str, Any]:
        """The compile keys this stage gives, with their validated values."""
        given = self.compile
        return {} if given is None else {k: getattr(given, k) for k in _set(given)}

    def fit_overrides(self) -> dict[str, Any]:
        """The fit keys this stage gives, with their validated values."""
        given = self.fit
        return {} if given is None else {k: getattr(given, k) for k in _set(given)}


def _set(model: StrictModel) -> list[str]:
    """The keys a partial section gave, in declaration order."""
    return [name for name in type(model).model_fields if name in model.model_fields_set]


def stage_compile(top: CompileConfig, stage: StageConfig) -> CompileConfig:
    """The compile section a stage trains with: the top level, then its keys."""
    return top.model_copy(update=stage.compile_overrides())


def stage_fit(top: FitConfig, stage: StageConfig) -> FitConfig:
    """The fit section a stage trains with: the top level, then its keys."""
    return top.model_copy(update=stage.fit_overrides())


def stage_epochs(top: FitConfig, stages: list[StageConfig]) -> list[int]:
    """Each stage's number of epochs (its own ``fit.epochs`` or the top level's)."""
    return [stage_fit(top, stage).epochs for stage in stages]


def compiles_again(
    sets_trainable: bool, section: CompileConfig, in_effect: CompileConfig
) -> bool:
    """Whether a stage compiles the model again as it begins (a new optimizer).

    Keras needs a compile after ``trainable`` changes; a stage whose compile
    differs from the one in effect compiles too. Otherwise the optimizer
    carries on, as in a script calling ``fit`` again.
    """
    return sets_trainable or section != in_effect


@dataclass(frozen=True)
class EpochSpan:
    """Epochs a run trains with one compile section, as Keras numbers them.

    Attributes:
        start: The first epoch (0-based: Keras's ``initial_epoch``).
        end: The epoch it stops before (Keras's ``epochs``).
        compile: The compile section in effect.
        fresh: The model is compiled as the span begins: a new optimizer,
            whose learning rate starts at ``compile``'s again.
        stage: The stage's name; None for a run without stages.
    """

    start: int
    end: int
    compile: CompileConfig
    fresh: bool
    stage: str | None


def epoch_spans(config: ExperimentConfig) -> list[EpochSpan]:
    """Every epoch the run will train, in spans of one compile section.

    A run without stages is one span, ``fit.initial_epoch`` to ``fit.epochs``;
    a staged one a span per stage, counting on from 0, compiled again as
    :func:`compiles_again` says (the rule the stage loop follows).
    """
    if not config.stages:
        fit = config.fit
        return [EpochSpan(fit.initial_epoch, fit.epochs, config.compile, True, None)]
    spans: list[EpochSpan] = []
    start, compiled = 0, config.compile
    for stage, epochs in zip(
        config.stages, stage_epochs(config.fit, config.stages), strict=True
    ):
        section = stage_compile(config.compile, stage)
        fresh = not spans or compiles_again(bool(stage.trainable), section, compiled)
        spans.append(EpochSpan(start, start + epochs, section, fresh, stage.name))
        start, compiled = start + epochs, section
    return spans
