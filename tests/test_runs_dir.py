"""Tests for cbrun.runs: atomic files, run directories and the run.json record.

Everything here uses the real filesystem and real processes: atomicity and
exclusivity are properties of the OS calls, not of the code around them.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cbrun import atomic
from cbrun.atomic import (
    CorruptFileError,
    MissingFileError,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from cbrun.errors import CbrunError, ExitCode
from cbrun.runs.layout import RunDirError, create_run_dir, resolve_inside
from cbrun.runs.manifest import (
    COMPLETED,
    FAILED,
    FINAL_STATUSES,
    INTERRUPTED,
    RUNNING,
    STATUSES,
    STOPPED_EARLY,
    TERMINATED_NAN,
    RunManifest,
    RunRecord,
    load_history,
    load_record,
    versions,
    write_history,
)

NOW = datetime(2024, 5, 6, 7, 8, 9)
STAMP = "20240506-070809"
# fork: the children need nothing but this module's state, and start fast.
FORK = multiprocessing.get_context("fork")


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def _strict_loads(text: str) -> Any:
    def reject(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


# --- atomic writes ----------------------------------------------------------


def test_write_text_atomic_creates_then_replaces(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    write_text_atomic(target, "first")
    write_text_atomic(target, "second, longer than the first")
    assert target.read_text(encoding="utf-8") == "second, longer than the first"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_write_json_atomic_format(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    write_json_atomic(target, {"z": 1, "a": "café", "l": (1, 2)})
    text = target.read_text(encoding="utf-8")
    assert text == '{\n  "z": 1,\n  "a": "café",\n  "l": [\n    1,\n    2\n  ]\n}\n'
    assert list(read_json(target)) == ["z", "a", "l"]  # insertion order kept


def test_written_file_honours_umask(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    old = os.umask(0o022)
    try:
        write_text_atomic(target, "x")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


def test_unserialisable_object_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    write_json_atomic(target, {"status": "running"})
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        write_json_atomic(target, {"status": "completed", "bad": object()})
    assert read_json(target) == {"status": "running"}
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_failure_mid_write_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    target = tmp_path / "run.json"
    write_json_atomic(target, {"epochs_run": 1})

    def boom(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, step, boom)
    with pytest.raises(OSError, match="No space left"):
        write_json_atomic(target, {"epochs_run": 2})
    monkeypatch.undo()
    assert read_json(target) == {"epochs_run": 1}
    assert _no_temp_files(tmp_path)


def test_write_into_missing_folder_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "nope" / "run.json", "x")


def test_non_finite_floats_become_null(tmp_path: Path) -> None:
    target = tmp_path / "h.json"
    nan, inf = float("nan"), float("inf")
    write_json_atomic(target, {"a": nan, "b": [inf, -inf, 1.5], "c": {"d": (nan,)}})
    data = _strict_loads(target.read_text(encoding="utf-8"))
    assert data == {"a": None, "b": [None, None, 1.5], "c": {"d": [None]}}


def test_numpy_like_scalars_are_converted(tmp_path: Path) -> None:
    class Scalar:  # stands in for numpy.float32 without importing numpy
        def __init__(self, value: float) -> None:
            self.value = value

        def item(self) -> float:
            return self.value

    target = tmp_path / "h.json"
    write_json_atomic(target, {"loss": [Scalar(0.5), Scalar(float("nan"))]})
    assert _strict_loads(target.read_text(encoding="utf-8")) == {"loss": [0.5, None]}


def test_read_json_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError) as info:
        read_json(tmp_path / "run.json")
    assert info.value.path == tmp_path / "run.json"
    assert str(tmp_path / "run.json") in str(info.value)
    assert isinstance(info.value, CbrunError)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"status": "runn', "not valid JSON"),
        (b"", "empty file"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_read_json_corrupt(tmp_path: Path, content: bytes, reason: str) -> None:
    target = tmp_path / "run.json"
    target.write_bytes(content)
    with pytest.raises(CorruptFileError, match=reason) as info:
        read_json(target)
    assert info.value.path == target
    assert isinstance(info.value, CbrunError)


# --- run directories ----------------------------------------------------------


def test_create_run_dir_layout(tmp_path: Path) -> None:
    run_dir = create_run_dir(tmp_path / "runs", "mnist", now=NOW)
    assert run_dir == tmp_path / "runs" / "mnist" / STAMP
    assert run_dir.is_dir()
    assert list(run_dir.iterdir()) == []


def test_create_run_dir_default_now(tmp_path: Path) -> None:
    before = datetime.now().replace(microsecond=0)
    run_dir = create_run_dir(tmp_path, "exp")
    stamp = datetime.strptime(run_dir.name, "%Y%m%d-%H%M%S")
    assert before <= stamp <= datetime.now()


def test_create_run_dir_aware_time_is_local(tmp_path: Path) -> None:
    aware = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=5)))
    local = aware.astimezone().strftime("%Y%m%d-%H%M%S")
    assert create_run_dir(tmp_path, "exp", now=aware).name == local


def test_same_second_gets_suffixes(tmp_path: Path) -> None:
    names = [create_run_dir(tmp_path, "exp", now=NOW).name for _ in range(3)]
    assert names == [STAMP, f"{STAMP}-1", f"{STAMP}-2"]


def test_existing_run_is_never_reused(tmp_path: Path) -> None:
    first = create_run_dir(tmp_path, "exp", now=NOW)
    (first / "run.json").write_text("{}")
    second = create_run_dir(tmp_path, "exp", now=NOW)
    assert second != first
    assert (first / "run.json").read_text() == "{}"


def _create_in_child(runs_dir: Path, barrier: Any, queue: Any) -> None:
    barrier.wait()  # all start together, to collide for real
    queue.put(str(create_run_dir(runs_dir, "exp", now=NOW)))


def test_concurrent_processes_get_distinct_dirs(tmp_path: Path) -> None:
    n = 8
    barrier, queue = FORK.Barrier(n), FORK.Queue()
    procs = [
        FORK.Process(target=_create_in_child, args=(tmp_path, barrier, queue))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    created = {queue.get(timeout=30) for _ in range(n)}
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert len(created) == n
    expected = {STAMP} | {f"{STAMP}-{i}" for i in range(1, n)}
    assert {Path(c).name for c in created} == expected
    assert {p.name for p in (tmp_path / "exp").iterdir()} == expected


def test_runs_dir_under_a_file_raises_run_dir_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    runs_dir = blocker / "runs"
    with pytest.raises(RunDirError) as info:
        create_run_dir(runs_dir, "exp", now=NOW)
    message = str(info.value)
    assert str(runs_dir) in message
    assert "--runs-dir DIR" in message
    assert info.value.exit_code == ExitCode.TRAINING_FAILED == 3
    assert isinstance(info.value, CbrunError)


def test_file_in_place_of_name_folder_raises_run_dir_error(tmp_path: Path) -> None:
    (tmp_path / "exp").write_text("in the way")
    with pytest.raises(RunDirError, match="a file is in the way"):
        create_run_dir(tmp_path, "exp", now=NOW)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_runs_dir_raises_run_dir_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunDirError, match="--runs-dir DIR"):
            create_run_dir(tmp_path, "exp", now=NOW)
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a/b", "a\\b", "/abs", "../up", "a\0b"]
)
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="run name"):
        create_run_dir(tmp_path / "runs", name, now=NOW)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["mnist", "my-exp_1.v2", "with space", "..x"])
def test_good_names_are_accepted(tmp_path: Path, name: str) -> None:
    assert create_run_dir(tmp_path, name, now=NOW).parent == tmp_path / name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("log.csv", "log.csv"),
        ("checkpoints/best.keras", "checkpoints/best.keras"),
        ("a/../b.csv", "b.csv"),
        ("./tensorboard/", "tensorboard"),
        ("..hidden", "..hidden"),
    ],
)
def test_resolve_inside_relative(tmp_path: Path, value: str, expected: str) -> None:
    assert resolve_inside(tmp_path, value) == tmp_path / expected


def test_resolve_inside_absolute_stays(tmp_path: Path) -> None:
    elsewhere = "/data/shared/../logs/log.csv"
    assert resolve_inside(tmp_path, elsewhere) == Path(elsewhere)


@pytest.mark.parametrize("value", ["..", "../x.csv", "a/../../x.csv", "a/../..", ""])
def test_resolve_inside_refuses_escapes(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError):
        resolve_inside(tmp_path, value)


# --- run.json -----------------------------------------------------------------


def test_status_and_field_names_match_the_design() -> None:
    assert (RUNNING, COMPLETED, STOPPED_EARLY, TERMINATED_NAN, FAILED, INTERRUPTED) == (
        "running",
        "completed",
        "stopped_early",
        "terminated_nan",
        "failed",
        "interrupted",
    )
    assert set(STATUSES) - FINAL_STATUSES == {RUNNING}
    # run.json is written in this order (RunRecord.to_dict).
    assert list(RunRecord.model_fields) == [
        "name", "config_file", "run_dir",
        "status", "started_at", "ended_at", "epochs_run", "stop_reason", "best",
        "test_metrics", "seed", "versions", "command", "pid", "host", "error",
        "resumes", "distribute", "backup_epoch", "trial", "tracking",
        "tracking_error", "stages",
    ]  # fmt: skip


def test_manifest_lifecycle_round_trips(tmp_path: Path) -> None:
    manifest = RunManifest(tmp_path)
    command = ["cbrun", "train", "mnist.yaml"]
    started = manifest.start("mnist", Path("configs/mnist.yaml"), 42, command)
    assert load_record(tmp_path) == started
    assert started.status == RUNNING
    assert started.pid == os.getpid()
    assert started.host
    assert started.command == command
    assert started.config_file == "configs/mnist.yaml"
    assert started.run_dir == str(tmp_path.absolute())
    assert started.ended_at is None
    assert datetime.fromisoformat(started.started_at).tzinfo is not None
    assert set(started.versions) == {"cbrun", "keras", "tensorflow", "python"}
    assert started.versions["python"] == platform.python_version()

    best = {"monitor": "val_loss", "value": 0.25, "epoch": 2}
    updated = manifest.update(epochs_run=2, best=best)
    assert load_record(tmp_path) == updated
    assert updated.best == best

    finished = manifest.finish(
        STOPPED_EARLY, stop_reason="EarlyStopping", test_metrics={"accuracy": 0.9}
    )
    assert load_record(tmp_path) == finished == manifest.record
    assert finished.status == STOPPED_EARLY
    assert finished.stop_reason == "EarlyStopping"
    assert finished.error is None
    assert finished.ended_at is not None
    end, start = (
        datetime.fromisoformat(t) for t in (finished.ended_at, started.started_at)
    )
    assert end >= start
    assert _no_temp_files(tmp_path)


def test_run_json_is_plain_json_with_the_contract_names(tmp_path: Path) -> None:
    RunManifest(tmp_path).start("exp", "exp.yaml", None, ["cbrun"])
    data = _strict_loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert data["status"] == "running"
    assert data["seed"] is None
    assert data["best"] is None
    assert data["test_metrics"] is None
    assert isinstance(data["pid"], int)


def test_finish_keeps_an_earlier_stop_reason_and_records_errors(tmp_path: Path) -> None:
    manifest = RunManifest(tmp_path)
    manifest.start("exp", "exp.yaml", 1, [])
    manifest.update(stop_reason="TerminateOnNaN at epoch 3")
    manifest.finish(TERMINATED_NAN, error="loss became NaN")
    record = load_record(tmp_path)
    assert record.stop_reason == "TerminateOnNaN at epoch 3"
    assert record.error == "loss became NaN"


def test_finish_needs_a_final_status(tmp_path: Path) -> None:
    manifest = RunManifest(tmp_path)
    manifest.start("exp", "exp.yaml", 1, [])
    with pytest.raises(ValueError, match="status='running'"):
        manifest.finish(RUNNING)
    with pytest.raises(ValueError, match="status='done'"):
        manifest.finish("done")
    assert load_record(tmp_path).status == RUNNING


def test_update_refuses_unknown_fields(tmp_path: Path) -> None:
    manifest = RunManifest(tmp_path)
    manifest.start("exp", "exp.yaml", 1, [])
    with pytest.raises(TypeError, match=r"^RunRecord has no field 'epochs'$"):
        manifest.update(epochs_run=2, epochs=3)
    assert manifest.record.epochs_run == 0
    assert load_record(tmp_path).epochs_run == 0


def test_update_stores_values_as_given(tmp_path: Path) -> None:
    # Per-epoch updates are not revalidated: a numpy scalar from Keras's logs
    # is kept as it is in memory and written as a plain number.
    class Scalar:  # stands in for numpy.int64 without importing numpy
        def item(self) -> int:
            return 3

    manifest = RunManifest(tmp_path)
    manifest.start("exp", "exp.yaml", 1, [])
    scalar = Scalar()
    assert manifest.update(epochs_run=scalar).epochs_run is scalar
    assert load_record(tmp_path).epochs_run == 3


def test_update_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="start"):
        RunManifest(tmp_path).update(epochs_run=1)
    assert not (tmp_path / "run.json").exists()


def test_non_finite_values_in_the_record_become_null(tmp_path: Path) -> None:
    manifest = RunManifest(tmp_path)
    manifest.start("exp", "exp.yaml", 1, [])
    manifest.finish(
        TERMINATED_NAN,
        best={"monitor": "val_loss", "value": float("nan"), "epoch": 1},
        test_metrics={"loss": float("inf"), "accuracy": 0.5},
    )
    data = _strict_loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert data["best"]["value"] is None
    assert data["test_metrics"] == {"loss": None, "accuracy": 0.5}
    record = load_record(tmp_path)
    assert record.best is not None
    assert record.best["value"] is None
    assert manifest.record.best is not None
    assert math.isnan(manifest.record.best["value"] or 0.0)  # memory keeps NaN


def test_resume_reopens_the_record(tmp_path: Path) -> None:
    first = RunManifest(tmp_path)
    first.start("exp", "exp.yaml", 7, ["cbrun", "train", "exp.yaml"])
    first.update(epochs_run=4)
    first.finish(INTERRUPTED, stop_reason="Ctrl-C")

    resumed = RunManifest(tmp_path).resume(["cbrun", "train", "--resume", "x"])
    assert resumed == load_record(tmp_path)
    assert resumed.status == RUNNING
    assert resumed.ended_at is resumed.stop_reason is resumed.error is None
    assert resumed.epochs_run == 4
    assert resumed.started_at == first.record.started_at
    assert resumed.command == ["cbrun", "train", "--resume", "x"]


def test_resume_removes_temp_files_of_a_killed_writer(tmp_path: Path) -> None:
    RunManifest(tmp_path).start("exp", "exp.yaml", 7, [])
    stale = tmp_path / ".run.json.0123456789ab.tmp"
    stale.write_text('{"half": ')
    other = tmp_path / ".history.json.0123456789ab.tmp"
    other.write_text("{")
    RunManifest(tmp_path).resume([])
    assert not stale.exists()
    assert other.exists()  # not run.json's


def test_resume_without_run_json(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError):
        RunManifest(tmp_path).resume([])


def test_load_record_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"run\.json"):
        load_record(tmp_path)


def _valid_record() -> dict[str, Any]:
    return {
        "name": "exp",
        "config_file": "exp.yaml",
        "run_dir": "/runs/exp/x",
        "status": "completed",
        "started_at": "2024-05-06T07:08:09+00:00",
    }


def test_load_record_not_json(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"name": "exp", "stat', encoding="utf-8")
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        load_record(tmp_path)


def _with(**fields: Any) -> dict[str, Any]:
    return {**_valid_record(), **fields}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([], "expected a JSON object (a run record), got []"),
        ("running", 'expected a JSON object (a run record), got "running"'),
        (None, "expected a JSON object (a run record), got null"),
        (_with(status=None), "field 'status' should be a string, got null"),
        (_with(name=3), "field 'name' should be a string, got 3"),
        (
            _with(epochs_run="3"),
            """field 'epochs_run' should be an integer, got "3\"""",
        ),
        (_with(epochs_run=3.5), "field 'epochs_run' should be an integer, got 3.5"),
        (_with(epochs_run=3.0), "field 'epochs_run' should be an integer, got 3.0"),
        # JSON true is not a number, though Python's bool is an int.
        (_with(epochs_run=True), "field 'epochs_run' should be an integer, got true"),
        (_with(seed=False), "field 'seed' should be an integer or null, got false"),
        (_with(pid="42"), """field 'pid' should be an integer or null, got "42\""""),
        (_with(ended_at=0), "field 'ended_at' should be a string or null, got 0"),
        (_with(best=[1]), "field 'best' should be an object or null, got [1]"),
        (_with(versions="3"), """field 'versions' should be an object, got "3\""""),
        (_with(resumes={}), "field 'resumes' should be a list, got {}"),
        (
            _with(command=["cbrun", 3]),
            """field 'command' should be a list of strings, got ["cbrun", 3]""",
        ),
        (
            _with(test_metrics=[0.5] * 30),
            "field 'test_metrics' should be an object or null, "
            "got [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0...",
        ),
        (
            {k: v for k, v in _valid_record().items() if k != "name"},
            "missing field 'name'",
        ),
        (
            {"status": "running", "epochs_run": "2", "pid": True},
            "missing fields 'name', 'config_file', 'run_dir', 'started_at'; "
            """field 'epochs_run' should be an integer, got "2"; """
            "field 'pid' should be an integer or null, got true",
        ),
    ],
)
def test_load_record_corrupt_names_file_field_value_and_type(
    tmp_path: Path, data: Any, reason: str
) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CorruptFileError) as info:
        load_record(tmp_path)
    assert str(info.value) == f"{path}: {reason}"
    assert info.value.path == path
    assert info.value.reason == reason


def test_load_record_tolerates_unknown_and_missing_optional_fields(
    tmp_path: Path,
) -> None:
    data = {**_valid_record(), "added_by_a_newer_cbrun": 1, "versions": {"keras": "3"}}
    (tmp_path / "run.json").write_text(json.dumps(data), encoding="utf-8")
    record = load_record(tmp_path)
    assert record.epochs_run == 0
    assert record.versions["keras"] == "3"
    assert record.versions["tensorflow"] is None
    written = record.to_dict()
    assert "added_by_a_newer_cbrun" not in written
    assert list(written) == list(RunRecord.model_fields)
    assert written["versions"] == {
        "cbrun": None,
        "keras": "3",
        "tensorflow": None,
        "python": platform.python_version(),
    }
    assert written["command"] == written["resumes"] == []
    assert written["seed"] is written["best"] is written["backup_epoch"] is None


def test_load_record_keeps_unknown_keys_inside_objects(tmp_path: Path) -> None:
    # Nested objects are checked for being objects only: a newer cbrun may
    # add keys there, and resuming must not drop them.
    best = {"monitor": "val_loss", "value": 0.5, "epoch": 2, "mode": "min"}
    versions = {"cbrun": "9", "keras": None, "tensorflow": None, "python": "3.14"}
    data = _with(best=best, versions={**versions, "numpy": "3"}, resumes=[1])
    (tmp_path / "run.json").write_text(json.dumps(data), encoding="utf-8")
    assert load_record(tmp_path).versions == {**versions, "numpy": "3"}
    RunManifest(tmp_path).resume([])
    written = read_json(tmp_path / "run.json")
    assert written["best"] == best
    assert written["resumes"] == [1]


def test_to_dict_is_plain_ordered_and_a_copy(tmp_path: Path) -> None:
    manifest = RunManifest(tmp_path)
    manifest.start("exp", "exp.yaml", 1, ["cbrun"])
    best = {"monitor": "val_loss", "value": 0.25, "epoch": 2}
    record = manifest.update(best=best, resumes=[{"at": "t", "overrides": ["x"]}])
    data = record.to_dict()
    assert list(data) == list(RunRecord.model_fields)
    assert type(data["best"]) is dict
    assert type(data["versions"]) is dict
    assert data == read_json(tmp_path / "run.json")
    data["best"]["epoch"] = 99
    data["resumes"][0]["overrides"].append("y")
    assert record.best == best
    assert record.resumes == [{"at": "t", "overrides": ["x"]}]


def test_history_round_trips_with_nulls(tmp_path: Path) -> None:
    history = {"loss": [1.0, 0.5, float("nan")], "val_loss": [1.1, float("inf"), 2.0]}
    path = write_history(tmp_path, history)
    assert path == tmp_path / "history.json"
    assert load_history(tmp_path) == {
        "loss": [1.0, 0.5, None],
        "val_loss": [1.1, None, 2.0],
    }
    _strict_loads(path.read_text(encoding="utf-8"))


def test_load_history_corrupt(tmp_path: Path) -> None:
    (tmp_path / "history.json").write_text('{"loss": "high"}', encoding="utf-8")
    with pytest.raises(CorruptFileError, match="'loss'"):
        load_history(tmp_path)


def test_versions_read_metadata_without_importing_keras() -> None:
    code = (
        "import sys\n"
        "from cbrun.runs.manifest import versions\n"
        "v = versions()\n"
        "heavy = {'keras', 'tensorflow', 'numpy'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "print(v['python'])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == platform.python_version()
    assert versions()["cbrun"]  # installed or from the source tree


# --- crash safety ---------------------------------------------------------------


def _rewrite_forever(run_dir: Path) -> None:
    manifest = RunManifest(run_dir)
    manifest.start("exp", "exp.yaml", 1, ["cbrun"])
    # A large record widens the window in which a write is half done.
    metrics = {f"metric_{i}": i / 7 for i in range(2000)}
    epoch = 0
    while True:
        epoch += 1
        manifest.update(epochs_run=epoch, test_metrics=metrics)


@pytest.mark.parametrize("attempt", range(5))
def test_sigkill_while_rewriting_leaves_a_valid_run_json(
    tmp_path: Path, attempt: int
) -> None:
    child = FORK.Process(target=_rewrite_forever, args=(tmp_path,))
    child.start()
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "run.json").exists():
            assert time.monotonic() < deadline, "child never wrote run.json"
            time.sleep(0.001)
        time.sleep(random.uniform(0.02, 0.1))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    record = load_record(tmp_path)
    assert record.status == RUNNING
    assert record.name == "exp"
    # At most the one temp file being written at the kill may be left over.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "run.json"]
    assert len(leftovers) <= 1
    assert all(n.startswith(".run.json.") and n.endswith(".tmp") for n in leftovers)
