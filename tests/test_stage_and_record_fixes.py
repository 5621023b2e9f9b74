"""Staged runs and run records: overrides that changed nothing, cut-short stages.

Real tiny models on iris. A staged run whose stages all set their own
``fit.epochs`` is stopped by SIGTERM inside its second stage (module
fixture); the tests then resume copies of it with overrides that train
longer, or that would change nothing (refused, exit 1, naming the override,
why and the ``--set`` to write), and check run.json's record of the stage
the run was cut short in.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.config.loading import load_config
from cbrun.errors import CbrunError
from cbrun.training.stage_records import StageRecord, start_point
from tests.conftest import REPO
from tests.stopped_runs import run_stopped_after

CBRUN = REPO / ".venv" / "bin" / "cbrun"

OWN_EPOCHS = """\
name: own_epochs
data: {source: sklearn, name: iris}
model:
  layers:
    - {name: hidden, type: Dense, units: 8, activation: relu}
    - {name: out, type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 4, validation_split: 0.2, verbose: 0}
stages:
  - name: head
    trainable: {hidden: false}
    fit: {epochs: 2}
  - name: fine
    trainable: {hidden: true}
    fit: {epochs: 3}
"""
# The second stage takes the top-level fit.epochs.
SOME_OWN = OWN_EPOCHS.replace("    fit: {epochs: 3}\n", "")
KILLED_AFTER = 3  # an epoch inside stage 'fine' (epochs 3-5)


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@dataclass
class Outcome:
    exit_code: int
    output: str


def invoke(*args: str) -> Outcome:
    """Run the CLI; a domain error's message and exit code as ``main`` gives them."""
    result = CliRunner().invoke(cli, list(args))
    if isinstance(result.exception, CbrunError):
        exc = result.exception
        return Outcome(int(exc.exit_code), result.output + str(exc))
    return Outcome(result.exit_code, result.output)


@pytest.fixture(scope="module")
def killed_in_stage_two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped by SIGTERM after epoch 3, inside its second stage."""
    folder = tmp_path_factory.mktemp("killed")
    return run_stopped_after(write(folder, OWN_EPOCHS), folder / "runs", KILLED_AFTER)


@pytest.fixture
def killed_copy(killed_in_stage_two: Path, tmp_path: Path) -> Path:
    """A copy of the killed run (its config's folder is the original's)."""
    copy = tmp_path / "runs" / "own_epochs" / killed_in_stage_two.name
    shutil.copytree(killed_in_stage_two, copy)
    return copy


# --- 1. --set fit.epochs that no stage uses -----------------------------------


def test_validate_refuses_fit_epochs_that_every_stage_overrides(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, OWN_EPOCHS)
    result = invoke("validate", str(path), "--set", "fit.epochs=9")
    assert result.exit_code == 1, result.output
    assert "--set fit.epochs=9: fit.epochs:" in result.output
    assert "every stage sets its own fit.epochs" in result.output
    assert "'head' (stages.0): 2, 'fine' (stages.1): 3" in result.output
    assert "--set stages.1.fit.epochs=9" in result.output
    assert "Traceback" not in result.output


def test_validate_warns_when_some_stages_keep_their_epochs(tmp_path: Path) -> None:
    path = write(tmp_path, SOME_OWN)
    result = invoke("validate", str(path), "--set", "fit.epochs=9")
    assert result.exit_code == 0, result.output
    assert "warning: fit.epochs=9 sets the epochs of 'fine' only" in result.output
    assert "--set stages.0.fit.epochs=9" in result.output
    # Written in the file, the top-level epochs are the stages' default: fine.
    assert "fit.epochs" not in invoke("validate", str(path)).output


def test_train_refuses_fit_epochs_that_every_stage_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, OWN_EPOCHS)
    runs_dir = ("--runs-dir", str(tmp_path))
    result = subprocess.run(
        [str(CBRUN), "train", str(path), "--set", "fit.epochs=9", *runs_dir],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "every stage sets its own fit.epochs" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "own_epochs").exists()  # refused before any run dir


@pytest.mark.keras
def test_resume_refuses_fit_epochs_that_every_stage_overrides(
    killed_copy: Path,
) -> None:
    result = invoke("train", "--resume", str(killed_copy), "--set", "fit.epochs=9")
    assert result.exit_code == 1, result.output
    assert "config.yaml: --set fit.epochs=9: fit.epochs:" in result.output
    assert "--set stages.1.fit.epochs=9" in result.output
    assert "does not load with cbrun" not in result.output
    assert read_json(killed_copy / "run.json")["status"] == "interrupted"


@pytest.mark.keras
def test_resume_refuses_the_epochs_of_a_stage_that_ended(killed_copy: Path) -> None:
    result = invoke(
        "train", "--resume", str(killed_copy), "--set", "stages.0.fit.epochs=6"
    )
    assert result.exit_code == 1, result.output
    assert "--set stages.0.fit.epochs=6" in result.output
    assert "'head' only, which had ended by epoch 3" in result.output
    assert "--set stages.1.fit.epochs=6" in result.output


@pytest.mark.keras
def test_resume_refuses_fit_epochs_used_only_by_a_stage_that_ended(
    killed_copy: Path,
) -> None:
    """Stage 'head' takes the top-level epochs (2, as before), 'fine' its own."""
    import yaml

    path = killed_copy / "config.yaml"
    text = path.read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    data = yaml.safe_load(text)
    data["fit"]["epochs"] = data["stages"][0].pop("fit")["epochs"]
    path.write_text("\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False))
    result = invoke("train", "--resume", str(killed_copy), "--set", "fit.epochs=6")
    assert result.exit_code == 1, result.output
    assert "--set fit.epochs=6: it changes the epochs of 'head' only" in result.output
    assert "--set stages.1.fit.epochs=6" in result.output


@pytest.mark.keras
def test_resume_trains_the_epochs_a_stage_override_asks_for(
    killed_copy: Path,
) -> None:
    result = invoke(
        "train", "--resume", str(killed_copy), "--set", "stages.1.fit.epochs=5"
    )
    assert result.exit_code == 0, result.output
    record = read_json(killed_copy / "run.json")
    assert (record["status"], record["epochs_run"]) == ("completed", 7)
    assert [
        (s["name"], s["first_epoch"], s["last_epoch"]) for s in record["stages"]
    ] == [
        ("head", 1, 2),
        ("fine", 3, 7),
    ]
    history = read_json(killed_copy / "history.json")
    assert history["stage"] == ["head"] * 2 + ["fine"] * 5


# --- 2. the stage a run was cut short in ---------------------------------------


@pytest.mark.keras
def test_an_interrupted_stage_records_its_last_finished_epoch(
    killed_in_stage_two: Path,
) -> None:
    record = read_json(killed_in_stage_two / "run.json")
    assert (record["status"], record["epochs_run"]) == ("interrupted", KILLED_AFTER)
    head, fine = record["stages"]
    assert (head["last_epoch"], "interrupted" in head) == (2, False)
    assert fine["last_epoch"] == record["epochs_run"]
    assert fine["interrupted"] is True
    assert fine["stop_reason"] == record["stop_reason"] == "SIGTERM after 3 epochs"


@pytest.mark.keras
def test_a_run_cut_short_in_a_stage_resumes_inside_it(killed_copy: Path) -> None:
    result = invoke("train", "--resume", str(killed_copy))
    assert result.exit_code == 0, result.output
    assert "resumed after epoch 3" in result.output
    record = read_json(killed_copy / "run.json")
    assert (record["status"], record["epochs_run"]) == ("completed", 5)
    assert [
        (s["name"], s["first_epoch"], s["last_epoch"]) for s in record["stages"]
    ] == [
        ("head", 1, 2),
        ("fine", 3, 5),
    ]
    assert all("interrupted" not in s for s in record["stages"])


def test_a_stage_cut_short_is_not_done_at_its_last_epoch() -> None:
    cut = StageRecord("fine", 3, 3, 3, "SIGTERM after 3 epochs", interrupted=True)
    entries = [vars(StageRecord("head", 2, 1, 2)), vars(cut)]
    start = start_point(entries, 3, 2)
    assert (start.stage, start.stage_start, start.restore_in) == (1, 2, None)
    assert StageRecord.from_json({**vars(cut), "interrupted": "yes"}) is None


# --- 3. a learning-rate schedule over every epoch of the stages -----------------

# The top-level fit.epochs (2) is less than the 5 epochs the stages train.
SCHEDULED = (
    OWN_EPOCHS.replace("fit: {epochs: 4,", "fit: {epochs: 2,").replace(
        "    fit: {epochs: 3}\n",
        "    compile: {optimizer: {type: Adam, learning_rate: 1.0e-4}}\n"
        "    fit: {epochs: 3}\n",
    )
    + "callbacks:\n"
    + "  - {type: LearningRateScheduler, schedule: 'lr / (epoch - 3)'}\n"
)


def test_a_schedule_is_checked_over_the_epochs_of_every_stage(
    tmp_path: Path,
) -> None:
    """Epoch 4 (0-based 3) is in stage 'fine': past the top-level fit.epochs."""
    path = write(tmp_path, SCHEDULED)
    result = invoke("validate", str(path))
    assert result.exit_code == 0, result.output
    assert "(LearningRateScheduler).schedule: warning:" in result.output
    assert "the schedule failed at epoch=3" in result.output
    # Stage 'fine' is compiled again: its optimizer starts at its own rate.
    assert "in stage 'fine', lr starts at 0.0001" in result.output
    assert "training would fail at that epoch" in result.output


def test_a_schedule_is_checked_over_the_epochs_the_overrides_give(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, SCHEDULED)
    shorter = invoke("validate", str(path), "--set", "stages.1.fit.epochs=1")
    assert shorter.exit_code == 0, shorter.output
    assert "the schedule failed" not in shorter.output  # epochs 1-3 only
    longer = invoke("validate", str(path), "--set", "stages.0.fit.epochs=4")
    assert "the schedule failed at epoch=3" in longer.output
    assert "in stage 'head', lr starts at 0.01" in longer.output


# --- 4. --format json of a run whose loss became NaN ------------------------------

NAN_LOSS = """\
name: nan_loss
data: {source: sklearn, name: iris}
model:
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: SGD, learning_rate: 1.0e+30}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 3, validation_split: 0.2, verbose: 0}
callbacks:
  - {type: TerminateOnNaN}
"""


def strict_json(text: str) -> Any:
    """Parse as a strict JSON parser (JavaScript's, Go's) would: no NaN."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run whose loss became NaN, its files holding NaN as Keras writes it."""
    from cbrun.training.lifecycle import train
    from cbrun.training.outcome import TrainingFailed

    folder = tmp_path_factory.mktemp("nan")
    path = write(folder, NAN_LOSS)
    with pytest.raises(TrainingFailed):
        train(load_config(path), folder / "runs", command=["t"], echo=lambda _: None)
    (run_dir,) = (folder / "runs" / "nan_loss").iterdir()
    record = read_json(run_dir / "run.json")
    assert record["status"] == "terminated_nan"
    # As another tool (Keras's own History dump, an older cbrun) writes them.
    record["best"] = {"monitor": "val_loss", "value": math.nan, "epoch": 1}
    record["test_metrics"] = {"loss": math.nan, "accuracy": math.inf}
    (run_dir / "run.json").write_text(json.dumps(record))
    history = read_json(run_dir / "history.json")
    history["loss"] = [math.nan]
    (run_dir / "history.json").write_text(json.dumps(history))
    return run_dir


@pytest.mark.keras
def test_runs_as_json_writes_null_for_nan(nan_run: Path) -> None:
    result = invoke("runs", str(nan_run.parent.parent), "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = strict_json(result.output)
    assert row["status"] == "terminated_nan"
    assert row["best"]["value"] is None
    assert row["test_metrics"] == {"loss": None, "accuracy": None}


@pytest.mark.keras
def test_show_as_json_writes_null_for_nan(nan_run: Path) -> None:
    result = invoke("show", str(nan_run), "--format", "json")
    assert result.exit_code == 0, result.output
    shown = strict_json(result.output)
    assert shown["best"]["value"] is None
    assert shown["test_metrics"]["loss"] is None
    text = invoke("show", str(nan_run))
    assert text.exit_code == 0 and "nan" in text.output  # the table says nan


# --- 5. history.png written whole ----------------------------------------------


@pytest.mark.keras
def test_history_png_is_replaced_whole_not_written_into(killed_copy: Path) -> None:
    """A new file renamed over the old: a reader holding the old one keeps it."""
    picture = killed_copy / "history.png"
    assert invoke("plot", str(killed_copy)).exit_code == 0  # draws history.png
    assert picture.read_bytes().startswith(b"\x89PNG")
    kept = killed_copy / "kept.png"
    os.link(picture, kept)  # the same file under a second name
    result = invoke("plot", str(killed_copy))
    assert result.exit_code == 0, result.output
    assert picture.stat().st_ino != kept.stat().st_ino
    assert picture.read_bytes().startswith(b"\x89PNG")
    assert kept.read_bytes().startswith(b"\x89PNG")
    assert not [p.name for p in killed_copy.iterdir() if p.name.endswith(".tmp")]


# --- 6. validation_freq: one entry per epoch in every history list --------------

EVERY_OTHER = """\
name: every_other
data: {source: sklearn, name: iris}
model:
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 4, validation_split: 0.2, validation_freq: 2, verbose: 0}
"""


@pytest.fixture(scope="module")
def validated_every_other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of 4 epochs validated in epochs 2 and 4."""
    from cbrun.training.lifecycle import train

    folder = tmp_path_factory.mktemp("freq")
    path = write(folder, EVERY_OTHER)
    result = train(
        load_config(path), folder / "runs", command=["t"], echo=lambda _: None
    )
    assert result.status == "completed"
    return Path(result.run_dir)


@pytest.mark.keras
def test_validation_lists_have_one_entry_per_epoch(validated_every_other: Path) -> None:
    history = strict_json((validated_every_other / "history.json").read_text())
    assert {key: len(values) for key, values in history.items()} == {
        "accuracy": 4,
        "loss": 4,
        "val_accuracy": 4,
        "val_loss": 4,
    }
    for key in ("val_loss", "val_accuracy"):
        assert [v is None for v in history[key]] == [True, False, True, False]
    assert all(v is not None for v in history["loss"])


@pytest.mark.keras
def test_show_compare_and_plot_read_the_epochs_without_validation(
    validated_every_other: Path, tmp_path: Path
) -> None:
    from matplotlib.figure import Figure

    from cbrun.runs.plots import _draw_run, _load_run, default_panels

    run = str(validated_every_other)
    shown = invoke("show", run)
    assert shown.exit_code == 0, shown.output
    assert "4 epochs of" in shown.output
    history = read_json(validated_every_other / "history.json")
    compared = invoke("compare", run, run)
    assert compared.exit_code == 0, compared.output
    line = next(x for x in compared.output.splitlines() if "final val_loss" in x)
    assert f"{history['val_loss'][3]:.4g}" in line
    assert invoke("plot", run, "-o", str(tmp_path / "p.png")).exit_code == 0
    # The validation curve joins epochs 2 and 4 (a NaN gap would draw nothing).
    loaded = _load_run(validated_every_other)
    (panel,) = [p for p in default_panels([loaded]) if "val_loss" in p.keys]
    ax = Figure().subplots()
    _draw_run(ax, panel, loaded, 0, single=True)
    (val,) = [line for line in ax.lines if line.get_label() == "val_loss"]
    assert list(val.get_xdata()) == [2, 4]
    assert val.get_marker() == "o"


def test_the_last_value_of_a_list_with_skipped_epochs() -> None:
    from cbrun.runs.manifest import has_skipped_epochs, last_recorded

    assert last_recorded([None, 0.5, None, 0.25, None]) == 0.25
    assert last_recorded([0.5, 0.25, None]) is None  # a loss that became NaN
    assert not has_skipped_epochs([0.5, math.nan, None])
    assert has_skipped_epochs([math.nan, 0.5])
