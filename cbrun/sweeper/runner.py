"""The sweep loop: ask the study for a trial, run it, tell the study; repeat.

One process, one TensorFlow import, trial after trial, until the study (all
its workers together) has ``trials`` trials or ``timeout`` seconds have
passed. Before each trial the study's trials are counted, running ones
included, so workers that share a study stop together; two workers that ask
at the same moment may run one trial more than planned between them.

Signals: inside a trial the run's own handling applies (the run dir records
``interrupted``); the study is told FAIL (user attr ``cbrun_status``
``interrupted``), sweep.json says ``interrupted`` and
:class:`~cbrun.training.signals.Interrupted` is raised (exit 130/143).
Between trials a first signal stops before the next trial, a second at once.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
import yaml

from cbrun.atomic import write_text_atomic
from cbrun.config.loading import LoadedConfig
from cbrun.config.sweep import SweepConfig
from cbrun.config.sweep_checks import sweep_objective
from cbrun.errors import ConfigError, Problem
from cbrun.runs.layout import create_run_dir
from cbrun.runs.lock import RunLockedError, run_lock
from cbrun.runs.manifest import now_iso
from cbrun.runs.sweep_layout import (
    SWEEP_CONFIG_FILE,
    SWEEP_PREFIX,
    TRIALS_DIR,
    SweepRecord,
)
from cbrun.sweeper import SweepError, records
from cbrun.sweeper.pictures import draw_pictures
from cbrun.sweeper.pruning import reporter
from cbrun.sweeper.resume import base_config, fail_killed_trials, storage_of
from cbrun.sweeper.space import suggest
from cbrun.sweeper.study import (
    check_sampler,
    config_hash,
    make_pruner,
    make_sampler,
    open_storage,
    open_study,
    sampler_seed,
)
from cbrun.sweeper.trials import TrialOutcome, TrialRun, anchored
from cbrun.tracking import mlflow_settings, require_mlflow
from cbrun.tracking.sweep import SweepTracker
from cbrun.training.reporting import Echo
from cbrun.training.signals import (
    Interrupted,
    StopRequest,
    as_signal_stop,
    signals_routed,
)

NO_SWEEP = "add a sweep: section; see configs/sweep.yaml"
_BETWEEN = "stopping before the next trial"
_STATES = {
    "complete": optuna.trial.TrialState.COMPLETE,
    "pruned": optuna.trial.TrialState.PRUNED,
    "fail": optuna.trial.TrialState.FAIL,
}
SMOKE_TRIALS = 2


@dataclass
class SweepOptions:
    """What the command line adds to the config's ``sweep`` section.

    Attributes:
        trials: Trials in the whole study; None: ``sweep.trials``.
        timeout: Seconds after which no trial starts; None: ``sweep.timeout``.
        storage: A journal file path or an RDB URL; None: a journal file in
            the sweep dir.
        study: The study's name; None: the config's name.
        smoke: Two trials, each a smoke run.
        verbose: TensorFlow's logs and each run's own lines.
        allow_user_code: False refuses configs that name code to import.
        command: The command line, for sweep.json and each run.json.
        track: ``mlflow``: a parent MLflow run with a nested run per trial,
            as the config's ``tracking.mlflow`` does.
    """

    trials: int | None = None
    timeout: float | None = None
    storage: str | None = None
    study: str | None = None
    smoke: bool = False
    verbose: bool = False
    allow_user_code: bool = True
    command: Sequence[str] = ()
    track: str | None = None


@dataclass
class SweepResult:
    """What a sweep ended with.

    Attributes:
        sweep_dir: Its folder.
        status: ``completed`` (the study is full, the timeout passed or the
            grid is done), as sweep.json says.
        record: The final sweep.json.
        outcomes: This process's trials, in order.
    """

    sweep_dir: Path
    status: str
    record: SweepRecord
    outcomes: list[TrialOutcome] = field(default_factory=list)


def new_sweep(
    loaded: LoadedConfig,
    runs_dir: Path,
    options: SweepOptions,
    *,
    echo: Echo,
    on_trial: Callable[[TrialOutcome], None],
) -> SweepResult:
    """Start a sweep of ``loaded`` in ``runs_dir/<name>/sweep-<time>/``.

    Raises:
        ConfigError: The config has no ``sweep`` section.
        SweepError: The storage or study cannot be used (exit 2).
        Interrupted: SIGINT or SIGTERM (recorded).
    """
    sweep = _sweep_section(loaded)
    check_sampler(sweep)
    metric, direction = sweep_objective(loaded.experiment)
    base_data = _base_data(loaded, options)
    record = SweepRecord(
        name=loaded.name,
        status="running",
        study=options.study or loaded.name,
        storage="",
        config_file=str(loaded.path.absolute()),
        config_hash=config_hash(loaded.experiment),
        metric=metric,
        direction=direction,
        trials_planned=_planned(options, sweep),
        started_at=now_iso(),
        command=list(options.command),
    )
    opened = None
    if options.storage is not None:
        # A storage or study that cannot be used is refused before a sweep
        # dir exists (the default journal lives in it, so it comes after).
        opened = _study(options.storage, runs_dir, record, sweep, loaded, False)
    sweep_dir = create_run_dir(runs_dir, loaded.name, prefix=SWEEP_PREFIX)
    with _locked(sweep_dir):
        _write_base(sweep_dir, loaded, base_data)
        echo(f"sweep dir: {sweep_dir}")
        return _Sweep(
            loaded, base_data, sweep, sweep_dir, record, options, echo, on_trial
        ).go(options.storage, opened)


def resume_sweep(
    sweep_dir: Path,
    options: SweepOptions,
    *,
    echo: Echo,
    on_trial: Callable[[TrialOutcome], None],
) -> SweepResult:
    """Continue the sweep in ``sweep_dir`` to its trial count.

    Raises:
        SweepError: Not a sweep dir, a corrupt sweep.json, another process
            runs it, or its storage or study cannot be used (exit 2).
        ConfigError: Its config.yaml no longer validates.
        Interrupted: SIGINT or SIGTERM (recorded).
    """
    record = records.read_record(sweep_dir)
    with _locked(sweep_dir):
        loaded = base_config(sweep_dir, record, allow_user_code=options.allow_user_code)
        sweep = _sweep_section(loaded)
        base_data = _base_data(loaded, options)
        record = record.model_copy(
            update={
                "status": "running",
                "ended_at": None,
                "error": None,
                "trials_planned": _planned(options, sweep, record.trials_planned),
            }
        )
        storage = storage_of(record, options.storage, sweep_dir)
        echo(f"resuming sweep {sweep_dir}")
        return _Sweep(
            loaded, base_data, sweep, sweep_dir, record, options, echo, on_trial
        ).go(storage, None, resumed=True)


def _study(
    storage: str | None,
    sweep_dir: Path,
    record: SweepRecord,
    sweep: SweepConfig,
    loaded: LoadedConfig,
    resumed: bool,
) -> tuple[optuna.Study, str]:
    """Open the storage and the study, checking the config's hash.

    Returns:
        The study, and the storage as sweep.json records it.
    """
    opened, shown = open_storage(storage, sweep_dir)
    existing = 0
    if resumed or storage is not None:
        with contextlib.suppress(KeyError):  # no such study yet
            found = optuna.load_study(study_name=record.study, storage=opened)
            existing = len(found.get_trials(deepcopy=False))
    seed = sampler_seed(loaded.experiment.seed, storage is not None, existing)
    study = open_study(
        opened,
        shown,
        record.study,
        record.direction,
        make_sampler(sweep, seed),
        make_pruner(sweep),
        record.config_hash,
    )
    return study, shown


def _base_data(loaded: LoadedConfig, options: SweepOptions) -> dict[str, Any]:
    """The config as written (``--set`` applied), named, paths anchored.

    As written rather than with every default filled: best.yaml then reads
    like the user's file, and a default spelt out can mean something else
    (an npz source's default ``keys`` list test arrays the file may lack).
    """
    data = anchored(
        loaded.data, loaded.base_dir, allow_user_code=options.allow_user_code
    )
    data["name"] = loaded.name
    return data


def _sweep_section(loaded: LoadedConfig) -> SweepConfig:
    sweep = loaded.experiment.sweep
    if sweep is None:
        file = str(loaded.path)
        raise ConfigError([Problem(file, 1, 1, "", f"no sweep section: {NO_SWEEP}")])
    return sweep


def _planned(options: SweepOptions, sweep: SweepConfig, recorded: int = 0) -> int:
    if options.smoke:
        return SMOKE_TRIALS
    return options.trials or recorded or sweep.trials


@contextlib.contextmanager
def _locked(sweep_dir: Path) -> Iterator[None]:
    """The sweep dir's lock: one process runs (or resumes) it at a time."""
    try:
        with run_lock(sweep_dir):
            yield
    except RunLockedError as exc:
        raise SweepError(str(exc)) from None


def _write_base(sweep_dir: Path, loaded: LoadedConfig, base: dict[str, Any]) -> None:
    """config.yaml: the base config, as --resume reads it back."""
    header = f"# The base config of this sweep: {loaded.path}"
    if loaded.overrides:
        header += " with " + " ".join(f"--set {o}" for o in loaded.overrides)
    header += (
        "\n# (relative data and model paths made absolute, unless user code "
        "is refused)\n"
    )
    text = header + yaml.safe_dump(base, sort_keys=False)
    write_text_atomic(sweep_dir / SWEEP_CONFIG_FILE, text)


def _sweep_tracker(
    loaded: LoadedConfig, sweep_dir: Path, options: SweepOptions, echo: Echo
) -> SweepTracker | None:
    """The sweep's MLflow tracker, or None (MLflow is imported on its thread)."""
    runs_dir = sweep_dir.absolute().parent.parent
    tracking = loaded.experiment.tracking
    settings = mlflow_settings(tracking, loaded.name, runs_dir, options.track)
    if settings is None:
        return None
    require_mlflow()
    return SweepTracker(settings, echo)


class _Sweep:
    """One process's part of a study, in its (locked) sweep dir."""

    def __init__(
        self,
        loaded: LoadedConfig,
        base_data: dict[str, Any],
        sweep: SweepConfig,
        sweep_dir: Path,
        record: SweepRecord,
        options: SweepOptions,
        echo: Echo,
        on_trial: Callable[[TrialOutcome], None],
    ) -> None:
        self.loaded = loaded
        self.base_data = base_data
        self.sweep = sweep
        self.sweep_dir = sweep_dir
        self.record = record
        self.options = options
        self.echo = echo
        self.on_trial = on_trial
        self.outcomes: list[TrialOutcome] = []
        # Signals between trials; a trial's run routes them to its own.
        self.stop = StopRequest(echo)
        self.study: optuna.Study | None = None
        self.timeout = options.timeout or sweep.timeout
        self.runner = TrialRun(
            base=loaded,
            base_data=base_data,
            sweep_dir=sweep_dir,
            metric=record.metric,
            direction=record.direction,
            pruner=sweep.pruner,
            command=list(options.command),
            verbose=options.verbose,
            echo=echo,
            smoke=options.smoke,
            allow_user_code=options.allow_user_code,
            tracking=_sweep_tracker(loaded, sweep_dir, options, echo),
        )

    def go(
        self,
        storage: str | None,
        opened: tuple[optuna.Study, str] | None,
        *,
        resumed: bool = False,
    ) -> SweepResult:
        """Open the study, run trials until it is full, write the results."""
        if not self.options.verbose:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        stop = self.stop
        with signals_routed(stop), stop.deferred(_BETWEEN):
            try:
                self._open(storage, opened, resumed)
                self._loop(stop)
            except (Interrupted, KeyboardInterrupt) as exc:
                stopped = exc if isinstance(exc, Interrupted) else as_signal_stop(exc)
                with stop.shielded():
                    self._close("interrupted", f"interrupted by {stopped.signal_name}")
                self.echo(
                    f"sweep interrupted; continue it with: cbrun sweep --resume "
                    f"{self.sweep_dir}"
                )
                raise
            except BaseException as exc:
                with stop.shielded():
                    self._close("failed", str(exc) or type(exc).__name__)
                raise
            with stop.shielded():
                self._close("completed", None)
        return SweepResult(self.sweep_dir, "completed", self.record, self.outcomes)

    def _open(
        self,
        storage: str | None,
        opened: tuple[optuna.Study, str] | None,
        resumed: bool,
    ) -> None:
        if opened is None:
            opened = _study(
                storage, self.sweep_dir, self.record, self.sweep, self.loaded, resumed
            )
        self.study, shown = opened
        self.record = self.record.model_copy(update={"storage": shown})
        for trial in fail_killed_trials(self.study, self.sweep_dir):
            self.echo(f"trial {trial.number}: its process was killed; marked failed")
        self._write()
        tracking = self.runner.tracking
        if tracking is not None:
            tracking.open(self.sweep_dir, self.loaded, self.record.started_at)

    def _loop(self, stop: StopRequest) -> None:
        study = self.study
        assert study is not None
        start = time.monotonic()
        while True:
            stop.check()
            if len(study.get_trials(deepcopy=False)) >= self.record.trials_planned:
                return
            if self.timeout and time.monotonic() - start >= self.timeout:
                self.echo(f"timeout: {self.timeout:g} s passed; no new trial")
                return
            sampler = study.sampler
            if isinstance(sampler, optuna.samplers.GridSampler) and (
                sampler.is_exhausted(study)
            ):
                self.echo("the grid is done")
                return
            self._one(study)

    def _one(self, study: optuna.Study) -> None:
        """Ask, run and tell one trial; record the sweep after it."""
        trial = study.ask()
        folder = Path(TRIALS_DIR) / str(trial.number)
        for key, value in (
            (records.RUN_DIR_ATTR, str(folder)),
            (records.SWEEP_DIR_ATTR, str(self.sweep_dir.absolute())),
            (records.HOST_ATTR, socket.gethostname()),
            (records.PID_ATTR, os.getpid()),
            (records.STATUS_ATTR, "running"),
        ):
            trial.set_user_attr(key, value)
        params = suggest(trial, self.sweep.space)
        try:
            outcome = self.runner.run(
                trial.number, params, self.sweep_dir / folder, reporter(trial)
            )
        except Interrupted:
            with self.stop.shielded():  # the study is told, whatever comes
                trial.set_user_attr(records.STATUS_ATTR, "interrupted")
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        with self.stop.shielded():
            self._tell(study, trial, outcome)
            self.outcomes.append(outcome)
            self._write()
        self.on_trial(outcome)

    def _tell(
        self, study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome
    ) -> None:
        trial.set_user_attr(records.STATUS_ATTR, outcome.status)
        if outcome.run_dir is None:  # an invalid config: no run dir was made
            trial.set_user_attr(records.RUN_DIR_ATTR, "")
        trial.set_user_attr(records.SECONDS_ATTR, round(outcome.seconds, 3))
        if outcome.message:
            trial.set_user_attr(records.MESSAGE_ATTR, records.short(outcome.message))
        state = _STATES[outcome.state]
        if state == optuna.trial.TrialState.COMPLETE:
            study.tell(trial, outcome.value)
        else:
            study.tell(trial, state=state)

    def _write(self) -> None:
        """sweep.json, trials.csv and best.yaml as the study stands now."""
        study = self.study
        if study is None:
            records.write_record(self.sweep_dir, self.record)
            return
        best = records.best_trial(study)
        self.record = self.record.model_copy(
            update={
                "counts": records.counts(study),
                "best": records.best_entry(best, self.sweep_dir),
            }
        )
        records.write_record(self.sweep_dir, self.record)
        records.write_trials_table(self.sweep_dir, study, list(self.sweep.space))
        if best is not None:
            records.write_best_config(
                self.sweep_dir,
                self.base_data,
                best,
                metric=self.record.metric,
                config_file=self.record.config_file,
                study_name=self.record.study,
            )

    def _close(
        self, status: Literal["completed", "interrupted", "failed"], error: str | None
    ) -> None:
        """The final records; pictures only for a sweep that ran its course."""
        self.record = self.record.model_copy(
            update={"status": status, "ended_at": now_iso(), "error": error}
        )
        try:
            self._write()
        except Exception as exc:  # the storage itself may be what failed
            self.echo(f"could not read the study for the final records: {exc}")
            records.write_record(self.sweep_dir, self.record)
        if status == "completed" and self.study is not None:
            draw_pictures(self.study, self.sweep_dir, self.echo)
        if self.runner.tracking is not None:
            self.runner.tracking.close(self.sweep_dir, status)
