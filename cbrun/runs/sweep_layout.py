"""A sweep's folder: every file name in it, and the record ``sweep.json``.

A sweep lives in ``runs/<name>/sweep-<YYYYmmdd-HHMMSS>/``; each of its trials
is a normal run dir in ``trials/<number>/``. The engine
(:mod:`cbrun.sweeper`) writes these files and ``runs``/``show`` read them, so
the names and the record's fields are stated once, here (design section 10).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SWEEP_PREFIX: Final = "sweep-"
"""A sweep's folder is ``sweep-<stamp>`` beside the runs of the same name."""
SWEEP_FILE: Final = "sweep.json"
"""The sweep record: :class:`SweepRecord`, rewritten atomically."""
SWEEP_CONFIG_FILE: Final = "config.yaml"
"""The base config as written, ``--set`` applied, relative paths made absolute."""
TRIALS_DIR: Final = "trials"
"""``trials/<number>/``: one run dir per trial this worker ran."""
TRIALS_TABLE: Final = "trials.csv"
"""Every trial of the study: number, state, value, params, run dir."""
BEST_CONFIG: Final = "best.yaml"
"""The base config with the best trial's params applied, no ``sweep``."""
JOURNAL_FILE: Final = "journal.log"
"""The default storage: an Optuna journal file."""
SWEEP_LOCK_FILE: Final = ".lock"
"""Held by the one process that runs this sweep dir."""
HISTORY_PICTURE: Final = "optimization_history.png"
PARALLEL_PICTURE: Final = "parallel_coordinate.png"
IMPORTANCE_PICTURE: Final = "param_importances.png"

SWEEP_STATUSES: Final = ("running", "completed", "interrupted", "failed")


class BestTrial(BaseModel):
    """The best finished trial of the study, as far as this worker knows."""

    model_config = ConfigDict(extra="forbid", strict=True)

    number: int
    value: float
    params: dict[str, str | int | float | bool | None]
    run_dir: str | None = Field(
        None, description="Relative to the sweep dir; None if another worker ran it."
    )


class SweepRecord(BaseModel):
    """``sweep.json``: what the sweep is and where it stands.

    ``counts`` are the study's, over every worker: Optuna states in lower
    case (``complete``, ``pruned``, ``fail``, ``running``, ``waiting``).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["sweep"] = "sweep"
    name: str
    status: Literal["running", "completed", "interrupted", "failed"]
    study: str
    storage: str
    config_file: str
    config_hash: str
    metric: str
    direction: Literal["maximize", "minimize"]
    trials_planned: int
    counts: dict[str, int] = Field(default_factory=dict)
    best: BestTrial | None = None
    started_at: str
    ended_at: str | None = None
    command: list[str] = Field(default_factory=list)
    error: str | None = None


def is_sweep_dir(path: Path) -> bool:
    """Whether ``path`` holds a sweep record (it may still be corrupt)."""
    return (path / SWEEP_FILE).is_file()
