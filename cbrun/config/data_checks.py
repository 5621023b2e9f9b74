"""Checks of the data files a config names, made by ``validate`` without TensorFlow.

Each source that reads files registers a checker in :data:`DATA_FILE_CHECKS`:
folders exist and hold class subfolders, a CSV header holds the named
columns, and so on. A checker reads as little as it can (a header line, a
folder listing) and quotes at most 80 characters of any file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cbrun.config.column_checks import check_stray_words
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.folder_checks import check_folders
from cbrun.config.model import ModelConfig
from cbrun.config.problems import ProblemList
from cbrun.config.series_checks import check_series_length
from cbrun.config.table_checks import check_csv, check_timeseries, feature_columns
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem
from cbrun.suggest import did_you_mean, shorten, shown, shown_data

Report = Callable[..., None]
"""``report(path, message, severity="error")``: one problem at a config path."""

DataFileCheck = Callable[[Any, Path, Report], None]
"""A source's checker: its ``data`` section, the config's folder, ``report``."""

DATA_FILE_CHECKS: dict[str, DataFileCheck] = {}
"""Source name -> the checker of its files (sources without files have none)."""
DATA_FILE_CHECKS["images"] = DATA_FILE_CHECKS["text"] = check_folders
DATA_FILE_CHECKS["csv"] = check_csv
DATA_FILE_CHECKS["timeseries"] = check_timeseries


def data_file_checks(
    config: ExperimentConfig, data: Any, source: SourceMap, base_dir: Path
) -> list[Problem]:
    """Check the files the ``data`` section names, as far as validate can.

    Args:
        config: The validated config.
        data: The document it was validated from (for positions).
        source: Where each value came from.
        base_dir: The config's folder; relative paths start there.

    Returns:
        Errors and warnings at the ``data`` keys they concern.
    """
    check = DATA_FILE_CHECKS.get(config.data.source)
    if check is None:
        return []
    found = ProblemList(source, data)
    check(config.data, base_dir, found.add)
    section = config.data
    if not found.problems and section.source == "csv" and section.inputs == "columns":
        # One read of the header serves the three checks of the inputs.
        columns = feature_columns(section, base_dir)
        if columns:
            _check_input_columns(section, columns, found.add)
            if not found.problems:
                _check_named_inputs(section, config.model, columns, found.add)
            if not found.problems:
                check_stray_words(config, columns, base_dir, found.add)
    if not found.problems and section.source == "timeseries":
        # The validation fraction may be fit's: this check needs the config.
        check_series_length(
            config.data, config.fit.validation_split, base_dir, found.add
        )
    return found.problems


def _check_input_columns(data: Any, columns: list[str], report: Report) -> None:
    """With ``inputs: columns``, each feature column's name is a Keras input name.

    Keras 3 takes any name without '/' (``age group`` too), as
    :data:`cbrun.config.model.InputName` does.
    """
    for name in columns:
        if "/" not in name:
            continue
        if not data.has_header:
            where: ConfigPath = ("data", "names", data.names.index(name))
            fix = "rename it in names"
        elif data.features is not None:
            where = ("data", "features", data.features.index(name))
            fix = "rename the column in the file's header line, or drop it here"
        else:
            where = ("data", "path")
            fix = (
                "rename the column in the file's header line, or list the other "
                "columns in features"
            )
        line = ", line 1" if data.has_header else ""
        report(
            where,
            f"{Path(data.path).name}{line}: with inputs: columns the column "
            f"{shown_data(name, 40)} is a model input, and Keras refuses '/' in an "
            f"input name; {fix}",
        )
        return


def _check_named_inputs(
    data: Any, model: ModelConfig, columns: list[str], report: Report
) -> None:
    """With ``inputs: columns``, each ``model.inputs`` name is a feature column."""
    for index, item in enumerate(model.inputs or []):
        if item.name not in columns:
            report(
                ("model", "inputs", index, "name"),
                f"the data gives no input {shown(item.name)}: with inputs: columns "
                f"each model input is a feature column of {Path(data.path).name} "
                f"(its feature columns: {shorten(', '.join(columns), 120)})"
                f"{did_you_mean(item.name, columns)}",
            )
