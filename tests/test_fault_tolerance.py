"""Real processes and signals: kill -9 and resume, Ctrl-C, SIGTERM, NaN, smoke.

Each test starts `python -m cbrun` in a subprocess, as a user or CI would,
and reads run.json and history.json back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import (
    CONFIGS,
    MINIMAL,
    REPO,
    wait_for_epochs,
    wait_for_record,
)
from tests.conftest import start_cbrun as cbrun

pytestmark = [pytest.mark.slow, pytest.mark.keras]

SLOW_CONFIG = """\
name: slow
data: {source: sklearn, name: digits, scale: 0.0625}
model:
  layers:
    - {type: Dense, units: 64, activation: relu}
    - {type: Dense, units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 12, batch_size: 4, validation_split: 0.1, verbose: 0, shuffle: false}
callbacks:
  - {type: EarlyStopping, monitor: val_loss, patience: 20}
  - {type: ReduceLROnPlateau, monitor: val_loss, patience: 1, factor: 0.5}
  - {type: CSVLogger, filename: log.csv}
"""

NAN_CONFIG = """\
name: nan
data: {source: sklearn, name: iris, scale: 1.0e30}
model:
  layers:
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: SGD, learning_rate: 1.0e10}
  loss: sparse_categorical_crossentropy
fit: {epochs: 3, verbose: 0}
callbacks:
  - {type: TerminateOnNaN}
"""


def finish(process: subprocess.Popen, timeout: float = 180) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def the_run(runs_dir: Path) -> Path:
    (run_dir,) = [p.parent for p in runs_dir.glob("*/*/run.json")]
    return run_dir


def wait_for_backup(run_dir: Path, process: subprocess.Popen) -> int:
    """Wait until run.json names a backed-up epoch (backups are throttled)."""
    _, record = wait_for_record(
        run_dir,
        "run.json",
        process,
        lambda record: bool(record.get("backup_epoch")),
        f"no backup in {run_dir}",
    )
    return int(record["backup_epoch"])


def record_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def history_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "history.json").read_text())


@pytest.fixture
def slow_config(tmp_path: Path) -> Path:
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW_CONFIG)
    return path


def test_kill_9_then_resume_gives_a_contiguous_history(tmp_path, slow_config):
    runs_dir = tmp_path / "runs"
    process = cbrun("train", str(slow_config), "--runs-dir", str(runs_dir))
    run_dir = wait_for_epochs(runs_dir, 1, process)
    wait_for_backup(run_dir, process)
    process.kill()
    process.wait()
    record = record_of(run_dir)
    assert record["status"] == "running"
    assert record["pid"] == process.pid
    assert (run_dir / "backup" / "latest.weights.h5").is_file()
    # Backups are throttled to a share of training time: the last one may be
    # older than the last finished epoch, and the resume starts from it.
    metadata = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    done = metadata["epoch"]
    assert 1 <= record["backup_epoch"] <= done <= record["epochs_run"]
    assert done < 12, "the run ended before the kill; make SLOW_CONFIG slower"

    code, _, err = finish(cbrun("train", "--resume", str(run_dir)))
    assert code == 0, err
    assert f"resuming after epoch {done}" in err
    record = record_of(run_dir)
    assert record["status"] == "completed"
    assert record["epochs_run"] == 12
    assert record["resumes"][0]["from_epoch"] == done
    history = history_of(run_dir)
    assert {len(values) for values in history.values()} == {12}
    rows = (run_dir / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == [str(i) for i in range(12)]
    assert not (run_dir / "backup").exists()

    # A finished run is not resumed again.
    code, _, err = finish(cbrun("train", "--resume", str(run_dir)))
    assert code == 0
    assert "already finished (completed, 12 epochs); nothing to resume" in err


def test_resumed_callback_counters_carry_over(tmp_path, slow_config):
    runs_dir = tmp_path / "runs"
    process = cbrun("train", str(slow_config), "--runs-dir", str(runs_dir))
    run_dir = wait_for_epochs(runs_dir, 1, process)
    wait_for_backup(run_dir, process)
    process.kill()
    process.wait()
    state = json.loads((run_dir / "backup" / "callbacks_state.json").read_text())
    metadata = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    early = state["callbacks"]["0"]
    history = history_of(run_dir)
    epochs = state["epoch"]
    assert epochs == metadata["epoch"]  # Counters saved with the same backup.
    assert early["best"] == pytest.approx(min(history["val_loss"][:epochs]))
    assert early["type"] == "EarlyStopping"
    assert state["callbacks"]["1"]["type"] == "ReduceLROnPlateau"


def test_sigint_stops_after_the_step_and_exits_130(tmp_path, slow_config):
    runs_dir = tmp_path / "runs"
    process = cbrun("train", str(slow_config), "--runs-dir", str(runs_dir))
    run_dir = wait_for_epochs(runs_dir, 1, process)
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130, err
    record = record_of(run_dir)
    assert record["status"] == "interrupted"
    assert record["stop_reason"].startswith("SIGINT after ")
    assert f"cbrun train --resume {run_dir}" in err
    assert "Traceback" not in err
    epochs = record["epochs_run"]
    assert {len(v) for v in history_of(run_dir).values()} == {epochs}


def test_sigterm_exits_143(tmp_path, slow_config):
    runs_dir = tmp_path / "runs"
    process = cbrun("train", str(slow_config), "--runs-dir", str(runs_dir))
    run_dir = wait_for_epochs(runs_dir, 1, process)
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process)
    assert code == 143, err
    assert record_of(run_dir)["status"] == "interrupted"


def test_nan_loss_exits_3_with_terminated_nan(tmp_path):
    config = tmp_path / "nan.yaml"
    config.write_text(NAN_CONFIG)
    runs_dir = tmp_path / "runs"
    code, _, err = finish(cbrun("train", str(config), "--runs-dir", str(runs_dir)))
    assert code == 3, err
    record = record_of(the_run(runs_dir))
    assert record["status"] == "terminated_nan"
    assert record["stop_reason"].startswith("TerminateOnNaN: loss became")
    assert "Traceback" not in err


def test_resume_bad_input(tmp_path):
    code, _, err = finish(cbrun("train", "--resume", str(tmp_path)))
    assert code == 2  # A usage error: the folder is not a run.
    assert f"{tmp_path} is not a run directory (it has no run.json)" in err


def test_two_resumes_of_one_run_the_second_refuses(tmp_path, slow_config):
    runs_dir = tmp_path / "runs"
    first = cbrun("train", str(slow_config), "--runs-dir", str(runs_dir))
    run_dir = wait_for_epochs(runs_dir, 1, first)
    first.kill()
    first.wait()
    resumed = cbrun("train", "--resume", str(run_dir), "--set", "fit.epochs=40")
    deadline = time.monotonic() + 60
    while record_of(run_dir)["pid"] != resumed.pid and time.monotonic() < deadline:
        time.sleep(0.05)
    code, _, err = finish(cbrun("train", "--resume", str(run_dir)))
    resumed.kill()
    resumed.wait()
    assert code == 1
    assert "still running" in err or "in use by another cbrun process" in err


def test_resume_refuses_unsafe_overrides(tmp_path, slow_config):
    runs_dir = tmp_path / "runs"
    process = cbrun("train", str(slow_config), "--runs-dir", str(runs_dir))
    run_dir = wait_for_epochs(runs_dir, 1, process)
    process.kill()
    process.wait()
    code, _, err = finish(
        cbrun("train", "--resume", str(run_dir), "--set", "compile.optimizer=sgd")
    )
    assert code == 1
    assert "only fit.epochs, fit.verbose can change when resuming" in err


def test_smoke_over_all_configs_plus_an_invalid_one(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("source: sklearn", "source: sklern"))
    report = tmp_path / "smoke.xml"
    configs = sorted(str(p) for p in CONFIGS.glob("*.yaml"))
    code, out, err = finish(
        cbrun("train", "--smoke", *configs, str(bad), "--junit-xml", str(report)),
        timeout=300,
    )
    assert code == 1, out + err
    lines = [line for line in out.splitlines() if line.startswith(("ok", "FAILED"))]
    assert len(lines) == len(configs) + 1
    assert all(line.startswith("ok") for line in lines[:-1]), out
    assert lines[-1].startswith(f"FAILED  {bad}")
    assert "unknown data source 'sklern'" in lines[-1]
    assert f"{len(configs)} passed, 1 failed" in out
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(configs) + 1)
    assert suite.get("failures") == "1"
    # Per-config seconds after the one TensorFlow import, for the note.
    seconds = [float(line.split()[2].rstrip("s")) for line in lines[:-1]]
    print("smoke seconds per config:", seconds)


def _limit_file_size() -> None:
    import resource

    # Files larger than 64 kB cannot be written (like a full disk for the
    # backup's weights file), and the signal that would kill the process is
    # ignored so that the write fails with an OSError instead.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_file_that_cannot_be_written_fails_the_run_with_a_record(tmp_path):
    config = tmp_path / "big.yaml"
    config.write_text(
        # A checkpoint every epoch: a write during training (the backup is
        # throttled and may not happen in two epochs).
        SLOW_CONFIG.replace("units: 64", "units: 512").replace(
            "epochs: 12", "epochs: 2"
        )
        + "  - {type: ModelCheckpoint, filepath: ckpt.keras}\n"
    )
    runs_dir = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cbrun",
            "train",
            str(config),
            "--runs-dir",
            str(runs_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
        preexec_fn=_limit_file_size,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "training failed (failed): OSError" in result.stderr
    record = record_of(the_run(runs_dir))
    assert record["status"] == "failed"
    assert record["error"].startswith("OSError")
