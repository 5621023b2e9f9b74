"""Follow-ups of a user-eyed review of the issue 14 changes (since e91e616).

Each test is a mistake a new Keras user makes around one of those changes:
a ``{function: ...}`` value where compile takes an import path, a mapping
where a layer takes names, and the like. Validate is run through the CLI
without TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cbrun.cli import cli

GRAPH = """\
seed: 1
data: {source: sklearn, name: iris}
model:
  inputs: [{name: x}]
  layers:
    - {name: a, type: Dense, units: 3, activation: softmax, inputs: INPUTS}
  outputs: a
compile: {COMPILE}
fit: {epochs: 1}
"""


def validate(folder: Path, text: str) -> Result:
    """``cbrun validate`` of a config written from ``text``."""
    config = folder / "c.yaml"
    config.write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, ["validate", str(config)])


def problem_line(result: Result, key: str) -> str:
    """The output line of the problem at config key ``key``."""
    lines = [line for line in result.output.splitlines() if f" {key}: " in line]
    assert lines, result.output
    return lines[0]


def graph(inputs: str = "x", compile_: str = "loss: mse") -> str:
    return GRAPH.replace("INPUTS", inputs).replace("COMPILE", compile_)


# --- a value no kind of a name-or-list or loss union takes -------------------


def test_a_mapping_as_layer_inputs_is_not_called_a_data_source(
    tmp_path: Path,
) -> None:
    result = validate(tmp_path, graph(inputs="{x: x}"))
    assert result.exit_code == 1
    line = problem_line(result, "model.layers[0] (Dense).inputs")
    assert "source" not in line
    assert line.endswith("expected a name or a list of names, got a mapping")


def test_a_loss_object_without_type_says_what_a_loss_is(tmp_path: Path) -> None:
    result = validate(tmp_path, graph(compile_="loss: {a: {delta: 2.0}}"))
    assert result.exit_code == 1
    line = problem_line(result, "compile.loss.a")
    assert "source" not in line
    assert line.endswith(
        "missing `type`: a loss is a name (mse) or an object with its class, "
        "e.g. {type: Huber, delta: 2.0}"
    )


# --- {function: ...} in compile, which takes import paths -------------------


@pytest.mark.parametrize(
    ("compile_", "key"),
    [
        ("loss: {function: mylib.fns:my_loss}", "compile.loss"),
        ("loss: {a: {function: mylib.fns:my_loss}}", "compile.loss.a"),
        ("loss: mse, metrics: {function: mylib.fns:my_loss}", "compile.metrics"),
        (
            "loss: mse, metrics: [{function: mylib.fns:my_loss}]",
            "compile.metrics[0].type",
        ),
    ],
)
def test_a_function_value_in_compile_names_the_import_path_to_write(
    tmp_path: Path, compile_: str, key: str
) -> None:
    result = validate(tmp_path, graph(compile_=compile_))
    assert result.exit_code == 1
    line = problem_line(result, key)
    assert "is not an output" not in line
    assert line.endswith(
        "{function: ...} is not taken in compile: write your own loss, metric or "
        "optimizer as its import path, mylib.fns:my_loss instead of "
        "{function: mylib.fns:my_loss}"
    )


def test_the_import_path_it_suggests_validates(tmp_path: Path) -> None:
    (tmp_path / "mylib.py").write_text(
        "import keras\n\n\ndef my_loss(y_true, y_pred):\n"
        "    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)\n",
        encoding="utf-8",
    )
    result = validate(tmp_path, graph(compile_="loss: mylib:my_loss"))
    assert result.exit_code == 0, result.output


def test_a_function_value_inside_the_optimizer_keeps_its_own_advice(
    tmp_path: Path,
) -> None:
    optimizer = "loss: mse, optimizer: {type: Adam, learning_rate: {function: s:lr}}"
    result = validate(tmp_path, graph(compile_=optimizer))
    line = problem_line(result, "compile.optimizer.learning_rate.type")
    assert "{function: ...} is not taken here" in line
    assert "import path" not in line  # learning_rate takes no import path
