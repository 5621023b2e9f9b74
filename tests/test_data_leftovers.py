"""Data-source leftovers of issue 14, each found by plain ``cbrun validate``.

A workbook named as a CSV, a series shorter than one window, a label outside
``labels.map``, line numbers in table errors, column names that are no
Keras input names, and the example data's generator. Loader tests read real
files; validate is run through the CLI without TensorFlow.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pydantic import TypeAdapter

from cbrun.cli import cli
from cbrun.config.data import DataConfig
from cbrun.errors import BuildError, ExitCode
from cbrun.keras.data import load_data

BODY = """\
model: {layers: [{type: Dense, units: 2, activation: softmax}]}
compile: {loss: sparse_categorical_crossentropy}
fit: {epochs: 1}
"""


def cli_run(folder: Path, data: str, command: str = "validate") -> Result:
    """``cbrun <command>`` of a config whose data line is ``data``."""
    config = folder / "c.yaml"
    config.write_text(f"data: {data}\n{BODY}", encoding="utf-8")
    args = [command, str(config)]
    if command == "train":
        args += ["--runs-dir", str(folder / "runs")]
    return CliRunner().invoke(cli, args)


def load_error(base_dir: Path, **fields: Any) -> BuildError:
    """The BuildError training's loader raises for a ``data`` section."""
    config = TypeAdapter(DataConfig).validate_python(fields)
    with pytest.raises(BuildError) as caught:
        load_data(config, seed=1, base_dir=base_dir)
    return caught.value


def problem_line(result: Result, key: str) -> str:
    """The output line of the problem at config key ``key``."""
    lines = [line for line in result.output.splitlines() if f" {key}: " in line]
    assert lines, result.output
    return lines[0]


# --- 1. a workbook (or any binary file) named as a table ----------------------


def write_workbook(path: Path) -> Path:
    """A minimal .xlsx layout: a ZIP whose first entry is [Content_Types].xml."""
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
        book.writestr("xl/worksheets/sheet1.xml", "<sheet>SECRETCELL</sheet>")
    return path


WORKBOOK_SAYS = (
    "the file does not look like CSV text (it starts like a ZIP archive, as an "
    "Excel .xlsx workbook is); save it as CSV/TSV (UTF-8 text) or Parquet"
)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("book.csv", "{source: csv, path: book.csv}"),
        ("book.xlsx", "{source: csv, path: book.xlsx, inputs: columns}"),
    ],
)
def test_a_workbook_is_refused_by_validate_as_train_refuses_it(
    tmp_path: Path, name: str, data: str
) -> None:
    write_workbook(tmp_path / name)
    result = cli_run(tmp_path, data)
    assert result.exit_code == ExitCode.INVALID_CONFIG, result.output
    line = problem_line(result, "data.path")
    assert line.startswith(f"{tmp_path / 'c.yaml'}:1:")
    assert f"cannot read {name} as CSV: {WORKBOOK_SAYS}" in line
    assert "SECRETCELL" not in result.output
    # Training's loader says the same of the same file (its full path).
    inputs = "columns" if "columns" in data else "matrix"
    error = load_error(tmp_path, source="csv", path=name, inputs=inputs)
    assert error.path == ("data", "path")
    assert error.message == f"cannot read {tmp_path / name} as CSV: {WORKBOOK_SAYS}"
    # And `cbrun train` stops with exit 1 at the same line.
    trained = cli_run(tmp_path, data, "train")
    assert trained.exit_code == 1
    assert f"cannot read {name} as CSV: {WORKBOOK_SAYS}" in trained.output


def test_binary_test_path_and_series_are_refused_with_their_fixes(
    tmp_path: Path,
) -> None:
    (tmp_path / "train.csv").write_text("a,target\n1,0\n2,1\n3,0\n")
    (tmp_path / "test.csv").write_bytes(b"\x00\x01\x02" * 100)
    result = cli_run(tmp_path, "{source: csv, path: train.csv, test_path: test.csv}")
    assert result.exit_code == 1
    line = problem_line(result, "data.test_path")
    assert "cannot read test.csv as CSV" in line
    assert "(it starts like binary data); save it as CSV/TSV" in line
    write_workbook(tmp_path / "series.csv")
    series = "{source: timeseries, path: series.csv, target: y, sequence_length: 3}"
    result = cli_run(tmp_path, series)
    line = problem_line(result, "data.path")
    assert "as an Excel .xlsx workbook is); save it as " in line
    assert line.endswith("CSV/TSV (UTF-8 text) or an .npz of arrays")


def test_a_parquet_file_that_is_not_parquet_is_described(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_text("a,target\n1,0\n2,1\n")
    result = cli_run(tmp_path, "{source: csv, path: t.parquet}")
    assert result.exit_code == 1
    line = problem_line(result, "data.path")
    says = (
        "it does not start with Parquet's magic bytes PAR1 (it starts like text); "
        "name it .csv (or .tsv)"
    )
    assert line.endswith(f"cannot read t.parquet as Parquet: {says}")
    error = load_error(tmp_path, source="csv", path="t.parquet")
    assert error.message == f"cannot read {tmp_path / 't.parquet'} as Parquet: {says}"


# --- 2. a series shorter than one window ----------------------------------------

SERIES = "{source: timeseries, path: s.csv, target: y, sequence_length: LENGTH}"


def write_series(path: Path, rows: int, blank_every: int = 0) -> Path:
    lines = ['"t","y"']
    for i in range(rows):
        lines.append(f"{i},{2 * i}")
        if blank_every and i % blank_every == 0:
            lines.append("")  # blank lines are no rows, to training either
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_series_shorter_than_one_window_is_refused_by_plain_validate(
    tmp_path: Path,
) -> None:
    write_series(tmp_path / "s.csv", 10, blank_every=3)
    result = cli_run(tmp_path, SERIES.replace("LENGTH", "12"))
    assert result.exit_code == ExitCode.INVALID_CONFIG, result.output
    says = (
        "has 10 data rows, but one window with its target needs 13 "
        "((sequence_length - 1) * sampling_rate + target_offset + 1 = "
        "(12 - 1) * 1 + 1 + 1); use a longer series or shorter windows"
    )
    assert problem_line(result, "data.sequence_length").endswith(f"s.csv {says}")
    fields = {"source": "timeseries", "path": "s.csv", "target": "y"}
    error = load_error(tmp_path, **fields, sequence_length=12)
    assert error.path == ("data", "sequence_length")
    assert error.message == f"{tmp_path / 's.csv'} {says}"


def test_a_short_validation_split_is_said_where_its_fraction_was_set(
    tmp_path: Path,
) -> None:
    write_series(tmp_path / "s.csv", 10)
    series = SERIES.replace("LENGTH", "2")
    result = cli_run(tmp_path, series.replace("}", ", split: {validation: 0.2}}"))
    line = problem_line(result, "data.split.validation")
    assert "the validation split (0.2 of the rows) has 2 of the 10 data rows" in line
    assert "needs 3 (" in line and line.endswith("a larger fraction or shorter windows")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data: {series}\n"
        + BODY.replace("epochs: 1", "epochs: 1, validation_split: 0.2")
    )
    result = CliRunner().invoke(cli, ["validate", str(config)])
    line = problem_line(result, "fit.validation_split")
    assert "the validation split (0.2 of the rows) has 2 of the 10" in line


@pytest.mark.parametrize(
    ("rows", "length", "split"),
    [
        (13, 2, ", split: {validation: 0.25, test: 0.25}"),  # 7, 3, 3 rows: 3 each
        (60, 8, ""),  # 42, 9, 9 rows: 9 each
    ],
)
def test_a_series_just_long_enough_passes_validate(
    tmp_path: Path, rows: int, length: int, split: str
) -> None:
    write_series(tmp_path / "s.csv", rows, blank_every=4)
    series = SERIES.replace("LENGTH", str(length)).replace("}", f"{split}}}")
    assert cli_run(tmp_path, series).exit_code == 0
    one_row_less = SERIES.replace("LENGTH", str(length + 1))
    assert cli_run(tmp_path, one_row_less.replace("}", f"{split}}}")).exit_code == 1


def test_validate_counts_the_rows_training_reads(tmp_path: Path) -> None:
    from cbrun.config.series_checks import count_data_rows
    from cbrun.keras.data.csv_read import read_csv

    path = tmp_path / "s.csv"
    path.write_text('t,y\n1,2\n\n"3",4\n , \n5,6\n', encoding="utf-8")
    _, values = read_csv(path, ("data", "path"), "y", single_column=True)
    assert count_data_rows(path, ",") == len(values) == 3
    write_series(path, 30, blank_every=2)
    _, values = read_csv(path, ("data", "path"), "y", single_column=True)
    assert count_data_rows(path, ",") == len(values) == 30


def test_a_series_too_long_to_count_is_left_to_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cbrun.config import series_checks

    write_series(tmp_path / "s.csv", 10)
    monkeypatch.setattr(series_checks, "COUNT_BYTES", 50)
    assert series_checks.count_data_rows(tmp_path / "s.csv", ",") is None
    assert cli_run(tmp_path, SERIES.replace("LENGTH", "12")).exit_code == 0


# --- 3. a label outside labels.map: its value, count and first line ------------

MAPPED = {"map": {"yes": 1, "no": 0}}


def test_a_csv_label_outside_the_map_names_its_count_and_first_line(
    tmp_path: Path,
) -> None:
    lines = ["a,label", "1,yes", "", '2,"no"', "3,maybe", *["4,yes", "5,no"] * 5]
    lines += ["6,maybe", "7,never"]
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    error = load_error(
        tmp_path, source="csv", path="l.csv", target="label", labels=MAPPED
    )
    assert error.path == ("data", "labels", "map")
    assert error.message.startswith(f"the target column 'label' of {tmp_path}")
    # In file order: maybe (line 5, and line 16), then never (line 17).
    assert (
        "2 label values are not in data.labels.map (it maps yes, no): "
        "'maybe' (2 of the 15 samples, the first on line 5); "
        "'never' (1 of the 15 samples, on line 17); add them to the map"
    ) in error.message
    (tmp_path / "p.csv").write_text("a,label\n1,yes\n2,no\n3,nah\n4,yes\n")
    error = load_error(
        tmp_path,
        source="csv",
        path="p.csv",
        target="label",
        labels=MAPPED,
        inputs="columns",
    )
    assert error.message.endswith(
        "label 'nah' is not in data.labels.map (it maps yes, no): 1 of the 4 "
        "samples has it, on line 4; add it to the map"
    )


def test_a_shuffled_split_names_no_sample_index(tmp_path: Path) -> None:
    import numpy as np

    y = np.array([1, -1] * 20 + [5])
    np.savez(tmp_path / "d.npz", x_train=np.zeros((41, 2)), y_train=y)
    error = load_error(
        tmp_path,
        source="npz",
        path="d.npz",
        test_size=0.25,
        labels={"map": {-1: 0, 1: 1}},
    )
    assert "label 5 is not in data.labels.map (it maps -1, 1): 1 of the " in (
        error.message
    )
    assert "sample" in error.message and "line" not in error.message
    assert "first at" not in error.message


def test_a_series_label_outside_the_map_names_its_line(tmp_path: Path) -> None:
    rows = [f"{i},{1 if i % 3 else -1}" for i in range(30)]
    rows[20] = "20,2"
    (tmp_path / "s.csv").write_text("t,y\n" + "\n".join(rows) + "\n")
    error = load_error(
        tmp_path,
        source="timeseries",
        path="s.csv",
        target="y",
        sequence_length=3,
        labels={"map": {-1: 0, 1: 1}},
    )
    assert error.message.endswith(
        "label 2 is not in data.labels.map (it maps -1, 1): 1 of the 30 samples "
        "has it, on line 22; add it to the map"
    )


# --- 4. one wording: the file's line, the header counted -------------------------


@pytest.mark.parametrize(
    ("bad_line", "says"),
    [
        ("9,,1", "line 6, column 'b': is empty"),
        ("9,inf,1", "line 6, column 'b': is not a finite number"),
        ("9,8,1,7", "line 6: 4 values, but the header has 3 columns"),
    ],
)
def test_matrix_and_columns_name_the_same_line(
    tmp_path: Path, bad_line: str, says: str
) -> None:
    # Line 3 is blank: a data row index would say row 4, the file says line 6.
    lines = ["a,b,target", "1,2,0", "", "3,4,1", "5,6,0", bad_line, "7,8,1"]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for inputs in ("matrix", "columns"):
        error = load_error(tmp_path, source="csv", path="t.csv", inputs=inputs)
        assert error.message.startswith(f"{tmp_path / 't.csv'}, "), error.message
        if "finite" in says and inputs == "matrix":
            assert "line 6, column 'b': 'inf' is not a number" in error.message
        else:
            assert says in error.message, (inputs, error.message)
        assert "data row" not in error.message


def test_a_headerless_file_counts_lines_from_its_first(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("1,2,0\n3,,1\n")
    names = ["a", "b", "target"]
    for inputs in ("matrix", "columns"):
        error = load_error(
            tmp_path, source="csv", path="t.csv", names=names, inputs=inputs
        )
        assert "t.csv, line 2, column 'b': is empty" in error.message


# --- 5. a CSV column with a space is a named input ------------------------------

SPACED = """\
data: {source: csv, path: t.csv, target: target, inputs: columns, test_size: 0}
model:
  inputs: [{name: age group, dtype: float32}, {name: chol, dtype: float32}]
  layers:
    - {name: both, type: Concatenate, inputs: [age group, chol]}
    - {name: out, type: Dense, units: 1, activation: sigmoid}
  outputs: out
compile: {optimizer: adam, loss: binary_crossentropy}
fit: {epochs: 1, batch_size: 8}
"""


def write_spaced(path: Path, header: str = "age group,chol,target") -> Path:
    rows = [f"{i % 7 / 7:.3f},{(i * 5) % 11 / 11:.3f},{i % 2}" for i in range(32)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.keras
def test_a_column_with_a_space_trains_as_a_named_input(tmp_path: Path) -> None:
    import keras

    write_spaced(tmp_path / "t.csv")
    (tmp_path / "c.yaml").write_text(SPACED, encoding="utf-8")
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        cli, ["train", str(tmp_path / "c.yaml"), "--runs-dir", str(runs)]
    )
    assert result.exit_code == 0, result.output
    (saved,) = runs.glob("*/*/model.keras")
    model = keras.saving.load_model(saved)
    assert [tensor.name for tensor in model.inputs] == ["age group", "chol"]


@pytest.mark.parametrize(
    ("data", "key", "fix"),
    [
        ("{source: csv, path: t.csv, inputs: columns}", "data.path", "list the other"),
        (
            "{source: csv, path: t.csv, inputs: columns, features: [chol, a/b]}",
            "data.features[1]",
            "or drop it here",
        ),
    ],
)
def test_a_column_keras_cannot_name_is_refused_at_validate(
    tmp_path: Path, data: str, key: str, fix: str
) -> None:
    write_spaced(tmp_path / "t.csv", "a/b,chol,target")
    result = cli_run(tmp_path, data)
    assert result.exit_code == 1
    line = problem_line(result, key)
    assert (
        "t.csv, line 1: with inputs: columns the column 'a/b' is a model input, "
        "and Keras refuses '/' in an input name; rename the column in the file's "
        "header line"
    ) in line
    assert fix in line


def test_a_headerless_column_keras_cannot_name_is_said_at_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "t.csv").write_text("1,2,0\n3,4,1\n5,6,0\n")
    data = "{source: csv, path: t.csv, inputs: columns, names: [x, y/z, target]}"
    line = problem_line(cli_run(tmp_path, data), "data.names[1]")
    assert line.endswith("Keras refuses '/' in an input name; rename it in names")


# --- 6. the example table and series are reproducible ---------------------------


def test_the_example_table_and_series_are_written_byte_for_byte(
    tmp_path: Path,
) -> None:
    from scripts.make_example_data import write_tables
    from tests.conftest import CONFIGS

    write_tables(tmp_path)
    for name in ("tabular.csv", "series.csv"):
        written = (tmp_path / name).read_bytes()
        assert written == (CONFIGS / "data" / name).read_bytes(), name
        assert written.count(b"\r\n") == written.count(b"\n")  # csv.writer's CRLF


# --- labels.map keys YAML reads as booleans ---------------------------------------


def test_unquoted_yes_no_map_keys_are_explained(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("a,label\n1,yes\n2,no\n3,yes\n4,no\n")
    data = "{source: csv, path: l.csv, target: label, labels: {map: MAP}}"
    result = cli_run(tmp_path, data.replace("MAP", "{yes: 1, no: 0}"))
    assert result.exit_code == 1
    line = problem_line(result, "data.labels.map")
    assert line.endswith(
        "a key reads as true/false: YAML takes unquoted yes, no, on, off, true "
        "and false as booleans; quote label words, e.g. {'yes': 1, 'no': 0}"
    )
    quoted = cli_run(tmp_path, data.replace("MAP", "{'yes': 1, 'no': 0}"))
    assert quoted.exit_code == 0, quoted.output
