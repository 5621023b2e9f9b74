"""Cross-field checks: what Keras notices only during training, or never.

Each check reads the validated config and returns problems at the line the
offending value came from (design.md section 2).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from cbrun.config.callbacks import (
    CallbackSchema,
)
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.monitor import compiled_metrics, has_validation
from cbrun.config.places import value_at
from cbrun.config.problems import ProblemList
from cbrun.config.stages import EpochSpan, epoch_spans, stage_epochs, stage_fit
from cbrun.config.training import CompileConfig, OptimizerObject, ScheduleObject
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem
from cbrun.suggest import did_you_mean, shorten, shown

if TYPE_CHECKING:
    from cbrun.config.callbacks.base_logger import BaseLoggerSchema
    from cbrun.config.callbacks.model_checkpoint import ModelCheckpointSchema

# Callbacks are told apart by `type`, which names their schema: testing
# isinstance would import every schema, and validate imports only those used.
_LR_CALLBACKS = ("LearningRateScheduler", "ReduceLROnPlateau")
# Keras's default for most optimizers (Adam, RMSprop, ...): a schedule's first
# call sees it when the config gives no learning rate.
DEFAULT_LEARNING_RATE = 0.001


class _Checker(ProblemList):
    """Runs every check over one config, collecting problems."""

    def __init__(self, config: ExperimentConfig, data: Any, source: SourceMap):
        super().__init__(source, data)
        self.config = config

    def callbacks(self) -> Iterator[tuple[ConfigPath, CallbackSchema]]:
        for index, callback in enumerate(self.config.callbacks):
            yield ("callbacks", index), callback

    # What the run will log.

    def has_validation(self) -> bool:
        return has_validation(self.config)

    def logged(self) -> tuple[list[str], dict[str, str], bool]:
        metrics, directions, complete = compiled_metrics(self.config)
        base = ["loss", *metrics]
        if any(c.type in _LR_CALLBACKS for _, c in self.callbacks()):
            base.append("learning_rate")
        names = list(base)
        if self.has_validation():
            names += [f"val_{n}" for n in base if n != "learning_rate"]
        directions = {"loss": "down", **directions}
        return names, directions, complete

    # The checks.

    def check_loss(self) -> None:
        if self.config.compile.loss is None:
            self.add(
                ("compile",),
                "compile.loss is required to train; e.g. "
                "`loss: sparse_categorical_crossentropy` for integer labels",
            )

    def check_class_weight(self) -> None:
        """class_weight weighs classes: a regression loss has none."""
        if self.config.fit.class_weight is None:
            return
        loss = self.config.compile.loss
        name = loss if isinstance(loss, str) else getattr(loss, "type", None)
        if isinstance(loss, dict):
            name = loss.get("type")
        if name in _REGRESSION_LOSSES:
            self.add(
                ("fit", "class_weight"),
                f"class_weight weighs classes, but the loss {name} is a regression "
                "loss; remove class_weight (or use a classification loss)",
            )

    def check_folder_split(self) -> None:
        """A folder's held-out share (validation + test) must leave training files."""
        data = self.config.data
        if data.source not in ("images", "text"):
            return
        test_size = getattr(data, "test_size", None) or 0.0
        validation = self.config.fit.validation_split or 0.0
        if test_size and validation + test_size >= 1:
            self.add(
                ("data", "test_size"),
                f"fit.validation_split ({validation:g}) + test_size ({test_size:g}) "
                f"= {validation + test_size:g} leaves no training files; make the "
                "sum less than 1",
            )

    def check_series_validation(self) -> None:
        """fit.validation_split replaces a timeseries' split.validation: say so."""
        data = self.config.data
        validation = self.config.fit.validation_split
        if data.source != "timeseries" or not validation:
            return
        written = value_at(self.data, ("data", "split", "validation"))
        if written is not None and written != validation:
            self.add(
                ("data", "split", "validation"),
                f"fit.validation_split ({validation:g}) replaces this "
                f"chronological validation fraction ({written}); remove one",
                severity="warning",
            )

    def check_monitors(self) -> None:
        names, directions, complete = self.logged()
        for path, callback in self.callbacks():
            for field in callback.monitor_fields:
                monitor = getattr(callback, field)
                # Checkpoints read the monitor only to pick the best one.
                if getattr(callback, "save_best_only", True):
                    self._check_monitor((*path, field), monitor, names, complete)
                mode = getattr(callback, "mode", None)
                base = monitor.removeprefix("val_")
                if mode == "auto" and base not in directions and monitor in names:
                    self.add(
                        (*path, "mode"),
                        f"mode: auto cannot tell whether {monitor!r} should go "
                        "up or down (Keras 3 raises after the first epoch); "
                        "set mode: max or mode: min",
                    )
            if callback.type == "BaseLogger":
                logger = cast("BaseLoggerSchema", callback)
                for i, name in enumerate(logger.stateful_metrics or []):
                    if name not in names and complete:
                        self.add(
                            (*path, "stateful_metrics", i),
                            f"{shown(name)} is not logged by this run (it logs "
                            f"{', '.join(names)}){did_you_mean(name, names)}",
                            severity="warning",
                        )

    def _check_monitor(
        self, path: ConfigPath, monitor: str, names: list[str], complete: bool
    ) -> None:
        if monitor in names:
            return
        if (
            monitor.startswith("val_")
            and not self.has_validation()
            and monitor.removeprefix("val_") in names
        ):
            self.add(
                path,
                f"{shown(monitor)} is logged only with validation data; set "
                "fit.validation_split (e.g. 0.1) or fit.validation_data: "
                f"test, or monitor {shown(monitor.removeprefix('val_'))}",
            )
            return
        severity = "error" if complete else "warning"
        self.add(
            path,
            f"{shown(monitor)} is not logged by this run; it logs "
            f"{', '.join(names)}{did_you_mean(monitor, names)}",
            severity=severity,
        )

    def check_checkpoints(self) -> None:
        names, _, complete = self.logged()
        for path, item in self.callbacks():
            if item.type != "ModelCheckpoint":
                continue
            callback = cast("ModelCheckpointSchema", item)
            filepath = callback.filepath
            suffix_path = (*path, "filepath")
            if callback.save_weights_only:
                if not filepath.endswith(".weights.h5"):
                    self.add(
                        suffix_path,
                        "with save_weights_only: true the file name must end in "
                        f".weights.h5 (Keras 3), got {shown(filepath)}",
                    )
            elif filepath.endswith(".weights.h5"):
                # Keras would write a whole model into a file named weights.
                self.add(
                    suffix_path,
                    f"{shown(filepath)} names a weights file but the whole model "
                    "would be saved; set save_weights_only: true, or end it in .keras",
                )
            elif filepath.endswith(".h5"):
                self.add(
                    suffix_path,
                    "a .h5 whole-model checkpoint is Keras's legacy HDF5 format "
                    "(Keras warns at every save); end it in .keras for the "
                    "native format",
                    severity="warning",
                )
            elif not filepath.endswith(".keras"):
                self.add(
                    suffix_path,
                    "a whole-model checkpoint must end in .keras (or the legacy "
                    f".h5), got {shown(filepath)}",
                )
            self._check_placeholders(suffix_path, callback, names, complete)
            if callback.period != 1 and callback.save_freq != "epoch":
                self.add(
                    (*path, "period"),
                    "period counts epochs; it needs save_freq: epoch",
                )

    def _check_placeholders(
        self,
        path: ConfigPath,
        callback: ModelCheckpointSchema,
        names: list[str],
        complete: bool,
    ) -> None:
        try:
            fields = list(string.Formatter().parse(callback.filepath))
        except ValueError as exc:
            self.add(path, f"invalid {{placeholder}} syntax: {shorten(str(exc))}")
            return
        allowed = ["epoch", *names]
        if callback.save_freq != "epoch":
            allowed.append("batch")
        for _, name, spec, conversion in fields:
            if name is None:
                continue
            if name not in allowed:
                if complete or name in ("batch",):
                    self.add(
                        path,
                        f"{{{shorten(name)}}} will not be in the logs; available: "
                        f"{', '.join(allowed)}{did_you_mean(name, allowed)}",
                    )
                continue
            sample: Any = 1 if name in ("epoch", "batch") else 0.5
            fix = ":02d" if isinstance(sample, int) else ":.4f"
            # A width like {epoch:9999999999d} would build a string of gigabytes.
            if any(len(n.lstrip("0")) > 3 for n in re.findall(r"\d+", spec or "")):
                self.add(
                    path,
                    f"format {{{name}:{shorten(spec or '')}}}: a width or precision "
                    f"above 999 makes no file name; e.g. {{{name}{fix}}}",
                )
                continue
            try:
                format(sample, spec or "")
            except ValueError:
                kind = "an integer" if isinstance(sample, int) else "a float"
                self.add(
                    path,
                    f"format {{{name}:{shorten(spec or '')}}} cannot apply: {name} is "
                    f"{kind}; e.g. {{{name}{fix}}}",
                )
            if conversion:
                self.add(
                    path,
                    f"{{{name}!{shorten(conversion)}}}: conversions are not allowed",
                )

    def check_lr_with_schedule(self) -> None:
        optimizer = self.config.compile.optimizer
        if not isinstance(optimizer, OptimizerObject):
            return
        if not isinstance(optimizer.learning_rate, ScheduleObject):
            return
        for path, callback in self.callbacks():
            if callback.type in _LR_CALLBACKS:
                self.add(
                    (*path, "type"),
                    f"{callback.type} cannot set the learning rate of an "
                    "optimizer whose learning_rate is a schedule "
                    f"({optimizer.learning_rate.type}); give "
                    "compile.optimizer.learning_rate as a number, or drop one",
                )

    def check_schedule_runs(self) -> None:
        """Run schedule expressions over the epochs, as Keras will call them.

        Every epoch the run trains: a staged run's stages one after the
        other (epochs count on), the rate starting again at a stage's own
        when it is compiled again (a new optimizer).
        """
        schedulers = [
            (path, text)
            for path, callback in self.callbacks()
            if callback.type == "LearningRateScheduler"
            and isinstance(text := getattr(callback, "schedule", None), str)
        ]
        if not schedulers:
            return
        # Imported here: validate loads the expression parser only for
        # configs with a LearningRateScheduler.
        from cbrun.config.expressions import parse_schedule

        spans = epoch_spans(self.config)
        rates = [_first_rate(span.compile) for span in spans]
        if any(rate is None for rate in rates):
            return  # a schedule as learning_rate: refused by check_lr_with_schedule
        for path, text in schedulers:
            failed = _first_failure(parse_schedule(text), spans, rates)
            if failed is None:
                continue
            epoch, span, lr, error = failed
            first = epoch == spans[0].start
            where = "" if span.stage is None else f"in stage {shown(span.stage)}, "
            self.add(
                (*path, "schedule"),
                f"{error.message.rstrip('.')} ({where}lr starts at {lr:g}"
                f"{'' if first else '; training would fail at that epoch'})",
                severity="error" if first else "warning",
            )

    def check_ema(self) -> None:
        optimizer = self.config.compile.optimizer
        use_ema = isinstance(optimizer, OptimizerObject) and (
            (optimizer.model_extra or {}).get("use_ema") is True
        )
        for path, callback in self.callbacks():
            if callback.type == "SwapEMAWeights" and not use_ema:
                self.add(
                    (*path, "type"),
                    "SwapEMAWeights needs an optimizer with EMA: write "
                    "compile.optimizer as {type: Adam, use_ema: true}",
                )

    def check_patience(self) -> None:
        epochs, what = self.config.fit.epochs, "fit.epochs"
        if self.config.stages:
            # Keras starts patience again in each stage's fit.
            epochs = max(stage_epochs(self.config.fit, self.config.stages))
            what = "the longest stage's epochs"
        for path, callback in self.callbacks():
            for field in ("patience", "start_from_epoch"):
                value = getattr(callback, field, None)
                if isinstance(value, int) and value >= epochs and value > 0:
                    self.add(
                        (*path, field),
                        f"{field} is {value} but {what} is {epochs}; "
                        f"{callback.type} will never act",
                        severity="warning",
                    )

    def check_validation_freq(self) -> None:
        """Keras validates only on epochs that are multiples of validation_freq.

        An epoch counts from 1 across the stages (Keras's ``initial_epoch``),
        so a run shorter than its validation_freq never validates: no val_*
        metric, no best epoch, and Keras warns in every epoch of a callback
        that monitors one.
        """
        if not self.has_validation():
            return
        fit, stages = self.config.fit, self.config.stages
        fits = [stage_fit(fit, stage) for stage in stages] if stages else [fit]
        self._check_patience_in_validations(max(f.validation_freq for f in fits))
        first = 1
        for each in fits:
            last = first + each.epochs - 1
            if last // each.validation_freq >= first / each.validation_freq:
                return  # a multiple of validation_freq in first..last
            first = last + 1
        self.add(
            ("fit", "validation_freq"),
            f"validation_freq is {fit.validation_freq}, but the run trains "
            f"{first - 1} epochs: Keras validates after epochs "
            f"{fit.validation_freq}, {2 * fit.validation_freq}, ..., so this run "
            "never validates (no val_* metrics, no best epoch); lower "
            "validation_freq or train longer",
            severity="warning",
        )

    def _check_patience_in_validations(self, freq: int) -> None:
        """A val_* monitor's patience counts the epochs Keras validates only.

        Keras's EarlyStopping and ReduceLROnPlateau skip an epoch whose logs
        lack the monitor (warning "not available"), so with validation_freq 2
        patience 3 waits 6 epochs, not 3.
        """
        if freq <= 1:
            return
        for path, callback in self.callbacks():
            monitor = getattr(callback, "monitor", None)
            patience = getattr(callback, "patience", None)
            if not isinstance(monitor, str) or not monitor.startswith("val_"):
                continue
            if not isinstance(patience, int) or patience <= 0:
                continue
            self.add(
                (*path, "patience"),
                f"with fit.validation_freq {freq}, {callback.type} sees "
                f"{shown(monitor)} only after the epochs Keras validates, so "
                f"patience {patience} waits {patience * freq} epochs, not "
                f"{patience} (Keras warns that {monitor} is not available after "
                "the epochs between)",
                severity="warning",
            )


# Keras's regression losses, by name and class: their targets have no classes.
_REGRESSION_LOSSES = frozenset(
    {
        "mse",
        "mae",
        "mape",
        "msle",
        "mean_squared_error",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "huber",
        "log_cosh",
        "logcosh",
        "MeanSquaredError",
        "MeanAbsoluteError",
        "MeanAbsolutePercentageError",
        "MeanSquaredLogarithmicError",
        "Huber",
        "LogCosh",
    }
)


def cross_checks(
    config: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """Run every cross-field check.

    Args:
        config: The validated config.
        data: The data it was validated from (for positions and names).
        source: Where each value came from.

    Returns:
        Errors and warnings, in file order.
    """
    checker = _Checker(config, data, source)
    checker.check_loss()
    checker.check_class_weight()
    checker.check_folder_split()
    checker.check_series_validation()
    checker.check_monitors()
    checker.check_checkpoints()
    checker.check_lr_with_schedule()
    checker.check_schedule_runs()
    checker.check_ema()
    checker.check_patience()
    checker.check_validation_freq()
    return sorted(checker.problems, key=lambda p: (p.line, p.column))


# Epochs a schedule is tried over at most (microseconds each).
_SCHEDULE_EPOCHS = 10_000


def _first_rate(section: CompileConfig) -> float | None:
    """The rate a new optimizer of ``section`` starts at; None for a schedule."""
    optimizer = section.optimizer
    if isinstance(optimizer, OptimizerObject):
        if isinstance(optimizer.learning_rate, ScheduleObject):
            return None
        if optimizer.learning_rate is not None:
            return float(optimizer.learning_rate)
    return DEFAULT_LEARNING_RATE


def _first_failure(
    schedule: Any, spans: list[EpochSpan], rates: list[float | None]
) -> tuple[int, EpochSpan, float, Any] | None:
    """Call a schedule the way ``LearningRateScheduler`` will over every span.

    Each epoch's rate is fed to the next call, as Keras does when nothing
    else changes the rate; a span compiled again starts from its optimizer's.

    Returns:
        ``(epoch, span, the span's first rate, error)`` of the first epoch
        that fails, or None.
    """
    from cbrun.config.expressions import ExpressionError

    lr = 0.0
    tried = 0
    for span, rate in zip(spans, rates, strict=True):
        if span.fresh and rate is not None:
            lr = rate
        first = lr
        for epoch in range(span.start, span.end):
            tried += 1
            if tried > _SCHEDULE_EPOCHS:
                return None
            try:
                lr = schedule(epoch, lr)
            except ExpressionError as error:
                return epoch, span, first, error
    return None
