"""Model-side follow-ups: weighted_metrics by output, user functions in
model.keras, damaged application weights, adapting under ``--smoke``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cbrun.config.loading import load_config
from cbrun.errors import ConfigError, Problem

# --- compile.weighted_metrics by output name ---------------------------------

TWO_OUTPUTS = """\
data: {source: function, function: wdata:load}
model:
  inputs: [{name: pixels}]
  layers:
    - {name: trunk, type: Dense, units: 16, activation: relu, inputs: pixels}
    - {name: cls, type: Dense, units: 3, activation: softmax, inputs: trunk}
    - {name: reg, type: Dense, units: 1, inputs: trunk}
  outputs: {digit: cls, ink: reg}
"""

# Sample weights by output: a tf.data pipeline of (x, y, sample_weight), the
# one way to weigh the samples of a model with several outputs (Keras refuses
# class_weight there).
WDATA = """\
import numpy as np
import tensorflow as tf


def load():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 8)).astype("float32")
    digit = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")
    ink = x[:, :1] * 2.0
    weight = np.where(digit == 0, 0.1, 5.0).astype("float32")
    def pipe(rows):
        return tf.data.Dataset.from_tensor_slices(
            (x[rows], {"digit": digit[rows], "ink": ink[rows]},
             {"digit": weight[rows], "ink": weight[rows]})
        ).batch(32)
    return {"train": pipe(slice(0, 200)), "validation": pipe(slice(200, 240))}
"""


def _problems(tmp_path: Path, rest: str) -> list[Problem]:
    path = tmp_path / "config.yaml"
    path.write_text(TWO_OUTPUTS + textwrap.dedent(rest), encoding="utf-8")
    try:
        return load_config(path).warnings
    except ConfigError as exc:
        return list(exc.problems)


def test_weighted_metrics_by_output_validate(tmp_path: Path) -> None:
    found = _problems(
        tmp_path,
        """\
        compile:
          loss: {digit: sparse_categorical_crossentropy, ink: mse}
          metrics: {digit: [accuracy]}
          weighted_metrics: {digit: [accuracy], ink: mae}
        fit: {validation_split: 0.1}
        callbacks:
          - {type: EarlyStopping, monitor: val_digit_weighted_accuracy, patience: 0}
          - {type: ReduceLROnPlateau, monitor: ink_mae, patience: 0}
        """,
    )
    assert found == []


def test_weighted_metrics_key_that_is_no_output(tmp_path: Path) -> None:
    found = _problems(
        tmp_path,
        """\
        compile:
          loss: {digit: sparse_categorical_crossentropy, ink: mse}
          weighted_metrics:
            digit: [accuracy]
            inc: [mae]
        """,
    )
    (problem,) = [p for p in found if p.severity == "error"]
    assert problem.where == "compile.weighted_metrics.inc"
    assert problem.line == 13
    assert "'inc' is not an output of the model" in problem.message
    assert "did you mean 'ink'?" in problem.message


def test_weighted_metrics_unknown_metric_in_mapping(tmp_path: Path) -> None:
    found = _problems(
        tmp_path,
        """\
        compile:
          loss: {digit: sparse_categorical_crossentropy, ink: mse}
          weighted_metrics: {digit: [acuracy]}
        """,
    )
    (problem,) = found
    assert problem.where == "compile.weighted_metrics.digit[0]"
    assert "unknown metric 'acuracy'" in problem.message


def test_a_flat_weighted_metrics_list_for_two_outputs(tmp_path: Path) -> None:
    found = _problems(
        tmp_path,
        "compile: {loss: mse, weighted_metrics: [mae]}\n",
    )
    assert any(
        "give weighted_metrics by output name, e.g. weighted_metrics: "
        "{digit: [mae]}" in p.message
        for p in found
    )


@pytest.fixture(scope="module")
def weighted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_train_runs import train_path

    tmp_path = tmp_path_factory.mktemp("weighted")
    (tmp_path / "wdata.py").write_text(WDATA, encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(
        TWO_OUTPUTS
        + textwrap.dedent(
            """\
            seed: 1
            compile:
              loss: {digit: sparse_categorical_crossentropy, ink: mse}
              metrics: {digit: [accuracy], ink: [mae]}
              weighted_metrics: {digit: [accuracy], ink: mae}
            fit: {epochs: 2, verbose: 0}
            """
        ),
        encoding="utf-8",
    )
    result = train_path(path, tmp_path / "runs")
    return Path(result.run_dir)


@pytest.mark.keras
def test_weighted_metrics_by_output_are_logged(weighted_run: Path) -> None:
    history = json.loads((weighted_run / "history.json").read_text())
    for name in ("digit_accuracy", "digit_weighted_accuracy", "ink_weighted_mae"):
        assert len(history[name]) == 2
        assert len(history[f"val_{name}"]) == 2
    # Weighed by the sample weights (0.1 for class 0, 5 for the others), the
    # accuracy differs from the plain one.
    assert history["digit_weighted_accuracy"] != history["digit_accuracy"]
    assert history["ink_weighted_mae"] != history["ink_mae"]


# --- model.keras with the user's functions ------------------------------------

UCODE = """\
import keras
import numpy as np


def standardize(x):
    return (x - 4.0) / 3.0


def swishy(x):
    return x * keras.ops.sigmoid(x)


def xent(y_true, y_pred):
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


def load():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 8, size=(160, 6)).astype("float32")
    y = (x[:, 0] > x[:, 1]).astype("int64")
    return {"x_train": x[:120], "y_train": y[:120], "x_test": x[120:],
            "y_test": y[120:]}
"""

UCODE_CONFIG = """\
seed: 2
data: {source: function, function: ucode:load}
model:
  layers:
    - {type: Lambda, function: {function: ucode:standardize}}
    - {type: Dense, units: 8, activation: {function: ucode:swishy}}
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: ucode:xent}
fit: {epochs: 2, verbose: 0}
"""


@pytest.fixture(scope="module")
def code_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    from cbrun.training.lifecycle import train

    tmp_path = tmp_path_factory.mktemp("ucode")
    (tmp_path / "ucode.py").write_text(UCODE, encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(UCODE_CONFIG, encoding="utf-8")
    lines: list[str] = []
    result = train(
        load_config(path),
        tmp_path / "runs",
        command=["cbrun", "train", str(path)],
        echo=lines.append,
    )
    return Path(result.run_dir), lines


def _in_fresh_python(code: str, folder: Path) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(folder), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.keras
def test_the_printed_line_loads_model_keras_in_a_fresh_process(
    code_run: tuple[Path, list[str]],
) -> None:
    run_dir, lines = code_run
    (say, call) = [
        line for line in lines if "custom_objects" in line or "your code" in line
    ]
    assert "ucode:standardize, ucode:swishy, ucode:xent" in say
    assert "'standardize': ucode.standardize" in call
    assert "'swishy': ucode.swishy" in call
    assert "'xent': ucode.xent" in call  # the compiled loss, kept in the file
    # The line as printed, then the test split's loss: the run's own number.
    code = call.strip() + textwrap.dedent(
        """
        import json
        data = ucode.load()
        out = model.evaluate(data["x_test"], data["y_test"], verbose=0,
                             return_dict=True)
        print(json.dumps(out))
        """
    )
    loaded = json.loads(_in_fresh_python(code, run_dir.parent.parent.parent))
    record = json.loads((run_dir / "run.json").read_text())
    assert loaded["loss"] == pytest.approx(record["test_metrics"]["loss"], rel=1e-5)


@pytest.mark.keras
def test_a_saved_model_with_user_code_as_model_path_says_what_it_needs(
    code_run: tuple[Path, list[str]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from cbrun.cli import cli

    run_dir, _ = code_run
    path = tmp_path / "again.yaml"
    path.write_text(
        UCODE_CONFIG.split("model:")[0]
        + f"model: {{path: {run_dir / 'model.keras'}}}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n",
        encoding="utf-8",
    )
    (tmp_path / "ucode.py").write_text(UCODE, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["train", str(path), "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 1
    assert "holds your code (standardize)" in result.output
    assert "custom_objects={'standardize': ...}" in result.output
    assert "Traceback" not in result.output


# --- a damaged cached weights file of a Keras application ---------------------

APPLICATION = """\
data: {source: synthetic, samples: 32, shape: [32, 32, 3], classes: 2}
model:
  inputs: [{name: image}]
  layers:
    - {name: base, type: APP, include_top: false, pooling: avg,
       weights: imagenet, trainable: false}
    - {name: out, type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, batch_size: 16}
"""

# Run in a fresh process: Keras reads KERAS_HOME when it is imported. The
# proxy nobody listens on makes any download fail at once.
DAMAGED_RUN = """\
import json, sys
from click.testing import CliRunner
from cbrun.cli import cli
out = {}
for key, args in json.loads(sys.argv[1]).items():
    done = CliRunner().invoke(cli, args)
    out[key] = [done.exit_code, done.output]
print(json.dumps(out))
"""


@pytest.mark.keras
@pytest.mark.slow
def test_a_damaged_cached_weights_file_is_named_with_its_fix(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    # MobileNetV2's file has no hash in Keras: h5py meets the damage.
    mobile = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    # VGG16's has one: Keras finds the damage, removes the file, downloads.
    vgg = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    for name in (mobile, vgg):
        (home / "models" / name).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 500)
    for app in ("MobileNetV2", "VGG16"):
        (tmp_path / f"{app}.yaml").write_text(
            APPLICATION.replace("APP", app), encoding="utf-8"
        )
    runs = str(tmp_path / "runs")
    commands = {
        "train": ["train", str(tmp_path / "MobileNetV2.yaml"), "--runs-dir", runs],
        "deep": ["validate", "--deep", str(tmp_path / "MobileNetV2.yaml")],
        "vgg": ["validate", "--deep", str(tmp_path / "VGG16.yaml")],
    }
    env = {**os.environ, "KERAS_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for proxy in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        env[proxy] = "http://127.0.0.1:9"
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    done = subprocess.run(
        [sys.executable, "-c", DAMAGED_RUN, json.dumps(commands)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    cached = (home / "models").resolve()
    for key in ("train", "deep"):
        code, output = found[key]
        assert code == 1, output
        assert "MobileNetV2.yaml:6:" in output  # the layer's weights line
        assert f"the cached file {cached / mobile} is damaged" in output
        assert "Delete it and put a good copy there: download https://" in output
        assert f"/{mobile} " in output  # the URL ends with the file's name
        assert "Traceback" not in output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    code, output = found["vgg"]
    assert code == 1, output
    assert f"the cached file {cached / vgg} is damaged (its hash" in output
    assert "download https://storage.googleapis.com/" in output
    assert "Traceback" not in output


# --- --smoke adapts on the batches it trains on --------------------------------

ADAPT_DATA = """\
import numpy as np
import tensorflow as tf


def arrays():
    x = np.arange(96, dtype="float32").reshape(96, 1)
    y = (x[:, 0] % 2).astype("int64")
    return {"x_train": x, "y_train": y}


def stream():
    data = arrays()
    pairs = (data["x_train"], data["y_train"])
    return {"train": tf.data.Dataset.from_tensor_slices(pairs).batch(8)}
"""

ADAPT_CONFIG = """\
seed: 3
data: {source: function, function: adapt_data:SOURCE}
model:
  layers:
    - {name: norm, type: Normalization, adapt: true}
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, batch_size: 8, verbose: 0, validation_split: SPLIT}
"""


def _adapted_mean(
    tmp_path: Path, source: str, split: float, smoke: bool
) -> tuple[float, list[str]]:
    import keras

    from cbrun.training.lifecycle import train

    folder = tmp_path / f"{source}-{smoke}"
    folder.mkdir()
    (folder / "adapt_data.py").write_text(ADAPT_DATA, encoding="utf-8")
    path = folder / "config.yaml"
    text = ADAPT_CONFIG.replace("SOURCE", source).replace("SPLIT", str(split))
    path.write_text(text, encoding="utf-8")
    lines: list[str] = []
    result = train(
        load_config(path),
        folder / "runs",
        command=["cbrun", "train", str(path)],
        echo=lines.append,
        smoke=smoke,
    )
    model = keras.saving.load_model(Path(result.run_dir) / "model.keras")
    return float(model.get_layer("norm").mean.numpy().ravel()[0]), lines


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("adapt")
    return {
        f"{source}-{smoke}": _adapted_mean(tmp_path, source, split, smoke)
        for source, split in (("arrays", 0.2), ("stream", 0.0))
        for smoke in (False, True)
    }


@pytest.mark.keras
def test_a_full_run_adapts_on_the_whole_training_split(adapted: dict) -> None:
    # arange(96) with validation_split 0.2: Keras trains on the first 76.
    mean, lines = adapted["arrays-False"]
    assert mean == pytest.approx(37.5)
    assert "adapted norm (Normalization) on 76 training samples" in lines
    mean, lines = adapted["stream-False"]
    assert mean == pytest.approx(47.5)
    assert "adapted norm (Normalization) on 96 training samples" in lines


@pytest.mark.keras
def test_smoke_adapts_on_the_batches_it_trains_on(adapted: dict) -> None:
    # Two batches of 8: the first 16 training samples.
    for key in ("arrays-True", "stream-True"):
        mean, lines = adapted[key]
        assert mean == pytest.approx(7.5), key
        assert "adapted norm (Normalization) on 16 training samples" in lines


@pytest.mark.keras
def test_a_damaged_weights_file_of_the_config_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from cbrun.cli import cli

    (tmp_path / "base.h5").write_bytes(b"not an HDF5 file" * 40)
    path = tmp_path / "config.yaml"
    path.write_text(
        APPLICATION.replace("APP", "MobileNetV2").replace(
            "weights: imagenet", "weights: base.h5"
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # the config given by a relative path
    result = CliRunner().invoke(cli, ["validate", "--deep", "config.yaml"])
    assert result.exit_code == 1, result.output
    assert "config.yaml:6:" in result.output
    assert "weights file base.h5 cannot be read, it may be damaged" in result.output
    assert "Traceback" not in result.output
