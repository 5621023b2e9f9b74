"""One training run: assemble, open the record, fit, classify, evaluate, record.

Keras is imported lazily, when a run starts, so importing this module costs
nothing until then. A staged config (``stages:``) fits once per stage, on the
same model with the same callbacks (:mod:`cbrun.training.stages`).

Signals (:mod:`cbrun.training.signals`) are honoured in every phase:

- loading and building (TensorFlow's import, data, model, callbacks): the run
  stops at once; a run dir that exists (a resumed run's, or one whose
  callbacks were being built) records ``interrupted``;
- ``fit``: training stops after the current step; the backup is kept;
- after ``fit`` (evaluate and save): training is over and cbrun keeps it.
  Evaluation stops at its next batch, the backup is brought up to the last
  finished epoch and kept, ``model.keras`` is still saved, and the run
  records ``interrupted`` (without test metrics if evaluation was cut).
  ``--resume`` continues from that epoch; with none left to train it only
  evaluates and saves;
- the final records: written whole; a signal meanwhile makes the status
  ``interrupted`` and keeps the backup.

A second signal stops at once in every phase: the record says
``interrupted``, the backup is kept and ``model.keras`` is absent or whole
(it is written to a temp file and renamed). The exit code is 130 for SIGINT,
143 for SIGTERM. Keras's ``BackupAndRestore`` would delete the backup when
``fit`` returns; here it is removed only once the final record says the run
ended well.

The run lock is taken before TensorFlow is imported for ``--resume``, and as
a new run's dir is made, so a second process on a run is refused at once.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cbrun.cluster import Cluster
from cbrun.config.loading import LoadedConfig
from cbrun.config.problems import make_problem
from cbrun.errors import BuildError, ConfigError
from cbrun.runs import manifest as runs
from cbrun.runs.layout import BACKUP_DIR, MODEL_FILE, RunDirError, create_run_dir
from cbrun.runs.lock import run_lock
from cbrun.runs.printable import printable
from cbrun.training.assemble import (
    Assembled,
    assemble,
    callback_context,
    keep_adapted,
)
from cbrun.training.data_failures import bad_files_failure
from cbrun.training.finishing import evaluate_on_test, save_whole
from cbrun.training.outcome import (
    TrainingFailed,
    classify,
    closing_lines,
    guards_nan,
)
from cbrun.training.plan import FitPlan
from cbrun.training.records import (
    finish_safely,
    open_record,
    start_history_plot,
    write_resolved_config,
)
from cbrun.training.reporting import (
    Echo,
    end_progress_line,
    first_line,
    log_line,
    silent,
)
from cbrun.training.resume import ResumePoint
from cbrun.training.run_callbacks import (
    backup_callbacks,
    pruning_callbacks,
    run_recorder,
    stop_checker,
)
from cbrun.training.run_types import Pruning, RunResult, RunTracker
from cbrun.training.signals import (
    Interrupted,
    SignalStop,
    StopRequest,
    as_signal_stop,
    signals_routed,
)
from cbrun.training.stage_records import stage_names
from cbrun.training.stages import run_stages

_FIT_NOTE = "stopping after the current step"
_FINISH_NOTE = "training is over: saving the model, then stopping"
_AFTER_FIT = "while evaluating and saving the model"


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
    run_dir: Path | None = None,
    trial: dict[str, Any] | None = None,
    pruning: Pruning | None = None,
    draw_plot: bool = True,
    tracker: RunTracker | None = None,
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
        run_dir: Create exactly this folder (it must not exist) instead of
            ``runs_dir/<name>/<timestamp>/``: a sweep's ``trials/<number>/``.
        trial: ``{number, params}`` of a sweep's trial, kept in run.json.
        pruning: A sweep's pruner, told the metric after every epoch; when
            it prunes, training stops after that epoch and the run ends
            ``pruned``.
        draw_plot: Draw history.png at the end (~0.15 s of CPU). A sweep's
            trials skip it: the sweep draws its own pictures, and
            ``cbrun plot`` draws a trial's when asked.
        tracker: Shows the run in a tracker too (a new run's, not a
            resumed one's); it never costs the run (design section 11).

    Returns:
        The result; its status is completed, stopped_early or pruned.

    Raises:
        ConfigError: Something in the config cannot be built. Data, model
            and compile are built before a run dir exists; a callback that
            cannot be built leaves its run recorded as ``failed``.
        TrainingFailed: Training raised or stopped on NaN (recorded).
        RunLockedError: Another process trains in the run dir (``--resume``).
        Interrupted: SIGINT or SIGTERM, in any phase (recorded if the run dir
            exists).
    """
    cluster = cluster or Cluster()
    cluster.check_fits(loaded.experiment.distribute, loaded.path)
    stop = StopRequest(echo)
    with signals_routed(stop):
        if not cluster.is_writer:
            built = assemble(
                loaded,
                smoke=smoke,
                verbose=verbose,
                cluster=cluster,
                echo=echo,
                adapted_from=None if resume is None else resume.run_dir / BACKUP_DIR,
            )
            return _worker_run(loaded, built, command, smoke, resume, stop)
        if resume is not None:
            # Before TensorFlow's import: a second process is refused at once.
            with run_lock(resume.run_dir):
                return _resumed_run(
                    loaded, resume, command, verbose, echo, smoke, stop, cluster
                )
        built = assemble(
            loaded, smoke=smoke, verbose=verbose, cluster=cluster, echo=echo
        )
        with contextlib.ExitStack() as held:
            # The folder, its lock, config.yaml and run.json appear together:
            # a signal meanwhile is acted on once the record can say so.
            with stop.shielded():
                folder = _new_run_dir(runs_dir, loaded.name, run_dir)
                held.enter_context(run_lock(folder))
                write_resolved_config(folder, loaded)
                if not smoke:  # what --resume restores adapt: true layers from
                    keep_adapted(built, folder / BACKUP_DIR)
                run = _Run(loaded, built, folder, command, verbose, echo, smoke, stop)
                run.pruning = pruning
                run.draw_plot = draw_plot
                run.tracker = tracker
                run.open(None, trial)
            return run.go()


def _new_run_dir(runs_dir: Path, name: str, exact: Path | None) -> Path:
    """A new run dir: ``runs_dir/<name>/<stamp>/``, or ``exact`` made afresh."""
    if exact is None:
        return create_run_dir(runs_dir, name)
    try:
        exact.mkdir(parents=True)
    except OSError as exc:
        raise RunDirError(
            f"cannot create the run folder {exact} ({exc.strerror or exc}); "
            "it must be new and its parent writable",
            exact,
        ) from None
    return exact


def _resumed_run(
    loaded: LoadedConfig,
    resume: ResumePoint,
    command: Sequence[str],
    verbose: bool,
    echo: Echo,
    smoke: bool,
    stop: StopRequest,
    cluster: Cluster,
) -> RunResult:
    """Build and continue a run whose lock is held; a signal is recorded."""
    try:
        # adapt: true layers get back the states the run began with.
        built = assemble(
            loaded,
            smoke=smoke,
            verbose=verbose,
            cluster=cluster,
            echo=echo,
            adapted_from=resume.run_dir / BACKUP_DIR,
        )
        keep_adapted(built, resume.run_dir / BACKUP_DIR)
        run = _Run(loaded, built, resume.run_dir, command, verbose, echo, smoke, stop)
    except KeyboardInterrupt as exc:
        stopped = as_signal_stop(exc)
        manifest = runs.RunManifest(resume.run_dir)
        with stop.shielded():
            manifest.resume(list(command))
            finish_safely(
                manifest,
                runs.INTERRUPTED,
                stop_reason=f"{stopped.signal_name} while loading, before "
                f"training resumed after epoch {resume.epoch}",
            )
        echo(
            f"interrupted by {stopped.signal_name} while loading; the run is as "
            f"it was: continue with: cbrun train --resume {resume.run_dir}"
        )
        raise stopped.interrupted() from None
    with stop.shielded():
        run.open(resume)
    return run.go()


def _worker_run(
    loaded: LoadedConfig,
    built: Assembled,
    command: Sequence[str],
    smoke: bool,
    resume: ResumePoint | None,
    stop: StopRequest,
) -> RunResult:
    """Train as a process other than 0: the same steps, nothing in the run dir.

    Its records go to a scratch folder that is removed afterwards; on a
    resume it reads process 0's backup (on a shared file system) and never
    writes it.
    """
    scratch = Path(tempfile.mkdtemp(prefix="cbrun-process-"))
    try:
        run = _Run(loaded, built, scratch, command, False, silent, smoke, stop)
        run.writer = False
        run.shared_backup = None if resume is None else resume.run_dir / BACKUP_DIR
        with stop.shielded():
            run.open(None)
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
        stop: StopRequest,
    ) -> None:
        self.loaded = loaded
        self.config = loaded.experiment
        self.built = built
        self.run_dir = run_dir
        self.command = list(command)
        self.verbose = verbose
        self.echo = echo
        self.smoke = smoke
        self.stop = stop
        self.resume: ResumePoint | None = None
        self.manifest = runs.RunManifest(run_dir)
        self.indexed: list[tuple[int, Any]] = []
        # Processes other than 0 of a resumed data_parallel job restore from
        # process 0's backup (on a shared file system) and write scratch only.
        self.shared_backup: Path | None = None
        self.writer = True  # False for processes other than 0 of a job.
        self.backup: Any = None  # The run's ThrottledBackupAndRestore.
        self.keeper: Any = None  # Its CallbackStateKeeper.
        self.recorder: Any = None
        self.model_saved = False
        self.pruning: Pruning | None = None
        self.draw_plot = True
        self.extra_callbacks: list[Any] = []  # a sweep's pruning callback
        self.tracker: RunTracker | None = None
        self.planned_epochs = built.plan.epochs  # a staged run's: its last stage's end
        self.resumed_stages: list[str] = []  # the stage of each epoch resumed after

    def open(
        self, resume: ResumePoint | None, trial: dict[str, Any] | None = None
    ) -> None:
        """Write run.json as ``running`` (call with signals shielded)."""
        self.resume = resume
        if resume is not None and self.config.stages:
            self.resumed_stages = stage_names(resume.stages, resume.epoch)
        self.echo(f"run dir: {self.run_dir}")
        self.echo(f"data: {self.built.data.description}; feed: {self.built.feed}")
        open_record(
            self.manifest,
            self.loaded,
            self.command,
            distribute=self.built.distribute,
            resume=resume,
            echo=self.echo,
            trial=trial,
            epoch_stages=self.resumed_stages,
        )
        if self.tracker is not None:
            self.tracker.start(self.run_dir, self.manifest.record)

    def go(self) -> RunResult:
        """Build the callbacks, fit, evaluate, save and record."""
        try:
            self.stop.check()  # a signal while the record was opened
            callbacks = self._callbacks()
            self.extra_callbacks = pruning_callbacks(self.pruning)
            extra = self._backup()
            self.recorder = self._recorder()
        except KeyboardInterrupt as exc:
            stopped = as_signal_stop(exc)
            reason = f"{stopped.signal_name} while building the callbacks"
            raise self._interrupted(stopped, reason) from None
        every = [
            *callbacks,
            *extra,
            *self.extra_callbacks,
            stop_checker(self.built.keras, self.stop),
            self.recorder,
        ]
        self._fit(every)
        return self._close()

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
            with self.stop.shielded():
                finish_safely(self.manifest, runs.FAILED, error=exc.message)
            problem = make_problem(
                self.loaded.source, self.loaded.data, exc.path, exc.message
            )
            raise ConfigError([problem]) from None

    def _recorder(self) -> Any:
        return run_recorder(
            self.config,
            self.manifest,
            backup=self.backup,
            tracker=self.tracker,
            resume=self.resume,
            epoch_stages=self.resumed_stages,
        )

    def _backup(self) -> list[Any]:
        """Keras's BackupAndRestore plus cbrun's keeper (none in a smoke run)."""
        if self.smoke:
            return []
        distribute = self.built.distribute
        self.backup, self.keeper = backup_callbacks(
            self.run_dir / BACKUP_DIR,
            self.indexed,
            job=distribute is not None and distribute.get("processes", 1) > 1,
            shared=self.shared_backup,
            resuming=self.resume is not None,
        )
        return [self.backup, self.keeper]

    def _backed_up_epoch(self) -> int | None:
        """The epoch the backup on disk holds, None if there is none."""
        if self.backup is None:
            return None
        epoch = self.backup.saved_epoch
        if epoch is None and self.resume is not None:
            epoch = self.resume.epoch or None  # the backup this run resumed from
        return epoch

    def _resume_point(self) -> str:
        """Where ``--resume`` will continue, for the interrupt message."""
        if self.backup is None:
            return ""
        epoch = self._backed_up_epoch()
        if epoch is None:
            return " (no backup yet: it starts again from epoch 1)"
        return f" (from the backup of epoch {epoch})"

    def _fit(self, callbacks: list[Any]) -> None:
        recorder = self.recorder
        try:
            with self.stop.deferred(_FIT_NOTE):
                if self.built.stages:
                    self.planned_epochs = run_stages(
                        self.built.model,
                        self.config,
                        self.built.stages,
                        fit=lambda plan: self._fit_once(plan, callbacks),
                        run=self,
                    ).planned
                else:
                    self._fit_once(self.built.plan, callbacks)
        except KeyboardInterrupt as exc:
            stopped = as_signal_stop(exc)
            reason = f"{stopped.signal_name} after {recorder.epochs_run} epochs"
            raise self._interrupted(stopped, reason) from None
        except Exception as exc:
            end_progress_line(self.built.plan.verbose)
            self._refuse_bad_files(exc)
            status = runs.FAILED
            if guards_nan(self.config) and "nan" in str(exc).lower():
                status = runs.TERMINATED_NAN
            message = f"{type(exc).__name__}: {first_line(exc)}"
            self._finish(status, error=message)
            if self.verbose:
                raise
            raise TrainingFailed(f"training failed ({status}): {message}") from None

    def _refuse_bad_files(self, exc: Exception) -> None:
        """Record and raise a data error if unreadable files caused ``exc``.

        Raises:
            ConfigError: At ``data.path``, naming the files (exit 1, as the
                same files found before training are).
        """
        found = bad_files_failure(exc, self.built.data)
        if found is None:
            return
        message, path = found
        self._finish(runs.FAILED, error=message)
        if self.verbose:
            raise exc
        problem = make_problem(self.loaded.source, self.loaded.data, path, message)
        raise ConfigError([problem]) from None

    def _fit_once(self, plan: FitPlan, callbacks: list[Any]) -> None:
        """One ``model.fit`` call (a staged run makes one per stage)."""
        data = self.built.data
        inputs = (
            (plan.train_input,)
            if plan.train_input is not None
            else (data.x_train, data.y_train)
        )
        self.built.model.fit(*inputs, callbacks=callbacks, **plan.fit_arguments())

    def _close(self) -> RunResult:
        recorder = self.recorder
        loss = recorder.last_logs.get("loss")
        if guards_nan(self.config) and loss is not None and not math.isfinite(loss):
            self._finish(
                runs.TERMINATED_NAN,
                stop_reason=f"TerminateOnNaN: loss became {loss} in epoch "
                f"{recorder.epochs_run}",
            )
            self._remove_backup()  # resuming would repeat the NaN
            self.echo(f"stopped: the loss became NaN in epoch {recorder.epochs_run}")
            raise TrainingFailed("training terminated on NaN loss (terminated_nan)")
        status, reason = classify(
            self.config,
            self.indexed,
            recorder.epochs_run,
            self.planned_epochs,
            self.extra_callbacks,
        )
        plot = None
        if not self.smoke and self.writer and self.draw_plot:
            plot = self._draw_plot_meanwhile(status, recorder)
        try:
            # A signal that came as fit returned was acknowledged there: it is
            # acted on here, like one that comes while evaluating or saving.
            with self.stop.deferred(_FINISH_NOTE):
                test_metrics = self._evaluate_and_save()
        except KeyboardInterrupt as exc:  # a second signal: at once
            self._join(plot)
            raise self._after_fit_interrupted(as_signal_stop(exc), reason) from None
        except BaseException:
            self._join(plot)
            raise
        self._join(plot)
        record = None
        ended_well = False
        with self.stop.shielded():
            if not self.stop.pending and self.writer:
                # TensorBoard's HParams dashboard; a failure is one warning line.
                from cbrun.keras.hparams import write_hparams

                write_hparams(
                    self.loaded,
                    self.run_dir,
                    trial=self.manifest.record.trial,
                    history=recorder.history,
                    test_metrics=test_metrics,
                    best=recorder.best,
                    echo=self.echo,
                )
            if not self.stop.pending:
                record = self._finish(
                    status, stop_reason=reason, test_metrics=test_metrics
                )
            if not self.stop.pending:  # none came while the record was written
                self._remove_backup()
                ended_well = True
        if not ended_well:
            where = _AFTER_FIT if record is None else "while writing the final records"
            stopped = SignalStop(
                self.stop.signal_name or "SIGINT", self.stop.exit_code, at_once=False
            )
            # A second signal (or a full disk) leaves the backup as it is.
            with (
                contextlib.suppress(KeyboardInterrupt, OSError),
                self.stop.deferred(_FINISH_NOTE),
            ):
                self._back_up_last_epoch()
            raise self._after_fit_interrupted(
                stopped, reason, test_metrics, where
            ) from None
        # A signal from here on stops the process (130/143) and leaves the
        # record as written: the run ended before it (signals_routed).
        assert record is not None
        for line in closing_lines(
            self.config, self.run_dir, reason, recorder.best, test_metrics
        ):
            self.echo(line)
        from cbrun.keras.saved import loading_lines

        model_file = self.run_dir / MODEL_FILE
        for line in loading_lines(self.config, model_file, self.loaded.base_dir):
            self.echo(printable(line))  # a folder name may hold control characters
        return RunResult(self.run_dir, status, record, self.config, recorder.history)

    def _after_fit_interrupted(
        self,
        stopped: SignalStop,
        reason: str,
        test_metrics: dict[str, float] | None = None,
        where: str = _AFTER_FIT,
    ) -> Interrupted:
        """Record a signal after fit: what was kept, and how to continue."""
        kept = "model.keras saved" if self.model_saved else "model.keras not saved"
        if self.model_saved and test_metrics is None and self._has_test_data():
            kept += ", not evaluated on the test data"
        return self._interrupted(
            stopped,
            f"{stopped.signal_name} after {self.recorder.epochs_run} epochs, "
            f"{where} (training had ended: {reason}); {kept}",
            test_metrics=test_metrics,
        )

    def _interrupted(
        self, stopped: SignalStop, reason: str, **fields: Any
    ) -> Interrupted:
        """Record the run as interrupted, say how to continue; the error to raise."""
        self._finish(runs.INTERRUPTED, stop_reason=reason, **fields)
        done = (
            "" if self.recorder is None else f" after epoch {self.recorder.epochs_run}"
        )
        self.echo(
            f"interrupted by {stopped.signal_name}{done}; continue with: "
            f"cbrun train --resume {self.run_dir}{self._resume_point()}"
        )
        return stopped.interrupted()

    def _join(self, plot: threading.Thread | None) -> None:
        """Wait for the history plot (a fraction of a second); signals wait too."""
        if plot is not None:
            with self.stop.shielded():
                plot.join()

    def _draw_plot_meanwhile(self, status: str, recorder: Any) -> threading.Thread:
        """history.png, drawn while the model is evaluated and saved."""
        return start_history_plot(
            self.run_dir,
            recorder.history,
            name=self.loaded.name,
            status=status,
            best=recorder.best,
            stages=list(recorder.stages) or None,
        )

    def _finish(self, status: str, **fields: Any) -> runs.RunRecord:
        """Record the end of the run with every epoch the recorder kept.

        Per-epoch writes are throttled, so the history, epoch count and best
        on disk may be behind; the final record brings them up to date. The
        write is shielded from signals: it always completes.
        """
        recorder = self.recorder
        with self.stop.shielded():
            if recorder is None:
                record = finish_safely(self.manifest, status, **fields)
            else:
                record = finish_safely(
                    self.manifest,
                    status,
                    history=recorder.history,
                    epoch_stages=recorder.stages,
                    epochs_run=recorder.epochs_run,
                    best=recorder.best,
                    **fields,
                )
            if self.tracker is not None:
                # Bounded (CBRUN_TRACKING_TIMEOUT); records its own failure.
                history = {} if recorder is None else recorder.history
                record = self.tracker.finish(
                    self.run_dir, record, history, self.manifest.update
                )
            return record

    def _remove_backup(self) -> None:
        """Remove cbrun's backup folder once the run needs it no more."""
        if self.backup is not None:
            shutil.rmtree(self.run_dir / BACKUP_DIR, ignore_errors=True)

    def _has_test_data(self) -> bool:
        return (
            self.built.plan.test_input is not None or self.built.data.x_test is not None
        )

    def _evaluate_and_save(self) -> dict[str, float] | None:
        """Evaluate on the test data, then save model.keras.

        A first signal cuts the evaluation short, brings the backup up to
        date and still saves; a second one stops at once.
        """
        try:
            test_metrics = None
            if not self.stop.pending:
                try:
                    test_metrics = self._evaluate()
                except SignalStop as stopped:
                    if stopped.at_once:
                        raise
            if self.stop.pending:
                self._back_up_last_epoch()
            self._save_model()
            if self.stop.pending:  # it came while saving
                self._back_up_last_epoch()
        except Exception as exc:
            self._refuse_bad_files(exc)
            message = f"after training: {type(exc).__name__}: {first_line(exc)}"
            self._finish(runs.FAILED, error=message)
            if self.verbose:
                raise
            raise TrainingFailed(
                f"{message} (the trained epochs are in {self.run_dir})"
            ) from None
        return test_metrics

    def _evaluate(self) -> dict[str, float] | None:
        checks = [stop_checker(self.built.keras, self.stop)]
        return evaluate_on_test(
            self.built.model, self.built.plan, self.built.data, checks
        )

    def _back_up_last_epoch(self) -> None:
        """Bring the backup up to the last finished epoch, for ``--resume``.

        Backups are throttled, so the last one may be epochs behind; a run
        stopped after fit would then retrain them. The model holds the
        weights fit ended with (EarlyStopping may have restored its best).
        """
        backup, epochs = self.backup, self.recorder.epochs_run
        if backup is None or not self.writer or epochs == 0:
            return
        if self._backed_up_epoch() == epochs:
            return
        # Keras writes the epoch counter it keeps; after a resume that trained
        # no epoch it was never set. _save_model is BackupAndRestore's own save.
        backup._current_epoch, backup._last_batch_seen = epochs, 0
        backup._save_model()
        backup.saved_epoch = epochs
        if self.keeper is not None:
            self.keeper.on_epoch_end(epochs - 1)  # the callbacks' counters too
        self.manifest.update(backup_epoch=epochs)

    def _save_model(self) -> None:
        """Save model.keras whole or not at all."""
        save_whole(self.built.model, self.run_dir / MODEL_FILE)
        self.model_saved = True
