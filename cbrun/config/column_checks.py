"""A stray word in a column of numbers, under ``inputs: columns`` (TF-free).

Training reads such a table with pyarrow, which types each column from all
its cells: one cell that is not a number (``abc``, ``12 kg``) makes the
whole column strings. A model input declared ``dtype: int64`` then fails
at its dtype, and a Normalization adapted on it fails with Python's
``unsupported operand type(s)``; neither names the cell. Validate scans the
file (up to :data:`SCAN_BYTES`) and names the first such cell by its line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cbrun.atomic import open_regular
from cbrun.config.data import table_delimiter
from cbrun.config.table_checks import feature_columns, is_number
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


def check_stray_words(config: Any, base_dir: Path, report: Report) -> None:
    """Report a word in a feature column that otherwise holds numbers.

    An error at ``model.inputs[i].dtype`` when that input is declared
    numeric (training would fail there), else a warning at ``data.path``
    (the column becomes strings, which a numeric layer refuses).

    Args:
        config: The validated experiment config.
        base_dir: The config's folder; relative paths start there.
        report: ``report(path, message, severity="error")``.
    """
    data = config.data
    if data.source != "csv" or data.inputs != "columns" or not data.has_header:
        return
    if data.path.lower().endswith(".parquet"):
        return  # Parquet columns carry their own types
    columns = feature_columns(data, base_dir)
    rows = _rows(base_dir / data.path, table_delimiter(data))
    if not columns or not rows:
        return
    header = [cell.strip() for cell in rows[0][:-1]]  # less its line number
    declared = {
        item.name: (index, item.dtype)
        for index, item in enumerate(config.model.inputs or [])
        if item.dtype is not None
    }
    for name in columns:
        if name not in header or declared.get(name, (0, None))[1] == "string":
            continue
        found = _stray_word(rows, header.index(name), strict=name in declared)
        if found is None:
            continue
        line, cell = found
        half = DATA_QUOTE_LENGTH // 2
        said = (
            f"{Path(data.path).name}, line {line}, column {shown_data(name, half)}: "
            f"{shown_data(cell, half)} is not a number, unlike the column's other "
            "values, so training reads the whole column as strings"
        )
        if name in declared:
            index, dtype = declared[name]
            report(
                ("model", "inputs", index, "dtype"),
                f"{said}, not the declared dtype {dtype}; fix the cell",
            )
        else:
            report(
                ("data", "path"),
                f"{said}; fix the cell (or declare the input dtype: string)",
                severity="warning",
            )
        return  # one cell at a time: the file is likely to be fixed whole


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
