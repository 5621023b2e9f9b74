"""TensorBoard's HParams dashboard: runs and sweep trials (design section 11).

Real Keras runs on iris write real event files, read back with TensorBoard's
own ``EventAccumulator`` and served by its hparams plugin as the dashboard
asks for them: the session's hyperparameters (the config's chosen keys, a
trial's params) and the final metrics beside Keras's epoch curves.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import cbrun
from cbrun.cli import cli
from cbrun.config.tracking import TrackingConfig
from cbrun.keras.hparams import (
    MISSING,
    chosen_hparams,
    final_scalars,
    hparam_value,
    lookup,
)
from tests.test_sweep import sweep_config

IRIS = """\
name: iris-hp
seed: 3
data: {{source: sklearn, name: iris, test_size: 0.2}}
model:
  layers:
    - {{type: Dense, units: 8, activation: relu}}
    - {{type: Dense, units: 3, activation: softmax}}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {{epochs: 2, batch_size: 16, validation_split: 0.2, verbose: 0}}
callbacks:
{callbacks}
tracking: {{tensorboard_hparams: [fit.batch_size, compile.optimizer, {extra}]}}
"""
TENSORBOARD = "  - {type: TensorBoard, log_dir: tensorboard}"
EARLY_STOPPING = "  - {type: EarlyStopping, monitor: val_loss, patience: 5}"


def write_iris(folder: Path, callbacks: str, extra: str = "fit.shuffle") -> Path:
    path = folder / "iris-hp.yaml"
    path.write_text(IRIS.format(callbacks=callbacks, extra=extra), encoding="utf-8")
    return path


def warnings_in(lines: list[str]) -> list[str]:
    """cbrun's lines about the hparams summary."""
    return [
        line
        for line in lines
        if line.startswith(("TensorBoard hparams", "tracking.tensorboard_hparams"))
    ]


def session_start(log_dir: Path) -> tuple[dict[str, object], str]:
    """The hparams and group name of the session start in ``log_dir`` itself."""
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    from tensorboard.plugins.hparams import metadata

    events = EventAccumulator(str(log_dir))
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    info = metadata.parse_session_start_info_plugin_data(
        content[metadata.SESSION_START_INFO_TAG]
    )
    values = {}
    for key, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        values[key] = getattr(value, kind)
    return values, info.group_name


def scalars(log_dir: Path) -> dict[str, float]:
    """The last value of every scalar written in ``log_dir`` itself."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    events = EventAccumulator(str(log_dir))
    events.Reload()
    found = {}
    for tag in events.Tags()["tensors"]:
        if tag.startswith(("final/", "best/")):
            last = events.Tensors(tag)[-1]
            found[tag] = float(tf.make_ndarray(last.tensor_proto))
    return found


def dashboard_sessions(logdir: Path) -> list[dict]:
    """The session groups TensorBoard's HParams dashboard shows for ``logdir``."""
    from tensorboard.backend.application import TensorBoardWSGI
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import (
        plugin_event_multiplexer as multiplexer,
    )
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams.hparams_plugin import HParamsPlugin
    from werkzeug.test import Client

    events = multiplexer.EventMultiplexer()
    events.AddRunsFromDirectory(str(logdir))
    events.Reload()
    provider = data_provider.MultiplexerDataProvider(events, str(logdir))
    context = base_plugin.TBContext(
        logdir=str(logdir), multiplexer=events, data_provider=provider
    )
    client = Client(TensorBoardWSGI([HParamsPlugin(context)]))
    request = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN"],
        "colParams": [],
        "startIndex": 0,
        "sliceSize": 100,
        "includeMetrics": True,
    }
    response = client.post(
        "/data/plugin/hparams/session_groups",
        data=json.dumps(request),
        content_type="application/json",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data(as_text=True))["sessionGroups"]


# --- the pieces, without TensorFlow ----------------------------------------------


def test_keys_are_looked_up_as_set_writes_them():
    data = {
        "fit": {"batch_size": 16},
        "model": {"layers": [{"units": 8}, {"units": 3}]},
        "callbacks": [{"type": "EarlyStopping", "patience": 3}],
    }
    assert lookup(data, "fit.batch_size") == 16
    assert lookup(data, "model.layers.1.units") == 3
    assert lookup(data, "callbacks.EarlyStopping.patience") == 3
    assert lookup(data, "callbacks.0.patience") == 3
    for missing in ("fit.epochs", "model.layers.2.units", "callbacks.CSVLogger.x"):
        assert lookup(data, missing) is MISSING
    assert lookup(data, "fit.batch_size.x") is MISSING


def test_values_are_what_tensorboard_takes_else_their_json_text():
    assert [hparam_value(v) for v in (True, 3, 0.5, "adam")] == [True, 3, 0.5, "adam"]
    assert hparam_value(None) == "null"
    assert hparam_value({"type": "Adam", "learning_rate": 0.01}) == (
        '{"type": "Adam", "learning_rate": 0.01}'
    )
    assert hparam_value([16, 32]) == "[16, 32]"


def test_final_scalars_leave_out_what_is_not_a_number():
    found = final_scalars(
        {"loss": [1.0, 0.5], "val_loss": [], "lr": [0.1, float("nan")]},
        {"accuracy": 0.9, "loss": None},
        {"monitor": "val_loss", "value": 0.4, "epoch": 2},
    )
    assert found == {
        "final/loss": 0.5,
        "final/test_accuracy": 0.9,
        "best/val_loss": 0.4,
    }


def test_chosen_keys_then_a_trials_params_and_one_line_per_key_left_out(tmp_path):
    loaded = cbrun.load_config(write_iris(tmp_path, TENSORBOARD))
    tracking = TrackingConfig(tensorboard_hparams=["fit.batch_size", "fit.nope"])
    experiment = loaded.experiment.model_copy(update={"tracking": tracking})
    lines: list[str] = []
    trial = {"number": 1, "params": {"fit.batch_size": 32, "model.layers.0.units": 4}}
    found = chosen_hparams(replace(loaded, experiment=experiment), trial, lines.append)
    assert found == {"fit.batch_size": 32, "model.layers.0.units": 4}
    assert lines == [
        "tracking.tensorboard_hparams: fit.nope is not in the config; left out"
    ]


# --- real runs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hparams")
    lines: list[str] = []
    config = write_iris(folder, f"{TENSORBOARD}\n{EARLY_STOPPING}")
    result = cbrun.train(config, runs_dir=folder / "runs", echo=lines.append)
    return result, lines, folder / "runs"


@pytest.mark.slow
@pytest.mark.keras
def test_a_run_writes_its_chosen_keys_as_hparams(iris_run):
    result, lines, _ = iris_run
    assert result.status == "completed"
    hparams, group = session_start(result.run_dir / "tensorboard")
    # fit.shuffle is not written in the file: its default is looked up.
    assert hparams == {
        "fit.batch_size": 16.0,
        "compile.optimizer": "adam",
        "fit.shuffle": True,
    }
    assert group == f"iris-hp/{result.run_dir.name}"
    assert not warnings_in(lines)


@pytest.mark.slow
@pytest.mark.keras
def test_the_final_metrics_are_scalars_beside_the_hparams(iris_run):
    result, _, _ = iris_run
    written = scalars(result.run_dir / "tensorboard")
    record = result.record
    for name, values in result.history.items():
        assert written[f"final/{name}"] == pytest.approx(values[-1])
    assert record.test_metrics
    for name, value in record.test_metrics.items():
        assert written[f"final/test_{name}"] == pytest.approx(value)
    assert record.best is not None
    assert written["best/val_loss"] == pytest.approx(record.best["value"])


@pytest.mark.slow
@pytest.mark.keras
def test_the_dashboard_shows_the_run_with_its_metrics(iris_run):
    result, _, runs_dir = iris_run
    (session,) = dashboard_sessions(runs_dir)
    assert session["name"] == f"iris-hp/{result.run_dir.name}"
    assert session["hparams"]["compile.optimizer"] == "adam"
    metrics = {(m["name"]["group"], m["name"]["tag"]) for m in session["metricValues"]}
    # Keras's epoch curves (train/, validation/) and cbrun's final metrics.
    assert {("train", "epoch_loss"), ("validation", "epoch_loss")} <= metrics
    assert ("", "final/test_accuracy") in metrics


@pytest.mark.slow
@pytest.mark.keras
def test_each_sweep_trial_has_its_params_as_hparams(tmp_path):
    config = sweep_config(tmp_path, name="hp-sweep")
    text = config.read_text().replace(
        "  - {type: TerminateOnNaN}", f"  - {{type: TerminateOnNaN}}\n{TENSORBOARD}"
    )
    config.write_text(text)
    runs_dir = tmp_path / "runs"
    result = CliRunner().invoke(
        cli, ["sweep", "--smoke", "--runs-dir", str(runs_dir), str(config)]
    )
    assert result.exit_code == 0, result.output
    trials = sorted(runs_dir.glob("hp-sweep/sweep-*/trials/*"))
    assert len(trials) == 2
    for trial in trials:
        params = json.loads((trial / "run.json").read_text())["trial"]["params"]
        hparams, group = session_start(trial / "tensorboard")
        assert (
            set(hparams)
            == set(params)
            == {
                "compile.optimizer.learning_rate",
                "model.layers.0.units",
            }
        )
        for key, value in params.items():
            assert hparams[key] == pytest.approx(value)
        assert group.endswith(f"/trials/{trial.name}")
    assert len(dashboard_sessions(runs_dir)) == 2


@pytest.mark.slow
@pytest.mark.keras
def test_without_a_tensorboard_callback_nothing_is_written(tmp_path):
    lines: list[str] = []
    config = write_iris(tmp_path, EARLY_STOPPING)
    result = cbrun.train(config, runs_dir=tmp_path / "runs", echo=lines.append)
    assert result.status == "completed"
    assert not list(result.run_dir.rglob("events.out.tfevents.*"))
    assert not warnings_in(lines)


@pytest.mark.slow
@pytest.mark.keras
def test_a_failure_to_write_is_one_warning_not_a_failed_run(tmp_path, monkeypatch):
    from cbrun.keras import hparams

    def refuse(*args: object) -> None:
        raise OSError("disk full\nsecond line")

    monkeypatch.setattr(hparams, "_write_one", refuse)
    lines: list[str] = []
    config = write_iris(tmp_path, TENSORBOARD)
    result = cbrun.train(config, runs_dir=tmp_path / "runs", echo=lines.append)
    assert result.status == "completed"
    assert (result.run_dir / "model.keras").is_file()
    warnings = warnings_in(lines)
    assert warnings == ["TensorBoard hparams not written: OSError: disk full"]
