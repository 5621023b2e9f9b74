"""`cbrun train --resume` refusals that need no training: clear, exit 1 or 0."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.runs import manifest as runs
from tests.conftest import MINIMAL


def make_run(tmp_path: Path, status: str, epochs_run: int, config: str) -> Path:
    run_dir = tmp_path / "runs" / "config" / "20261126-120000"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(config)
    manifest = runs.RunManifest(run_dir)
    manifest.start("config", str(tmp_path / "config.yaml"), 42, ["cbrun", "train"])
    manifest.update(epochs_run=epochs_run, pid=None, backup_epoch=epochs_run or None)
    if status != runs.RUNNING:
        manifest.finish(status)
    return run_dir


def resume(run_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["train", "--resume", str(run_dir), *args])


def test_a_lost_backup_says_what_can_be_done(tmp_path):
    run_dir = make_run(tmp_path, runs.INTERRUPTED, 3, MINIMAL)
    result = resume(run_dir)
    assert result.exit_code == 1
    assert (
        f"{run_dir}/backup is gone, so the model and optimizer of epoch 3 cannot "
        "be restored; start a new run"
    ) in str(result.exception)


def test_a_record_from_before_throttled_backups_without_backup_is_lost(tmp_path):
    run_dir = make_run(tmp_path, runs.INTERRUPTED, 2, MINIMAL)
    record = json.loads((run_dir / "run.json").read_text())
    del record["backup_epoch"]  # older records have no such field
    (run_dir / "run.json").write_text(json.dumps(record))
    result = resume(run_dir)
    assert result.exit_code == 1
    assert "backup is gone, so the model and optimizer of epoch 2" in str(
        result.exception
    )


def test_a_config_this_cbrun_cannot_read_names_both_versions(tmp_path):
    run_dir = make_run(tmp_path, runs.FAILED, 1, MINIMAL + "future_key: 1\n")
    result = resume(run_dir)
    assert result.exit_code == 1
    message = str(result.exception)
    assert "was written by cbrun 0.1.0 and does not load with cbrun 0.1.0" in message
    assert "future_key: unknown key" in message


def test_a_finished_run_is_left_alone(tmp_path):
    run_dir = make_run(tmp_path, runs.COMPLETED, 2, MINIMAL)
    result = resume(run_dir)
    assert result.exit_code == 0
    assert "already finished (completed, 2 epochs); nothing to resume" in (
        result.stderr
    )


def test_a_nan_run_is_not_resumed(tmp_path):
    run_dir = make_run(tmp_path, runs.TERMINATED_NAN, 2, MINIMAL)
    result = resume(run_dir)
    assert result.exit_code == 1
    assert "stopped on a NaN loss; resuming would repeat it" in str(result.exception)


def test_a_run_without_its_config_cannot_resume(tmp_path):
    run_dir = make_run(tmp_path, runs.INTERRUPTED, 0, MINIMAL)
    (run_dir / "config.yaml").unlink()
    result = resume(run_dir)
    assert result.exit_code == 1
    assert "has no config.yaml; it cannot be resumed" in str(result.exception)
    shutil.rmtree(run_dir)
