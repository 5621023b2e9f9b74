"""Every command has help text with an example; `callbacks` output is exact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.config.callbacks import CALLBACK_SCHEMAS

COMMANDS = sorted(cli.commands)


def test_top_level_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert f"cbrun {name}" in result.stdout


def test_callbacks_table_has_one_row_per_schema():
    result = CliRunner().invoke(cli, ["callbacks"])
    assert result.exit_code == 0
    rows = result.stdout.splitlines()
    assert [row.split()[0] for row in rows] == [*CALLBACK_SCHEMAS, "pkg.mod:Class"]
    assert rows[1].split()[:2] == ["BaseLogger", "cbrun"]


def test_one_callback_shows_parameters_in_signature_order():
    result = CliRunner().invoke(cli, ["callbacks", "EarlyStopping"])
    assert result.exit_code == 0
    params = [
        line.split(":")[0].strip()
        for line in result.stdout.split("Parameters:\n")[1].splitlines()
        if line.startswith("  ") and not line.startswith("      ")
    ]
    assert params == [
        "monitor",
        "min_delta",
        "patience",
        "verbose",
        "mode",
        "baseline",
        "restore_best_weights",
        "start_from_epoch",
    ]
    assert "  patience: int = 0\n" in result.stdout


def test_unknown_callback_is_a_usage_error_with_suggestion():
    result = CliRunner().invoke(cli, ["callbacks", "EarlyStoping"])
    assert result.exit_code == 2
    assert "unknown callback 'EarlyStoping'; did you mean 'EarlyStopping'?" in (
        result.stderr
    )


def test_installed_entry_point_and_module_run():
    # The console script sits beside the interpreter of the venv cbrun is in.
    script = Path(sys.executable).with_name("cbrun")
    for command in ([str(script)], [sys.executable, "-m", "cbrun"]):
        result = subprocess.run(
            [*command, "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("cbrun, version ")
