"""Keras applications as layers; their weights offline; ``{function: ...}`` values."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from cbrun.cli import cli as main
from tests.conftest import REPO

CBRUN = str(REPO / ".venv" / "bin" / "cbrun")

TRANSFER = """\
name: base
data: {source: synthetic, samples: 48, shape: [32, 32, 3], classes: 2}
model:
  inputs: [{name: image}]
  layers:
    - {name: base, type: MobileNetV2, alpha: 0.35, include_top: false,
       pooling: avg, WEIGHTS trainable: false, call: {training: false}}
    - {name: out, type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, batch_size: 16}
"""


def _write(tmp_path: Path, weights: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(TRANSFER.replace("WEIGHTS", weights), encoding="utf-8")
    return path


def test_an_application_is_a_known_layer_and_allowed_without_user_code(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, "weights: null,")
    result = CliRunner().invoke(main, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 0, result.output


def test_application_weights_from_a_file_are_refused_without_user_code(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, "weights: my_weights.h5,")
    result = CliRunner().invoke(main, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 1
    assert "MobileNetV2.weights 'my_weights.h5' is a file" in result.output
    assert ":7:" in result.output


def test_a_misspelt_application(tmp_path: Path) -> None:
    path = _write(tmp_path, "weights: null,").read_text()
    (tmp_path / "c.yaml").write_text(path.replace("MobileNetV2", "MobilNetV2"))
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "c.yaml")])
    assert result.exit_code == 1
    assert "did you mean 'MobileNetV2'?" in result.output


def _offline_env(home: Path) -> dict[str, str]:
    # A proxy nobody listens on: any download fails at once, online or not.
    env = dict(os.environ)
    env.update(
        KERAS_HOME=str(home),
        https_proxy="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
    )
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


@pytest.mark.keras
@pytest.mark.slow
def test_imagenet_weights_offline_name_the_file_and_folder(tmp_path: Path) -> None:
    home = tmp_path / "keras_home"
    home.mkdir()
    path = _write(tmp_path, "weights: imagenet,")
    env = _offline_env(home)
    file = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    for command in (
        ["train", str(path), "--runs-dir", str(tmp_path / "runs")],
        ["validate", "--deep", str(path)],
    ):
        done = subprocess.run(
            [CBRUN, *command], env=env, capture_output=True, text=True, timeout=120
        )
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "keras.applications.MobileNetV2 weights 'imagenet' are not in the" in (
            output
        )
        assert f"Put this file in {home.resolve() / 'models'}" in output
        assert f"{file}: missing; download https://" in output
        assert "config.yaml:7:" in output
        assert "Traceback" not in output


# {function: ...} values and plain import paths where a function goes.

CALLBACKS = """\
import keras


def halve(epoch, lr):
    return lr / 2


class Schedule(keras.callbacks.Callback):
    def __init__(self, schedule=None):
        super().__init__()
        self.schedule = schedule
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(self.schedule(epoch, 1.0))
"""


def _callback_config(tmp_path: Path, schedule: str) -> Path:
    (tmp_path / "my_hooks.py").write_text(CALLBACKS, encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            data: {{source: synthetic, samples: 32, shape: [4], classes: 2}}
            model:
              layers: [{{type: Dense, units: 2, activation: softmax}}]
            compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
            fit: {{epochs: 2}}
            callbacks:
              - type: my_hooks:Schedule
                schedule: {schedule}
            """
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.keras
def test_a_callbacks_function_as_a_plain_string_fails_validate_deep_at_its_line(
    tmp_path: Path,
) -> None:
    path = _callback_config(tmp_path, "my_hooks:halve")
    result = CliRunner().invoke(main, ["validate", "--deep", str(path)])
    assert result.exit_code == 1, result.output
    assert "config.yaml:8:" in result.output
    assert "write `schedule: {function: my_hooks:halve}`" in result.output


@pytest.mark.keras
def test_a_callbacks_function_value_is_imported(tmp_path: Path) -> None:
    from cbrun.config.loading import load_config
    from cbrun.keras.callbacks import BuildContext, build_callbacks
    from cbrun.keras.imports import add_import_root

    path = _callback_config(tmp_path, "{function: my_hooks:halve}")
    result = CliRunner().invoke(main, ["validate", "--deep", str(path)])
    assert result.exit_code == 0, result.output
    add_import_root(tmp_path)
    loaded = load_config(path)
    ((_, callback),) = build_callbacks(
        list(loaded.experiment.callbacks), BuildContext(tmp_path, 32, 32)
    )
    assert callback.schedule(3, 1.0) == 0.5


def test_a_function_value_is_refused_without_user_code(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            data: {source: synthetic, samples: 32, shape: [4], classes: 2}
            model:
              layers:
                - {type: Dense, units: 2, kernel_initializer: {function: a.b:c}}
            compile: {loss: mse}
            """
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 1
    assert "names user code (a.b:c)" in result.output
    assert ":4:" in result.output


@pytest.mark.keras
@pytest.mark.slow
def test_cached_imagenet_weights_load_offline_into_a_frozen_base(
    tmp_path: Path,
) -> None:
    import h5py
    import keras
    import numpy as np
    from keras.src.legacy.saving import legacy_h5_format

    # A stand-in for the real file (same name, layout and layers): Keras
    # does not hash-check MobileNetV2's weights, so it loads what is cached.
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    cached = (
        home
        / "models"
        / ("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
    )
    keras.utils.set_random_seed(7)
    source = keras.applications.MobileNetV2(
        alpha=0.35, weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    with h5py.File(cached, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, source)
    path = _write(tmp_path, "weights: imagenet,")
    runs = tmp_path / "runs"
    done = subprocess.run(
        [CBRUN, "train", str(path), "--runs-dir", str(runs)],
        env=_offline_env(home),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (saved,) = runs.glob("base/*/model.keras")
    model = keras.saving.load_model(saved, compile=False)
    base = model.get_layer("base")
    assert isinstance(base, keras.Model)
    assert base.input_shape == (None, 32, 32, 3)  # from the data
    assert base.trainable is False
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"out"}
    # Frozen: the base still holds exactly the cached weights after training.
    for got, want in zip(base.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_plain_validate_warns_of_an_import_path_as_a_callbacks_function(
    tmp_path: Path,
) -> None:
    path = _callback_config(tmp_path, "my_hooks:halve")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "config.yaml:8:" in result.output
    assert "warning: 'my_hooks:halve' is passed to my_hooks:Schedule as a" in (
        result.output
    )
