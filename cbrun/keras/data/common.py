"""What every source shares: the dataset types, the seeded split, the finish.

A loader returns a :class:`Raw`; :func:`finish` applies ``limit`` and
``scale``, sets the label dtypes and infers the task and the number of classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import numpy as np

from cbrun.atomic import NotRegularFileError, file_kind, open_regular
from cbrun.errors import BuildError, ConfigPath
from cbrun.runs.layout import RUN_FILE

Task = Literal["classification", "regression"]

# Labels with at most this many distinct whole values are taken as classes.
_MAX_GUESSED_CLASSES = 100


@dataclass(frozen=True)
class InputSpec:
    """One model input as the data gives it: a sample's shape and its dtype.

    Attributes:
        shape: One sample's shape; ``None`` for a size that varies.
        dtype: The Keras dtype name, e.g. ``float32``, ``int64``, ``string``.
    """

    shape: tuple[int | None, ...]
    dtype: str


@dataclass
class Streams:
    """Batched ``tf.data`` pipelines of a source that streams or batches itself.

    Folder sources read their files batch by batch, so memory does not grow
    with their number; ``timeseries`` cuts windows as Keras's utility does.
    The loader has already made ``fit.validation_split`` (its seeded split)
    and batched with ``fit.batch_size``, as the script calling the same Keras
    utility would.

    Attributes:
        train: The training pipeline of ``(x, y)`` batches.
        validation: The validation pipeline, or None.
        test: The test pipeline, or None.
        train_samples: Training samples per epoch (for callbacks' step counts).
        train_labels: The training labels as class indexes when they are
            known without reading the data (``class_weight: balanced``);
            else None.
        find_bad_files: Reads every file of the source again and returns
            those the pipeline cannot decode (as the user should see their
            paths), to name them when fit or evaluate fails on the data;
            None when the source cannot tell.
    """

    train: Any
    validation: Any
    test: Any
    train_samples: int
    train_labels: np.ndarray | None = None
    find_bad_files: Callable[[], list[str]] | None = None


@dataclass
class Dataset:
    """Train and test data, ready for ``model.fit``: arrays, or streams.

    Array sources fill ``x_*``/``y_*``; a streamed source fills ``streams``
    and leaves them None. Inputs may be a dict of named arrays (one per model
    input, ``inputs: columns``), labels a dict by output name.

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
    streams: Streams | None = None

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """One sample's shape (of the only input): ``x_train.shape[1:]``."""
        specs = self.input_specs()
        if isinstance(specs, dict):
            raise ValueError("this data has several named inputs")
        return specs.shape

    @property
    def train_samples(self) -> int:
        """Training samples: before Keras's validation split, after a loader's."""
        if self.streams is not None:
            return self.streams.train_samples
        return sample_count(self.x_train)

    def input_specs(self) -> InputSpec | dict[str, InputSpec]:
        """What the model's input(s) receive: one spec, or one per name."""
        if self.streams is not None:
            spec = self.streams.train.element_spec[0]
            if isinstance(spec, dict):
                return {name: _spec_of_tensor(s) for name, s in spec.items()}
            return _spec_of_tensor(spec)
        if isinstance(self.x_train, dict):
            return {name: _spec_of_array(a) for name, a in self.x_train.items()}
        return _spec_of_array(self.x_train)


def sample_count(x: Any) -> int:
    """The number of samples of an array or of a dict of same-length arrays."""
    if isinstance(x, dict):
        return len(next(iter(x.values()))) if x else 0
    return len(x)


def _spec_of_array(array: np.ndarray) -> InputSpec:
    kind = array.dtype.kind
    dtype = "string" if kind in "OUS" else str(array.dtype)
    return InputSpec(tuple(int(size) for size in array.shape[1:]), dtype)


def _spec_of_tensor(spec: Any) -> InputSpec:
    shape = tuple(None if d is None else int(d) for d in spec.shape[1:])
    return InputSpec(shape, spec.dtype.name)


@dataclass
class Raw:
    """Arrays as a source gives them, before the shared post-processing."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    origin: str
    task: Task | None = None  # None: infer from the labels


class StreamLoader(Protocol):
    """A streaming source's loader: it batches and splits as Keras's utility does."""

    def __call__(
        self,
        config: Any,
        *,
        seed: int,
        base_dir: Path,
        batch_size: int,
        validation_split: float,
    ) -> Dataset:
        """Build the pipelines a ``data`` section of this source names.

        Args:
            config: The validated ``data`` section, of this source's model.
            seed: The run's seed: the loader's split and shuffle use it.
            base_dir: The config file's folder, for relative paths.
            batch_size: ``fit``'s batch size (Keras's 32 when unset).
            validation_split: ``fit.validation_split``, made by the loader.

        Raises:
            BuildError: The data cannot be read, naming the file.
        """


class Loader(Protocol):
    """A source's loader: its ``data`` section in, raw arrays out."""

    def __call__(self, config: Any, *, seed: int, base_dir: Path) -> Raw:
        """Load the arrays a ``data`` section of this source names.

        Args:
            config: The validated ``data`` section, of this source's model.
            seed: The run's seed; every split and random sample derives from it.
            base_dir: The config file's folder, for relative paths.

        Raises:
            BuildError: The data cannot be loaded.
        """


def resolve(value: str, base_dir: Path, where: ConfigPath) -> Path:
    """Resolve a config path against the config's folder; it must be a file.

    Symlinks are followed: the path returned is the file itself. A FIFO, a
    device or a socket is refused here, before anything opens it.
    """
    given = Path(value).expanduser()
    relative = "" if given.is_absolute() else f", relative to {base_dir}"
    try:
        path = (base_dir / given).resolve()
        kind = file_kind(path.stat().st_mode)
    except FileNotFoundError:
        state, fix = "does not exist", "fix the path or create the file"
        if relative and (base_dir / RUN_FILE).is_file():
            fix = (
                "this is a run's config.yaml, whose relative paths start in the "
                "original config's folder (its second line says which): train "
                "the original config, or continue the run with --resume"
            )
    except (OSError, RuntimeError, ValueError) as error:
        # RuntimeError: a symlink loop; ValueError: a NUL in the name.
        path = base_dir / given
        reason = getattr(error, "strerror", None) or error
        state, fix = f"cannot be read ({reason})", "fix the path"
    else:
        if not kind:
            return path
        state = (
            "is a folder, not a file"
            if kind == "a directory"
            else f"is {kind}, not a regular file"
        )
        fix = "fix the path: cbrun reads data from regular files only"
    raise BuildError(f"{path} {state} ({where[-1]}: {value!r}{relative}); {fix}", where)


def open_data(path: Path, where: ConfigPath) -> BinaryIO:
    """Open a data file for binary reading: a regular file only, never blocking.

    Args:
        path: The file, as :func:`resolve` returned it.
        where: The config key that named it, for errors.

    Raises:
        BuildError: It is not a regular file (it changed since
            :func:`resolve`), or cannot be opened.
    """
    try:
        return open_regular(path)
    except NotRegularFileError as error:
        raise BuildError(f"{path} {error.reason}; fix the path", where) from None
    except OSError as error:
        raise BuildError(f"cannot open {path}: {error.strerror}", where) from None


def split(
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


def split_rows(
    x: Any, y: Any, *, test_size: float, seed: int, where: ConfigPath
) -> tuple[Any, Any, Any, Any]:
    """:func:`split` for inputs and labels that may be dicts of named arrays.

    The rows fall as :func:`split` splits arrays (the same seeded order,
    stratified when the labels are one array of classes), and every named
    array takes them.

    Returns:
        ``x_train, y_train, x_test, y_test``, in :class:`Raw`'s order.
    """
    single = None if isinstance(y, dict) else y
    rows = np.arange(sample_count(y))
    train_rows, test_rows, _, _ = split(
        rows,
        rows if single is None else single,
        test_size=test_size,
        seed=seed,
        stratify=single is not None and looks_like_classes(single),
        where=where,
    )
    return (
        take_rows(x, train_rows),
        take_rows(y, train_rows),
        take_rows(x, test_rows),
        take_rows(y, test_rows),
    )


def take_rows(value: Any, rows: np.ndarray) -> Any:
    """These rows of an array, or of each array of a dict of named arrays."""
    if isinstance(value, dict):
        return {name: array[rows] for name, array in value.items()}
    return value[rows]


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


def looks_like_classes(y: np.ndarray) -> bool:
    """Guess whether labels are class indexes (see :func:`_infer_task`)."""
    return _infer_task(y) == "classification"


def _infer_task(y: np.ndarray) -> Task:
    """Guess the task from the labels.

    Integer, boolean and one-hot labels are classes; floats are classes only
    when they are whole, non-negative and few (at most 100 distinct values, and
    at most half the samples), so integer-valued targets such as prices stay
    regression.
    """
    if y.dtype.kind in "OUS":
        return "classification"  # class names, which data.labels.map numbers
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


def finish(
    raw: Raw, *, scale: float | None, limit: int | None, labels: Any = None
) -> Dataset:
    """Apply what all sources share: labels, task, limit, scale, description.

    Inputs may be a dict of named arrays and labels a dict by output name;
    the task and number of classes are those of the first output.
    """
    _check_not_empty(raw)
    if labels is not None:
        from cbrun.keras.data.labels import transform_arrays

        mapped = transform_arrays(
            labels, {"train": raw.y_train, "test": raw.y_test}, raw.origin
        )
        raw = Raw(
            raw.x_train,
            mapped["train"],
            raw.x_test,
            mapped["test"],
            raw.origin,
            raw.task,
        )
    _check_numeric_labels(raw)
    first_train = _first(raw.y_train)
    first_test = None if raw.y_test is None else _first(raw.y_test)
    task = raw.task or _infer_task(first_train)
    num_classes = (
        _num_classes(first_train, first_test) if task == "classification" else None
    )
    x_train, x_test = _head(raw.x_train, limit), _head(raw.x_test, limit)
    y_train, y_test = _head(raw.y_train, limit), _head(raw.y_test, limit)
    dataset = Dataset(
        x_train=_each(x_train, lambda x: _inputs(x, scale)),
        y_train=_each(y_train, lambda y: _labels(y, _task_of(y, task, raw))),
        x_test=None if x_test is None else _each(x_test, lambda x: _inputs(x, scale)),
        y_test=None
        if y_test is None
        else _each(y_test, lambda y: _labels(y, _task_of(y, task, raw))),
        task=task,
        num_classes=num_classes,
        description="",
    )
    dataset.description = _describe(dataset, raw.origin)
    return dataset


def _check_numeric_labels(raw: Raw) -> None:
    """Refuse labels that are strings: ``data.labels.map`` turns them into classes."""
    outputs = raw.y_train if isinstance(raw.y_train, dict) else {None: raw.y_train}
    for name, y in outputs.items():
        if np.asarray(y).dtype.kind in "OUS":
            values = [str(v) for v in np.unique(np.asarray(y).astype(str))[:4]]
            example = ", ".join(f"{v}: {i}" for i, v in enumerate(values))
            from cbrun.suggest import shorten

            target = f" {name!r}" if name else ""
            raise BuildError(
                f"{raw.origin}: the target{target} holds strings; number the "
                f"classes with data.labels: {shorten('{map: {' + example + '}}', 80)}",
                ("data", "labels"),
            )


def _first(y: Any) -> np.ndarray:
    """The only label array, or the first output's."""
    return next(iter(y.values())) if isinstance(y, dict) else y


def _each(value: Any, transform: Any) -> Any:
    """Apply ``transform`` to an array or to each array of a dict."""
    if isinstance(value, dict):
        return {name: transform(array) for name, array in value.items()}
    return transform(value)


def _task_of(y: np.ndarray, first_task: Task, raw: Raw) -> Task:
    """Each output's own task (the first output's when it is the only one)."""
    if not isinstance(raw.y_train, dict):
        return first_task
    return raw.task or _infer_task(y)


def _check_not_empty(raw: Raw) -> None:
    """Refuse data without training samples."""
    if sample_count(raw.x_train) == 0:
        raise BuildError(f"{raw.origin} has no training samples", ("data",))


def _head(array: Any, limit: int | None) -> Any:
    """Return the first ``limit`` rows of an optional array (or dict of them)."""
    if array is None:
        return None
    return _each(array, lambda a: a[:limit])


def _num_classes(y_train: np.ndarray, y_test: np.ndarray | None) -> int:
    """Count classes: one-hot width, else the largest label + 1."""
    if _is_one_hot(y_train):
        return int(y_train.shape[1])
    labels = [y_train] if y_test is None or not len(y_test) else [y_train, y_test]
    return int(max(int(np.max(y)) for y in labels)) + 1


def _inputs(x: np.ndarray, scale: float | None) -> np.ndarray:
    """Scale inputs as float32; floating inputs become float32 regardless."""
    if x.dtype.kind not in "biuf":
        return x  # a column of strings: for a lookup layer, never scaled
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
    test = "no" if dataset.x_test is None else str(sample_count(dataset.x_test))
    kind = (
        f"{dataset.num_classes} classes"
        if dataset.task == "classification"
        else "regression"
    )
    specs = dataset.input_specs()
    if isinstance(specs, dict):
        shown = ", ".join(
            f"{name} {spec.shape}"
            + ("" if spec.dtype.startswith("float") else f" {spec.dtype}")
            for name, spec in list(specs.items())[:6]
        )
        inputs = f"inputs {{{shown}{', ...' if len(specs) > 6 else ''}}}"
    else:
        inputs = f"x {specs.shape}"
    return (
        f"{origin}: {sample_count(dataset.x_train)} train, {test} test, "
        f"{inputs}, {kind}"
    )
