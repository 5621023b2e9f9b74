"""The library API, used as the README shows: ``import cbrun`` and call it."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

import cbrun
from cbrun.errors import ConfigError, ExitCode
from tests.conftest import CONFIGS, MINIMAL


def iris(**changes: object) -> dict:
    """MINIMAL as a mapping, with top-level sections replaced."""
    config = yaml.safe_load(MINIMAL)
    config.update(changes)
    return config


# --- validate and load_config: no TensorFlow -----------------------------------


def test_validate_a_folder_reports_every_file_valid():
    report = cbrun.validate(CONFIGS)
    assert report.valid
    files = {f.file for f in report.files}
    assert str(CONFIGS / "earlystop.yaml") in files
    assert all(f.valid for f in report.files) and report.invalid == []


def test_validate_a_mapping_names_the_place_and_the_fix():
    config = iris(callbacks=[{"type": "EarlyStopping", "patiense": 3}])
    report = cbrun.validate(config)
    assert not report.valid
    [problem] = report.problems
    assert problem.file == "<mapping>"
    assert problem.where == "callbacks[0] (EarlyStopping).patiense"
    assert problem.message == "unknown parameter; did you mean 'patience'?"
    assert problem.format() == (
        "<mapping>: callbacks[0] (EarlyStopping).patiense: " + problem.message
    )
    assert report.as_dict()["files"][0]["problems"][0]["message"] == problem.message


def test_validate_applies_overrides_like_set(tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text(MINIMAL)
    assert cbrun.validate(path).valid
    report = cbrun.validate([path], ["fit.epochs=0"])
    assert not report.valid
    assert report.problems[0].where == "--set fit.epochs=0: fit.epochs"


def test_validate_a_missing_path_is_an_invalid_file(tmp_path):
    report = cbrun.validate([tmp_path / "nope.yaml"])
    assert [f.valid for f in report.files] == [False]
    assert "no such file" in report.problems[0].message


def test_load_config_returns_the_typed_config_or_raises_every_problem():
    loaded = cbrun.load_config(iris(), ["fit.epochs=5"])
    assert loaded.experiment.fit.epochs == 5
    assert loaded.experiment.data.feed == "numpy"  # Keras-faithful by default
    assert loaded.name == "run"
    with pytest.raises(ConfigError) as caught:
        cbrun.load_config(iris(fit={"epochs": -1, "batch_sise": 3}))
    assert caught.value.exit_code == ExitCode.INVALID_CONFIG
    where = {p.where for p in caught.value.problems}
    assert where == {"fit.epochs", "fit.batch_sise"}


def test_list_runs_of_a_missing_folder_says_which_folder_to_give(tmp_path):
    from cbrun.runs.listing import RunsError

    with pytest.raises(RunsError, match=r"runs dir .* does not exist; pass the folder"):
        cbrun.list_runs(tmp_path / "runs")


# --- train, resume, smoke: real Keras -----------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("api") / "runs"
    lines: list[str] = []
    result = cbrun.train(
        iris(name="iris_api"), runs_dir=runs_dir, echo=lines.append, command=["t"]
    )
    return runs_dir, result, lines


@pytest.mark.keras
@pytest.mark.slow
def test_train_a_mapping_returns_its_run(trained):
    runs_dir, result, lines = trained
    assert result.status == "completed"
    assert result.run_dir.parent == runs_dir / "iris_api"
    assert result.record.epochs_run == 2 == len(result.history["loss"])
    assert result.record.command == ["t"]
    assert result.config.fit.epochs == 2
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert lines[0] == f"run dir: {result.run_dir}"
    assert "finished 2 epochs" in lines


@pytest.mark.keras
@pytest.mark.slow
def test_list_runs_finds_the_run(trained):
    runs_dir, result, _ = trained
    [summary] = cbrun.list_runs(runs_dir)
    assert (summary.name, summary.status) == ("iris_api", "completed")
    assert summary.run_dir == result.run_dir


@pytest.mark.keras
@pytest.mark.slow
def test_resume_of_a_finished_run_says_there_is_nothing_to_do(trained):
    from cbrun.training.resume import AlreadyFinished

    _, result, _ = trained
    with pytest.raises(AlreadyFinished) as caught:
        cbrun.resume(result.run_dir)
    assert caught.value.exit_code == ExitCode.OK


@pytest.mark.keras
@pytest.mark.slow
def test_train_logs_to_the_cbrun_logger_by_default(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="cbrun"):
        result = cbrun.train(iris(), runs_dir=tmp_path, overrides=["fit.epochs=1"])
    assert f"run dir: {result.run_dir}" in caplog.messages


@pytest.mark.keras
@pytest.mark.slow
def test_smoke_reports_each_config(tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text(MINIMAL)
    seen = []
    results = cbrun.smoke([path], runs_dir=tmp_path / "runs", report=seen.append)
    assert [r.ok for r in results] == [True] and seen == results
