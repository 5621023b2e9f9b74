"""The ``csv`` source: a numeric CSV file with a header row and a target column.

The file may be anything a config names, so messages quote at most
``DATA_QUOTE_LENGTH`` characters of it (see :mod:`cbrun.suggest`), and a file
that does not look like CSV is refused after its first line, before any
other line is read into a message.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import TextIO

import numpy as np

from cbrun.config.data import CsvData
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import Raw, looks_like_classes, open_data, resolve, split
from cbrun.suggest import (
    DATA_QUOTE_LENGTH,
    closest,
    describe_start,
    shown_data,
    shown_names,
)

_CSV_DEFAULT_TEST_SIZE = 0.2
# Enough of the start to tell text from a binary or PEM file.
_SNIFF_BYTES = 4096
# The fix for a file that is not comma-separated with a header row; the
# config has no delimiter or header settings.
_CSV_FORMAT = (
    "cbrun reads comma-separated files whose first line names the columns, "
    "one of them the target"
)
# Separators a one-column first line may hold instead of commas.
_SEPARATORS = (("\t", "tab"), (";", "semicolon"), ("|", "pipe"), (" ", "space"))


def load(config: CsvData, *, seed: int, base_dir: Path) -> Raw:
    """Load a numeric CSV; ``target`` is y, the other columns x."""
    path = resolve(config.path, base_dir, ("data", "path"))
    header, values = _read_csv(path, ("data", "path"), config.target)
    x_train, y_train = _split_target(header, values, config.target)
    origin = f"csv {path}"
    if config.test_path is not None:
        test_path = resolve(config.test_path, base_dir, ("data", "test_path"))
        test_header, test_values = _read_csv(
            test_path, ("data", "test_path"), config.target
        )
        test_values = _align_columns(header, test_header, test_values, test_path)
        x_test, y_test = _split_target(header, test_values, config.target)
        return Raw(x_train, y_train, x_test, y_test, f"{origin} + {test_path}")
    x_train, x_test, y_train, y_test = split(
        x_train,
        y_train,
        test_size=config.test_size or _CSV_DEFAULT_TEST_SIZE,
        seed=seed,
        stratify=looks_like_classes(y_train),
        where=("data", "test_size"),
    )
    return Raw(x_train, y_train, x_test, y_test, origin)


def _read_csv(
    path: Path, where: ConfigPath, target: str = "target", *, fast: bool = True
) -> tuple[list[str], np.ndarray]:
    """Return a CSV's header and its values as a float64 matrix.

    NumPy's C parser reads a well-formed file (2x faster than parsing cell
    by cell); anything it refuses or reads as non-finite is read again cell
    by cell, which names the line and column of the first bad cell.

    Args:
        path: The CSV file.
        where: The config key that named it, for errors.
        target: The label column, to tell a header row from a data row.
        fast: Try NumPy's parser first. Defaults to True.
    """
    with open_data(path, where) as raw:
        _check_looks_like_text(raw.read(_SNIFF_BYTES), path, where)
        raw.seek(0)
        try:
            # utf-8-sig: spreadsheet programs often start the file with a BOM.
            with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream:
                reader = csv.reader(stream)
                header = [name.strip() for name in next(reader, [])]
                if not any(header):
                    raise BuildError(
                        f"{path} is empty; it needs a header row of column names",
                        where,
                    )
                _check_header(header, target, path, where)
                values = _parse_fast(stream, len(header)) if fast else None
                if values is None:
                    stream.seek(0)
                    values = _parse_cells(stream, header, path, where)
        except UnicodeDecodeError as error:
            raise BuildError(
                f"cannot read {path} as CSV: byte 0x{error.object[error.start]:02x} "
                "is not UTF-8 text; save the file as UTF-8",
                where,
            ) from None
        except (OSError, csv.Error) as error:
            # csv.Error and OSError messages name no content of the file.
            raise BuildError(f"cannot read {path} as CSV: {error}", where) from None
    return header, values


def _check_looks_like_text(head: bytes, path: Path, where: ConfigPath) -> None:
    """Refuse a file whose first bytes are not CSV text, without quoting them."""
    start = describe_start(head)
    if start in ("text", "text that is not UTF-8", "nothing (the file is empty)"):
        return  # the reader names the first byte that is not UTF-8
    raise BuildError(
        f"cannot read {path} as CSV: the file does not look like CSV text (it "
        f"starts like {start}); {_CSV_FORMAT}",
        where,
    )


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


def _check_header(
    header: list[str], target: str, path: Path, where: ConfigPath
) -> None:
    """Refuse a first line that does not name the target and feature columns.

    Checked before any later line is read: a file that is not a CSV with a
    header (a key, a headerless or tab-separated table) is refused with at
    most part of its line 1 in the message, never a later line.
    """
    if target not in header and all(_is_number(name) for name in header):
        raise BuildError(
            f"{path}, line 1 looks like data, not column names "
            f"({shown_names(header, quote=False)}); {_CSV_FORMAT}: add a header "
            f"row that names the target column {target!r}",
            where,
        )
    if len(header) == 1 and header[0] != target:
        raise BuildError(
            f"{path}, line 1 has no comma: one column, "
            f"{shown_data(header[0], DATA_QUOTE_LENGTH // 2)}, and no column "
            f"{target!r}{_separator_guess(header[0])}; {_CSV_FORMAT}",
            where,
        )
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise BuildError(
                f"{path}, line 1: column {position} has no name in the header",
                where,
            )
        if name in seen:
            raise BuildError(
                f"{path}, line 1: the column name {shown_data(name)} appears twice",
                where,
            )
        seen.add(name)
    if target not in header:
        match = closest(target, header)
        # The suggestion and the list share the quoting budget.
        suggestion = f"; did you mean {shown_data(match, 30)}?" if match else ""
        columns = shown_names(header, DATA_QUOTE_LENGTH - 30, quote=False)
        raise BuildError(
            f"{path} has no column {target!r}{suggestion} (its columns: {columns})",
            ("data", "target") if where == ("data", "path") else where,
        )
    if len(header) == 1:
        raise BuildError(
            f"{path} has only the target column {target!r}; it needs at least "
            "one feature column",
            where,
        )


def _separator_guess(line: str) -> str:
    """Name the separator a one-column line seems to use, if any."""
    for separator, name in _SEPARATORS:
        if separator in line:
            return f"; it holds {name}s, so the file looks {name}-separated"
    return ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
            # Half the quoting budget each for the column and the cell.
            half = DATA_QUOTE_LENGTH // 2
            problem = (
                "is empty"
                if not cell.strip()
                else f"{shown_data(cell, half)} is not a number"
            )
            raise BuildError(
                f"{path}, line {line}, column {shown_data(name, half)}: {problem}; "
                "cbrun reads finite numbers only (encode categories as integers, "
                "fill in missing values)",
                where,
            )
        values.append(value)
    return values


def _split_target(
    header: list[str], values: np.ndarray, target: str
) -> tuple[np.ndarray, np.ndarray]:
    """Split a CSV's matrix into features and the ``target`` column.

    :func:`_check_header` made sure the header has the target and a feature.
    """
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
    return test_values[:, [test_header.index(name) for name in header]]
