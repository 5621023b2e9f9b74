"""A stray word in a column of numbers, under ``inputs: columns`` (TF-free).

Training reads such a table with pyarrow, which types each column from all
its cells: one cell that is not a number (``abc``, ``12 kg``) makes the
whole column strings. A model input declared ``dtype: int64`` then fails
at its dtype, and a Normalization adapted on it fails with Python's
``unsupported operand type(s)``; neither names the cell. Validate scans the
file (up to :data:`SCAN_BYTES`) and names the first such cell by its line;
in a test_path file it is an error: evaluate fails after training.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cbrun.atomic import open_regular
from cbrun.config.data import table_delimiter
from cbrun.config.table_checks import is_number
from cbrun.suggest import DATA_QUOTE_LENGTH, shown_data

Report = Callable[..., None]

# The most of a file read (as table_checks reads a header and sample); a
# longer file's later lines are left to training.
SCAN_BYTES = 1 << 20

# Cells pyarrow reads as missing or as booleans, not as strings: training
# says "is empty" for the first, and takes the second as 0/1.
_NOT_STRINGS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan"}
    | {"1.#IND", "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"}
    | {"true", "True", "TRUE", "false", "False", "FALSE"}
)


def check_stray_words(
    config: Any, columns: list[str], base_dir: Path, report: Report
) -> None:
    """Report a word in a feature column that otherwise holds numbers.

    In ``data.path``: an error at ``model.inputs[i].dtype`` when that input
    is declared numeric (training would fail there), else a warning (the
    column becomes strings, which a numeric layer refuses). In
    ``data.test_path``: an error (the test column's type would not be the
    trained one's, and evaluate fails after training).

    Args:
        config: The validated experiment config.
        columns: The feature columns (``inputs: columns``), from the header.
        base_dir: The config's folder; relative paths start there.
        report: ``report(path, message, severity="error")``.
    """
    data = config.data
    if not data.has_header:
        return
    declared = {
        item.name: (index, item.dtype)
        for index, item in enumerate(config.model.inputs or [])
        if item.dtype is not None
    }
    numeric = [name for name in columns if declared.get(name, (0, None))[1] != "string"]
    strict = set(declared)
    for key in ("path", "test_path"):
        value = getattr(data, key)
        if value is None or value.lower().endswith(".parquet"):
            continue  # Parquet columns carry their own types
        rows = _rows(base_dir / value, table_delimiter(data))
        if not rows:
            continue
        found = _first_stray_word(rows, numeric, strict)
        # A test column must be numbers where the training one is.
        strict |= _number_columns(rows, numeric)
        if found is None:
            continue
        name, line, cell = found
        half = DATA_QUOTE_LENGTH // 2
        said = (
            f"{Path(value).name}, line {line}, column {shown_data(name, half)}: "
            f"{shown_data(cell, half)} is not a number, unlike the column's other "
            "values, so the whole column reads as strings"
        )
        if name in declared:
            index, dtype = declared[name]
            report(
                ("model", "inputs", index, "dtype"),
                f"{said}, not the declared dtype {dtype}; fix the cell",
            )
        elif key == "test_path":
            report(
                ("data", key),
                f"{said}, unlike the training file's; fix the cell (evaluate would "
                "fail after training)",
            )
        else:
            report(
                ("data", key),
                f"{said}; fix the cell (or declare the input dtype: string)",
                severity="warning",
            )
        return  # one cell at a time: the file is likely to be fixed whole


def _first_stray_word(
    rows: list[list[str]], numeric: list[str], strict: set[str]
) -> tuple[str, int, str] | None:
    """The column, line and cell of the first stray word in one file, or None."""
    header = [cell.strip() for cell in rows[0][:-1]]  # less its line number
    for name in numeric:
        if name in header:
            found = _stray_word(rows, header.index(name), strict=name in strict)
            if found is not None:
                return (name, *found)
    return None


def _number_columns(rows: list[list[str]], names: list[str]) -> set[str]:
    """The columns of ``names`` that hold numbers only (training's numbers)."""
    header = [cell.strip() for cell in rows[0][:-1]]
    width = len(rows[0])
    found = set()
    for name in names:
        if name not in header:
            continue
        column = header.index(name)
        cells = [row[column].strip() for row in rows[1:] if len(row) == width]
        if cells and all(c in _NOT_STRINGS or is_number(c) for c in cells):
            found.add(name)
    return found


def _rows(path: Path, delimiter: str) -> list[list[str]] | None:
    """The file's rows with their line numbers lost; None if validate cannot read."""
    try:
        with open_regular(path) as raw:
            head = raw.read(SCAN_BYTES + 1)
    except OSError:
        return None
    if len(head) > SCAN_BYTES:
        head = head[: head.rfind(b"\n", 0, SCAN_BYTES) + 1]  # whole lines only
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None  # not UTF-8: training says so
    try:
        return _numbered(text, delimiter)
    except csv.Error:
        return None


def _numbered(text: str, delimiter: str) -> list[list[str]]:
    """Each row with its 1-based file line appended as its last cell."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    return [[*row, str(reader.line_num)] for row in reader]


def _stray_word(
    rows: list[list[str]], column: int, *, strict: bool
) -> tuple[int, str] | None:
    """The line and cell of the first word in a column of numbers, or None.

    Args:
        rows: The file's rows, each with its line number as a last cell.
        column: The column's index.
        strict: Any word counts (the input is declared numeric); else the
            column must be numbers but for a few words (under one in ten),
            since a column of words is strings on purpose.
    """
    width = len(rows[0])
    numbers, words, first = 0, 0, None
    for row in rows[1:]:
        if len(row) != width:
            continue  # a blank or ragged line: training names it
        cell = row[column].strip()
        if cell in _NOT_STRINGS:
            continue
        if is_number(cell):
            numbers += 1
            continue
        words += 1
        if first is None:
            first = (int(row[-1]), cell)
    if first is None or numbers < 2:
        return None
    return first if strict or words * 10 < numbers else None
