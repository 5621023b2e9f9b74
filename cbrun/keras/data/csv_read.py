"""Reading a numeric CSV/TSV into a float64 matrix (``inputs: matrix``).

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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from cbrun.atomic import open_regular
from cbrun.config.table_checks import is_number
from cbrun.config.table_kind_checks import SNIFF_BYTES, not_csv_text
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import open_data
from cbrun.suggest import (
    DATA_QUOTE_LENGTH,
    closest,
    shown_data,
    shown_names,
)

# Separators a one-column first line may hold instead of the delimiter.
_SEPARATORS = (
    ("\t", "tab", '"\\t"'),
    (";", "semicolon", '";"'),
    ("|", "pipe", '"|"'),
    (" ", "space", '" "'),
    (",", "comma", '","'),
)
_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", " ": "space"}
# What a bad cell's message advises, by the source reading the file.
MATRIX_NUMBERS = (
    "inputs: matrix reads finite numbers only (for a column of strings use "
    "inputs: columns; fill in missing values)"
)
SERIES_NUMBERS = (
    "a time series reads finite numbers only (fill in missing values; leave a "
    "column of strings out of features)"
)


def delimiter_name(delimiter: str) -> str:
    """``comma``, ``tab``, ... or the character itself, for messages."""
    return _NAMES.get(delimiter, repr(delimiter))


def read_csv(
    path: Path,
    where: ConfigPath,
    target: str | Sequence[str] = "target",
    *,
    fast: bool = True,
    delimiter: str = ",",
    names: list[str] | None = None,
    features: list[str] | None = None,
    single_column: bool = False,
    numbers_only: str = MATRIX_NUMBERS,
    source: str = "csv",
) -> tuple[list[str], np.ndarray]:
    """Return a CSV's column names and the used columns as a float64 matrix.

    NumPy's C parser reads a well-formed file (2x faster than parsing cell
    by cell); anything it refuses or reads as non-finite is read again cell
    by cell, which names the line and column of the first bad cell.

    Args:
        path: The CSV file.
        where: The config key that named it, for errors.
        target: The label column(s), to tell a header row from a data row.
        fast: Try NumPy's parser first. Defaults to True.
        delimiter: The separator.
        names: The column names of a file without a header line.
        features: The feature columns (default: every column but the targets).
        single_column: Accept a file of the target column only (a series
            whose past values are its only feature).
        numbers_only: The advice after a cell that is not a finite number.
        source: ``csv`` or ``timeseries``: the fix for a file that is not text.

    Returns:
        The file's column names, and a matrix of the features then the
        targets, in that order (every column when neither is narrowed).
    """
    targets = [target] if isinstance(target, str) else list(target)
    with open_data(path, where) as raw:
        check_looks_like_text(raw.read(SNIFF_BYTES), path, where, source)
        raw.seek(0)
        try:
            # utf-8-sig: spreadsheet programs often start the file with a BOM.
            with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream:
                reader = csv.reader(stream, delimiter=delimiter)
                if names is None:
                    header = [name.strip() for name in next(reader, [])]
                    if not any(header):
                        raise BuildError(
                            f"{path} is empty; it needs a header row of column names",
                            where,
                        )
                else:
                    header = list(names)
                check_header(
                    header,
                    targets,
                    path,
                    where,
                    delimiter,
                    headerless=names is not None,
                )
                used = used_columns(header, targets, features, path, where)
                skip = 0 if names is not None else 1
                values = (
                    parse_fast(stream, len(header), delimiter, used) if fast else None
                )
                if values is None:
                    stream.seek(0)
                    values = _parse_cells(
                        stream, header, used, path, where, delimiter, skip, numbers_only
                    )
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


def first_line(path: Path, where: ConfigPath, delimiter: str) -> list[str]:
    """The column names on a CSV's first line (for comparing two files)."""
    with open_data(path, where) as raw:
        try:
            with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream:
                row = next(csv.reader(stream, delimiter=delimiter), [])
        except (UnicodeDecodeError, OSError, csv.Error):
            return []  # read_csv says what is wrong, naming the byte or line
    return [name.strip() for name in row]


def used_columns(
    header: list[str],
    targets: list[str],
    features: list[str] | None,
    path: Path,
    where: ConfigPath,
) -> list[int]:
    """Indexes of the feature columns, then the target columns."""
    if features is None:
        chosen = [name for name in header if name not in targets]
    else:
        for name in features:
            if name not in header:
                raise BuildError(
                    missing_column(name, header, path, "feature"),
                    ("data", "features") if where == ("data", "path") else where,
                )
        chosen = list(features)
    return [header.index(name) for name in (*chosen, *targets)]


def missing_column(name: str, header: list[str], path: Path, kind: str) -> str:
    """``x.csv has no column 'lable'; did you mean 'label'? (its columns: ...)``."""
    match = closest(name, header)
    # The suggestion and the list share the quoting budget.
    suggestion = f"; did you mean {shown_data(match, 30)}?" if match else ""
    columns = shown_names(header, DATA_QUOTE_LENGTH - 30, quote=False)
    what = "column" if kind == "target" else f"{kind} column"
    return f"{path} has no {what} {name!r}{suggestion} (its columns: {columns})"


def check_looks_like_text(
    head: bytes, path: Path, where: ConfigPath, source: str = "csv"
) -> None:
    """Refuse a file whose first bytes are not CSV text, without quoting them.

    In validate's words (:func:`cbrun.config.table_kind_checks.not_csv_text`).
    """
    reason = not_csv_text(head, path.name, source)
    if reason is not None:
        raise BuildError(f"cannot read {path} as CSV: {reason}", where)


def _parse_cells(
    stream: TextIO,
    header: list[str],
    used: list[int],
    path: Path,
    where: ConfigPath,
    delimiter: str,
    skip: int,
    numbers_only: str = MATRIX_NUMBERS,
) -> np.ndarray:
    """Parse the CSV in ``stream`` (from its start) cell by cell."""
    reader = csv.reader(stream, delimiter=delimiter)
    for _ in range(skip):
        next(reader, None)
    rows = [
        _parse_row(row, header, used, path, reader.line_num, where, numbers_only)
        for row in reader
        if any(cell.strip() for cell in row)  # skip blank lines
    ]
    if not rows:
        raise BuildError(f"{path} has a header but no data rows", where)
    return np.asarray(rows, dtype=np.float64)


def parse_fast(
    stream: TextIO, columns: int, delimiter: str = ",", used: list[int] | None = None
) -> np.ndarray | None:
    """The rest of ``stream`` as a finite float64 matrix, or None if it is not one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data"
            values = np.loadtxt(
                stream,
                delimiter=delimiter,
                dtype=np.float64,
                ndmin=2,
                comments=None,
                quotechar='"',
            )
    except ValueError:
        return None
    if values.shape[0] == 0 or values.shape[1] != columns:
        return None
    if used is not None:
        values = values[:, used]
    if not np.isfinite(values).all():
        return None
    return values


def check_header(
    header: list[str],
    targets: list[str],
    path: Path,
    where: ConfigPath,
    delimiter: str = ",",
    *,
    headerless: bool = False,
    single_column: bool = False,
) -> None:
    """Refuse a first line that does not name the target and feature columns.

    Checked before any later line is read: a file that is not a CSV with a
    header (a key, a headerless or tab-separated table) is refused with at
    most part of its line 1 in the message, never a later line.
    """
    target = targets[0]
    if not headerless and target not in header and all(map(is_number, header)):
        raise BuildError(
            f"{path}, line 1 looks like data, not column names "
            f"({shown_names(header, quote=False)}): add a header row that names "
            f"the target column {target!r}, or set header: false and names: [...]",
            where,
        )
    if len(header) == 1 and header[0] != target:
        raise BuildError(
            f"{path}, line 1 has no {delimiter_name(delimiter)}: one column, "
            f"{shown_data(header[0], DATA_QUOTE_LENGTH // 2)}, and no column "
            f"{target!r}{_separator_guess(header[0], delimiter)}",
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
    for name in targets:
        if name not in header:
            raise BuildError(
                missing_column(name, header, path, "target"),
                ("data", "target") if where == ("data", "path") else where,
            )
    if len(header) == len(targets) and not single_column:
        raise BuildError(
            f"{path} has only the target column(s) {', '.join(targets)}; it needs "
            "at least one feature column",
            where,
        )


def _separator_guess(line: str, delimiter: str) -> str:
    """Name the separator a one-column line seems to use, and the fix."""
    for separator, name, written in _SEPARATORS:
        if separator != delimiter and separator in line:
            return (
                f"; it holds {name}s, so the file looks {name}-separated: set "
                f"delimiter: {written}"
            )
    return "; set delimiter, or add a header row that names the columns"


def ragged_row(path: Path, line: int, values: int, columns: int) -> str:
    """``data.csv, line 7: 3 values, but the header has 2 columns``."""
    return (
        f"{path}, line {line}: {values} value{'s' if values != 1 else ''}, but the "
        f"header has {columns} columns"
    )


def _parse_row(
    row: list[str],
    header: list[str],
    used: list[int],
    path: Path,
    line: int,
    where: ConfigPath,
    numbers_only: str = MATRIX_NUMBERS,
) -> list[float]:
    """Convert one CSV row to floats, naming the line and column of a bad cell."""
    if len(row) != len(header):
        raise BuildError(ragged_row(path, line, len(row), len(header)), where)
    values = []
    for index in used:
        name, cell = header[index], row[index]
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
                f"{numbers_only}",
                where,
            )
        values.append(value)
    return values


def data_row_lines(
    path: Path,
    delimiter: str,
    rows: Iterable[int],
    *,
    header: bool = True,
    empty_only: bool = False,
) -> dict[int, int]:
    """The file line (1-based, the header counted) where each data row starts.

    Data rows are counted as the readers count them: NumPy's and the cell
    reader skip lines of blank cells, pyarrow (``empty_only``) empty lines
    only. The file is read once more, so this is for messages about a few rows.

    Args:
        path: The CSV/TSV file.
        delimiter: Its separator.
        rows: 0-based indexes of data rows (the header line not counted).
        header: Whether the file's first line names the columns.
        empty_only: Skip only empty lines, as pyarrow's reader does.

    Returns:
        Row index -> line number, for the rows the file holds (a file that
        cannot be read again gives an empty dict).
    """
    wanted = set(rows)
    lines: dict[int, int] = {}
    if not wanted:
        return lines
    try:
        with (
            open_regular(path) as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream,
        ):
            reader = csv.reader(stream, delimiter=delimiter)
            if header:
                next(reader, None)
            index = 0
            start = reader.line_num + 1
            for row in reader:
                if row if empty_only else any(cell.strip() for cell in row):
                    if index in wanted:
                        lines[index] = start
                        if len(lines) == len(wanted):
                            break
                    index += 1
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return lines


def line_places(
    path: Path, delimiter: str, *, header: bool = True, empty_only: bool = False
) -> Callable[[list[int]], dict[int, str]]:
    """Data row indexes -> ``line N`` of ``path``, for messages about a few rows.

    What :func:`cbrun.keras.data.labels.map_labels` takes as ``lines``; see
    :func:`data_row_lines` for ``header`` and ``empty_only``.
    """

    def places(rows: list[int]) -> dict[int, str]:
        found = data_row_lines(
            path, delimiter, rows, header=header, empty_only=empty_only
        )
        return {row: f"line {line}" for row, line in found.items()}

    return places
