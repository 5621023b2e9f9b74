"""Review of graph models, several outputs and stages, as a new user meets them."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from click.testing import CliRunner

from cbrun.cli import cli
from tests.conftest import CONFIGS

TWO_OUTPUTS = """\
name: two
seed: 1
data:
  source: function
  function: examples.multi_output:digits_and_ink
  params: {test_size: 0.2, seed: 1}
model:
  inputs: [{name: pixels}]
  layers:
    - {name: trunk, type: Dense, units: 8, activation: relu}
    - {name: digit_head, type: Dense, units: 10, activation: softmax}
    - {name: ink_head, type: Dense, units: 1, inputs: trunk}
  outputs: OUTPUTS
compile:
  optimizer: adam
  loss: LOSS
fit: {epochs: 1, batch_size: 32}
"""


def _two_outputs(tmp_path: Path, outputs: str, loss: str) -> Path:
    shutil.copytree(CONFIGS / "examples", tmp_path / "examples")
    text = TWO_OUTPUTS.replace("OUTPUTS", outputs).replace("LOSS", loss)
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_labels_named_unlike_the_outputs_fail_at_outputs(tmp_path: Path) -> None:
    # The data's labels are {digit, ink}; outputs as a list are named after
    # their layers (digit_head, ink_head), which Keras cannot match: it used
    # to fail in the loss with "Expected float32, but got digit".
    path = _two_outputs(tmp_path, "[digit_head, ink_head]", "mse")
    result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
    assert result.exit_code == 1, result.output
    assert "model.outputs:" in result.output
    assert "labels are named digit, ink" in result.output
    assert "outputs: {digit: digit_head, ink: ink_head}" in result.output
    assert "Traceback" not in result.output


def test_labels_named_as_the_outputs_pass(tmp_path: Path) -> None:
    path = _two_outputs(
        tmp_path,
        "{digit: digit_head, ink: ink_head}",
        "{digit: sparse_categorical_crossentropy, ink: mse}",
    )
    result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
    assert result.exit_code == 0, result.output


def test_show_lists_a_staged_runs_stages(tmp_path: Path) -> None:
    from cbrun.runs.show import show_run
    from tests.test_runs_listing import make_run

    stages = [
        {
            "name": "head",
            "epochs": 10,
            "first_epoch": 1,
            "last_epoch": 3,
            "stop_reason": "EarlyStopping: val_loss did not improve",
        },
        {
            "name": "fine_tune",
            "epochs": 3,
            "first_epoch": 4,
            "last_epoch": None,
            "stop_reason": None,
        },
        "not a stage",
    ]
    run_dir = make_run(tmp_path, stages=stages, history={"loss": [1.0, 0.5, 0.4, 0.3]})
    text = show_run(run_dir)
    (line,) = [x for x in text.splitlines() if x.startswith("stages:")]
    assert (
        "head: epochs 1-3 of 1-10 (EarlyStopping); fine_tune: from epoch 4 to 6" in line
    )
    # A run without stages has no such line.
    assert "stages:" not in show_run(make_run(tmp_path, minute=1))


STAGED = """\
name: staged
seed: 1
data: {source: sklearn, name: iris}
model:
  layers:
    - {name: hidden, type: Dense, units: 4, activation: relu}
    - {name: out, type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, validation_split: 0.2, verbose: 0}
stages:
  - {name: warm, fit: {epochs: 2}}
  - {name: tune, trainable: {hidden: false}}
"""


def test_train_says_where_each_stage_begins(tmp_path: Path) -> None:
    # The console showed "Epoch 10/10" then "Epoch 11/13" and nothing else:
    # neither that a stage began, nor what it changed.
    path = tmp_path / "staged.yaml"
    path.write_text(STAGED, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["train", str(path), "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 0, result.output
    assert "stage 1/2 warm: epochs 1-2" in result.output
    assert "stage 2/2 tune: epoch 3; frozen: hidden; compiled again" in result.output


def test_a_stage_naming_an_unnamed_layer_says_to_name_it(tmp_path: Path) -> None:
    # `dense` is the name Keras gives the unnamed layer; the config cannot know
    # it, and the message used to read "stages names unknown layer 'dense'".
    path = tmp_path / "staged.yaml"
    text = STAGED.replace("{name: hidden, type: Dense", "{type: Dense").replace(
        "{hidden: false}", "{dense: false}"
    )
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "stages[1].trainable.dense: no layer is named 'dense'" in result.output
    assert "model.layers[0] (Dense) has no `name`: give it one" in result.output


def test_one_loss_for_two_outputs_says_to_give_one_per_output(tmp_path: Path) -> None:
    # A single loss applies to every output; the ink output's float labels
    # then met sparse_categorical_crossentropy, and the message said to map
    # the labels or use mse, at `data`.
    path = _two_outputs(
        tmp_path,
        "{digit: digit_head, ink: ink_head}",
        "sparse_categorical_crossentropy",
    )
    result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
    assert result.exit_code == 1, result.output
    assert "compile.loss: the training labels of output 'ink'" in result.output
    assert "loss: {digit: sparse_categorical_crossentropy, ink: mse}" in result.output


def test_idle_stages_and_flags_already_set_are_warnings(tmp_path: Path) -> None:
    # A stage without changes trains on as the one before; a flag already set
    # compiles again and throws away the optimizer's state. Both passed
    # silently.
    from cbrun.config.loading import load_config

    path = tmp_path / "staged.yaml"
    text = STAGED.replace(
        "  - {name: tune, trainable: {hidden: false}}\n",
        "  - {name: more}\n  - {name: tune, trainable: {hidden: true, out: false}}\n",
    )
    path.write_text(text, encoding="utf-8")
    found = {p.where: p.message for p in load_config(path).warnings}
    assert "stage 'more' changes nothing" in found["stages[1]"]
    assert "'hidden' is already trainable" in found["stages[2].trainable.hidden"]
    assert "new optimizer" in found["stages[2].trainable.hidden"]
    assert "stages[2].trainable.out" not in found


def test_eager_op_errors_lose_tensorflows_node_and_op_names() -> None:
    # An output of 64 values against labels of one, as --deep's loss saw it.
    from cbrun.training.reporting import informative_lines

    text = (
        "{{function_node __wrapped__Sub_device_/job:localhost/replica:0/task:0/"
        "device:CPU:0}} Incompatible shapes: [32] vs. [32,64] [Op:Sub] name: "
    )
    assert informative_lines(text) == ["Incompatible shapes: [32] vs. [32,64]"]


def test_a_stage_or_layer_addressed_by_name_gets_its_index(tmp_path: Path) -> None:
    # `--set stages.tune.fit.epochs=3` said only "'tune' is not an index".
    path = tmp_path / "staged.yaml"
    path.write_text(
        STAGED
        + "sweep:\n  trials: 2\n  space:\n    stages.tune.fit.epochs: {int: [1, 2]}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert "'tune' is stages.1: write stages.1.fit.epochs" in result.output
    plain = tmp_path / "plain.yaml"
    plain.write_text(STAGED, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["validate", str(plain), "--set", "model.layers.hidden.units=8"]
    )
    assert result.exit_code != 0
    assert "'hidden' is model.layers.0: write model.layers.0.units" in result.output


def test_plots_mark_where_each_stage_begins(tmp_path: Path) -> None:
    # A staged run's plot looked like one run: the jump at the stage change
    # (a new learning rate, layers unfrozen) had nothing to explain it.
    from PIL import Image, ImageChops

    from cbrun.runs.plots import draw_history_plot, plot_runs
    from tests.test_runs_listing import HISTORY, make_run

    def changed(a: Path, b: Path) -> int:
        with Image.open(a) as one, Image.open(b) as two:
            diff = ImageChops.difference(one.convert("RGB"), two.convert("RGB"))
        return diff.convert("L").point(lambda v: 255 if v else 0).histogram()[255]

    stages = [
        {"name": "head", "epochs": 2, "first_epoch": 1, "last_epoch": 2},
        {"name": "tune", "epochs": 1, "first_epoch": 3, "last_epoch": 3},
    ]
    staged = make_run(tmp_path, "s", 0, history=HISTORY, stages=stages)
    plain = make_run(tmp_path, "s", 1, history=HISTORY)
    one = plot_runs([staged], tmp_path / "staged.png", ["loss"])
    two = plot_runs([plain], tmp_path / "plain.png", ["loss"])
    assert changed(one, two) > 300
    # history.png at the end of a run: from the stage of each epoch.
    for folder, names in (("a", ["head", "head", "tune"]), ("b", None)):
        (tmp_path / folder).mkdir()
        drawn = draw_history_plot(
            tmp_path / folder,
            {"loss": HISTORY["loss"], "val_loss": HISTORY["val_loss"]},
            name="s",
            status="completed",
            best=None,
            stages=names,
        )
        assert drawn is not None
    assert changed(tmp_path / "a/history.png", tmp_path / "b/history.png") > 300


def test_two_outputs_with_one_label_array_fail_at_outputs(tmp_path: Path) -> None:
    # The digits give one label per sample; a model of two outputs failed in
    # the loss with "y_true and y_pred have different structures".
    path = tmp_path / "config.yaml"
    path.write_text(
        """\
data: {source: sklearn, name: digits, scale: 0.0625}
model:
  layers:
    - {name: trunk, type: Dense, units: 8, activation: relu}
    - {name: cls, type: Dense, units: 10, activation: softmax}
    - {name: reg, type: Dense, units: 1, inputs: trunk}
  outputs: {digit: cls, ink: reg}
compile:
  optimizer: adam
  loss: {digit: sparse_categorical_crossentropy, ink: mse}
fit: {epochs: 1}
""",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
    assert result.exit_code == 1, result.output
    assert "model.outputs: the model has 2 outputs (digit, ink)" in result.output
    assert "one label per sample" in result.output


def test_a_builder_may_return_a_sequential_model_without_an_input(
    tmp_path: Path,
) -> None:
    # keras.Sequential([Dense, Dense]) builds on its first batch in a script;
    # --deep and train failed with "Sequential model has no defined outputs".
    (tmp_path / "builder.py").write_text(
        "import keras\n\n"
        "def build(units=4):\n"
        "    return keras.Sequential([keras.layers.Dense(units, activation='relu'),"
        " keras.layers.Dense(3, activation='softmax')])\n",
        encoding="utf-8",
    )
    path = tmp_path / "config.yaml"
    path.write_text(
        "name: built\nseed: 1\ndata: {source: sklearn, name: iris}\n"
        "model: {build: 'builder:build', params: {units: 4}}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
        "fit: {epochs: 1, verbose: 0}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
    assert result.exit_code == 0, result.output


def test_a_function_value_where_none_is_taken_says_so(tmp_path: Path) -> None:
    # `learning_rate: {function: ...}` said "missing `type`: the class name".
    from tests.conftest import MINIMAL

    path = tmp_path / "config.yaml"
    path.write_text(
        MINIMAL.replace(
            "optimizer: adam",
            "optimizer: {type: Adam, learning_rate: {function: sched:lr}}",
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "compile.optimizer.learning_rate.type: {function: ...} is not taken" in (
        result.output
    )
    assert "missing `type`" not in result.output


def test_a_misspelt_function_or_path_key_is_named(tmp_path: Path) -> None:
    # `standardize: {functon: ...}` passed validate and reached Keras as a dict.
    from cbrun.config.loading import load_config

    path = tmp_path / "config.yaml"
    path.write_text(
        STAGED.replace(
            "{name: hidden, type: Dense, units: 4, activation: relu}",
            "{name: hidden, type: Dense, units: 4, activation: {functon: m:f}}",
        ),
        encoding="utf-8",
    )
    messages = {p.where: p.message for p in load_config(path).warnings}
    where = "model.layers[0] (Dense).activation.functon"
    assert "did you mean 'function'?" in messages[where]


def test_class_weight_with_several_outputs_fails_in_validate(tmp_path: Path) -> None:
    # Keras refuses class_weight for a model of several outputs, but only in
    # fit: the run dir was made and the run failed.
    path = _two_outputs(
        tmp_path,
        "{digit: digit_head, ink: ink_head}",
        "{digit: sparse_categorical_crossentropy, ink: mse}",
    )
    text = path.read_text(encoding="utf-8")
    for weights in ("{0: 1.0, 1: 2.0}", "balanced"):
        path.write_text(
            text.replace(
                "batch_size: 32}", f"batch_size: 32, class_weight: {weights}}}"
            ),
            encoding="utf-8",
        )
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code == 1, result.output
        assert (
            "fit.class_weight: Keras takes class_weight for a model of one output"
            in (result.output)
        )


def test_a_resumed_stage_says_so_and_not_that_its_optimizer_is_new() -> None:
    # After --resume the backup brings the optimizer's state back; the line
    # said "compiled again (a new optimizer)".
    from typing import Any, cast

    from cbrun.training.stages import Stage, stage_line

    stage = Stage(1, "tune", 12, cast(Any, None), cast(Any, None), {"stem": False})
    fresh = stage_line(stage, 6, 2, True)
    assert (
        fresh
        == "stage 2/2 tune: epochs 7-18; frozen: stem; compiled again (a new optimizer)"
    )
    resumed = stage_line(stage, 6, 2, False, 8)
    assert resumed == "stage 2/2 tune: epochs 7-18, resumed after epoch 8; frozen: stem"


def test_deep_refuses_what_train_refuses_of_a_stage_fit(tmp_path: Path) -> None:
    # A stage's batch_size with a streamed source passed --deep, then train
    # refused it.
    shutil.copytree(CONFIGS / "data" / "images", tmp_path / "images")
    path = tmp_path / "config.yaml"
    path.write_text(
        """\
name: staged_images
seed: 1
data: {source: images, path: images, image_size: [8, 8], test_size: 0.2}
model:
  layers:
    - {type: Rescaling, scale: 0.0039}
    - {type: Flatten}
    - {name: out, type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, batch_size: 16}
stages:
  - {name: one}
  - {name: two, fit: {epochs: 1, batch_size: 8}}
""",
        encoding="utf-8",
    )
    for flags in ([], ["--deep"]):  # the plain check knows a streamed source
        result = CliRunner().invoke(cli, ["validate", *flags, str(path)])
        assert result.exit_code == 1, result.output
        assert "stages[1].fit.batch_size: a stage cannot change fit.batch_size" in (
            result.output
        )


def test_deep_refuses_a_stage_batch_size_of_a_tf_data_feed(tmp_path: Path) -> None:
    # A table with string columns is fed as tf.data, which validate cannot
    # know without reading it: --deep plans the stages on the feed as train.
    shutil.copytree(CONFIGS / "data", tmp_path / "data")
    text = (CONFIGS / "tabular.yaml").read_text(encoding="utf-8")
    text = text.replace("  epochs: 40\n", "  epochs: 1\n")
    text += "stages:\n  - {name: one}\n  - {name: two, fit: {batch_size: 8}}\n"
    path = tmp_path / "tabular.yaml"
    path.write_text(text, encoding="utf-8")
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0
    result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
    assert result.exit_code == 1, result.output
    assert "stages[1].fit.batch_size: a stage cannot change fit.batch_size" in (
        result.output
    )


def test_an_input_declared_unlike_its_data_fails_at_its_key(tmp_path: Path) -> None:
    # It failed in the first batch: "Cast int64 to string is not supported",
    # "expected axis -1 ... to have value 16", at model.inputs as a whole.
    shutil.copytree(CONFIGS / "data", tmp_path / "data")
    text = (CONFIGS / "tabular.yaml").read_text(encoding="utf-8")
    cases = {
        "{name: age, dtype: string}": "model.inputs[0].dtype: dtype string, but "
        "the data's 'age' holds int64",
        "{name: age, shape: [3]}": "model.inputs[0].shape: shape (3,), but the "
        "data's 'age' is (1,) per sample",
    }
    for written, message in cases.items():
        path = tmp_path / "tabular.yaml"
        path.write_text(
            text.replace("{name: age, dtype: int64}", written), encoding="utf-8"
        )
        result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
        assert result.exit_code == 1, result.output
        assert message in result.output


def test_show_and_runs_json_give_a_staged_runs_stages(tmp_path: Path) -> None:
    # The JSON form (show --format json, runs --format json) had no stages.
    import json

    from tests.test_runs_listing import HISTORY, make_run

    stages = [{"name": "head", "epochs": 2, "first_epoch": 1, "last_epoch": 2}]
    staged = make_run(tmp_path, "s", 0, history=HISTORY, stages=stages)
    plain = make_run(tmp_path, "s", 1, history=HISTORY)
    for run_dir, expected in ((staged, stages), (plain, None)):
        result = CliRunner().invoke(cli, ["show", str(run_dir), "--format", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["stages"] == expected


def test_a_stage_naming_a_layer_inside_an_application_is_told(tmp_path: Path) -> None:
    # Fine-tuning the top block of a base (block5_conv1) is a common wish; the
    # message only listed the config's layer names.
    path = tmp_path / "transfer.yaml"
    text = (CONFIGS / "transfer.yaml").read_text(encoding="utf-8")
    path.write_text(
        text.replace("trainable: {base: true}", "trainable: {block5_conv1: true}"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert (
        "no layer is named 'block5_conv1'; layers named: base, features, dropout, "
        "out; a stage sets base (VGG16) trainable as a whole" in result.output
    )


def test_one_loss_string_that_fails_on_several_outputs_says_to_map_it(
    tmp_path: Path,
) -> None:
    # mse for a class output and a number output failed with "Incompatible
    # shapes: [32] vs. [32,10]" and no fix.
    path = _two_outputs(tmp_path, "{digit: digit_head, ink: ink_head}", "mse")
    result = CliRunner().invoke(cli, ["validate", "--deep", str(path)])
    assert result.exit_code == 1, result.output
    assert "Incompatible shapes" in result.output
    assert "one loss applies to every output (digit, ink): give a loss by" in (
        result.output
    )
