"""What the commands share: options, error lines, report printing."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from cbrun.api import Report


def echo_err(message: str) -> None:
    """One line on stderr, apart from the command's output."""
    click.echo(message, err=True)


# Shared by validate and train: the same overrides mean the same config.
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value, e.g. fit.epochs=3 or callbacks.EarlyStopping.patience=5.",
)


def format_option(choices: tuple[str, str], help_text: str) -> Any:
    """``--format``: people's form first (the default), then ``json``."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help=help_text,
    )


# --track: the trackers a run may also be shown in (cbrun.tracking.TRACKERS).
track_option = click.option(
    "--track",
    type=click.Choice(["mlflow"]),
    help="Also log to MLflow: URI from MLFLOW_TRACKING_URI, else "
    "sqlite:///mlflow.db beside the runs dir; the config's tracking.mlflow "
    "settings apply (pip install 'cbrun[mlflow]').",
)

NO_USER_CODE_HELP = (
    "Refuse configs that name code to import (package.module:name); also set by "
    "CBRUN_NO_USER_CODE=1. For configs you do not trust."
)


def allow_user_code(no_user_code: bool) -> bool | None:
    """--no-user-code refuses; without it the API decides (CBRUN_NO_USER_CODE)."""
    return False if no_user_code else None


def print_report(report: Report) -> None:
    """FILE:LINE:COL lines on stdout, the count on stderr."""
    for file in report.files:
        for problem in file.problems:
            click.echo(problem.format())
        if file.valid:
            click.echo(f"{file.file}: ok")
    total, invalid = len(report.files), len(report.invalid)
    if invalid:
        echo_err(f"{invalid} of {total} config(s) invalid")
    else:
        echo_err(f"{total} config(s) valid")


def error_line(exc: Exception) -> str:
    """``cbrun: <message>``, control characters escaped.

    Messages quote files cbrun did not write (a config from a pull request, a
    run dir): no raw escape sequence may reach the terminal or a CI log.
    """
    from cbrun.runs.printable import printable_lines

    return f"cbrun: {printable_lines(str(exc))}"


def say(message: str) -> None:
    """Cbrun's own lines during a run: on stderr, apart from Keras's stdout."""
    click.echo(f"cbrun: {message}", err=True)


def command_line() -> list[str]:
    """The command line as typed, for run.json."""
    return ["cbrun", *sys.argv[1:]]
