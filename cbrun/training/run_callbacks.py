"""The callbacks cbrun adds to a run's own: backup, recorder, stop check, pruner.

Built by :class:`cbrun.training.lifecycle._Run` beside the config's
callbacks; Keras is imported only when a run builds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cbrun.config.experiment import ExperimentConfig
from cbrun.config.monitor import run_monitor
from cbrun.runs import manifest as runs
from cbrun.training.resume import ResumePoint
from cbrun.training.run_types import Pruning, RunTracker
from cbrun.training.signals import StopRequest


def backup_callbacks(
    folder: Path,
    indexed: Sequence[tuple[int, Any]],
    *,
    job: bool,
    shared: Path | None,
    resuming: bool,
) -> tuple[Any, Any]:
    """Keras's BackupAndRestore plus cbrun's keeper of callback counters.

    Every process of a job gets the same callbacks (their collectives must
    match, or the job hangs); processes other than 0 write into scratch and
    back up every epoch, so that all decide alike.

    Args:
        folder: The run's backup folder.
        indexed: ``(config index, built callback)`` of the config's callbacks.
        job: Whether the run is one of several processes.
        shared: Process 0's backup folder to restore from (other processes of
            a resumed job), else None.
        resuming: Whether the run continues from a backup.

    Returns:
        The backup and the keeper, in the order fit gets them.
    """
    from cbrun.keras.backup import (
        BACKUP_SHARE,
        CallbackStateKeeper,
        ThrottledBackupAndRestore,
    )

    backup = ThrottledBackupAndRestore(
        str(folder),
        max_share=None if job else BACKUP_SHARE,
        restore_from=None if shared is None else str(shared),
        double_checkpoint=True,
        # Kept after fit until the final record says the run ended well,
        # so a signal while evaluating or saving loses no epoch.
        delete_checkpoint=False,
    )
    keeper = CallbackStateKeeper(
        shared or folder,
        dict(indexed),
        restore=resuming or shared is not None,
        backup=backup,
        save_to=folder,
    )
    return backup, keeper


def run_recorder(
    config: ExperimentConfig,
    manifest: runs.RunManifest,
    *,
    backup: Any,
    tracker: RunTracker | None,
    resume: ResumePoint | None,
    epoch_stages: list[str],
) -> Any:
    """The recorder writing history.json and run.json as epochs end.

    Args:
        config: The run's config (its monitor is tracked as ``best``).
        manifest: The run's record.
        backup: The run's backup callback, or None.
        tracker: Shows the run elsewhere, or None.
        resume: Where a resumed run continues, or None.
        epoch_stages: A resumed staged run's stage of each kept epoch.
    """
    from cbrun.keras.recorder import RunRecorder

    monitor = run_monitor(config)

    def on_epoch(
        epochs_run: int,
        history: dict[str, list[float]],
        best: dict[str, Any] | None,
    ) -> None:
        # Atomic but not fsynced: a killed process leaves a whole file,
        # and the final record at the end of the run is fsynced.
        runs.write_history(
            manifest.run_dir, history, durable=False, stages=recorder.stages
        )
        fields: dict[str, Any] = {"epochs_run": epochs_run, "best": best}
        if backup is not None and backup.saved_epoch is not None:
            fields["backup_epoch"] = backup.saved_epoch
        manifest.update(durable=False, **fields)
        if tracker is not None:
            tracker.epoch(history)

    recorder = RunRecorder(
        monitor.name,
        monitor.maximize,
        on_epoch,
        initial_history=None if resume is None else resume.history,
        initial_best=None if resume is None else resume.best,
        backup=backup,
        initial_stages=epoch_stages,
    )
    return recorder


def stop_checker(keras: Any, stop: StopRequest) -> Any:
    """A callback raising the pending signal at the next batch."""

    # Batch-begin hooks: the step before has finished, and Keras keeps
    # dispatching batch ends asynchronously where the backend allows.
    class StopCheck(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            stop.check()

        def on_test_batch_begin(self, batch: int, logs: Any = None) -> None:
            stop.check()

    return StopCheck()


def pruning_callbacks(pruning: Pruning | None) -> list[Any]:
    """A sweep's pruning callback, or none."""
    if pruning is None:
        return []
    from cbrun.keras.pruning import PruningCallback

    return [PruningCallback(pruning.metric, pruning.report, pruning.pruner)]
