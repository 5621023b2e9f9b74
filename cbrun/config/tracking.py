"""Schema of the ``tracking`` section: where a run is also shown.

``runs/`` stays the record of truth; a tracker is a view of it that must
never cost a run (design section 11). Read by ``cbrun validate`` without
importing MLflow or TensorFlow.

Example:
    ``{mlflow: {tracking_uri: sqlite:///mlflow.db, experiment: digits}}``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from cbrun.config.base import StrictModel

if TYPE_CHECKING:
    from cbrun.config.experiment import ExperimentConfig
    from cbrun.config.yaml_loader import SourceMap
    from cbrun.errors import Problem


class MlflowTracking(StrictModel):
    """Log the run to MLflow (``pip install 'cbrun[mlflow]'``).

    Example:
        ``{tracking_uri: sqlite:///mlflow.db, experiment: digits, log_model: true}``
    """

    tracking_uri: str | None = Field(
        None,
        min_length=1,
        description="MLflow tracking URI; default MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db beside the runs dir. Forms: sqlite:///relative.db or "
        "sqlite:////absolute.db; postgresql://, mysql:// or mssql:// (optionally "
        "+driver) user:password@host:port/database; http://host:port or "
        "https://host (a tracking server); file:///absolute/folder or a plain "
        "local folder (MLflow's file store); databricks or databricks://profile.",
    )
    experiment: str | None = Field(
        None,
        min_length=1,
        description="MLflow experiment; default the run name. At most 256 "
        "characters (MLflow's database column).",
    )
    run_name: str | None = Field(
        None,
        min_length=1,
        description="MLflow run name; default <name>/<stamp>. At most 250 "
        "characters (MLflow's database column).",
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
        "dashboard (with a TensorBoard callback), each once; values other than "
        "numbers, strings and booleans are shown as text. Default: a sweep's "
        "params.",
    )


def check_tracking(
    experiment: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """Check the tracking section against its config; nothing without one.

    The checks (:func:`cbrun.config.tracking_checks.tracking_problems`) are
    imported only for a config with a tracking section: ``validate`` loads
    what a config uses.
    """
    if experiment.tracking is None:
        return []
    from cbrun.config.tracking_checks import tracking_problems

    return tracking_problems(experiment, data, source)
