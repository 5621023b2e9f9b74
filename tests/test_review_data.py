"""A new user's data mistakes and edge cases, found in review (issue 14)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from cbrun.cli import cli as main
from cbrun.config.loading import load_config
from cbrun.errors import BuildError
from cbrun.keras.data.label_checks import check_labels_fit_loss
from cbrun.runs import manifest as runs
from cbrun.training.records import write_resolved_config
from cbrun.training.resume import prepare_resume
from tests.conftest import CONFIGS

TEXT_CONFIG = """\
name: words
data: {source: text, path: text, test_size: 0.2}
model:
  inputs: [{name: text, shape: [], dtype: string}]
  layers:
    - {name: words, type: TextVectorization, max_tokens: 50,
       output_sequence_length: 8, adapt: true, inputs: text}
    - {name: embedded, type: Embedding, input_dim: 50, output_dim: 4}
    - {name: pooled, type: GlobalAveragePooling1D}
    - {name: out, type: Dense, units: 3, activation: softmax}
  outputs: out
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 3, batch_size: 8}
"""


def test_resume_finds_a_relative_folder_beside_the_original_config(tmp_path):
    """The run's config.yaml says `path: text`, relative to the original config.

    Its checks must look beside that config, not inside the run dir.
    """
    project = tmp_path / "project"
    shutil.copytree(CONFIGS / "data" / "text", project / "text")
    config = project / "words.yaml"
    config.write_text(TEXT_CONFIG, encoding="utf-8")
    loaded = load_config(config)
    run_dir = tmp_path / "runs" / "words" / "20260101-000000"
    run_dir.mkdir(parents=True)
    write_resolved_config(run_dir, loaded)
    manifest = runs.RunManifest(run_dir)
    manifest.start("words", config, 1, ["cbrun", "train", str(config)])
    manifest.finish(runs.INTERRUPTED, stop_reason="SIGINT after 0 epochs")

    resumed, point = prepare_resume(run_dir, ())

    assert point.epoch == 0
    assert resumed.base_dir.resolve() == project.resolve()
    assert resumed.experiment.data == loaded.experiment.data


# --- validate reads a table's first lines ------------------------------------

TABLE_CONFIG = """\
name: table
data: {source: csv, path: table.csv, target: target}
model: {layers: [{type: Dense, units: 1, activation: sigmoid}]}
compile: {optimizer: adam, loss: binary_crossentropy}
fit: {epochs: 1}
"""


def validate_table(tmp_path: Path, content: str) -> tuple[int, str]:
    """``cbrun validate`` (without --deep) of a csv config reading ``content``."""
    (tmp_path / "table.csv").write_text(content, encoding="utf-8")
    config = tmp_path / "table.yaml"
    config.write_text(TABLE_CONFIG, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(config)])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "table.csv is empty; it needs a header row of column names"),
        ("\n\n", "table.csv is empty; it needs a header row of column names"),
        ("a,b,target\n", "table.csv has a header but no data rows"),
        ("a,b,target\r\n\r\n", "table.csv has a header but no data rows"),
        ("a,a,target\n1,2,0\n", "the column name 'a' appears twice; rename one"),
        ("a,,target\n1,2,0\n", "line 1: column 2 has no name in the header"),
    ],
)
def test_validate_names_an_empty_table_or_a_bad_header(tmp_path, content, message):
    code, output = validate_table(tmp_path, content)
    assert code == 1, output
    assert "table.yaml:2:" in output and message in output, output
    assert "Traceback" not in output


def test_validate_passes_a_table_with_a_bom_crlf_and_blank_lines(tmp_path):
    code, output = validate_table(
        tmp_path, "\ufeffa,b,target\r\n1,2,0\r\n\r\n3,4,1\r\n"
    )
    assert code == 0, output


def test_validate_counts_blank_lines_in_the_line_it_names(tmp_path):
    code, output = validate_table(tmp_path, "a,b,target\n1,2,0\n\n3,x,1\n")
    assert code == 1, output
    assert "table.csv, line 4, column 'b': 'x' is not a number" in output, output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # A stray word among numbers: the cell is wrong, not the config.
        (
            "a,b,target\n1,2,0\n3,4,1\n5,6,yes\n",
            "table.yaml:2:27: data.path: table.csv, line 4, column 'target': 'yes' is "
            "not a number, unlike the column's other values; fix the cell",
        ),
        (
            "a,b,target\n1,2,0\n3,?,1\n",
            "table.csv, line 3, column 'b': '?' is not a number, unlike the "
            "column's other values; fix the cell",
        ),
        # A column of words: a string input, for inputs: columns.
        (
            "a,b,target\n1,u,0\n3,v,1\n",
            "table.yaml:2:7: data.inputs: table.csv, line 2: column 'b' holds "
            "strings ('u'); inputs: matrix takes numbers only",
        ),
    ],
)
def test_validate_tells_a_stray_word_from_a_column_of_words(tmp_path, content, message):
    code, output = validate_table(tmp_path, content)
    assert code == 1, output
    assert message in output, output


def test_validate_of_a_series_with_a_column_of_words_names_no_inputs_key(tmp_path):
    (tmp_path / "s.csv").write_text("t,y,kind\n1,2,a\n2,3,b\n3,4,a\n")
    config = tmp_path / "s.yaml"
    data = "{source: timeseries, path: s.csv, target: y, sequence_length: 2}"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert (
        "data.path: s.csv, line 2: column 'kind' holds strings ('a'); a time "
        "series reads numbers only: leave it out of features"
    ) in result.output, result.output
    assert "inputs" not in result.output


def test_validate_says_a_target_of_class_names_needs_labels_map(tmp_path):
    code, output = validate_table(tmp_path, "a,b,target\n1,2,no\n3,4,yes\n5,6,no\n")
    assert code == 1, output
    assert (
        "table.yaml:2:46: data.target: table.csv, line 2: the target column "
        "'target' holds strings; number the classes with data.labels: "
        "{map: {'no': 0, 'yes': 1}}"
    ) in output, output
    assert "inputs: matrix" not in output


@pytest.mark.parametrize(
    "loss", ["binary_crossentropy", "categorical_crossentropy", "BinaryCrossentropy"]
)
def test_three_class_indexes_with_a_0_1_loss_point_to_a_multiclass_loss(loss):
    """Mapping 0, 1, 2 with data.labels.map would not fix it: say what does."""
    config = SimpleNamespace(compile=SimpleNamespace(loss=loss))
    data = SimpleNamespace(streams=None, y_train=np.array([0.0, 2.0, 1.0, 2.0]))
    with pytest.raises(BuildError) as caught:
        check_labels_fit_loss(config, data)
    message = caught.value.message
    assert "for 3 classes use loss: sparse_categorical_crossentropy" in message
    assert "softmax output of 3 units" in message
    assert "data.labels: {map:" not in message


@pytest.mark.parametrize(
    "data",
    [
        "{source: csv, path: nothere.csv, target: target}",
        "{source: csv, path: nothere.parquet, target: target}",
        "{source: timeseries, path: nothere.csv, target: t, sequence_length: 3}",
    ],
)
def test_validate_names_a_table_file_that_does_not_exist(tmp_path, data):
    config = tmp_path / "table.yaml"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 1, result.output
    expected = f"data.path: {tmp_path.resolve() / 'nothere'}"
    assert expected in result.output, result.output
    assert "does not exist (path: 'nothere." in result.output
    assert f"relative to {tmp_path.resolve()}); fix the path" in result.output


@pytest.mark.parametrize(
    ("data", "where", "hint"),
    [
        (
            "{source: images, path: d, colour_mode: rgb}",
            "data.colour_mode",
            "color_mode",
        ),
        ("{source: text, path: d, max_lenght: 9}", "data.max_lenght", "max_length"),
        (
            "{source: timeseries, path: s.csv, target: y, sequense_length: 3}",
            "data.sequense_length",
            "sequence_length",
        ),
        (
            "{source: timeseries, path: s.csv, target: y, sequence_length: 3, "
            "split: {validaton: 0.1}}",
            "data.split.validaton",
            "validation",
        ),
        (
            "{source: csv, path: t.csv, labels: {map: {a: 0}, clases: 3}}",
            "data.labels.clases",
            "classes",
        ),
        ("{source: function, function: 'm:f', parms: {}}", "data.parms", "params"),
    ],
)
def test_a_misspelt_key_of_the_new_data_sources_gets_a_did_you_mean(
    tmp_path, data, where, hint
):
    config = tmp_path / "c.yaml"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert f"{where}: unknown key; did you mean '{hint}'?" in result.output, (
        result.output
    )


def test_a_function_sources_wrong_value_is_shown_at_its_own_key(tmp_path):
    """Pydantic's path holds the union tag `function`, also a key of this source."""
    config = tmp_path / "c.yaml"
    data = "{source: function, function: 'm:f', params: 3}"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert "c.yaml:2:51: data.params: expected a mapping" in result.output, (
        result.output
    )


# --- source: function ----------------------------------------------------------

LOADERS = """\
import numpy as np


def four_test_features():
    y = np.arange(20) % 2
    return {"x_train": np.zeros((20, 3)), "y_train": y,
            "x_test": np.zeros((5, 4)), "y_test": y[:5]}


def other_test_inputs():
    y = np.arange(20) % 2
    return {"x_train": {"a": np.zeros((20, 1))}, "y_train": y,
            "x_test": {"b": np.zeros((5, 1))}, "y_test": y[:5]}
"""


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (
            "four_test_features",
            "returned x_test of samples shaped (4,), but training samples are "
            "shaped (3,); they must match",
        ),
        (
            "other_test_inputs",
            "returned x_test with inputs b but x_train with a; give both the same",
        ),
    ],
)
def test_a_function_sources_test_inputs_must_be_shaped_as_its_training_inputs(
    tmp_path, function, message
):
    """Else fit trains every epoch and only the evaluation after it fails."""
    import sys

    from pydantic import TypeAdapter

    from cbrun.config.data import DataConfig
    from cbrun.keras.data import load_data

    (tmp_path / "review_loaders.py").write_text(LOADERS, encoding="utf-8")
    config = TypeAdapter(DataConfig).validate_python(
        {"source": "function", "function": f"review_loaders:{function}"}
    )
    try:
        with pytest.raises(BuildError) as caught:
            load_data(config, seed=1, base_dir=tmp_path)
    finally:
        sys.modules.pop("review_loaders", None)
    assert caught.value.path == ("data", "function")
    assert caught.value.message == f"review_loaders:{function} {message}"


def test_a_series_with_an_empty_cell_is_told_to_fill_it_not_to_change_inputs(
    tmp_path,
):
    from pydantic import TypeAdapter

    from cbrun.config.data import DataConfig
    from cbrun.keras.data import load_data

    rows = [f"{i},{i * 0.5}" for i in range(30)]
    rows[25] = "25,"
    (tmp_path / "s.csv").write_text("t,y\n" + "\n".join(rows) + "\n")
    config = TypeAdapter(DataConfig).validate_python(
        {"source": "timeseries", "path": "s.csv", "target": "y", "sequence_length": 3}
    )
    with pytest.raises(BuildError) as caught:
        load_data(config, seed=1, base_dir=tmp_path)
    message = caught.value.message
    assert "s.csv, line 27, column 'y': is empty; a time series reads" in message
    assert "inputs" not in message


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("[24]", "data.image_size: expected at least 2 items, got 1: [24]"),
        (
            "[24, 24, 3]",
            "data.image_size: expected at most 2 items, got 3: [24, 24, 3]",
        ),
    ],
)
def test_an_image_size_of_the_wrong_length_is_said_plainly(tmp_path, size, message):
    config = tmp_path / "c.yaml"
    data = f"{{source: images, path: d, image_size: {size}}}"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert message in result.output, result.output


def test_a_folder_sources_one_hot_fix_is_label_mode_not_data_labels():
    """images and text refuse data.labels: their one-hot switch is label_mode."""
    config = SimpleNamespace(
        compile=SimpleNamespace(loss="categorical_crossentropy"),
        data=SimpleNamespace(source="images"),
    )
    data = SimpleNamespace(streams=None, y_train=np.array([0, 2, 1]))
    with pytest.raises(BuildError) as caught:
        check_labels_fit_loss(config, data)
    assert "data.label_mode: categorical with categorical_crossentropy" in (
        caught.value.message
    )
    assert "data.labels" not in caught.value.message


def test_npz_keys_by_input_name_name_the_input_whose_test_shape_differs(tmp_path):
    from pydantic import TypeAdapter

    from cbrun.config.data import DataConfig
    from cbrun.keras.data import load_data

    np.savez(
        tmp_path / "m.npz",
        a=np.zeros((8, 2)),
        b=np.zeros((8, 3)),
        y=np.arange(8) % 2,
        a_t=np.zeros((4, 2)),
        b_t=np.zeros((4, 5)),
        y_t=np.arange(4) % 2,
    )
    keys = {
        "x_train": {"left": "a", "right": "b"},
        "y_train": "y",
        "x_test": {"left": "a_t", "right": "b_t"},
        "y_test": "y_t",
    }
    config = TypeAdapter(DataConfig).validate_python(
        {"source": "npz", "path": "m.npz", "keys": keys}
    )
    with pytest.raises(BuildError) as caught:
        load_data(config, seed=1, base_dir=tmp_path)
    assert caught.value.message == (
        f"{tmp_path / 'm.npz'}: x_test['right']: test samples have shape (5,), "
        "training samples (3,); they must match"
    )


def test_a_folder_with_label_mode_categorical_may_use_categorical_crossentropy():
    """Its batches hold one-hot rows; the stream's train_labels are their indexes."""
    config = SimpleNamespace(
        compile=SimpleNamespace(loss="categorical_crossentropy"),
        data=SimpleNamespace(source="images", label_mode="categorical"),
    )
    streams = SimpleNamespace(train_labels=np.array([0, 2, 1, 2]))
    check_labels_fit_loss(config, SimpleNamespace(streams=streams))


def test_validate_deep_passes_a_categorical_images_config(tmp_path):
    """The real pipeline: one-hot batches, categorical_crossentropy, balanced."""
    shutil.copytree(CONFIGS / "data" / "images", tmp_path / "images")
    config = tmp_path / "cat.yaml"
    config.write_text(
        "name: cat\n"
        "data: {source: images, path: images, image_size: [8, 8],"
        " label_mode: categorical, test_size: 0.2}\n"
        "model:\n"
        "  layers:\n"
        "    - {type: Flatten}\n"
        "    - {type: Dense, units: 3, activation: softmax}\n"
        "compile: {optimizer: adam, loss: categorical_crossentropy}\n"
        "fit: {epochs: 1, batch_size: 16, class_weight: balanced}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["validate", "--deep", str(config)])
    assert result.exit_code == 0, result.output


def test_resume_from_another_folder_finds_the_data_of_a_relative_config(
    tmp_path, monkeypatch
):
    """`cbrun train words.yaml` in project/, then --resume from elsewhere."""
    project = tmp_path / "project"
    shutil.copytree(CONFIGS / "data" / "text", project / "text")
    (project / "words.yaml").write_text(TEXT_CONFIG, encoding="utf-8")
    monkeypatch.chdir(project)
    loaded = load_config(Path("words.yaml"))
    run_dir = tmp_path / "runs" / "words" / "20260101-000000"
    run_dir.mkdir(parents=True)
    write_resolved_config(run_dir, loaded)
    manifest = runs.RunManifest(run_dir)
    manifest.start("words", Path("words.yaml"), 1, ["cbrun", "train", "words.yaml"])
    manifest.finish(runs.INTERRUPTED, stop_reason="SIGINT after 0 epochs")
    monkeypatch.chdir(tmp_path)

    resumed, _ = prepare_resume(run_dir, ())

    assert resumed.base_dir.resolve() == project.resolve()


@pytest.mark.parametrize("loss", ["mse", "{type: Huber, delta: 2.0}"])
def test_class_weight_with_a_regression_loss_is_refused_by_validate(tmp_path, loss):
    (tmp_path / "table.csv").write_text("a,target\n1,0.5\n2,1.5\n", encoding="utf-8")
    config = tmp_path / "table.yaml"
    text = TABLE_CONFIG.replace("loss: binary_crossentropy", f"loss: {loss}")
    config.write_text(text.replace("fit: {epochs: 1}", "fit: {class_weight: balanced}"))
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 1, result.output
    assert "fit.class_weight: class_weight weighs classes, but the loss " in (
        result.output
    )
    assert "is a regression loss; remove class_weight" in result.output


@pytest.mark.parametrize("written", ["'\\t'", "tab"])
def test_a_tab_delimiter_written_in_single_quotes_is_explained(tmp_path, written):
    (tmp_path / "table.csv").write_text("a\ttarget\n1\t0\n", encoding="utf-8")
    config = tmp_path / "table.yaml"
    data = f"{{source: csv, path: table.csv, target: target, delimiter: {written}}}"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert "data.delimiter: expected one character, got " in result.output
    assert 'a tab is written delimiter: "\\t", in double quotes' in result.output


def test_a_tab_delimiter_in_double_quotes_is_valid(tmp_path):
    (tmp_path / "table.csv").write_text("a\ttarget\n1\t0\n", encoding="utf-8")
    config = tmp_path / "table.yaml"
    data = '{source: csv, path: table.csv, target: target, delimiter: "\\t"}'
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 0, result.output


def test_names_for_a_file_that_has_a_header_is_said_at_names(tmp_path):
    (tmp_path / "table.csv").write_text("a,b,target\n1,2,0\n3,4,1\n", encoding="utf-8")
    config = tmp_path / "table.yaml"
    data = "{source: csv, path: table.csv, target: target, names: [a, b, target]}"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 1, result.output
    assert (
        "data.names: table.csv, line 1 looks like column names (a, b, target), but "
        "names: is for a file without a header line; remove names (or line 1)"
    ) in result.output, result.output


def test_names_for_a_headerless_file_is_valid(tmp_path):
    (tmp_path / "table.csv").write_text("1,2,0\n3,4,1\n", encoding="utf-8")
    config = tmp_path / "table.yaml"
    data = "{source: csv, path: table.csv, target: target, names: [a, b, target]}"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 0, result.output


def test_a_misspelt_balanced_gets_one_plain_message(tmp_path):
    (tmp_path / "table.csv").write_text("a,target\n1,0\n2,1\n", encoding="utf-8")
    config = tmp_path / "table.yaml"
    text = TABLE_CONFIG.replace("fit: {epochs: 1}", "fit: {class_weight: balance}")
    config.write_text(text)
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert (
        "fit.class_weight: expected one of 'balanced', got 'balance'; did you mean "
        "'balanced'?\n"
    ) in result.output, result.output


def test_a_folders_validation_and_test_shares_must_leave_training_files(tmp_path):
    shutil.copytree(CONFIGS / "data" / "text", tmp_path / "text")
    config = tmp_path / "words.yaml"
    text = TEXT_CONFIG.replace("test_size: 0.2", "test_size: 0.6")
    config.write_text(
        text.replace("batch_size: 8}", "batch_size: 8, validation_split: 0.5}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 1, result.output
    assert (
        "data.test_size: fit.validation_split (0.5) + test_size (0.6) = 1.1 leaves "
        "no training files; make the sum less than 1"
    ) in result.output, result.output


def test_validate_compares_a_test_files_columns_with_the_training_files(tmp_path):
    (tmp_path / "train.csv").write_text("a,b,target\n1,2,0\n3,4,1\n")
    (tmp_path / "test.csv").write_text("a,c,target\n1,2,0\n")
    config = tmp_path / "t.yaml"
    data = "{source: csv, path: train.csv, target: target, test_path: test.csv}"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 1, result.output
    assert (
        "data.test_path: test.csv must have the training CSV's columns; it lacks "
        "'b' and has extra 'c'"
    ) in result.output, result.output


def test_a_model_input_name_keras_refuses_is_explained_in_words(tmp_path):
    config = tmp_path / "c.yaml"
    text = (
        "data: {source: sklearn, name: iris}\n"
        "model:\n"
        "  inputs: [{name: age group}]\n"
        "  layers: [{name: out, type: Dense, units: 3, inputs: age group}]\n"
        "  outputs: out\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
    )
    config.write_text(text)  # Keras 3 takes a space (a CSV column 'age group')
    assert CliRunner().invoke(main, ["validate", str(config)]).exit_code == 0
    config.write_text(text.replace("age group", "age/group"))
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert (
        "model.inputs[0].name: a model input's name cannot contain '/' (Keras "
        "refuses it), got 'age/group'; if it is a CSV column, rename the column"
    ) in result.output, result.output
    assert "^[A-Za-z_]" not in result.output


def test_a_series_with_two_validation_fractions_is_warned(tmp_path):
    (tmp_path / "s.csv").write_text("t,y\n" + "".join(f"{i},{i}\n" for i in range(40)))
    config = tmp_path / "s.yaml"
    data = (
        "{source: timeseries, path: s.csv, target: y, sequence_length: 3, "
        "split: {validation: 0.15, test: 0.15}}"
    )
    text = TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    config.write_text(text.replace("fit: {epochs: 1}", "fit: {validation_split: 0.2}"))
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    assert (
        "data.split.validation: warning: fit.validation_split (0.2) replaces this "
        "chronological validation fraction (0.15); remove one"
    ) in result.output, result.output


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ("[a, a]", "data: `features` holds 'a' twice; list each column once"),
        ("[a, target]", "data: target is both a target and a feature; remove it"),
    ],
)
def test_features_that_repeat_a_column_or_hold_the_target(tmp_path, features, message):
    (tmp_path / "table.csv").write_text("a,b,target\n1,2,0\n3,4,1\n")
    config = tmp_path / "t.yaml"
    data = f"{{source: csv, path: table.csv, target: target, features: {features}}}"
    config.write_text(
        TABLE_CONFIG.replace(TABLE_CONFIG.splitlines()[1], f"data: {data}")
    )
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 1, result.output
    assert message in result.output, result.output


def test_no_user_code_resume_reads_no_file_in_a_folder_run_json_names_outside(
    tmp_path, monkeypatch
):
    """The folder check comes before validate reads a table header there."""
    from cbrun.training.resume import ResumeError

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "t.csv").write_text("SECRET-HEADER-LINE\n1\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "t.csv").write_text("a,target\n1,0\n2,1\n")
    config = project / "t.yaml"
    config.write_text(TABLE_CONFIG.replace("path: table.csv", "path: t.csv"))
    monkeypatch.chdir(project)
    loaded = load_config(config)
    run_dir = project / "runs" / "table" / "20260101-000000"
    run_dir.mkdir(parents=True)
    write_resolved_config(run_dir, loaded)
    manifest = runs.RunManifest(run_dir)
    manifest.start("table", outside / "t.yaml", 1, ["cbrun", "train", "t.yaml"])
    manifest.finish(runs.INTERRUPTED, stop_reason="SIGINT after 0 epochs")

    with pytest.raises(ResumeError) as caught:
        prepare_resume(run_dir, (), allow_user_code=False)

    assert "outside the working directory" in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_one_skipped_file_is_counted_in_the_singular(tmp_path):
    from pydantic import TypeAdapter

    from cbrun.config.data import DataConfig
    from cbrun.keras.data import load_data

    shutil.copytree(CONFIGS / "data" / "images", tmp_path / "img")
    (tmp_path / "img" / "checks" / "z.png").write_text("not an image")
    config = TypeAdapter(DataConfig).validate_python(
        {"source": "images", "path": "img", "bad_files": "skip"}
    )
    data = load_data(config, seed=1, base_dir=tmp_path, batch_size=8)
    assert data.description.endswith(", 1 unreadable file skipped (z.png)")
