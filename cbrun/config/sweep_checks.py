"""Check a ``sweep`` section against the config it searches, TF- and Optuna-free.

``cbrun validate`` reports, before any trial runs (design.md section 10):

- a space key that addresses no field of this config (did-you-mean);
- a candidate value the field refuses: each choice item, each bound of a
  range (the largest value a stepped range reaches), checked by applying it
  to the config as a trial would and validating the result;
- a metric the run will not log.

:func:`sweep_objective` is what the engine optimizes.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ValidationError

from cbrun.config.checks import DEFAULT_LEARNING_RATE, _Checker, cross_checks
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.keras_names import LOSSES, METRICS, OPTIMIZERS
from cbrun.config.monitor import run_monitor
from cbrun.config.overrides import named_item_hint, split_key
from cbrun.config.places import describe
from cbrun.config.problems import make_problem, problems_from_validation
from cbrun.config.stage_checks import own_epochs_listed, stages_with_own_epochs
from cbrun.config.sweep import Choice, FloatRange, IntRange, SweepConfig
from cbrun.config.sweep_apply import apply_params
from cbrun.config.training import LossObject, MetricObject, OptimizerObject
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigError, ConfigPath, Problem
from cbrun.suggest import closest, did_you_mean, shorten, shown

Direction = Literal["maximize", "minimize"]

MAX_VALIDATIONS = 200
"""Candidate values validated per sweep (each is a whole-config validation,
about a millisecond); the rest are counted in a warning."""

# Keys a trial may not change, and why.
_REFUSED = {
    "sweep": "a sweep cannot search its own settings; set them in the sweep "
    "section itself",
    "name": "the run name names the sweep's folder (runs/<name>/sweep-<time>/); "
    "trials are told apart by their number",
    "backend": "all trials run in one process, whose Keras backend is fixed "
    "when Keras is imported; set `backend` in the config instead",
}
# The class names a `{type: ...}` object can take, to turn a name into one.
_TYPE_NAMES: dict[type[BaseModel], tuple[str, ...]] = {
    OptimizerObject: OPTIMIZERS,
    LossObject: LOSSES,
    MetricObject: METRICS,
}


def logged_names(
    experiment: ExperimentConfig,
) -> tuple[list[str], dict[str, str], bool]:
    """What the run logs, each known name's direction, and whether that is all.

    The same rule ``monitor:`` is checked against (design.md section 2).
    """
    checker = _Checker(experiment, None, SourceMap("<config>"))
    return checker.logged()


def sweep_objective(experiment: ExperimentConfig) -> tuple[str, Direction]:
    """The metric a sweep optimizes and which way.

    The metric is ``sweep.metric``, else the run's monitor: the first
    callback's ``monitor``, else ``val_loss`` (``loss`` without validation).
    The direction is ``sweep.direction``, else the callback's ``mode`` when
    the metric is its monitor and the mode is not ``auto``, else the
    metric's known direction (down for losses and unknown names).

    Args:
        experiment: A validated config (with or without a ``sweep`` section).

    Returns:
        The logged metric name and ``"maximize"`` or ``"minimize"``.
    """
    sweep = experiment.sweep
    monitor = run_monitor(experiment)
    metric = sweep.metric if sweep and sweep.metric else monitor.name
    if sweep and sweep.direction:
        return metric, sweep.direction
    if metric == monitor.name:
        maximize = monitor.maximize
    else:
        _, directions, _ = logged_names(experiment)
        maximize = directions.get(metric.removeprefix("val_")) == "up"
    return metric, "maximize" if maximize else "minimize"


def sweep_problems(
    experiment: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """Check the ``sweep`` section against the rest of the config.

    Args:
        experiment: The validated config; nothing is checked without a sweep.
        data: The plain data it was validated from (overrides applied).
        source: Where each value came from.

    Returns:
        Errors and warnings, each at the sweep item it is about.
    """
    sweep = experiment.sweep
    if sweep is None:
        return []
    checker = _SweepChecker(experiment, sweep, data, source)
    checker.check_metric()
    checker.check_grid()
    checker.check_space()
    return checker.problems


# --- Which field a key addresses ---------------------------------------------


def _models_in(annotation: Any) -> tuple[type[BaseModel], ...]:
    """The schema classes a field's annotation names directly (not in lists)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(m for arg in typing.get_args(annotation) for m in _models_in(arg))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation,)
    return ()


class _Unaddressed(Exception):
    """A space key that addresses nothing; the message says why."""


@dataclass
class _Walk:
    """Resolves a ``--set`` key against the validated config, part by part."""

    key: str
    data: Any
    parts: list[str]

    def fail(
        self, done: int, where: ConfigPath, why: str, options: list[str]
    ) -> NoReturn:
        """Raise for ``parts[done]``, suggesting the closest of ``options``."""
        part = self.parts[done]
        match = closest(part, options)
        hint = ""
        if match is not None and match != part:
            fixed = [*self.parts[:done], match, *self.parts[done + 1 :]]
            hint = f"; did you mean {'.'.join(fixed)!r}?"
        elif options:
            hint = f"; it has {shorten(', '.join(options), 200)}"
        raise _Unaddressed(f"{self.here(where)} {why}{hint}")

    def here(self, where: ConfigPath) -> str:
        return describe(where, self.data) or "the config"

    def run(self, experiment: ExperimentConfig) -> Any:
        """Return the value addressed; raise :class:`_Unaddressed` if none is."""
        node: Any = experiment
        models: tuple[type[BaseModel], ...] = ()
        where: ConfigPath = ()
        for done, part in enumerate(self.parts):
            step: str | int = part
            if isinstance(node, list):
                step = self.index(node, done, where)
                node, models = node[step], ()
            elif isinstance(node, BaseModel):
                node, models = self.field(node, done, where)
            elif node is None and models:
                declared = {n: f for m in models for n, f in m.model_fields.items()}
                if part not in declared:
                    self.fail(done, where, f"has no {shown(part)}", list(declared))
                node, models = None, _models_in(declared[part].annotation)
            elif isinstance(node, dict):
                keys = {str(k): k for k in node}
                if part not in keys:
                    self.fail(done, where, f"has no {shown(part)}", list(keys))
                node, models = node[keys[part]], ()
            else:
                raise _Unaddressed(self.through_value(node, models, done, where))
            where = (*where, step)
        return node

    def index(self, node: list[Any], done: int, where: ConfigPath) -> int:
        part = self.parts[done]
        if part.isascii() and part.isdigit():
            if len(part) > 9 or int(part) >= len(node):
                raise _Unaddressed(
                    f"{self.here(where)} has {len(node)} items; index "
                    f"{shorten(part)} is out of range"
                )
            return int(part)
        if where != ("callbacks",):
            hint = named_item_hint(node, part, where, self.parts[done + 1 :])
            raise _Unaddressed(
                f"{self.here(where)} is a list; {shown(part)} is not an index{hint}"
            )
        kinds = [str(getattr(item, "type", "")) for item in node]
        found = [i for i, kind in enumerate(kinds) if kind == part]
        if not found:
            self.fail(done, where, f"has no callback of type {shown(part)}", kinds)
        if len(found) > 1:
            raise _Unaddressed(
                f"{len(found)} callbacks have type {shown(part)}; pick one by "
                f"index, e.g. callbacks.{found[0]}.{'.'.join(self.parts[done + 1 :])}"
            )
        return found[0]

    def field(
        self, node: BaseModel, done: int, where: ConfigPath
    ) -> tuple[Any, tuple[type[BaseModel], ...]]:
        part = self.parts[done]
        fields = type(node).model_fields
        extra = node.model_extra or {}
        if part in fields:
            return getattr(node, part), _models_in(fields[part].annotation)
        if part in extra:
            return extra[part], ()
        options = [*fields, *extra]
        if type(node).model_config.get("extra") == "allow":
            # A layer's or an optimizer's other parameters are Keras's: cbrun
            # knows them only when the config writes them; list what it wrote.
            written = [f for f in fields if f in node.model_fields_set]
            options = [*written, *extra]
            kind = getattr(node, "type", type(node).__name__)
            why = (
                f"has no {shown(part)}; a {kind}'s parameters are known only to "
                f"Keras, so write `{shorten(part)}: ...` in it first"
            )
            if closest(part, options) not in (None, part):
                why = f"has no {shown(part)}"
            self.fail(done, where, why, options)
        self.fail(done, where, f"has no {shown(part)}", options)

    def through_value(
        self,
        node: Any,
        models: tuple[type[BaseModel], ...],
        done: int,
        where: ConfigPath,
    ) -> str:
        here = self.here(where)
        part = self.parts[done]
        typed = [m for m in models if "type" in m.model_fields]
        if isinstance(node, str) and typed:
            name = closest(node, _TYPE_NAMES.get(typed[0], ())) or node
            example = DEFAULT_LEARNING_RATE if part == "learning_rate" else "..."
            return (
                f"{here} is the name {shown(node)}; write it as {{type: {name}, "
                f"{shorten(part)}: {example}}} to sweep its "
                f"{shorten(part).replace('_', ' ')}"
            )
        if node is None:
            return f"{here} is not set (null), so it has no {shown(part)}"
        return f"{here} is {shown(node)}, not a mapping; it has no {shown(part)}"


# --- The checks ----------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """One value a trial may set, and where the sweep section names it."""

    where: ConfigPath
    label: str
    value: Any
    from_float_range: bool = False


def _candidates(key: str, item: FloatRange | IntRange | Choice) -> Iterator[_Candidate]:
    base: ConfigPath = ("sweep", "space", key)
    if isinstance(item, Choice):
        for index, value in enumerate(item.values):
            yield _Candidate(
                (*base, "choice", index), f"choice item {shown(value)}", value
            )
        return
    kind = "float" if isinstance(item, FloatRange) else "int"
    low, high = item.bounds
    yield _Candidate((*base, kind, 0), f"low bound {shown(low)}", low, kind == "float")
    top = high
    if item.step is not None and item.step > 0 and high > low:
        # The largest low + k * step within the bounds, as Optuna takes it.
        top = low + math.floor((high - low) / item.step + 1e-9) * item.step
        if isinstance(item, FloatRange):
            top = round(top, 12)
    label = f"high bound {shown(high)}"
    if top != high:
        label = f"largest value {shown(top)} (low + k * step)"
    yield _Candidate((*base, kind, 1), label, top, kind == "float")


class _SweepChecker:
    """Runs the sweep checks over one config, collecting problems."""

    def __init__(
        self,
        experiment: ExperimentConfig,
        sweep: SweepConfig,
        data: Any,
        source: SourceMap,
    ):
        self.experiment = experiment
        self.sweep = sweep
        self.data = data
        self.source = source
        self.problems: list[Problem] = []
        self.metric, _ = sweep_objective(experiment)
        self.metric_logged = self.metric in logged_names(experiment)[0]

    def add(
        self,
        path: ConfigPath,
        message: str,
        *,
        key: bool = False,
        severity: str = "error",
    ) -> None:
        self.problems.append(
            make_problem(
                self.source, self.data, path, message, key=key, severity=severity
            )
        )

    def check_metric(self) -> None:
        names, directions, complete = logged_names(self.experiment)
        explicit = self.sweep.metric is not None
        path: ConfigPath = ("sweep", "metric") if explicit else ("sweep",)
        metric = self.metric
        if metric not in names:
            self.add(
                path,
                _not_logged(metric, names, self.experiment, explicit),
                key=not explicit,
                severity="error" if complete else "warning",
            )
            return
        known = {"loss": "down", **directions}.get(metric.removeprefix("val_"))
        wanted = self.sweep.direction
        if wanted and known and (wanted == "maximize") != (known == "up"):
            better = "higher" if known == "up" else "lower"
            self.add(
                ("sweep", "direction"),
                f"{wanted} {shown(metric)}, which is better {better}? "
                f"usually direction: {'maximize' if known == 'up' else 'minimize'}",
                severity="warning",
            )

    def check_grid(self) -> None:
        if self.sweep.sampler != "grid":
            return
        for key in self.sweep.infinite_keys():
            self.add(
                ("sweep", "space", key, "float"),
                "the grid sampler (sweep.sampler: grid) needs finitely many "
                "values; add a `step` to this float range, or use a choice",
                key=True,
            )

    def check_space(self) -> None:
        base = {k: v for k, v in self.data.items() if k != "sweep"}
        # What the config already reports is not a candidate's fault.
        known = {
            (p.where, p.message)
            for p in cross_checks(self.experiment, base, SourceMap("<trial>"))
        }
        budget = MAX_VALIDATIONS
        skipped = 0
        for key, item in self.sweep.space.items():
            where: ConfigPath = ("sweep", "space", key)
            message = _address_problem(key, self.experiment, self.data)
            if message is not None:
                self.add(where, message, key=True)
                continue
            if key == "fit.epochs" and self._check_staged_epochs(where):
                continue
            seen: dict[str, list[tuple[str, str]]] = {}
            for candidate in _candidates(key, item):
                marker = f"{type(candidate.value).__name__}:{candidate.value!r}"
                if marker not in seen:
                    if budget == 0:
                        skipped += 1
                        continue
                    budget -= 1
                    seen[marker] = self.trial_problems(key, candidate, base, known)
                for severity, text in seen[marker]:
                    self.add(
                        candidate.where, f"{candidate.label}: {text}", severity=severity
                    )
        if skipped:
            self.add(
                ("sweep", "space"),
                f"checked the first {MAX_VALIDATIONS} candidate values; "
                f"{skipped} more are not checked",
                key=True,
                severity="warning",
            )

    def _check_staged_epochs(self, where: ConfigPath) -> bool:
        """Report sweeping ``fit.epochs`` that stages' own epochs override.

        Returns:
            Whether it changes no stage (an error: every trial would train
            as long as the others).
        """
        own = stages_with_own_epochs(self.experiment)
        if not own:
            return False
        stages = self.experiment.stages or []
        last_index, _ = own[-1]
        fix = f"stages.{last_index}.fit.epochs"
        if len(own) == len(stages):
            self.add(
                where,
                "changes no stage: every stage sets its own fit.epochs "
                f"({own_epochs_listed(own)}), which wins over the top-level one, "
                f"so every trial would train as long; sweep a stage's epochs "
                f"instead, e.g. {fix}",
                key=True,
            )
            return True
        owned = {index for index, _ in own}
        taking = ", ".join(
            shown(stage.name)
            for index, stage in enumerate(stages)
            if index not in owned
        )
        keeps = "keeps its" if len(own) == 1 else "keep their"
        self.add(
            where,
            f"sets the epochs of {taking} only: {own_epochs_listed(own)} {keeps} "
            f"own fit.epochs; to sweep {'it' if len(own) == 1 else 'one'}, e.g. {fix}",
            key=True,
            severity="warning",
        )
        return False

    def trial_problems(
        self,
        key: str,
        candidate: _Candidate,
        base: dict[str, Any],
        known: set[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        """Validate the config with one candidate set, as a trial would be."""
        try:
            trial = apply_params(base, {key: candidate.value})
        except ConfigError as exc:
            return [("error", p.message) for p in exc.problems]
        source = SourceMap("<trial>")
        try:
            config = ExperimentConfig.model_validate(trial)
        except ValidationError as exc:
            found = problems_from_validation(exc, trial, source)
            hint = ""
            if candidate.from_float_range and any(
                e["type"] == "int_type" for e in exc.errors()
            ):
                hint = f"; sweep an integer field with {_as_int_range(key, self.sweep)}"
            return [("error", f"{_where(p)}{p.message}{hint}") for p in found]
        found = [
            p
            for p in cross_checks(config, trial, source)
            if (p.where, p.message) not in known
        ]
        result = [(p.severity, f"{_where(p)}{p.message}") for p in found]
        names, _, complete = logged_names(config)
        # A metric the base config does not log is reported once, at sweep.
        if self.metric_logged and self.metric not in names and complete:
            result.append(
                (
                    "error",
                    f"the sweep's metric {shown(self.metric)} would not be logged "
                    f"(the run would log {', '.join(names)})",
                )
            )
        return result


def _as_int_range(key: str, sweep: SweepConfig) -> str:
    """The ``{int: [...]}`` item a float range over an integer field should be."""
    item = sweep.space[key]
    bounds = getattr(item, "bounds", [])
    if all(float(b).is_integer() for b in bounds):
        return f"{{int: [{', '.join(str(int(b)) for b in bounds)}]}}"
    return "{int: [low, high]}"


def _where(problem: Problem) -> str:
    return f"{problem.where}: " if problem.where else ""


def _address_problem(key: str, experiment: ExperimentConfig, data: Any) -> str | None:
    """Why ``key`` addresses no field of this config, or None if it does."""
    try:
        parts = split_key(key, SourceMap("<sweep>"), key)
    except ConfigError:
        return (
            "it is not a dotted key like fit.batch_size or "
            "callbacks.EarlyStopping.patience"
        )
    if parts[0] in _REFUSED:
        return f"{shown(parts[0])} cannot be swept: {_REFUSED[parts[0]]}"
    try:
        _Walk(key, data, parts).run(experiment)
    except _Unaddressed as exc:
        return f"addresses nothing: {exc}"
    return None


def resolve_key(key: str, experiment: ExperimentConfig, data: Any) -> Any:
    """The value a ``--set`` key addresses in a validated config.

    The walk a sweep's space keys take (a declared field, a written key of an
    open model, ``callbacks.<Type>``), for other sections that name config
    keys. Unlike a space key, any key may be named (``name``, ``sweep``).

    Args:
        key: A dotted key, e.g. ``fit.batch_size``.
        experiment: The validated config.
        data: The plain data it was validated from.

    Returns:
        The value there: a scalar, a list, a mapping, a schema object, or
        None for an unset field.

    Raises:
        ValueError: The key is malformed or addresses nothing; the message
            says why, with the closest key.
    """
    try:
        parts = split_key(key, SourceMap("<key>"), key)
    except ConfigError:
        raise ValueError(
            "it is not a dotted key like fit.batch_size or "
            "callbacks.EarlyStopping.patience"
        ) from None
    try:
        return _Walk(key, data, parts).run(experiment)
    except _Unaddressed as exc:
        raise ValueError(f"addresses nothing: {exc}") from None


def _not_logged(
    metric: str, names: list[str], experiment: ExperimentConfig, explicit: bool
) -> str:
    origin = "" if explicit else " (the sweep's default metric, the run's monitor)"
    base = metric.removeprefix("val_")
    if metric.startswith("val_") and base in names:
        return (
            f"{shown(metric)}{origin} is logged only with validation data; set "
            "fit.validation_split (e.g. 0.1) or fit.validation_data: test, or "
            f"sweep.metric: {base}"
        )
    return (
        f"{shown(metric)}{origin} is not logged by this run; it logs "
        f"{', '.join(names)}{did_you_mean(metric, names)}"
    )
