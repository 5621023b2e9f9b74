"""Model-side follow-ups: weighted_metrics by output, user functions in
model.keras, damaged application weights, adapting under ``--smoke``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

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
