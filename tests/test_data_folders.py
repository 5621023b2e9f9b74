"""The ``images`` and ``text`` sources: schemas, validate's folder checks, the
streams, the splits, bad files, and a run that trains as the hand-written
``image_dataset_from_directory`` + ``fit`` script.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import TypeAdapter, ValidationError

from cbrun.cli import cli
from cbrun.config.data import DATA_SOURCES, DataConfig
from cbrun.config.loading import load_config
from cbrun.errors import BuildError, ConfigError
from scripts.make_example_data import IMAGE_CLASSES, write_images, write_texts
from tests.conftest import REPO

SIDE = 12


def config(**fields: Any) -> Any:
    return TypeAdapter(DataConfig).validate_python(fields)


def images_yaml(data: str, fit: str = "{epochs: 1, batch_size: 8}") -> str:
    return f"""\
seed: 3
data:
{data}
model:
  layers:
    - {{type: Rescaling, scale: 0.00392156862745098}}
    - {{type: Conv2D, filters: 4, kernel_size: 3, activation: relu}}
    - {{type: GlobalAveragePooling2D}}
    - {{type: Dense, units: 3, activation: softmax}}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {fit}
"""


def problems(path: Path, *overrides: str) -> list[str]:
    """The formatted errors and warnings of a config, file name only."""
    try:
        loaded = load_config(path, overrides, display=path.name)
    except ConfigError as exc:
        return [p.format() for p in exc.problems]
    return [p.format() for p in loaded.warnings]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three classes of 8 images each, 12x12, in tmp_path/data/images."""
    write_images(tmp_path / "data" / "images", 8, seed=1, side=SIDE)
    return tmp_path


# --- Schemas (TensorFlow-free) --------------------------------------------------


def test_both_sources_are_listed() -> None:
    assert {"images", "text"} <= set(DATA_SOURCES)


def test_images_defaults_are_keras_defaults() -> None:
    section = config(source="images", path="data")
    assert section.image_size == [256, 256]
    assert (section.color_mode, section.label_mode) == ("rgb", "int")
    assert section.bad_files == "error"
    assert section.test_size is None and section.test_path is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"feed": "tf.data"}, "already a batched, prefetched tf.data pipeline"),
        ({"limit": 10}, "reads every file of its class folders"),
        ({"labels": {"one_hot": True}}, "the labels are the class folders"),
        ({"test_size": 0.2, "test_path": "t"}, "either test_path or test_size"),
        ({"label_mode": "binary", "class_names": ["a"]}, "exactly 2 classes"),
        ({"class_names": ["a", "b", "a"]}, "class_names repeats a"),
        ({"image_size": [24]}, "at least 2 items"),
        ({"color_mode": "cmyk"}, "'grayscale', 'rgb' or 'rgba'"),
        ({"test_size": 1.0}, "less than 1"),
    ],
)
def test_images_schema_refuses(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        config(source="images", path="data", **fields)
    assert message in str(caught.value)


def test_text_refuses_scale_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="text is strings, not numbers"):
        config(source="text", path="data", scale=0.5)
    assert config(source="text", path="d", max_length=100).max_length == 100


# --- validate: the folders, without TensorFlow ----------------------------------


def test_a_good_folder_validates_clean(folder: Path, write_config) -> None:
    path = write_config(images_yaml("  {source: images, path: data/images}"))
    assert problems(path) == []


def test_missing_folder(folder: Path, write_config) -> None:
    path = write_config(images_yaml("  {source: images, path: data/imagez}"))
    [problem] = problems(path)
    assert problem.startswith("config.yaml:3:26: data.path: ")
    assert "data/imagez does not exist (path: 'data/imagez', relative to" in problem


def test_folder_without_class_subfolders(tmp_path: Path, write_config) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"x")
    path = write_config(images_yaml("  {source: images, path: flat}"))
    [problem] = problems(path)
    assert "has no class subfolders (it holds 1 files directly)" in problem
    assert "in a subfolder named after the class" in problem


def test_empty_class_and_ignored_files(folder: Path, write_config) -> None:
    (folder / "data" / "images" / "zebra").mkdir()
    (folder / "data" / "images" / "zebra" / "readme.txt").write_text("hi")
    (folder / "data" / "images" / "checks" / "notes.txt").write_text("hi")
    path = write_config(images_yaml("  {source: images, path: data/images}"))
    errors = problems(path)
    assert len(errors) == 2, errors
    assert "class folder" in errors[0] and "zebra has no .bmp/" in errors[0]
    assert "(only 1 files of other kinds)" in errors[0]
    assert "data.path: warning: 2 files in" in errors[1]
    assert "checks/notes.txt, zebra/readme.txt" in errors[1]


def test_class_names_typo_is_at_its_item(folder: Path, write_config) -> None:
    data = (
        "  source: images\n  path: data/images\n"
        "  class_names: [checks, hstripe, vstripes]"
    )
    path = write_config(images_yaml(data))
    [problem] = problems(path)
    assert problem.startswith("config.yaml:5:25: data.class_names[1]: ")
    assert "no subfolder 'hstripe'; did you mean 'hstripes'?" in problem


def test_test_path_with_other_classes(folder: Path, write_config) -> None:
    write_images(folder / "data" / "test", 2, side=SIDE)
    os.rename(folder / "data" / "test" / "checks", folder / "data" / "test" / "dots")
    data = "  {source: images, path: data/images, test_path: data/test}"
    [problem] = problems(write_config(images_yaml(data)))
    assert "data.test_path: the test folder" in problem
    assert "it lacks 'checks'; it has 'dots', which" in problem


def test_binary_needs_two_class_folders(folder: Path, write_config) -> None:
    data = "  {source: images, path: data/images, label_mode: binary}"
    [problem] = problems(write_config(images_yaml(data)))
    assert "data.label_mode: label_mode: binary needs exactly 2 classes" in problem
    data = (
        "  {source: images, path: data/images, label_mode: binary, "
        "class_names: [checks, vstripes]}"
    )
    assert problems(write_config(images_yaml(data))) == []


def corrupt(root: Path) -> dict[str, Path]:
    """A text file named .png, a PNG cut short, one with a flipped bit, an empty
    .jpg, in class folders.
    """
    cls = root / "data" / "images"
    files = {
        "text": cls / "checks" / "fake.png",
        "cut": cls / "hstripes" / "cut.png",
        "flipped": cls / "hstripes" / "flipped.png",
        "empty": cls / "vstripes" / "empty.jpg",
    }
    files["text"].write_text("password=hunter2\n")
    whole = (cls / "hstripes" / "hstripes_00000.png").read_bytes()
    files["cut"].write_bytes(whole[: len(whole) // 2])
    files["flipped"].write_bytes(whole[:60] + bytes([whole[60] ^ 1]) + whole[61:])
    files["empty"].write_bytes(b"")
    return files


def test_unreadable_images_are_named_not_quoted(folder: Path, write_config) -> None:
    corrupt(folder)
    path = write_config(images_yaml("  {source: images, path: data/images}"))
    [problem] = problems(path)
    assert "4 of the 28 files in" in problem and "cannot be read as images" in problem
    assert "checks/fake.png is not a PNG, JPEG, GIF or BMP image (it starts like " in (
        problem
    )
    assert "hstripes/cut.png is cut short (a PNG without its end)" in problem
    assert "flipped.png is damaged (its PNG IDAT chunk fails its checksum)" in problem
    assert "vstripes/empty.jpg is empty" in problem
    assert "hunter2" not in problem
    assert problem.endswith("or set bad_files: skip to train without them")
    skip = "  {source: images, path: data/images, bad_files: skip}"
    [warning] = problems(write_config(images_yaml(skip)))
    assert "warning: 4 of the 28 files" in warning and "will be skipped" in warning


def test_text_that_is_not_utf8(tmp_path: Path, write_config) -> None:
    write_texts(tmp_path / "texts", 3)
    (tmp_path / "texts" / "sport" / "latin1.txt").write_bytes(b"caf\xe9 au lait")
    path = write_config(images_yaml("  {source: text, path: texts}"))
    [problem] = problems(path)
    assert "sport/latin1.txt is not UTF-8 text (byte 0xe9 at 3)" in problem


def test_no_user_code_keeps_folders_inside(folder: Path, write_config) -> None:
    inner = folder / "inner"
    inner.mkdir()
    path = write_config(
        images_yaml("  {source: images, path: ../data/images}"), "inner/c.yaml"
    )
    result = CliRunner().invoke(cli, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 1
    assert "data.path: path '../data/images' goes up out of the config's" in (
        result.output
    )


def test_no_user_code_refuses_a_symlink_out_of_the_folder(
    folder: Path, write_config
) -> None:
    outside = folder.parent / f"{folder.name}_outside"
    write_images(outside, 1, side=SIDE)
    (folder / "data" / "images" / "stolen").symlink_to(outside / "checks")
    inner = folder / "data" / "images" / "checks" / "inner.png"
    inner.symlink_to(folder / "data" / "images" / "checks" / "checks_00000.png")
    path = write_config(images_yaml("  {source: images, path: data/images}"))
    (outside / "checks" / "secret.png").write_text("api_key=abc\n")
    result = CliRunner().invoke(cli, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 1
    assert "data.path: path 'data/images' holds " in result.output
    assert "stolen', a symlink out of the config's folder" in result.output
    assert "copy the files into the folder instead of linking them" in result.output
    # The refused folder's files are not opened, not even to be described.
    assert "secret.png" not in result.output
    (folder / "data" / "images" / "stolen").unlink()  # a link inside is fine
    result = CliRunner().invoke(cli, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 0, result.output


# --- The streams (TensorFlow) ---------------------------------------------------

keras_tests = pytest.mark.keras


def load(base: Path, validation_split: float = 0.0, batch_size: int = 4, **fields):
    from cbrun.keras.data import load_data

    return load_data(
        config(**fields),
        seed=5,
        base_dir=base,
        batch_size=batch_size,
        validation_split=validation_split,
    )


def drain(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in dataset), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("folders")
    write_images(base / "img", 10, seed=2, side=SIDE)
    write_images(base / "test", 3, seed=9, side=SIDE)
    return base


@keras_tests
def test_keras_split_and_description(images: Path) -> None:
    data = load(images, 0.2, source="images", path="img", image_size=[8, 8])
    streams = data.streams
    assert (streams.train_samples, data.num_classes) == (24, 3)
    assert data.description == (
        "images img: 24 train, 6 validation, no test, 3 classes "
        "(checks, hstripes, vstripes), 8x8 rgb"
    )
    x, y = drain(streams.train)
    assert x.shape == (24, 8, 8, 3) and x.dtype == np.float32
    assert sorted(y.tolist()) == sorted(streams.train_labels.tolist())
    assert streams.test is None


@keras_tests
def test_three_way_split_is_disjoint_and_whole(images: Path) -> None:
    fields = {"source": "images", "path": "img", "image_size": [8, 8]}
    data = load(images, 0.2, test_size=0.3, **fields)
    assert "images img: 15 train, 6 validation, 9 test" in data.description
    parts = [drain(getattr(data.streams, name))[0] for name in ("train", "test")]
    parts.append(drain(data.streams.validation)[0])
    seen = np.concatenate(parts).reshape(30, -1)
    assert len({row.tobytes() for row in seen}) == 30  # every image, once
    alone = load(images, 0.0, test_size=0.3, **fields)
    assert "21 train, 9 test" in alone.description
    # The test set alone is Keras's held-out part of the same seeded order.
    np.testing.assert_array_equal(drain(alone.streams.test)[0][:3], parts[1][:3])
    with pytest.raises(BuildError, match="leaves no training files"):
        load(images, 0.5, test_size=0.5, **fields)


@keras_tests
def test_class_names_select_order_and_apply_to_test_path(images: Path) -> None:
    data = load(
        images,
        source="images",
        path="img",
        test_path="test",
        image_size=[8, 8],
        class_names=["vstripes", "checks"],
        label_mode="categorical",
    )
    assert data.description.startswith(
        "images img: 20 train, 6 test, 2 classes (vstripes, checks)"
    )
    _, y = drain(data.streams.test)
    assert y.shape == (6, 2) and y.sum(axis=0).tolist() == [3, 3]
    # vstripes first: class 0 is the folder named first.
    x_test, y_test = drain(data.streams.test)
    vertical = x_test[y_test[:, 0] == 1]
    assert (
        np.abs(np.diff(vertical, axis=1)).mean()
        < np.abs(np.diff(vertical, axis=2)).mean()
    )


@keras_tests
def test_binary_labels(images: Path) -> None:
    data = load(
        images,
        source="images",
        path="img",
        image_size=[8, 8],
        label_mode="binary",
        class_names=["checks", "hstripes"],
        color_mode="grayscale",
        scale=1 / 255,
    )
    x, y = drain(data.streams.train)
    assert y.shape == (20, 1) and set(y.ravel().tolist()) == {0.0, 1.0}
    assert x.shape[-1] == 1 and x.min() >= 0 and x.max() <= 1


@keras_tests
def test_train_labels_give_balanced_class_weight(tmp_path: Path) -> None:
    from cbrun.training.plan import balanced_class_weight

    write_images(tmp_path / "img", 4, seed=3, side=SIDE)
    write_images(tmp_path / "more", 8, seed=4, side=SIDE)
    os.rename(tmp_path / "more" / "checks", tmp_path / "img" / "checks" / "more")
    data = load(tmp_path, 0.25, source="images", path="img")  # checks: 4 + 8
    _, y = drain(data.streams.train)
    np.testing.assert_array_equal(np.sort(y), np.sort(data.streams.train_labels))
    counts = np.bincount(y, minlength=3)
    assert counts[0] > counts[1]
    weights = balanced_class_weight(data, 0.25)
    expected = {c: len(y) / (3 * counts[c]) for c in range(3)}
    assert weights == pytest.approx(expected)


@keras_tests
def test_skip_rebuild_gives_keras_batches_exactly(images: Path) -> None:
    fields = {"source": "images", "path": "img", "image_size": [8, 8]}
    keras_made = load(images, 0.2, test_size=0.2, **fields).streams
    rebuilt = load(images, 0.2, test_size=0.2, bad_files="skip", **fields).streams
    for name in ("train", "validation", "test"):
        for a, b in zip(
            drain(getattr(keras_made, name)),
            drain(getattr(rebuilt, name)),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)


@keras_tests
def test_skip_drops_one_file_never_a_batch(tmp_path: Path) -> None:
    write_images(tmp_path / "img", 6, seed=4, side=SIDE)
    corrupt_png = tmp_path / "img" / "checks" / "checks_00001.png"
    # Whole, well-formed chunks with their checksums around pixel data that
    # is not zlib data: only decoding finds it.
    good = corrupt_png.read_bytes()
    garbage = b"not zlib data at all"
    idat = b"IDAT" + garbage
    chunk = struct.pack(">I", len(garbage)) + idat + struct.pack(">I", zlib.crc32(idat))
    corrupt_png.write_bytes(good[:33] + chunk + good[-12:])
    (tmp_path / "img" / "hstripes" / "z.png").write_text("not an image")
    data = load(tmp_path, batch_size=4, source="images", path="img", bad_files="skip")
    assert data.description.endswith(
        "2 unreadable files skipped (checks_00001.png, z.png)"
    )
    assert data.streams.train_samples == 17
    x, _ = drain(data.streams.train)
    assert len(x) == 17  # 19 listed - the undecodable PNG - z.png
    with pytest.raises(BuildError, match=r"hstripes/z\.png is not a PNG"):
        load(tmp_path, source="images", path="img")


def image_files(folder: Path) -> list[Path]:
    """Whole, cut, damaged and padded images of each kind, written by PIL."""
    import io

    image = pytest.importorskip("PIL.Image").new("RGB", (40, 30), (10, 200, 30))
    encoded = {}
    for kind in ("png", "jpeg", "gif", "bmp"):
        buffer = io.BytesIO()
        image.save(buffer, kind.upper())
        encoded[kind] = buffer.getvalue()
    variants = {
        "cut": lambda b: b[: len(b) * 2 // 3],
        "flipped": lambda b: b[:50] + bytes([b[50] ^ 0x55]) + b[51:],
        "padded": lambda b: b + b"\x00" * 3000,
        "whole": lambda b: b,
    }
    paths = []
    for kind, data in encoded.items():
        for name, change in variants.items():
            path = folder / f"{name}.{kind}"
            path.write_bytes(change(data))
            paths.append(path)
    return paths


@keras_tests
def test_file_checks_agree_with_tensorflow(tmp_path: Path) -> None:
    """A file validate passes, TensorFlow decodes; one it names, TF cannot."""
    import tensorflow as tf

    from cbrun.config.folder_files import image_problem

    disagree = []
    for path in image_files(tmp_path):
        try:
            tf.image.decode_image(
                tf.io.read_file(str(path)), channels=3, expand_animations=False
            )
            decodes = True
        except tf.errors.InvalidArgumentError:
            decodes = False
        problem = image_problem(path)
        # A GIF's LZW pixel data is checked by decoding only (bad_files: skip).
        if decodes != (problem is None) and path.name != "flipped.gif":
            disagree.append(f"{path.name}: TF decodes: {decodes}, check: {problem}")
    assert not disagree, disagree


@keras_tests
def test_text_streams_strings(tmp_path: Path) -> None:
    write_texts(tmp_path / "t", 5)
    data = load(tmp_path, 0.2, source="text", path="t", max_length=5, test_size=0.2)
    assert data.description == (
        "text t: 9 train, 3 validation, 3 test, 3 classes (cooking, sport, weather)"
    )
    x, y = drain(data.streams.train)
    assert x.dtype == object and max(len(t) for t in x) <= 5
    # Keras's text utility does not say which files it took: cbrun lists them
    # as it does, so the labels it knows before training are the stream's.
    assert sorted(y.tolist()) == sorted(data.streams.train_labels.tolist())
    whole = load(tmp_path, 0.2, source="text", path="t", test_size=0.2)
    texts, _ = drain(whole.streams.test)
    files = {p.read_bytes() for p in (tmp_path / "t").rglob("*.txt")}
    assert len(texts) == 3 and set(texts) <= files


# --- Runs ----------------------------------------------------------------------


@pytest.mark.slow
@keras_tests
def test_trains_as_the_hand_written_script(images: Path) -> None:
    """cbrun.train and image_dataset_from_directory + fit give the same history."""
    import keras

    import cbrun

    def hand_written() -> dict[str, list[float]]:
        keras.utils.set_random_seed(7)
        train_ds, val_ds = keras.utils.image_dataset_from_directory(
            str(images / "img"),
            validation_split=0.2,
            subset="both",
            seed=7,
            image_size=(SIDE, SIDE),
            batch_size=4,
        )
        model = keras.Sequential(
            [
                keras.Input((SIDE, SIDE, 3)),
                keras.layers.Rescaling(1 / 255),
                keras.layers.Conv2D(4, 3, activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        history = model.fit(train_ds, validation_data=val_ds, epochs=3, verbose=0)
        return history.history

    expected = hand_written()
    run = {
        "seed": 7,
        "data": {
            "source": "images",
            "path": str(images / "img"),
            "image_size": [SIDE, SIDE],
        },
        "model": {
            "layers": [
                {"type": "Rescaling", "scale": 1 / 255},
                {"type": "Conv2D", "filters": 4, "kernel_size": 3}
                | {"activation": "relu"},
                {"type": "GlobalAveragePooling2D"},
                {"type": "Dense", "units": 3, "activation": "softmax"},
            ]
        },
        "compile": {
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        "fit": {"epochs": 3, "batch_size": 4, "validation_split": 0.2, "verbose": 0},
    }
    result = cbrun.train(run, runs_dir=images / "runs")
    assert set(result.history) >= set(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(result.history[key], values, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
@keras_tests
def test_cli_train_with_a_test_split(images: Path, tmp_path: Path) -> None:
    data = "  {source: images, path: img, image_size: [8, 8], test_size: 0.2}"
    path = images / "cli.yaml"
    path.write_text(images_yaml(data, "{epochs: 2, batch_size: 8}"))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["train", str(path), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    assert "images img: 24 train, 6 test, 3 classes" in result.output
    [record] = list(runs.glob("*/*/run.json"))
    run = json.loads(record.read_text())
    assert run["test_metrics"]["accuracy"] >= 0
    assert len(json.loads((record.parent / "history.json").read_text())["loss"]) == 2


@pytest.mark.slow
def test_installed_cbrun_exits_1_naming_a_corrupt_file(folder: Path) -> None:
    files = corrupt(folder)
    for path in (files["cut"], files["flipped"], files["empty"]):
        path.unlink()
    config_path = folder / "c.yaml"
    config_path.write_text(images_yaml("  {source: images, path: data/images}"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "cbrun"), "train", str(config_path), "--smoke"],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "checks/fake.png is not a PNG, JPEG, GIF or BMP image" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert IMAGE_CLASSES[0] == "checks"


def damaged_gif() -> bytes:
    """A GIF whose header validate accepts and whose pixel data does not decode."""
    import io

    buffer = io.BytesIO()
    pytest.importorskip("PIL.Image").new("RGB", (12, 12), (9, 9, 9)).save(buffer, "GIF")
    data = buffer.getvalue()
    return data[:50] + bytes([data[50] ^ 0x55]) + data[51:]


@keras_tests
@pytest.mark.parametrize("split", ["train", "test"])
def test_a_file_only_the_decoder_refuses_is_named_when_fit_meets_it(
    tmp_path: Path, split: str
) -> None:
    write_images(tmp_path / "img", 6, seed=4, side=SIDE)
    write_images(tmp_path / "held", 2, seed=5, side=SIDE)
    folder = "img" if split == "train" else "held"
    (tmp_path / folder / "checks" / "bad.gif").write_bytes(damaged_gif())
    data = "  {source: images, path: img, image_size: [8, 8], test_path: held}"
    path = tmp_path / "c.yaml"
    path.write_text(images_yaml(data))
    assert problems(path) == []  # only decoding finds it
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["train", str(path), "--runs-dir", str(runs)])
    assert result.exit_code == 1, result.output
    expected = (
        f"\n{path}:3:26: data.path: 1 file cannot be decoded: {folder}/checks/bad.gif "
        "(Invalid GIF data"
    )
    assert expected in result.output, result.output[-600:]
    assert "or set `bad_files: skip` in data to train without it" in result.output
    [record] = runs.glob("*/*/run.json")
    run = json.loads(record.read_text())
    assert run["status"] == "failed"
    assert run["error"].startswith(f"1 file cannot be decoded: {folder}/checks/bad.gif")


@keras_tests
def test_skip_refuses_a_class_only_the_decoder_empties(tmp_path: Path) -> None:
    write_images(tmp_path / "img", 4, seed=6, side=SIDE)
    for png in (tmp_path / "img" / "checks").iterdir():
        png.unlink()
    for name in ("a.gif", "b.gif"):
        (tmp_path / "img" / "checks" / name).write_bytes(damaged_gif())
    with pytest.raises(BuildError) as info:
        load(tmp_path, source="images", path="img", bad_files="skip")
    assert info.value.path == ("data", "bad_files")
    assert info.value.message == (
        f"all 2 files of class folder {tmp_path / 'img' / 'checks'} cannot be "
        "decoded, so bad_files: skip would leave the class without samples; fix "
        "them, remove the folder, or leave it out with class_names"
    )
