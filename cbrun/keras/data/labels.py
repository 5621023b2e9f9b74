"""``data.labels``: label transforms applied before training (map, one-hot).

Arrays are transformed with NumPy; a ``tf.data`` stream whose labels are not
known in advance is transformed with ``dataset.map``. A label outside
``map`` is an error naming the value, how many samples have it and, for
labels read in file order, the file line of the first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cbrun.config.data import LabelsConfig
from cbrun.errors import BuildError, ConfigPath
from cbrun.suggest import DATA_QUOTE_LENGTH, shown_data

_WHERE: ConfigPath = ("data", "labels")
# Label values outside the map named in one message.
_SHOWN_MISSING = 3


def map_key(key: Any, numeric: bool) -> Any:
    """A ``map`` key as the labels hold it.

    A resolved config.yaml comes from a JSON dump whose keys are strings
    (``'-1': 0``): for numeric labels such a key is read as the number.
    """
    if numeric and isinstance(key, str):
        try:
            return float(key)
        except ValueError:
            return key
    return key


def map_labels(
    y: np.ndarray,
    mapping: dict[Any, int],
    what: str,
    lines: Callable[[list[int]], dict[int, str]] | None = None,
) -> np.ndarray:
    """Replace each label by its class index from ``mapping``.

    Args:
        y: The labels, numbers or strings.
        mapping: ``data.labels.map``.
        what: Where the labels come from, e.g. ``the training labels of csv x.csv``.
        lines: For labels in file order: sample indexes -> where each is in
            the file (``line 5 of x.csv``), to name the first sample of a
            label outside the map. Without it no sample is named: an index
            into a shuffled split means nothing to the user.

    Raises:
        BuildError: Labels outside the map: each value, how many samples
            have it (and where the first is, with ``lines``).
    """
    numeric = y.dtype.kind in "biuf"
    table = {map_key(key, numeric): index for key, index in mapping.items()}
    values, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    indexes = np.empty(len(values), dtype=np.int64)
    missing: list[tuple[Any, int, int]] = []  # (label, samples, first sample)
    for position, value in enumerate(values):
        label = value.item() if hasattr(value, "item") else value
        if label in table:
            indexes[position] = table[label]
        else:
            first = int(np.argmax(inverse == position))
            missing.append((label, int(counts[position]), first))
    if missing:
        raise BuildError(
            _outside_the_map(missing, mapping, what, len(inverse), numeric, lines),
            (*_WHERE, "map"),
        )
    return indexes[inverse].reshape(y.shape)


def _outside_the_map(
    missing: list[tuple[Any, int, int]],
    mapping: dict[Any, int],
    what: str,
    total: int,
    numeric: bool,
    lines: Callable[[list[int]], dict[int, str]] | None,
) -> str:
    """``label 7 is not in data.labels.map ...: 3 of the 100 samples have it``."""
    missing.sort(key=lambda item: item[2])  # in the order the file has them
    shown_missing = missing[:_SHOWN_MISSING]
    places = lines([first for _, _, first in shown_missing]) if lines else {}
    # String labels are file content: they share the quoting budget.
    width = DATA_QUOTE_LENGTH // len(shown_missing)
    parts = []
    for label, count, first in shown_missing:
        value = f"{label:g}" if numeric else shown_data(str(label), width)
        where = ""
        if first in places:
            where = (
                f", on {places[first]}"
                if count == 1
                else (f", the first on {places[first]}")
            )
        parts.append((value, count, where))
    known = ", ".join(str(key) for key in list(mapping)[:8])
    if len(mapping) > 8:
        known += f", ... ({len(mapping)} in all)"
    if len(missing) == 1:
        value, count, where = parts[0]
        have = "has" if count == 1 else "have"
        return (
            f"{what}: label {value} is not in data.labels.map (it maps {known}): "
            f"{count} of the {total} samples {have} it{where}; add it to the map"
        )
    listed = "; ".join(
        f"{value} ({count} of the {total} samples{where})"
        for value, count, where in parts
    )
    more = f"; ... ({len(missing)} values in all)" if len(missing) > len(parts) else ""
    return (
        f"{what}: {len(missing)} label values are not in data.labels.map (it maps "
        f"{known}): {listed}{more}; add them to the map"
    )


def one_hot(y: np.ndarray, classes: int, what: str) -> np.ndarray:
    """Class indexes as float32 one-hot rows of width ``classes``."""
    flat = np.asarray(y).reshape(len(y))
    if flat.dtype.kind not in "biu" and not np.all(flat == np.floor(flat)):
        raise BuildError(
            f"{what}: one_hot needs class indexes, got non-whole labels; map them "
            "with data.labels.map",
            (*_WHERE, "one_hot"),
        )
    flat = flat.astype(np.int64)
    bad = (flat < 0) | (flat >= classes)
    if bad.any():
        value = int(flat[np.argmax(bad)])
        raise BuildError(
            f"{what}: label {value} is outside 0..{classes - 1} for one_hot with "
            f"{classes} classes; set data.labels.classes or map the labels",
            (*_WHERE, "classes"),
        )
    return np.eye(classes, dtype=np.float32)[flat]


def transform_arrays(
    config: LabelsConfig, splits: dict[str, Any], origin: str
) -> dict[str, Any]:
    """Apply ``data.labels`` to the label arrays of each split.

    Args:
        config: ``data.labels``.
        splits: ``{"train": y_train, "test": y_test or None}``; a value may be
            a dict by output name (each output is transformed).
        origin: The data's description, for messages.

    Returns:
        The same keys with transformed labels.
    """
    mapped: dict[str, Any] = {}
    for name, y in splits.items():
        what = f"the {name} labels of {origin}"
        mapped[name] = _each_output(
            y, lambda a, w=what: map_labels(a, config.map, w) if config.map else a
        )
    if config.one_hot:
        width = config.classes or _class_count(mapped)
        mapped = {
            name: _each_output(
                y, lambda a, n=name: one_hot(a, width, f"the {n} labels of {origin}")
            )
            for name, y in mapped.items()
        }
    return mapped


def _each_output(y: Any, transform: Any) -> Any:
    if y is None:
        return None
    if isinstance(y, dict):
        return {name: transform(np.asarray(a)) for name, a in y.items()}
    return transform(np.asarray(y))


def _class_count(splits: dict[str, Any]) -> int:
    """Classes after mapping: the largest index in any split + 1 (at least 2)."""
    largest = 0
    for y in splits.values():
        arrays = y.values() if isinstance(y, dict) else [y]
        for array in arrays:
            if (
                array is not None
                and len(array)
                and np.asarray(array).dtype.kind in "biuf"
            ):
                largest = max(largest, int(np.max(array)))
    return max(largest + 1, 2)


def transform_stream(config: LabelsConfig, dataset: Any, classes: int | None) -> Any:
    """Apply ``data.labels`` to a batched ``(x, y)`` stream with ``dataset.map``.

    A label outside the map stops the run with TensorFlow's assertion, which
    prints the batch's labels.
    """
    import tensorflow as tf

    if dataset is None:
        return None
    label_spec = dataset.element_spec[1]
    table = None
    if config.map:
        numeric = label_spec.dtype != tf.string
        # Lookup tables take int64 or string keys: numeric labels are whole.
        key_dtype = tf.int64 if numeric else tf.string
        keys = [map_key(key, numeric) for key in config.map]
        key_tensor = tf.cast(tf.constant(keys), key_dtype)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                key_tensor, tf.constant(list(config.map.values()), dtype=tf.int64)
            ),
            default_value=-1,
        )

    def transform(x: Any, y: Any) -> Any:
        if table is not None:
            mapped = table.lookup(tf.cast(y, tf.int64) if y.dtype != tf.string else y)
            check = tf.debugging.Assert(
                tf.reduce_all(mapped >= 0),
                ["a label is not in data.labels.map; the batch's labels:", y],
                summarize=20,
            )
            with tf.control_dependencies([check]):
                y = tf.identity(mapped)
        if config.one_hot and classes:
            y = tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int64), classes)
        return x, y

    return dataset.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
