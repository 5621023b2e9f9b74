"""Several outputs: loss, metrics and loss_weights by output name; per-output logs."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from cbrun.config.loading import load_config
from cbrun.errors import ConfigError, Problem
from tests.conftest import CONFIGS

MODEL = """\
data: {source: sklearn, name: digits, scale: 0.0625}
model:
  layers:
    - {name: trunk, type: Dense, units: 16, activation: relu}
    - {name: cls, type: Dense, units: 10, activation: softmax}
    - {name: reg, type: Dense, units: 1, inputs: trunk}
  outputs: {digit: cls, ink: reg}
"""


def problems(tmp_path: Path, rest: str, model: str = MODEL) -> list[Problem]:
    path = tmp_path / "config.yaml"
    path.write_text(model + textwrap.dedent(rest), encoding="utf-8")
    try:
        return load_config(path).warnings
    except ConfigError as exc:
        return list(exc.problems)


def test_mappings_by_output_validate(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        compile:
          loss: {digit: sparse_categorical_crossentropy, ink: {type: Huber, delta: 2.0}}
          metrics: {digit: [accuracy], ink: mae}
          loss_weights: {digit: 1.0, ink: 0.5}
        fit: {validation_split: 0.1}
        callbacks:
          - {type: EarlyStopping, monitor: val_digit_accuracy, patience: 0}
          - {type: ReduceLROnPlateau, monitor: ink_loss, patience: 0}
        """,
    )
    assert found == []


def test_a_mapping_key_that_is_no_output(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        compile:
          loss: {digit: sparse_categorical_crossentropy, inc: mse}
          metrics: {digits: [accuracy]}
          loss_weights: {digit: 1.0, ink: 0.5, typo: 1.0}
        """,
    )
    messages = {p.where: p.message for p in found if p.severity == "error"}
    assert "'inc' is not an output of the model" in messages["compile.loss.inc"]
    assert "did you mean 'ink'?" in messages["compile.loss.inc"]
    assert "did you mean 'digit'?" in messages["compile.metrics.digits"]
    assert "the model's outputs are digit, ink" in messages["compile.loss_weights.typo"]
    (line,) = {p.line for p in found if p.where == "compile.loss.inc"}
    assert line == 9


def test_a_loss_object_without_type_is_read_as_a_mapping(tmp_path: Path) -> None:
    # `loss: {typ: Huber}` used to say "missing 'type'"; now it is a mapping
    # whose key is no output, with the fix suggested.
    found = problems(tmp_path, "compile: {loss: {typ: Huber}}\n")
    (problem,) = [p for p in found if p.where == "compile.loss.typ"]
    assert "did you mean 'type'?" in problem.message


def test_unknown_loss_in_a_mapping_is_at_its_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "compile:\n  loss:\n    digit: sparse_categorical_crossentropy\n"
        "    ink: msee\n",
    )
    (problem,) = found
    assert problem.line == 11
    assert "unknown loss 'msee'" in problem.message


def test_a_flat_metrics_list_for_several_outputs(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "compile: {loss: mse, metrics: [mae], loss_weights: [1.0]}\n",
    )
    messages = [p.message for p in found]
    assert any(
        "give metrics by output name, e.g. metrics: {digit: [mae]}" in m
        for m in messages
    )
    assert any("1 loss weights for 2 outputs" in m for m in messages)


def test_monitors_of_outputs_are_checked(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        compile:
          loss: {digit: sparse_categorical_crossentropy, ink: mse}
          metrics: {digit: [accuracy]}
        callbacks:
          - {type: EarlyStopping, monitor: val_digit_accuracy}
          - {type: EarlyStopping, monitor: digit_acc}
        """,
    )
    (valless, typo) = [p for p in found if p.severity == "error"]
    assert "logged only with validation data" in valless.message
    assert "did you mean 'digit_accuracy'?" in typo.message
    assert "ink_loss" in typo.message  # what the run logs


def test_one_loss_for_two_outputs_logs_both_losses(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        compile: {loss: mse, metrics: {ink: [mae]}}
        callbacks: [{type: EarlyStopping, monitor: digit_loss}]
        """,
    )
    assert [p for p in found if p.severity == "error"] == []


# A real multi-output run.


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_train_runs import train_path

    tmp_path = tmp_path_factory.mktemp("multi")
    config = yaml.safe_load((CONFIGS / "multi_output.yaml").read_text())
    config["fit"]["epochs"] = 3
    config["callbacks"] = []
    # The data function is imported from beside the config, as shipped.
    shutil.copytree(CONFIGS / "examples", tmp_path / "examples")
    path = tmp_path / "multi_output.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = train_path(path, tmp_path / "runs")
    return Path(result.run_dir)


@pytest.mark.keras
def test_a_multi_output_run_logs_each_outputs_metrics(multi_run: Path) -> None:
    history = json.loads((multi_run / "history.json").read_text())
    for name in ("loss", "digit_loss", "ink_loss", "digit_accuracy", "ink_mae"):
        assert len(history[name]) == 3
        assert len(history[f"val_{name}"]) == 3
    # the total is the weighted sum of the outputs' losses (weights 1 and 10;
    # epoch means of per-batch sums, so not exactly the sum of the means)
    total = history["digit_loss"][0] + 10.0 * history["ink_loss"][0]
    assert history["loss"][0] == pytest.approx(total, rel=5e-3)
    unweighted = history["digit_loss"][0] + history["ink_loss"][0]
    assert history["loss"][0] != pytest.approx(unweighted, rel=5e-3)
    assert history["digit_accuracy"][-1] > history["digit_accuracy"][0]
    record = json.loads((multi_run / "run.json").read_text())
    assert {"digit_accuracy", "ink_mae"} <= set(record["test_metrics"])


@pytest.mark.keras
def test_the_saved_model_has_the_named_outputs(multi_run: Path) -> None:
    import keras
    import numpy as np

    model = keras.saving.load_model(multi_run / "model.keras", compile=False)
    out = model.predict(np.zeros((2, 64), dtype="float32"), verbose=0)
    assert set(out) == {"digit", "ink"}
    assert out["digit"].shape == (2, 10)
    assert out["ink"].shape == (2, 1)


def test_no_user_code_reads_the_mappings_by_output(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cbrun.cli import cli

    path = tmp_path / "config.yaml"
    path.write_text(
        MODEL
        + textwrap.dedent(
            """\
            compile:
              loss: {digit: sparse_categorical_crossentropy, ink: {type: Huber}}
              metrics: {digit: [accuracy, my.metrics:f1], ink: mae}
            """
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2, result.output  # one problem, then the summary
    assert "compile.metrics.digit[1]: names user code (my.metrics:f1)" in lines[0]


def test_a_misspelt_metric_of_an_output_is_one_clear_problem(tmp_path: Path) -> None:
    found = problems(tmp_path, "compile: {loss: mse, metrics: {ink: mea}}\n")
    (problem,) = found
    assert problem.where == "compile.metrics.ink"
    assert problem.message.startswith("unknown metric 'mea'")
    assert "expected" not in problem.message


def test_outputs_as_a_list_are_named_by_their_layers(tmp_path: Path) -> None:
    model = MODEL.replace("outputs: {digit: cls, ink: reg}", "outputs: [cls, reg]")
    found = problems(
        tmp_path,
        """\
        compile:
          loss: {cls: sparse_categorical_crossentropy, reg: mse}
          metrics: {cls: [accuracy]}
        callbacks:
          - {type: EarlyStopping, monitor: reg_loss}
          - {type: EarlyStopping, monitor: cls_accuracy, mode: max}
          - {type: EarlyStopping, monitor: digit_accuracy}
        """,
        model=model,
    )
    (problem,) = [p for p in found if p.severity == "error"]
    assert "'digit_accuracy' is not logged" in problem.message
    assert "did you mean 'cls_accuracy'?" in problem.message
