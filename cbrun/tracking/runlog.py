"""The MLflow calls that show one run: open it, log epochs, close it.

Shared by a live run (on the worker thread) and ``cbrun track`` (afterwards,
from the run dir's files). MLflow is imported inside the functions.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbrun.runs.layout import (
    CONFIG_FILE,
    HISTORY_FILE,
    HISTORY_PLOT,
    MODEL_FILE,
    RUN_FILE,
)
from cbrun.tracking import MlflowSettings
from cbrun.tracking.params import metric_name, record_tags
from cbrun.tracking.store import PARENT_TAG, experiment_id

# MLflow's batch limits: 100 params or tags, 1000 metrics per log_batch.
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000
_GIT_TIMEOUT = 2.0
# run.json statuses as MLflow run states.
_STATES = {
    "failed": "FAILED",
    "terminated_nan": "FAILED",
    "interrupted": "KILLED",
    "running": "KILLED",
}
ARTIFACTS = (CONFIG_FILE, RUN_FILE, HISTORY_FILE, HISTORY_PLOT)


@dataclass
class Opened:
    """An MLflow run made for a run dir."""

    run_id: str
    experiment_id: str


def git_commit(folder: Path) -> str | None:
    """``git rev-parse HEAD`` in ``folder``, or None (no git, no repo, slow)."""
    if not folder.is_dir():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) in (40, 64) else None


def open_run(
    client: Any,
    settings: MlflowSettings,
    run_dir: Path,
    record: Any,
    params: Mapping[str, str],
    parent_run_id: str | None = None,
) -> Opened:
    """Create the MLflow run of ``run_dir`` with its params and first tags."""
    from mlflow.entities import Param

    experiment = experiment_id(client, settings.experiment, settings.tracking_uri)
    tags = record_tags(record, run_dir)
    commit = git_commit(Path(record.config_file).absolute().parent)
    if commit:
        tags["cbrun.git_commit"] = commit
    if parent_run_id:
        tags[PARENT_TAG] = parent_run_id
    run = client.create_run(
        experiment,
        tags=tags,
        run_name=settings.run_name or f"{record.name}/{Path(run_dir).name}",
    )
    run_id = run.info.run_id
    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), _PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[start : start + _PARAMS_PER_BATCH])
    return Opened(run_id, experiment)


def log_epochs(
    client: Any,
    run_id: str,
    rows: Mapping[str, Sequence[float | None]],
    done_before: int = 0,
) -> None:
    """Log metric values per epoch, ``step`` = the epoch number (from 1).

    Args:
        client: The MLflow client.
        run_id: The MLflow run.
        rows: Metric name to values of epochs ``done_before + 1`` onwards.
        done_before: Epochs logged before these.
    """
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = []
    for name, values in rows.items():
        key = metric_name(name)
        if key is None:
            continue
        for index, value in enumerate(values):
            if value is not None:
                metrics.append(Metric(key, float(value), now, done_before + index + 1))
    for start in range(0, len(metrics), _METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _METRICS_PER_BATCH])


def close_run(
    client: Any,
    run_id: str,
    run_dir: Path,
    record: Any,
    log_model: bool,
) -> None:
    """Log test metrics, final tags and the run dir's files; end the run."""
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    metrics = [
        Metric(f"test_{name}", float(value), now, 0)
        for name, value in (record.test_metrics or {}).items()
        if value is not None
        and math.isfinite(float(value))
        and metric_name(f"test_{name}")
    ]
    tags = [RunTag(k, v) for k, v in record_tags(record, run_dir).items()]
    client.log_batch(run_id, metrics=metrics, tags=tags)
    names = [*ARTIFACTS, MODEL_FILE] if log_model else list(ARTIFACTS)
    for name in names:
        path = Path(run_dir) / name
        if path.is_file():
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, _STATES.get(record.status, "FINISHED"))
