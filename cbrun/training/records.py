"""A run's own files: the resolved config, and run.json at its start and end."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from cbrun.atomic import write_text_atomic
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.loading import LoadedConfig
from cbrun.runs import manifest as runs
from cbrun.runs.layout import CONFIG_FILE
from cbrun.training.outcome import TrainingFailed
from cbrun.training.reporting import Echo
from cbrun.training.resume import BASE_DIR_HEADER, ResumePoint


def resolved_data(experiment: ExperimentConfig) -> dict[str, Any]:
    """The config with defaults filled, as YAML data that validates again.

    A sweep space item's bounds come out as ``float:``/``int:``, as in the
    file: those models serialize by alias.
    """
    return experiment.model_dump(mode="json")


def write_resolved_config(run_dir: Path, loaded: LoadedConfig) -> None:
    """Write config.yaml: the config with defaults filled and overrides applied."""
    resolved = resolved_data(loaded.experiment)
    header = f"# Resolved from {loaded.path}"
    if loaded.overrides:
        header += " with " + " ".join(f"--set {o}" for o in loaded.overrides)
    # Data paths stay as written (--resume and --no-user-code read them so);
    # say where they start, for whoever trains this file by hand.
    header += f"\n{BASE_DIR_HEADER}{loaded.base_dir.resolve()}"
    text = header + "\n" + yaml.safe_dump(resolved, sort_keys=False)
    # Atomic like run.json: --resume and compare read it back.
    write_text_atomic(run_dir / CONFIG_FILE, text)


def open_record(
    manifest: runs.RunManifest,
    loaded: LoadedConfig,
    command: Sequence[str],
    *,
    distribute: dict[str, Any] | None,
    resume: ResumePoint | None,
    echo: Echo,
    trial: dict[str, Any] | None = None,
    epoch_stages: Sequence[str] = (),
) -> None:
    """Write run.json as ``running``: a new record, or a resumed one's.

    ``trial`` (``{number, params}``) marks the run as a sweep's trial;
    ``epoch_stages`` is a resumed staged run's stage of each kept epoch.
    """
    if resume is None:
        manifest.start(loaded.name, loaded.path, loaded.experiment.seed, list(command))
        extra: dict[str, Any] = {}
        if distribute is not None:
            extra["distribute"] = distribute
        if trial is not None:
            extra["trial"] = trial
        if extra:
            manifest.update(**extra)
        return
    record = manifest.resume(list(command))
    entry = {
        "at": runs.now_iso(),
        "from_epoch": resume.epoch,
        "overrides": list(resume.overrides),
        "command": list(command),
    }
    manifest.update(
        resumes=[*record.resumes, entry], epochs_run=resume.epoch, best=resume.best
    )
    runs.write_history(manifest.run_dir, resume.history, stages=epoch_stages)
    if resume.epoch == 0 and record.epochs_run > 0:
        echo(
            f"no backup was written in its {record.epochs_run} epochs (backups "
            "are throttled to a small share of training time); training "
            "starts again from epoch 1"
        )
    else:
        echo(f"resuming after epoch {resume.epoch}")


def finish_safely(
    manifest: runs.RunManifest,
    status: str,
    history: dict[str, list[float]] | None = None,
    epoch_stages: Sequence[str] = (),
    **fields: Any,
) -> runs.RunRecord:
    """Record the end of a run; a failure to write is itself a clear error.

    ``epoch_stages`` (a staged run's stage of each epoch) is written beside
    the history.

    Raises:
        TrainingFailed: run.json or history.json cannot be written (a full
            disk, a folder made read-only), naming the folder and the reason.
    """
    try:
        if history is not None:
            runs.write_history(manifest.run_dir, history, stages=epoch_stages)
        return manifest.finish(status, **fields)
    except OSError as exc:
        raise TrainingFailed(
            f"cannot record the run in {manifest.run_dir}: {exc.strerror or exc}; "
            "free space or fix the folder's permissions"
        ) from None


def start_history_plot(
    run_dir: Path,
    history: dict[str, list[float]],
    *,
    name: str,
    status: str,
    best: dict[str, Any] | None,
    stages: list[str] | None = None,
) -> threading.Thread:
    """Draw history.png on a thread; the caller joins it.

    Keras has imported matplotlib already, so drawing costs ~0.15 s of CPU.
    That CPU is GIL-bound Python, so the thread does not shorten the run
    (measured: evaluate and save take 0.04 s alone, 0.185 s with the
    thread); it lets the picture be drawn even when evaluate or save fails.
    """
    from cbrun.runs.plots import draw_history_plot

    thread = threading.Thread(
        target=draw_history_plot,
        args=(run_dir, history),
        kwargs={"name": name, "status": status, "best": best, "stages": stages},
        name="cbrun-history-plot",
    )
    thread.start()
    return thread
