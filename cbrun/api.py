"""cbrun as a library: what every ``cbrun`` command does, callable from Python.

Example:
    >>> import cbrun
    >>> report = cbrun.validate("configs/")
    >>> report.valid
    True
    >>> result = cbrun.train("configs/earlystop.yaml", runs_dir="runs")
    >>> result.status, result.record.best
    ('stopped_early', {'monitor': 'val_accuracy', 'value': 0.97..., 'epoch': 11})

Nothing heavy is imported until a function needs it: ``validate`` loads
pydantic's schemas but never TensorFlow; ``train`` imports Keras. Errors are
:class:`cbrun.errors.CbrunError` subclasses, each with the exit code the CLI
uses: :class:`~cbrun.errors.ConfigError` lists every problem of a config
with its file, line and column.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cbrun.errors import ConfigError, Problem

if TYPE_CHECKING:
    from cbrun.cluster import Cluster
    from cbrun.config.loading import LoadedConfig
    from cbrun.runs.listing import RunSummary
    from cbrun.sweeper.runner import SweepResult
    from cbrun.sweeper.trials import TrialOutcome
    from cbrun.tracking.live import MlflowRunTracker
    from cbrun.training.lifecycle import RunResult
    from cbrun.training.reporting import Echo
    from cbrun.training.smoke import SmokeResult

PathLike = str | os.PathLike[str]
ConfigSource = PathLike | Mapping[str, Any]
"""A config file's path, or the config itself as a mapping."""


@dataclass(frozen=True)
class FileReport:
    """What validation found in one config file.

    Attributes:
        file: The file as given (or ``<mapping>``).
        problems: Errors and warnings, in file order.
    """

    file: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether the file has no errors (warnings do not count)."""
        return not any(p.severity == "error" for p in self.problems)


@dataclass(frozen=True)
class Report:
    """What :func:`validate` found, file by file.

    Attributes:
        files: One report per config file, in the order checked.
    """

    files: list[FileReport]

    @property
    def valid(self) -> bool:
        """Whether every file is valid."""
        return all(f.valid for f in self.files)

    @property
    def invalid(self) -> list[FileReport]:
        """The files with errors."""
        return [f for f in self.files if not f.valid]

    @property
    def problems(self) -> list[Problem]:
        """Every problem of every file."""
        return [p for f in self.files for p in f.problems]

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``cbrun validate --format json``."""
        return {
            "valid": self.valid,
            "files": [
                {
                    "file": f.file,
                    "valid": f.valid,
                    "problems": [p.as_dict() for p in f.problems],
                }
                for f in self.files
            ],
        }


def _allow(allow_user_code: bool | None) -> bool:
    """None: allowed unless ``CBRUN_NO_USER_CODE`` is set."""
    if allow_user_code is not None:
        return allow_user_code
    from cbrun.config.user_code import user_code_refused

    return not user_code_refused(False)


def load_config(
    source: ConfigSource,
    overrides: Sequence[str] = (),
    *,
    allow_user_code: bool | None = None,
) -> LoadedConfig:
    """Load and check one config, without importing TensorFlow.

    Args:
        source: A YAML file's path, or the config as a mapping (relative
            data paths and user code are then found from the current folder).
        overrides: ``KEY=VALUE`` strings as for ``--set``, applied in order.
        allow_user_code: False refuses configs that name code to import;
            None refuses it only when ``CBRUN_NO_USER_CODE`` is set.

    Returns:
        The validated config (``.experiment``) with its warnings.

    Raises:
        ConfigError: Every problem found, each with its place and fix.
    """
    from cbrun.config.loading import load_config as load_file
    from cbrun.config.loading import load_mapping

    allow = _allow(allow_user_code)
    if isinstance(source, Mapping):
        return load_mapping(source, overrides, allow_user_code=allow)
    return load_file(Path(source), overrides, allow_user_code=allow)


_Checked = tuple[FileReport, "LoadedConfig | None"]


def _check(
    source: ConfigSource,
    file: str,
    overrides: Sequence[str],
    allow_user_code: bool | None,
) -> _Checked:
    """One config's report, and the config if it loaded."""
    try:
        loaded = load_config(source, overrides, allow_user_code=allow_user_code)
    except ConfigError as exc:
        return FileReport(file, list(exc.problems)), None
    return FileReport(file, list(loaded.warnings)), loaded


def _check_all(
    targets: PathLike | Sequence[PathLike],
    overrides: Sequence[str],
    allow_user_code: bool | None,
) -> list[_Checked]:
    from cbrun.config.loading import find_configs

    many = [targets] if isinstance(targets, str | os.PathLike) else list(targets)
    files, missing = find_configs([os.fspath(t) for t in many])
    checked: list[_Checked] = [(FileReport(p.file, [p]), None) for p in missing]
    return checked + [
        _check(path, str(path), overrides, allow_user_code) for path in files
    ]


def load_configs(
    targets: PathLike | Sequence[PathLike],
    overrides: Sequence[str] = (),
    *,
    allow_user_code: bool | None = None,
) -> tuple[list[LoadedConfig], Report]:
    """Load and check every config of some files and folders.

    Args:
        targets: Config files and folders (searched for ``*.yaml``/``*.yml``).
        overrides: ``KEY=VALUE`` strings applied to every config.
        allow_user_code: As for :func:`load_config`.

    Returns:
        The configs that loaded, and a report of every file: its errors, or
        the warnings of one that loaded. A target that names nothing is an
        invalid file of its own.
    """
    checked = _check_all(targets, overrides, allow_user_code)
    loaded = [config for _, config in checked if config is not None]
    return loaded, Report([report for report, _ in checked])


def validate(
    source: ConfigSource | Sequence[PathLike],
    overrides: Sequence[str] = (),
    *,
    deep: bool = False,
    allow_user_code: bool | None = None,
) -> Report:
    """Check configs as ``cbrun validate`` does, collecting every problem.

    Args:
        source: A config file, a folder (searched for ``*.yaml``/``*.yml``),
            a list of those, or a config as a mapping.
        overrides: ``KEY=VALUE`` strings applied to every config.
        deep: Also import Keras and the user's code and build the data
            shapes, model, optimizer and callbacks (no training).
        allow_user_code: As for :func:`load_config`.

    Returns:
        The report; ``report.valid`` says whether all passed.
    """
    if isinstance(source, Mapping):
        checked = [_check(source, "<mapping>", overrides, allow_user_code)]
    else:
        checked = _check_all(source, overrides, allow_user_code)
    if deep:
        from cbrun.training.deep import deep_check

        checked = [
            (FileReport(r.file, r.problems + deep_check(c)), c) if c else (r, c)
            for r, c in checked
        ]
    return Report([report for report, _ in checked])


def train(
    source: ConfigSource | LoadedConfig,
    *,
    runs_dir: PathLike = "runs",
    overrides: Sequence[str] = (),
    verbose: bool = False,
    echo: Echo | None = None,
    allow_user_code: bool | None = None,
    cluster: Cluster | None = None,
    command: Sequence[str] | None = None,
    track: str | None = None,
) -> RunResult:
    """Train one config into ``runs_dir/<name>/<time>/``, as ``cbrun train``.

    Args:
        source: A config file, a config mapping, or a loaded config.
        runs_dir: The folder of all runs.
        overrides: ``KEY=VALUE`` strings as for ``--set`` (not with a loaded
            config, which has its own).
        verbose: Keep TensorFlow's logs and raise errors with tracebacks.
        echo: Receives cbrun's own lines (run dir, stop reason, best value);
            by default they go to the ``cbrun`` logger.
        allow_user_code: As for :func:`load_config`.
        cluster: This process's place in a ``data_parallel`` job.
        command: The command line recorded in run.json; defaults to
            ``sys.argv``.
        track: ``"mlflow"``: also log the run to MLflow (as ``--track
            mlflow``), even without a ``tracking.mlflow`` section; the
            section's settings apply when present.

    Returns:
        The run's directory, status (``completed`` or ``stopped_early``),
        record (run.json), config and history.

    Raises:
        ConfigError: The config is invalid or cannot be built.
        cbrun.tracking.TrackingError: Tracking is asked for and MLflow is
            not installed; raised before the run starts.
        cbrun.training.outcome.TrainingFailed: Training raised or stopped on a
            NaN loss; the run dir records it.
        cbrun.training.signals.Interrupted: SIGINT or SIGTERM; recorded, and
            resumable with :func:`resume`.
    """
    from cbrun.config.loading import LoadedConfig
    from cbrun.training.lifecycle import train as run
    from cbrun.training.reporting import log_line

    if isinstance(source, LoadedConfig):
        if overrides:
            raise ValueError("overrides go with a path or mapping, not a LoadedConfig")
        loaded = source
    else:
        loaded = load_config(source, overrides, allow_user_code=allow_user_code)
    say = echo or log_line
    tracker = None
    if cluster is None or cluster.is_writer:  # process 0 alone shows the run
        tracker = _tracker(loaded, Path(runs_dir), track, say)
    try:
        return run(
            loaded,
            Path(runs_dir),
            command=list(sys.argv if command is None else command),
            verbose=verbose,
            echo=say,
            cluster=cluster,
            tracker=tracker,
        )
    finally:
        if tracker is not None:
            tracker.close()  # its thread, if the run failed before it began


def _tracker(
    loaded: LoadedConfig, runs_dir: Path, track: str | None, echo: Echo
) -> MlflowRunTracker | None:
    """The run's MLflow tracker or None; refuses to start if MLflow is missing."""
    from cbrun.tracking import mlflow_settings, require_mlflow

    experiment = loaded.experiment
    settings = mlflow_settings(experiment.tracking, loaded.name, runs_dir, track)
    if settings is None:
        return None
    require_mlflow()
    from cbrun.tracking.live import MlflowRunTracker
    from cbrun.training.records import resolved_data

    return MlflowRunTracker(settings, resolved_data(experiment), echo)


def resume(
    run_dir: PathLike,
    overrides: Sequence[str] = (),
    *,
    verbose: bool = False,
    echo: Echo | None = None,
    allow_user_code: bool | None = None,
    cluster: Cluster | None = None,
    command: Sequence[str] | None = None,
) -> RunResult:
    """Continue a killed, crashed or interrupted run from its last backed-up epoch.

    Args:
        run_dir: The run's directory.
        overrides: Only ``fit.epochs=N`` and ``fit.verbose=N`` may change.
        verbose: As for :func:`train`.
        echo: As for :func:`train`.
        allow_user_code: As for :func:`load_config`.
        cluster: As for :func:`train`.
        command: As for :func:`train`.

    Raises:
        cbrun.training.resume.AlreadyFinished: The run ended well (exit code 0).
        cbrun.training.resume.ResumeError: It cannot continue; the message
            says why and what to do.
        cbrun.runs.lock.RunLockedError: Another process trains or resumes it;
            refused before its files are read or TensorFlow is imported.
        ConfigError, TrainingFailed, Interrupted: As for :func:`train`.
    """
    from cbrun.runs.layout import RUN_FILE
    from cbrun.runs.lock import run_lock
    from cbrun.training.lifecycle import train as run
    from cbrun.training.reporting import log_line
    from cbrun.training.resume import prepare_resume

    say = echo or log_line
    folder = Path(run_dir)
    # Locked before its files are read and long before TensorFlow's import:
    # a second resume is refused at once, and what is read stays true. A
    # folder without run.json gets no lock file; prepare_resume says why.
    locked = run_lock(folder) if (folder / RUN_FILE).is_file() else nullcontext()
    with locked:
        loaded, point = prepare_resume(
            folder, overrides, allow_user_code=_allow(allow_user_code)
        )
        for warning in loaded.warnings:
            say(warning.format())
        return run(
            loaded,
            folder,
            command=list(sys.argv if command is None else command),
            verbose=verbose,
            echo=say,
            resume=point,
            cluster=cluster,
        )


def smoke(
    targets: Sequence[PathLike],
    overrides: Sequence[str] = (),
    *,
    runs_dir: PathLike | None = None,
    report: Callable[[SmokeResult], None] | None = None,
    allow_user_code: bool | None = None,
    command: Sequence[str] | None = None,
) -> list[SmokeResult]:
    """Train every config for two epochs of two batches, every callback firing.

    Args:
        targets: Config files and folders.
        overrides: ``KEY=VALUE`` strings applied to every config.
        runs_dir: Where the runs go; a temporary folder, removed after, if None.
        report: Called with each config's result as soon as it is known.
        allow_user_code: As for :func:`load_config`.
        command: The command line recorded in run.json.

    Returns:
        One result per config (``.ok``, ``.seconds``, ``.message``).
    """
    from cbrun.training import smoke as smoking

    return smoking.run_smoke(
        [os.fspath(t) for t in targets],
        overrides,
        None if runs_dir is None else Path(runs_dir),
        list(sys.argv if command is None else command),
        report or (lambda _: None),
        allow_user_code=_allow(allow_user_code),
    )


def sweep(
    source: ConfigSource | None = None,
    *,
    runs_dir: PathLike | None = "runs",
    overrides: Sequence[str] = (),
    trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study: str | None = None,
    smoke: bool = False,
    resume_dir: PathLike | None = None,
    verbose: bool = False,
    echo: Echo | None = None,
    on_trial: Callable[[TrialOutcome], None] | None = None,
    allow_user_code: bool | None = None,
    command: Sequence[str] | None = None,
    track: str | None = None,
) -> SweepResult:
    """Search the config's ``sweep.space`` with Optuna, as ``cbrun sweep``.

    Trials run in this process, each a normal run dir in
    ``runs_dir/<name>/sweep-<time>/trials/<number>/``, until the study (every
    worker sharing it) has ``trials`` trials or ``timeout`` seconds passed.

    Args:
        source: A config file or mapping with a ``sweep`` section (None with
            ``resume_dir``).
        runs_dir: Where the sweep dir goes; None: a temporary folder,
            removed afterwards (what ``--smoke`` without ``--runs-dir`` does).
            Not used with ``resume_dir``.
        overrides: ``KEY=VALUE`` strings as for ``--set``, on the base config.
        trials: Trials in the whole study; default ``sweep.trials``.
        timeout: Seconds after which no trial starts; default ``sweep.timeout``.
        storage: A journal file path or an RDB URL (``sqlite:///s.db``,
            ``postgresql://...``) shared by workers; default a journal file
            in the sweep dir.
        study: The study's name; default the config's name.
        smoke: Two trials, each a smoke run (two epochs of two batches).
        resume_dir: Continue this sweep dir instead (``--resume``).
        verbose: TensorFlow's and Optuna's logs and each run's own lines.
        echo: Receives cbrun's lines; by default the ``cbrun`` logger.
        on_trial: Called with each trial's outcome as it ends.
        allow_user_code: As for :func:`load_config`.
        command: The command line recorded; defaults to ``sys.argv``.
        track: ``"mlflow"``: a parent MLflow run for the sweep with a nested
            run per trial (as a ``tracking.mlflow`` section does).

    Returns:
        The sweep dir, its status, sweep.json and this process's trials.

    Raises:
        cbrun.sweeper.SweepError: Optuna is missing, or the storage, study or
            sweep dir cannot be used (exit code 2).
        cbrun.tracking.TrackingError: Tracking is asked for and MLflow is
            not installed (exit code 2).
        ConfigError: The config is invalid or has no ``sweep`` section.
        cbrun.training.signals.Interrupted: SIGINT or SIGTERM; recorded.
    """
    from cbrun.sweeper import require_optuna

    require_optuna()
    import tempfile

    from cbrun.sweeper import runner
    from cbrun.training.reporting import log_line

    options = runner.SweepOptions(
        trials=trials,
        timeout=timeout,
        storage=storage,
        study=study,
        smoke=smoke,
        verbose=verbose,
        allow_user_code=_allow(allow_user_code),
        command=list(sys.argv if command is None else command),
        track=track,
    )
    say, told = echo or log_line, on_trial or (lambda _: None)
    if resume_dir is not None:
        return runner.resume_sweep(Path(resume_dir), options, echo=say, on_trial=told)
    if source is None:
        raise ValueError("sweep() needs a config source or resume_dir")
    loaded = load_config(source, overrides, allow_user_code=allow_user_code)
    for warning in loaded.warnings:
        say(warning.format())
    tracking = loaded.experiment.tracking
    if track or (tracking is not None and tracking.mlflow is not None):
        from cbrun.tracking import require_mlflow

        require_mlflow()  # before a sweep dir exists
    if runs_dir is not None:
        return runner.new_sweep(
            loaded, Path(runs_dir), options, echo=say, on_trial=told
        )
    with tempfile.TemporaryDirectory(prefix="cbrun-sweep-") as scratch:
        return runner.new_sweep(loaded, Path(scratch), options, echo=say, on_trial=told)


def list_runs(runs_dir: PathLike = "runs") -> list[RunSummary]:
    """The runs under ``runs_dir``, newest first, from their run.json alone.

    A run whose process is gone is ``dead``, one with an unreadable record
    ``corrupt``; neither stops the listing. No TensorFlow import.
    """
    from cbrun.runs.listing import list_runs as listing

    return listing(Path(runs_dir))
