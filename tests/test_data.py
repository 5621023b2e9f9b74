"""cbrun.keras.data: every source, on real (tiny) data, and its errors."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from cbrun.config.data import DATA_SOURCES, DataConfig
from cbrun.config.dataset_names import SKLEARN_DATASETS
from cbrun.errors import BuildError
from cbrun.keras.data import Dataset, load_data
from cbrun.keras.data.keras_cache import CacheFile, cache_files
from tests.fake_datasets import (
    FASHION_FILES,
    REPO,
    load_in_subprocess,
    write_csv,
    write_fashion_mnist,
    write_mnist_npz,
)


def config(**fields: Any) -> Any:
    return TypeAdapter(DataConfig).validate_python(fields)


def load(base_dir: Path = Path("."), seed: int = 42, **fields: Any) -> Dataset:
    return load_data(config(**fields), seed=seed, base_dir=base_dir)


def build_error(base_dir: Path = Path("."), **fields: Any) -> BuildError:
    with pytest.raises(BuildError) as caught:
        load(base_dir, **fields)
    return caught.value


def test_every_source_has_a_loader() -> None:
    from cbrun.keras.data import _LOADERS, _STREAM_LOADERS

    assert set(_LOADERS) | set(_STREAM_LOADERS) == set(DATA_SOURCES)


# --- sklearn -------------------------------------------------------------------

SKLEARN = {  # name: (samples, features, classes), for every SKLEARN_DATASETS name
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
}


@pytest.mark.parametrize("name", SKLEARN_DATASETS)
def test_sklearn_shapes_and_labels(name: str) -> None:
    samples, features, classes = SKLEARN[name]
    ds = load(source="sklearn", name=name)
    n_test = math.ceil(0.2 * samples)
    assert ds.x_train.shape == (samples - n_test, features)
    assert ds.x_test is not None and ds.y_test is not None
    assert ds.x_test.shape == (n_test, features)
    assert ds.y_train.shape == (samples - n_test,)
    assert ds.input_shape == (features,)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.task == "classification" and ds.num_classes == classes
    assert ds.description == (
        f"sklearn {name}: {samples - n_test} train, {n_test} test, "
        f"x ({features},), {classes} classes"
    )


@pytest.mark.parametrize("name", SKLEARN_DATASETS)
def test_sklearn_split_is_stratified(name: str) -> None:
    ds = load(source="sklearn", name=name, test_size=0.25)
    assert ds.y_test is not None
    classes = SKLEARN[name][2]
    train = np.bincount(ds.y_train, minlength=classes)
    test = np.bincount(ds.y_test, minlength=classes)
    # Each class keeps its share of the data in the test split, to one sample.
    assert np.all(np.abs(test - 0.25 * (train + test)) <= 1)


def test_sklearn_split_depends_on_seed_only() -> None:
    first = load(source="sklearn", name="iris", seed=1)
    again = load(source="sklearn", name="iris", seed=1)
    other = load(source="sklearn", name="iris", seed=2)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.x_train, other.x_train)


def test_scale_multiplies_as_float32() -> None:
    plain = load(source="sklearn", name="digits")
    scaled = load(source="sklearn", name="digits", scale=0.0625)
    assert scaled.x_train.dtype == np.float32
    assert scaled.x_train.max() == 1.0  # digits pixels are 0..16
    np.testing.assert_array_equal(
        scaled.x_train, plain.x_train.astype("float32") * np.float32(0.0625)
    )
    np.testing.assert_array_equal(scaled.y_train, plain.y_train)


def test_limit_keeps_the_first_samples_after_the_split() -> None:
    full = load(source="sklearn", name="digits")
    few = load(source="sklearn", name="digits", limit=50)
    assert few.x_test is not None and full.y_test is not None
    assert len(few.x_train) == len(few.y_train) == 50
    assert len(few.x_test) == 50
    np.testing.assert_array_equal(few.x_train, full.x_train[:50])
    np.testing.assert_array_equal(few.y_test, full.y_test[:50])
    assert few.num_classes == 10
    assert few.description.startswith("sklearn digits: 50 train, 50 test")


def test_limit_larger_than_the_data_keeps_everything() -> None:
    ds = load(source="sklearn", name="iris", limit=10_000)
    assert len(ds.x_train) == 120


# --- npz -----------------------------------------------------------------------


def test_npz_with_test_arrays(tmp_path: Path) -> None:
    arrays = write_mnist_npz(tmp_path / "data" / "mnist.npz")
    ds = load(tmp_path, source="npz", path="data/mnist.npz")
    np.testing.assert_array_equal(ds.x_train, arrays["x_train"])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    assert ds.x_train.dtype == np.uint8  # unscaled integers stay as they are
    assert ds.y_train.dtype == np.int64
    assert ds.input_shape == (28, 28)
    assert ds.task == "classification" and ds.num_classes == 10


def test_npz_custom_keys_and_scale(tmp_path: Path) -> None:
    x = np.arange(24, dtype=np.float64).reshape(6, 4)
    y = np.array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    np.savez(tmp_path / "d.npz", feats=x, price=y, tx=x[:2], ty=y[:2])
    ds = load(
        tmp_path,
        source="npz",
        path="d.npz",
        keys={"x_train": "feats", "y_train": "price", "x_test": "tx", "y_test": "ty"},
        scale=0.5,
    )
    np.testing.assert_array_equal(ds.x_train, (x * 0.5).astype(np.float32))
    assert ds.x_train.dtype == np.float32
    assert ds.task == "regression" and ds.num_classes is None
    assert ds.y_train.dtype == np.float32
    assert ds.x_test is not None and ds.x_test.shape == (2, 4)


def test_npz_without_test_arrays_has_no_test_split(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x_train=np.ones((10, 3)), y_train=np.arange(10) % 2)
    ds = load(tmp_path, source="npz", path=str(tmp_path / "d.npz"))
    assert ds.x_test is None and ds.y_test is None
    assert ds.description.endswith(": 10 train, no test, x (3,), 2 classes")


def test_npz_without_test_arrays_splits_with_test_size(tmp_path: Path) -> None:
    y = np.arange(40) % 4
    np.savez(tmp_path / "d.npz", x_train=np.random.rand(40, 3), y_train=y)
    ds = load(tmp_path, source="npz", path="d.npz", test_size=0.5)
    assert ds.y_test is not None and len(ds.y_test) == 20
    assert np.bincount(ds.y_test).tolist() == [5, 5, 5, 5]  # stratified


def test_npz_one_hot_labels_are_classes(tmp_path: Path) -> None:
    y = np.eye(3, dtype=np.float32)[np.arange(9) % 3]
    np.savez(tmp_path / "d.npz", x_train=np.ones((9, 2)), y_train=y)
    ds = load(tmp_path, source="npz", path="d.npz")
    assert ds.task == "classification" and ds.num_classes == 3
    assert ds.y_train.shape == (9, 3) and ds.y_train.dtype == np.float32


def test_npz_flat_x_is_one_feature(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x_train=np.arange(8.0), y_train=np.arange(8.0) * 0.3)
    ds = load(tmp_path, source="npz", path="d.npz")
    assert ds.input_shape == (1,)
    assert ds.task == "regression"


def test_npz_missing_file_names_the_resolved_path(tmp_path: Path) -> None:
    error = build_error(tmp_path, source="npz", path="data/nope.npz")
    assert error.path == ("data", "path")
    assert str(tmp_path / "data" / "nope.npz") in error.message
    assert "does not exist" in error.message


def test_npz_missing_key_lists_the_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.ones((4, 2)), labels=np.zeros(4))
    error = build_error(tmp_path, source="npz", path="d.npz", keys={"x_train": "image"})
    assert error.path == ("data", "keys", "x_train")
    assert "did you mean 'images'?" in error.message
    assert "it has: images, labels" in error.message


def test_npz_explicit_test_key_must_exist(tmp_path: Path) -> None:
    write_mnist_npz(tmp_path / "d.npz")
    error = build_error(tmp_path, source="npz", path="d.npz", keys={"x_test": "x_val"})
    assert error.path == ("data", "keys", "x_test")
    assert "'x_val'" in error.message


def test_npz_needs_both_test_arrays(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "d.npz",
        x_train=np.ones((4, 2)),
        y_train=np.zeros(4),
        x_test=[[1, 2]],
    )
    error = build_error(tmp_path, source="npz", path="d.npz")
    assert error.path == ("data", "keys", "y_test")
    assert "'x_test' but no 'y_test'" in error.message


def test_npz_test_size_with_test_arrays_is_refused(tmp_path: Path) -> None:
    write_mnist_npz(tmp_path / "d.npz")
    error = build_error(tmp_path, source="npz", path="d.npz", test_size=0.2)
    assert error.path == ("data", "test_size")


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"x_train": np.ones((4, 2)), "y_train": np.zeros(3)}, "4 samples but y has 3"),
        ({"x_train": np.ones((4, 2)), "y_train": np.array(list("abcd"))}, "dtype <U1"),
        ({"x_train": np.ones((0, 2)), "y_train": np.zeros(0)}, "shape (0, 2)"),
        (
            {
                **{"x_train": np.ones((4, 2)), "y_train": np.zeros(4)},
                **{"x_test": np.ones((2, 3)), "y_test": np.zeros(2)},
            },
            "test samples have shape (3,), training samples (2,)",
        ),
    ],
)
def test_npz_bad_arrays(tmp_path: Path, arrays: dict, expected: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    error = build_error(tmp_path, source="npz", path="d.npz")
    assert expected in error.message
    assert str(tmp_path / "d.npz") in error.message


def test_npz_object_arrays_are_not_unpickled(tmp_path: Path) -> None:
    ragged = np.array([[1, 2], [3]], dtype=object)
    np.savez(tmp_path / "d.npz", x_train=ragged, y_train=np.zeros(2))
    error = build_error(tmp_path, source="npz", path="d.npz")
    assert error.path == ("data", "keys", "x_train")
    assert "pad ragged sequences" in error.message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("d.npz", b"not a zip", "cannot read"),
        ("empty.npz", b"", "cannot read"),
    ],
)
def test_npz_unreadable_file(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    (tmp_path / name).write_bytes(content)
    error = build_error(tmp_path, source="npz", path=name)
    assert error.path == ("data", "path")
    assert expected in error.message and name in error.message


def test_npz_single_npy_array_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.ones(3))
    error = build_error(tmp_path, source="npz", path="d.npy")
    assert "single array (.npy)" in error.message


def test_npz_path_that_is_a_folder(tmp_path: Path) -> None:
    error = build_error(tmp_path, source="npz", path=".")
    assert "is a folder" in error.message


# --- csv -----------------------------------------------------------------------


def classes_csv(path: Path, rows: int = 20) -> Path:
    table = [[i, i * 0.5, -i, i % 2] for i in range(rows)]
    return write_csv(path, ["a", "b", "c", "label"], table)


def test_csv_target_and_default_split(tmp_path: Path) -> None:
    classes_csv(tmp_path / "train.csv")
    ds = load(tmp_path, source="csv", path="train.csv", target="label")
    assert ds.x_train.shape == (16, 3) and ds.x_train.dtype == np.float32
    assert ds.y_test is not None and len(ds.y_test) == 4
    assert ds.y_train.dtype == np.int64
    assert ds.task == "classification" and ds.num_classes == 2
    assert np.bincount(ds.y_test).tolist() == [2, 2]  # stratified
    # Rows stay whole: column b is half of column a in every row.
    np.testing.assert_array_equal(ds.x_train[:, 1], ds.x_train[:, 0] * 0.5)
    np.testing.assert_array_equal(ds.y_train, ds.x_train[:, 0].astype(int) % 2)


def test_csv_split_is_seeded(tmp_path: Path) -> None:
    classes_csv(tmp_path / "train.csv")
    fields: dict[str, Any] = {
        "source": "csv",
        "path": "train.csv",
        "target": "label",
        "test_size": 0.5,
    }
    first = load(tmp_path, seed=3, **fields)
    again = load(tmp_path, seed=3, **fields)
    other = load(tmp_path, seed=4, **fields)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert len(first.x_train) == 10
    assert not np.array_equal(first.x_train, other.x_train)


def test_csv_regression_target(tmp_path: Path) -> None:
    rows = [[i, i * 1.7 + 0.25] for i in range(10)]
    write_csv(tmp_path / "r.csv", ["x", "target"], rows)
    ds = load(tmp_path, source="csv", path="r.csv", test_size=0.3)
    assert ds.task == "regression" and ds.num_classes is None
    assert ds.y_train.dtype == np.float32
    assert len(ds.x_train) == 7


def test_csv_whole_number_prices_are_regression(tmp_path: Path) -> None:
    rows = [[i, 100_000 + 1000 * i] for i in range(30)]
    write_csv(tmp_path / "r.csv", ["rooms", "price"], rows)
    ds = load(tmp_path, source="csv", path="r.csv", target="price")
    assert ds.task == "regression"


def test_csv_test_path_with_columns_in_another_order(tmp_path: Path) -> None:
    classes_csv(tmp_path / "train.csv")
    write_csv(tmp_path / "test.csv", ["label", "c", "b", "a"], [[1, -3, 1.5, 3]])
    ds = load(
        tmp_path, source="csv", path="train.csv", target="label", test_path="test.csv"
    )
    assert len(ds.x_train) == 20
    assert ds.x_test is not None and ds.y_test is not None
    np.testing.assert_array_equal(ds.x_test, [[3, 1.5, -3]])
    assert ds.y_test.tolist() == [1]


def test_csv_test_path_with_other_columns(tmp_path: Path) -> None:
    classes_csv(tmp_path / "train.csv")
    write_csv(tmp_path / "test.csv", ["a", "b", "d", "label"], [[1, 2, 3, 0]])
    error = build_error(
        tmp_path, source="csv", path="train.csv", target="label", test_path="test.csv"
    )
    assert error.path == ("data", "test_path")
    assert "lacks 'c' and has extra 'd'" in error.message


def test_csv_missing_target_suggests_a_column(tmp_path: Path) -> None:
    classes_csv(tmp_path / "train.csv")
    error = build_error(tmp_path, source="csv", path="train.csv", target="lable")
    assert error.path == ("data", "target")
    assert "no column 'lable'; did you mean 'label'?" in error.message
    assert "(its columns: a, b, c, label)" in error.message


def test_csv_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    write_csv(tmp_path / "t.csv", ["a", "colour", "target"], [[1, 2, 0], [3, "red", 1]])
    error = build_error(tmp_path, source="csv", path="t.csv")
    assert error.path == ("data", "path")
    assert f"{tmp_path / 't.csv'}, line 3, column 'colour': 'red' is not a number" in (
        error.message
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("a,target\n", "no data rows"),
        ("a,target\n1,2\n3\n", "line 3: 1 value, but the header has 2 columns"),
        ("a,target\n1,\n", "line 2, column 'target': is empty"),
        ("a,target\n1,nan\n", "'nan' is not a number"),
        ("a,a,target\n1,2,3\n", "'a' appears twice"),
        ("target\n1\n2\n", "needs at least one feature column"),
        ("a,target\n1,2\n3,inf\n", "line 3, column 'target': 'inf' is not a number"),
        ("a,target\n1,2\n1,2,3\n", "line 3: 3 values, but the header has 2"),
        ("\ufeffa,target\n1,2\n\n1,x\n", "line 4, column 'target': 'x' is not"),
        ("a,target\n1,2\n1e400,0\n", "line 3, column 'a': '1e400' is not a number"),
    ],
)
def test_csv_malformed(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "t.csv").write_text(text)
    error = build_error(tmp_path, source="csv", path="t.csv")
    assert expected in error.message


def test_csv_numpy_parser_reads_what_the_cell_parser_reads(tmp_path: Path) -> None:
    from cbrun.keras.data.csv import _parse_fast, _read_csv

    rng = np.random.default_rng(0)
    values = rng.normal(scale=1e3, size=(200, 4)) ** 3
    lines = ["a,b,c,target"]
    for row in values:
        # Shortest repr, 6 significant digits, a quoted cell, + signs, CRLF.
        lines.append(f'{float(row[0])!r},{row[1]:.6g},"{row[2]:.3e}",+{abs(row[3])}')
    path = tmp_path / "t.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    header, fast = _read_csv(path, ("data", "path"))
    _, cells = _read_csv(path, ("data", "path"), fast=False)
    assert header == ["a", "b", "c", "target"]
    assert fast.shape == (200, 4)
    assert fast.tobytes() == cells.tobytes()  # bit for bit
    assert fast[:, 0].tolist() == values[:, 0].tolist()
    with path.open(newline="") as stream:
        stream.readline()
        assert _parse_fast(stream, 4) is not None  # the fast path was taken


def test_csv_with_bom_and_blank_lines(tmp_path: Path) -> None:
    text = "a,target\n" + "".join(f"{i},{i % 2}\n\n" for i in range(10))
    (tmp_path / "t.csv").write_text("\ufeff" + text, encoding="utf-8")
    ds = load(tmp_path, source="csv", path="t.csv")
    assert ds.x_test is not None
    assert len(ds.x_train) + len(ds.x_test) == 10


def test_csv_missing_files(tmp_path: Path) -> None:
    error = build_error(tmp_path, source="csv", path="nope.csv")
    assert error.path == ("data", "path")
    assert str(tmp_path / "nope.csv") in error.message
    classes_csv(tmp_path / "train.csv")
    error = build_error(
        tmp_path, source="csv", path="train.csv", target="label", test_path="t.csv"
    )
    assert error.path == ("data", "test_path")
    assert str(tmp_path / "t.csv") in error.message


def test_csv_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes(b"a,target\n\xff\xfe,1\n")
    error = build_error(tmp_path, source="csv", path="t.csv")
    assert "cannot read" in error.message


# --- synthetic -----------------------------------------------------------------


def test_synthetic_classification_defaults() -> None:
    ds = load(source="synthetic")
    assert ds.x_train.shape == (800, 20) and ds.x_train.dtype == np.float32
    assert ds.x_test is not None and ds.x_test.shape == (200, 20)
    assert ds.y_train.dtype == np.int64
    assert set(ds.y_train.tolist()) == {0, 1}
    assert ds.task == "classification" and ds.num_classes == 2
    assert (
        ds.description
        == "synthetic classification: 800 train, 200 test, x (20,), 2 classes"
    )


def test_synthetic_classes_are_learnable() -> None:
    ds = load(source="synthetic", samples=600, shape=[4, 4, 1], classes=3)
    assert ds.input_shape == (4, 4, 1) and ds.num_classes == 3
    assert ds.x_test is not None and ds.y_test is not None
    # A nearest-centroid classifier, fitted on train, must beat chance by far.
    flat = ds.x_train.reshape(len(ds.x_train), -1)
    centroids = np.stack([flat[ds.y_train == k].mean(axis=0) for k in range(3)])
    test = ds.x_test.reshape(len(ds.x_test), -1)
    predicted = np.argmin(((test[:, None] - centroids) ** 2).sum(axis=2), axis=1)
    assert np.mean(predicted == ds.y_test) > 0.9


def test_synthetic_regression_is_linear() -> None:
    ds = load(source="synthetic", task="regression", samples=500, shape=[5])
    assert ds.task == "regression" and ds.num_classes is None
    assert ds.y_train.dtype == np.float32 and ds.y_train.shape == (400,)
    design = np.c_[ds.x_train, np.ones(len(ds.x_train))]
    coef, *_ = np.linalg.lstsq(design, ds.y_train, rcond=None)
    residual = ds.y_train - design @ coef
    assert residual.var() / ds.y_train.var() < 0.1


def test_synthetic_is_seeded() -> None:
    fields: dict[str, Any] = {
        "source": "synthetic",
        "task": "regression",
        "samples": 50,
    }
    first, again = load(seed=7, **fields), load(seed=7, **fields)
    other = load(seed=8, **fields)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.x_train, other.x_train)


def test_synthetic_more_classes_than_a_split_can_stratify() -> None:
    ds = load(source="synthetic", samples=10, classes=8, shape=[2])
    assert ds.num_classes == 8
    assert len(ds.x_train) == 8


def test_synthetic_too_large() -> None:
    error = build_error(source="synthetic", samples=10_000_000, shape=[1000])
    assert error.path == ("data", "samples")
    assert "GiB" in error.message


# --- keras ---------------------------------------------------------------------


def test_importing_the_module_does_not_import_keras() -> None:
    code = (
        "import sys, cbrun.keras.data;"
        "heavy = ('keras', 'tensorflow', 'sklearn');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"


KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def test_keras_cache_files() -> None:
    assert cache_files("mnist", {}) == [
        CacheFile("mnist.npz", KERAS_ORIGIN + "mnist.npz")
    ]
    # The npz datasets cache under load_data's `path`, downloaded from one URL.
    assert cache_files("imdb", {"path": "mine/imdb.npz", "maxlen": 9}) == [
        CacheFile("mine/imdb.npz", KERAS_ORIGIN + "imdb.npz")
    ]
    fashion = cache_files("fashion_mnist", {})
    assert [file.name for file in fashion] == [
        f"fashion-mnist/{name}" for name in FASHION_FILES
    ]
    assert fashion[0].origin == KERAS_ORIGIN + FASHION_FILES[0]
    assert cache_files("cifar100", {"label_mode": "coarse"}) == [
        CacheFile(
            "cifar-100-python-target_archive",
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "that is cifar-100-python.tar.gz, renamed",
        )
    ]


@pytest.mark.keras
def test_keras_datasets_from_a_prepared_cache(tmp_path: Path) -> None:
    fashion = write_fashion_mnist(tmp_path)
    mnist_npz = tmp_path / "datasets" / "mnist.npz"
    write_mnist_npz(mnist_npz)  # not the published file: fails Keras's hash check
    loaded, mnist, bad_key, no_maxlen, typo = load_in_subprocess(
        tmp_path,
        [
            {"source": "keras", "name": "fashion_mnist", "scale": 0.5, "limit": 5},
            {"source": "keras", "name": "mnist"},
            {"source": "keras", "name": "fashion_mnist", "load_args": {"path": "x"}},
            {"source": "keras", "name": "imdb", "load_args": {"num_words": 100}},
            {
                "source": "keras",
                "name": "imdb",
                "load_args": {"num_word": 9, "maxlen": 9},
            },
        ],
    )
    np.testing.assert_array_equal(
        loaded["x_train"], fashion["x_train"][:5].astype(np.float32) * 0.5
    )
    np.testing.assert_array_equal(loaded["x_test"], fashion["x_test"] * 0.5)
    assert loaded["y_train"] == fashion["y_train"][:5].tolist()
    assert loaded["dtypes"] == ["float32", "int64"]
    assert loaded["description"] == (
        "keras fashion_mnist: 5 train, 4 test, x (28, 28), 6 classes"
    )

    assert mnist["path"] == ["data", "name"]
    assert "has cached files that fail Keras's hash check" in mnist["error"]
    assert "mnist.npz: found, but not the file Keras expects" in mnist["error"]
    assert "(Keras deleted it)" in mnist["error"] and not mnist_npz.exists()
    assert "use source: npz" in mnist["error"]

    assert bad_key["path"] == ["data", "load_args"]
    assert "has no parameter 'path' (it takes no arguments)" in bad_key["error"]
    assert no_maxlen["path"] == ["data", "load_args"]
    assert "maxlen: 200" in no_maxlen["error"]
    assert "did you mean 'num_words'? (it accepts: path, num_words," in typo["error"]


@pytest.mark.keras
def test_keras_empty_cache_names_the_files_and_folder(tmp_path: Path) -> None:
    home = tmp_path / "keras home"
    fashion, cifar, imdb = load_in_subprocess(
        home,
        [
            {"source": "keras", "name": "fashion_mnist"},
            {"source": "keras", "name": "cifar10"},
            {"source": "keras", "name": "imdb", "load_args": {"maxlen": 100}},
        ],
        timeout=120,
    )
    folder = home.resolve() / "datasets"
    assert fashion["path"] == ["data", "name"]
    assert f"Put these files in {folder} ($KERAS_HOME/datasets" in fashion["error"]
    for name in FASHION_FILES:
        assert f"  fashion-mnist/{name}: missing; download https://" in fashion["error"]
    assert (
        "  cifar-10-batches-py-target_archive: missing; download "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
        "(that is cifar-10-python.tar.gz, renamed)"
    ) in cifar["error"]
    assert "  imdb.npz: missing" in imdb["error"]
