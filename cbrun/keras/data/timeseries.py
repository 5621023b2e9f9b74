"""The ``timeseries`` source: windows of a series, as Keras's utility cuts them.

The window starting at row i covers rows i, i + r, ..., i + (L - 1) r
(r = ``sampling_rate``, L = ``sequence_length``) and its target is row
i + (L - 1) r + ``target_offset``. The rows are split chronologically
(train, then validation, then test); a window whose rows or target fall
outside its split is dropped, so no window sees another split's rows.
Each split is one ``keras.utils.timeseries_dataset_from_array`` call,
batched with ``fit``'s batch size, unshuffled unless ``shuffle: true``, as
the keras-io forecasting examples build them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cbrun.config.data import TimeseriesData, table_delimiter
from cbrun.config.series_checks import short_split, span, split_rows
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import Dataset, Streams, looks_like_classes, resolve
from cbrun.keras.data.csv_read import (
    SERIES_NUMBERS,
    line_places,
    missing_column,
    read_csv,
)

_WHERE: ConfigPath = ("data",)


@dataclass(frozen=True)
class Part:
    """One chronological split: rows ``[start, stop)`` and its window starts."""

    name: str
    start: int
    stop: int
    windows: np.ndarray


def window_starts(start: int, stop: int, config: TimeseriesData) -> np.ndarray:
    """The rows where the windows inside ``[start, stop)`` begin."""
    return np.arange(start, max(start, stop - span(config)))


def parts(rows: int, config: TimeseriesData, validation: float) -> list[Part]:
    """The three splits with their windows (a split may have none)."""
    return [
        Part(name, start, stop, window_starts(start, stop, config))
        for name, start, stop in split_rows(rows, validation, config.split.test)
    ]


def load(
    config: TimeseriesData,
    *,
    seed: int,
    base_dir: Path,
    batch_size: int,
    validation_split: float,
) -> Dataset:
    """Read the series and cut train/validation/test windows (see the module)."""
    path = resolve(config.path, base_dir, ("data", "path"))
    x, y = _read_series(config, path)
    if config.limit is not None:
        x, y = x[: config.limit], y[: config.limit]
    if config.scale is not None:
        x = x * np.float32(config.scale)
    validation = _validation_fraction(config, validation_split)
    split_parts = parts(len(x), config, validation)
    train_part = split_parts[0]
    classes = (
        looks_like_classes(y[train_part.windows + span(config)])
        if len(train_part.windows)
        else False
    )
    y, num_classes = _labels(config, y, classes, str(path))
    # Validate says the same from a count of the CSV's rows (series_checks).
    short = short_split(len(x), config, validation, validation_split, str(path))
    if short is not None:
        raise BuildError(short[1], short[0])
    datasets = {
        part.name: _windows(x, y, part, config, batch_size, seed)
        if len(part.windows)
        else None
        for part in split_parts
    }
    train_labels = None
    if num_classes is not None:
        train_labels = y[train_part.windows + span(config)]
        if train_labels.ndim > 1:
            train_labels = np.argmax(train_labels, axis=1)
    counts = {part.name: len(part.windows) for part in split_parts}
    kind = f"{num_classes} classes" if num_classes else "regression"
    description = (
        f"timeseries {path}: windows {counts['train']} train, "
        f"{counts['validation']} validation, {counts['test']} test "
        f"(chronological), x ({config.sequence_length}, {x.shape[1]}), {kind}"
    )
    return Dataset(
        x_train=None,  # type: ignore[arg-type]
        y_train=None,  # type: ignore[arg-type]
        x_test=None,
        y_test=None,
        task="classification" if num_classes else "regression",
        num_classes=num_classes,
        description=description,
        streams=Streams(
            train=datasets["train"],
            validation=datasets["validation"],
            test=datasets["test"],
            train_samples=counts["train"],
            train_labels=train_labels,
        ),
    )


def _validation_fraction(config: TimeseriesData, validation_split: float) -> float:
    """``split.validation``, or ``fit.validation_split`` as a chronological split.

    A random split of windows would train on the future of the validation
    windows; ``fit.validation_split`` therefore takes the last rows before
    the test rows, as ``split.validation`` does. Both given is refused.
    """
    if not validation_split:
        return config.split.validation
    if "validation" in config.split.model_fields_set:
        raise BuildError(
            f"fit.validation_split ({validation_split}) and data.split.validation "
            f"({config.split.validation}) both set the timeseries validation "
            "split; keep data.split.validation (chronological) and remove "
            "fit.validation_split",
            ("fit", "validation_split"),
        )
    return validation_split


def _labels(
    config: TimeseriesData, y: np.ndarray, classes: bool, origin: str
) -> tuple[np.ndarray, int | None]:
    """Apply ``data.labels`` to the target column; the task's labels and classes."""
    labels = config.labels
    if labels is not None and labels.map:
        from cbrun.keras.data.labels import map_labels

        lines = None
        if not origin.lower().endswith(".npz"):
            lines = line_places(Path(origin), table_delimiter(config))
        y = map_labels(y, labels.map, f"the target of timeseries {origin}", lines)
        classes = True
    if not classes:
        return y.astype(np.float32), None
    y = y.astype(np.int64)
    num_classes = int(y.max()) + 1
    if labels is not None and labels.one_hot:
        from cbrun.keras.data.labels import one_hot

        num_classes = labels.classes or max(num_classes, 2)
        return one_hot(
            y, num_classes, f"the target of timeseries {origin}"
        ), num_classes
    return y, num_classes


def _windows(
    x: np.ndarray,
    y: np.ndarray,
    part: Part,
    config: TimeseriesData,
    batch_size: int,
    seed: int,
) -> Any:
    """One split's windows with ``keras.utils.timeseries_dataset_from_array``.

    The data handed to Keras is rows ``[start, stop - target_offset)``, so its
    last window ends where the last target fits; ``targets[j]`` is the
    target of the window starting at ``start + j``.
    """
    import keras

    shuffle = config.shuffle and part.name == "train"
    return keras.utils.timeseries_dataset_from_array(
        x[part.start : part.stop - config.target_offset],
        y[part.start + span(config) : part.stop],
        sequence_length=config.sequence_length,
        sampling_rate=config.sampling_rate,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed if shuffle else None,
    )


def _read_series(config: TimeseriesData, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The feature rows (float32, ``(rows, features)``) and the target column."""
    where: ConfigPath = ("data", "path")
    if path.suffix.lower() == ".npz":
        return _read_npz(config, path)
    delimiter = table_delimiter(config)
    features = config.features
    header, values = read_csv(
        path,
        where,
        [config.target],
        delimiter=delimiter,
        features=features,
        single_column=True,
        numbers_only=SERIES_NUMBERS,
        source="timeseries",
    )
    y = values[:, -1]
    if features is None:
        # Every column, the target too, in the file's order.
        others = [name for name in header if name != config.target]
        order = [*others, config.target]
        x = values[:, [order.index(name) for name in header]]
    else:
        x = values[:, :-1]
    return x.astype(np.float32), y


def _read_npz(config: TimeseriesData, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Columns of an ``.npz``: each feature array ``(rows,)`` or ``(rows, k)``."""
    from cbrun.keras.data.npz import _open_npz

    with _open_npz(path) as npz:
        files = list(npz.files)
        names = config.features or files
        for name, key in ((n, ("data", "features")) for n in names):
            if name not in files:
                raise BuildError(missing_column(name, files, path, "feature"), key)
        if config.target not in files:
            raise BuildError(
                missing_column(config.target, files, path, "target"),
                ("data", "target"),
            )
        arrays = [np.asarray(npz[name]) for name in names]
        y = np.asarray(npz[config.target])
    columns = [a.reshape(len(a), -1) for a in arrays]
    rows = {len(a) for a in columns} | {len(y)}
    if len(rows) != 1 or y.ndim != 1:
        raise BuildError(
            f"{path}: the feature arrays and the 1-D target must have one row per "
            f"time step, the same number each (got {sorted(rows)})",
            ("data", "path"),
        )
    for name, array in zip(names, columns, strict=True):
        if array.dtype.kind not in "biuf":
            raise BuildError(
                f"{path}: array {name!r} has dtype {array.dtype}; it must be numeric",
                ("data", "features"),
            )
    return np.concatenate(columns, axis=1).astype(np.float32), y
