"""``cbrun runs`` and ``cbrun show``: listing, statuses, filters, formats, errors.

Everything runs on real run dirs written with cbrun's own record writers; no
training. The helpers here are shared with test_plots.py and test_compare.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cbrun.atomic import write_json_atomic
from cbrun.errors import ExitCode
from cbrun.runs.layout import RUN_FILE
from cbrun.runs.listing import (
    CORRUPT,
    DEAD,
    LISTED_STATUSES,
    RunsError,
    empty_message,
    filter_runs,
    format_duration,
    format_table,
    format_value,
    list_runs,
    require_run_dir,
    rows_as_json,
)
from cbrun.runs.manifest import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    RUNNING,
    STOPPED_EARLY,
    TERMINATED_NAN,
    RunManifest,
    RunRecord,
    write_history,
)
from cbrun.runs.show import show_run

T0 = datetime(2026, 11, 26, 15, 0, 0).astimezone()  # local, as stamps are
HISTORY = {
    "accuracy": [0.6, 0.8, 0.9],
    "loss": [1.4, 0.6, 0.3],
    "val_accuracy": [0.7, 0.85, 0.84],
    "val_loss": [0.9, 0.5, 0.55],
    "learning_rate": [0.001, 0.001, 0.0005],
}
CONFIG = """\
    # Resolved from configs/demo.yaml
    name: demo
    seed: 42
    fit: {epochs: 10, batch_size: 32}
    callbacks:
      - {type: EarlyStopping, monitor: val_loss, patience: 3}
    """


def exited_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def make_run(
    runs_dir: Path,
    name: str = "demo",
    minute: int = 0,
    *,
    status: str = COMPLETED,
    seconds: float | None = 83,
    history: dict[str, list[Any]] | None = None,
    config: str | None = CONFIG,
    **fields: Any,
) -> Path:
    """Write a run dir ``runs_dir/name/<stamp>`` as ``cbrun train`` leaves it.

    Args:
        runs_dir: The root of the runs.
        name: The experiment name.
        minute: Start time, minutes after T0 (also the folder's stamp).
        status: run.json's status.
        seconds: Duration; None leaves ended_at unset.
        history: Written to history.json unless None.
        config: Written (dedented) to config.yaml unless None.
        **fields: Other run.json fields.
    """
    started = T0 + timedelta(minutes=minute)
    run_dir = runs_dir / name / started.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    ended = None if seconds is None else started + timedelta(seconds=seconds)
    record = RunRecord(
        name=name,
        config_file=f"configs/{name}.yaml",
        run_dir=str(run_dir),
        status=status,
        started_at=started.isoformat(),
        ended_at=None if ended is None else ended.isoformat(),
        **{"epochs_run": 3, "seed": 42, "pid": 4242, "host": "elsewhere", **fields},
    )
    write_json_atomic(run_dir / RUN_FILE, record.to_dict())
    if history is not None:
        write_history(run_dir, history)
    if config is not None:
        (run_dir / "config.yaml").write_text(textwrap.dedent(config), encoding="utf-8")
    return run_dir


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A runs dir with one run of every status, each a minute after the last."""
    root = tmp_path / "runs"
    best = {"monitor": "val_accuracy", "value": 0.958333, "epoch": 11}
    make_run(
        root,
        "mnist",
        0,
        test_metrics={"accuracy": 0.977778, "loss": 0.13575},
        best=best,
        epochs_run=20,
        stop_reason="finished 20 epochs",
        history=HISTORY,
    )
    make_run(
        root,
        "mnist",
        1,
        status=STOPPED_EARLY,
        seconds=3725,
        best=best,
        epochs_run=14,
        stop_reason="EarlyStopping: val_accuracy did not improve for 3 epochs",
    )
    make_run(root, "digits", 2, status=FAILED, error="ValueError: bad\nshape")
    make_run(root, "digits", 3, status=INTERRUPTED, stop_reason="SIGINT after 2")
    make_run(root, "digits", 4, status=TERMINATED_NAN, test_metrics={"loss": None})
    make_run(
        root,
        "wine",
        5,
        status=RUNNING,
        seconds=None,
        pid=exited_pid(),
        host=socket.gethostname(),
    )
    corrupt = root / "wine" / "20261126-150600"
    corrupt.mkdir()
    (corrupt / RUN_FILE).write_text('{"name": "wine", "status": "runn')
    make_run(root, "iris", 7, status=RUNNING, seconds=None, host="elsewhere")
    return root


def by_stamp(rows: list[Any]) -> dict[str, str]:
    return {r.stamp: r.status for r in rows}


def test_lists_every_status_newest_first(runs: Path):
    rows = list_runs(runs)
    assert [(r.label, r.status) for r in rows] == [
        ("iris/20261126-150700", RUNNING),  # another host: cannot tell
        ("wine/20261126-150600", CORRUPT),
        ("wine/20261126-150500", DEAD),
        ("digits/20261126-150400", TERMINATED_NAN),
        ("digits/20261126-150300", INTERRUPTED),
        ("digits/20261126-150200", FAILED),
        ("mnist/20261126-150100", STOPPED_EARLY),
        ("mnist/20261126-150000", COMPLETED),
    ]
    dead = rows[2]
    assert dead.recorded_status == RUNNING
    assert rows[1].error is not None and rows[1].error.startswith("run.json: ")


def test_a_running_run_of_a_live_process_here_is_running(tmp_path: Path):
    run_dir = tmp_path / "runs" / "live" / "20261126-150000"
    run_dir.mkdir(parents=True)
    RunManifest(run_dir).start("live", "live.yaml", seed=1, command=["cbrun"])
    [row] = list_runs(tmp_path / "runs")
    assert row.status == RUNNING
    assert row.duration is not None and row.duration >= 0


def test_table_columns_and_values(runs: Path):
    lines = format_table(list_runs(runs)).splitlines()
    header = lines[0].split()
    assert header == [
        "RUN",
        "STARTED",
        "STATUS",
        "EPOCHS",
        "BEST",
        "TEST",
        "DURATION",
        "REASON",
    ]
    completed = next(line for line in lines if "150000" in line)
    assert completed.split("  ")[0] == "mnist/20261126-150000"
    assert "2026-11-26 15:00" in completed
    assert "val_accuracy=0.9583 @11" in completed
    assert "accuracy=0.9778 loss=0.1358" in completed
    assert "1m23s" in completed
    assert completed.endswith("finished 20 epochs")
    assert "1h02m05s" in next(line for line in lines if "stopped_early" in line)
    assert "loss=nan" in next(line for line in lines if "terminated_nan" in line)
    failed = next(line for line in lines if " failed " in line)
    assert failed.endswith("ValueError: bad")  # first line of the error
    # Columns line up: every status starts where the header's STATUS does.
    column = lines[0].index("STATUS")
    table = lines[1 : 1 + len(list_runs(runs))]
    assert all(line[column:].split()[0] in LISTED_STATUSES for line in table)


def test_table_footer_says_how_to_resume_dead_runs(runs: Path):
    text = format_table(list_runs(runs))
    dead_dir = runs / "wine" / "20261126-150500"
    assert f"cbrun train --resume {dead_dir}" in text
    assert f"see: cbrun show {runs / 'wine' / '20261126-150600'}" in text


def test_filter_by_name_status_and_pattern(runs: Path):
    rows = list_runs(runs)
    assert {r.name for r in filter_runs(rows, names=["digits"])} == {"digits"}
    assert len(filter_runs(rows, names=["digits"])) == 3
    assert [r.status for r in filter_runs(rows, statuses=[DEAD])] == [DEAD]
    assert len(filter_runs(rows, names=["mn*", "iris"])) == 3
    both = filter_runs(rows, names=["wine"], statuses=[CORRUPT, COMPLETED])
    assert [r.status for r in both] == [CORRUPT]


def test_json_output_parses_with_the_same_keys_for_every_run(runs: Path):
    rows = list_runs(runs)
    data = json.loads(rows_as_json(rows))
    assert len(data) == len(rows)
    keys = set(data[0])
    assert all(set(item) == keys for item in data)
    assert {"run_dir", "name", "status", "best", "test_metrics"} <= keys
    completed = data[-1]
    assert completed["status"] == COMPLETED
    assert completed["duration_seconds"] == 83
    assert completed["best"] == {
        "monitor": "val_accuracy",
        "value": 0.958333,
        "epoch": 11,
    }
    assert json.loads(rows_as_json([])) == []


def test_missing_runs_dir_is_an_error_naming_it(tmp_path: Path):
    missing = tmp_path / "nope"
    with pytest.raises(
        RunsError, match=re.escape(f"runs dir {missing} does not exist")
    ) as err:
        list_runs(missing)
    assert err.value.exit_code == ExitCode.USAGE


def test_a_file_is_not_a_runs_dir(tmp_path: Path):
    file = tmp_path / "notes.txt"
    file.write_text("x")
    with pytest.raises(RunsError, match="is not a folder"):
        list_runs(file)


def test_empty_runs_dir_lists_nothing_with_a_message(tmp_path: Path):
    assert list_runs(tmp_path) == []
    assert empty_message(tmp_path, []) == f"no runs in {tmp_path}"


def test_no_match_message_suggests_a_name(runs: Path):
    rows = list_runs(runs)
    message = empty_message(runs, rows, names=["minst"])
    assert message.startswith(f"none of the 8 runs in {runs} match --name minst")
    assert "did you mean 'mnist'?" in message
    assert "(names: digits, iris, mnist, wine)" in message


def test_runs_dir_may_be_a_name_folder_or_one_run(runs: Path):
    assert {r.name for r in list_runs(runs / "digits")} == {"digits"}
    assert len(list_runs(runs / "digits")) == 3
    one = runs / "mnist" / "20261126-150000"
    [row] = list_runs(one)
    assert row.run_dir == one


def test_dotfiles_and_folders_without_run_json_are_skipped(runs: Path):
    run_dir = runs / "mnist" / "20261126-150000"
    (run_dir.parent / ".run.json.abc123.tmp").write_text("{")
    (runs / ".trash" / "20261126-150000").mkdir(parents=True)
    (runs / ".trash" / "20261126-150000" / RUN_FILE).write_text("{}")
    (runs / "mnist" / "20261126-160000").mkdir()  # created, run.json not yet
    (runs / "README.txt").write_text("runs live here")
    assert len(list_runs(runs)) == 8


def test_hundreds_of_runs(tmp_path: Path):
    root = tmp_path / "runs"
    statuses = [COMPLETED, STOPPED_EARLY, FAILED, INTERRUPTED, TERMINATED_NAN]
    dead_pid = exited_pid()
    host = socket.gethostname()
    for i in range(300):
        started = T0 + timedelta(minutes=i)
        run_dir = root / f"exp{i % 7}" / started.strftime("%Y%m%d-%H%M%S")
        run_dir.mkdir(parents=True)
        record: dict[str, Any] = {
            "name": f"exp{i % 7}",
            "config_file": "c.yaml",
            "run_dir": str(run_dir),
            "status": statuses[i % 5],
            "started_at": started.isoformat(),
            "epochs_run": i,
        }
        if i % 50 == 0:
            record.update(status=RUNNING, pid=dead_pid, host=host)
        text = json.dumps(record)
        (run_dir / RUN_FILE).write_text(text[: len(text) // 2] if i == 299 else text)
    rows = list_runs(root)
    assert len(rows) == 300
    assert [r.epochs_run for r in rows[1:4]] == [298, 297, 296]
    assert rows[0].status == CORRUPT  # the newest, by its folder's stamp
    assert sum(r.status == DEAD for r in rows) == 6
    assert sum(r.status == COMPLETED for r in rows) == 300 // 5 - 6
    assert len(format_table(rows).splitlines()) == 1 + 300 + 1 + 6 + 1


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.4, "0s"), (45, "45s"), (83, "1m23s"), (3725, "1h02m05s")],
)
def test_format_duration(seconds: float | None, text: str):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.958333, "0.9583"), (1234567.0, "1.235e+06"), (3, "3"), (None, "nan")],
)
def test_format_value(value: float | None, text: str):
    assert format_value(value) == text


def test_show_has_summary_config_and_files(runs: Path):
    run_dir = runs / "mnist" / "20261126-150000"
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "e1.keras").write_text("x")
    text = show_run(run_dir)
    assert f"run:       {run_dir}\n" in text
    assert "status:    completed\n" in text
    assert "best:      val_accuracy=0.9583 @11\n" in text
    assert "test:      accuracy=0.9778 loss=0.1358\n" in text
    assert "duration:  1m23s\n" in text
    assert (
        "history:   3 epochs of accuracy, loss, val_accuracy, val_loss, learning_rate\n"
    ) in text
    assert "config.yaml:\n  # Resolved from configs/demo.yaml\n  name: demo\n" in text
    files = text.split("files:\n")[1].splitlines()
    assert [f.split()[0] for f in files] == [
        "checkpoints/",
        "config.yaml",
        "history.json",
        "run.json",
    ]
    assert "1 file(s)" in files[0]


def test_show_dead_run_suggests_resume(runs: Path):
    run_dir = runs / "wine" / "20261126-150500"
    text = show_run(run_dir)
    assert "status:    dead (run.json says running, but its process is gone)" in text
    assert "history:   none yet (no epoch finished)" in text
    assert text.endswith(f"continue it with: cbrun train --resume {run_dir}")


def test_show_corrupt_run_shows_what_is_there(runs: Path):
    run_dir = runs / "wine" / "20261126-150600"
    text = show_run(run_dir)
    assert "status:    corrupt\n" in text
    assert "error:     run.json: not valid JSON" in text
    assert "config.yaml: missing" in text
    assert "  run.json" in text


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("epochs_run", "3", "field 'epochs_run' should be an integer, got \"3\""),
        ("epochs_run", True, "field 'epochs_run' should be an integer, got true"),
        # show joins the command: a non-string used to crash it.
        ("command", ["cbrun", 1], 'should be a list of strings, got ["cbrun", 1]'),
    ],
)
def test_a_wrongly_typed_record_is_listed_and_shown_as_corrupt(
    tmp_path: Path, field: str, value: Any, reason: str
):
    run_dir = make_run(tmp_path, "exp", 0, history=HISTORY)
    data = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    (run_dir / RUN_FILE).write_text(json.dumps({**data, field: value}))
    [row] = list_runs(tmp_path)
    assert row.status == CORRUPT
    assert row.error is not None
    assert row.error.startswith("run.json: ") and row.error.endswith(reason)
    assert reason[:30] in format_table([row])  # the REASON column, shortened
    text = show_run(run_dir)
    assert "status:    corrupt\n" in text
    assert f"error:     {row.error}\n" in text
    assert "history:   3 epochs of accuracy" in text


@pytest.mark.parametrize("function", [show_run, require_run_dir])
def test_a_path_that_is_not_a_run_dir(tmp_path: Path, runs: Path, function: Any):
    with pytest.raises(RunsError, match=r"holding run\.json") as err:
        function(tmp_path / "elsewhere")
    assert str(tmp_path / "elsewhere") in str(err.value)
    assert err.value.exit_code == ExitCode.USAGE
    with pytest.raises(RunsError, match=r"did you mean 'mnist'\?"):
        function(runs / "minst")
    with pytest.raises(RunsError, match=r"holds 3 run\(s\).*`cbrun runs "):
        function(runs / "digits")
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(RunsError, match="is not a run dir but a file"):
        function(tmp_path / "file.txt")


def test_runs_modules_import_no_heavy_packages():
    code = (
        "import sys\n"
        "import cbrun.runs.listing, cbrun.runs.show, cbrun.runs.plots,"
        " cbrun.runs.compare\n"
        "heavy = {'keras', 'tensorflow', 'numpy', 'matplotlib'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert result.stdout.strip() == "[]"
