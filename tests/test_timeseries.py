"""The timeseries source: windows and targets checked index by index.

Each test builds a series whose values are their row numbers, so every
window and target read back from the tf.data pipeline names the rows it
came from; they must be the rows the design's formula gives (window at i:
rows i, i + r, ..., i + (L - 1) r; target row i + (L - 1) r + offset; a
window whose rows or target leave its chronological split is dropped).
"""

from __future__ import annotations

import csv
import math
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


def write_series(path: Path, rows: int, label: Any = None) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["t", "twice", "y"])
        for i in range(rows):
            writer.writerow([i, 2 * i, 10 * i if label is None else label(i)])
    return path


def load(
    base_dir: Path, batch_size: int = 7, validation_split: float = 0.0, **fields: Any
) -> Dataset:
    config = TypeAdapter(DataConfig).validate_python({"source": "timeseries", **fields})
    return load_data(
        config,
        seed=1,
        base_dir=base_dir,
        batch_size=batch_size,
        validation_split=validation_split,
    )


def reference(
    rows: int, length: int, rate: int, offset: int, validation: float, test: float
) -> dict[str, tuple[list[list[int]], list[int]]]:
    """Windows (as row lists) and target rows per split, straight from the spec."""
    n_test, n_validation = math.floor(rows * test), math.floor(rows * validation)
    bounds = {
        "train": (0, rows - n_validation - n_test),
        "validation": (rows - n_validation - n_test, rows - n_test),
        "test": (rows - n_test, rows),
    }
    result = {}
    for name, (low, high) in bounds.items():
        windows, targets = [], []
        for i in range(low, high):
            window = [i + k * rate for k in range(length)]
            target = i + (length - 1) * rate + offset
            if all(low <= row < high for row in window) and low <= target < high:
                windows.append(window)
                targets.append(target)
        result[name] = (windows, targets)
    return result


def read_back(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in dataset:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize(
    ("length", "rate", "offset", "validation", "test"),
    [
        (4, 2, 3, 0.2, 0.2),
        (5, 1, 1, 0.15, 0.15),
        (3, 3, 0, 0.2, 0.3),
        (1, 1, 0, 0.25, 0.0),
    ],
)
def test_windows_and_targets_are_the_specs_rows(
    tmp_path: Path, length: int, rate: int, offset: int, validation: float, test: float
) -> None:
    rows = 61
    write_series(tmp_path / "s.csv", rows)
    ds = load(
        tmp_path,
        path="s.csv",
        target="y",
        features=["t", "twice"],
        sequence_length=length,
        sampling_rate=rate,
        target_offset=offset,
        split={"validation": validation, "test": test},
    )
    expected = reference(rows, length, rate, offset, validation, test)
    assert ds.streams is not None
    parts = {
        "train": ds.streams.train,
        "validation": ds.streams.validation,
        "test": ds.streams.test,
    }
    for name, dataset in parts.items():
        windows, targets = expected[name]
        if not windows:
            assert dataset is None, name
            continue
        x, y = read_back(dataset)
        assert x.shape == (len(windows), length, 2), name
        np.testing.assert_array_equal(x[:, :, 0], windows, err_msg=name)
        np.testing.assert_array_equal(x[:, :, 1], 2 * np.array(windows), err_msg=name)
        np.testing.assert_array_equal(y, 10 * np.array(targets), err_msg=name)
    assert ds.streams.train_samples == len(expected["train"][0])
    assert ds.task == "regression"


def test_batches_have_fits_batch_size(tmp_path: Path) -> None:
    write_series(tmp_path / "s.csv", 80)
    ds = load(tmp_path, batch_size=5, path="s.csv", target="y", sequence_length=3)
    assert ds.streams is not None
    sizes = [int(x.shape[0]) for x, _ in ds.streams.train]
    assert sizes[0] == 5 and all(size <= 5 for size in sizes)
    first_x, _ = next(iter(ds.streams.train))
    assert first_x.shape[-1] == 3  # every column, the target too, by default


def test_shuffle_is_opt_in_and_seeded(tmp_path: Path) -> None:
    write_series(tmp_path / "s.csv", 60)
    plain = read_back(
        load(tmp_path, path="s.csv", target="y", sequence_length=2).streams.train
    )
    shuffled = [
        read_back(
            load(
                tmp_path, path="s.csv", target="y", sequence_length=2, shuffle=True
            ).streams.train
        )
        for _ in range(2)
    ]
    assert np.all(np.diff(plain[1]) > 0)  # in time order, as Keras's default
    np.testing.assert_array_equal(shuffled[0][1], shuffled[1][1])
    assert not np.all(np.diff(shuffled[0][1]) > 0)
    assert sorted(shuffled[0][1].tolist()) == plain[1].tolist()


def test_fit_validation_split_is_the_chronological_validation(tmp_path: Path) -> None:
    write_series(tmp_path / "s.csv", 50)
    fields = {"path": "s.csv", "target": "y", "sequence_length": 2}
    ds = load(tmp_path, validation_split=0.3, split={"test": 0.1}, **fields)
    expected = reference(50, 2, 1, 1, 0.3, 0.1)
    assert ds.streams is not None
    _, y = read_back(ds.streams.validation)
    np.testing.assert_array_equal(y, 10 * np.array(expected["validation"][1]))
    with pytest.raises(BuildError) as both:
        load(tmp_path, validation_split=0.3, split={"validation": 0.2}, **fields)
    assert both.value.path == ("fit", "validation_split")
    assert "data.split.validation" in both.value.message


def test_a_split_too_short_for_one_window(tmp_path: Path) -> None:
    write_series(tmp_path / "s.csv", 40)
    with pytest.raises(BuildError) as short:
        load(tmp_path, path="s.csv", target="y", sequence_length=6, sampling_rate=2)
    assert short.value.path == ("data", "split", "validation")
    assert "validation split (0.15 of the rows) has 6 of the 40 data rows" in (
        short.value.message
    )
    assert "needs 12" in short.value.message


def test_classes_from_a_whole_target_and_balanced_weights(tmp_path: Path) -> None:
    from cbrun.config.training import FitConfig
    from cbrun.training.plan import FitPlan

    write_series(tmp_path / "c.csv", 90, label=lambda i: int(i % 3 == 0))
    ds = load(tmp_path, path="c.csv", target="y", features=["t"], sequence_length=4)
    assert ds.task == "classification" and ds.num_classes == 2
    assert ds.streams is not None and ds.streams.train_labels is not None
    _, y = read_back(ds.streams.train)
    np.testing.assert_array_equal(ds.streams.train_labels, y)
    plan = FitPlan.from_config(FitConfig(class_weight="balanced"), ds)
    counts = np.bincount(y)
    assert plan.class_weight == pytest.approx(
        {c: len(y) / (2 * counts[c]) for c in (0, 1)}
    )


def test_npz_series(tmp_path: Path) -> None:
    t = np.arange(30)
    np.savez(tmp_path / "s.npz", t=t, both=np.stack([t, -t], axis=1), value=t * 10.0)
    ds = load(
        tmp_path,
        path="s.npz",
        target="value",
        features=["t", "both"],
        sequence_length=3,
    )
    assert ds.streams is not None
    x, y = read_back(ds.streams.train)
    expected = reference(30, 3, 1, 1, 0.15, 0.15)["train"]
    np.testing.assert_array_equal(x[:, :, 0], expected[0])
    np.testing.assert_array_equal(x[:, :, 2], -np.array(expected[0]))
    np.testing.assert_array_equal(y, 10 * np.array(expected[1]))
    with pytest.raises(BuildError) as missing:
        load(tmp_path, path="s.npz", target="valeu", sequence_length=3)
    assert "did you mean 'value'" in missing.value.message


def test_validate_names_a_missing_column(tmp_path: Path) -> None:
    write_series(tmp_path / "s.csv", 30)
    config = tmp_path / "ts.yaml"
    config.write_text(
        "data:\n  source: timeseries\n  path: s.csv\n  target: twcie\n"
        "  sequence_length: 3\n"
        "model: {layers: [{type: LSTM, units: 4}, {type: Dense, units: 1}]}\n"
        "compile: {loss: mse}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 1
    assert f"{config}:4:" in result.output and "did you mean 'twice'" in result.output


@pytest.mark.slow
def test_an_lstm_trains_on_windows(tmp_path: Path) -> None:
    write_series(tmp_path / "s.csv", 120)
    config = tmp_path / "lstm.yaml"
    config.write_text(
        "data: {source: timeseries, path: s.csv, target: y, features: [t],\n"
        "       sequence_length: 5, scale: 0.01}\n"
        "model: {layers: [{type: LSTM, units: 4}, {type: Dense, units: 1}]}\n"
        "compile: {optimizer: adam, loss: mse}\n"
        "fit: {epochs: 1, batch_size: 16}\n"
    )
    result = CliRunner().invoke(
        cli, ["train", str(config), "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 0, result.output
    # 120 rows: 18 test, 18 validation, 84 train; a window and target span 5 rows.
    assert "windows 79 train, 13 validation, 13 test (chronological)" in result.output
    assert "feed: tf.data (the source's own pipeline)" in result.output
