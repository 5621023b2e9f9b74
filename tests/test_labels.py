"""data.labels (map, one_hot) on arrays and streams, and the label/loss check."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from cbrun.config.data import DataConfig, LabelsConfig
from cbrun.errors import BuildError
from cbrun.keras.data import Dataset, load_data
from cbrun.keras.data.label_checks import check_labels_fit_loss
from cbrun.keras.data.labels import map_labels, one_hot, transform_arrays


def load(base_dir: Path, **fields: Any) -> Dataset:
    config = TypeAdapter(DataConfig).validate_python(fields)
    return load_data(config, seed=0, base_dir=base_dir)


def write(path: Path, labels: list[Any]) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["a", "label"])
        writer.writerows([i, label] for i, label in enumerate(labels))
    return path


def test_map_numbers_and_strings() -> None:
    y = np.array([-1, 1, 1, -1])
    np.testing.assert_array_equal(map_labels(y, {-1: 0, 1: 1}, "y"), [0, 1, 1, 0])
    words = np.array(["no", "yes", "yes"], dtype=object)
    np.testing.assert_array_equal(
        map_labels(words, {"no": 0, "yes": 1}, "y"), [0, 1, 1]
    )
    # A resumed run's config.yaml holds JSON keys: '-1' is the number -1.
    np.testing.assert_array_equal(map_labels(y, {"-1": 0, "1": 1}, "y"), [0, 1, 1, 0])


def test_a_label_outside_the_map_names_the_value_and_its_count() -> None:
    with pytest.raises(BuildError) as caught:
        map_labels(np.array([1, -1, 1, 7, 1]), {-1: 0, 1: 1}, "the train labels of x")
    message = caught.value.message
    assert "the train labels of x: label 7 is not in data.labels.map" in message
    assert "1 of the 5 samples has it; add it to the map" in message
    assert "sample 3" not in message  # an index into a shuffled split
    assert caught.value.path == ("data", "labels", "map")


def test_one_hot_width_from_classes_or_the_labels() -> None:
    config = LabelsConfig(map={-1: 0, 1: 1}, one_hot=True)
    out = transform_arrays(config, {"train": np.array([1, -1]), "test": None}, "o")
    np.testing.assert_array_equal(out["train"], [[0, 1], [1, 0]])
    assert out["test"] is None
    wide = transform_arrays(
        LabelsConfig(one_hot=True, classes=4), {"train": np.array([0, 2])}, "o"
    )
    assert wide["train"].shape == (2, 4) and wide["train"].dtype == np.float32
    with pytest.raises(BuildError) as caught:
        one_hot(np.array([0, 5]), 3, "labels")
    assert "label 5 is outside 0..2" in caught.value.message


def test_schema_refuses_classes_without_one_hot() -> None:
    with pytest.raises(ValidationError, match="one_hot"):
        LabelsConfig(classes=3)


def test_labels_on_a_csv_with_string_labels(tmp_path: Path) -> None:
    write(tmp_path / "w.csv", ["yes", "no"] * 10)
    ds = load(
        tmp_path,
        source="csv",
        path="w.csv",
        target="label",
        labels={"map": {"no": 0, "yes": 1}, "one_hot": True},
        test_size=0.2,
    )
    assert ds.task == "classification" and ds.num_classes == 2
    assert ds.y_train.shape == (16, 2) and ds.y_test is not None
    # Each row kept its label: a's even rows said yes.
    np.testing.assert_array_equal(ds.y_train[:, 1], (ds.x_train[:, 0] % 2 == 0))


def test_labels_on_a_timeseries_target(tmp_path: Path) -> None:
    write(tmp_path / "s.csv", [-1 if i % 4 else 1 for i in range(60)])
    ds = load(
        tmp_path,
        source="timeseries",
        path="s.csv",
        target="label",
        features=["a"],
        sequence_length=3,
        labels={"map": {-1: 0, 1: 1}},
    )
    assert ds.num_classes == 2 and ds.streams is not None
    labels = np.concatenate([y.numpy() for _, y in ds.streams.train])
    assert set(labels.tolist()) == {0, 1}


def test_labels_on_a_stream() -> None:
    import tensorflow as tf

    from cbrun.keras.data.labels import transform_stream

    stream = tf.data.Dataset.from_tensor_slices((np.zeros((6, 2)), [-1, 1] * 3)).batch(
        4
    )
    config = LabelsConfig(map={-1: 0, 1: 1}, one_hot=True)
    labels = [y.numpy() for _, y in transform_stream(config, stream, 2)]
    np.testing.assert_array_equal(np.concatenate(labels), [[1, 0], [0, 1]] * 3)
    bad = tf.data.Dataset.from_tensor_slices((np.zeros((2, 1)), [3, 1])).batch(2)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"data\.labels\.map"):
        list(transform_stream(LabelsConfig(map={1: 0}), bad, None))


def fake_config(loss: Any) -> Any:
    return SimpleNamespace(compile=SimpleNamespace(loss=loss))


def arrays(y: Any) -> Any:
    return SimpleNamespace(streams=None, y_train=y)


@pytest.mark.parametrize(
    ("loss", "labels", "refused"),
    [
        ("sparse_categorical_crossentropy", [-1, 1, 1], True),
        ("SparseCategoricalCrossentropy", [0.5, 1.0], True),
        ("sparse_categorical_crossentropy", [0, 2, 1], False),
        ("binary_crossentropy", [-1.0, 1.0], True),
        ("binary_crossentropy", [0.2, 0.9], False),  # soft labels are fine
        ("mse", [-1.0, 1.0], False),
        ("hinge", [-1.0, 1.0], False),  # hinge takes -1/1
        ({"type": "BinaryCrossentropy"}, [2.0, 0.0], True),
    ],
)
def test_labels_a_classification_loss_cannot_take(
    loss: Any, labels: list[float], refused: bool
) -> None:
    y = np.array(labels)
    if not refused:
        check_labels_fit_loss(fake_config(loss), arrays(y))
        return
    with pytest.raises(BuildError) as caught:
        check_labels_fit_loss(fake_config(loss), arrays(y))
    assert caught.value.path == ("data",)
    assert "data.labels: {map: {" in caught.value.message


def test_the_check_per_output_and_on_stream_labels() -> None:
    losses = {"kind": "sparse_categorical_crossentropy", "size": "mse"}
    y = {"kind": np.array([0, 1]), "size": np.array([-3.0, 2.5])}
    check_labels_fit_loss(fake_config(losses), arrays(y))
    y["kind"] = np.array([-1, 1])
    with pytest.raises(BuildError, match="output 'kind'"):
        check_labels_fit_loss(fake_config(losses), arrays(y))
    streams = SimpleNamespace(streams=SimpleNamespace(train_labels=np.array([-1, 1])))
    with pytest.raises(BuildError, match="-1, 1"):
        check_labels_fit_loss(fake_config("sparse_categorical_crossentropy"), streams)


@pytest.mark.keras
def test_labels_of_one_class_say_so_instead_of_asking_for_one_unit(tmp_path):
    from click.testing import CliRunner

    from cbrun.cli import cli

    rows = "\n".join(f"{i},{i % 7},0" for i in range(40))
    (tmp_path / "one.csv").write_text("a,b,label\n" + rows + "\n")
    (tmp_path / "one.yaml").write_text(
        "data: {source: csv, path: one.csv, target: label}\n"
        "model: {layers: [{type: Dense, units: 2, activation: softmax}]}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
        "fit: {epochs: 1}\n"
    )
    result = CliRunner().invoke(
        cli, ["train", str(tmp_path / "one.yaml"), "--runs-dir", str(tmp_path / "r")]
    )
    assert result.exit_code == 1, result.output
    assert "the training labels hold one class only (0)" in result.output
    assert "units: 1" not in result.output
