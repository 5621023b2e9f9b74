"""One trial: its config, its run in ``trials/<number>/``, its value and fate.

A trial's config is the base config with the trial's params applied
(:func:`cbrun.config.sweep_apply.apply_params`) and validated like any
config; it trains through :func:`cbrun.training.lifecycle.train` as a
normal run, seeded with the config's seed, so ``cbrun train`` of its
``config.yaml`` trains it again.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cbrun.config.loading import LoadedConfig, load_mapping
from cbrun.config.sweep_apply import apply_params
from cbrun.errors import CbrunError, ConfigError
from cbrun.runs import manifest as runs
from cbrun.runs.layout import RUN_FILE
from cbrun.training.lifecycle import Pruning, train
from cbrun.training.reporting import Echo
from cbrun.training.signals import Interrupted

# Config keys whose relative path is read from the config file's folder.
PATH_KEYS: tuple[tuple[str, str], ...] = (
    ("data", "path"),
    ("data", "test_path"),
    ("model", "path"),
)
INVALID = "invalid"
"""A trial whose config does not validate: it has no run dir."""


@dataclass
class TrialOutcome:
    """How one trial ended, for the Optuna study and the sweep's lines.

    Attributes:
        number: The Optuna trial number.
        params: ``--set`` key to value.
        status: The run's status (``completed``, ``pruned``, ``failed``, ...),
            or ``invalid`` when its config did not validate.
        state: What the study is told: ``complete``, ``pruned`` or ``fail``.
        value: The trial's value (complete trials), else None.
        seconds: Wall time of the trial.
        run_dir: Its run dir, or None if none was made.
        message: Why it failed, or None.
    """

    number: int
    params: dict[str, Any]
    status: str
    state: Literal["complete", "pruned", "fail"]
    value: float | None
    seconds: float
    run_dir: Path | None = None
    message: str | None = None


def anchored(
    data: Mapping[str, Any], base_dir: Path, *, allow_user_code: bool = True
) -> dict[str, Any]:
    """A copy of ``data`` whose relative data and model paths are absolute.

    A trial's config and best.yaml live in the sweep dir, not beside the
    config they came from; absolute paths let them train from anywhere.
    Under ``--no-user-code`` absolute paths are refused, so they stay
    relative (to the config's folder, where the trials are validated).
    """
    result = copy.deepcopy(dict(data))
    if not allow_user_code:
        return result
    for section, key in PATH_KEYS:
        part = result.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if isinstance(value, str) and value and not Path(value).is_absolute():
            part[key] = str((base_dir / value).absolute())  # type: ignore[index]
    return result


def trial_config(
    base: LoadedConfig,
    base_data: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    allow_user_code: bool,
) -> LoadedConfig:
    """The trial's config, validated like any config.

    Args:
        base: The sweep's base config (its file and folder).
        base_data: Its resolved data (see :func:`anchored`).
        params: The trial's params.
        allow_user_code: False refuses configs that name code to import.

    Raises:
        ConfigError: A param cannot be set, or the result does not validate.
    """
    file = base.path.name
    data = apply_params(base_data, params, file=file)
    return load_mapping(
        data,
        base_dir=base.base_dir,
        display=file,
        allow_user_code=allow_user_code,
    )


def best_value(
    history: Mapping[str, Sequence[float | None]],
    metric: str,
    direction: Literal["maximize", "minimize"],
) -> float | None:
    """The best finite value of ``metric`` over the epochs, or None."""
    values = [
        float(v)
        for v in history.get(metric, [])
        if v is not None and math.isfinite(float(v))
    ]
    if not values:
        return None
    return max(values) if direction == "maximize" else min(values)


@dataclass
class TrialRun:
    """What every trial of a sweep shares.

    Attributes:
        base: The base config.
        base_data: Its resolved data (see :func:`anchored`).
        sweep_dir: The sweep's folder.
        metric: The metric a trial's value is made of.
        direction: Which way is better.
        pruner: The pruner's name (``none``: no pruning callback).
        command: The command line, for each run.json.
        verbose: Keep TensorFlow's logs and each run's own lines.
        echo: Where cbrun's lines go.
        smoke: Each trial a smoke run.
        allow_user_code: False refuses configs that name code to import.
        tracking: The sweep's MLflow tracker
            (:class:`cbrun.tracking.sweep.SweepTracker`), or None.
    """

    base: LoadedConfig
    base_data: dict[str, Any]
    sweep_dir: Path
    metric: str
    direction: Literal["maximize", "minimize"]
    pruner: str
    command: Sequence[str]
    verbose: bool
    echo: Echo
    smoke: bool
    allow_user_code: bool
    tracking: Any = None

    def run(
        self,
        number: int,
        params: dict[str, Any],
        run_dir: Path,
        report: Any,
    ) -> TrialOutcome:
        """Run trial ``number`` in ``run_dir``; a failure is an outcome.

        Raises:
            Interrupted: SIGINT or SIGTERM; the run dir says ``interrupted``.
        """
        start = time.perf_counter()

        def outcome(
            status: str, state: Any, value: float | None = None, **kw: Any
        ) -> TrialOutcome:
            return TrialOutcome(
                number,
                params,
                status,
                state,
                value,
                time.perf_counter() - start,
                **kw,
            )

        try:
            loaded = trial_config(
                self.base,
                self.base_data,
                params,
                allow_user_code=self.allow_user_code,
            )
        except ConfigError as exc:
            return outcome(INVALID, "fail", message=f"invalid config: {exc}")
        pruning = None
        if self.pruner != "none":
            pruning = Pruning(self.metric, report, self.pruner)
        trial = {"number": number, "params": params}
        tracker = None
        if self.tracking is not None:
            tracker = self.tracking.trial_tracker(loaded, trial)
        try:
            result = train(
                loaded,
                self.sweep_dir,
                command=self.command,
                verbose=self.verbose,
                echo=self._trial_echo(),
                smoke=self.smoke,
                run_dir=run_dir,
                trial=trial,
                pruning=pruning,
                draw_plot=False,  # the sweep draws its own pictures
                tracker=tracker,
            )
        except CbrunError as exc:
            if isinstance(exc, Interrupted):
                raise
            return outcome(
                _recorded_status(run_dir),
                "fail",
                run_dir=run_dir if run_dir.is_dir() else None,
                message=str(exc),
            )
        if result.status == runs.PRUNED:
            return outcome(result.status, "pruned", run_dir=run_dir)
        value = best_value(result.history, self.metric, self.direction)
        if value is None:
            logged = ", ".join(sorted(result.history)) or "nothing"
            return outcome(
                result.status,
                "fail",
                run_dir=run_dir,
                message=f"the sweep metric {self.metric} has no finite value in "
                f"the run's history (logged: {logged}); set sweep.metric to one "
                "of these",
            )
        return outcome(result.status, "complete", value, run_dir=run_dir)

    def _trial_echo(self) -> Echo:
        """A trial's own lines: all with --verbose, else only signal notes."""
        if self.verbose:
            return self.echo
        echo = self.echo

        def signals_only(message: str) -> None:
            if message.startswith(("SIGINT", "SIGTERM")):
                echo(message)

        return signals_only


def _recorded_status(run_dir: Path) -> str:
    """The status run.json ended with; ``failed`` if there is none to read."""
    if not (run_dir / RUN_FILE).is_file():
        return runs.FAILED
    try:
        return runs.load_record(run_dir).status
    except CbrunError:
        return runs.FAILED
