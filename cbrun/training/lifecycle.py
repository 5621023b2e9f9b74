"""One training run: resolve, build, fit, evaluate, record.

Keras is imported lazily, inside :func:`train`, so importing this module costs
nothing until a run starts.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from cbrun.cluster import Cluster
from cbrun.config.keras_names import METRIC_DIRECTIONS
from cbrun.config.loading import LoadedConfig
from cbrun.config.problems import make_problem
from cbrun.errors import BuildError, CbrunError, ConfigError, ExitCode
from cbrun.runs import manifest as runs
from cbrun.runs.layout import BACKUP_DIR, CONFIG_FILE, MODEL_FILE, create_run_dir
from cbrun.runs.lock import run_lock
from cbrun.training.signals import (
    Interrupted,
    StopRequest,
    join_ignoring_ctrl_c,
    signals_stop_training,
)

SMOKE_EPOCHS = 2
SMOKE_STEPS = 2

Echo = Callable[[str], None]


class TrainingFailed(CbrunError):
    """Training raised, or stopped on NaN; run.json says which."""

    exit_code = ExitCode.TRAINING_FAILED


@dataclass
class ResumePoint:
    """Where a resumed run continues from.

    Attributes:
        run_dir: The run being continued.
        epoch: Epochs finished according to its backup (0: none).
        history: Its history, cut to ``epoch`` epochs.
        best: The best monitored value so far, if within those epochs.
        overrides: The ``--set`` strings given with ``--resume``.
    """

    run_dir: Path
    epoch: int
    history: dict[str, list[float]]
    best: dict[str, Any] | None
    overrides: tuple[str, ...] = ()


@dataclass
class RunResult:
    """What one run ended with.

    Attributes:
        run_dir: The run directory.
        status: The final status written to run.json.
        record: The final run record.
        history: Metric name to one value per epoch.
    """

    run_dir: Path
    status: str
    record: runs.RunRecord
    history: dict[str, list[float]] = field(default_factory=dict)


def _say(message: str) -> None:
    click.echo(f"cbrun: {message}", err=True)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _monitor(loaded: LoadedConfig) -> tuple[str, bool]:
    """Pick the quantity whose best value run.json reports, and its direction."""
    config = loaded.experiment
    has_validation = bool(config.fit.validation_split) or (
        config.fit.validation_data is not None
    )
    for callback in config.callbacks:
        monitor = getattr(callback, "monitor", None)
        if isinstance(monitor, str):
            mode = getattr(callback, "mode", "auto")
            break
    else:
        monitor, mode = ("val_loss" if has_validation else "loss"), "auto"
    if mode != "auto":
        return monitor, mode == "max"
    base = monitor.removeprefix("val_")
    return monitor, METRIC_DIRECTIONS.get(base, "down") == "up"


def _fit_arguments(
    loaded: LoadedConfig, data: Any, *, smoke: bool = False
) -> dict[str, Any]:
    fit = loaded.experiment.fit
    arguments = fit.model_dump(exclude={"validation_data"})
    if smoke:
        # Lightning's fast_dev_run for Keras: every callback still fires.
        arguments.update(
            epochs=SMOKE_EPOCHS,
            initial_epoch=0,
            steps_per_epoch=SMOKE_STEPS,
            validation_steps=SMOKE_STEPS,
            verbose=0,
        )
    if fit.validation_data == "test":
        if data.x_test is None:
            raise BuildError(
                "validation_data: test needs a test split, and this data has none; "
                "set data.test_size or use fit.validation_split",
                ("fit", "validation_data"),
            )
        arguments["validation_data"] = (data.x_test, data.y_test)
    return arguments


def _stop_reason(
    callbacks: Sequence[Any], epochs_run: int, epochs: int
) -> tuple[str, str]:
    """Return (status, reason) from what the callbacks did."""
    import keras

    for callback in callbacks:
        if (
            isinstance(callback, keras.callbacks.EarlyStopping)
            and callback.stopped_epoch
        ):
            return runs.STOPPED_EARLY, (
                f"EarlyStopping: {callback.monitor} did not improve for "
                f"{callback.patience} epochs after epoch {callback.best_epoch + 1} "
                f"(best {float(callback.best):.6g}); stopped at epoch "
                f"{callback.stopped_epoch + 1}"
            )
    if epochs_run < epochs:
        return runs.STOPPED_EARLY, f"a callback stopped training at epoch {epochs_run}"
    return runs.COMPLETED, f"finished {epochs_run} epochs"


def _nan_stopped(callbacks: Sequence[Any], last_logs: dict[str, float]) -> bool:
    import keras

    has_guard = any(isinstance(c, keras.callbacks.TerminateOnNaN) for c in callbacks)
    loss = last_logs.get("loss")
    return has_guard and loss is not None and not math.isfinite(loss)


def _write_resolved_config(run_dir: Path, loaded: LoadedConfig) -> None:
    resolved = loaded.experiment.model_dump(mode="json")
    header = f"# Resolved from {loaded.path}"
    if loaded.overrides:
        header += " with " + " ".join(f"--set {o}" for o in loaded.overrides)
    text = header + "\n" + yaml.safe_dump(resolved, sort_keys=False)
    (run_dir / CONFIG_FILE).write_text(text, encoding="utf-8")


def _finish_safely(
    manifest: runs.RunManifest,
    status: str,
    history: dict[str, list[float]] | None = None,
    **fields: Any,
) -> runs.RunRecord:
    """Record the end of a run; a failure to write is itself a clear error.

    Raises:
        TrainingFailed: run.json or history.json cannot be written (a full
            disk, a folder made read-only), naming the folder and the reason.
    """
    try:
        if history is not None:
            runs.write_history(manifest.run_dir, history)
        return manifest.finish(status, **fields)
    except OSError as exc:
        raise TrainingFailed(
            f"cannot record the run in {manifest.run_dir}: {exc.strerror or exc}; "
            "free space or fix the folder's permissions"
        ) from None


@dataclass
class _Built:
    """Everything built from a config before the run directory exists."""

    keras: Any
    data: Any
    model: Any
    fit_arguments: dict[str, Any]
    distribute: dict[str, Any] | None = None
    train_input: Any = None
    test_input: Any = None
    feed: str = "numpy"


def _build(
    loaded: LoadedConfig,
    *,
    smoke: bool,
    verbose: bool,
    cluster: Cluster,
    echo: Echo = _say,
) -> _Built:
    """Seed, load the data, build and compile the model.

    Raises:
        ConfigError: A value that cannot be built, at its config line.
        TrainingFailed: An unexpected error while building.
    """
    from cbrun.keras.env import import_keras

    config = loaded.experiment
    keras = import_keras(config.backend, verbose=verbose)
    from cbrun.keras import distribute
    from cbrun.keras.data import load_data
    from cbrun.keras.feeding import as_datasets, choose_feed
    from cbrun.keras.imports import add_import_root
    from cbrun.keras.model import build_model, check_output_fits_labels, compile_model

    add_import_root(loaded.base_dir)
    strategy = config.distribute.strategy if config.distribute else None
    record: dict[str, Any] | None = None
    if strategy == "data_parallel":
        assert config.distribute is not None
        devices = distribute.start_data_parallel(
            cluster, config.distribute.devices, echo
        )
        record = {"strategy": strategy, **cluster.describe(), "devices": devices}
    keras.utils.set_random_seed(config.seed)
    if config.deterministic and config.backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    try:
        data = load_data(config.data, seed=config.seed, base_dir=loaded.base_dir)
        with distribute.build_scope(config.distribute) as scope:
            model = build_model(config, data)
            compile_model(model, config)
        if scope is not None:
            devices = [str(d) for d in scope.extended.worker_devices]
            record = {"strategy": strategy, "processes": 1, "devices": devices}
        check_output_fits_labels(model, config, data)
        built = _Built(
            keras, data, model, _fit_arguments(loaded, data, smoke=smoke), record
        )
        feed, why = choose_feed(
            config.data.feed,
            backend=config.backend,
            distributed=config.distribute is not None,
            x=data.x_train,
            y=data.y_train,
        )
        built.feed = f"{feed} ({why})"
        if strategy == "data_parallel" or feed == "tf.data":
            # Keras shards tf.data input across processes; numpy it cannot.
            built.train_input, built.fit_arguments, built.test_input = as_datasets(
                data, built.fit_arguments, config.seed, cluster.num_processes
            )
            if strategy == "data_parallel":
                built.feed = "tf.data (data_parallel)"
        return built
    except BuildError as exc:
        problem = make_problem(loaded.source, loaded.data, exc.path, exc.message)
        raise ConfigError([problem]) from None
    except Exception as exc:
        if verbose:
            raise
        raise TrainingFailed(
            f"{loaded.path}: building the model failed: {_first_line(exc)} "
            "(--verbose shows the traceback)"
        ) from None


def train(
    loaded: LoadedConfig,
    runs_dir: Path,
    *,
    command: Sequence[str],
    verbose: bool = False,
    echo: Echo = _say,
    smoke: bool = False,
    resume: ResumePoint | None = None,
    cluster: Cluster | None = None,
) -> RunResult:
    """Run one config: build everything, fit, evaluate and record.

    Args:
        loaded: The validated config.
        runs_dir: Runs go to ``runs_dir/<name>/<timestamp>/``.
        command: The command line, recorded in run.json.
        verbose: Keep TensorFlow's info logs and show tracebacks.
        echo: Where cbrun's own lines go (stderr by default).
        smoke: Two epochs of two batches each (validation and test likewise),
            silently, with every callback built and fired.
        resume: Continue this run instead of starting a new one.
        cluster: This process's place in a ``data_parallel`` job; only
            process 0 writes the run dir, the others use a scratch folder.

    Returns:
        The result; its status is completed or stopped_early.

    Raises:
        ConfigError: Something in the config cannot be built. Data, model
            and compile are built before a run dir exists; a callback that
            cannot be built leaves its run recorded as ``failed``.
        TrainingFailed: Training raised or stopped on NaN (recorded).
        Interrupted: SIGINT or SIGTERM (recorded).
    """
    cluster = cluster or Cluster()
    built = _build(loaded, smoke=smoke, verbose=verbose, cluster=cluster, echo=echo)
    if not cluster.is_writer:
        return _worker_run(loaded, built, command, smoke, resume)
    if resume is None:
        run_dir = create_run_dir(runs_dir, loaded.name)
        _write_resolved_config(run_dir, loaded)
    else:
        run_dir = resume.run_dir
    with run_lock(run_dir):
        return _Run(loaded, built, run_dir, command, verbose, echo, smoke, resume).go()


def _worker_run(
    loaded: LoadedConfig,
    built: _Built,
    command: Sequence[str],
    smoke: bool,
    resume: ResumePoint | None,
) -> RunResult:
    """Train as a process other than 0: the same steps, nothing in the run dir.

    Its records go to a scratch folder that is removed afterwards; on a
    resume it reads process 0's backup (on a shared file system) and never
    writes it.
    """
    scratch = Path(tempfile.mkdtemp(prefix="cbrun-process-"))
    try:
        run = _Run(loaded, built, scratch, command, False, lambda _: None, smoke, None)
        run.writer = False
        run.shared_backup = None if resume is None else resume.run_dir / BACKUP_DIR
        return run.go()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _Run:
    """One run inside its (locked) run directory."""

    def __init__(
        self,
        loaded: LoadedConfig,
        built: _Built,
        run_dir: Path,
        command: Sequence[str],
        verbose: bool,
        echo: Echo,
        smoke: bool,
        resume: ResumePoint | None,
    ) -> None:
        self.loaded = loaded
        self.built = built
        self.run_dir = run_dir
        self.command = list(command)
        self.verbose = verbose
        self.echo = echo
        self.smoke = smoke
        self.resume = resume
        self.manifest = runs.RunManifest(run_dir)
        self.indexed: list[tuple[int, Any]] = []
        # Processes other than 0 of a resumed data_parallel job restore from
        # process 0's backup (on a shared file system) and write scratch only.
        self.shared_backup: Path | None = None
        self.writer = True  # False for processes other than 0 of a job.
        self.backup: Any = None  # The run's ThrottledBackupAndRestore.

    def go(self) -> RunResult:
        self._open_record()
        callbacks = self._callbacks()
        extra = self._backup(callbacks)
        recorder = self._recorder()
        stop = StopRequest()
        self._fit(callbacks, [*extra, self._stop_checker(stop), recorder], stop)
        return self._close(callbacks, recorder)

    def _open_record(self) -> None:
        config = self.loaded.experiment
        self.echo(f"run dir: {self.run_dir}")
        self.echo(f"data: {self.built.data.description}; feed: {self.built.feed}")
        if self.resume is None:
            self.manifest.start(
                self.loaded.name, self.loaded.path, config.seed, self.command
            )
            if self.built.distribute is not None:
                self.manifest.update(distribute=self.built.distribute)
            return
        record = self.manifest.resume(self.command)
        entry = {
            "at": runs.now_iso(),
            "from_epoch": self.resume.epoch,
            "overrides": list(self.resume.overrides),
            "command": self.command,
        }
        self.manifest.update(
            resumes=[*record.resumes, entry],
            epochs_run=self.resume.epoch,
            best=self.resume.best,
        )
        runs.write_history(self.run_dir, self.resume.history)
        if self.resume.epoch == 0 and record.epochs_run > 0:
            self.echo(
                f"no backup was written in its {record.epochs_run} epochs (backups "
                "are throttled to a small share of training time); training "
                "starts again from epoch 1"
            )
        else:
            self.echo(f"resuming after epoch {self.resume.epoch}")

    def _callbacks(self) -> list[Any]:
        from cbrun.keras.callbacks import BuildContext, build_callbacks
        from cbrun.keras.feeding import training_samples

        config = self.loaded.experiment
        samples = len(self.built.data.x_train)
        context = BuildContext(
            run_dir=self.run_dir,
            train_samples=training_samples(samples, config.fit.validation_split),
            batch_size=config.fit.batch_size or 32,
            resumed_epochs=None if self.resume is None else self.resume.epoch,
        )
        try:
            self.indexed = build_callbacks(list(config.callbacks), context)
            return [callback for _, callback in self.indexed]
        except BuildError as exc:
            _finish_safely(self.manifest, runs.FAILED, error=exc.message)
            problem = make_problem(
                self.loaded.source, self.loaded.data, exc.path, exc.message
            )
            raise ConfigError([problem]) from None

    def _recorder(self) -> Any:
        from cbrun.keras.recorder import RunRecorder

        monitor, maximize = _monitor(self.loaded)
        backup = self.backup

        def on_epoch(
            epochs_run: int,
            history: dict[str, list[float]],
            best: dict[str, Any] | None,
        ) -> None:
            # Atomic but not fsynced: a killed process leaves a whole file,
            # and the final record at the end of the run is fsynced.
            runs.write_history(self.run_dir, history, durable=False)
            fields: dict[str, Any] = {"epochs_run": epochs_run, "best": best}
            if backup is not None and backup.saved_epoch is not None:
                fields["backup_epoch"] = backup.saved_epoch
            self.manifest.update(durable=False, **fields)

        resume = self.resume
        return RunRecorder(
            monitor,
            maximize,
            on_epoch,
            initial_history=None if resume is None else resume.history,
            initial_best=None if resume is None else resume.best,
            backup=backup,
        )

    def _backup(self, callbacks: list[Any]) -> list[Any]:
        """Keras's BackupAndRestore plus cbrun's keeper of callback counters.

        Every process of a job gets the same callbacks (their collectives must
        match, or the job hangs); processes other than 0 write into scratch
        and back up every epoch, so that all decide alike.
        """
        if self.smoke:
            return []
        from cbrun.keras.backup import (
            BACKUP_SHARE,
            CallbackStateKeeper,
            ThrottledBackupAndRestore,
        )

        folder = self.run_dir / BACKUP_DIR
        job = (
            self.built.distribute is not None
            and self.built.distribute.get("processes", 1) > 1
        )
        backup = ThrottledBackupAndRestore(
            str(folder),
            max_share=None if job else BACKUP_SHARE,
            restore_from=None
            if self.shared_backup is None
            else str(self.shared_backup),
            double_checkpoint=True,
        )
        self.backup = backup
        keeper = CallbackStateKeeper(
            self.shared_backup or folder,
            dict(self.indexed),
            restore=self.resume is not None or self.shared_backup is not None,
            backup=backup,
            save_to=folder,
        )
        return [backup, keeper]

    def _resume_point(self) -> str:
        """Where ``--resume`` will continue, for the interrupt message."""
        if self.backup is None:
            return ""
        epoch = self.backup.saved_epoch
        if epoch is None and self.resume is not None:
            epoch = self.resume.epoch or None  # the backup this run resumed from
        if epoch is None:
            return " (no backup yet: it starts again from epoch 1)"
        return f" (from the backup of epoch {epoch})"

    def _stop_checker(self, stop: StopRequest) -> Any:
        keras = self.built.keras

        # Batch-begin hooks: the step before has finished, and Keras keeps
        # dispatching batch ends asynchronously where the backend allows.
        class StopCheck(keras.callbacks.Callback):  # type: ignore[name-defined]
            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                stop.check()

            def on_test_batch_begin(self, batch: int, logs: Any = None) -> None:
                stop.check()

        return StopCheck()

    def _fit(self, callbacks: list[Any], extra: list[Any], stop: StopRequest) -> None:
        recorder = extra[-1]
        try:
            with signals_stop_training(stop):
                if self.built.train_input is not None:
                    self.built.model.fit(
                        self.built.train_input,
                        callbacks=[*callbacks, *extra],
                        **self.built.fit_arguments,
                    )
                else:
                    self.built.model.fit(
                        self.built.data.x_train,
                        self.built.data.y_train,
                        callbacks=[*callbacks, *extra],
                        **self.built.fit_arguments,
                    )
        except (KeyboardInterrupt, Interrupted) as exc:
            if not isinstance(exc, Interrupted):
                exc = Interrupted("SIGINT", ExitCode.INTERRUPTED)
            self._finish(
                recorder,
                runs.INTERRUPTED,
                stop_reason=f"{exc.signal_name} after {recorder.epochs_run} epochs",
            )
            self.echo(
                f"interrupted by {exc.signal_name} after epoch {recorder.epochs_run}; "
                f"continue with: cbrun train --resume {self.run_dir}"
                + self._resume_point()
            )
            raise exc from None
        except Exception as exc:
            status = runs.FAILED
            if (
                _nan_stopped(callbacks, {"loss": math.nan})
                and "nan" in str(exc).lower()
            ):
                status = runs.TERMINATED_NAN
            message = f"{type(exc).__name__}: {_first_line(exc)}"
            self._finish(recorder, status, error=message)
            if self.verbose:
                raise
            raise TrainingFailed(f"training failed ({status}): {message}") from None

    def _close(self, callbacks: list[Any], recorder: Any) -> RunResult:
        if _nan_stopped(callbacks, recorder.last_logs):
            self._finish(
                recorder,
                runs.TERMINATED_NAN,
                stop_reason=f"TerminateOnNaN: loss became "
                f"{recorder.last_logs.get('loss')} in epoch {recorder.epochs_run}",
            )
            self.echo(f"stopped: the loss became NaN in epoch {recorder.epochs_run}")
            raise TrainingFailed("training terminated on NaN loss (terminated_nan)")
        epochs = self.built.fit_arguments["epochs"]
        status, reason = _stop_reason(callbacks, recorder.epochs_run, epochs)
        plot = None
        if not self.smoke and self.writer:
            plot = self._draw_plot_meanwhile(status, recorder)
        try:
            test_metrics = self._evaluate_and_save()
            record = self._finish(
                recorder, status, stop_reason=reason, test_metrics=test_metrics
            )
        except KeyboardInterrupt:
            # Ctrl-C after training: the epochs are recorded, the model may
            # not be saved; say so rather than leave the run "running".
            self._finish(
                recorder,
                runs.INTERRUPTED,
                stop_reason=f"SIGINT after {recorder.epochs_run} epochs, while "
                "evaluating and saving the model",
            )
            raise Interrupted("SIGINT", ExitCode.INTERRUPTED) from None
        finally:
            if plot is not None:
                join_ignoring_ctrl_c(plot)
        self._report(reason, recorder.best, test_metrics)
        return RunResult(self.run_dir, status, record, recorder.history)

    def _draw_plot_meanwhile(self, status: str, recorder: Any) -> threading.Thread:
        """Draw history.png on a thread while the model is evaluated and saved.

        Keras has imported matplotlib already, so drawing costs ~0.15 s of
        CPU. That CPU is GIL-bound Python, so the thread does not shorten the
        run (measured: evaluate and save take 0.04 s alone, 0.185 s with the
        thread); it draws even when evaluate or save fails, and a Ctrl-C
        while it finishes is ignored (:func:`join_ignoring_ctrl_c`).
        """
        from cbrun.runs.plots import draw_history_plot

        thread = threading.Thread(
            target=draw_history_plot,
            args=(self.run_dir, recorder.history),
            kwargs={"name": self.loaded.name, "status": status, "best": recorder.best},
            name="cbrun-history-plot",
        )
        thread.start()
        return thread

    def _finish(self, recorder: Any, status: str, **fields: Any) -> runs.RunRecord:
        """Record the end of the run with every epoch the recorder kept.

        Per-epoch writes are throttled, so the history, epoch count and best
        on disk may be behind; the final record brings them up to date.
        """
        return _finish_safely(
            self.manifest,
            status,
            history=recorder.history,
            epochs_run=recorder.epochs_run,
            best=recorder.best,
            **fields,
        )

    def _evaluate_and_save(self) -> dict[str, float] | None:
        data, model, fit = self.built.data, self.built.model, self.loaded.experiment.fit
        try:
            test_metrics = None
            steps = SMOKE_STEPS if self.smoke else None
            if self.built.test_input is not None:
                evaluated = model.evaluate(
                    self.built.test_input, verbose=0, return_dict=True, steps=steps
                )
                test_metrics = {k: float(v) for k, v in evaluated.items()}
            elif data.x_test is not None:
                evaluated = model.evaluate(
                    data.x_test,
                    data.y_test,
                    verbose=0,
                    return_dict=True,
                    batch_size=fit.validation_batch_size or fit.batch_size,
                    steps=steps,
                )
                test_metrics = {k: float(v) for k, v in evaluated.items()}
            model.save(self.run_dir / MODEL_FILE)
        except Exception as exc:
            message = f"after training: {type(exc).__name__}: {_first_line(exc)}"
            _finish_safely(self.manifest, runs.FAILED, error=message)
            if self.verbose:
                raise
            raise TrainingFailed(
                f"{message} (the trained epochs are in {self.run_dir})"
            ) from None
        return test_metrics

    def _report(
        self,
        reason: str,
        best: dict[str, Any] | None,
        test_metrics: dict[str, float] | None,
    ) -> None:
        self.echo(reason)
        if best is not None:
            self.echo(
                f"best {best['monitor']}: {best['value']:.6g} at epoch {best['epoch']}"
            )
        if test_metrics:
            self.echo(
                "test: " + ", ".join(f"{k} {v:.6g}" for k, v in test_metrics.items())
            )
        self.echo(
            f"files: {self.run_dir} (run.json, history.json, history.png, "
            "config.yaml, model.keras)"
        )
        from cbrun.config.callbacks.tensorboard import TensorBoardSchema
        from cbrun.runs.layout import resolve_inside

        for callback in self.loaded.experiment.callbacks:
            if isinstance(callback, TensorBoardSchema):
                log_dir = resolve_inside(self.run_dir, callback.log_dir)
                self.echo(f"view it: tensorboard --logdir {log_dir}")


def default_command() -> list[str]:
    """The command line as typed, for run.json."""
    return ["cbrun", *sys.argv[1:]]
