"""One training run: assemble, open the record, fit, classify, evaluate, record.

Keras is imported lazily, when a run starts, so importing this module costs
nothing until then.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cbrun.cluster import Cluster
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.loading import LoadedConfig
from cbrun.config.monitor import run_monitor
from cbrun.config.problems import make_problem
from cbrun.errors import BuildError, ConfigError, ExitCode
from cbrun.runs import manifest as runs
from cbrun.runs.layout import BACKUP_DIR, MODEL_FILE, create_run_dir
from cbrun.runs.lock import run_lock
from cbrun.training.assemble import Assembled, assemble, callback_context
from cbrun.training.outcome import (
    TrainingFailed,
    classify,
    closing_lines,
    guards_nan,
)
from cbrun.training.records import finish_safely, open_record, write_resolved_config
from cbrun.training.reporting import Echo, first_line, log_line, silent
from cbrun.training.resume import ResumePoint
from cbrun.training.signals import (
    Interrupted,
    StopRequest,
    join_ignoring_ctrl_c,
    signals_stop_training,
)


@dataclass
class RunResult:
    """What one run ended with.

    Attributes:
        run_dir: The run directory.
        status: The final status written to run.json.
        record: The final run record.
        config: The config the run trained, as validated.
        history: Metric name to one value per epoch.
    """

    run_dir: Path
    status: str
    record: runs.RunRecord
    config: ExperimentConfig
    history: dict[str, list[float]] = field(default_factory=dict)


def train(
    loaded: LoadedConfig,
    runs_dir: Path,
    *,
    command: Sequence[str],
    verbose: bool = False,
    echo: Echo = log_line,
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
        echo: Where cbrun's own lines go.
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
    cluster.check_fits(loaded.experiment.distribute, loaded.path)
    built = assemble(loaded, smoke=smoke, verbose=verbose, cluster=cluster, echo=echo)
    if not cluster.is_writer:
        return _worker_run(loaded, built, command, smoke, resume)
    if resume is None:
        run_dir = create_run_dir(runs_dir, loaded.name)
        write_resolved_config(run_dir, loaded)
    else:
        run_dir = resume.run_dir
    with run_lock(run_dir):
        return _Run(loaded, built, run_dir, command, verbose, echo, smoke, resume).go()


def _worker_run(
    loaded: LoadedConfig,
    built: Assembled,
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
        run = _Run(loaded, built, scratch, command, False, silent, smoke, None)
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
        built: Assembled,
        run_dir: Path,
        command: Sequence[str],
        verbose: bool,
        echo: Echo,
        smoke: bool,
        resume: ResumePoint | None,
    ) -> None:
        self.loaded = loaded
        self.config = loaded.experiment
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
        self.echo(f"run dir: {self.run_dir}")
        self.echo(f"data: {self.built.data.description}; feed: {self.built.feed}")
        open_record(
            self.manifest,
            self.loaded,
            self.command,
            distribute=self.built.distribute,
            resume=self.resume,
            echo=self.echo,
        )
        callbacks = self._callbacks()
        extra = self._backup()
        recorder = self._recorder()
        stop = StopRequest(self.echo)
        every = [*callbacks, *extra, self._stop_checker(stop), recorder]
        self._fit(every, recorder, stop)
        return self._close(recorder)

    def _callbacks(self) -> list[Any]:
        from cbrun.keras.callbacks import build_callbacks

        context = callback_context(
            self.built.plan,
            self.built.data,
            self.run_dir,
            None if self.resume is None else self.resume.epoch,
        )
        try:
            self.indexed = build_callbacks(list(self.config.callbacks), context)
            return [callback for _, callback in self.indexed]
        except BuildError as exc:
            finish_safely(self.manifest, runs.FAILED, error=exc.message)
            problem = make_problem(
                self.loaded.source, self.loaded.data, exc.path, exc.message
            )
            raise ConfigError([problem]) from None

    def _recorder(self) -> Any:
        from cbrun.keras.recorder import RunRecorder

        monitor = run_monitor(self.config)
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
            monitor.name,
            monitor.maximize,
            on_epoch,
            initial_history=None if resume is None else resume.history,
            initial_best=None if resume is None else resume.best,
            backup=backup,
        )

    def _backup(self) -> list[Any]:
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
        distribute = self.built.distribute
        job = distribute is not None and distribute.get("processes", 1) > 1
        shared = self.shared_backup
        backup = ThrottledBackupAndRestore(
            str(folder),
            max_share=None if job else BACKUP_SHARE,
            restore_from=None if shared is None else str(shared),
            double_checkpoint=True,
        )
        self.backup = backup
        keeper = CallbackStateKeeper(
            shared or folder,
            dict(self.indexed),
            restore=self.resume is not None or shared is not None,
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

    def _fit(self, callbacks: list[Any], recorder: Any, stop: StopRequest) -> None:
        plan, data = self.built.plan, self.built.data
        inputs = (
            (plan.train_input,)
            if plan.train_input is not None
            else (data.x_train, data.y_train)
        )
        try:
            with signals_stop_training(stop):
                self.built.model.fit(
                    *inputs, callbacks=callbacks, **plan.fit_arguments()
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
            if guards_nan(self.config) and "nan" in str(exc).lower():
                status = runs.TERMINATED_NAN
            message = f"{type(exc).__name__}: {first_line(exc)}"
            self._finish(recorder, status, error=message)
            if self.verbose:
                raise
            raise TrainingFailed(f"training failed ({status}): {message}") from None

    def _close(self, recorder: Any) -> RunResult:
        loss = recorder.last_logs.get("loss")
        if guards_nan(self.config) and loss is not None and not math.isfinite(loss):
            self._finish(
                recorder,
                runs.TERMINATED_NAN,
                stop_reason=f"TerminateOnNaN: loss became {loss} in epoch "
                f"{recorder.epochs_run}",
            )
            self.echo(f"stopped: the loss became NaN in epoch {recorder.epochs_run}")
            raise TrainingFailed("training terminated on NaN loss (terminated_nan)")
        status, reason = classify(
            self.config, self.indexed, recorder.epochs_run, self.built.plan.epochs
        )
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
        for line in closing_lines(
            self.config, self.run_dir, reason, recorder.best, test_metrics
        ):
            self.echo(line)
        return RunResult(self.run_dir, status, record, self.config, recorder.history)

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
        return finish_safely(
            self.manifest,
            status,
            history=recorder.history,
            epochs_run=recorder.epochs_run,
            best=recorder.best,
            **fields,
        )

    def _evaluate_and_save(self) -> dict[str, float] | None:
        data, model, plan = self.built.data, self.built.model, self.built.plan
        try:
            test_metrics = None
            if plan.test_input is not None:
                evaluated = model.evaluate(
                    plan.test_input,
                    verbose=0,
                    return_dict=True,
                    steps=plan.evaluate_steps,
                )
                test_metrics = {k: float(v) for k, v in evaluated.items()}
            elif data.x_test is not None:
                evaluated = model.evaluate(
                    data.x_test,
                    data.y_test,
                    verbose=0,
                    return_dict=True,
                    batch_size=plan.test_batch_size,
                    steps=plan.evaluate_steps,
                )
                test_metrics = {k: float(v) for k, v in evaluated.items()}
            model.save(self.run_dir / MODEL_FILE)
        except Exception as exc:
            message = f"after training: {type(exc).__name__}: {first_line(exc)}"
            finish_safely(self.manifest, runs.FAILED, error=message)
            if self.verbose:
                raise
            raise TrainingFailed(
                f"{message} (the trained epochs are in {self.run_dir})"
            ) from None
        return test_metrics
