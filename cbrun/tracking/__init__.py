"""Runs shown in MLflow: a view of ``runs/``, which stays the record (design 11).

The only package that imports MLflow, and only inside its modules' functions
or in modules the others import lazily, so that ``import cbrun.tracking``
works without it and :func:`require_mlflow` can say what to install:

- ``params``: the resolved config as MLflow params, tags and metric names,
  cut to MLflow's limits;
- ``store``: the client, its HTTP limits, experiments and the run-dir id tag;
- ``worker``: one thread that makes every MLflow call off the training thread;
- ``live``: the hook a training run feeds (start, epochs, end);
- ``send``: ``cbrun track``: recorded runs sent afterwards, once each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cbrun.config.tracking import TrackingConfig
from cbrun.errors import CbrunError, ExitCode

MLFLOW_MISSING = "tracking needs MLflow: pip install 'cbrun[mlflow]'"
TRACKERS = ("mlflow",)
DB_FILE = "mlflow.db"


class TrackingError(CbrunError):
    """Tracking cannot start: MLflow is missing (exit 2)."""

    exit_code = ExitCode.USAGE


class TrackerUnreachable(CbrunError):
    """``cbrun track`` cannot reach the tracking store (exit 3)."""

    exit_code = ExitCode.TRAINING_FAILED


def require_mlflow() -> None:
    """Check that MLflow can be imported, before a run starts.

    Raises:
        TrackingError: It is not installed (or blocked), naming the extra.
    """
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise TrackingError(MLFLOW_MISSING) from None


@dataclass(frozen=True)
class MlflowSettings:
    """Where and how one run (or sweep) is logged to MLflow.

    Attributes:
        tracking_uri: The store, e.g. ``sqlite:///runs/../mlflow.db``.
        experiment: The experiment's name.
        run_name: The MLflow run's name; None: the run dir's name.
        log_model: Also log model.keras.
    """

    tracking_uri: str
    experiment: str
    run_name: str | None = None
    log_model: bool = False


def default_uri(runs_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI``, else ``sqlite:///`` mlflow.db beside the runs dir."""
    given = os.environ.get("MLFLOW_TRACKING_URI")
    if given:
        return given
    return f"sqlite:///{(Path(runs_dir).absolute().parent / DB_FILE)}"


def mlflow_settings(
    tracking: TrackingConfig | None,
    name: str,
    runs_dir: Path,
    track: str | None = None,
) -> MlflowSettings | None:
    """The MLflow settings of a run, or None when it is not tracked.

    Args:
        tracking: The config's ``tracking`` section.
        name: The config's name: the default experiment.
        runs_dir: The runs dir; the default store sits beside it.
        track: ``--track``'s value (``mlflow``) or None.
    """
    section = tracking.mlflow if tracking is not None else None
    if section is None and track != "mlflow":
        return None
    uri = section.tracking_uri if section is not None else None
    return MlflowSettings(
        tracking_uri=uri or default_uri(runs_dir),
        experiment=(section.experiment if section else None) or name,
        run_name=section.run_name if section else None,
        log_model=bool(section and section.log_model),
    )


__all__ = [
    "MLFLOW_MISSING",
    "TRACKERS",
    "MlflowSettings",
    "TrackerUnreachable",
    "TrackingError",
    "default_uri",
    "mlflow_settings",
    "require_mlflow",
]
