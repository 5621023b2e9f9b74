"""Broken and hostile run dirs: every reader says what is wrong, none crashes.

A run dir may come from anywhere, so ``runs``, ``show``, ``plot``,
``compare`` and ``train --resume`` read it with the hardened readers
(cbrun/runs/reading.py). Each case below is one class of hole a review found
(a huge integer, deep nesting, a list where a string belongs, an alias bomb,
escape sequences) and is checked against every command: the bad run is
``corrupt`` with the reason, the good runs beside it are listed, the exit
code is one of design section 4's, there is no traceback and no "cbrun:
unexpected ...", and no control character reaches the terminal raw.

The helpers at the top are shared with tests/test_fuzz_run_dirs.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.errors import CbrunError, ExitCode
from cbrun.runs.layout import (
    BACKUP_DIR,
    BACKUP_METADATA_FILE,
    BACKUP_WEIGHTS_FILE,
    CALLBACK_STATE_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    RUN_FILE,
)
from cbrun.runs.listing import CORRUPT, list_runs
from cbrun.runs.manifest import COMPLETED, INTERRUPTED
from cbrun.runs.printable import printable
from cbrun.runs.reading import MAX_DEPTH
from tests.conftest import MINIMAL, REPO
from tests.test_runs_listing import HISTORY, make_run

# Raw control characters a terminal would obey; "\n" is the only one allowed.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
ESCAPES = f"{TITLE}{CLEAR}\x9b31m\r\u202e"
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
HUGE = "1" + "0" * 5000  # past Python's 4300-digit limit for int("...")
TOO_BIG = "integer beyond 64 bits (5001 digits)"
# What each command may exit with on any run dir (design section 4).
EXITS = {
    "runs": {ExitCode.OK},
    "show": {ExitCode.OK},
    "compare": {ExitCode.OK},
    "plot": {ExitCode.OK, ExitCode.USAGE},
    "resume": {ExitCode.OK, ExitCode.INVALID_CONFIG, ExitCode.USAGE},
}


@dataclass(frozen=True)
class Outcome:
    """What a user sees: the exit code and stdout and stderr together."""

    code: int
    output: str


def invoke(*args: object) -> Outcome:
    """Run the CLI in-process as ``cbrun.cli.main`` does.

    A domain error becomes its exit code and ``cbrun: <message>``, as main()
    prints it; any other exception fails the test with its traceback (main
    would print "unexpected ..." and exit 3).
    """
    result = CliRunner().invoke(cli, [str(a) for a in args])
    exc = result.exception
    if exc is None or isinstance(exc, SystemExit):
        return Outcome(result.exit_code, result.output)
    if isinstance(exc, CbrunError):
        return Outcome(int(exc.exit_code), f"{result.output}cbrun: {exc}\n")
    raise AssertionError("".join(traceback.format_exception(exc)))


def assert_clean(command: str, outcome: Outcome) -> None:
    """A known exit code, no traceback, nothing raw a terminal would obey."""
    assert outcome.code in EXITS[command], (command, outcome)
    assert "Traceback" not in outcome.output, outcome.output
    assert "cbrun: unexpected" not in outcome.output, outcome.output
    raw = RAW_CONTROL.search(outcome.output)
    assert raw is None, (command, raw, outcome.output)


def run_module(*args: object, timeout: float = 60) -> tuple[int, str, set[str]]:
    """Run ``python -m cbrun ARGS`` with ``-X importtime``.

    Returns:
        The exit code, stderr without the import lines, and the top-level
        packages imported (to tell whether TensorFlow was).
    """
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cbrun", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = result.stderr.splitlines()
    imports = [line for line in lines if line.startswith("import time:")]
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in imports}
    rest = "\n".join(line for line in lines if not line.startswith("import time:"))
    return result.returncode, result.stdout + rest, modules


def good_runs(root: Path) -> list[Path]:
    """Two healthy runs, as ``cbrun train`` leaves them."""
    return [
        make_run(root, "good", minute, history=HISTORY, config=MINIMAL)
        for minute in (0, 1)
    ]


def record_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))


def with_raw(data: dict[str, Any], key: str, raw: str) -> str:
    """``data`` as JSON text with ``key``'s value written as ``raw`` JSON text.

    For values json.dumps cannot write: 5000 digits, 100,000 brackets.
    """
    return json.dumps({**data, key: "@RAW@"}).replace('"@RAW@"', raw)


# --------------------------------------------------------------------------- #
# The cases: (file, its new text from the healthy run dir, expected reason)
# --------------------------------------------------------------------------- #

Hostile = Callable[[Path], str]


def _record(key: str, raw: str) -> Hostile:
    return lambda run_dir: with_raw(record_of(run_dir), key, raw)


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


RECORD_CASES: dict[str, tuple[Hostile, str]] = {
    "huge int pid": (_record("pid", HUGE), TOO_BIG),
    "pid beyond a C int": (_record("pid", str(2**40)), "'pid' should be less than"),
    "negative pid": (_record("pid", "-1"), "'pid' should be greater than 0"),
    "huge int metric": (
        _record("test_metrics", '{"loss": 1' + "0" * 30 + "}"),
        "integer beyond 64 bits (31 digits)",
    ),
    "very deep nesting": (_record("best", _deep(100_000)), "nested deeper than 32"),
    "just too deep": (_record("distribute", _deep(MAX_DEPTH + 1)), "nested deeper"),
    "list for a string": (
        _record("stop_reason", '["a", "b"]'),
        "'stop_reason' should be a string or null",
    ),
    "list for the name": (_record("name", '["x"]'), "'name' should be a string"),
    "list for the monitor": (
        _record("best", '{"monitor": ["val_loss"], "value": 1, "epoch": 1}'),
        "'best.monitor' should be a string",
    ),
    "string for the epoch": (
        _record("best", '{"monitor": "loss", "value": 1, "epoch": "1"}'),
        "'best.epoch' should be an integer",
    ),
    "bool for a metric": (
        _record("test_metrics", '{"loss": true}'),
        "'test_metrics.loss' should be a number",
    ),
    # Found by tests/test_fuzz_run_dirs.py: printing it raised UnicodeEncodeError.
    "lone surrogate": (_record("name", '"\\ud800"'), "lone UTF-16 surrogate"),
    "not an object": (lambda run_dir: "[1, 2]", "expected a JSON object"),
    "truncated": (lambda run_dir: '{"name": "x", "sta', "not valid JSON"),
    "not UTF-8": (lambda run_dir: "\udcff", "not UTF-8"),
}


def write_hostile(run_dir: Path, name: str, text: str) -> None:
    (run_dir / name).write_bytes(text.encode("utf-8", errors="surrogateescape"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    good_runs(tmp_path / "runs")
    return tmp_path / "runs"


def hostile_run(root: Path, name: str, make: Hostile, **fields: Any) -> Path:
    run_dir = make_run(root, "bad", 5, history=HISTORY, config=MINIMAL, **fields)
    write_hostile(run_dir, RUN_FILE, make(run_dir))
    return run_dir


@pytest.mark.parametrize("case", list(RECORD_CASES))
def test_a_hostile_record_is_one_corrupt_row_among_good_ones(root: Path, case: str):
    make, reason = RECORD_CASES[case]
    bad = hostile_run(root, case, make)
    rows = {row.run_dir: row for row in list_runs(root)}
    assert rows[bad].status == CORRUPT
    assert rows[bad].error is not None and reason in rows[bad].error
    assert [r.status for d, r in rows.items() if d != bad] == [COMPLETED] * 2
    table = invoke("runs", root)
    assert_clean("runs", table)
    assert table.output.count(" completed ") == 2
    assert f"bad/{bad.name}: run.json: " in table.output
    listing = invoke("runs", root, "--format", "json")
    assert_clean("runs", listing)
    assert len(json.loads(listing.output)) == 3


@pytest.mark.parametrize("case", list(RECORD_CASES))
def test_show_plot_and_compare_say_why_a_record_is_corrupt(root: Path, case: str):
    make, reason = RECORD_CASES[case]
    bad = hostile_run(root, case, make)
    [good, _] = sorted(root.glob("good/*"))
    shown = invoke("show", bad)
    assert_clean("show", shown)
    assert "status:    corrupt\n" in shown.output
    assert reason in shown.output
    # The history is fine: the plot draws it, without run.json's best epoch.
    plotted = invoke("plot", bad, "-o", root / "bad.png")
    assert_clean("plot", plotted)
    assert plotted.code == ExitCode.OK
    compared = invoke("compare", good, bad)
    assert_clean("compare", compared)
    assert "B: run.json: " in compared.output and reason in compared.output


@pytest.mark.parametrize(
    "case", ["huge int pid", "very deep nesting", "list for a string", "truncated"]
)
def test_resume_refuses_a_corrupt_record_before_importing_tensorflow(
    root: Path, case: str
):
    make, reason = RECORD_CASES[case]
    bad = hostile_run(root, case, make, status=INTERRUPTED)
    code, output, modules = run_module("train", "--resume", bad)
    assert_clean("resume", Outcome(code, output))
    assert code == ExitCode.INVALID_CONFIG
    assert "cannot read the run's record" in output and reason in output
    assert "tensorflow" not in modules and "keras" not in modules


def test_resume_of_a_folder_without_run_json_is_a_usage_error(root: Path):
    outcome = invoke("train", "--resume", root)
    assert_clean("resume", outcome)
    assert outcome.code == ExitCode.USAGE
    assert "is not a run directory (it has no run.json)" in outcome.output


def test_a_fifo_for_run_json_is_corrupt_not_a_hang(root: Path):
    bad = make_run(root, "bad", 5, history=HISTORY, config=MINIMAL)
    (bad / RUN_FILE).unlink()
    os.mkfifo(bad / RUN_FILE)
    [row] = [r for r in list_runs(root) if r.run_dir == bad]
    assert row.status == CORRUPT
    assert row.error == "run.json: is a FIFO, not a regular file"
    assert_clean("show", invoke("show", bad))
    outcome = invoke("train", "--resume", bad)
    assert_clean("resume", outcome)
    assert outcome.code == ExitCode.INVALID_CONFIG


# --------------------------------------------------------------------------- #
# Escape sequences: shown escaped everywhere, never raw
# --------------------------------------------------------------------------- #


def test_escape_sequences_from_a_run_dir_never_reach_the_terminal(root: Path):
    history = {f"{CLEAR}loss": [1.0, 0.5], f"acc{TITLE}": [0.5, 0.7]}
    bad = make_run(
        root,
        f"name{TITLE}",
        5,
        history=history,
        # As yaml.safe_dump writes them: escapes in double quotes.
        config='name: "x\\e[2J"\n"key\\e]0;pwned\\a": 1\n',
        status=INTERRUPTED,
        stop_reason=f"stopped{ESCAPES}",
        error=f"boom{TITLE}\nsecond line",
        command=["cbrun", f"train{CLEAR}"],
        test_metrics={f"m{TITLE}": 0.5},
        best={"monitor": f"acc{TITLE}", "value": 0.7, "epoch": 2},
    )
    [good, _] = sorted(root.glob("good/*"))
    outcomes = {
        "runs": invoke("runs", root),
        "show": invoke("show", bad),
        "plot": invoke("plot", bad, good, "-o", root / "x.png"),
        "compare": invoke("compare", good, bad),
        "resume": invoke("train", "--resume", bad),
    }
    for command, outcome in outcomes.items():
        assert_clean(command, outcome)
    assert printable(f"stopped{ESCAPES}")[:40] in outcomes["runs"].output
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\r\\u202e" in outcomes["show"].output
    assert "boom\\x1b]0;pwned\\x07\\nsecond line" in outcomes["show"].output
    assert "\\x1b[2Jloss" in outcomes["show"].output  # history keys
    assert "\\x1b[2Jloss" in outcomes["compare"].output  # metric rows
    assert "key\\x1b]0;pwned\\x07: (absent) -> 1" in outcomes["compare"].output
    assert outcomes["plot"].code == ExitCode.OK


def test_json_listing_escapes_c1_controls_and_stays_the_same_json(root: Path):
    make_run(root, "bad", 5, stop_reason=f"x{ESCAPES}")
    outcome = invoke("runs", root, "--format", "json")
    assert_clean("runs", outcome)
    reasons = {row["stop_reason"] for row in json.loads(outcome.output)}
    assert f"x{ESCAPES}" in reasons


def test_a_dollar_in_a_metric_name_is_not_tex(root: Path):
    bad = make_run(root, "bad", 5, history={"$\\frac{": [1.0, 2.0], "loss$": [1, 2]})
    outcome = invoke("plot", bad, "-o", root / "x.png")
    assert_clean("plot", outcome)
    assert outcome.code == ExitCode.OK


# --------------------------------------------------------------------------- #
# history.json and config.yaml
# --------------------------------------------------------------------------- #

HISTORY_CASES: dict[str, tuple[str, str]] = {
    "huge int": ('{"loss": [' + HUGE + "]}", TOO_BIG),
    "deep": ('{"loss": ' + _deep(100_000) + "}", "nested deeper than 32"),
    "string value": ('{"loss": [0.5, "low"]}', "should be a list of numbers"),
    "list for the mapping": ("[[0.5]]", "expected a JSON object"),
    "truncated": ('{"loss": [0.5, 0.', "not valid JSON"),
}


@pytest.mark.parametrize("case", list(HISTORY_CASES))
def test_a_hostile_history_is_explained_by_every_reader(root: Path, case: str):
    text, reason = HISTORY_CASES[case]
    bad = make_run(root, "bad", 5, history=HISTORY, config=MINIMAL)
    write_hostile(bad, HISTORY_FILE, text)
    [good, _] = sorted(root.glob("good/*"))
    listed = invoke("runs", root)
    assert_clean("runs", listed)
    assert listed.output.count(" completed ") == 3  # runs reads run.json only
    shown = invoke("show", bad)
    assert_clean("show", shown)
    assert "history:   unreadable: " in shown.output and reason in shown.output
    plotted = invoke("plot", bad, "-o", root / "x.png")
    assert_clean("plot", plotted)
    assert plotted.code == ExitCode.USAGE
    assert f"cannot plot {bad}: " in plotted.output and reason in plotted.output
    compared = invoke("compare", good, bad)
    assert_clean("compare", compared)
    assert "B: " in compared.output and reason in compared.output


def test_resume_refuses_a_corrupt_history_instead_of_blanking_it(root: Path):
    bad = make_run(
        root, "bad", 5, status=INTERRUPTED, epochs_run=0, config=MINIMAL, pid=None
    )
    write_hostile(bad, HISTORY_FILE, HISTORY_CASES["huge int"][0])
    code, output, modules = run_module("train", "--resume", bad)
    assert_clean("resume", Outcome(code, output))
    assert code == ExitCode.INVALID_CONFIG
    assert "cannot read the run's history" in output
    assert TOO_BIG in output
    assert "tensorflow" not in modules


def test_compare_refuses_an_alias_bomb_config_by_its_bound(root: Path):
    [good, _] = sorted(root.glob("good/*"))
    bad = make_run(root, "bad", 5, history=HISTORY, config=ALIAS_BOMB)
    code, output, _ = run_module("compare", good, bad)  # a hang hits the timeout
    assert_clean("compare", Outcome(code, output))
    assert (
        f"B: {bad / CONFIG_FILE} unreadable: not valid YAML at line 1: the "
        "document expands to more than 20000 values"
    ) in output
    assert "config: cannot compare (see below)" in output


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (ALIAS_BOMB, "expands to more than 20000 values"),
        ("a: " + _deep(10_000), "nest"),
        ("a: !!python/object/apply:os.system [echo hi]", "YAML tag"),
        ("a: !!python/name:os.system", "not valid YAML"),
        ("a: 1" + "0" * 5000, "not valid YAML at line 1: cannot read '1000"),
        ("{a: 1", "not valid YAML at line"),
    ],
)
def test_every_reader_survives_a_hostile_config_yaml(
    root: Path, text: str, reason: str
):
    [good, _] = sorted(root.glob("good/*"))
    bad = make_run(root, "bad", 5, history=HISTORY, config=text, status=INTERRUPTED)
    assert_clean("runs", invoke("runs", root))
    assert_clean("show", invoke("show", bad))
    assert_clean("plot", invoke("plot", bad, "-o", root / "x.png"))
    compared = invoke("compare", good, bad)
    assert_clean("compare", compared)
    assert reason in compared.output
    resumed = invoke("train", "--resume", bad)
    assert_clean("resume", resumed)
    assert resumed.code == ExitCode.INVALID_CONFIG
    assert "does not load with cbrun" in resumed.output


def test_a_huge_config_yaml_is_not_printed_by_show(root: Path):
    bad = make_run(root, "bad", 5, config="# " + "x" * 600_000)
    outcome = invoke("show", bad)
    assert_clean("show", outcome)
    assert "config.yaml: unreadable: file is larger than 500000 bytes" in outcome.output
    assert len(outcome.output) < 5000


# --------------------------------------------------------------------------- #
# The backup --resume reads: Keras's metadata and the callbacks' state
# --------------------------------------------------------------------------- #


def backed_up_run(root: Path, metadata: str, state: str | None = None) -> Path:
    """An interrupted run with a backup of epoch 1 (its weights are not read)."""
    run_dir = make_run(
        root, "bad", 5, status=INTERRUPTED, config=MINIMAL, pid=None, backup_epoch=1
    )
    backup = run_dir / BACKUP_DIR
    backup.mkdir()
    (backup / BACKUP_WEIGHTS_FILE).write_bytes(b"not read before TensorFlow")
    write_hostile(backup, BACKUP_METADATA_FILE, metadata)
    if state is not None:
        write_hostile(backup, CALLBACK_STATE_FILE, state)
    return run_dir


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ('{"epoch": ' + HUGE + "}", TOO_BIG),
        ('{"epoch": "1"}', "'epoch' should be an integer, got '1'"),
        ('{"epoch": true}', "'epoch' should be an integer, got True"),
        ("[1]", "'epoch' should be an integer, got None"),
        ('{"epoch": 1', "not valid JSON"),
        (_deep(5000), "nested deeper than 32"),
    ],
)
def test_resume_refuses_backup_metadata_it_cannot_trust(
    root: Path, metadata: str, reason: str
):
    run_dir = backed_up_run(root, metadata)
    outcome = invoke("train", "--resume", run_dir)
    assert_clean("resume", outcome)
    assert outcome.code == ExitCode.INVALID_CONFIG
    assert f"{BACKUP_METADATA_FILE}: " in outcome.output and reason in outcome.output
    assert "the epoch of the backup is unknown" in outcome.output


STATE = {"epoch": 1, "callbacks": {"0": {"type": "EarlyStopping", "wait": 1}}}


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("[]", "expected a JSON object, got []"),
        ('{"epoch": -1}', "'epoch' should be an integer, got -1"),
        ('{"epoch": 1, "callbacks": []}', "'callbacks' should be an object"),
        ('{"epoch": 1, "callbacks": {"²": {}}}', "should be a callback's index"),
        ('{"epoch": 1, "callbacks": {"0": {"wait": 1}}}', "with a 'type' string"),
        (
            with_raw(STATE, "callbacks", '{"0": {"type": "E", "wait": "x"}}'),
            "callback 0: 'wait' should be a number or null",
        ),
        (with_raw(STATE, "epoch", HUGE), TOO_BIG),
        (f'{{"epoch": 1, "callbacks": {{"0": {_deep(40)}}}}}', "nested deeper"),
    ],
)
def test_resume_refuses_callback_state_it_cannot_restore(
    root: Path, state: str, reason: str
):
    run_dir = backed_up_run(root, '{"epoch": 1}', state)
    outcome = invoke("train", "--resume", run_dir)
    assert_clean("resume", outcome)
    assert outcome.code == ExitCode.INVALID_CONFIG
    assert f"{CALLBACK_STATE_FILE}: " in outcome.output and reason in outcome.output
    assert "remove that file to resume with the callbacks' counters" in outcome.output


def test_resume_refuses_a_bad_backup_before_importing_tensorflow(root: Path):
    run_dir = backed_up_run(root, '{"epoch": 1}', '{"epoch": 1, "callbacks": 3}')
    code, output, modules = run_module("train", "--resume", run_dir)
    assert code == ExitCode.INVALID_CONFIG, output
    assert "'callbacks' should be an object, got 3" in output
    assert "tensorflow" not in modules
