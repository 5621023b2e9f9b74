"""Exit codes at the edges of the CLI: closed pipes, bad options, bad folders.

Each runs the installed ``cbrun`` command in a subprocess, as a shell would:
a closed pipe cannot be seen through click's CliRunner.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.errors import ExitCode
from tests.conftest import CONFIGS, REPO

CBRUN = shutil.which("cbrun") or str(REPO / ".venv" / "bin" / "cbrun")


def closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``cbrun ARGS | true``: the reader exits before reading anything."""
    return subprocess.run(
        f"{CBRUN} {' '.join(args)} | true; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="bash",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    "args", [("callbacks",), ("callbacks", "EarlyStopping"), ("schema",), ("--help",)]
)
def test_a_reader_that_stops_early_is_not_a_failure(args):
    result = closed_pipe(*args)
    assert result.returncode == ExitCode.OK, result.stderr
    assert "Traceback" not in result.stderr


def test_validate_keeps_its_verdict_when_the_pipe_closes(tmp_path):
    result = closed_pipe("validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == ExitCode.INVALID_CONFIG


def test_schema_into_a_missing_folder_is_a_usage_error(tmp_path):
    target = tmp_path / "missing" / "schema.json"
    result = CliRunner().invoke(cli, ["schema", "-o", str(target)])
    assert result.exit_code == ExitCode.USAGE
    assert f"folder {target.parent} does not exist" in result.stderr
    assert not target.parent.exists()


@pytest.mark.parametrize("value", ["0", "-1"])
def test_num_processes_below_one_is_refused(value):
    result = CliRunner().invoke(
        cli,
        ["train", "--num-processes", value, str(CONFIGS / "earlystop.yaml")],
    )
    assert result.exit_code == ExitCode.USAGE
    assert f"--num-processes must be at least 1, got {value}" in result.stderr


def test_num_processes_zero_from_the_environment_is_refused():
    result = CliRunner().invoke(
        cli,
        ["train", str(CONFIGS / "earlystop.yaml")],
        env={"CBRUN_NUM_PROCESSES": "0"},
    )
    assert result.exit_code == ExitCode.USAGE
    assert "at least 1, got 0" in result.stderr


def test_resume_of_a_folder_that_is_not_a_run_is_a_usage_error(tmp_path: Path):
    result = subprocess.run(
        [CBRUN, "train", "--resume", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "is not a run directory" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("delay", [0.3, 0.45, 0.6, 0.9])
def test_sigterm_while_configs_load_exits_143_without_a_traceback(tmp_path, delay):
    # Whatever the moment (imports, pydantic building its schemas, the config
    # checks, TensorFlow's import), the answer is 143 and one line.
    process = subprocess.Popen(
        [CBRUN, "train", str(CONFIGS / "earlystop.yaml"), "--runs-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    # -15: the signal came before Python started; nothing was written then.
    assert process.returncode in (ExitCode.TERMINATED, -signal.SIGTERM), err
    assert "Traceback" not in err and "unexpected" not in err, err
