"""Load the ``data`` section into NumPy arrays: one loader per ``source``.

Every loader returns raw train/test arrays; :func:`load_data` then applies what
all sources share (``limit``, ``scale``, label dtypes, the task and the number of
classes). Each problem a user can cause is a :class:`~cbrun.errors.BuildError`
that names the file or value and the fix, with the config path it comes from.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import math
import os
import socket
import urllib.error
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from cbrun.config.data import (
    CsvData,
    DataConfig,
    KerasData,
    NpzData,
    SklearnData,
    SyntheticData,
)
from cbrun.errors import BuildError
from cbrun.suggest import did_you_mean

Task = Literal["classification", "regression"]
ConfigPath = tuple[str | int, ...]

# Labels with at most this many distinct whole values are taken as classes.
_MAX_GUESSED_CLASSES = 100
# Largest synthetic dataset, in float32 elements (8 GiB).
_MAX_SYNTHETIC_ELEMENTS = 2**31
# urlretrieve has no timeout of its own: a stalled download would hang forever.
_DOWNLOAD_TIMEOUT_SECONDS = 60.0
_CSV_DEFAULT_TEST_SIZE = 0.2


@dataclass
class Dataset:
    """Train and test arrays, ready for ``model.fit``.

    Attributes:
        x_train: Training inputs, float32 when scaled or floating.
        y_train: Training labels: int64 class indexes, float32 one-hot rows or
            float32 regression targets.
        x_test: Test inputs, or ``None`` when there is no test split.
        y_test: Test labels, or ``None`` when there is no test split.
        task: ``classification`` or ``regression``.
        num_classes: Number of classes (max label + 1 for integer labels), or
            ``None`` for regression.
        description: One line for the log, e.g.
            ``sklearn digits: 1437 train, 360 test, x (64,), 10 classes``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    task: Task
    num_classes: int | None
    description: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: ``x_train.shape[1:]``."""
        return tuple(int(size) for size in self.x_train.shape[1:])


@dataclass
class _Raw:
    """Arrays as a source gives them, before the shared post-processing."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    origin: str
    task: Task | None = None  # None: infer from the labels


def load_data(config: DataConfig, *, seed: int, base_dir: Path) -> Dataset:
    """Load the data a config's ``data`` section names.

    Args:
        config: The validated ``data`` section.
        seed: The run's seed; every split and synthetic sample derives from it.
        base_dir: The config file's folder; relative npz/csv paths resolve
            against it.

    Returns:
        The dataset, with ``limit`` and ``scale`` applied.

    Raises:
        BuildError: The data cannot be loaded; the message says why and how to
            fix it, and ``path`` points into the ``data`` section.
    """
    raw: _Raw
    if isinstance(config, SklearnData):
        raw = _load_sklearn(config, seed)
    elif isinstance(config, KerasData):
        raw = _load_keras(config)
    elif isinstance(config, NpzData):
        raw = _load_npz(config, seed, base_dir)
    elif isinstance(config, CsvData):
        raw = _load_csv(config, seed, base_dir)
    else:
        raw = _load_synthetic(config, seed)
    return _finish(raw, scale=config.scale, limit=config.limit)


# --- sklearn -----------------------------------------------------------------


def _load_sklearn(config: SklearnData, seed: int) -> _Raw:
    """Load a dataset bundled with scikit-learn and split it, stratified."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{config.name}")()
    x_train, x_test, y_train, y_test = _split(
        bunch.data,
        bunch.target,
        test_size=config.test_size,
        seed=seed,
        stratify=True,
        where=("data", "test_size"),
    )
    return _Raw(
        x_train, y_train, x_test, y_test, f"sklearn {config.name}", "classification"
    )


# --- keras -------------------------------------------------------------------

_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_SEQUENCE_DATASETS = ("imdb", "reuters")
_REGRESSION_DATASETS = ("boston_housing", "california_housing")
# get_file(fname=<target>, extract=True) keeps the tarball as <target>_archive.
_CIFAR_ARCHIVES = {
    "cifar10": ("cifar-10-batches-py-target", "cifar-10-python.tar.gz"),
    "cifar100": ("cifar-100-python-target", "cifar-100-python.tar.gz"),
}


@dataclass(frozen=True)
class _CacheFile:
    """A file ``keras.datasets`` reads from ``$KERAS_HOME/datasets``.

    Attributes:
        name: The path below ``$KERAS_HOME/datasets``.
        origin: The URL Keras downloads it from.
        note: How to turn the download into ``name``, when it differs.
    """

    name: str
    origin: str
    note: str = ""


def _keras_cache_files(name: str, load_args: Mapping[str, Any]) -> list[_CacheFile]:
    """Return the cache files ``keras.datasets.<name>.load_data`` needs.

    The names are those of keras/src/datasets/*.py (Keras 3.15): fashion_mnist
    keeps four IDX files in a subfolder; cifar keeps the downloaded tarball
    under a ``*-target_archive`` name and re-extracts it on every load.
    """
    if name == "fashion_mnist":
        return [
            _CacheFile(f"fashion-mnist/{file}", _KERAS_ORIGIN + file)
            for file in (
                "train-labels-idx1-ubyte.gz",
                "train-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
            )
        ]
    if name in _CIFAR_ARCHIVES:
        target, tarball = _CIFAR_ARCHIVES[name]
        return [
            _CacheFile(
                f"{target}_archive",
                f"https://www.cs.toronto.edu/~kriz/{tarball}",
                f"that is {tarball}, renamed",
            )
        ]
    # The npz datasets take their cache file name from load_data's `path`.
    file = str(load_args.get("path", f"{name}.npz"))
    return [_CacheFile(file, f"{_KERAS_ORIGIN}{name}.npz")]


def _keras_datasets_dir() -> Path:
    """Return the folder ``keras.utils.get_file`` reads datasets from."""
    try:
        # The value Keras read from KERAS_HOME when it was imported.
        from keras.src.backend.config import keras_home

        home = str(keras_home())
    except ImportError:  # pragma: no cover - a Keras without that module
        home = os.environ.get("KERAS_HOME") or os.path.join(
            os.path.expanduser("~"), ".keras"
        )
    base = os.path.expanduser(home)
    if not os.access(base, os.W_OK):
        # get_file falls back to /tmp/.keras when the cache dir is read-only.
        base = os.path.join("/tmp", ".keras")
    return Path(base).resolve() / "datasets"


def _load_keras(config: KerasData) -> _Raw:
    """Load a ``keras.datasets`` dataset with its own train/test split."""
    _check_sequence_args(config)
    import keras

    load = getattr(keras.datasets, config.name).load_data
    _check_load_args(load, config)
    folder = _keras_datasets_dir()
    files = _keras_cache_files(config.name, config.load_args)
    present = {file.name for file in files if (folder / file.name).is_file()}
    try:
        with _socket_timeout(_DOWNLOAD_TIMEOUT_SECONDS):
            (x_train, y_train), (x_test, y_test) = load(**config.load_args)
    except Exception as error:
        raise _keras_load_error(config, folder, files, present, error) from error
    if config.name in _SEQUENCE_DATASETS:
        # Keras gives lists of word indexes of different lengths.
        maxlen = config.load_args["maxlen"]
        x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
        x_test = keras.utils.pad_sequences(x_test, maxlen=maxlen)
    task: Task = (
        "regression" if config.name in _REGRESSION_DATASETS else "classification"
    )
    return _Raw(
        np.asarray(x_train),
        np.asarray(y_train),
        np.asarray(x_test),
        np.asarray(y_test),
        f"keras {config.name}",
        task,
    )


def _check_sequence_args(config: KerasData) -> None:
    """Require ``maxlen`` for imdb and reuters, whose sequences vary in length."""
    if config.name not in _SEQUENCE_DATASETS:
        return
    maxlen = config.load_args.get("maxlen")
    if maxlen is None:
        raise BuildError(
            f"keras.datasets.{config.name} gives sequences of different lengths, "
            "which do not fit in one array; add "
            "load_args: {num_words: 10000, maxlen: 200} and cbrun pads them to "
            "maxlen (Keras drops the sequences of maxlen words or more)",
            ("data", "load_args"),
        )
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 2:
        raise BuildError(
            f"load_args.maxlen must be an integer of at least 2. "
            f"Received: maxlen={maxlen!r}",
            ("data", "load_args", "maxlen"),
        )


def _check_load_args(load: Callable[..., Any], config: KerasData) -> None:
    """Refuse keys ``load_data`` does not name (imdb's ``**kwargs`` ignores them)."""
    accepted = [
        name
        for name, parameter in inspect.signature(load).parameters.items()
        if parameter.kind
        not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    ]
    for key in config.load_args:
        if key in accepted:
            continue
        takes = (
            f"it accepts: {', '.join(accepted)}"
            if accepted
            else "it takes no arguments"
        )
        raise BuildError(
            f"keras.datasets.{config.name}.load_data has no parameter "
            f"{key!r}{did_you_mean(key, accepted)} ({takes})",
            ("data", "load_args"),
        )


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Give sockets a default timeout for the block, unless one is set."""
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _is_download_failure(error: BaseException) -> bool:
    """Tell whether ``keras.utils.get_file`` failed to download."""
    text = str(error)
    return (
        isinstance(error, urllib.error.URLError | TimeoutError | ConnectionError)
        or "URL fetch failure" in text  # get_file re-raises URLError as this
        or "Incomplete or corrupted file" in text  # downloaded, wrong hash
    )


def _keras_load_error(
    config: KerasData,
    folder: Path,
    files: Sequence[_CacheFile],
    present: set[str],
    error: BaseException,
) -> BuildError:
    """Explain a failed ``load_data``: what to download and where to put it.

    Args:
        config: The ``data`` section.
        folder: ``$KERAS_HOME/datasets``.
        files: The cache files the dataset needs.
        present: The names of those that existed before ``load_data`` ran.
        error: What ``load_data`` raised.
    """
    name = config.name
    reason = str(error).rstrip(".")
    if not _is_download_failure(error):
        args = ", ".join(f"{key}={value!r}" for key, value in config.load_args.items())
        return BuildError(
            f"keras.datasets.{name}.load_data({args}) failed: "
            f"{type(error).__name__}: {reason}. If the files in {folder} are "
            "damaged, delete them so Keras downloads them again",
            ("data", "load_args") if config.load_args else ("data", "name"),
        )
    lines = []
    for file in files:
        note = f" ({file.note})" if file.note else ""
        lines.append(
            f"  {file.name}: {_cache_state(file, folder, present)}; "
            f"download {file.origin}{note}"
        )
    trouble = (
        "is not in the Keras cache"
        if len(present) < len(files)
        else "has cached files that fail Keras's hash check"
    )
    return BuildError(
        f"keras.datasets.{name} {trouble} and downloading it failed ({reason}). "
        f"Put these files in {folder} ($KERAS_HOME/datasets; KERAS_HOME "
        "defaults to ~/.keras):\n"
        + "\n".join(lines)
        + "\nTo train on your own file in this layout, use source: npz instead",
        ("data", "name"),
    )


def _cache_state(file: _CacheFile, folder: Path, present: set[str]) -> str:
    """Describe a cache file after a failed download."""
    if file.name not in present:
        return "missing"
    # get_file re-downloads a file whose hash differs, and deletes it when
    # that download fails.
    deleted = "" if (folder / file.name).exists() else " (Keras deleted it)"
    return f"found, but not the file Keras expects (hash check failed){deleted}"


# --- npz ---------------------------------------------------------------------


def _load_npz(config: NpzData, seed: int, base_dir: Path) -> _Raw:
    """Load arrays from an ``.npz`` file; split when it has no test arrays."""
    path = _resolve(config.path, base_dir, ("data", "path"))
    keys = config.keys
    with _open_npz(path) as npz:
        x_train = _npz_array(npz, keys.x_train, "x_train", path)
        y_train = _npz_array(npz, keys.y_train, "y_train", path)
        test = _npz_test_arrays(config, npz, path)
    origin = f"npz {path}"
    where: ConfigPath = ("data", "path")
    x_train, y_train = _check_pair(x_train, y_train, f"{path} (train)", where)
    if test is not None:
        if config.test_size is not None:
            raise BuildError(
                f"{path} has its own test arrays ({keys.x_test}, {keys.y_test}); "
                "remove test_size, which only splits files without them",
                ("data", "test_size"),
            )
        x_test, y_test = _check_pair(*test, f"{path} (test)", where)
        _check_same_features(x_train, x_test, f"{path}: {keys.x_test}", where)
        return _Raw(x_train, y_train, x_test, y_test, origin)
    if config.test_size is None:
        return _Raw(x_train, y_train, None, None, origin)
    x_train, x_test, y_train, y_test = _split(
        x_train,
        y_train,
        test_size=config.test_size,
        seed=seed,
        stratify=_looks_like_classes(y_train),
        where=("data", "test_size"),
    )
    return _Raw(x_train, y_train, x_test, y_test, origin)


@contextlib.contextmanager
def _open_npz(path: Path) -> Iterator[np.lib.npyio.NpzFile]:
    """Open an ``.npz`` archive without unpickling anything."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise BuildError(
            f"cannot read {path} as a NumPy .npz file: {error}; save it with "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)",
            ("data", "path"),
        ) from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise BuildError(
            f"{path} holds a single array (.npy), not named arrays; save it with "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)",
            ("data", "path"),
        )
    with loaded:
        yield loaded


def _npz_array(npz: np.lib.npyio.NpzFile, key: str, field: str, path: Path) -> Any:
    """Read the array ``key`` for ``keys.<field>``, or say which arrays exist."""
    if key not in npz.files:
        raise BuildError(
            f"{path} has no array {key!r} for {field}{did_you_mean(key, npz.files)} "
            f"(it has: {', '.join(npz.files) or 'no arrays'}); set data.keys.{field}",
            ("data", "keys", field),
        )
    try:
        return npz[key]
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        # Object (ragged) arrays need pickle, which cbrun refuses to run.
        raise BuildError(
            f"cannot read array {key!r} of {path}: {error}; store it as a plain "
            "numeric array (pad ragged sequences to one length)",
            ("data", "keys", field),
        ) from error


def _npz_test_arrays(
    config: NpzData, npz: np.lib.npyio.NpzFile, path: Path
) -> tuple[np.ndarray, np.ndarray] | None:
    """Read both test arrays, or return ``None`` when the file has neither.

    Default key names may be absent (then there is no test split); names the
    config sets explicitly must exist.
    """
    keys = config.keys
    files = npz.files
    present = {field: getattr(keys, field) in files for field in ("x_test", "y_test")}
    for field in ("x_test", "y_test"):
        if not present[field] and field in keys.model_fields_set:
            _npz_array(npz, getattr(keys, field), field, path)  # raises
    if not any(present.values()):
        return None
    if not all(present.values()):
        found, lacking = (
            ("x_test", "y_test")
            if present["x_test"]
            else (
                "y_test",
                "x_test",
            )
        )
        raise BuildError(
            f"{path} has {getattr(keys, found)!r} but no {getattr(keys, lacking)!r}; "
            f"it has: {', '.join(files)}. Give both test arrays or neither",
            ("data", "keys", lacking),
        )
    return (
        _npz_array(npz, keys.x_test, "x_test", path),
        _npz_array(npz, keys.y_test, "y_test", path),
    )


# --- csv ---------------------------------------------------------------------


def _load_csv(config: CsvData, seed: int, base_dir: Path) -> _Raw:
    """Load a numeric CSV; ``target`` is y, the other columns x."""
    path = _resolve(config.path, base_dir, ("data", "path"))
    header, values = _read_csv(path, ("data", "path"))
    x_train, y_train = _split_target(header, values, config.target, path)
    origin = f"csv {path}"
    if config.test_path is not None:
        test_path = _resolve(config.test_path, base_dir, ("data", "test_path"))
        test_header, test_values = _read_csv(test_path, ("data", "test_path"))
        test_values = _align_columns(header, test_header, test_values, test_path)
        x_test, y_test = _split_target(header, test_values, config.target, test_path)
        return _Raw(x_train, y_train, x_test, y_test, f"{origin} + {test_path}")
    x_train, x_test, y_train, y_test = _split(
        x_train,
        y_train,
        test_size=config.test_size or _CSV_DEFAULT_TEST_SIZE,
        seed=seed,
        stratify=_looks_like_classes(y_train),
        where=("data", "test_size"),
    )
    return _Raw(x_train, y_train, x_test, y_test, origin)


def _read_csv(
    path: Path, where: ConfigPath, *, fast: bool = True
) -> tuple[list[str], np.ndarray]:
    """Return a CSV's header and its values as a float64 matrix.

    NumPy's C parser reads a well-formed file (2x faster than parsing cell
    by cell); anything it refuses or reads as non-finite is read again cell
    by cell, which names the line and column of the first bad cell.

    Args:
        path: The CSV file.
        where: The config key that named it, for errors.
        fast: Try NumPy's parser first. Defaults to True.
    """
    try:
        # utf-8-sig: spreadsheet programs often start the file with a BOM.
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = [name.strip() for name in next(reader, [])]
            if not any(header):
                raise BuildError(
                    f"{path} is empty; it needs a header row of column names",
                    where,
                )
            _check_header(header, path, where)
            values = _parse_fast(stream, len(header)) if fast else None
            if values is None:
                stream.seek(0)
                values = _parse_cells(stream, header, path, where)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise BuildError(f"cannot read {path} as CSV: {error}", where) from error
    return header, values


def _parse_cells(
    stream: TextIO, header: list[str], path: Path, where: ConfigPath
) -> np.ndarray:
    """Parse the CSV in ``stream`` (from its start) cell by cell."""
    reader = csv.reader(stream)
    next(reader)
    rows = [
        _parse_row(row, header, path, reader.line_num, where)
        for row in reader
        if any(cell.strip() for cell in row)  # skip blank lines
    ]
    if not rows:
        raise BuildError(f"{path} has a header but no data rows", where)
    return np.asarray(rows, dtype=np.float64)


def _parse_fast(stream: TextIO, columns: int) -> np.ndarray | None:
    """The rest of ``stream`` as a finite float64 matrix, or None if it is not one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data"
            values = np.loadtxt(
                stream,
                delimiter=",",
                dtype=np.float64,
                ndmin=2,
                comments=None,
                quotechar='"',
            )
    except ValueError:
        return None
    if values.shape[0] == 0 or values.shape[1] != columns:
        return None
    if not np.isfinite(values).all():
        return None
    return values


def _check_header(header: list[str], path: Path, where: ConfigPath) -> None:
    """Refuse empty or repeated column names, which make columns ambiguous."""
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise BuildError(
                f"{path}, line 1: column {position} has no name in the header",
                where,
            )
        if name in seen:
            raise BuildError(
                f"{path}, line 1: the column name {name!r} appears twice", where
            )
        seen.add(name)


def _parse_row(
    row: list[str], header: list[str], path: Path, line: int, where: ConfigPath
) -> list[float]:
    """Convert one CSV row to floats, naming the line and column of a bad cell."""
    if len(row) != len(header):
        raise BuildError(
            f"{path}, line {line}: {len(row)} values, but the header has "
            f"{len(header)} columns",
            where,
        )
    values = []
    for name, cell in zip(header, row, strict=True):
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            problem = "is empty" if not cell.strip() else f"{cell!r} is not a number"
            raise BuildError(
                f"{path}, line {line}, column {name!r}: {problem}; cbrun reads "
                "finite numbers only (encode categories as integers, fill in "
                "missing values)",
                where,
            )
        values.append(value)
    return values


def _split_target(
    header: list[str], values: np.ndarray, target: str, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Split a CSV's matrix into features and the ``target`` column."""
    if target not in header:
        raise BuildError(
            f"{path} has no column {target!r}{did_you_mean(target, header)} "
            f"(its columns: {', '.join(header)})",
            ("data", "target"),
        )
    if len(header) == 1:
        raise BuildError(
            f"{path} has only the target column {target!r}; it needs at least "
            "one feature column",
            ("data", "path"),
        )
    column = header.index(target)
    x = np.delete(values, column, axis=1).astype(np.float32)
    return x, values[:, column]


def _align_columns(
    header: list[str], test_header: list[str], test_values: np.ndarray, path: Path
) -> np.ndarray:
    """Reorder the test CSV's columns to the training CSV's order."""
    missing = [name for name in header if name not in test_header]
    extra = [name for name in test_header if name not in header]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"has extra {', '.join(map(repr, extra))}")
        raise BuildError(
            f"{path} must have the training CSV's columns; it {' and '.join(parts)}",
            ("data", "test_path"),
        )
    return test_values[:, [test_header.index(name) for name in header]]


# --- synthetic ---------------------------------------------------------------


def _load_synthetic(config: SyntheticData, seed: int) -> _Raw:
    """Make seeded random data a model can learn, then split it."""
    shape = tuple(config.shape)
    classes = config.classes or 2
    rows = config.samples + (classes if config.task == "classification" else 0)
    if rows * math.prod(shape) > _MAX_SYNTHETIC_ELEMENTS:
        raise BuildError(
            f"synthetic data of {config.samples} samples of shape {list(shape)} "
            f"needs more than {_MAX_SYNTHETIC_ELEMENTS * 4 // 2**30} GiB; "
            "lower samples or shape",
            ("data", "samples"),
        )
    rng = np.random.default_rng(seed)
    if config.task == "classification":
        x, y = _synthetic_classes(rng, config.samples, shape, classes)
    else:
        x, y = _synthetic_regression(rng, config.samples, shape)
    x_train, x_test, y_train, y_test = _split(
        x,
        y,
        test_size=config.test_size,
        seed=seed,
        stratify=config.task == "classification",
        where=("data", "test_size"),
    )
    return _Raw(
        x_train, y_train, x_test, y_test, f"synthetic {config.task}", config.task
    )


def _synthetic_classes(
    rng: np.random.Generator, samples: int, shape: tuple[int, ...], classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return unit-noise samples around one random mean per class."""
    means = rng.standard_normal((classes, *shape), dtype=np.float32)
    # Balanced classes in random order, so stratified splits are possible.
    y = rng.permutation(np.arange(samples, dtype=np.int64) % classes)
    x = means[y] + rng.standard_normal((samples, *shape), dtype=np.float32)
    return x, y


def _synthetic_regression(
    rng: np.random.Generator, samples: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``y = x . w + noise`` for one random ``w``, with unit-variance y."""
    x = rng.standard_normal((samples, *shape), dtype=np.float32)
    features = math.prod(shape)
    weights = rng.standard_normal(features) / math.sqrt(features)
    noise = 0.1 * rng.standard_normal(samples)
    y = x.reshape(samples, features) @ weights + noise
    return x, y.astype(np.float32)


# --- shared ------------------------------------------------------------------


def _resolve(value: str, base_dir: Path, where: ConfigPath) -> Path:
    """Resolve a config path against the config's folder; it must be a file."""
    given = Path(value).expanduser()
    path = (base_dir / given).resolve()
    if not path.is_file():
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        relative = "" if given.is_absolute() else f", relative to {base_dir}"
        raise BuildError(
            f"{path} {state} ({where[-1]}: {value!r}{relative}); "
            "fix the path or create the file",
            where,
        )
    return path


def _check_pair(
    x: np.ndarray, y: np.ndarray, what: str, where: ConfigPath
) -> tuple[np.ndarray, np.ndarray]:
    """Check that x and y are numeric, non-empty and of the same length."""
    for name, array in (("x", x), ("y", y)):
        if array.dtype.kind not in "biuf":
            raise BuildError(
                f"{what}: {name} has dtype {array.dtype}; it must be numeric "
                "(encode labels as integers 0..classes-1)",
                where,
            )
        if array.ndim == 0 or len(array) == 0:
            raise BuildError(
                f"{what}: {name} has shape {array.shape}; it needs one row per sample",
                where,
            )
    if len(x) != len(y):
        raise BuildError(
            f"{what}: x has {len(x)} samples but y has {len(y)}; they must match",
            where,
        )
    # A flat x is one feature per sample; Keras layers want (samples, features).
    return (x.reshape(-1, 1) if x.ndim == 1 else x), y


def _check_same_features(
    x_train: np.ndarray, x_test: np.ndarray, what: str, where: ConfigPath
) -> None:
    """Check that test samples have the training samples' shape."""
    if x_train.shape[1:] != x_test.shape[1:]:
        raise BuildError(
            f"{what}: test samples have shape {x_test.shape[1:]}, training samples "
            f"{x_train.shape[1:]}; they must match",
            where,
        )


def _split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    test_size: float,
    seed: int,
    stratify: bool,
    where: ConfigPath,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off a seeded test set, stratified by class when possible."""
    from sklearn.model_selection import train_test_split

    labels = y if stratify and _can_stratify(y, test_size) else None
    try:
        parts = train_test_split(
            x, y, test_size=test_size, random_state=seed, stratify=labels
        )
    except ValueError as error:
        raise BuildError(
            f"cannot split {len(x)} samples with test_size={test_size}: {error}",
            where,
        ) from error
    x_train, x_test, y_train, y_test = parts
    return x_train, x_test, y_train, y_test


def _can_stratify(y: np.ndarray, test_size: float) -> bool:
    """Tell whether every class can appear in both parts of a split."""
    if y.ndim != 1:
        return False
    _, counts = np.unique(y, return_counts=True)
    n_test = math.ceil(test_size * len(y))
    n_classes = len(counts)
    return bool(
        counts.min() >= 2 and n_classes <= n_test and n_classes <= len(y) - n_test
    )


def _looks_like_classes(y: np.ndarray) -> bool:
    """Guess whether labels are class indexes (see :func:`_infer_task`)."""
    return _infer_task(y) == "classification"


def _infer_task(y: np.ndarray) -> Task:
    """Guess the task from the labels.

    Integer, boolean and one-hot labels are classes; floats are classes only
    when they are whole, non-negative and few (at most 100 distinct values, and
    at most half the samples), so integer-valued targets such as prices stay
    regression.
    """
    if _is_one_hot(y):
        return "classification"
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        return "regression"
    if y.dtype.kind == "b":
        return "classification"
    if not len(y) or y.min() < 0:
        return "regression"
    if y.dtype.kind in "iu":
        return "classification"
    if not np.all(np.isfinite(y)) or not np.all(y == np.floor(y)):
        return "regression"
    distinct = len(np.unique(y))
    few = distinct <= min(_MAX_GUESSED_CLASSES, max(2, len(y) // 2))
    return "classification" if few else "regression"


def _is_one_hot(y: np.ndarray) -> bool:
    """Tell whether ``y`` holds one-hot rows (for categorical_crossentropy)."""
    if y.ndim != 2 or y.shape[1] < 2 or y.dtype.kind not in "biuf" or not len(y):
        return False
    return bool(np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1))


def _finish(raw: _Raw, *, scale: float | None, limit: int | None) -> Dataset:
    """Apply what all sources share: task, labels, limit, scale, description."""
    _check_not_empty(raw)
    task = raw.task or _infer_task(raw.y_train)
    num_classes = _num_classes(raw) if task == "classification" else None
    x_train, x_test = raw.x_train[:limit], _head(raw.x_test, limit)
    y_train, y_test = raw.y_train[:limit], _head(raw.y_test, limit)
    dataset = Dataset(
        x_train=_inputs(x_train, scale),
        y_train=_labels(y_train, task),
        x_test=None if x_test is None else _inputs(x_test, scale),
        y_test=None if y_test is None else _labels(y_test, task),
        task=task,
        num_classes=num_classes,
        description="",
    )
    dataset.description = _describe(dataset, raw.origin)
    return dataset


def _check_not_empty(raw: _Raw) -> None:
    """Refuse data without training samples."""
    if len(raw.x_train) == 0:
        raise BuildError(f"{raw.origin} has no training samples", ("data",))


def _head(array: np.ndarray | None, limit: int | None) -> np.ndarray | None:
    """Return the first ``limit`` rows of an optional array."""
    return None if array is None else array[:limit]


def _num_classes(raw: _Raw) -> int:
    """Count classes: one-hot width, else the largest label + 1."""
    if _is_one_hot(raw.y_train):
        return int(raw.y_train.shape[1])
    labels = [raw.y_train] if raw.y_test is None else [raw.y_train, raw.y_test]
    return int(max(int(np.max(y)) for y in labels)) + 1


def _inputs(x: np.ndarray, scale: float | None) -> np.ndarray:
    """Scale inputs as float32; floating inputs become float32 regardless."""
    if scale is not None:
        return x.astype(np.float32) * np.float32(scale)
    return x.astype(np.float32) if x.dtype.kind == "f" else x


def _labels(y: np.ndarray, task: Task) -> np.ndarray:
    """Return int64 class indexes, float32 one-hot rows or float32 targets."""
    if task == "regression" or _is_one_hot(y):
        return y.astype(np.float32)
    # (samples, 1), as cifar gives, is the same as (samples,) for Keras losses.
    return y.reshape(len(y)).astype(np.int64)


def _describe(dataset: Dataset, origin: str) -> str:
    """Return e.g. ``sklearn digits: 1437 train, 360 test, x (64,), 10 classes``."""
    test = "no" if dataset.x_test is None else str(len(dataset.x_test))
    kind = (
        f"{dataset.num_classes} classes"
        if dataset.task == "classification"
        else "regression"
    )
    return (
        f"{origin}: {len(dataset.x_train)} train, {test} test, "
        f"x {dataset.input_shape}, {kind}"
    )


def shape_only_data(config: KerasData) -> Dataset:
    """A two-sample stand-in with the shapes a ``keras`` dataset would have.

    ``validate --deep`` builds the model from it without loading (or
    downloading) the whole dataset.

    Raises:
        BuildError: For ``load_args`` that ``load_data`` would refuse.
    """
    from cbrun.config.keras_names import KERAS_DATASETS

    _check_sequence_args(config)
    import keras

    _check_load_args(getattr(keras.datasets, config.name).load_data, config)
    info = KERAS_DATASETS[config.name]
    shape = list(info["x_train"][1:]) or [int(config.load_args.get("maxlen", 1))]
    x = np.zeros((2, *shape), dtype="float32")
    task: Task = info["task"]
    y = np.zeros(2, dtype="int64" if task == "classification" else "float32")
    classes = info["num_classes"]
    return Dataset(x, y, x, y, task, classes, f"keras {config.name} (shapes only)")


def missing_cache_files(config: KerasData) -> tuple[Path, list[str]]:
    """Return the Keras cache folder and the files ``load_data`` still lacks."""
    folder = _keras_datasets_dir()
    files = _keras_cache_files(config.name, config.load_args)
    return folder, [f.name for f in files if not (folder / f.name).is_file()]
