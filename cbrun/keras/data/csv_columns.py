"""Reading a table column by column with pyarrow: ``inputs: columns`` and Parquet.

Each column keeps its own dtype: whole numbers int64, other numbers float32,
text a NumPy array of ``str`` (object dtype), as a graph model's named inputs
take them. pyarrow's CSV reader parses in C++ on every core; its messages
may quote the file, so they are cut to ``DATA_QUOTE_LENGTH`` characters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cbrun.atomic import open_regular
from cbrun.config.table_kind_checks import SNIFF_BYTES, not_parquet
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import open_data
from cbrun.keras.data.csv_read import (
    check_looks_like_text,
    data_row_lines,
    ragged_row,
)
from cbrun.suggest import DATA_QUOTE_LENGTH, shorten, shown_data

_INSTALL = "pip install pyarrow (cbrun reads Parquet and `inputs: columns` with it)"


def _pyarrow(path: Path, where: ConfigPath) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise BuildError(f"reading {path} needs pyarrow: {_INSTALL}", where) from None
    return pyarrow


def read_columns(
    path: Path, where: ConfigPath, *, delimiter: str, names: list[str] | None
) -> dict[str, np.ndarray]:
    """Read a CSV/TSV or Parquet file into one 1-D NumPy array per column.

    Args:
        path: The file (Parquet when its name ends in ``.parquet``).
        where: The config key that named it, for errors.
        delimiter: The CSV separator.
        names: The column names of a CSV without a header line.

    Raises:
        BuildError: The file cannot be read, naming it; or a column has an
            empty cell (naming the column and the file line, the header
            counted, as :func:`cbrun.keras.data.csv_read.read_csv` does).
    """
    pyarrow = _pyarrow(path, where)
    with open_data(path, where) as stream:
        head = stream.read(SNIFF_BYTES)
        stream.seek(0)
        try:
            if path.suffix.lower() == ".parquet":
                reason = not_parquet(head, path.name)
                if reason is not None:
                    raise BuildError(f"cannot read {path} as Parquet: {reason}", where)
                import pyarrow.parquet as pq

                table = pq.read_table(stream)
            else:
                check_looks_like_text(head, path, where)
                # pyarrow parses a buffer on all cores; through a Python file
                # object it reads in one thread.
                buffer = pyarrow.py_buffer(stream.read())
                table = _read_csv_table(pyarrow.BufferReader(buffer), delimiter, names)
        except BuildError:
            raise
        except (pyarrow.ArrowException, OSError, ValueError) as error:
            parquet = path.suffix.lower() == ".parquet"
            ragged = None if parquet else _ragged_row(path, delimiter, names)
            if ragged is not None:
                raise BuildError(ragged, where) from None
            kind = "Parquet" if parquet else "CSV"
            text = shorten(" ".join(str(error).split()), DATA_QUOTE_LENGTH)
            raise BuildError(f"cannot read {path} as {kind}: {text}", where) from None
    if table.num_rows == 0:
        raise BuildError(f"{path} has a header but no data rows", where)

    def place(row: int) -> str:
        """``line 7`` (the header counted) for a data row, as read_csv says."""
        if path.suffix.lower() == ".parquet":
            return f"row {row + 1}"
        lines = data_row_lines(
            path, delimiter, [row], header=names is None, empty_only=True
        )
        return f"line {lines[row]}" if row in lines else f"data row {row + 1}"

    return {
        name: _column_array(column, name, path, where, place)
        for name, column in zip(table.column_names, table.columns, strict=True)
    }


def _ragged_row(path: Path, delimiter: str, names: list[str] | None) -> str | None:
    """The first line whose values are not the header's count, in read_csv's words.

    pyarrow's own message quotes the row but names no line.
    """
    try:
        with (
            open_regular(path) as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream,
        ):
            reader = csv.reader(stream, delimiter=delimiter)
            columns = len(names) if names else len(next(reader, []))
            for row in reader:
                if row and len(row) != columns:
                    return ragged_row(path, reader.line_num, len(row), columns)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def _read_csv_table(stream: Any, delimiter: str, names: list[str] | None) -> Any:
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(column_names=names) if names else pacsv.ReadOptions()
    parse = pacsv.ParseOptions(delimiter=delimiter)
    return pacsv.read_csv(stream, read_options=read, parse_options=parse)


def _column_array(
    column: Any, name: str, path: Path, where: ConfigPath, place: Callable[[int], str]
) -> np.ndarray:
    """One column as NumPy: int64, float32, or ``str`` objects.

    ``place`` turns a 0-based data row into ``line N`` for messages.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if column.null_count:
        row = int(pc.index(pc.is_null(column), True).as_py())
        raise BuildError(
            f"{path}, {place(row)}, column {shown_data(name, 40)}: is empty; fill "
            "in missing values",
            where,
        )
    if pa.types.is_boolean(kind):
        return column.to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_integer(kind):
        return column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if pa.types.is_floating(kind):
        values = column.to_numpy(zero_copy_only=False)
        if not np.isfinite(values).all():
            row = int(np.argmin(np.isfinite(values)))
            raise BuildError(
                f"{path}, {place(row)}, column {shown_data(name, 40)}: is not a "
                "finite number",
                where,
            )
        return values
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        column = column.cast(pa.string())  # dates, times: as their text
    return column.to_numpy(zero_copy_only=False)
