"""A training run shown in MLflow as it trains, never at the run's cost.

The training thread calls :meth:`MlflowRunTracker.start`, :meth:`epoch` and
:meth:`finish`; each only queues work for the :class:`Worker` thread (tens
of microseconds per epoch, measured by bench/bench_tracking.py).
:meth:`finish` waits for MLflow at most ``CBRUN_TRACKING_TIMEOUT`` seconds
(default 10) in all; an error or a timeout is one warning and
``tracking_error`` in run.json, and the run keeps its status and exit code.
``cbrun track RUN_DIR`` sends it later.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cbrun.tracking import MlflowSettings
from cbrun.tracking.params import config_params, trial_params
from cbrun.tracking.runlog import Opened, close_run, log_epochs, open_run
from cbrun.tracking.store import error_line, experiment_id
from cbrun.tracking.worker import Worker

DEFAULT_TIMEOUT = 10.0
SEND_SHARE = 0.01
"""The most of the time since its last send that a send may take.

The worker's MLflow calls are Python, and share the GIL with the training
loop: a send into SQLite costs ~5 ms of it, 5 % of a 100 ms epoch if made
every epoch. Metrics are therefore sent at most every :data:`MIN_INTERVAL`
seconds, or rarer if sends are slow; the last ones at the end of the run.
"""
MIN_INTERVAL = 1.0
TIMEOUT_ENV = "CBRUN_TRACKING_TIMEOUT"
Echo = Callable[[str], None]


def tracking_timeout() -> float:
    """Seconds a run's end waits for MLflow: ``CBRUN_TRACKING_TIMEOUT`` or 10."""
    try:
        value = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value >= 0 else DEFAULT_TIMEOUT


class MlflowRunTracker:
    """One run's MLflow run, fed from the training thread.

    Args:
        settings: Where to log.
        resolved: The resolved config (``config.yaml``'s data): the params.
        echo: Where the warnings go.
        trial: A sweep trial's ``{number, params}``: its params are logged
            as ``trial.<key>`` too.
        parent_run_id: The sweep's MLflow run: this one is nested in it.
    """

    def __init__(
        self,
        settings: MlflowSettings,
        resolved: Mapping[str, Any],
        echo: Echo,
        *,
        trial: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.resolved = resolved
        self.echo = echo
        self.trial = trial
        self.parent_run_id = parent_run_id
        self.opened: Opened | None = None
        self.sent = 0  # epochs queued so far
        self.next_send = 0.0  # time.monotonic() before which epochs wait
        # MLflow's import and the store's tables (~3 s of CPU on a new SQLite
        # store) happen now, while the data and model are built, not during fit.
        self.worker: Worker | None = Worker(settings.tracking_uri)
        self.worker.submit(
            lambda client: experiment_id(
                client, settings.experiment, settings.tracking_uri
            )
        )

    def start(self, run_dir: Path, record: Any) -> None:
        """Queue the MLflow run's creation (call once run.json exists)."""
        params, skipped = config_params(self.resolved)
        if self.trial is not None:
            params.update(trial_params(self.trial.get("params") or {}))
        if skipped:
            self.echo(
                f"warning: MLflow refuses {len(skipped)} config key(s) as param "
                f"names, not logged: {', '.join(skipped[:3])}"
            )
        settings, parent = self.settings, self.parent_run_id

        def create(client: Any) -> None:
            self.opened = open_run(client, settings, run_dir, record, params, parent)

        if self.worker is not None:
            self.worker.submit(create)

    def epoch(
        self, history: Mapping[str, Sequence[float | None]], *, now: bool = False
    ) -> None:
        """Queue the epochs not sent yet, unless the last send was too recent.

        Args:
            history: Every epoch so far.
            now: Send whatever the time (the end of the run).
        """
        if self.worker is None or (not now and time.monotonic() < self.next_send):
            return
        last = max((len(v) for v in history.values()), default=0)
        if last <= self.sent:
            return
        first = self.sent
        snapshot = {k: list(v[first:last]) for k, v in history.items()}

        def send(client: Any) -> None:
            assert self.opened is not None  # created by the call before
            began = time.monotonic()
            log_epochs(client, self.opened.run_id, snapshot, first)
            cost = time.monotonic() - began
            self.next_send = time.monotonic() + max(MIN_INTERVAL, cost / SEND_SHARE)

        if self.worker.submit(send, force=now):
            self.sent = last
            self.next_send = time.monotonic() + MIN_INTERVAL  # until send says

    def finish(
        self,
        run_dir: Path,
        record: Any,
        history: Mapping[str, Sequence[float | None]],
        update: Callable[..., Any],
    ) -> Any:
        """Send the rest, wait boundedly, and record the outcome in run.json.

        Args:
            run_dir: The run dir.
            record: The final run record (its status is final).
            history: The whole history.
            update: ``RunManifest.update``: writes fields into run.json.

        Returns:
            The record with ``tracking`` or ``tracking_error`` set.
        """
        worker = self.worker
        if worker is None:
            return record
        try:
            return self._finish(worker, run_dir, record, history, update)
        except Exception as exc:  # run.json unwritable: the run's own error
            self.echo(f"warning: tracking's record not written: {error_line(exc)}")
            return record
        finally:
            worker.close()

    def _finish(
        self,
        worker: Worker,
        run_dir: Path,
        record: Any,
        history: Mapping[str, Sequence[float | None]],
        update: Callable[..., Any],
    ) -> Any:
        deadline = time.monotonic() + tracking_timeout()
        self.epoch(history, now=True)
        worker.wait(max(0.0, deadline - time.monotonic()))
        opened = self.opened
        if opened is not None and worker.error is None:
            record = update(tracking=self.tracking_field(opened))
            log_model = self.settings.log_model

            def close(client: Any) -> None:
                close_run(client, opened.run_id, run_dir, record, log_model)

            worker.submit(close, force=True)
            done = worker.wait(max(0.0, deadline - time.monotonic()))
        else:
            done = False
        error = worker.error
        if error is None and not done:
            error = (
                f"MLflow at {self.settings.tracking_uri} did not answer within "
                f"{tracking_timeout():g} s ({TIMEOUT_ENV})"
            )
        if error is None:
            return record
        self.echo(
            f"warning: the run is not (fully) in MLflow: {error}; it is recorded "
            f"in its run dir: send it later with: cbrun track {run_dir}"
        )
        return update(tracking_error=error)

    def close(self) -> None:
        """End the worker thread once its queue is empty (it does not wait)."""
        if self.worker is not None:
            self.worker.close()

    def tracking_field(self, opened: Opened) -> dict[str, Any]:
        """run.json's ``tracking``: the MLflow run that shows this run."""
        return {
            "mlflow_run_id": opened.run_id,
            "tracking_uri": self.settings.tracking_uri,
            "experiment": self.settings.experiment,
        }
