"""``cbrun compare``: config differences as dotted keys, metrics side by side."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cbrun.runs.compare import compare_runs, config_differences, flatten
from cbrun.runs.layout import RUN_FILE
from cbrun.runs.listing import RunsError
from cbrun.runs.manifest import STOPPED_EARLY
from tests.test_runs_listing import HISTORY, make_run

CONFIG_B = """\
    # Resolved from configs/demo.yaml with --set fit.epochs=20
    name: demo
    seed: 42
    fit: {epochs: 20, batch_size: 32, shuffle: false}
    callbacks:
      - {type: EarlyStopping, monitor: val_accuracy, patience: 5}
      - {type: TerminateOnNaN}
    """


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    a = make_run(
        tmp_path,
        history=HISTORY,
        best={"monitor": "val_loss", "value": 0.5, "epoch": 2},
        test_metrics={"accuracy": 0.9, "loss": 0.3},
        epochs_run=3,
    )
    history_b = {**HISTORY, "val_loss": [0.8, 0.4, 0.45, 0.47]}
    b = make_run(
        tmp_path,
        minute=1,
        status=STOPPED_EARLY,
        config=CONFIG_B,
        history=history_b,
        best={"monitor": "val_loss", "value": 0.4, "epoch": 2},
        test_metrics={"accuracy": 0.92, "loss": None},
        epochs_run=4,
    )
    return a, b


def test_compare_names_the_changed_config_keys(pair: tuple[Path, Path]):
    text = compare_runs(*pair)
    section = text.split("config (")[1].split("\n\n")[0]
    assert section.splitlines() == [
        "5 differences):",
        "  fit.epochs: 10 -> 20",
        "  fit.shuffle: (absent) -> false",
        "  callbacks[0].monitor: val_loss -> val_accuracy",
        "  callbacks[0].patience: 3 -> 5",
        "  callbacks[1].type: (absent) -> TerminateOnNaN",
    ]


def test_compare_sets_metrics_side_by_side(pair: tuple[Path, Path]):
    a, b = pair
    text = compare_runs(a, b)
    assert text.startswith(f"A: {a} (demo/{a.name})\nB: {b} (demo/{b.name})\n")
    rows = {
        line.split("  ")[1]: line.split()[-3:]
        for line in text.split("metrics:\n")[1].splitlines()[1:]
    }
    assert rows["status"] == ["status", "completed", "stopped_early"]
    assert rows["epochs run"] == ["3", "4", "+1"]
    assert rows["best val_loss"] == ["0.5", "0.4", "-0.1"]
    assert rows["best epoch"] == ["2", "2", "0"]
    assert rows["final val_loss"] == ["0.55", "0.47", "-0.08"]
    assert rows["final loss"] == ["0.3", "0.3", "0"]
    assert rows["test accuracy"] == ["0.9", "0.92", "+0.02"]
    assert rows["test loss"][-2:] == ["0.3", "nan"]  # null: not finite, no delta


def test_identical_configs(tmp_path: Path):
    a = make_run(tmp_path, history=HISTORY)
    b = make_run(tmp_path, minute=1)
    text = compare_runs(a, b)
    assert "\nconfig: identical\n" in text
    assert "B: no history yet (no epoch finished)" in text
    assert "  final loss           0.3        -\n" in text


def test_missing_config_and_corrupt_run_json_do_not_crash(tmp_path: Path):
    a = make_run(tmp_path, config=None)
    b = make_run(tmp_path, minute=1)
    (b / RUN_FILE).write_text("{")
    text = compare_runs(a, b)
    assert "config: cannot compare (see below)" in text
    assert f"A: no config.yaml in {a}" in text
    assert "status      completed  corrupt" in text
    assert "B: run.json: not valid JSON" in text


def test_says_why_a_run_json_is_corrupt(tmp_path: Path):
    a = make_run(tmp_path)
    b = make_run(tmp_path, minute=1)
    data = json.loads((a / RUN_FILE).read_text(encoding="utf-8"))
    (a / RUN_FILE).write_text(json.dumps({**data, "epochs_run": True}))
    text = compare_runs(a, b)
    assert re.search(r"\n  status +corrupt +completed\n", text)
    assert "A: run.json: field 'epochs_run' should be an integer, got true" in text


def test_not_a_run_dir(tmp_path: Path):
    a = make_run(tmp_path)
    with pytest.raises(
        RunsError, match=re.escape(f"{tmp_path / 'nope'} does not exist")
    ):
        compare_runs(a, tmp_path / "nope")


def test_flatten_uses_dots_and_indexes():
    config = {"fit": {"epochs": 3}, "callbacks": [{"type": "X", "a": [1, 2]}], "e": {}}
    assert flatten(config) == {
        "fit.epochs": 3,
        "callbacks[0].type": "X",
        "callbacks[0].a[0]": 1,
        "callbacks[0].a[1]": 2,
        "e": {},
    }


def test_config_differences_keep_yaml_types_apart():
    assert config_differences({"v": 1}, {"v": True}) == ["v: 1 -> true"]
    assert config_differences({"v": 1}, {"v": 1.0}) == []
    assert config_differences({"s": "10"}, {"s": 10}) == ['s: "10" -> 10']
    assert config_differences({"s": None}, {"s": ""}) == ['s: null -> ""']
    assert config_differences({"m": []}, {"m": ["x"]}) == [
        "m[0]: (absent) -> x",
        "m: [] -> (absent)",
    ]
    assert config_differences(None, {"a": 1}) == [
        "a: (absent) -> 1",
        "(config): null -> (absent)",
    ]
    assert config_differences({"a": 1, "z": 2}, {"b": 0, "a": 1, "c": 3}) == [
        "b: (absent) -> 0",
        "c: (absent) -> 3",
        "z: 2 -> (absent)",
    ]
