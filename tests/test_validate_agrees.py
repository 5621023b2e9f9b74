"""validate agrees with train: what one accepts the other runs, with a position.

Cases found where `cbrun validate` said ok and training refused (or the
reverse): a schedule that fails at once, `--set` into a list the config does
not have, the class weights of a resolved config.yaml, a legacy .h5
checkpoint, and application weights that cannot be downloaded.
"""

from __future__ import annotations

import json
import signal

import pytest
from click.testing import CliRunner

from cbrun.api import load_config
from cbrun.cli import cli
from cbrun.errors import ConfigError, ExitCode
from tests.conftest import MINIMAL, start_cbrun, wait_for_epochs

SCHEDULED = (
    MINIMAL
    + """\
callbacks:
  - type: LearningRateScheduler
    schedule: "SCHEDULE"
"""
)


def problems_of(path, *overrides):
    try:
        loaded = load_config(path, overrides)
    except ConfigError as exc:
        return [p for p in exc.problems if p.severity == "error"], []
    return [], [p.format() for p in loaded.warnings]


def test_a_schedule_that_fails_at_the_first_epoch_is_refused(write_config):
    path = write_config(SCHEDULED.replace("SCHEDULE", "1/0"))
    errors, _ = problems_of(path)
    (problem,) = errors
    assert (problem.line, problem.where) == (
        12,
        "callbacks[0] (LearningRateScheduler).schedule",
    )
    assert "division by zero in '1/0'" in problem.message
    assert "epoch=0" in problem.message


def test_a_schedule_that_fails_later_is_a_warning_naming_the_epoch(write_config):
    text = SCHEDULED.replace("SCHEDULE", "lr / (epoch - 1)").replace(
        "epochs: 2", "epochs: 5"
    )
    _, warnings = problems_of(write_config(text))
    assert any("epoch=1" in w and "division by zero" in w for w in warnings), warnings


def test_a_schedule_that_runs_is_quiet(write_config):
    errors, warnings = problems_of(
        write_config(SCHEDULED.replace("SCHEDULE", "lr * 0.9"))
    )
    assert errors == [] and warnings == []


@pytest.mark.parametrize(
    "override", ["callbacks.EarlyStopping.patience=3", "callbacks.0.patience=3"]
)
def test_set_into_callbacks_the_config_lacks_names_the_set(write_config, override):
    path = write_config(MINIMAL)
    result = CliRunner().invoke(cli, ["validate", str(path), "--set", override])
    assert result.exit_code == ExitCode.INVALID_CONFIG
    assert f"--set {override}: this config has no callbacks" in result.stdout
    assert "set the whole list instead" in result.stdout
    assert "expected a list" not in result.stdout


def test_set_of_a_new_mapping_names_the_set_in_the_error(write_config):
    result = CliRunner().invoke(
        cli, ["validate", str(write_config(MINIMAL)), "--set", "fit.foo.bar=1"]
    )
    assert result.exit_code == ExitCode.INVALID_CONFIG
    assert "--set fit.foo.bar=1: fit.foo: unknown key" in result.stdout


def test_class_weight_keys_written_as_strings_are_class_indexes(write_config):
    text = MINIMAL.replace("fit: {", "fit: {class_weight: {'0': 2.0, 2: 1.5}, ")
    loaded = load_config(write_config(text))
    assert loaded.experiment.fit.class_weight == {0: 2.0, 2: 1.5}


@pytest.mark.parametrize("key", ["a", "-1", "1.5"])
def test_class_weight_keys_that_are_not_indexes_are_refused(write_config, key):
    text = MINIMAL.replace("fit: {", f"fit: {{class_weight: {{'{key}': 2.0}}, ")
    errors, _ = problems_of(write_config(text))
    (problem,) = errors
    assert problem.where == "fit.class_weight"
    assert f"got {key!r}" in problem.message


def test_a_legacy_h5_whole_model_checkpoint_is_a_warning(write_config):
    text = MINIMAL + "callbacks:\n  - {type: ModelCheckpoint, filepath: best.h5}\n"
    errors, warnings = problems_of(write_config(text))
    assert errors == []
    assert any("legacy HDF5" in w for w in warnings), warnings


def test_a_weights_name_for_a_whole_model_is_still_refused(write_config):
    text = MINIMAL + "callbacks:\n  - {type: ModelCheckpoint, filepath: m.weights.h5}\n"
    errors, _ = problems_of(write_config(text))
    (problem,) = errors
    assert "set save_weights_only: true" in problem.message


@pytest.mark.keras
@pytest.mark.slow
def test_a_legacy_h5_checkpoint_trains_and_loads_back(tmp_path, write_config):
    import numpy as np

    from cbrun.api import train

    text = MINIMAL + "callbacks:\n  - {type: ModelCheckpoint, filepath: best.h5}\n"
    result = train(write_config(text), runs_dir=tmp_path / "runs", verbose=False)
    assert result.status == "completed"
    import keras

    saved = keras.saving.load_model(result.run_dir / "best.h5", compile=False)
    final = keras.saving.load_model(result.run_dir / "model.keras", compile=False)
    x = np.random.default_rng(0).normal(size=(4, 4)).astype("float32")
    # The last epoch's checkpoint is the final model.
    np.testing.assert_allclose(saved.predict(x, verbose=0), final.predict(x, verbose=0))


SLOW_WEIGHTED = """\
name: weighted
data: {source: sklearn, name: digits, scale: 0.0625}
model:
  layers:
    - {type: Dense, units: 64, activation: relu}
    - {type: Dense, units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit:
  epochs: 8
  batch_size: 4
  verbose: 0
  class_weight: {0: 2.0, 3: 1.5}
"""


@pytest.mark.keras
@pytest.mark.slow
def test_resume_of_a_run_with_class_weight(tmp_path, write_config):
    path = write_config(SLOW_WEIGHTED)
    runs_dir = tmp_path / "runs"
    process = start_cbrun("train", str(path), "--runs-dir", str(runs_dir))
    run_dir = wait_for_epochs(runs_dir, 1, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert "'0': 2.0" in (run_dir / "config.yaml").read_text()

    resumed = start_cbrun("train", "--resume", str(run_dir))
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == ExitCode.OK, err
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["epochs_run"] == 8


FETCHER = """\
import keras


def _fetch():
    # What keras.applications do for weights="imagenet", from a closed port.
    keras.utils.get_file(
        "resnet_weights_notop.h5",
        origin="http://127.0.0.1:{port}/models/resnet_weights_notop.h5",
        cache_subdir="models",
    )


def build():
    _fetch()


class Pretrained(keras.layers.Dense):
    def __init__(self, **kwargs):
        _fetch()
        super().__init__(**kwargs)
"""


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.keras
@pytest.mark.parametrize(
    ("model", "where"),
    [
        ("model: {build: fetch_weights_mod:build}", "model.build"),
        (
            "model: {layers: [{type: fetch_weights_mod:Pretrained, units: 3}]}",
            "model.layers[0] (fetch_weights_mod:Pretrained)",
        ),
    ],
)
def test_weights_that_cannot_be_downloaded_exit_1_naming_the_file(
    tmp_path, write_config, model, where
):
    (tmp_path / "fetch_weights_mod.py").write_text(
        FETCHER.replace("{port}", str(closed_port()))
    )
    text = MINIMAL.replace(
        "model:\n  layers:\n    - {type: Dense, units: 3, activation: softmax}",
        model,
    )
    path = write_config(text)
    for args in (
        ["train", str(path), "--runs-dir", str(tmp_path)],
        ["validate", "--deep", str(path)],
    ):
        result = CliRunner().invoke(cli, args)
        output = result.stdout + result.stderr
        assert result.exit_code == ExitCode.INVALID_CONFIG, output
        assert f"{where}: downloading resnet_weights_notop.h5 failed" in output
        assert "models" in output and "Traceback" not in output


@pytest.mark.keras
def test_a_relative_model_path_is_read_from_the_config_folder(tmp_path, monkeypatch):
    import keras

    folder = tmp_path / "project"
    folder.mkdir()
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="softmax")]
    )
    model.save(folder / "start.keras")
    config = folder / "config.yaml"
    config.write_text(
        MINIMAL.replace(
            "model:\n  layers:\n    - {type: Dense, units: 3, activation: softmax}",
            "model: {path: start.keras}",
        )
    )
    monkeypatch.chdir(tmp_path)  # Not the config's folder.
    result = CliRunner().invoke(cli, ["validate", "--deep", str(config)])
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr


@pytest.mark.keras
@pytest.mark.slow
def test_a_runs_config_yaml_says_where_its_relative_paths_start(tmp_path):
    import numpy as np

    from cbrun.api import train

    project = tmp_path / "project"
    project.mkdir()
    rng = np.random.default_rng(0)
    np.savez(
        project / "d.npz",
        x_train=rng.normal(size=(40, 4)).astype("float32"),
        y_train=rng.integers(0, 3, 40),
    )
    config = project / "config.yaml"
    config.write_text(
        MINIMAL.replace(
            "data: {source: sklearn, name: iris}",
            "data: {source: npz, path: d.npz, test_size: 0.25}",
        )
    )
    result = train(config, runs_dir=tmp_path / "runs", verbose=False)
    resolved = result.run_dir / "config.yaml"
    assert resolved.read_text().splitlines()[1] == (
        f"# Relative paths are relative to {project.resolve()}"
    )
    outcome = CliRunner().invoke(cli, ["validate", "--deep", str(resolved)])
    assert outcome.exit_code == ExitCode.INVALID_CONFIG
    assert "this is a run's config.yaml, whose relative paths start in the" in (
        outcome.stdout
    )
