"""Shared fixtures: config files written into a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# TensorFlow's C++ info logs would drown test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"

MINIMAL = """\
data: {source: sklearn, name: iris}
model:
  layers:
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 2, validation_split: 0.2}
"""


def start_cbrun(*args: str, cwd: Path = REPO) -> subprocess.Popen:
    """Start ``python -m cbrun ARGS`` as a user would; output captured as text."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "cbrun", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter in the repository, output captured.

    A fresh process is the only honest way to see what an import pulls in,
    or how a command behaves when a module cannot be imported.
    """
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def python_output(code: str) -> str:
    """Run ``code`` with :func:`run_python`; its stdout, which must succeed."""
    result = run_python(code)
    result.check_returncode()
    return result.stdout


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented YAML text to ``tmp_path/<name>`` and return the path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def wait_for_record(
    folder: Path,
    pattern: str,
    process: subprocess.Popen,
    ready: Callable[[dict], bool],
    failure: str,
) -> tuple[Path, dict]:
    """Wait until a run.json under ``folder`` (``pattern``) is ``ready``.

    Returns:
        The run dir and its record.

    Fails with ``failure`` if ``process`` exits first or after two minutes.
    """
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for path in folder.glob(pattern):
            try:
                record = json.loads(path.read_text())
            except json.JSONDecodeError:
                continue
            if ready(record):
                return path.parent, record
        time.sleep(0.05)
    raise AssertionError(failure)


def wait_for_epochs(runs_dir: Path, epochs: int, process: subprocess.Popen) -> Path:
    """Wait until a run under ``runs_dir`` records ``epochs`` epochs; its run dir.

    Fails if ``process`` exits first or after two minutes.
    """
    run_dir, _ = wait_for_record(
        runs_dir,
        "*/*/run.json",
        process,
        lambda record: record["epochs_run"] >= epochs,
        f"no run reached {epochs} epochs",
    )
    return run_dir
