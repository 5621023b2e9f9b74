"""Check a ``tracking`` section, TF- and MLflow-free (design.md section 11).

``cbrun validate`` reports, before a run could lose its tracking:

- a ``tracking_uri`` MLflow would not open (unknown scheme, sqlite with two
  slashes, a server URL without a host, spaces or control characters);
- an experiment or run name longer than MLflow stores;
- a ``tensorboard_hparams`` key that addresses no field (did-you-mean), one
  named twice, a value TensorBoard can only show as text, and keys that
  nothing will write because the run has no TensorBoard callback.

Unknown tracker names (``mlfow``) are the schema's: strict mappings, with
did-you-mean from :mod:`cbrun.config.problems`.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Any

from cbrun.config.experiment import ExperimentConfig
from cbrun.config.problems import make_problem
from cbrun.config.tracking import MlflowTracking
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem
from cbrun.suggest import closest, shorten, shown

# MLflow 3's limits, copied so that validate need not import MLflow (mlflow
# 3.17; tests/test_tracking_config.py compares them with the installed one).
# mlflow/utils/validation.py: MAX_EXPERIMENT_NAME_LENGTH, which
# _validate_experiment_name enforces in every store.
MLFLOW_MAX_EXPERIMENT_NAME_API = 500
# mlflow/store/tracking/dbmodels/models.py: SqlExperiment.name, String(256);
# PostgreSQL, MySQL and SQL Server refuse longer names (SQLite stores them).
MLFLOW_MAX_EXPERIMENT_NAME_COLUMN = 256
# mlflow/store/tracking/dbmodels/models.py: SqlRun.name, String(250). The API
# does not check run names; the database column does.
MLFLOW_MAX_RUN_NAME_COLUMN = 250

MAX_EXPERIMENT_NAME = min(
    MLFLOW_MAX_EXPERIMENT_NAME_API, MLFLOW_MAX_EXPERIMENT_NAME_COLUMN
)
MAX_RUN_NAME = MLFLOW_MAX_RUN_NAME_COLUMN

# mlflow/store/db/db_types.py: DATABASE_ENGINES, each optionally +driver.
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
# The schemes MLflow's tracking store registry knows
# (mlflow/tracking/_tracking_service/utils.py: _register_tracking_stores).
SCHEMES = (*DATABASES, "http", "https", "file", "databricks", "databricks-uc", "uc")
_WHOLE_URIS = ("databricks", "databricks-uc", "uc")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Control, format (zero-width, bidi) and line or paragraph separator characters.
_INVISIBLE = ("Cc", "Cf", "Zl", "Zp")
_FORMS = (
    "sqlite:///mlflow.db, postgresql://user:password@host:5432/db, "
    "http://host:5000, file:///absolute/folder, a plain folder, or databricks"
)
# A TensorBoard HParams value: what its summary API takes.
_SCALARS = (bool, int, float, str)
TENSORBOARD_EXAMPLE = "{type: TensorBoard, log_dir: tensorboard}"


@dataclass(frozen=True)
class _Found:
    """One problem, at a path inside the tracking section."""

    path: ConfigPath
    message: str
    severity: str = "error"
    key: bool = False


def tracking_problems(
    experiment: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """Check the ``tracking`` section against the rest of the config.

    Args:
        experiment: The validated config; nothing is checked without tracking.
        data: The plain data it was validated from (overrides applied).
        source: Where each value came from.

    Returns:
        Errors and warnings, each at the value it is about.
    """
    tracking = experiment.tracking
    if tracking is None:
        return []
    found: list[_Found] = []
    if tracking.mlflow is not None:
        found += _mlflow_problems(tracking.mlflow)
    if tracking.tensorboard_hparams is not None:
        found += _hparams_problems(experiment, data, tracking.tensorboard_hparams)
    return [
        make_problem(
            source,
            data,
            ("tracking", *f.path),
            f.message,
            key=f.key,
            severity=f.severity,
        )
        for f in found
    ]


# --- MLflow ------------------------------------------------------------------


def _mlflow_problems(mlflow: MlflowTracking) -> list[_Found]:
    found: list[_Found] = []
    if mlflow.tracking_uri is not None:
        uri = mlflow.tracking_uri
        why = uri_problem(uri)
        if why is not None:
            found.append(
                _Found(("mlflow", "tracking_uri"), f"{why} (got {shown(uri)})")
            )
    names = (
        ("experiment", mlflow.experiment, "an experiment name", MAX_EXPERIMENT_NAME),
        ("run_name", mlflow.run_name, "a run name", MAX_RUN_NAME),
    )
    for field, value, what, limit in names:
        if value is not None and len(value) > limit:
            found.append(_Found(("mlflow", field), _too_long(what, value, limit)))
    return found


def _too_long(what: str, value: str, limit: int) -> str:
    return (
        f"{len(value)} characters; MLflow stores at most {limit} in {what} "
        "(its database column); shorten it"
    )


def uri_problem(uri: str) -> str | None:
    """Why MLflow would not open ``uri`` as a tracking store, or None.

    Args:
        uri: A ``tracking_uri`` as written.

    Returns:
        The reason and the fix (without the URI), or None for a form MLflow
        takes.
    """
    if any(unicodedata.category(c) in _INVISIBLE for c in uri):
        return "a control or invisible character in a URI; remove it"
    if uri != uri.strip():
        return "starts or ends with a space; remove it"
    if uri in _WHOLE_URIS:
        return None
    match = _SCHEME.match(uri)
    if match is None or len(match.group(1)) == 1:
        return None  # a local folder (C:\... has a one-letter "scheme")
    scheme = match.group(1)
    rest = uri[match.end() :]
    engine, plus, driver = scheme.partition("+")
    # A file name may hold spaces (sqlite:///my runs.db); a server URL may not.
    if engine not in ("sqlite", "file") and any(c.isspace() for c in uri):
        return "a space in a URL; write it as %20"
    if plus and (engine not in DATABASES or not re.fullmatch(r"\w+", driver)):
        return (
            f"{shown(scheme)} is not a database with a driver like "
            "postgresql+psycopg2 or mysql+pymysql"
        )
    if engine not in SCHEMES:
        return _unknown_scheme(uri, scheme, rest)
    if engine == "sqlite":
        return _sqlite_problem(scheme, rest)
    try:
        parsed = urllib.parse.urlsplit(uri)
    except ValueError as exc:  # an unclosed [ of an IPv6 host
        return f"not a URL: {exc}"
    if engine in DATABASES:
        if not rest.startswith("//"):
            return (
                f"{scheme} URLs start with {scheme}://, e.g. "
                f"{scheme}://user:password@host:port/database"
            )
        return _port_problem(parsed)
    if engine in ("http", "https"):
        return _server_problem(uri, scheme, parsed)
    if engine == "file":
        return _file_problem(uri, parsed)
    if engine == "databricks" and not re.fullmatch(r"//[^/:]+(:[^/]*)?", rest):
        return "write databricks or databricks://PROFILE (a Databricks CLI profile)"
    return None


def _unknown_scheme(uri: str, scheme: str, rest: str) -> str:
    if scheme.lower() in SCHEMES:
        return f"write the scheme in lower case: {scheme.lower()}:{shorten(rest)}"
    if re.fullmatch(r"\d+(/.*)?", rest):
        # host:port: urlparse takes the host for a scheme, and so does MLflow.
        return f"no scheme; did you mean 'http://{shorten(uri)}'?"
    match = closest(scheme.lower(), SCHEMES)
    hint = f"; did you mean {match!r}?" if match else ""
    return f"unknown scheme {shown(scheme)}{hint} (MLflow takes {_FORMS})"


def _sqlite_problem(scheme: str, rest: str) -> str | None:
    if rest == "//":
        return (
            f"{scheme}:// is an in-memory database, gone when the run ends; "
            f"write {scheme}:///mlflow.db"
        )
    if not rest.startswith("///"):
        path = rest.lstrip("/") or "mlflow.db"
        return (
            f"sqlite URLs need three slashes: {scheme}:///{shorten(path)}"
            "; four for an absolute path"
        )
    if rest == "///":
        return f"no database file; write {scheme}:///mlflow.db"
    return None


def _server_problem(
    uri: str, scheme: str, parsed: urllib.parse.SplitResult
) -> str | None:
    if not uri.startswith(f"{scheme}://") or not parsed.hostname:
        return f"no host; write {scheme}://HOST:PORT, e.g. {scheme}://localhost:5000"
    return _port_problem(parsed)


def _port_problem(parsed: urllib.parse.SplitResult) -> str | None:
    try:
        parsed.port  # noqa: B018 (reading it parses it)
    except ValueError:
        return "the port is not a number from 0 to 65535"
    return None


def _file_problem(uri: str, parsed: urllib.parse.SplitResult) -> str | None:
    absolute = uri.startswith("file://") and parsed.netloc in ("", "localhost")
    if not absolute or parsed.path in ("", "/"):
        return (
            "file URIs name an absolute folder after three slashes: "
            "file:///absolute/folder; for a folder relative to where cbrun "
            "runs, write its plain path (e.g. mlruns)"
        )
    return None


# --- TensorBoard HParams -----------------------------------------------------


def _hparams_problems(
    experiment: ExperimentConfig, data: Any, keys: list[str]
) -> list[_Found]:
    # The key walk of sweep space keys; imported only for configs that need it.
    from cbrun.config.sweep_checks import resolve_key

    found: list[_Found] = []
    if not any(callback.type == "TensorBoard" for callback in experiment.callbacks):
        found.append(
            _Found(
                ("tensorboard_hparams",),
                "nothing will be written: TensorBoard's HParams need a "
                f"TensorBoard callback; add {TENSORBOARD_EXAMPLE} to callbacks",
                "warning",
                key=True,
            )
        )
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        where: ConfigPath = ("tensorboard_hparams", index)
        if key in first:
            message = f"{shown(key)} is already item {first[key]}; name it once"
            found.append(_Found(where, message))
            continue
        first[key] = index
        try:
            value = resolve_key(key, experiment, data)
        except ValueError as exc:
            found.append(_Found(where, str(exc)))
            continue
        # `name` is unset only until loading fills in the file's stem.
        if not isinstance(value, _SCALARS) and key != "name":
            found.append(_Found(where, _not_scalar(key, value), "warning"))
    return found


def _not_scalar(key: str, value: Any) -> str:
    if value is None:
        return (
            f"{shown(key)} is not set (null) in this config, so TensorBoard's "
            "HParams will show the text 'null', not the value Keras uses; set it "
            "to compare runs by it"
        )
    kind = "a list" if isinstance(value, list | tuple) else "a mapping"
    return (
        f"{shown(key)} is {kind}, not a number, string or boolean; "
        "TensorBoard's HParams will show it as JSON text"
    )
