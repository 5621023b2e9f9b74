"""Tracking in MLflow with the real thing: a local SQLite store, read back.

A run is logged while it trains (params, per-epoch metrics, test metrics,
tags, artifacts); a store that is down costs the run nothing but a warning
and ``tracking_error``; ``cbrun track`` sends it afterwards, once.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow.utils.validation as mlflow_limits
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

import cbrun
from cbrun.cli import cli
from cbrun.runs.manifest import RunManifest, load_record, write_history
from cbrun.tracking import MlflowSettings, mlflow_settings, params, runlog
from tests.conftest import MINIMAL, REPO


def iris(tmp_path: Path, tracking: str = "", epochs: int = 3) -> Path:
    """A tiny iris config with a ``tracking`` section."""
    text = MINIMAL.replace("fit: {epochs: 2,", f"fit: {{epochs: {epochs}, verbose: 0,")
    path = tmp_path / "iris.yaml"
    path.write_text(f"name: iris\nseed: 1\n{text}{tracking}", encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def runs_of(uri: str, experiment: str = "iris") -> list:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return client.search_runs([found.experiment_id])


def test_limits_are_mlflows():
    assert params.MAX_PARAM_VALUE == mlflow_limits.MAX_PARAM_VAL_LENGTH
    assert params.MAX_KEY == mlflow_limits.MAX_ENTITY_KEY_LENGTH
    assert params.MAX_TAG_VALUE == mlflow_limits.MAX_TAG_VAL_LENGTH


def test_params_are_dotted_keys_cut_to_fit():
    resolved = {
        "fit": {"epochs": 3, "shuffle": True, "class_weight": None},
        "callbacks": [{"type": "EarlyStopping", "patience": 2}],
        "model": {"vocabulary": list(range(128)), "note": "x" * 7000},
        "odd": {"a=b": 1, "x//y": 2},
    }
    found, skipped = params.config_params(resolved)
    assert found["fit.epochs"] == "3"
    assert found["fit.shuffle"] == "true"
    assert found["fit.class_weight"] == "null"
    assert found["callbacks.0.patience"] == "2"
    assert found["model.vocabulary"] == "[128 items]"
    assert len(found["model.note"]) == 6000
    assert sorted(skipped) == ["odd.a=b", "odd.x//y"]


def test_settings_from_track_and_the_config(tmp_path, monkeypatch):
    from cbrun.config.tracking import TrackingConfig

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    runs_dir = tmp_path / "runs"
    assert mlflow_settings(None, "iris", runs_dir) is None
    plain = mlflow_settings(None, "iris", runs_dir, "mlflow")
    assert plain == MlflowSettings(f"sqlite:///{tmp_path / 'mlflow.db'}", "iris")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracker:5000")
    section = TrackingConfig.model_validate(
        {"mlflow": {"experiment": "flowers", "log_model": True}}
    )
    both = mlflow_settings(section, "iris", runs_dir, "mlflow")
    assert both == MlflowSettings("http://tracker:5000", "flowers", None, True)


def test_validate_and_a_refused_train_without_mlflow(tmp_path):
    """No MLflow: validate passes; train refuses before any run (exit 2)."""
    config = iris(tmp_path, "tracking: {mlflow: {experiment: iris}}\n")
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "from cbrun.cli import cli\n"
        "cli(sys.argv[1:])\n"
    )
    runs_dir = tmp_path / "runs"

    def cbrun_without_mlflow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            check=False,
        )

    checked = cbrun_without_mlflow("validate", str(config))
    assert checked.returncode == 0, checked.stderr
    refused = cbrun_without_mlflow("train", str(config), "--runs-dir", str(runs_dir))
    assert refused.returncode == 2
    assert "tracking needs MLflow: pip install 'cbrun[mlflow]'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not runs_dir.exists()


def test_track_refuses_a_folder_without_runs(tmp_path):
    result = CliRunner().invoke(cli, ["track", str(tmp_path)])
    assert result.exit_code == 2
    assert "holds no run" in result.stderr


@pytest.mark.slow
@pytest.mark.keras
def test_a_run_is_logged_to_a_local_store(tmp_path):
    uri = store(tmp_path)
    tracking = (
        f"tracking: {{mlflow: {{tracking_uri: '{uri}', experiment: iris, "
        "log_model: true}}\n"
    )
    result = cbrun.train(iris(tmp_path, tracking), runs_dir=tmp_path / "runs")
    assert result.status == "completed"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["tracking_error"] is None
    run_id = record["tracking"]["mlflow_run_id"]
    [run] = runs_of(uri)
    assert run.info.run_id == run_id
    assert run.info.status == "FINISHED"
    data = run.data
    assert data.params["fit.epochs"] == "3"
    assert data.params["compile.loss"] == "sparse_categorical_crossentropy"
    assert data.params["data.name"] == "iris"
    client = MlflowClient(uri)
    history = result.history
    for name in ("loss", "val_loss", "accuracy", "val_accuracy"):
        series = client.get_metric_history(run_id, name)
        assert [m.step for m in series] == [1, 2, 3]
        assert [m.value for m in series] == pytest.approx(history[name])
    test_metrics = result.record.test_metrics or {}
    assert data.metrics["test_accuracy"] == pytest.approx(test_metrics["accuracy"])
    assert data.tags["cbrun.status"] == "completed"
    assert data.tags["cbrun.stop_reason"]
    assert data.tags["cbrun.version.keras"] == record["versions"]["keras"]
    assert data.tags["cbrun.version.tensorflow"] == record["versions"]["tensorflow"]
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "run.json", "history.png", "model.keras"} <= artifacts
    # Artifacts sit beside the database, not in the working directory.
    assert (tmp_path / "mlartifacts").is_dir()


@pytest.mark.slow
@pytest.mark.keras
def test_a_store_that_is_down_costs_nothing_and_track_sends_later(tmp_path):
    down = f"http://127.0.0.1:{closed_port()}"
    tracking = f"tracking: {{mlflow: {{tracking_uri: '{down}', experiment: iris}}}}\n"
    config = iris(tmp_path, tracking)
    runs_dir = tmp_path / "runs"
    start = time.perf_counter()
    result = CliRunner().invoke(
        cli, ["train", str(config), "--runs-dir", str(runs_dir)]
    )
    took = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    assert "warning: the run is not (fully) in MLflow" in result.stderr
    [run_dir] = (runs_dir / "iris").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["tracking"] is None
    assert "127.0.0.1" in record["tracking_error"]
    assert took < 30  # bounded: a few seconds of training, no retries

    uri = store(tmp_path)
    sent = CliRunner().invoke(cli, ["track", str(run_dir), "--tracking-uri", uri])
    assert sent.exit_code == 0, sent.output
    assert sent.stdout.startswith("sent: ")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["tracking_error"] is None
    [run] = runs_of(uri)
    assert record["tracking"]["mlflow_run_id"] == run.info.run_id
    assert run.data.tags["cbrun.status"] == "completed"
    steps = MlflowClient(uri).get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in steps] == [1, 2, 3]

    again = CliRunner().invoke(cli, ["track", str(runs_dir), "--tracking-uri", uri])
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("already tracked: ")
    assert len(runs_of(uri)) == 1


SWEEP = """\
sweep:
  metric: val_accuracy
  trials: 2
  sampler: random
  space:
    fit.batch_size: {choice: [8, 16]}
"""


@pytest.mark.slow
@pytest.mark.keras
def test_a_sweep_is_a_parent_run_with_nested_trials(tmp_path):
    uri = store(tmp_path)
    config = iris(tmp_path, SWEEP, epochs=2)
    result = CliRunner(env={"MLFLOW_TRACKING_URI": uri}).invoke(
        cli,
        [
            "sweep",
            str(config),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--track",
            "mlflow",
        ],
    )
    assert result.exit_code == 0, result.output
    found = runs_of(uri)
    [parent] = [r for r in found if r.data.tags.get("cbrun.kind") == "sweep"]
    trials = [r for r in found if r is not parent]
    assert len(trials) == 2
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["cbrun.status"] == "completed"
    parent_id = parent.info.run_id
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {parent_id}
    assert {t.data.params["trial.fit.batch_size"] for t in trials} <= {"8", "16"}
    client = MlflowClient(uri)
    artifacts = {a.path for a in client.list_artifacts(parent_id)}
    assert {"sweep.json", "trials.csv"} <= artifacts
    [sweep_dir] = (tmp_path / "runs" / "iris").iterdir()
    ids = {t.info.run_id for t in trials}
    for trial_dir in (sweep_dir / "trials").iterdir():
        record = json.loads((trial_dir / "run.json").read_text())
        assert record["tracking"]["mlflow_run_id"] in ids

    # Sent afterwards to another store: the same parent-and-trials shape.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    sent = CliRunner().invoke(cli, ["track", str(sweep_dir), "--tracking-uri", other])
    assert sent.exit_code == 0, sent.output
    assert sent.stdout.count("sent: ") == 2
    again = runs_of(other)
    [copy] = [r for r in again if r.data.tags.get("cbrun.kind") == "sweep"]
    assert copy.data.tags["cbrun.status"] == "completed"
    nested = [r for r in again if r is not copy]
    assert {r.data.tags["mlflow.parentRunId"] for r in nested} == {copy.info.run_id}


def test_the_config_s_git_commit():
    commit = runlog.git_commit(REPO)
    assert commit is None or len(commit) == 40  # None: a copy without .git
    assert runlog.git_commit(REPO / "no such folder") is None


def recorded_run(runs_dir: Path, stamp: str, status: str = "completed") -> Path:
    """A run dir as a finished run leaves it, without training."""
    run_dir = runs_dir / "iris" / stamp
    run_dir.mkdir(parents=True)
    manifest = RunManifest(run_dir)
    manifest.start("iris", "iris.yaml", 1, ["cbrun", "train", "iris.yaml"])
    write_history(run_dir, {"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]})
    (run_dir / "config.yaml").write_text("name: iris\nfit: {epochs: 2}\n")
    if status != "running":
        manifest.finish(status, test_metrics={"loss": 0.6})
    return run_dir


def test_track_sends_recorded_runs_once_and_skips_running_ones(tmp_path):
    runs_dir = tmp_path / "runs"
    done = recorded_run(runs_dir, "20261130-100000")
    recorded_run(runs_dir, "20261130-110000", status="running")
    uri = store(tmp_path)
    result = CliRunner().invoke(cli, ["track", str(runs_dir), "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    assert sorted(line.split(":")[0] for line in result.stdout.splitlines()) == [
        "sent",
        "skipped",
    ]
    assert "still running" in result.stdout
    [run] = runs_of(uri)
    assert run.data.params == {"name": "iris", "fit.epochs": "2"}
    assert run.data.metrics["test_loss"] == pytest.approx(0.6)
    steps = MlflowClient(uri).get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in steps] == [(1, 0.9), (2, 0.5)]
    assert load_record(done).tracking["mlflow_run_id"] == run.info.run_id

    # An attempt cut short left its MLflow run open: it is sent again.
    MlflowClient(uri).update_run(run.info.run_id, status="RUNNING")
    again = CliRunner().invoke(cli, ["track", str(done), "--tracking-uri", uri])
    assert again.stdout.startswith("sent: "), again.output
    [fresh] = runs_of(uri)
    assert fresh.info.run_id != run.info.run_id


def test_track_says_when_the_store_cannot_be_reached(tmp_path):
    run_dir = recorded_run(tmp_path / "runs", "20261130-100000")
    down = f"http://127.0.0.1:{closed_port()}"
    result = CliRunner().invoke(cli, ["track", str(run_dir), "--tracking-uri", down])
    assert result.exit_code == 3
    assert f"cannot reach the MLflow store {down}" in result.stderr
    assert load_record(run_dir).tracking is None


@pytest.mark.slow
@pytest.mark.keras
def test_a_store_that_never_answers_costs_the_bounded_wait(tmp_path, monkeypatch):
    """A server that takes the connection and never replies: the run waits
    CBRUN_TRACKING_TIMEOUT at its end, then records why."""
    monkeypatch.setenv("CBRUN_TRACKING_TIMEOUT", "1")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections queue; nothing ever reads them
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        tracking = f"tracking: {{mlflow: {{tracking_uri: '{uri}'}}}}\n"
        result = cbrun.train(iris(tmp_path, tracking), runs_dir=tmp_path / "runs")
    assert result.status == "completed"
    assert result.record.tracking is None
    assert result.record.tracking_error == (
        f"MLflow at {uri} did not answer within 1 s (CBRUN_TRACKING_TIMEOUT)"
    )
