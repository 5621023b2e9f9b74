"""A time series long enough for one window per split, checked without TensorFlow.

The rows of each chronological split and the rows one window with its target
spans are worked out here, in plain Python, for both ``cbrun validate`` (which
counts the data rows of a CSV with a bounded read) and the ``timeseries``
loader (:mod:`cbrun.keras.data.timeseries`), so both refuse a short series at
the same key with the same numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cbrun.atomic import open_regular
from cbrun.config.data import table_delimiter
from cbrun.errors import ConfigPath

Report = Callable[..., None]

# The most bytes validate reads to count rows; a longer file is left to
# training (at 8 MiB a series has about 100,000 rows, more than any window).
COUNT_BYTES = 8 << 20


def span(config: Any) -> int:
    """Rows from a window's first row to its target: (L - 1) r + offset."""
    return (config.sequence_length - 1) * config.sampling_rate + config.target_offset


def split_rows(rows: int, validation: float, test: float) -> list[tuple[str, int, int]]:
    """Chronological ``(name, start, stop)`` of train, validation and test rows.

    Validation and test take ``floor(rows * fraction)`` rows each, at the end.
    """
    n_test = math.floor(rows * test)
    n_validation = math.floor(rows * validation)
    train_stop = rows - n_validation - n_test
    return [
        ("train", 0, train_stop),
        ("validation", train_stop, rows - n_test),
        ("test", rows - n_test, rows),
    ]


def validation_key(config: Any, validation_split: float) -> ConfigPath:
    """Where the validation fraction was set: fit's, else the series' own."""
    if validation_split and "validation" not in config.split.model_fields_set:
        return ("fit", "validation_split")
    return ("data", "split", "validation")


def short_split(
    rows: int, config: Any, validation: float, validation_split: float, name: str
) -> tuple[ConfigPath, str] | None:
    """The first split too short for one window with its target, if any.

    Args:
        rows: The series' data rows (after ``limit``).
        config: The ``timeseries`` data section.
        validation: The validation fraction in use.
        validation_split: ``fit.validation_split`` (0 when unset).
        name: The file, as the message names it.

    Returns:
        The config key to blame and the message, or None when every split
        that should have windows has one.
    """
    need = span(config) + 1
    formula = (
        f"(sequence_length - 1) * sampling_rate + target_offset + 1 = "
        f"({config.sequence_length} - 1) * {config.sampling_rate} + "
        f"{config.target_offset} + 1"
    )
    fractions = {"train": 1.0, "validation": validation, "test": config.split.test}
    for part, start, stop in split_rows(rows, validation, config.split.test):
        if fractions[part] == 0 or stop - start >= need:
            continue
        if part == "train" and rows < need:
            return ("data", "sequence_length"), (
                f"{name} has {rows} data rows, but one window with its target "
                f"needs {need} ({formula}); use a longer series or shorter windows"
            )
        keys: dict[str, ConfigPath] = {
            "train": ("data", "sequence_length"),
            "validation": validation_key(config, validation_split),
            "test": ("data", "split", "test"),
        }
        fix = (
            "smaller validation and test fractions"
            if part == "train"
            else "a larger fraction"
        )
        share = "" if part == "train" else f" ({fractions[part]:g} of the rows)"
        return keys[part], (
            f"the {part} split{share} has {stop - start} of the {rows} data rows of "
            f"{name}, but one window with its target needs {need} ({formula}); "
            f"use a longer series, {fix} or shorter windows"
        )
    return None


def count_data_rows(path: Path, delimiter: str) -> int | None:
    """The rows after the header line that hold a value, as training reads them.

    Reads at most :data:`COUNT_BYTES`; None when the file is longer, or
    cannot be read as UTF-8 CSV (training says why).
    """
    try:
        with open_regular(path) as raw:
            head = raw.read(COUNT_BYTES + 1)
    except OSError:
        return None
    if len(head) > COUNT_BYTES:
        return None
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    # The csv module's line ends only (splitlines also splits at \f, \x1c).
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if any(line.count('"') % 2 for line in lines):
        # A quoted cell holds a line break: the csv module knows where rows end.
        try:
            rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        except csv.Error:
            return None
        filled = sum(any(cell.strip() for cell in row) for row in rows)
    else:
        blank = delimiter + ' \t\r\n\f\v"'  # '""' is an empty cell
        filled = sum(bool(line.strip(blank)) for line in lines)
    return max(filled - 1, 0)


def check_series_length(
    data: Any, validation_split: float, base_dir: Path, report: Report
) -> None:
    """Report a CSV series too short for one window in a split it needs.

    Args:
        data: The ``timeseries`` data section.
        validation_split: ``fit.validation_split`` (0 when unset).
        base_dir: The config's folder.
        report: ``report(path, message)``.
    """
    if data.path.lower().endswith(".npz"):
        return  # counting an .npz's rows needs NumPy: training checks it
    rows = count_data_rows(base_dir / data.path, table_delimiter(data))
    if not rows:
        return  # unreadable, too long to count, or empty: said elsewhere
    if data.limit is not None:
        rows = min(rows, data.limit)
    validation = validation_split or data.split.validation
    found = short_split(rows, data, validation, validation_split, Path(data.path).name)
    if found is not None:
        report(*found)
