"""Schema of the ``tracking`` section: where a run is also shown.

``runs/`` stays the record of truth; a tracker is a view of it that must
never cost a run (design section 11). Read by ``cbrun validate`` without
importing MLflow or TensorFlow.

Example:
    ``{mlflow: {tracking_uri: sqlite:///mlflow.db, experiment: digits}}``
"""

from __future__ import annotations

from pydantic import Field

from cbrun.config.base import StrictModel


class MlflowTracking(StrictModel):
    """Log the run to MLflow (``pip install 'cbrun[mlflow]'``).

    Example:
        ``{tracking_uri: sqlite:///mlflow.db, experiment: digits, log_model: true}``
    """

    tracking_uri: str | None = Field(
        None,
        min_length=1,
        description="MLflow tracking URI; default MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db beside the runs dir.",
    )
    experiment: str | None = Field(
        None, min_length=1, description="MLflow experiment; default the run name."
    )
    run_name: str | None = Field(
        None, min_length=1, description="MLflow run name; default <name>/<stamp>."
    )
    log_model: bool = Field(False, description="Also log model.keras as an artifact.")


class TrackingConfig(StrictModel):
    """Trackers that show this run besides its run dir.

    Example:
        ``{mlflow: {experiment: digits}, tensorboard_hparams: [fit.batch_size]}``
    """

    mlflow: MlflowTracking | None = Field(None, description="Log to MLflow.")
    tensorboard_hparams: list[str] | None = Field(
        None,
        description="--set keys whose values go into TensorBoard's HParams "
        "dashboard (with a TensorBoard callback); default: a sweep's params.",
    )
