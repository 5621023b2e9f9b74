"""Train one model in stages: set trainable, compile again, fit on.

A staged run does what a fine-tuning script does (the Keras transfer-learning
guide): for each stage, set the layers' ``trainable`` flags, compile again
when the stage changes them or its compile differs from the one in effect
(Keras needs a new compile after ``trainable`` changes; it brings a new
optimizer), then ``fit`` with ``initial_epoch`` = the epochs trained so far.
The config's callbacks are the same objects in every stage, as a script
passing one list to each ``fit``: Keras resets EarlyStopping and
ReduceLROnPlateau in ``on_train_begin`` (patience starts again in each
stage), ModelCheckpoint keeps its best across stages.

A stage cut short by EarlyStopping ends that stage only: the next stage
starts at the epoch it stopped at, as the script's next ``fit`` would. A
pruned trial, a NaN loss under TerminateOnNaN and a signal end the run.

run.json's ``stages`` holds one entry per stage begun: ``{name, epochs,
first_epoch, last_epoch, stop_reason, interrupted}`` (epochs numbered from 1
as in history.json; ``last_epoch`` is null while the stage runs; a run cut
short inside a stage records there its last finished epoch, the signal and
``interrupted: true``). ``--resume``
reads it to continue inside the right stage
(:mod:`cbrun.training.stage_records`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cbrun.config.experiment import ExperimentConfig
from cbrun.config.stage_checks import unknown_layer_message
from cbrun.config.stages import compiles_again, stage_compile, stage_fit
from cbrun.config.training import CompileConfig
from cbrun.errors import BuildError, ConfigPath
from cbrun.runs.manifest import COMPLETED
from cbrun.training.plan import FitPlan
from cbrun.training.stage_records import StageRecord, StartPoint, start_point

# fit keys a tf.data feed has already used (it batches and shuffles itself).
_FED_KEYS = ("batch_size", "shuffle", "validation_batch_size")
# fit keys a smoke run sets itself.
_SMOKE_KEYS = ("steps_per_epoch", "validation_steps", "validation_freq", "verbose")
SMOKE_STAGE_EPOCHS = 1
"""Epochs of each stage in a smoke run (of the smoke plan's few batches)."""


@dataclass(frozen=True)
class Stage:
    """One stage as it trains.

    Attributes:
        index: Its place in ``stages``.
        name: Its name.
        epochs: Its number of epochs.
        plan: What its ``fit`` gets (``initial_epoch`` and ``epochs`` are
            set when it runs).
        compile: The compile section it trains with.
        trainable: Layer name to trainable, set as it begins.
    """

    index: int
    name: str
    epochs: int
    plan: FitPlan
    compile: CompileConfig
    trainable: dict[str, bool]

    @property
    def where(self) -> ConfigPath:
        """Its place in the config."""
        return ("stages", self.index)


def plan_stages(config: ExperimentConfig, plan: FitPlan, *, smoke: bool) -> list[Stage]:
    """Each stage's fit plan and compile section, from the run's plan.

    Args:
        config: The config (its ``stages`` is not None).
        plan: The run's fit plan (a smoke run's, a tf.data feed's).
        smoke: Each stage then trains one epoch of ``SMOKE_STEPS`` batches.

    Raises:
        BuildError: A stage changes a fit key the tf.data feed already used.
    """
    stages = []
    for index, spec in enumerate(config.stages or []):
        overrides = spec.fit_overrides()
        epochs = stage_fit(config.fit, spec).epochs
        overrides.pop("epochs", None)
        if plan.train_input is not None:
            for key in _FED_KEYS:
                if key in overrides:
                    raise BuildError(
                        f"a stage cannot change fit.{key} with this data: it is fed "
                        "as tf.data, batched and shuffled once for the whole run; "
                        "set it in the top-level fit",
                        ("stages", index, "fit", key),
                    )
        if smoke:
            epochs = SMOKE_STAGE_EPOCHS
            for key in _SMOKE_KEYS:
                overrides.pop(key, None)
        stage_plan = dataclasses.replace(plan, **overrides)
        compiled = stage_compile(config.compile, spec)
        stages.append(
            Stage(index, spec.name, epochs, stage_plan, compiled, dict(spec.trainable))
        )
    return stages


def check_built(model: Any, config: ExperimentConfig) -> None:
    """Check the stages against the built model, before any run dir exists.

    The layers ``trainable`` names must be in the model: a saved model's or
    a builder's names are only known here (those of ``model.layers`` were
    checked by ``validate`` already). Each stage's compile section is
    compiled once, so that what Keras refuses (an optimizer's argument, a
    loss mapping) fails here, and in ``validate --deep``.

    Raises:
        BuildError: At the stage's key, with did-you-mean for a layer.
    """
    names = [layer.name for layer in model.layers]
    for index, spec in enumerate(config.stages or []):
        for name in spec.trainable:
            if name not in names:
                raise BuildError(
                    unknown_layer_message(name, names),
                    ("stages", index, "trainable", name),
                )
    compiled = False
    for index, spec in enumerate(config.stages or []):
        if spec.compile is not None:
            compile_for(model, config, index, stage_compile(config.compile, spec))
            compiled = True
    if compiled:  # as assemble left it: the first stage compiles as it begins
        compile_for(model, config, 0, config.compile)  # compiled there already


def set_trainable(model: Any, stage: Stage) -> None:
    """Set the stage's ``trainable`` flags on the model's layers."""
    for name, flag in stage.trainable.items():
        model.get_layer(name).trainable = flag


def compile_for(
    model: Any, config: ExperimentConfig, index: int, section: CompileConfig
) -> None:
    """Compile the model with stage ``index``'s compile section (a new optimizer).

    Raises:
        BuildError: At the stage's compile key that Keras refuses (at the
            top-level key when the stage took it from there).
    """
    from cbrun.keras.model import compile_model

    # A mirrored model's new optimizer is made in the strategy it was built in.
    strategy = (
        getattr(model, "distribute_strategy", None) if config.distribute else None
    )
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    try:
        with scope:
            compile_model(model, config.model_copy(update={"compile": section}))
    except BuildError as exc:
        path = exc.path
        given = (config.stages or [])[index].compile_overrides()
        if path[:1] == ("compile",) and (len(path) == 1 or path[1] in given):
            path = ("stages", index, *path)
        raise BuildError(exc.message, path) from None


@dataclass
class StageHooks:
    """What a :class:`StageLoop` asks of the run and tells it.

    Attributes:
        fit: Calls ``model.fit`` with the run's callbacks and this plan.
        no_restore: Called before every ``fit`` but the first: the model in
            memory is the newest, so the backup must not be restored again
            (nor the callbacks' counters), and Keras's restored epoch is
            forgotten.
        epochs_run: Epochs finished so far (the recorder's count).
        stop_reason: ``(epochs_run, planned_end)``: why a stage ended before
            its epochs were done, or None.
        run_must_end: Whether the run stops after this stage (pruned, NaN).
        begin_stage: Called with a stage's name as it begins.
        record: Writes run.json's ``stages``.
    """

    fit: Callable[[FitPlan], None]
    no_restore: Callable[[], None]
    epochs_run: Callable[[], int]
    stop_reason: Callable[[int, int], str | None]
    run_must_end: Callable[[], bool]
    begin_stage: Callable[[Stage, int, bool, int | None], None]
    record: Callable[[list[StageRecord]], None]


class StageLoop:
    """Fit a staged config's stages one after the other on one model.

    Args:
        model: The compiled model.
        config: The config.
        stages: From :func:`plan_stages`.
        start: From :func:`start_point`.
        hooks: The run's side.
    """

    def __init__(
        self,
        model: Any,
        config: ExperimentConfig,
        stages: list[Stage],
        start: StartPoint,
        hooks: StageHooks,
    ) -> None:
        self.model = model
        self.config = config
        self.stages = stages
        self.start = start
        self.hooks = hooks
        self.records = list(start.records)
        self.compiled = config.compile  # what assemble compiled with
        self.planned = start.epoch  # the planned end of the last stage fitted
        self.fitted = False

    def run(self) -> None:
        """Fit every stage from the start point; stop early as the run must."""
        start = self.start
        if start.restore_in is not None:
            self._restore_in(self.stages[start.restore_in])
        else:
            # A resume inside a stage: the flags of the stages before it.
            for stage in self.stages[: start.stage]:
                set_trainable(self.model, stage)
        epoch = start.epoch
        for stage in self.stages[start.stage :]:
            first = start.stage_start if stage.index == start.stage else epoch
            self._begin(stage, first)
            plan = dataclasses.replace(
                stage.plan, initial_epoch=epoch, epochs=first + stage.epochs
            )
            self.planned = plan.epochs
            try:
                self._fit(plan)
            except BaseException as exc:  # a signal, a failed fit: the run ends
                self._cut_short(exc)
                raise
            epoch = self.hooks.epochs_run()
            self.records[-1].last_epoch = epoch
            self.records[-1].stop_reason = self.hooks.stop_reason(epoch, plan.epochs)
            self.hooks.record(self.records)
            if self.hooks.run_must_end():
                return

    def _cut_short(self, exc: BaseException) -> None:
        """Record the stage the run ends inside, as the run's record does.

        Its ``last_epoch`` is the last epoch finished (the run's
        ``epochs_run``), its ``stop_reason`` the signal's (``SIGINT after 6
        epochs``, as the run's) or ``failed``, and ``interrupted`` tells
        ``--resume`` to continue inside it.
        """
        record = self.records[-1] if self.records else None
        if record is None or record.last_epoch is not None:
            return  # cut between two stages: the last one had ended
        epochs = self.hooks.epochs_run()
        record.last_epoch = epochs
        record.interrupted = True
        if isinstance(exc, KeyboardInterrupt):
            from cbrun.training.signals import as_signal_stop

            name = as_signal_stop(exc).signal_name
            record.stop_reason = f"{name} after {epochs} epochs"
        else:
            record.stop_reason = "failed"
        self.hooks.record(self.records)

    def _fit(self, plan: FitPlan) -> None:
        if self.fitted:
            self.hooks.no_restore()
        self.hooks.fit(plan)
        self.fitted = True

    def _restore_in(self, stage: Stage) -> None:
        """Restore the backup in the stage it was saved in: a fit of no epoch."""
        for before in self.stages[: stage.index + 1]:
            set_trainable(self.model, before)
        self._compile_if_needed(stage, self.stages[: stage.index + 1])
        epoch = self.start.epoch
        self._fit(dataclasses.replace(stage.plan, initial_epoch=epoch, epochs=epoch))

    def _begin(self, stage: Stage, first: int) -> None:
        """Set the stage up and record that it began."""
        set_trainable(self.model, stage)
        resumed_inside = stage.index == self.start.stage and self.start.epoch > first
        changed = self.stages[: stage.index + 1] if resumed_inside else [stage]
        compiled = self._compile_if_needed(stage, changed)
        self.records.append(StageRecord(stage.name, stage.epochs, first + 1))
        self.hooks.record(self.records)
        # Resumed inside it: the backup brings the optimizer's state back.
        resumed = self.start.epoch if resumed_inside else None
        self.hooks.begin_stage(stage, first, compiled and not resumed_inside, resumed)

    def _compile_if_needed(self, stage: Stage, changed: Sequence[Stage]) -> bool:
        """Compile again when ``trainable`` changed or the compile differs."""
        if compiles_again(
            any(s.trainable for s in changed), stage.compile, self.compiled
        ):
            compile_for(self.model, self.config, stage.index, stage.compile)
            self.compiled = stage.compile
            return True
        return False


def stage_line(
    stage: Stage, first: int, total: int, compiled: bool, resumed: int | None = None
) -> str:
    """``stage 2/2 fine_tune: epochs 11-13; trainable: base; compiled again``.

    Args:
        stage: The stage beginning.
        first: The epochs before it (0-based, as Keras's ``initial_epoch``).
        total: How many stages the run has.
        compiled: Whether the model was compiled again for it.
        resumed: The epoch a resumed run continues after, inside this stage.
    """
    last = first + stage.epochs
    epochs = f"epoch {last}" if last == first + 1 else f"epochs {first + 1}-{last}"
    line = f"stage {stage.index + 1}/{total} {stage.name}: {epochs}"
    if resumed is not None:
        line += f", resumed after epoch {resumed}"
    frozen = [name for name, flag in stage.trainable.items() if not flag]
    unfrozen = [name for name, flag in stage.trainable.items() if flag]
    if unfrozen:
        line += f"; trainable: {', '.join(unfrozen)}"
    if frozen:
        line += f"; frozen: {', '.join(frozen)}"
    if compiled and stage.index > 0:  # the first stage's compile is the run's
        line += "; compiled again (a new optimizer)"
    return line


def nan_loss(logs: dict[str, float]) -> bool:
    """Whether the last epoch's loss is NaN or infinite."""
    loss = logs.get("loss")
    return loss is not None and not math.isfinite(loss)


def run_stages(
    model: Any,
    config: ExperimentConfig,
    stages: list[Stage],
    *,
    fit: Callable[[FitPlan], None],
    run: Any,
) -> StageLoop:
    """Fit every stage of a run, continuing a resumed one inside its stage.

    Args:
        model: The compiled model.
        config: The config.
        stages: From :func:`plan_stages`.
        fit: Calls ``model.fit`` with the run's callbacks and a plan.
        run: The run (:class:`cbrun.training.lifecycle._Run`): its
            ``recorder``, ``backup``, ``keeper``, ``indexed`` and
            ``extra_callbacks``, ``manifest`` and ``resume``.

    Returns:
        The loop, which knows the planned end of the last stage it fitted.
    """
    from cbrun.training.outcome import classify, guards_nan

    recorder, backup, keeper = run.recorder, run.backup, run.keeper
    extra = run.extra_callbacks

    def no_restore() -> None:
        if backup is not None:
            backup.restore_on_begin = False
        if keeper is not None:
            keeper.restore = False
        # Keras's fit starts at model._initial_epoch when set (the backup's).
        model._initial_epoch = None

    def stop_reason(epochs_run: int, planned_end: int) -> str | None:
        status, reason = classify(config, run.indexed, epochs_run, planned_end, extra)
        return None if status == COMPLETED else reason

    def run_must_end() -> bool:
        pruned = any(getattr(c, "ended", None) is not None for c in extra)
        return pruned or (guards_nan(config) and nan_loss(recorder.last_logs))

    def begin_stage(
        stage: Stage, first: int, compiled: bool, resumed: int | None
    ) -> None:
        recorder.stage = stage.name
        run.echo(stage_line(stage, first, len(stages), compiled, resumed))

    def record(records: list[StageRecord]) -> None:
        entries = [dataclasses.asdict(r) for r in records]
        for entry in entries:
            if not entry["interrupted"]:
                del entry["interrupted"]  # said only of the stage cut short
        with run.stop.shielded():  # a short write that must finish
            run.manifest.update(stages=entries)

    resume = run.resume
    start = (
        StartPoint(0, 0, 0, None, [])
        if resume is None
        else start_point(resume.stages, resume.epoch, len(stages))
    )
    hooks = StageHooks(
        fit=fit,
        no_restore=no_restore,
        epochs_run=lambda: int(recorder.epochs_run),
        stop_reason=stop_reason,
        run_must_end=run_must_end,
        begin_stage=begin_stage,
        record=record,
    )
    loop = StageLoop(model, config, stages, start, hooks)
    loop.run()
    return loop
