"""The MLflow client, bounded, and what cbrun asks of a store.

A server that is down must cost seconds, not MLflow's default minutes of
retries: unless the user set them, HTTP retries are 0 and a request times
out after :data:`HTTP_TIMEOUT` seconds (MLflow reads both from the
environment on every request; nothing else in cbrun talks HTTP through it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cbrun.tracking.params import cut

HTTP_TIMEOUT = "5"
ARTIFACTS_DIR = "mlartifacts"
RUN_DIR_ID_TAG = "cbrun.run_dir_id"
PARENT_TAG = "mlflow.parentRunId"
MAX_ERROR = 300


def bound_http() -> None:
    """Few retries and short timeouts for MLflow's HTTP calls, unless set."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT)


def client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for ``tracking_uri``, HTTP bounded (imports MLflow)."""
    bound_http()
    from mlflow import MlflowClient

    # Its INFO lines (database migrations) are not cbrun's to print; MLflow
    # sets its logger's level as it is imported, so this comes after.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=tracking_uri)


def artifact_location(tracking_uri: str) -> str | None:
    """Artifacts of a ``sqlite:///`` store beside its database file.

    MLflow's default is ``./mlruns`` in the working directory, which would
    scatter artifacts wherever cbrun was started. Other stores keep theirs.
    """
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    database = Path(tracking_uri[len(prefix) :]).absolute()
    return (database.parent / ARTIFACTS_DIR).as_uri()


def experiment_id(mlflow_client: Any, name: str, tracking_uri: str) -> str:
    """The id of experiment ``name``, created if it does not exist."""
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = artifact_location(tracking_uri)
    try:
        return str(mlflow_client.create_experiment(name, artifact_location=location))
    except Exception:
        # Another process created it meanwhile.
        found = mlflow_client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def find_tracked(mlflow_client: Any, experiment: str, run_dir_id: str) -> Any:
    """The MLflow run tagged with this run-dir id, or None."""
    runs = mlflow_client.search_runs(
        [experiment],
        filter_string=f"tags.`{RUN_DIR_ID_TAG}` = '{run_dir_id}'",
        max_results=5,
    )
    return runs[0] if runs else None


def error_line(exc: BaseException) -> str:
    """An exception as one bounded line, for a warning and run.json."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return cut(
        f"{type(exc).__name__}: {first}" if first else type(exc).__name__, MAX_ERROR
    )
