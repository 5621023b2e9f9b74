"""Validate's TF-free checks of tables: the ``csv`` and ``timeseries`` sources.

A checker reads the first line (the header) and, for ``inputs: matrix``, a
few rows to find a column of strings; it quotes at most 80 characters of
the file. A missing file is named here, a file that is not CSV text (an
Excel workbook) is described (:mod:`cbrun.config.table_kind_checks`); an
unreadable one is left to training, which says why at the same config line.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cbrun.atomic import open_regular
from cbrun.config.callback_outputs import OWN_NAMES
from cbrun.config.data import table_delimiter
from cbrun.config.table_kind_checks import check_table_kind
from cbrun.errors import ConfigPath
from cbrun.suggest import (
    DATA_QUOTE_LENGTH,
    closest,
    describe_start,
    shown,
    shown_data,
    shown_names,
)

Report = Callable[..., None]

# Rows read to spot a column of strings under `inputs: matrix`.
_SAMPLE_ROWS = 20
# The first bytes read; a header longer than this is checked by training.
_HEAD_BYTES = 1 << 20
_SEPARATORS = (
    ("\t", "tab", '"\\t"'),
    (";", "semicolon", '";"'),
    ("|", "pipe", '"|"'),
)


def check_csv(data: Any, base_dir: Path, report: Report) -> None:
    """Check the header (and a few rows) of a ``csv`` source's files."""
    delimiter = table_delimiter(data)
    matrix = data.inputs == "matrix"
    for key in ("path", "test_path"):
        value = getattr(data, key)
        if value is None or _missing_file(base_dir, value, ("data", key), report):
            continue
        if check_table_kind(base_dir / value, ("data", key), report):
            continue
        if value.lower().endswith(".parquet"):
            continue  # Parquet's schema needs pyarrow: training checks it
        _check_table(
            base_dir / value,
            ("data", key),
            report,
            delimiter=delimiter,
            names=None if data.has_header else data.names,
            targets=data.targets,
            target_key=("data", "target"),
            features=data.features,
            numeric=matrix,
            targets_numeric=matrix and (data.labels is None or data.labels.map is None),
        )
    if data.test_path is not None and data.features is None and data.has_header:
        _check_same_columns(base_dir, data.path, data.test_path, delimiter, report)


def feature_columns(data: Any, base_dir: Path) -> list[str] | None:
    """The columns a ``csv`` source gives as inputs, from its header line.

    ``features`` when given, else every column but the targets; None when
    validate cannot tell (Parquet, a file it cannot read).
    """
    if data.path.lower().endswith(".parquet"):
        return None
    delimiter = table_delimiter(data)
    if data.has_header:
        rows = _rows(base_dir / data.path, delimiter)
        if not rows:
            return None
        header = [cell.strip() for cell in rows[0]]
    else:
        header = list(data.names)
    if data.features is not None:
        return [name for name in data.features if name in header]
    return [name for name in header if name not in data.targets]


def _check_same_columns(
    base_dir: Path, path: str, test_path: str, delimiter: str, report: Report
) -> None:
    """Without features, the test file needs the training file's columns."""
    if any(name.lower().endswith(".parquet") for name in (path, test_path)):
        return
    train, test = (
        _rows(base_dir / path, delimiter),
        _rows(base_dir / test_path, delimiter),
    )
    if not train or not test:
        return  # missing, empty or unreadable: said at its own key
    header = [cell.strip() for cell in train[0]]
    test_header = [cell.strip() for cell in test[0]]
    missing = [name for name in header if name not in test_header]
    extra = [name for name in test_header if name not in header]
    if missing or extra:
        half = DATA_QUOTE_LENGTH // 2  # both lists share the quoting budget
        parts = [f"lacks {shown_names(missing, half)}"] if missing else []
        if extra:
            parts.append(f"has extra {shown_names(extra, half)}")
        report(
            ("data", "test_path"),
            f"{Path(test_path).name} must have the training CSV's columns; it "
            f"{' and '.join(parts)}",
        )


def check_timeseries(data: Any, base_dir: Path, report: Report) -> None:
    """Check the header and a few rows of a ``timeseries`` source's CSV."""
    if _missing_file(base_dir, data.path, ("data", "path"), report):
        return
    if data.path.lower().endswith(".npz"):
        return
    if check_table_kind(base_dir / data.path, ("data", "path"), report, "timeseries"):
        return
    _check_series_map(data, report)
    delimiter = table_delimiter(data)
    _check_table(
        base_dir / data.path,
        ("data", "path"),
        report,
        delimiter=delimiter,
        names=None,
        targets=[data.target],
        target_key=("data", "target"),
        features=data.features,
        numeric=True,
        targets_numeric=data.labels is None or data.labels.map is None,
        series=True,
    )


def _check_series_map(data: Any, report: Report) -> None:
    """A series CSV is read as numbers, its target too: map numbers, not words.

    Training refused the first word of the target column as "not a number"
    and advised leaving it out of features.
    """
    mapping = data.labels.map if data.labels is not None else None
    words = [
        key for key in mapping or {} if isinstance(key, str) and not is_number(key)
    ]
    if words:
        report(
            ("data", "labels", "map"),
            f"a time series CSV is read as numbers, its target column "
            f"{data.target!r} too, so labels.map can map numbers only (it maps "
            f"{shown_names(words, DATA_QUOTE_LENGTH // 2)}); write the classes as "
            "numbers in the file, or use an .npz whose target array holds them",
        )


def _missing_file(
    base_dir: Path, value: str, where: ConfigPath, report: Report
) -> bool:
    """Report a data file that is not there, as training would at the same key."""
    given = Path(value).expanduser()  # as training reads it
    try:
        if os.path.lexists(base_dir / given):
            return False  # a link, a folder, a device: training says what it is
    except ValueError:  # a NUL in the name: training says so
        return False
    if given.is_absolute():
        report(where, f"{given} does not exist; fix the path or create the file")
        return True
    folder = base_dir.resolve()
    fix = "fix the path or create the file"
    if (base_dir / OWN_NAMES[0]).is_file():  # run.json: a run dir
        fix = (
            "this is a run's config.yaml, whose relative paths start in the "
            "original config's folder (its second line says which): train the "
            "original config, or continue the run with --resume"
        )
    report(
        where,
        f"{folder / given} does not exist ({where[-1]}: {shown(value)}, relative "
        f"to {folder}); {fix}",
    )
    return True


def _rows(path: Path, delimiter: str) -> list[list[str]] | None:
    """The first rows of a CSV, or None when validate cannot read it."""
    try:
        with open_regular(path) as raw:
            head = raw.read(_HEAD_BYTES)
    except OSError:
        return None
    if not head:
        return []
    if describe_start(head[:4096]) != "text":
        return None  # a key, a binary file: training refuses it, quoting nothing
    text = head.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()[: _SAMPLE_ROWS + 1]
    if len(head) == _HEAD_BYTES:
        if len(lines) < 2:
            return None  # a header longer than what was read: training checks it
        lines = lines[:-1]  # the last line may be cut
    try:
        return [
            row
            for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
        ]
    except csv.Error:
        return None


def _check_table(
    path: Path,
    where: ConfigPath,
    report: Report,
    *,
    delimiter: str,
    names: list[str] | None,
    targets: Sequence[str],
    target_key: ConfigPath,
    features: list[str] | None,
    numeric: bool,
    targets_numeric: bool,
    series: bool = False,
) -> None:
    rows = _rows(path, delimiter)
    if rows is None:
        return
    shown_path = path.name
    if not any(map(_filled, rows)):
        report(where, f"{shown_path} is empty; it needs a header row of column names")
        return
    first = [cell.strip() for cell in rows[0]]
    if names is None:
        if len(first) == 1 and targets[0] not in first:
            report(where, _one_column(shown_path, first[0], delimiter, targets[0]))
            return
        if targets[0] not in first and all(is_number(c) for c in first):
            report(
                where,
                f"{shown_path}, line 1 looks like data, not column names: add a "
                "header row, or set header: false and names: [...]",
            )
            return
        header, body = first, rows[1:]
        if _bad_names(shown_path, header, where, report):
            return
    else:
        if len(first) != len(names):
            report(
                ("data", "names"),
                f"{shown_path}, line 1 has {len(first)} values but names gives "
                f"{len(names)} columns",
            )
            return
        if _looks_like_a_header(first, rows[1:2]):
            report(
                ("data", "names"),
                f"{shown_path}, line 1 looks like column names "
                f"({shown_names(first, DATA_QUOTE_LENGTH, quote=False)}), but names: "
                "is for a file without a header line; remove names (or line 1)",
            )
            return
        header, body = list(names), rows
    if not any(map(_filled, body)):
        report(where, f"{shown_path} has a header but no data rows")
        return
    for index, name in enumerate(targets):
        if name not in header:
            key = target_key if len(targets) == 1 else (*target_key, index)
            report(key, _missing(shown_path, name, header, "column"))
    for index, name in enumerate(features or ()):
        if name not in header:
            report(
                ("data", "features", index),
                _missing(shown_path, name, header, "feature column"),
            )
    if not numeric:
        return
    used = (
        list(features)
        if features is not None
        else [name for name in header if name not in targets]
    )
    if targets_numeric:
        used += [name for name in targets if name not in used]
    _check_numbers(
        shown_path, header, body, used, where, report, names is None, targets, series
    )


def _looks_like_a_header(first: list[str], following: list[list[str]]) -> bool:
    """Line 1 is words where the next line has numbers."""
    if not following or any(is_number(cell) for cell in first):
        return False
    return any(is_number(cell.strip()) for cell in following[0])


def _filled(row: list[str]) -> bool:
    """Not a blank line (csv.reader gives [] for one; training skips them)."""
    return any(cell.strip() for cell in row)


def _bad_names(
    shown_path: str, header: list[str], where: ConfigPath, report: Report
) -> bool:
    """Report a header column without a name, or a name given twice."""
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            report(
                where,
                f"{shown_path}, line 1: column {position} has no name in the header",
            )
            return True
        if name in seen:
            report(
                where,
                f"{shown_path}, line 1: the column name {shown_data(name)} appears "
                "twice; rename one",
            )
            return True
        seen.add(name)
    return False


def _check_numbers(
    shown_path: str,
    header: list[str],
    body: list[list[str]],
    used: list[str],
    where: ConfigPath,
    report: Report,
    has_header: bool,
    targets: Sequence[str] = (),
    series: bool = False,
) -> None:
    """Report the first used column whose sampled cells are not numbers."""
    for offset, row in enumerate(body):
        if len(row) != len(header):
            continue  # training names the line and the count
        for name in used:
            if name not in header:
                continue
            cell = row[header.index(name)].strip()
            if cell and not is_number(cell):
                line = offset + (2 if has_header else 1)
                half = DATA_QUOTE_LENGTH // 2
                values = _sampled(header, body, name)
                if any(map(is_number, values)):
                    # A stray word in a column of numbers: the cell is wrong.
                    report(
                        where,
                        f"{shown_path}, line {line}, column {shown_data(name, half)}: "
                        f"{shown_data(cell, half)} is not a number, unlike the "
                        "column's other values; fix the cell",
                    )
                elif name in targets:
                    report(
                        ("data", "target"),
                        _string_target(shown_path, line, name, values),
                    )
                elif series:
                    report(
                        where,
                        f"{shown_path}, line {line}: column {shown_data(name, half)} "
                        f"holds strings ({shown_data(cell, half)}); a time series "
                        "reads numbers only: leave it out of features",
                    )
                else:
                    report(
                        ("data", "inputs") if where == ("data", "path") else where,
                        f"{shown_path}, line {line}: column {shown_data(name, half)} "
                        f"holds strings ({shown_data(cell, half)}); inputs: matrix "
                        "takes numbers only: use inputs: columns (a named input per "
                        "column), or leave it out of features",
                    )
                return


def _sampled(header: list[str], body: list[list[str]], name: str) -> list[str]:
    """The sampled rows' non-empty cells of one column."""
    column = header.index(name)
    cells = (row[column].strip() for row in body if len(row) == len(header))
    return [cell for cell in cells if cell]


def _string_target(shown_path: str, line: int, name: str, values: list[str]) -> str:
    """A target column of class names: number them with data.labels.map."""
    seen = sorted(set(values))
    # Three values of at most 16 characters: within the 80 quoted.
    example = ", ".join(
        f"{shown_data(value, 16)}: {index}" for index, value in enumerate(seen[:3])
    )
    more = ", ..." if len(seen) > 3 else ""
    return (
        f"{shown_path}, line {line}: the target column {shown_data(name, 30)} "
        f"holds strings; number the classes with data.labels: "
        f"{{map: {{{example}{more}}}}}"
    )


def _one_column(shown_path: str, cell: str, delimiter: str, target: str) -> str:
    guess = ""
    for separator, name, written in _SEPARATORS:
        if separator != delimiter and separator in cell:
            guess = f"; it looks {name}-separated: set delimiter: {written}"
            break
    quoted = shown_data(cell, DATA_QUOTE_LENGTH // 2)
    return (
        f"{shown_path}, line 1 is one column ({quoted}) with no column "
        f"{target!r}{guess}"
    )


def _missing(shown_path: str, name: str, header: list[str], what: str) -> str:
    match = closest(name, header)
    suggestion = f"; did you mean {shown_data(match, 30)}?" if match else ""
    columns = shown_names(header, DATA_QUOTE_LENGTH - 30, quote=False)
    return f"{shown_path} has no {what} {name!r}{suggestion} (its columns: {columns})"


def is_number(text: str) -> bool:
    """Whether a cell reads as a number, as ``float`` reads it."""
    try:
        float(text)
    except ValueError:
        return False
    return True
