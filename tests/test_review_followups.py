"""Follow-ups of a user-eyed review of the issue 14 changes (since e91e616).

Each test is a mistake a new Keras user makes around one of those changes:
a ``{function: ...}`` value where compile takes an import path, a mapping
where a layer takes names, ``--resume`` of a staged run with fewer epochs
than its backup has, and the like. Validate is run through the CLI without
TensorFlow; the resume tests stop a real tiny staged run on iris.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cbrun.cli import cli
from cbrun.config.loading import load_config
from tests.conftest import CONFIGS
from tests.stopped_runs import run_stopped_after

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


# --- --resume with fewer epochs than the backup has -------------------------

STAGED = """\
name: staged
data: {source: sklearn, name: iris}
model:
  layers:
    - {name: hidden, type: Dense, units: 8, activation: relu}
    - {name: out, type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 4, validation_split: 0.2, verbose: 0}
stages:
  - {name: head, trainable: {hidden: false}, fit: {epochs: 2}}
  - {name: fine, trainable: {hidden: true}, fit: {epochs: 5}}
"""
STOPPED_AFTER = 5  # the third epoch of stage 'fine' (epochs 3-7)


@pytest.fixture(scope="module")
def stopped_in_stage_two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A staged run stopped by SIGTERM after epoch 5, backed up at every epoch."""
    folder = tmp_path_factory.mktemp("stopped")
    path = folder / "staged.yaml"
    path.write_text(STAGED, encoding="utf-8")
    return run_stopped_after(path, folder / "runs", STOPPED_AFTER)


def resume_message(run_dir: Path, tmp_path: Path, *overrides: str) -> str:
    """The refusal ``cbrun train --resume`` of a copy of ``run_dir`` gives."""
    from cbrun.errors import CbrunError

    copy = tmp_path / "runs" / "staged" / run_dir.name
    shutil.copytree(run_dir, copy)
    args = ["train", "--resume", str(copy)]
    for override in overrides:
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, CbrunError), result.output
    assert int(result.exception.exit_code) == 1
    return str(result.exception).replace(str(copy), "RUN")


@pytest.mark.keras
def test_resume_below_the_backup_of_a_staged_run_says_what_adds_up(
    stopped_in_stage_two: Path, tmp_path: Path
) -> None:
    # It said "has trained 5 of its stages' epochs=3; to train longer, add ...".
    message = resume_message(stopped_in_stage_two, tmp_path, "stages.1.fit.epochs=1")
    assert message == (
        "RUN continues from its backup of epoch 5, past the 3 its stages add up "
        "to ('head' 2, 'fine' 1); to train longer, use --set stages.1.fit.epochs=13"
    )


@pytest.mark.keras
def test_the_epochs_it_suggests_resume_the_run(
    stopped_in_stage_two: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "runs" / "staged" / stopped_in_stage_two.name
    shutil.copytree(stopped_in_stage_two, copy)
    # 2 + 4 = 6 epochs: one past the backup of epoch 5.
    args = ["train", "--resume", str(copy), "--set", "stages.1.fit.epochs=4"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = json.loads((copy / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["epochs_run"] == 6


# --- fit.validation_freq longer than the run ---------------------------------

EVERY = """\
name: every
seed: 1
data: {source: sklearn, name: iris}
model:
  layers:
    - {name: hidden, type: Dense, units: 8, activation: relu}
    - {name: out, type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {validation_split: 0.2, validation_freq: FREQ, verbose: 0}
stages:
  - {name: head, trainable: {hidden: false}, fit: {epochs: 3}}
  - {name: fine, trainable: {hidden: true}, fit: {epochs: 2}}
"""


def test_validation_freq_past_the_last_epoch_is_a_warning(tmp_path: Path) -> None:
    result = validate(tmp_path, EVERY.replace("FREQ", "6"))
    assert result.exit_code == 0, result.output  # a warning, the run still trains
    line = problem_line(result, "fit.validation_freq")
    assert line.endswith(
        "warning: validation_freq is 6, but the run trains 5 epochs: Keras "
        "validates after epochs 6, 12, ..., so this run never validates (no val_* "
        "metrics, no best epoch); lower validation_freq or train longer"
    )


@pytest.fixture(scope="module")
def validated_at_the_last_epoch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A staged run of 5 epochs with validation_freq: 5, trained for real."""
    folder = tmp_path_factory.mktemp("every")
    config = folder / "every.yaml"
    config.write_text(EVERY.replace("FREQ", "5"), encoding="utf-8")
    checked = CliRunner().invoke(cli, ["validate", str(config)])
    assert "validation_freq" not in checked.output  # epoch 5 validates
    result = CliRunner().invoke(
        cli, ["train", str(config), "--runs-dir", str(folder / "runs")]
    )
    assert result.exit_code == 0, result.output
    (run_dir,) = (folder / "runs" / "every").iterdir()
    return run_dir


@pytest.mark.keras
def test_keras_counts_validation_freq_across_the_stages(
    validated_at_the_last_epoch: Path,
) -> None:
    # The epoch validate counts on is the one Keras validates after: the
    # second stage's second epoch is the run's fifth.
    history = json.loads((validated_at_the_last_epoch / "history.json").read_text())
    assert [value is not None for value in history["val_loss"]] == [
        False,
        False,
        False,
        False,
        True,
    ]


# --- an application's weights file that is not there -------------------------

APPLICATION = """\
seed: 1
data: {source: synthetic, samples: 32, shape: [32, 32, 3], classes: 2}
model:
  inputs: [{name: image}]
  layers:
    - {name: base, type: MobileNetV2, alpha: 0.35, include_top: false,
       pooling: avg, weights: WEIGHTS}
    - {name: out, type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, batch_size: 16}
"""


@pytest.mark.keras
@pytest.mark.parametrize(
    ("weights", "fix"),
    [
        ("base.weights.h5", "give the path"),
        ("imagnet", "did you mean weights: imagenet? Else give the path"),
    ],
)
def test_a_weights_file_that_is_not_there_is_named_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights: str, fix: str
) -> None:
    # Keras said "The `weights` argument should be either `None` (random
    # initialization), 'imagenet' (...), or the path to the weights file",
    # and cbrun added the advice to delete a damaged file in the Keras cache.
    (tmp_path / "c.yaml").write_text(
        APPLICATION.replace("WEIGHTS", weights), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "--deep", "c.yaml"])
    assert result.exit_code == 1, result.output
    line = problem_line(result, "model.layers[0] (MobileNetV2).weights")
    assert line.startswith("c.yaml:7:")
    assert line.endswith(
        f"keras.applications.MobileNetV2 weights file {weights} does not exist "
        f"(a relative path is read from the config's folder); {fix} of a weights "
        "file Keras saved for this application, or weights: imagenet (Keras's "
        "own, from its cache) or null (random weights)"
    )
    assert "Keras cache" not in line and "should be either" not in line


# --- a stray word in a column of numbers, under inputs: columns --------------

TABLE = """\
seed: 1
data: {source: csv, path: t.csv, target: target, inputs: columns, test_size: 0.25}
model:
  inputs:
    - {name: age, DTYPE}
    - {name: city, dtype: string}
  layers:
    - {name: age_n, type: Normalization, inputs: age, adapt: true}
    - {name: city_l, type: StringLookup, inputs: city, output_mode: one_hot,
       adapt: true}
    - {name: both, type: Concatenate, inputs: [age_n, city_l]}
    - {name: out, type: Dense, units: 1, activation: sigmoid}
  outputs: out
compile: {optimizer: adam, loss: binary_crossentropy}
fit: {epochs: 1, verbose: 0}
"""


def write_table(folder: Path, stray: str = "abc", name: str = "t.csv") -> None:
    """A table of 20 rows whose 'age' holds ``stray`` on file line 14."""
    lines = ["age,city,target"]
    for i in range(20):
        lines.append(f"{20 + i},{'paris' if i % 2 else 'rome'},{i % 2}")
        if i == 5:
            lines.append("")  # a blank line: lines and data rows differ
    lines[13] = lines[13].replace(lines[13].split(",")[0], stray, 1)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


STRAY = (
    "t.csv, line 14, column 'age': 'abc' is not a number, unlike the column's "
    "other values, so the whole column reads as strings"
)


def test_a_stray_word_in_a_declared_number_column_is_named_by_validate(
    tmp_path: Path,
) -> None:
    write_table(tmp_path)
    result = validate(tmp_path, TABLE.replace("DTYPE", "dtype: int64"))
    assert result.exit_code == 1
    line = problem_line(result, "model.inputs[0].dtype")
    assert line.endswith(f"{STRAY}, not the declared dtype int64; fix the cell")


def test_a_stray_word_in_an_undeclared_column_is_a_warning(tmp_path: Path) -> None:
    write_table(tmp_path)
    result = validate(tmp_path, TABLE.replace("DTYPE", "shape: [1]"))
    assert result.exit_code == 0, result.output
    line = problem_line(result, "data.path")
    assert line.endswith(
        f"warning: {STRAY}; fix the cell (or declare the input dtype: string)"
    )


@pytest.mark.parametrize("cell", ["21", "NA", ""])
def test_numbers_and_missing_cells_are_no_stray_words(
    tmp_path: Path, cell: str
) -> None:
    write_table(tmp_path, stray=cell)
    result = validate(tmp_path, TABLE.replace("DTYPE", "dtype: int64"))
    assert "is not a number" not in result.output


@pytest.mark.keras
def test_training_fails_on_the_cell_validate_names(tmp_path: Path) -> None:
    # Why the check: one word makes pyarrow type the whole column as
    # strings (training then fails at the dtype, naming no cell).
    from cbrun.training.assemble import load_data_for

    write_table(tmp_path)
    path = tmp_path / "c.yaml"
    path.write_text(TABLE.replace("DTYPE", "shape: [1]"), encoding="utf-8")
    dataset = load_data_for(load_config(path).experiment, tmp_path)
    assert dataset.input_specs()["age"].dtype == "string"
    write_table(tmp_path, stray="21")
    dataset = load_data_for(load_config(path).experiment, tmp_path)
    assert dataset.input_specs()["age"].dtype == "int64"


# --- bad_files: skip that would empty a class ---------------------------------

IMAGES = """\
seed: 1
data: {source: images, path: pictures, image_size: [24, 24], test_size: 0.2,
       bad_files: skip}
model:
  inputs: [{name: pixels}]
  layers:
    - {name: pool, type: GlobalAveragePooling2D, inputs: pixels}
    - {name: out, type: Dense, units: 3, activation: softmax}
  outputs: out
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, validation_split: 0.2}
"""


def pictures(folder: Path, spoiled: int) -> Path:
    """The example images with ``spoiled`` of vstripes/ overwritten by text."""
    root = folder / "pictures"
    shutil.copytree(CONFIGS / "data" / "images", root)
    for path in sorted((root / "vstripes").iterdir())[:spoiled]:
        path.write_text("not a picture\n", encoding="utf-8")
    return root


def test_skipping_every_file_of_a_class_is_refused(tmp_path: Path) -> None:
    # Keras keeps the class's label with no sample: the run trained a class
    # it never saw, saying only that files were skipped.
    root = pictures(tmp_path, spoiled=30)
    result = validate(tmp_path, IMAGES)
    assert result.exit_code == 1, result.output
    line = problem_line(result, "data.path")
    assert line.endswith(
        f"all 30 files of class folder {root / 'vstripes'} cannot be read as "
        "images, so bad_files: skip would leave the class without samples; fix "
        "them, remove the folder, or leave it out with class_names"
    )


def test_skipping_some_files_of_a_class_is_a_warning(tmp_path: Path) -> None:
    pictures(tmp_path, spoiled=29)
    result = validate(tmp_path, IMAGES)
    assert result.exit_code == 0, result.output
    assert "29 of the 90 files" in result.output
    assert "without samples" not in result.output


# --- --smoke of a config that validates every few epochs ---------------------


@pytest.mark.keras
@pytest.mark.parametrize("staged", [False, True])
def test_smoke_validates_every_epoch_so_val_monitors_act(
    tmp_path: Path, staged: bool
) -> None:
    # validation_freq: 5 in two smoke epochs never validated: EarlyStopping
    # on val_loss never saw it (Keras warned "not available" each epoch).
    text = EVERY.replace("FREQ", "5")
    if not staged:
        text = text.split("stages:")[0].replace("verbose: 0", "verbose: 0, epochs: 9")
    text += "callbacks: [{type: EarlyStopping, monitor: val_loss, patience: 3}]\n"
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        cli, ["train", "--smoke", str(tmp_path / "c.yaml"), "--runs-dir", str(runs)]
    )
    assert result.exit_code == 0, result.output
    (history,) = runs.glob("every/*/history.json")
    values = json.loads(history.read_text())["val_loss"]
    assert len(values) == 2 and None not in values


# --- the printed load_model line names the folder of the user's code ---------

USER_CODE = """\
import keras


def swishy(x):
    return x * keras.ops.sigmoid(x)
"""

USER_CONFIG = """\
name: coded
seed: 3
data: {source: sklearn, name: iris}
model:
  layers:
    - {type: Dense, units: 8, activation: {function: mylib.fns:swishy}}
    - {type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, verbose: 0}
"""


@pytest.fixture(scope="module")
def coded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A run whose config (and code) is in proj/, trained from its parent."""
    folder = tmp_path_factory.mktemp("coded")
    (folder / "proj" / "mylib").mkdir(parents=True)
    (folder / "proj" / "mylib" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "proj" / "mylib" / "fns.py").write_text(USER_CODE, encoding="utf-8")
    (folder / "proj" / "coded.yaml").write_text(USER_CONFIG, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        result = CliRunner().invoke(cli, ["train", "proj/coded.yaml"])
    assert result.exit_code == 0, result.output
    return folder, result.output


@pytest.mark.keras
def test_the_load_line_names_the_folder_to_put_on_pythonpath(
    coded_run: tuple[Path, str],
) -> None:
    import subprocess
    import sys

    folder, output = coded_run
    (say,) = [line for line in output.splitlines() if "holds your code" in line]
    # It said "with the config's folder on PYTHONPATH", not which folder.
    assert say.endswith("with the config's folder (proj) on PYTHONPATH:")
    (call,) = [line for line in output.splitlines() if "custom_objects" in line]
    code = call.removeprefix("cbrun:").strip() + "; print(model.layers[0].activation)"
    env = {**os.environ, "PYTHONPATH": "proj", "TF_CPP_MIN_LOG_LEVEL": "3"}
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
    assert "swishy" in done.stdout


# --- patience of a val_* monitor, with validation_freq > 1 -------------------

PATIENT = """\
name: patient
seed: 1
data: {source: sklearn, name: iris}
model:
  layers:
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: SGD, learning_rate: 1.0e-9}
  loss: sparse_categorical_crossentropy
fit: {epochs: 12, validation_split: 0.2, validation_freq: 2, verbose: 0}
callbacks:
  - {type: EarlyStopping, monitor: val_loss, patience: 2, min_delta: 0.5}
"""


def test_patience_counted_in_validations_is_a_warning(tmp_path: Path) -> None:
    result = validate(tmp_path, PATIENT)
    assert result.exit_code == 0, result.output
    line = problem_line(result, "callbacks[0] (EarlyStopping).patience")
    assert line.endswith(
        "warning: with fit.validation_freq 2, EarlyStopping sees 'val_loss' only "
        "after the epochs Keras validates, so patience 2 waits 4 epochs, not 2 "
        "(Keras warns that val_loss is not available after the epochs between)"
    )
    plain = validate(
        tmp_path, PATIENT.replace("validation_freq: 2", "validation_freq: 1")
    )
    assert "warning" not in plain.output


@pytest.mark.keras
def test_keras_waits_patience_times_validation_freq_epochs(tmp_path: Path) -> None:
    # val_loss never improves by min_delta after its first value (epoch 2):
    # patience 2 stops the run 4 epochs later, as the warning says.
    (tmp_path / "c.yaml").write_text(PATIENT, encoding="utf-8")
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        cli, ["train", str(tmp_path / "c.yaml"), "--runs-dir", str(runs)]
    )
    assert result.exit_code == 0, result.output
    (record,) = runs.glob("patient/*/run.json")
    assert json.loads(record.read_text())["epochs_run"] == 2 + 4


# --- a stage's compile mapping by output name ----------------------------------


@pytest.mark.parametrize(
    ("given", "key", "says"),
    [
        ("loss: {b: mse}", "loss.b", "'b' is not an output of the model"),
        ("loss_weights: {b: 1.0}", "loss_weights.b", "'b' is not an output"),
        ("loss: {function: m:f}", "loss", "m:f instead of {function: m:f}"),
    ],
)
def test_a_stage_compile_mapping_is_checked_against_the_outputs(
    tmp_path: Path, given: str, key: str, says: str
) -> None:
    # Unchecked, a multi-output model failed when the stage compiled, after
    # the stages before it had trained (KeyError: "The path: ('b',) in the
    # `loss` argument, can't be found", exit 3).
    staged = graph(compile_="loss: mse") + (
        "stages:\n"
        "  - {name: one, fit: {epochs: 1}}\n"
        f"  - {{name: two, fit: {{epochs: 1}}, compile: {{{given}}}}}\n"
    )
    result = validate(tmp_path, staged)
    assert result.exit_code == 1, result.output
    assert says in problem_line(result, f"stages[1].compile.{key}")


# --- labels.map of words on a time series ------------------------------------

SERIES = """\
name: updown
seed: 1
data: {source: timeseries, path: PATH, features: [x], target: state,
       sequence_length: 4, labels: {map: MAP}}
model:
  layers:
    - {type: LSTM, units: 4}
    - {type: Dense, units: 1, activation: sigmoid}
compile: {optimizer: adam, loss: binary_crossentropy}
fit: {epochs: 1, verbose: 0}
"""


def write_updown(folder: Path, words: bool = True) -> None:
    """A series of 80 rows whose target is up/down (or 1/0)."""
    lines = ["t,x,state"]
    for i in range(80):
        rising = (i // 5) % 2 == 0
        state = ("up" if rising else "down") if words else ("1" if rising else "0")
        lines.append(f"{i},{i % 5 if rising else 5 - i % 5},{state}")
    (folder / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_series_map_of_words_is_refused_by_validate(tmp_path: Path) -> None:
    # Training refused 'up' as "not a number; ... leave a column of strings
    # out of features", about the target, after validate had said ok.
    write_updown(tmp_path)
    text = SERIES.replace("PATH", "s.csv").replace("MAP", "{up: 1, down: 0}")
    result = validate(tmp_path, text)
    assert result.exit_code == 1, result.output
    line = problem_line(result, "data.labels.map")
    assert line.endswith(
        "a time series CSV is read as numbers, its target column 'state' too, so "
        "labels.map can map numbers only (it maps 'up', 'down'); write the classes "
        "as numbers in the file, or use an .npz whose target array holds them"
    )
    write_updown(tmp_path, words=False)
    numbers = SERIES.replace("PATH", "s.csv").replace("MAP", "{1: 1, 0: 0}")
    assert validate(tmp_path, numbers).exit_code == 0


@pytest.mark.keras
def test_an_npz_series_of_words_trains_with_the_map(tmp_path: Path) -> None:
    # The fix the message offers works.
    import csv

    import numpy as np

    write_updown(tmp_path)
    rows = list(csv.reader((tmp_path / "s.csv").open()))[1:]
    np.savez(
        tmp_path / "s.npz",
        x=np.array([float(row[1]) for row in rows]),
        state=np.array([row[2] for row in rows]),
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        SERIES.replace("PATH", "s.npz").replace("MAP", "{up: 1, down: 0}"),
        encoding="utf-8",
    )
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["train", str(config), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output


def test_a_long_file_is_scanned_to_its_last_whole_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cbrun.config import column_checks

    write_table(tmp_path)
    text = (tmp_path / "t.csv").read_text(encoding="utf-8")
    # Non-ASCII city names: the scan's end may fall inside a character.
    (tmp_path / "t.csv").write_text(text.replace("rome", "rôme"), encoding="utf-8")
    data = (tmp_path / "t.csv").read_bytes()
    line_15 = data.index(b"\n", data.index(b"abc")) + 1
    inside = data.index("ô".encode(), line_15) + 1  # between the two bytes of ô
    monkeypatch.setattr(column_checks, "SCAN_BYTES", inside)
    result = validate(tmp_path, TABLE.replace("DTYPE", "dtype: int64"))
    assert "line 14, column 'age': 'abc' is not a number" in result.output


def test_a_stray_word_in_the_test_file_is_an_error(tmp_path: Path) -> None:
    # Training read 'age' as numbers, the test file as strings: evaluate
    # failed after training with "Cast string to int64 is not supported".
    write_table(tmp_path, stray="21")
    write_table(tmp_path, name="test.csv")
    text = TABLE.replace("DTYPE", "shape: [1]").replace(
        "test_size: 0.25", "test_path: test.csv"
    )
    result = validate(tmp_path, text)
    assert result.exit_code == 1, result.output
    line = problem_line(result, "data.test_path")
    said = STRAY.replace("t.csv", "test.csv")
    assert line.endswith(
        f"{said}, unlike the training file's; fix the cell (evaluate would fail "
        "after training)"
    )
    # Where the training column is strings too, the test file's words fit.
    write_table(tmp_path, stray="abc")
    again = validate(tmp_path, text)
    assert "data.test_path" not in again.output
