"""What a run is given and gives back: a sweep's pruner, a tracker, the result.

Kept apart from :mod:`cbrun.training.lifecycle` so that callers (the API, the
sweeper, the tracker) name them without the run's machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cbrun.config.experiment import ExperimentConfig
from cbrun.runs import manifest as runs


@dataclass(frozen=True)
class Pruning:
    """A sweep's pruner, fed one trial's metric after every epoch.

    Attributes:
        metric: The logged quantity reported, e.g. ``val_accuracy``.
        report: ``report(epoch, value) -> prune?``, epochs counted from 1.
        pruner: The pruner's name, for the run's stop reason.
    """

    metric: str
    report: Callable[[int, float], bool]
    pruner: str


class RunTracker(Protocol):
    """A view of the run elsewhere (MLflow: :mod:`cbrun.tracking.live`).

    Its calls must be cheap on the training thread and never raise; it
    writes what became of it into run.json through ``update``.
    """

    def start(self, run_dir: Path, record: runs.RunRecord) -> None:
        """The run's record exists (status ``running``)."""

    def epoch(self, history: dict[str, list[float]]) -> None:
        """Epochs ended; ``history`` holds all of them so far."""

    def finish(
        self,
        run_dir: Path,
        record: runs.RunRecord,
        history: dict[str, list[float]],
        update: Callable[..., runs.RunRecord],
    ) -> runs.RunRecord:
        """The final record is written; return it as ``update`` left it."""
        ...


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
