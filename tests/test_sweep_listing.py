"""``cbrun runs`` and ``cbrun show`` of sweeps: trials grouped, hostile records.

The sweep dirs here are built from one real run dir, trained once per module
(a tiny iris config), copied into ``trials/0..3/`` with a ``trial`` field and
the statuses a sweep leaves (completed, pruned, failed), beside a sweep.json
written from :class:`SweepRecord`. The last test runs a real 2-trial
``cbrun sweep --smoke`` and reads it back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cbrun import api
from cbrun.atomic import write_json_atomic
from cbrun.errors import ExitCode
from cbrun.runs.layout import RUN_FILE
from cbrun.runs.listing import (
    CORRUPT,
    DEAD,
    format_table,
    list_runs,
    rows_as_json,
)
from cbrun.runs.manifest import COMPLETED, FAILED, PRUNED, write_history
from cbrun.runs.overview import entries_as_json, format_entries, list_entries
from cbrun.runs.sweep_layout import SWEEP_FILE, BestTrial, SweepRecord
from cbrun.runs.sweep_show import short_names
from cbrun.runs.sweeps import summarize_sweep
from tests.conftest import MINIMAL, REPO
from tests.test_hostile_run_dirs import (
    CLEAR,
    ESCAPES,
    HUGE,
    TITLE,
    TOO_BIG,
    Outcome,
    assert_clean,
    invoke,
    with_raw,
)
from tests.test_runs_listing import exited_pid

pytestmark = [pytest.mark.slow, pytest.mark.keras]

STAMP = "sweep-20261130-120000"
RUN_STAMP = "20261130-110000"  # an ordinary run, an hour before the sweep
LR = "compile.optimizer.learning_rate"
UNITS = "model.layers.0.units"
STATUSES = (COMPLETED, PRUNED, FAILED, COMPLETED)
# val_accuracy per epoch of each trial: trial 3 is the best (0.9).
VAL_ACCURACY = ([0.5, 0.7], [0.4], [0.3, 0.35], [0.6, 0.9])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run dir of a 2-epoch iris run, copied by every test."""
    root = tmp_path_factory.mktemp("trained")
    config = root / "iris.yaml"
    config.write_text(MINIMAL, encoding="utf-8")
    result = api.train(config, runs_dir=root / "runs", command=["cbrun", "train"])
    assert result.status == COMPLETED
    return result.run_dir


def record_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))


def params_of(number: int) -> dict[str, Any]:
    return {LR: 0.001 * (number + 1), UNITS: 3 + number}


def sweep_record(**fields: Any) -> SweepRecord:
    values: dict[str, Any] = {
        "name": "iris",
        "status": "completed",
        "study": "iris",
        "storage": "journal.log",
        "config_file": "iris.yaml",
        "config_hash": "0" * 64,
        "metric": "val_accuracy",
        "direction": "maximize",
        "trials_planned": 4,
        "counts": {"complete": 2, "pruned": 1, "fail": 1},
        "best": BestTrial(number=3, value=0.9, params=params_of(3), run_dir="trials/3"),
        "started_at": "2026-11-30T12:00:00+00:00",
        "ended_at": "2026-11-30T12:05:03+00:00",
        "command": ["cbrun", "sweep", "iris.yaml"],
    }
    return SweepRecord(**{**values, **fields})


def make_sweep(
    root: Path,
    trained: Path,
    *,
    record: SweepRecord | None = None,
    statuses: tuple[str, ...] = STATUSES,
) -> Path:
    """``root/iris/sweep-<stamp>/`` with one trial per status and sweep.json."""
    sweep_dir = root / "iris" / STAMP
    for number, status in enumerate(statuses):
        trial_dir = sweep_dir / "trials" / str(number)
        shutil.copytree(trained, trial_dir)
        history = json.loads((trial_dir / "history.json").read_text())
        epochs = len(VAL_ACCURACY[number])
        history = {k: v[:epochs] for k, v in history.items()}
        history["val_accuracy"] = VAL_ACCURACY[number]
        write_history(trial_dir, history)
        data = record_of(trial_dir)
        data.update(
            status=status,
            run_dir=str(trial_dir),
            epochs_run=epochs,
            trial={"number": number, "params": params_of(number)},
        )
        if status == FAILED:
            data.update(error="ValueError: boom", stop_reason=None)
        write_json_atomic(trial_dir / RUN_FILE, data)
    record = sweep_record() if record is None else record
    write_json_atomic(sweep_dir / SWEEP_FILE, record.model_dump())
    return sweep_dir


def make_run_beside(root: Path, trained: Path) -> Path:
    run_dir = root / "iris" / RUN_STAMP
    shutil.copytree(trained, run_dir)
    data = record_of(run_dir)
    data.update(run_dir=str(run_dir), started_at="2026-11-30T11:00:00+00:00")
    write_json_atomic(run_dir / RUN_FILE, data)
    return run_dir


@pytest.fixture
def root(tmp_path: Path, trained: Path) -> Path:
    """A runs dir with one ordinary run and, an hour later, a 4-trial sweep."""
    root = tmp_path / "runs"
    make_run_beside(root, trained)
    make_sweep(root, trained)
    return root


def table_rows(outcome: Outcome) -> list[str]:
    """The table's rows (no header), up to the blank line before the hints."""
    return outcome.output.split("\n\n")[0].splitlines()[1:]


def section(output: str, title: str) -> list[str]:
    """The lines of the blank-line-separated block starting with ``title``."""
    [block] = [b for b in output.split("\n\n") if b.startswith(title)]
    return block.splitlines()


# --------------------------------------------------------------------------- #
# cbrun show SWEEP_DIR
# --------------------------------------------------------------------------- #


def test_show_sweep_summary_best_trial_and_trials_table(root: Path):
    sweep_dir = root / "iris" / STAMP
    outcome = invoke("show", sweep_dir)
    assert_clean("show", outcome)
    assert outcome.code == ExitCode.OK
    summary = section(outcome.output, "sweep:")
    assert summary[:8] == [
        f"sweep:     {sweep_dir}",
        "name:      iris",
        "status:    completed",
        "study:     iris",
        "storage:   journal.log",
        "metric:    val_accuracy (maximize)",
        "trials:    4 of 4 finished: 2 complete, 1 pruned, 1 fail",
        "started:   2026-11-30 12:00",
    ]
    assert "duration:  5m03s" in summary
    assert section(outcome.output, "best trial:") == [
        "best trial: 3",
        "  value:   val_accuracy=0.9",
        f"  params:  {LR}=0.004, {UNITS}=6",
        f"  run dir: {sweep_dir / 'trials' / '3'}",
    ]
    trials = section(outcome.output, "trials (in trials/, by number):")
    header = trials[1].split()
    assert header == [
        "#",
        "STATUS",
        "val_accuracy",
        "learning_rate",
        "units",
        "EPOCHS",
        "DURATION",
        "REASON",
    ]
    rows = [line.split()[:6] for line in trials[2:6]]
    assert rows == [
        ["0", "completed", "0.7", "0.001", "3", "2"],
        ["1", "pruned", "0.4", "0.002", "4", "1"],
        ["2", "failed", "0.35", "0.003", "5", "2"],
        ["3", "completed", "0.9", "0.004", "6", "2"],
    ]
    assert trials[4].endswith("ValueError: boom")  # the failed trial's reason
    legend = section(outcome.output, "  learning_rate =")
    assert legend == [f"  learning_rate = {LR}", f"  units         = {UNITS}"]
    assert "  trials/ " in outcome.output  # the files section


def test_show_sweep_as_json(root: Path):
    sweep_dir = root / "iris" / STAMP
    outcome = invoke("show", sweep_dir, "--format", "json")
    assert_clean("show", outcome)
    data = json.loads(outcome.output)
    assert data["kind"] == "sweep"
    assert data["status"] == "completed"
    assert (data["trials_planned"], data["trials_finished"]) == (4, 4)
    assert data["best"] == {
        "number": 3,
        "value": 0.9,
        "params": params_of(3),
        "run_dir": "trials/3",
    }
    trials = data["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert [t["status"] for t in trials] == list(STATUSES)
    assert [t["value"] for t in trials] == [0.7, 0.4, 0.35, 0.9]
    assert [t["value_epoch"] for t in trials] == [2, 1, 2, 2]
    assert trials[2]["params"] == params_of(2)
    assert trials[2]["error"] == "ValueError: boom"
    assert trials[0]["run_dir"] == str(sweep_dir / "trials" / "0")
    # The same object `cbrun runs --format json` lists for it.
    listed = json.loads(invoke("runs", root, "--format", "json").output)
    [nested] = [e for e in listed if e.get("kind") == "sweep"]
    assert {**nested, "duration_seconds": None} == {**data, "duration_seconds": None}


def test_a_trial_value_comes_from_run_json_when_it_monitors_the_metric(
    tmp_path: Path, trained: Path
):
    best = record_of(trained)["best"]
    sweep_dir = make_sweep(
        tmp_path,
        trained,
        record=sweep_record(metric=best["monitor"], direction="minimize"),
    )
    sweep = summarize_sweep(sweep_dir)
    assert [t.value for t in sweep.trials] == [best["value"]] * 4
    assert [t.value_epoch for t in sweep.trials] == [best["epoch"]] * 4


def test_show_of_a_trial_names_it_and_compare_of_two_trials_works(root: Path):
    trials = root / "iris" / STAMP / "trials"
    shown = invoke("show", trials / "1")
    assert_clean("show", shown)
    assert "status:    pruned\n" in shown.output
    assert f"trial:     1 of its sweep ({LR}=0.002, {UNITS}=4)\n" in shown.output
    compared = invoke("compare", trials / "0", trials / "3")
    assert_clean("compare", compared)
    assert compared.code == ExitCode.OK
    assert re.search(r"val_accuracy\s+0\.7\s+0\.9", compared.output), compared.output


def test_show_of_a_run_as_json_is_its_listing_object(root: Path):
    run_dir = root / "iris" / RUN_STAMP
    outcome = invoke("show", run_dir, "--format", "json")
    assert_clean("show", outcome)
    data = json.loads(outcome.output)
    assert data["run_dir"] == str(run_dir) and data["status"] == COMPLETED
    assert "kind" not in data


# --------------------------------------------------------------------------- #
# cbrun runs
# --------------------------------------------------------------------------- #


def test_runs_groups_the_trials_under_their_sweep_once(root: Path):
    outcome = invoke("runs", root)
    assert_clean("runs", outcome)
    rows = table_rows(outcome)
    assert len(rows) == 6, outcome.output
    assert rows[0].startswith(f"iris/{STAMP}  2026-11-30 ")
    assert rows[0].split()[3:6] == ["completed", "-", "val_accuracy=0.9"]
    assert rows[0].endswith("sweep: 4/4 trials (2 complete, 1 pruned, 1 fail)")
    assert [r.split()[:3] for r in rows[1:5]] == [
        ["trial", "0", "2026-11-30"],
        ["trial", "1", "2026-11-30"],
        ["trial", "2", "2026-11-30"],
        ["trial", "3", "2026-11-30"],
    ]
    assert all(r.startswith("  trial ") for r in rows[1:5])
    assert "val_accuracy=0.9 @2" in rows[4]
    assert rows[5].startswith(f"iris/{RUN_STAMP}  ")
    assert "/trials/" not in outcome.output and "iris/0 " not in outcome.output


def test_runs_as_json_nests_the_trials(root: Path):
    outcome = invoke("runs", root, "--format", "json")
    assert_clean("runs", outcome)
    [sweep, run] = json.loads(outcome.output)
    assert sweep["kind"] == "sweep" and sweep["sweep_dir"] == str(root / "iris" / STAMP)
    assert [t["number"] for t in sweep["trials"]] == [0, 1, 2, 3]
    assert "kind" not in run and run["run_dir"] == str(root / "iris" / RUN_STAMP)


def test_no_trials_lists_one_row_a_sweep(root: Path):
    rows = table_rows(invoke("runs", root, "--no-trials"))
    assert [r.split()[0] for r in rows] == [f"iris/{STAMP}", f"iris/{RUN_STAMP}"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        # The sweep row stays as the trials' heading.
        (["pruned"], [f"iris/{STAMP}", "trial 1"]),
        (["failed"], [f"iris/{STAMP}", "trial 2"]),
        (["completed"], [f"iris/{STAMP}", "trial 0", "trial 3", f"iris/{RUN_STAMP}"]),
        (["pruned", "failed"], [f"iris/{STAMP}", "trial 1", "trial 2"]),
        (["dead"], []),
    ],
)
def test_a_status_filter_applies_to_trials(
    root: Path, statuses: list[str], expected: list[str]
):
    args = [a for s in statuses for a in ("--status", s)]
    outcome = invoke("runs", root, *args)
    assert_clean("runs", outcome)
    if not expected:
        assert outcome.output.startswith("none of the 2 runs and sweeps in")
        return
    labels = [
        " ".join(r.split()[:2]) if r.startswith("  ") else r.split()[0]
        for r in table_rows(outcome)
    ]
    assert labels == expected


def test_a_name_filter_keeps_a_sweep_whole(root: Path, trained: Path):
    other = root / "other" / "20261130-130000"
    shutil.copytree(trained, other)
    write_json_atomic(other / RUN_FILE, {**record_of(other), "name": "other"})
    rows = table_rows(invoke("runs", root, "--name", "iri*"))
    assert len(rows) == 6 and not any(r.startswith("other/") for r in rows)
    rows = table_rows(invoke("runs", root, "--name", "other"))
    assert [r.split()[0] for r in rows] == ["other/20261130-130000"]


@pytest.mark.parametrize("where", ["name folder", "sweep folder"])
def test_runs_of_a_name_folder_or_the_sweep_itself(root: Path, where: str):
    folder = root / "iris" if where == "name folder" else root / "iris" / STAMP
    rows = table_rows(invoke("runs", folder))
    assert sum(r.startswith(f"iris/{STAMP}") for r in rows) == 1
    assert sum(r.startswith("  trial ") for r in rows) == 4
    assert len(rows) == (6 if where == "name folder" else 5)
    # The run listing alone never counts the trials as runs.
    assert all("trials" not in str(r.run_dir) for r in list_runs(folder))


def test_without_sweeps_the_listing_is_unchanged(tmp_path: Path, trained: Path):
    root = tmp_path / "runs"
    make_run_beside(root, trained)
    shutil.copytree(trained, root / "wine" / "20261130-100000")
    entries = list_entries(root, now=0)
    rows = list_runs(root, now=0)
    assert format_entries(entries) == format_table(rows)
    assert entries_as_json(entries) == rows_as_json(rows)


def test_a_running_sweep_whose_trial_process_is_gone_is_dead(
    tmp_path: Path, trained: Path
):
    counts = {"complete": 2, "pruned": 1, "running": 1}
    record = sweep_record(status="running", ended_at=None, counts=counts, best=None)
    sweep_dir = make_sweep(tmp_path, trained, record=record)
    trial = sweep_dir / "trials" / "3"
    write_json_atomic(
        trial / RUN_FILE,
        {
            **record_of(trial),
            "status": "running",
            "ended_at": None,
            "pid": exited_pid(),
            "host": socket.gethostname(),
        },
    )
    assert summarize_sweep(sweep_dir).status == DEAD
    listed = invoke("runs", tmp_path)
    assert_clean("runs", listed)
    rows = table_rows(listed)
    assert rows[0].split()[3] == DEAD and rows[4].split()[4] == DEAD
    assert rows[0].endswith("sweep: 3/4 trials (2 complete, 1 pruned, 1 running)")
    resume = f"cbrun sweep --resume {sweep_dir}"
    assert f"iris/{STAMP}: dead (its process is gone); continue: {resume}" in (
        listed.output
    )
    assert table_rows(invoke("runs", tmp_path, "--status", "dead"))[1].startswith(
        "  trial 3 "
    )
    shown = invoke("show", sweep_dir)
    assert "status:    dead (sweep.json says running, but its process is gone)\n" in (
        shown.output
    )
    assert "trials:    3 of 4 finished: 2 complete, 1 pruned; 1 running\n" in (
        shown.output
    )
    assert f"continue it with: {resume}" in shown.output
    assert "best trial:" not in shown.output


def test_run_commands_given_a_sweep_say_where_its_runs_are(root: Path):
    sweep_dir = root / "iris" / STAMP
    plotted = invoke("plot", sweep_dir, "-o", root / "x.png")
    assert plotted.code == ExitCode.USAGE
    assert f"it is a sweep: `cbrun show {sweep_dir}` shows it" in plotted.output
    assert f"{sweep_dir / 'trials'}/<number>/" in plotted.output
    only_sweeps = root / "iris"
    shutil.rmtree(only_sweeps / RUN_STAMP)
    compared = invoke("compare", only_sweeps, sweep_dir / "trials" / "0")
    assert compared.code == ExitCode.USAGE
    assert f"holds 1 sweep(s), e.g. {sweep_dir}; `cbrun show" in compared.output


# --------------------------------------------------------------------------- #
# Broken and hostile sweep records
# --------------------------------------------------------------------------- #


def _raw(key: str, raw: str) -> str:
    return with_raw(sweep_record().model_dump(), key, raw)


SWEEP_CASES: dict[str, tuple[str, str]] = {
    "huge int": (_raw("trials_planned", HUGE), TOO_BIG),
    "huge count": (_raw("counts", '{"complete": 1' + "0" * 30 + "}"), "64 bits"),
    "list for a string": (
        _raw("name", '["x"]'),
        "field 'name' should be a valid string",
    ),
    "unknown status": (_raw("status", '"done"'), "field 'status' should be 'running'"),
    "string for the best value": (
        _raw("best", '{"number": 1, "value": "high", "params": {}}'),
        "field 'best.value' should be a valid number",
    ),
    "not an object": ("[1, 2]", "expected a JSON object (a sweep record)"),
    "truncated": ('{"kind": "sweep", "na', "not valid JSON"),
    "missing fields": ('{"kind": "sweep"}', "missing fields 'name', 'status'"),
    "deep": (_raw("counts", "[" * 1000 + "]" * 1000), "nested deeper than 32"),
    "escapes in a list": (_raw("study", json.dumps([TITLE])), "field 'study'"),
}


@pytest.mark.parametrize("case", list(SWEEP_CASES))
def test_a_hostile_sweep_record_is_one_corrupt_row(root: Path, case: str):
    text, reason = SWEEP_CASES[case]
    sweep_dir = root / "iris" / STAMP
    (sweep_dir / SWEEP_FILE).write_text(text, encoding="utf-8")
    sweep = summarize_sweep(sweep_dir)
    assert sweep.status == CORRUPT
    assert sweep.error is not None and reason in sweep.error, sweep.error
    listed = invoke("runs", root)
    assert_clean("runs", listed)
    rows = table_rows(listed)
    assert rows[0].startswith(f"iris/{STAMP}") and " corrupt " in rows[0]
    assert len(rows) == 6  # the trials still under it, the run still listed
    assert f"iris/{STAMP}: sweep.json: " in listed.output  # the hint below
    [listed_sweep, _] = json.loads(invoke("runs", root, "--format", "json").output)
    assert listed_sweep["status"] == CORRUPT and reason in listed_sweep["error"]
    shown = invoke("show", sweep_dir)
    assert_clean("show", shown)
    assert shown.code == ExitCode.OK  # as show of a corrupt run
    assert "status:    corrupt\n" in shown.output
    assert "sweep.json is not a complete sweep record" in shown.output
    assert "trials (in trials/, by number):" in shown.output


def test_a_sweep_folder_without_sweep_json_still_holds_its_trials(root: Path):
    sweep_dir = root / "iris" / STAMP
    (sweep_dir / SWEEP_FILE).unlink()
    rows = table_rows(invoke("runs", root))
    assert " corrupt " in rows[0] and "sweep.json: no such file" in rows[0]
    assert sum(r.startswith("  trial ") for r in rows) == 4


def test_a_folder_for_sweep_json_is_corrupt_not_a_crash(root: Path):
    sweep_dir = root / "iris" / STAMP
    (sweep_dir / SWEEP_FILE).unlink()
    (sweep_dir / SWEEP_FILE).mkdir()
    assert_clean("runs", invoke("runs", root))
    assert_clean("show", invoke("show", sweep_dir))
    assert summarize_sweep(sweep_dir).status == CORRUPT


def test_escape_sequences_in_a_sweep_never_reach_the_terminal(
    tmp_path: Path, trained: Path
):
    nasty = f"x{ESCAPES}"
    record = sweep_record(
        name=f"iris{TITLE}",
        study=nasty,
        storage=nasty,
        metric=f"val_accuracy{CLEAR}",
        status="failed",
        error=f"boom{TITLE}\nsecond",
        counts={f"complete{CLEAR}": 1},
        best=BestTrial(number=0, value=1.0, params={f"k{TITLE}": nasty}),
        command=["cbrun", nasty],
    )
    sweep_dir = make_sweep(tmp_path, trained, record=record)
    trial = sweep_dir / "trials" / "0"
    data = record_of(trial)
    data["trial"] = {"number": 0, "params": {f"k{TITLE}": nasty, "n": [nasty]}}
    write_json_atomic(trial / RUN_FILE, data)
    outcomes = {
        "runs": invoke("runs", tmp_path),
        "show": invoke("show", sweep_dir),
        "trial": invoke("show", trial),
        "json": invoke("runs", tmp_path, "--format", "json"),
        "show json": invoke("show", sweep_dir, "--format", "json"),
    }
    for name, outcome in outcomes.items():
        assert_clean("show" if "show" in name or name == "trial" else "runs", outcome)
    assert "\\x1b]0;pwned\\x07" in outcomes["runs"].output
    assert (
        "study:     x\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\r\\u202e"
        in outcomes["show"].output
    )
    assert "error:     boom\\x1b]0;pwned\\x07\\nsecond" in outcomes["show"].output
    # A list param is shown as short JSON, its controls JSON-escaped.
    assert 'n=["x\\u001b]0;pwned\\u0007' in outcomes["trial"].output
    [sweep] = json.loads(outcomes["json"].output)
    assert sweep["study"] == nasty and sweep["trials"][0]["params"]["n"] == [nasty]
    assert json.loads(outcomes["show json"].output)["name"] == f"iris{TITLE}"


def test_a_hostile_trial_field_falls_back_to_the_folder_name(
    tmp_path: Path, trained: Path
):
    sweep_dir = make_sweep(tmp_path, trained)
    for number, trial in [(1, {"number": "1", "params": [1, 2]}), (2, {"x": 1})]:
        run_dir = sweep_dir / "trials" / str(number)
        write_json_atomic(run_dir / RUN_FILE, {**record_of(run_dir), "trial": trial})
    shutil.copytree(sweep_dir / "trials" / "3", sweep_dir / "trials" / "x")
    (sweep_dir / "trials" / "0" / RUN_FILE).write_text('{"name": ', encoding="utf-8")
    sweep = summarize_sweep(sweep_dir)
    assert [(t.number, t.status) for t in sweep.trials] == [
        (0, CORRUPT),
        (1, PRUNED),
        (2, FAILED),
        (3, COMPLETED),
        (3, COMPLETED),  # the copy in trials/x says it is trial 3
    ]
    assert sweep.trials[1].params == {} and sweep.trials[0].value is None
    listed = invoke("runs", tmp_path)
    assert_clean("runs", listed)
    assert f"iris/{STAMP} trial 0: run.json: not valid JSON" in listed.output
    assert_clean("show", invoke("show", sweep_dir))


def test_short_param_names_stay_unique():
    keys = ["model.layers.1.units", "model.layers.2.units", LR, "fit.batch_size"]
    assert short_names(keys) == {
        "model.layers.1.units": "1.units",
        "model.layers.2.units": "2.units",
        LR: "learning_rate",
        "fit.batch_size": "batch_size",
    }
    assert short_names(["units", "a.units"]) == {"units": "units", "a.units": "a.units"}


# --------------------------------------------------------------------------- #
# A real sweep, read back
# --------------------------------------------------------------------------- #


def test_a_real_smoke_sweep_reads_back_with_show_and_runs(tmp_path: Path):
    pytest.importorskip("optuna")
    runs_dir = tmp_path / "runs"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cbrun",
            "sweep",
            "--smoke",
            "--runs-dir",
            str(runs_dir),
            str(REPO / "configs" / "sweep.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    [sweep_dir] = (runs_dir / "sweep").glob("sweep-*")
    shown = invoke("show", sweep_dir)
    assert_clean("show", shown)
    assert "status:    completed\n" in shown.output
    assert "trials:    2 of 2 finished: 2 complete\n" in shown.output
    trials = section(shown.output, "trials (in trials/, by number):")
    assert [line.split()[:2] for line in trials[2:4]] == [
        ["0", "completed"],
        ["1", "completed"],
    ]
    assert "best trial: " in shown.output
    rows = table_rows(invoke("runs", runs_dir))
    assert rows[0].startswith(f"sweep/{sweep_dir.name}")
    assert rows[0].endswith("sweep: 2/2 trials (2 complete)")
    assert [r.split()[:2] for r in rows[1:]] == [["trial", "0"], ["trial", "1"]]
    sweep = summarize_sweep(sweep_dir)
    assert sweep.record is not None and sweep.record.best is not None
    best = sweep.trials[sweep.record.best.number]
    assert best.value == pytest.approx(sweep.record.best.value)
