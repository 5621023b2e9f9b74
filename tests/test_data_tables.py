"""Tables (csv, tsv, parquet), several arrays in one npz, the function source.

Loader tests read real files; the CLI tests train tiny real models once per
module (string columns through fit, labels a classification loss refuses).
"""

from __future__ import annotations

import csv
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import TypeAdapter

from cbrun.cli import cli
from cbrun.config.data import DataConfig
from cbrun.errors import BuildError
from cbrun.keras.data import Dataset, load_data
from cbrun.suggest import DATA_QUOTE_LENGTH


def load(base_dir: Path, seed: int = 42, **fields: Any) -> Dataset:
    config = TypeAdapter(DataConfig).validate_python(fields)
    return load_data(config, seed=seed, base_dir=base_dir)


def build_error(base_dir: Path, **fields: Any) -> BuildError:
    with pytest.raises(BuildError) as caught:
        load(base_dir, **fields)
    return caught.value


def write_table(path: Path, rows: list[list[Any]], delimiter: str = ",") -> Path:
    with path.open("w", newline="") as stream:
        csv.writer(stream, delimiter=delimiter).writerows(rows)
    return path


MIXED = [
    ["age", "thal", "chol", "target"],
    *[
        [30 + i % 40, ["normal", "fixed", "reversible"][i % 3], 150 + 7 * i, i % 2]
        for i in range(40)
    ],
]


# --- delimiters, headers, features, targets ----------------------------------


def test_tsv_by_its_suffix_and_a_semicolon_delimiter(tmp_path: Path) -> None:
    rows = [["a", "b", "target"], *[[i, i * 2, i % 2] for i in range(20)]]
    write_table(tmp_path / "t.tsv", rows, "\t")
    write_table(tmp_path / "t.txt", rows, ";")
    tsv = load(tmp_path, source="csv", path="t.tsv", test_size=0)
    semi = load(tmp_path, source="csv", path="t.txt", delimiter=";", test_size=0)
    assert tsv.x_test is None  # test_size: 0 is no test split
    np.testing.assert_array_equal(tsv.x_train, semi.x_train)
    np.testing.assert_array_equal(tsv.x_train[:, 1], [2 * i for i in range(20)])


def test_headerless_file_with_names(tmp_path: Path) -> None:
    write_table(tmp_path / "h.csv", [[i, i + 0.5, i % 3] for i in range(30)])
    ds = load(
        tmp_path,
        source="csv",
        path="h.csv",
        names=["x1", "x2", "label"],
        target="label",
        test_size=0,
    )
    assert ds.x_train.shape == (30, 2)  # the first line is data, not a header
    assert ds.num_classes == 3
    explicit = load(
        tmp_path,
        source="csv",
        path="h.csv",
        header=False,
        names=["x1", "x2", "label"],
        target="label",
        test_size=0,
    )
    np.testing.assert_array_equal(explicit.x_train, ds.x_train)


def test_features_pick_and_order_columns(tmp_path: Path) -> None:
    write_table(tmp_path / "m.csv", MIXED)
    ds = load(
        tmp_path, source="csv", path="m.csv", features=["chol", "age"], test_size=0
    )
    np.testing.assert_array_equal(ds.x_train[:3], [[150, 30], [157, 31], [164, 32]])


def test_several_targets_give_labels_by_name(tmp_path: Path) -> None:
    rows = [["a", "b", "kind", "price"], *[[i, -i, i % 2, i * 1.5] for i in range(30)]]
    write_table(tmp_path / "two.csv", rows)
    ds = load(tmp_path, source="csv", path="two.csv", target=["kind", "price"])
    assert isinstance(ds.y_train, dict) and set(ds.y_train) == {"kind", "price"}
    assert ds.y_train["kind"].dtype == np.int64
    assert ds.y_train["price"].dtype == np.float32
    assert len(ds.y_train["kind"]) == len(ds.x_train) == 24
    np.testing.assert_allclose(ds.y_train["price"], ds.x_train[:, 0] * 1.5)


def test_missing_target_and_feature_suggest_a_column(tmp_path: Path) -> None:
    write_table(tmp_path / "m.csv", MIXED)
    error = build_error(tmp_path, source="csv", path="m.csv", target="targt")
    assert "no column 'targt'; did you mean 'target'?" in error.message
    assert error.path == ("data", "target")
    error = build_error(tmp_path, source="csv", path="m.csv", features=["age", "chl"])
    assert "no feature column 'chl'; did you mean 'chol'?" in error.message
    assert error.path == ("data", "features")


def test_matrix_refuses_a_string_column_and_says_columns(tmp_path: Path) -> None:
    write_table(tmp_path / "m.csv", MIXED)
    error = build_error(tmp_path, source="csv", path="m.csv")
    assert "column 'thal'" in error.message
    assert "inputs: columns" in error.message


def test_headerless_tsv_read_as_csv_is_one_short_line(tmp_path: Path) -> None:
    row = "\t".join(f"{i}.{i * 7919 % 10007:05d}" for i in range(1500))
    (tmp_path / "data.csv").write_text((row + "\n") * 3)
    error = build_error(tmp_path, source="csv", path="data.csv")
    assert "\n" not in error.message
    assert len(error.message) < 300 + len(str(tmp_path))
    assert 'set delimiter: "\\t"' in error.message


# --- inputs: columns and parquet ---------------------------------------------


def test_columns_keep_each_dtype_as_named_inputs(tmp_path: Path) -> None:
    write_table(tmp_path / "m.csv", MIXED)
    ds = load(tmp_path, source="csv", path="m.csv", inputs="columns", test_size=0.25)
    assert isinstance(ds.x_train, dict) and list(ds.x_train) == ["age", "thal", "chol"]
    assert ds.x_train["age"].shape == (30, 1) and ds.x_train["age"].dtype == np.int64
    assert ds.x_train["thal"].dtype == object
    assert set(ds.x_train["thal"].ravel()) == {"normal", "fixed", "reversible"}
    assert ds.x_test is not None and ds.x_test["chol"].shape == (10, 1)
    specs = ds.input_specs()
    assert isinstance(specs, dict) and specs["thal"].dtype == "string"
    # The rows stay together through the seeded split.
    for age, thal in zip(
        ds.x_train["age"].ravel(), ds.x_train["thal"].ravel(), strict=True
    ):
        assert thal == ["normal", "fixed", "reversible"][(age - 30) % 3]


def test_parquet_reads_as_the_csv_does(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    write_table(tmp_path / "m.csv", MIXED)
    columns = list(zip(*MIXED[1:], strict=True))
    table = pa.table(
        {name: list(col) for name, col in zip(MIXED[0], columns, strict=True)}
    )
    pq.write_table(table, tmp_path / "m.parquet")
    kwargs: dict[str, Any] = {"inputs": "columns", "test_size": 0}
    from_csv = load(tmp_path, source="csv", path="m.csv", **kwargs)
    from_parquet = load(tmp_path, source="csv", path="m.parquet", **kwargs)
    for name in from_csv.x_train:
        np.testing.assert_array_equal(
            from_csv.x_train[name], from_parquet.x_train[name]
        )
    np.testing.assert_array_equal(from_csv.y_train, from_parquet.y_train)
    numeric = load(
        tmp_path, source="csv", path="m.parquet", features=["age", "chol"], test_size=0
    )
    assert numeric.x_train.dtype == np.float32 and numeric.x_train.shape == (40, 2)
    error = build_error(tmp_path, source="csv", path="m.parquet")
    assert (
        "'thal' holds strings" in error.message and "inputs: columns" in error.message
    )


def test_an_empty_cell_in_columns_names_row_and_column(tmp_path: Path) -> None:
    rows = [list(row) for row in MIXED]
    rows[5][2] = ""
    write_table(tmp_path / "m.csv", rows)
    error = build_error(tmp_path, source="csv", path="m.csv", inputs="columns")
    assert "m.csv, line 6, column 'chol': is empty" in error.message


def test_a_broken_file_in_columns_quotes_little(tmp_path: Path) -> None:
    secret = "s" * 5000
    (tmp_path / "b.csv").write_text(f"a,target\n1,2\n{secret},3,4\n")
    error = build_error(tmp_path, source="csv", path="b.csv", inputs="columns")
    assert "b.csv, line 3: 3 values, but the header has 2 columns" in error.message
    assert "s" * (DATA_QUOTE_LENGTH + 1) not in error.message


# --- npz with several inputs and outputs --------------------------------------


def test_npz_keys_by_input_and_output_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "img": rng.normal(size=(20, 4, 4)),
        "meta": rng.normal(size=(20,)),
        "cls": rng.integers(0, 3, 20),
        "box": rng.normal(size=(20, 4)),
    }
    np.savez(tmp_path / "multi.npz", **arrays)
    keys = {"x_train": {"image": "img", "meta": "meta"}, "y_train": {"kind": "cls"}}
    ds = load(tmp_path, source="npz", path="multi.npz", keys=keys, test_size=0.25)
    assert set(ds.x_train) == {"image", "meta"}
    assert ds.x_train["meta"].shape == (15, 1)  # one feature per sample
    assert ds.x_test is not None and ds.x_test["image"].shape == (5, 4, 4)
    assert ds.y_train["kind"].dtype == np.int64 and ds.num_classes == 3
    error = build_error(
        tmp_path,
        source="npz",
        path="multi.npz",
        keys={"x_train": {"image": "imgs"}, "y_train": "cls"},
    )
    assert "no array 'imgs'" in error.message and "did you mean 'img'" in error.message


# --- the function source -------------------------------------------------------

USER_DATA = """
import numpy as np


def arrays(rows=40, base_dir=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3)).astype("float32")
    return {"x_train": x, "y_train": (x[:, 0] > 0).astype("int64")}


def keras_style():
    x = np.arange(24, dtype="float32").reshape(12, 2)
    y = np.arange(12) % 2
    return (x[:8], y[:8]), (x[8:], y[8:])


def datasets():
    import tensorflow as tf

    x = np.arange(40, dtype="float32").reshape(20, 2)
    y = np.arange(20) % 2
    train = tf.data.Dataset.from_tensor_slices((x[:16], y[:16])).batch(4)
    test = tf.data.Dataset.from_tensor_slices((x[16:], y[16:])).batch(4)
    return {"train": train, "test": test}


def from_file(path):
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1], data[:, -1].astype("int64")


def broken():
    raise RuntimeError("no data today")
"""


@pytest.fixture
def user_module(tmp_path: Path) -> Path:
    (tmp_path / "user_data_tables.py").write_text(USER_DATA)
    yield tmp_path
    import sys

    sys.modules.pop("user_data_tables", None)


def test_function_returning_arrays(user_module: Path) -> None:
    ds = load(
        user_module,
        source="function",
        function="user_data_tables:arrays",
        params={"rows": 50},
        test_size=0.2,
    )
    assert len(ds.x_train) == 40 and ds.x_test is not None and len(ds.x_test) == 10
    assert ds.num_classes == 2
    pair = load(user_module, source="function", function="user_data_tables:keras_style")
    assert pair.x_test is not None and pair.x_test.shape == (4, 2)


def test_function_params_path_is_relative_to_the_config(
    user_module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    np.savetxt(user_module / "f.csv", [[1, 2, 0], [3, 4, 1], [5, 6, 0]], delimiter=",")
    monkeypatch.chdir("/")
    ds = load(
        user_module,
        source="function",
        function="user_data_tables:from_file",
        params={"path": {"path": "f.csv"}},
    )
    np.testing.assert_array_equal(ds.x_train, [[1, 2], [3, 4], [5, 6]])
    assert ds.x_test is None


def test_function_returning_datasets(user_module: Path) -> None:
    ds = load(user_module, source="function", function="user_data_tables:datasets")
    assert ds.streams is not None and ds.streams.validation is None
    assert ds.streams.train_samples == 16
    assert ds.streams.test is not None


def test_function_errors(user_module: Path) -> None:
    error = build_error(
        user_module, source="function", function="user_data_tables:broken"
    )
    # The line that raised is named, for the user's debugging.
    assert re.search(
        r"raised RuntimeError at user_data_tables\.py:\d+: no data today$",
        error.message,
    )
    assert error.path == ("data", "function")
    error = build_error(
        user_module,
        source="function",
        function="user_data_tables:arrays",
        params={"rowz": 3},
    )
    assert "did you mean 'rows'" in error.message
    error = build_error(
        user_module, source="function", function="user_data_tables:nope"
    )
    assert "has no attribute 'nope'" in error.message


def test_function_is_refused_under_no_user_code(tmp_path: Path) -> None:
    config = tmp_path / "f.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            data:
              source: function
              function: user_data_tables:arrays
            model:
              layers: [{type: Dense, units: 2, activation: softmax}]
            compile: {loss: sparse_categorical_crossentropy}
            """
        )
    )
    result = CliRunner().invoke(cli, ["validate", "--no-user-code", str(config)])
    assert result.exit_code != 0
    assert f"{config}:3:" in result.output  # the line of `function:`
    assert "no-user-code" in result.output


# --- class_weight: balanced ---------------------------------------------------


def test_balanced_class_weight_is_sklearns(tmp_path: Path) -> None:
    from sklearn.utils.class_weight import compute_class_weight

    from cbrun.config.training import FitConfig
    from cbrun.training.plan import FitPlan

    rows = [
        ["a", "target"],
        *[[i, 0 if i % 5 else (1 if i % 2 else 2)] for i in range(100)],
    ]
    write_table(tmp_path / "u.csv", rows)
    ds = load(tmp_path, source="csv", path="u.csv", test_size=0)
    for split in (0.0, 0.3):
        fit = FitConfig(class_weight="balanced", validation_split=split)
        plan = FitPlan.from_config(fit, ds)
        seen = ds.y_train[: int(len(ds.y_train) * (1 - split))]
        classes = np.unique(seen)
        expected = compute_class_weight("balanced", classes=classes, y=seen)
        assert plan.class_weight == pytest.approx(
            dict(zip(classes.tolist(), expected, strict=True))
        )
    assert (
        plan.class_weight is not None
        and plan.class_weight[0] < 1 < plan.class_weight[2]
    )


# --- training through the CLI -------------------------------------------------

COLUMNS_CONFIG = """\
seed: 3
data: {source: csv, path: m.csv, inputs: columns, test_size: 0.25}
model:
  inputs:
    - {name: age, shape: [1], dtype: int64}
    - {name: thal, shape: [1], dtype: string}
    - {name: chol, shape: [1], dtype: int64}
  layers:
    - {name: age_n, type: Normalization, inputs: age, adapt: true}
    - {name: thal_l, type: StringLookup, inputs: thal, adapt: true,
       output_mode: one_hot}
    - {name: chol_n, type: Normalization, inputs: chol, adapt: true}
    - {name: all, type: Concatenate, inputs: [age_n, thal_l, chol_n]}
    - {name: out, type: Dense, units: 2, activation: softmax}
  outputs: out
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 2, batch_size: 8, validation_split: 0.2, class_weight: balanced}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("tables")
    write_table(folder / "m.csv", MIXED)
    (folder / "columns.yaml").write_text(COLUMNS_CONFIG)
    rows = [["a", "label"], *[[i / 10, -1 if i % 2 else 1] for i in range(40)]]
    write_table(folder / "pm.csv", rows)
    minus = (
        "data: {source: csv, path: pm.csv, target: label}\n"
        "model: {layers: [{type: Dense, units: 2, activation: softmax}]}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
        "fit: {epochs: 1}\n"
    )
    (folder / "minus.yaml").write_text(minus)
    (folder / "mapped.yaml").write_text(
        minus.replace("target: label}", "target: label, labels: {map: {-1: 0, 1: 1}}}")
    )
    runner = CliRunner()
    runs = str(folder / "runs")
    return {
        name: runner.invoke(
            cli, ["train", str(folder / f"{name}.yaml"), "--runs-dir", runs]
        )
        for name in ("columns", "minus", "mapped")
    }


@pytest.mark.slow
def test_string_columns_train_through_tf_data(trained: dict[str, Any]) -> None:
    result = trained["columns"]
    assert result.exit_code == 0, result.output
    assert "inputs {age (1,) int64, thal (1,) string, chol (1,) int64}" in result.output
    assert "feed: tf.data (string columns (thal)" in result.output
    assert "class_weight balanced: {0: " in result.output


@pytest.mark.slow
def test_minus_one_labels_with_a_classification_loss(trained: dict[str, Any]) -> None:
    result = trained["minus"]
    assert result.exit_code == 1, result.output
    assert "minus.yaml:1:" in result.output  # at data
    assert "labels are -1, 1" in result.output
    assert "sparse_categorical_crossentropy" in result.output
    assert "data.labels: {map: {-1: 0, 1: 1}}" in result.output
    assert "Graph execution error" not in result.output
    mapped = trained["mapped"]
    assert mapped.exit_code == 0, mapped.output
    assert "2 classes" in mapped.output


def test_validate_reads_the_header_and_a_few_rows(tmp_path: Path) -> None:
    rows = [list(row) for row in MIXED]
    rows.append(["not", "a", "valid", "row", "at all"])  # past the rows read
    write_table(tmp_path / "m.csv", [*rows[:5], *([rows[1]] * 40), rows[-1]])
    config = tmp_path / "v.yaml"
    body = (
        "model: {layers: [{type: Dense, units: 2, activation: softmax}]}\n"
        "compile: {loss: sparse_categorical_crossentropy}\n"
    )
    runner = CliRunner()
    config.write_text(
        "data: {source: csv, path: m.csv, features: [age, chol]}\n" + body
    )
    assert runner.invoke(cli, ["validate", str(config)]).exit_code == 0
    config.write_text("data:\n  source: csv\n  path: m.csv\n" + body)
    result = runner.invoke(cli, ["validate", str(config)])
    assert result.exit_code == 1
    assert "data.inputs: m.csv, line 2: column 'thal' holds strings" in result.output
    config.write_text(
        "data: {source: csv, path: m.csv, inputs: columns, names: [a, b]}\n" + body
    )
    result = runner.invoke(cli, ["validate", str(config)])
    assert "data.names: m.csv, line 1 has 4 values but names gives 2" in result.output


def test_validate_names_a_model_input_that_is_no_column(tmp_path: Path) -> None:
    """inputs: columns feeds the model's inputs by column name: checked at validate."""
    from tests.conftest import CONFIGS

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tabular.csv").write_bytes(
        (CONFIGS / "data" / "tabular.csv").read_bytes()
    )
    text = (CONFIGS / "tabular.yaml").read_text(encoding="utf-8")
    (tmp_path / "ok.yaml").write_text(text, encoding="utf-8")
    renamed = text.replace("{name: cp, dtype: string}", "{name: cpp, dtype: string}")
    renamed = renamed.replace("inputs: cp,", "inputs: cpp,")
    assert renamed.count("cpp") == 2
    (tmp_path / "bad.yaml").write_text(renamed, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["validate", str(tmp_path / "ok.yaml")]).exit_code == 0
    result = runner.invoke(cli, ["validate", str(tmp_path / "bad.yaml")])
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "model.inputs[2].name" in x)
    assert "the data gives no input 'cpp'" in line
    assert "(its feature columns: age, sex, cp, chol, thal)" in line
    assert line.endswith("did you mean 'cp'?")
