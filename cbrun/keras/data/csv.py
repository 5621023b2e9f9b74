"""The ``csv`` source: a table (CSV, TSV or Parquet) with target column(s).

``inputs: matrix`` (default) reads the numeric feature columns into one
float32 array (:mod:`cbrun.keras.data.csv_read`); ``inputs: columns`` and
Parquet files are read column by column with pyarrow
(:mod:`cbrun.keras.data.csv_columns`), one named input per feature column.
Several targets give labels as a dict by target name (one per output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cbrun.config.data import CsvData, table_delimiter
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import Raw, resolve, split_rows
from cbrun.keras.data.csv_columns import read_columns
from cbrun.keras.data.csv_read import (
    check_header,
    first_line,
    line_places,
    parse_fast,
    read_csv,
    used_columns,
)
from cbrun.keras.data.labels import map_labels
from cbrun.suggest import DATA_QUOTE_LENGTH, shown_data, shown_names

# Kept importable under their old names (tests use them).
_read_csv = read_csv
_parse_fast = parse_fast

_CSV_DEFAULT_TEST_SIZE = 0.2


def load(config: CsvData, *, seed: int, base_dir: Path) -> Raw:
    """Load a table; ``target`` is y, the ``features`` x."""
    path = resolve(config.path, base_dir, ("data", "path"))
    x_train, y_train, header = _read_table(config, path, ("data", "path"))
    _check_label_map(config, y_train, path)
    origin = f"csv {path}"
    if config.test_path is not None:
        test_path = resolve(config.test_path, base_dir, ("data", "test_path"))
        where: ConfigPath = ("data", "test_path")
        features = [name for name in header if name not in config.targets]
        if config.features is None and not _is_parquet(test_path):
            test_header = first_line(test_path, where, table_delimiter(config))
            if config.has_header and test_header:
                _same_columns(header, test_header, test_path)
        x_test, y_test, _ = _read_table(
            config, test_path, where, config.features or features
        )
        _check_label_map(config, y_test, test_path)
        return Raw(x_train, y_train, x_test, y_test, f"{origin} + {test_path}")
    test_size = _CSV_DEFAULT_TEST_SIZE if config.test_size is None else config.test_size
    if test_size == 0:
        return Raw(x_train, y_train, None, None, origin)
    parts = split_rows(
        x_train, y_train, test_size=test_size, seed=seed, where=("data", "test_size")
    )
    return Raw(*parts, origin)


def _check_label_map(config: CsvData, y: Any, path: Path) -> None:
    """Labels outside ``labels.map``, said in file order with the first's line.

    Checked before the seeded split shuffles the rows: the samples are then
    the file's rows, and the first of a label is found on its line.
    """
    if config.labels is None or not config.labels.map:
        return
    mapping = config.labels.map

    def parquet_rows(rows: list[int]) -> dict[int, str]:
        return {row: f"row {row + 1}" for row in rows}

    lines = (
        parquet_rows
        if _is_parquet(path)
        # The labels were read by pyarrow, which skips empty lines only.
        else line_places(
            path, table_delimiter(config), header=config.has_header, empty_only=True
        )
    )
    columns = y if isinstance(y, dict) else {config.targets[0]: y}
    for name, labels in columns.items():
        what = f"the target column {shown_data(name, 30)} of {path}"
        map_labels(np.asarray(labels), mapping, what, lines)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() == ".parquet"


def _read_table(
    config: CsvData,
    path: Path,
    where: ConfigPath,
    features: list[str] | None = None,
) -> tuple[Any, Any, list[str]]:
    """Features and targets of one file, as the config's ``inputs`` asks.

    ``features`` (the training file's, for a test file) narrows and orders
    the feature columns; default: the config's.
    """
    delimiter = table_delimiter(config)
    names = None if config.has_header else config.names
    targets = config.targets
    features = features or config.features
    parquet = _is_parquet(path)
    # Labels to map may be strings, which the numeric reader refuses.
    mapped = config.labels is not None and config.labels.map is not None
    if config.inputs == "matrix" and not parquet and not mapped:
        header, values = read_csv(
            path,
            where,
            targets,
            delimiter=delimiter,
            names=names,
            features=features,
        )
        n_features = values.shape[1] - len(targets)
        labels = [values[:, n_features + i] for i in range(len(targets))]
        matrix = values[:, :n_features].astype(np.float32)
        return matrix, _targets(targets, labels), header
    columns = read_columns(path, where, delimiter=delimiter, names=names)
    header = list(columns)
    check_header(header, targets, path, where, delimiter, headerless=True)
    chosen = used_columns(header, targets, features, path, where)
    used = [header[i] for i in chosen]
    features = used[: len(used) - len(targets)]
    x: Any
    if config.inputs == "matrix":
        x = _numeric_matrix(columns, features, path, where)
    else:
        x = {name: columns[name].reshape(-1, 1) for name in features}
    return x, _targets(targets, [columns[name] for name in targets]), header


def _targets(names: list[str], arrays: list[np.ndarray]) -> Any:
    """One target as an array; several as a dict by target name."""
    if len(names) == 1:
        return arrays[0]
    return dict(zip(names, arrays, strict=True))


def _numeric_matrix(
    columns: dict[str, np.ndarray], features: list[str], path: Path, where: ConfigPath
) -> np.ndarray:
    """The feature columns as one float32 matrix; a column of strings is refused."""
    for name in features:
        if columns[name].dtype.kind not in "biuf":
            sample = shown_data(str(columns[name][0]), 30)
            raise BuildError(
                f"{path}: column {shown_data(name, 40)} holds strings ({sample}); "
                "inputs: matrix takes numbers only: use inputs: columns, or drop "
                "it from features",
                ("data", "inputs"),
            )
    return np.stack([columns[name] for name in features], axis=1).astype(np.float32)


def _same_columns(header: list[str], test_header: list[str], path: Path) -> None:
    """Refuse a test file whose columns are not the training file's."""
    missing = [name for name in header if name not in test_header]
    extra = [name for name in test_header if name not in header]
    if missing or extra:
        parts = []
        # Both lists share the quoting budget.
        half = DATA_QUOTE_LENGTH // 2
        if missing:
            parts.append(f"lacks {shown_names(missing, half)}")
        if extra:
            parts.append(f"has extra {shown_names(extra, half)}")
        raise BuildError(
            f"{path} must have the training CSV's columns; it {' and '.join(parts)}",
            ("data", "test_path"),
        )
