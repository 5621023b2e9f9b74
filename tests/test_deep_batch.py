"""``cbrun validate --deep`` runs one batch through the model and the loss.

Before, a two-input model fed one array and ``categorical_crossentropy`` with
integer labels both passed ``--deep`` and failed only in training. Now each
fails in ``--deep`` at the config place (``model.build``/``model.inputs``,
``compile.loss``) with Keras's informative line; nothing is updated (the
weights and the optimizer's step count are as built).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.config.loading import load_config
from cbrun.training.deep import deep_check

pytestmark = pytest.mark.keras

TWO_INPUTS = """\
import keras


def build():
    a = keras.Input(shape=(30,), name="a")
    b = keras.Input(shape=(30,), name="b")
    both = keras.layers.Concatenate()([a, b])
    return keras.Model([a, b], keras.layers.Dense(2, activation="softmax")(both))
"""

MINUS_ONE = """\
import numpy as np
import tensorflow as tf


def load():
    x = np.linspace(-1, 1, 40, dtype="float32").reshape(-1, 1)
    y = np.where(x[:, 0] > 0, 1, -1)
    return {"train": tf.data.Dataset.from_tensor_slices((x, y)).batch(8)}
"""


def deep(folder: Path, text: str) -> list[str]:
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return [p.format() for p in deep_check(load_config(path, display=path.name))]


def test_a_two_input_model_fed_one_array_fails_at_the_model(tmp_path):
    (tmp_path / "two_inputs.py").write_text(TWO_INPUTS, encoding="utf-8")
    (problem,) = deep(
        tmp_path,
        """\
        data: {source: sklearn, name: breast_cancer}
        model: {build: two_inputs:build}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        """,
    )
    assert problem.startswith(
        "config.yaml:2:16: model.build: one batch of the data ((32, 30) float32) "
        "does not go through the model: "
    )
    assert "expects 2 named input(s)" in problem


def test_categorical_crossentropy_with_integer_labels_fails_at_the_loss(tmp_path):
    (problem,) = deep(
        tmp_path,
        """\
        data: {source: sklearn, name: breast_cancer}
        model:
          layers:
            - {type: Dense, units: 2, activation: softmax}
        compile: {optimizer: adam, loss: categorical_crossentropy}
        """,
    )
    assert problem.startswith(
        "config.yaml:5:34: compile.loss: the loss cannot take one batch of labels "
        "(32,) int64 with the model's outputs (32, 2) float32: "
    )
    assert "`target` and `output` must have the same rank" in problem
    assert problem.endswith("data.labels: {one_hot: true}")


def test_one_hot_labels_with_the_sparse_loss_fail_at_the_loss(tmp_path):
    (problem,) = deep(
        tmp_path,
        """\
        data: {source: sklearn, name: iris, labels: {one_hot: true}}
        model:
          layers:
            - {type: Dense, units: 3, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        """,
    )
    assert "compile.loss: the loss cannot take one batch of labels (32, 3)" in problem
    assert "must have rank (ndim) `target.ndim - 1`" in problem
    assert "one-hot labels go with categorical_crossentropy" in problem


def test_labels_outside_the_classes_fail_with_keras_line_not_graph_noise(tmp_path):
    (tmp_path / "minus_one.py").write_text(MINUS_ONE, encoding="utf-8")
    (problem,) = deep(
        tmp_path,
        """\
        data: {source: function, function: minus_one:load}
        model:
          layers:
            - {type: Dense, units: 2, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        """,
    )
    assert "compile.loss: " in problem
    assert "label value of -1 which is outside the valid range of [0, 2)" in problem
    assert "Graph execution error" not in problem


def test_a_good_config_with_adapt_passes_and_one_batch_updates_nothing(tmp_path):
    config = """\
        data: {source: sklearn, name: iris}
        model:
          layers:
            - {type: Normalization, adapt: true}
            - {type: Dense, units: 3, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy,
                  metrics: [accuracy]}
        fit: {validation_split: 0.2}
        """
    assert deep(tmp_path, config) == []

    from cbrun.training.assemble import compiled_model, load_data_for
    from cbrun.training.deep import one_batch

    loaded = load_config(tmp_path / "config.yaml")
    data = load_data_for(loaded.experiment, loaded.base_dir)
    model, _ = compiled_model(
        loaded.experiment, data, scoped=False, base_dir=loaded.base_dir
    )
    model.optimizer.build(model.trainable_variables)
    before = [np.array(w) for w in model.get_weights()]
    one_batch(loaded.experiment, model, data, 32)
    after = model.get_weights()
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
    assert int(model.optimizer.iterations) == 0


def test_cli_validate_deep_exits_1_with_the_place(tmp_path):
    path = tmp_path / "cce.yaml"
    path.write_text(
        "data: {source: sklearn, name: breast_cancer}\n"
        "model: {layers: [{type: Dense, units: 2, activation: softmax}]}\n"
        "compile: {optimizer: adam, loss: categorical_crossentropy}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
    assert result.exit_code == 1, result.output
    assert "compile.loss: the loss cannot take one batch" in result.output
    assert "Traceback" not in result.output


def test_text_fed_to_a_dense_layer_names_the_layer_and_the_usual_fix(tmp_path):
    from tests.conftest import CONFIGS

    (problem,) = deep(
        tmp_path,
        f"""\
        data: {{source: text, path: {CONFIGS / "data" / "text"}}}
        model:
          layers:
            - {{type: Flatten}}
            - {{type: Dense, units: 3, activation: softmax}}
        compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
        """,
    )
    assert "Dense.call(): dtype='string' is not a valid dtype" in problem
    assert "need a TextVectorization or StringLookup layer" in problem
    assert problem.startswith("config.yaml:3:")  # model: the Sequential input
