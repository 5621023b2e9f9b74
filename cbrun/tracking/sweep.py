"""A sweep in MLflow: one parent run, a nested run per trial.

The parent is made when the sweep starts (a resumed sweep finds its own by
the sweep dir's id tag and goes on with it), waiting for MLflow at most
``CBRUN_TRACKING_TIMEOUT`` seconds; if that fails the trials are still
tracked, each on its own. Each trial's run carries ``mlflow.parentRunId``,
its params as ``trial.<key>`` besides the config's, and its status tag
(``pruned`` for a pruned trial). At the end the parent gets the sweep's
status and its files (sweep.json, trials.csv, best.yaml, pictures).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cbrun.config.loading import LoadedConfig
from cbrun.runs.sweep_layout import (
    BEST_CONFIG,
    HISTORY_PICTURE,
    IMPORTANCE_PICTURE,
    PARALLEL_PICTURE,
    SWEEP_FILE,
    TRIALS_TABLE,
)
from cbrun.tracking import MlflowSettings
from cbrun.tracking.live import TIMEOUT_ENV, Echo, MlflowRunTracker, tracking_timeout
from cbrun.tracking.params import config_params, cut, run_dir_id
from cbrun.tracking.store import RUN_DIR_ID_TAG, experiment_id, find_tracked
from cbrun.tracking.worker import Worker

_FILES = (
    SWEEP_FILE,
    TRIALS_TABLE,
    BEST_CONFIG,
    HISTORY_PICTURE,
    PARALLEL_PICTURE,
    IMPORTANCE_PICTURE,
)
_STATES = {"completed": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


class SweepTracker:
    """The sweep's parent MLflow run and its trials' trackers.

    Args:
        settings: Where to log.
        echo: Where the warnings go.
    """

    def __init__(self, settings: MlflowSettings, echo: Echo) -> None:
        self.settings = settings
        self.echo = echo
        self.worker = Worker(settings.tracking_uri)
        self.parent_run_id: str | None = None

    def open(self, sweep_dir: Path, loaded: LoadedConfig, started_at: str) -> None:
        """Make (or find, for a resumed sweep) the parent run; bounded wait."""
        settings = self.settings
        params, _ = config_params(loaded.experiment.model_dump(mode="json"))

        def create(client: Any) -> None:
            self.parent_run_id = open_sweep_run(
                client, settings, sweep_dir, loaded.name, started_at, params
            )

        self.worker.submit(create)
        if not self.worker.wait(tracking_timeout()) or self.worker.error:
            self._warn("the sweep's MLflow run was not made; trials are not nested")

    def trial_tracker(
        self, loaded: LoadedConfig, trial: dict[str, Any]
    ) -> MlflowRunTracker:
        """A tracker for one trial's run, nested in the sweep's."""
        return MlflowRunTracker(
            self.settings,
            loaded.experiment.model_dump(mode="json"),
            self.echo,
            trial=trial,
            parent_run_id=self.parent_run_id,
        )

    def close(self, sweep_dir: Path, status: str) -> None:
        """The sweep's status and files on the parent run; bounded wait."""
        run_id = self.parent_run_id
        if run_id is None:
            self.worker.close()
            return

        def end(client: Any) -> None:
            close_sweep_run(client, run_id, sweep_dir, status)

        deadline = time.monotonic() + tracking_timeout()
        self.worker.submit(end)
        if not self.worker.wait(max(0.0, deadline - time.monotonic())):
            self._warn(f"MLflow did not answer within {tracking_timeout():g} s")
        elif self.worker.error:
            self._warn("the sweep's MLflow run was not closed")
        self.worker.close()

    def _warn(self, what: str) -> None:
        error = self.worker.error or f"no answer ({TIMEOUT_ENV})"
        self.echo(f"warning: {what}: {cut(error, 300)}")


def open_sweep_run(
    client: Any,
    settings: MlflowSettings,
    sweep_dir: Path,
    name: str,
    started_at: str,
    params: dict[str, str],
) -> str:
    """The sweep's parent run: found by the sweep dir's id (and reopened), or made."""
    from mlflow.entities import Param

    experiment = experiment_id(client, settings.experiment, settings.tracking_uri)
    sweep_id = run_dir_id(sweep_dir, started_at)
    found = find_tracked(client, experiment, sweep_id)
    if found is not None:  # a resumed sweep, or trials sent by cbrun track
        client.update_run(found.info.run_id, status="RUNNING")
        return str(found.info.run_id)
    tags = {
        RUN_DIR_ID_TAG: sweep_id,
        "cbrun.kind": "sweep",
        "cbrun.sweep_dir": str(Path(sweep_dir).absolute()),
        "cbrun.name": name,
        "cbrun.status": "running",
    }
    run = client.create_run(
        experiment,
        tags=tags,
        run_name=settings.run_name or f"{name}/{Path(sweep_dir).name}",
    )
    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), 100):  # MLflow's batch limit
        client.log_batch(run.info.run_id, params=items[start : start + 100])
    return str(run.info.run_id)


def close_sweep_run(client: Any, run_id: str, sweep_dir: Path, status: str) -> None:
    """The sweep's status tag and files on its run, which is then ended."""
    client.set_tag(run_id, "cbrun.status", status)
    for name in _FILES:
        path = Path(sweep_dir) / name
        if path.is_file():
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, _STATES.get(status, "FINISHED"))
