"""SIGINT and SIGTERM in every phase of a real run, and the run lock.

Each test runs the installed ``cbrun`` in a subprocess on a tiny config whose
model and callback come from ``tests/user_code/signal_hooks.py``: the
process signals itself at the phase the test names (after fit, while
evaluating, while saving), or sleeps while it builds so that the test signals
it. Signals during ``fit`` itself are in ``test_fault_tolerance.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.keras]

CONFIG = """\
name: sig
data: {source: sklearn, name: iris}
model: {build: "tests.user_code.signal_hooks:model"}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 3, batch_size: 16, verbose: 0}
callbacks:
  - {type: "tests.user_code.signal_hooks:SignalAtTrainEnd"}
"""
EPOCHS = 3
CODES = {"SIGINT": 130, "SIGTERM": 143}


def cbrun(
    *args: str, at: str | None = None, signals: str = "", marker: Path | None = None
):
    """Start the installed ``cbrun`` with the signal hooks set."""
    installed = Path(sys.executable).parent / "cbrun"
    command = (
        [str(installed)] if installed.exists() else [sys.executable, "-m", "cbrun"]
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in ("CBRUN_TEST_SIGNAL_AT", "CBRUN_TEST_SIGNALS", "CBRUN_TEST_MARKER"):
        env.pop(name, None)
    if at is not None:
        env["CBRUN_TEST_SIGNAL_AT"] = at
    if signals:
        env["CBRUN_TEST_SIGNALS"] = signals
    if marker is not None:
        env["CBRUN_TEST_MARKER"] = str(marker)
    return subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return process.returncode, err


def wait_for(marker: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the builder never ran"
        time.sleep(0.05)


def the_run(runs_dir: Path) -> Path:
    (run_dir,) = [p.parent for p in runs_dir.glob("*/*/run.json")]
    return run_dir


def record_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def epochs_in_history(run_dir: Path) -> set[int]:
    history = json.loads((run_dir / "history.json").read_text())
    return {len(values) for values in history.values()}


def model_is_whole_or_absent(run_dir: Path) -> bool:
    """model.keras is a whole Keras archive, or not there; no temp file left."""
    leftovers = [p.name for p in run_dir.iterdir() if p.name.startswith(".model")]
    assert not leftovers, leftovers
    path = run_dir / "model.keras"
    if not path.exists():
        return False
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
    return True


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sig.yaml"
    path.write_text(CONFIG)
    return path


@pytest.mark.parametrize(
    ("phase", "signals"),
    [
        # Acknowledged in fit's last moment ("after the current step"), when
        # no step is left: acted on after fit, not dropped.
        ("train_end", "SIGINT"),
        # While model.save runs: the save finishes, the run stops.
        ("save", "SIGTERM"),
        # A second signal while evaluating stops at once: no model.keras.
        ("evaluate", "SIGINT,SIGINT"),
    ],
)
def test_a_signal_after_fit_is_acted_on_and_keeps_the_epochs(
    tmp_path, config, phase, signals
):
    runs_dir = tmp_path / "runs"
    process = cbrun(
        "train", str(config), "--runs-dir", str(runs_dir), at=phase, signals=signals
    )
    code, err = finish(process)
    name = signals.split(",")[0]
    assert code == CODES[name], err
    run_dir = the_run(runs_dir)
    record = record_of(run_dir)
    assert record["status"] == "interrupted"
    assert record["epochs_run"] == EPOCHS
    assert epochs_in_history(run_dir) == {EPOCHS}
    assert record["stop_reason"].startswith(
        f"{name} after {EPOCHS} epochs, while evaluating and saving the model"
    )
    assert f"continue with: cbrun train --resume {run_dir}" in err
    assert not (run_dir / ".lock").exists()
    saved = model_is_whole_or_absent(run_dir)
    if "," in signals:  # at once: nothing more was written
        assert not saved
        assert record["stop_reason"].endswith("model.keras not saved")
        # The backup is never deleted by a stopped run (backups are throttled:
        # this tiny run may have written none).
        assert (run_dir / "backup").is_dir() == bool(record["backup_epoch"])
    else:
        assert saved
        assert f"{name}: training is over" in err or f"{name}: stopping after" in err
        # Brought up to the last epoch, so --resume trains nothing again.
        assert record["backup_epoch"] == EPOCHS
        metadata = json.loads(
            (run_dir / "backup" / "training_metadata.json").read_text()
        )
        assert metadata["epoch"] == EPOCHS


def test_sigterm_while_evaluating_then_resume_the_lock_and_sigint_while_loading(
    tmp_path, config
):
    runs_dir = tmp_path / "runs"
    # 1. SIGTERM while evaluating after fit: the model is saved, the run stops.
    code, err = finish(
        cbrun(
            "train",
            str(config),
            "--runs-dir",
            str(runs_dir),
            at="evaluate",
            signals="SIGTERM",
        )
    )
    assert code == 143, err
    assert "SIGTERM: training is over: saving the model, then stopping" in err
    run_dir = the_run(runs_dir)
    record = record_of(run_dir)
    assert record["status"] == "interrupted"
    assert record["test_metrics"] is None
    assert record["stop_reason"].endswith(
        "model.keras saved, not evaluated on the test data"
    )
    assert model_is_whole_or_absent(run_dir)
    assert record["backup_epoch"] == EPOCHS
    assert not (run_dir / ".lock").exists()

    # 2. A resume that is still loading holds the run's lock: a second resume
    # is refused before it imports TensorFlow.
    marker = tmp_path / "building"
    loading = cbrun("train", "--resume", str(run_dir), at="build", marker=marker)
    wait_for(marker, loading)
    started = time.monotonic()
    code, err = finish(cbrun("train", "--resume", str(run_dir)))
    refused_in = time.monotonic() - started
    assert code == 1, err
    assert f"{run_dir} is in use by another cbrun process (pid {loading.pid})" in err
    assert refused_in < 3.0, f"refused after {refused_in:.2f} s"
    print(f"second --resume refused in {refused_in:.2f} s")

    # 3. SIGINT while the resume loads: at once, recorded, nothing lost.
    started = time.monotonic()
    loading.send_signal(signal.SIGINT)
    code, err = finish(loading)
    assert code == 130, err
    assert time.monotonic() - started < 10
    record = record_of(run_dir)
    assert record["status"] == "interrupted"
    assert record["stop_reason"] == (
        f"SIGINT while loading, before training resumed after epoch {EPOCHS}"
    )
    assert record["backup_epoch"] == EPOCHS
    assert (run_dir / "backup" / "latest.weights.h5").is_file()
    assert not (run_dir / ".lock").exists()

    # 4. The resume continues from the last epoch: nothing to train, so it
    # evaluates, saves and completes. A lock file left by a killed process
    # (flock died with it) is taken over and removed.
    (run_dir / ".lock").write_text("999999")
    code, err = finish(cbrun("train", "--resume", str(run_dir)))
    assert code == 0, err
    assert f"resuming after epoch {EPOCHS}" in err
    record = record_of(run_dir)
    assert record["status"] == "completed"
    assert record["epochs_run"] == EPOCHS
    assert [r["from_epoch"] for r in record["resumes"]] == [EPOCHS]
    assert epochs_in_history(run_dir) == {EPOCHS}
    assert set(record["test_metrics"]) == {"loss", "accuracy"}
    assert not (run_dir / "backup").exists()
    assert not (run_dir / ".lock").exists()
    assert model_is_whole_or_absent(run_dir)


def test_sigterm_while_building_a_new_run_stops_it_at_once(tmp_path, config):
    runs_dir = tmp_path / "runs"
    marker = tmp_path / "building"
    process = cbrun(
        "train", str(config), "--runs-dir", str(runs_dir), at="build", marker=marker
    )
    wait_for(marker, process)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code, err = finish(process)
    assert code == 143, err
    assert time.monotonic() - started < 10  # not after the builder's 60 s sleep
    assert "interrupted by SIGTERM" in err
    assert not list(runs_dir.glob("*/*"))  # no run dir before the model is built


def test_the_lock_is_reentrant_in_a_thread_exclusive_otherwise_and_removed(tmp_path):
    from cbrun.runs.lock import RunLockedError, run_lock

    with run_lock(tmp_path):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
        with run_lock(tmp_path):  # --resume, then the run it starts
            pass
        assert (tmp_path / ".lock").exists()
        code = (
            "import sys; from pathlib import Path; "
            "from cbrun.runs.lock import run_lock\n"
            f"with run_lock(Path({str(tmp_path)!r})): pass"
        )
        other = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO
        )
        assert "RunLockedError" in other.stderr
        assert f"in use by another cbrun process (pid {os.getpid()})" in other.stderr
        errors: list[BaseException] = []

        def in_a_thread() -> None:
            try:
                with run_lock(tmp_path):
                    pass
            except RunLockedError as exc:
                errors.append(exc)

        thread = threading.Thread(target=in_a_thread)
        thread.start()
        thread.join()
        assert len(errors) == 1
    assert not (tmp_path / ".lock").exists()


def test_sigterm_while_writing_the_final_record_makes_it_interrupted(
    tmp_path, monkeypatch
):
    """The final write cannot be hooked from a config; cbrun's own is wrapped."""
    import cbrun
    import cbrun.training.lifecycle as lifecycle
    from cbrun.training.signals import Interrupted

    real = lifecycle.finish_safely

    def signalled_while_writing(manifest, status, *args, **kwargs):
        if status == "completed":
            os.kill(os.getpid(), signal.SIGTERM)
        return real(manifest, status, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "finish_safely", signalled_while_writing)
    config = tmp_path / "plain.yaml"
    config.write_text(
        CONFIG.replace(
            'model: {build: "tests.user_code.signal_hooks:model"}',
            "model: {layers: [{type: Dense, units: 3, activation: softmax}]}",
        )
    )
    lines: list[str] = []
    with pytest.raises(Interrupted) as raised:
        cbrun.train(config, runs_dir=tmp_path / "runs", echo=lines.append)
    assert raised.value.exit_code == 143
    run_dir = the_run(tmp_path / "runs")
    record = record_of(run_dir)
    assert record["status"] == "interrupted"
    assert record["stop_reason"] == (
        f"SIGTERM after {EPOCHS} epochs, while writing the final records "
        f"(training had ended: finished {EPOCHS} epochs); model.keras saved"
    )
    assert set(record["test_metrics"]) == {"loss", "accuracy"}
    assert record["backup_epoch"] == EPOCHS
    assert (run_dir / "backup" / "latest.weights.h5").is_file()
    assert model_is_whole_or_absent(run_dir)
    assert not (run_dir / ".lock").exists()
    # The handlers are put back when the run returns.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_sigterm_outside_a_run_unwinds_like_ctrl_c_with_143():
    from tests.conftest import python_output

    out = python_output(
        "import os, signal, time\n"
        "from cbrun.training.signals import sigterm_like_ctrl_c\n"
        "sigterm_like_ctrl_c()\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(5)\n"
        "except KeyboardInterrupt as exc:\n"
        "    print(exc.exit_code)\n"
    )
    assert out.strip() == "143"


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_a_hostile_lock_file_is_refused_never_followed_or_truncated(tmp_path, kind):
    from cbrun.runs.lock import RunLockedError, run_lock

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    lock = run_dir / ".lock"
    if kind == "symlink":
        lock.symlink_to(precious)
    elif kind == "hardlink":
        os.link(precious, lock)
    else:
        os.mkfifo(lock)
    with pytest.raises(RunLockedError, match=r"remove it$"), run_lock(run_dir):
        pass
    assert precious.read_text() == "keep me"
    assert os.path.lexists(lock)  # not ours to delete
