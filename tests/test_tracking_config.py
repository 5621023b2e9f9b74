"""The ``tracking`` section in `cbrun validate`: bad input positioned, good accepted.

Validate never imports MLflow: its limits and schemes are copied into
:mod:`cbrun.config.tracking_checks`, and compared here with the installed
MLflow when there is one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cbrun.cli import cli
from cbrun.config import tracking_checks
from cbrun.config.loading import load_config
from cbrun.config.tracking_checks import uri_problem
from cbrun.errors import ConfigError
from tests.conftest import MINIMAL, run_python
from tests.test_no_tensorflow import PROBE

# Lines 10-17 after MINIMAL's nine.
TRACKED = (
    MINIMAL
    + """\
callbacks:
  - {type: TensorBoard, log_dir: tensorboard}
tracking:
  mlflow:
    tracking_uri: sqlite:///mlflow.db
    experiment: digits
    run_name: first
  tensorboard_hparams: [fit.epochs, compile.optimizer, callbacks.TensorBoard.log_dir]
"""
)


def problems(path: Path, *overrides: str) -> list[str]:
    """The formatted problems of a config (errors, else warnings)."""
    try:
        loaded = load_config(path, overrides, display=path.name)
    except ConfigError as exc:
        return [p.format() for p in exc.problems]
    return [p.format() for p in loaded.warnings]


def edited(old: str, new: str) -> str:
    assert TRACKED.count(old) == 1, old
    return TRACKED.replace(old, new)


def test_a_tracked_config_is_valid(write_config):
    assert problems(write_config(TRACKED)) == []


BAD = [
    pytest.param(
        ("  mlflow:", "  mlfow:"),
        ["config.yaml:13:3: tracking.mlfow: unknown key; did you mean 'mlflow'?"],
        id="tracker-name",
    ),
    pytest.param(
        ("tracking_uri:", "tracking_url:"),
        [
            "config.yaml:14:5: tracking.mlflow.tracking_url: unknown key; did you "
            "mean 'tracking_uri'?"
        ],
        id="mlflow-key",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "sqlite://relative.db"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: sqlite URLs need three "
            "slashes: sqlite:///relative.db; four for an absolute path (got "
            "'sqlite://relative.db')"
        ],
        id="sqlite-two-slashes",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "sqlite://"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: sqlite:// is an "
            "in-memory database, gone when the run ends; write sqlite:///mlflow.db "
            "(got 'sqlite://')"
        ],
        id="sqlite-memory",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "http://"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: no host; write "
            "http://HOST:PORT, e.g. http://localhost:5000 (got 'http://')"
        ],
        id="http-no-host",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "http://localhost:50000000"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: the port is not a "
            "number from 0 to 65535 (got 'http://localhost:50000000')"
        ],
        id="http-port",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "localhost:5000"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: no scheme; did you "
            "mean 'http://localhost:5000'? (got 'localhost:5000')"
        ],
        id="host-port-without-scheme",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "postgres://db.example.com/mlflow"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: unknown scheme "
            "'postgres'; did you mean 'postgresql'? (MLflow takes "
            "sqlite:///mlflow.db, postgresql://user:password@host:5432/db, "
            "http://host:5000, file:///absolute/folder, a plain folder, or "
            "databricks) (got 'postgres://db.example.com/mlflow')"
        ],
        id="unknown-scheme",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "HTTP://localhost:5000"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: write the scheme in "
            "lower case: http://localhost:5000 (got 'HTTP://localhost:5000')"
        ],
        id="upper-case-scheme",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "'http://my host:5000'"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: a space in a URL; "
            "write it as %20 (got 'http://my host:5000')"
        ],
        id="space",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", '"sqlite:///mlflow\\x1b.db"'),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: a control or "
            "invisible character in a URI; remove it (got "
            "'sqlite:///mlflow\\x1b.db')"
        ],
        id="control-character",
    ),
    pytest.param(
        ("sqlite:///mlflow.db", "file://mlruns"),
        [
            "config.yaml:14:19: tracking.mlflow.tracking_uri: file URIs name an "
            "absolute folder after three slashes: file:///absolute/folder; for a "
            "folder relative to where cbrun runs, write its plain path (e.g. "
            "mlruns) (got 'file://mlruns')"
        ],
        id="file-two-slashes",
    ),
    pytest.param(
        ("experiment: digits", "experiment: ''"),
        ["config.yaml:15:17: tracking.mlflow.experiment: must not be empty"],
        id="experiment-empty",
    ),
    pytest.param(
        ("experiment: digits", "experiment: " + "e" * 257),
        [
            "config.yaml:15:17: tracking.mlflow.experiment: 257 characters; MLflow "
            "stores at most 256 in an experiment name (its database column); "
            "shorten it"
        ],
        id="experiment-too-long",
    ),
    pytest.param(
        ("run_name: first", "run_name: " + "r" * 251),
        [
            "config.yaml:16:15: tracking.mlflow.run_name: 251 characters; MLflow "
            "stores at most 250 in a run name (its database column); shorten it"
        ],
        id="run-name-too-long",
    ),
    pytest.param(
        ("fit.epochs, compile", "fit.epoch, compile"),
        [
            "config.yaml:17:25: tracking.tensorboard_hparams[0]: addresses nothing: "
            "fit has no 'epoch'; did you mean 'fit.epochs'?"
        ],
        id="hparam-key",
    ),
    pytest.param(
        ("callbacks.TensorBoard.log_dir", "callbacks.TensorBord.log_dir"),
        [
            "config.yaml:17:56: tracking.tensorboard_hparams[2]: addresses nothing: "
            "callbacks has no callback of type 'TensorBord'; did you mean "
            "'callbacks.TensorBoard.log_dir'?"
        ],
        id="hparam-callback-type",
    ),
    pytest.param(
        ("fit.epochs, compile", "fit..epochs, compile"),
        [
            "config.yaml:17:25: tracking.tensorboard_hparams[0]: it is not a dotted "
            "key like fit.batch_size or callbacks.EarlyStopping.patience"
        ],
        id="hparam-malformed",
    ),
    pytest.param(
        ("callbacks.TensorBoard.log_dir", "fit.epochs"),
        [
            "config.yaml:17:56: tracking.tensorboard_hparams[2]: 'fit.epochs' is "
            "already item 0; name it once"
        ],
        id="hparam-duplicate",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), BAD)
def test_bad_input_is_positioned(write_config, edit, expected):
    assert problems(write_config(edited(*edit))) == expected


WARNED = [
    pytest.param(
        ("  - {type: TensorBoard, log_dir: tensorboard}", "  - {type: History}"),
        [
            "config.yaml:17:3: tracking.tensorboard_hparams: warning: nothing will "
            "be written: TensorBoard's HParams need a TensorBoard callback; add "
            "{type: TensorBoard, log_dir: tensorboard} to callbacks",
            "config.yaml:17:56: tracking.tensorboard_hparams[2]: addresses nothing: "
            "callbacks has no callback of type 'TensorBoard'; it has History",
        ],
        id="no-tensorboard-callback",
    ),
    pytest.param(
        ("compile.optimizer,", "model.layers,"),
        [
            "config.yaml:17:37: tracking.tensorboard_hparams[1]: warning: "
            "'model.layers' is a list, not a number, string or boolean; "
            "TensorBoard's HParams will show it as JSON text"
        ],
        id="hparam-list",
    ),
    pytest.param(
        ("compile.optimizer,", "fit.batch_size,"),
        [
            "config.yaml:17:37: tracking.tensorboard_hparams[1]: warning: "
            "'fit.batch_size' is not set (null) in this config, so TensorBoard's "
            "HParams will show the text 'null', not the value Keras uses; set it "
            "to compare runs by it"
        ],
        id="hparam-unset",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), WARNED)
def test_warnings_and_errors_together(write_config, edit, expected):
    assert problems(write_config(edited(*edit))) == expected


def test_an_override_is_placed_at_its_set(write_config):
    path = write_config(TRACKED)
    assert problems(path, "tracking.mlflow.tracking_uri=sqlite://x.db") == [
        "config.yaml: --set tracking.mlflow.tracking_uri=sqlite://x.db: "
        "tracking.mlflow.tracking_uri: sqlite URLs need three slashes: "
        "sqlite:///x.db; four for an absolute path (got 'sqlite://x.db')"
    ]


def test_names_at_mlflows_limits_are_accepted(write_config):
    text = edited("experiment: digits", "experiment: " + "e" * 256)
    text = text.replace("run_name: first", "run_name: " + "r" * 250)
    assert problems(write_config(text)) == []


def test_tracking_without_hparams_needs_no_tensorboard(write_config):
    text = MINIMAL + "tracking: {mlflow: {experiment: digits}}\n"
    assert problems(write_config(text)) == []


GOOD_URIS = [
    "sqlite:///mlflow.db",
    "sqlite:////tmp/cbrun/mlflow.db",
    "sqlite:///my runs/mlflow.db",
    "sqlite+pysqlite:///mlflow.db",
    "postgresql://cbrun:secret@db.example.com:5432/mlflow",
    "postgresql+psycopg2://db.example.com/mlflow",
    "postgresql:///mlflow",
    "mysql+pymysql://cbrun@db.example.com/mlflow",
    "mssql+pyodbc://db.example.com/mlflow",
    "http://localhost:5000",
    "http://127.0.0.1:5000",
    "https://mlflow.example.com",
    "https://mlflow.example.com/prefix",
    "file:///tmp/mlruns",
    "mlruns",
    "./mlruns",
    "/tmp/mlruns",
    "my runs/mlruns",
    "databricks",
    "databricks://my-profile",
    "databricks-uc",
]


@pytest.mark.parametrize("uri", GOOD_URIS)
def test_mlflows_uri_forms_are_accepted(write_config, uri):
    text = edited("sqlite:///mlflow.db", json.dumps(uri))
    assert problems(write_config(text)) == []


BAD_URIS = [
    "sqlite://relative.db",
    "sqlite:relative.db",
    "http://",
    "https://:5000",
    "htp://localhost:5000",
    "s3://bucket/mlruns",
    "postgres://db/mlflow",
    "SQLITE:///mlflow.db",
    "mysql+py+mysql://db/mlflow",
    "http://[::1",
    "file://[x/y",
    "sqlite:///mlflow\u2028.db",
    "https://mlflow\u200b.example.com",
]


@pytest.mark.parametrize("uri", GOOD_URIS)
def test_accepted_uris_select_an_mlflow_store(uri):
    registry = _mlflow_registry()
    registry.get_store_builder(uri)  # raises for a scheme MLflow has no store for


@pytest.mark.parametrize("uri", BAD_URIS)
def test_malformed_uris_are_refused(uri):
    assert uri_problem(uri) is not None


_SCHEMES = st.sampled_from(["", "http://", "https://", "sqlite:", "file:", "x:"])


@settings(max_examples=300, deadline=None)
@given(_SCHEMES, st.text(max_size=40))
def test_any_uri_gets_an_answer_not_a_traceback(scheme, rest):
    answer = uri_problem(scheme + rest)
    assert answer is None or isinstance(answer, str)


@pytest.mark.parametrize(
    "uri",
    [
        "htp://localhost:5000",
        "s3://bucket/mlruns",
        "postgres://db/mlflow",
        "mysql+py+mysql://db/mlflow",
    ],
)
def test_refused_schemes_have_no_mlflow_store(uri):
    registry = _mlflow_registry()
    with pytest.raises(Exception):  # noqa: B017 (MLflow's own exception types)
        registry.get_store_builder(uri)


def test_an_upper_case_database_scheme_is_refused_by_sqlalchemy():
    # MLflow lower-cases it to pick the store; SQLAlchemy then finds no dialect.
    sqlalchemy = pytest.importorskip("sqlalchemy")
    with pytest.raises(sqlalchemy.exc.NoSuchModuleError):
        sqlalchemy.create_engine("SQLITE:///mlflow.db")


def _mlflow_registry():
    pytest.importorskip("mlflow")
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    return _tracking_store_registry


def test_constants_match_the_installed_mlflow():
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    from mlflow.store.db.db_types import DATABASE_ENGINES
    from mlflow.store.tracking.dbmodels.models import SqlExperiment, SqlRun
    from mlflow.utils import validation

    assert (
        tracking_checks.MLFLOW_MAX_EXPERIMENT_NAME_API
        == validation.MAX_EXPERIMENT_NAME_LENGTH
    )
    experiment_column = SqlExperiment.__table__.c.name.type.length
    assert experiment_column == tracking_checks.MLFLOW_MAX_EXPERIMENT_NAME_COLUMN
    assert (
        SqlRun.__table__.c.name.type.length
        == tracking_checks.MLFLOW_MAX_RUN_NAME_COLUMN
    )
    assert set(tracking_checks.DATABASES) == set(DATABASE_ENGINES)
    registry = _mlflow_registry()
    assert set(tracking_checks.SCHEMES) <= set(registry._registry)


def test_mlflow_refuses_what_the_limits_refuse():
    pytest.importorskip("mlflow")
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_experiment_name

    _validate_experiment_name("e" * tracking_checks.MLFLOW_MAX_EXPERIMENT_NAME_API)
    with pytest.raises(MlflowException):
        _validate_experiment_name(
            "e" * (tracking_checks.MLFLOW_MAX_EXPERIMENT_NAME_API + 1)
        )
    with pytest.raises(MlflowException):
        _validate_experiment_name("")


def test_cli_validate_reports_and_exits_1(write_config):
    path = write_config(edited("sqlite:///mlflow.db", "sqlite://relative.db"))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:14:19: tracking.mlflow.tracking_uri: sqlite URLs need three "
        "slashes: sqlite:///relative.db; four for an absolute path (got "
        "'sqlite://relative.db')\n"
    )
    assert result.stderr == "1 of 1 config(s) invalid\n"


def test_cli_validate_json(write_config):
    path = write_config(edited("  mlflow:", "  mlfow:"))
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["files"][0]["problems"]
    assert (problem["line"], problem["column"]) == (13, 3)
    assert problem["where"] == "tracking.mlfow"
    assert problem["message"] == "unknown key; did you mean 'mlflow'?"


def test_installed_cbrun_validate(write_config):
    cbrun = Path(sys.executable).with_name("cbrun")
    if not cbrun.exists():
        pytest.skip("no cbrun script beside this Python")
    path = write_config(edited("fit.epochs, compile", "fit.epoch, compile"))
    result = subprocess.run(
        [str(cbrun), "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == (
        f"{path}:17:25: tracking.tensorboard_hparams[0]: addresses nothing: fit "
        "has no 'epoch'; did you mean 'fit.epochs'?\n"
    )


def _probe(*args: str) -> dict:
    code = PROBE.format(args=list(args)) + (
        "mods = sorted(m for m in sys.modules if m.startswith('cbrun.config.'))\n"
        "print(json.dumps(mods), file=sys.stderr)\n"
    )
    result = run_python(code)
    *_, report, modules = result.stderr.strip().splitlines()
    return {**json.loads(report), "modules": json.loads(modules)}


def test_validate_of_a_tracking_config_imports_no_mlflow(write_config):
    report = _probe("validate", str(write_config(TRACKED)))
    assert report["code"] == 0
    assert report["heavy"] == []  # tensorflow, keras, jax, torch, mlflow
    assert "cbrun.config.tracking_checks" in report["modules"]


def test_validate_without_tracking_loads_no_tracking_checks(write_config):
    report = _probe("validate", str(write_config(MINIMAL)))
    assert report["code"] == 0
    assert "cbrun.config.tracking_checks" not in report["modules"]
