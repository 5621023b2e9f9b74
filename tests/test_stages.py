"""``stages:``: one model trained in steps, a frozen layer then fine-tuning.

Real tiny models: a staged run on iris continues its epoch count, keeps the
frozen layer's weights in stage one and trains them in stage two, compiles
stage two with its own learning rate and writes one history with a stage
list. Also: a smoke run of every stage, a stage cut short by EarlyStopping,
a kill inside stage two and ``--resume``, the validate errors, and where a
resumed run continues (run.json's stage records, no TensorFlow).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.config.loading import load_config
from cbrun.keras.feeding import training_samples
from cbrun.training.stage_records import StageRecord, stage_names, start_point
from tests.conftest import start_cbrun, wait_for_record

STAGED = """\
name: staged
data: {source: sklearn, name: iris}
model:
  layers:
    - {name: hidden, type: Dense, units: 8, activation: relu}
    - {name: out, type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 2, validation_split: 0.2, verbose: 0}
callbacks:
  - {type: ModelCheckpoint, filepath: "ckpt/e{epoch}.keras"}
stages:
  - name: frozen
    trainable: {hidden: false}
    fit: {epochs: 3}
  - name: fine
    trainable: {hidden: true}
    compile: {optimizer: {type: Adam, learning_rate: 1.0e-4}}
"""


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def train_config(path: Path, runs_dir: Path, *overrides: str) -> Any:
    """Train in-process; the RunResult."""
    from cbrun.training.lifecycle import train

    return train(
        load_config(path, overrides),
        runs_dir,
        command=["cbrun", "train", str(path)],
        echo=lambda line: None,
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("staged")
    result = train_config(write(folder, STAGED), folder / "runs")
    assert result.status == "completed"
    return Path(result.run_dir)


def layer_weights(path: Path, layer: str) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(path).get_layer(layer).get_weights()


@pytest.mark.keras
def test_stage_two_continues_the_epoch_count(staged: Path) -> None:
    history = read_json(staged / "history.json")
    assert history["stage"] == ["frozen"] * 3 + ["fine"] * 2
    metrics = {k: v for k, v in history.items() if k != "stage"}
    assert {len(values) for values in metrics.values()} == {5}
    record = read_json(staged / "run.json")
    assert record["epochs_run"] == 5
    assert record["status"] == "completed"
    assert record["stages"] == [
        {
            "name": "frozen",
            "epochs": 3,
            "first_epoch": 1,
            "last_epoch": 3,
            "stop_reason": None,
        },
        {
            "name": "fine",
            "epochs": 2,
            "first_epoch": 4,
            "last_epoch": 5,
            "stop_reason": None,
        },
    ]
    # ModelCheckpoint numbers its files on across stages, as Keras's epochs.
    saved = sorted(p.name for p in (staged / "ckpt").iterdir())
    assert saved == [f"e{epoch}.keras" for epoch in range(1, 6)]
    # The readers see the metrics only.
    from cbrun.runs.manifest import load_history

    assert "stage" not in load_history(staged)


@pytest.mark.keras
def test_the_frozen_layer_trains_only_in_stage_two(staged: Path) -> None:
    ckpt = staged / "ckpt"
    hidden = {e: layer_weights(ckpt / f"e{e}.keras", "hidden") for e in (1, 3, 5)}
    out = {e: layer_weights(ckpt / f"e{e}.keras", "out") for e in (1, 3)}
    for before, after in zip(hidden[1], hidden[3], strict=True):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(a, b) for a, b in zip(out[1], out[3], strict=True)), (
        "the trainable layer should learn in stage one"
    )
    assert any(
        not np.array_equal(a, b) for a, b in zip(hidden[3], hidden[5], strict=True)
    ), "the unfrozen layer should learn in stage two"


@pytest.mark.keras
def test_stage_two_trains_with_its_own_learning_rate(staged: Path) -> None:
    import keras

    frozen = keras.saving.load_model(staged / "ckpt" / "e3.keras")
    fine = keras.saving.load_model(staged / "model.keras")
    assert float(frozen.optimizer.learning_rate) == pytest.approx(0.01)
    assert float(fine.optimizer.learning_rate) == pytest.approx(1e-4)
    assert fine.get_layer("hidden").trainable
    assert not frozen.get_layer("hidden").trainable
    # A new optimizer for stage two: its step count started again at 0.
    assert int(fine.optimizer.iterations) < int(frozen.optimizer.iterations)


def hand_written_fine_tuning() -> dict[str, list[float]]:
    """STAGED as the Keras transfer-learning guide writes it, without cbrun."""
    import keras
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    keras.utils.set_random_seed(42)
    x, y = load_iris(return_X_y=True)
    x_train, _, y_train, _ = train_test_split(
        x, y, test_size=0.2, random_state=42, stratify=y
    )
    x_train, y_train = x_train.astype(np.float32), y_train.astype(np.int64)
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    fit = {"validation_split": 0.2, "verbose": 0}
    model.get_layer("hidden").trainable = False
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    first = model.fit(x_train, y_train, epochs=3, **fit).history
    model.get_layer("hidden").trainable = True
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    second = model.fit(x_train, y_train, epochs=5, initial_epoch=3, **fit).history
    return {key: first[key] + second[key] for key in first}


@pytest.mark.keras
def test_a_staged_run_gives_the_numbers_of_the_hand_written_script(
    staged: Path,
) -> None:
    history = read_json(staged / "history.json")
    del history["stage"]
    expected = hand_written_fine_tuning()
    assert set(history) == set(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-6, err_msg=key)


FOUR_STAGES = (
    STAGED.split("stages:")[0]
    + """\
stages:
  - name: a
    trainable: {hidden: false}
  - name: b
    fit: {epochs: 1}
  - name: c
    compile: {optimizer: {type: Adam, learning_rate: 1.0e-4}}
    fit: {epochs: 1}
  - name: d
    fit: {epochs: 1}
"""
)


@pytest.mark.keras
def test_a_stage_compiles_again_only_when_its_setup_changes(tmp_path: Path) -> None:
    """b keeps a's optimizer; c has its own; d is back to the top level's."""
    import keras

    result = train_config(write(tmp_path, FOUR_STAGES), tmp_path / "runs")
    ckpt = Path(result.run_dir) / "ckpt"
    optimizers = {
        e: keras.saving.load_model(ckpt / f"e{e}.keras").optimizer for e in (2, 3, 4, 5)
    }
    steps = math.ceil(training_samples(120, 0.2) / 32)
    assert [int(optimizers[e].iterations) for e in (2, 3, 4, 5)] == [
        2 * steps,
        3 * steps,  # b: no new compile, the optimizer counts on
        steps,
        steps,
    ]
    rates = [float(optimizers[e].learning_rate) for e in (2, 3, 4, 5)]
    assert rates == pytest.approx([0.01, 0.01, 1e-4, 0.01])
    # The flag a set holds in the stages after it.
    model = keras.saving.load_model(Path(result.run_dir) / "model.keras")
    assert not model.get_layer("hidden").trainable


@pytest.mark.keras
def test_a_smoke_run_trains_every_stage_briefly(tmp_path: Path) -> None:
    path = write(tmp_path, STAGED)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        cli, ["train", "--smoke", str(path), "--runs-dir", str(runs)]
    )
    assert result.exit_code == 0, result.output
    (run_dir,) = runs.glob("staged/*")
    history = read_json(run_dir / "history.json")
    assert history["stage"] == ["frozen", "fine"]
    assert [s["first_epoch"] for s in read_json(run_dir / "run.json")["stages"]] == [
        1,
        2,
    ]


EARLY = STAGED.replace(
    '  - {type: ModelCheckpoint, filepath: "ckpt/e{epoch}.keras"}',
    "  - {type: EarlyStopping, monitor: val_loss, patience: 1, min_delta: 100}",
).replace("fit: {epochs: 3}", "fit: {epochs: 6}")


@pytest.mark.keras
def test_a_stage_cut_short_by_early_stopping_goes_on_to_the_next(
    tmp_path: Path,
) -> None:
    # min_delta 100: val_loss never improves, so each stage stops after two
    # epochs; Keras resets EarlyStopping as each fit begins, as in a script.
    result = train_config(write(tmp_path, EARLY), tmp_path / "runs")
    run_dir = Path(result.run_dir)
    assert read_json(run_dir / "history.json")["stage"] == ["frozen"] * 2 + ["fine"] * 2
    stages = read_json(run_dir / "run.json")["stages"]
    assert [(s["first_epoch"], s["last_epoch"]) for s in stages] == [(1, 2), (3, 4)]
    assert "EarlyStopping" in stages[0]["stop_reason"]
    assert result.status == "stopped_early"
    assert "stopped at epoch 4" in result.record.stop_reason


# --- validate ----------------------------------------------------------------


def validate(path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["validate", str(path), *args])


def test_validate_names_an_unknown_layer_with_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path, STAGED.replace("{hidden: false}", "{hiden: false}"))
    result = validate(path)
    assert result.exit_code == 1
    line = STAGED.splitlines().index("    trainable: {hidden: false}") + 1
    assert (
        f"{path}:{line}:17: stages[0].trainable.hiden: no layer is named "
        "'hiden'; layers named: hidden, out; did you mean 'hidden'?"
    ) in result.output


def test_validate_places_a_bad_override_at_its_line(tmp_path: Path) -> None:
    text = STAGED.replace("learning_rate: 1.0e-4", "learning_rate: -1.0")
    path = write(tmp_path, text)
    result = validate(path)
    assert result.exit_code == 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "-1.0" in t)
    assert (
        f"{path}:{line}:54: stages[1].compile.optimizer.learning_rate: "
        "learning_rate must be > 0, got -1.0"
    ) in result.output


def test_validate_refuses_a_fit_key_fixed_for_the_run(tmp_path: Path) -> None:
    text = STAGED.replace("fit: {epochs: 3}", "fit: {epochs: 3, validation_split: 0.5}")
    path = write(tmp_path, text)
    result = validate(path)
    assert result.exit_code == 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "0.5}" in t)
    assert (
        f"{path}:{line}:22: stages[0].fit.validation_split: a stage cannot change "
        "fit.validation_split: the data is split once for the whole run; set it "
        "in the top-level fit"
    ) in result.output


def test_validate_refuses_repeated_names_and_changed_metrics(tmp_path: Path) -> None:
    text = STAGED.replace("name: fine", "name: frozen").replace(
        "learning_rate: 1.0e-4}}", "learning_rate: 1.0e-4}, metrics: [mae]}"
    )
    result = validate(write(tmp_path, text))
    assert result.exit_code == 1
    assert "stages[1].name: stage name 'frozen' is used twice" in result.output
    assert "a stage cannot change compile.metrics" in result.output


def test_a_resolved_config_keeps_only_the_stage_overrides(tmp_path: Path) -> None:
    from cbrun.config.loading import load_mapping
    from cbrun.training.records import resolved_data

    loaded = load_config(write(tmp_path, STAGED))
    resolved = resolved_data(loaded.experiment)
    assert resolved["stages"][1]["compile"] == {
        "optimizer": {"type": "Adam", "learning_rate": 1e-4}
    }
    assert resolved["stages"][0]["fit"] == {"epochs": 3}
    assert load_mapping(resolved).experiment.stages == loaded.experiment.stages


@pytest.mark.keras
def test_deep_checks_the_layer_names_of_a_saved_model(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="head", activation="softmax")]
    )
    model.save(tmp_path / "saved.keras")
    text = STAGED.replace(
        """\
  layers:
    - {name: hidden, type: Dense, units: 8, activation: relu}
    - {name: out, type: Dense, units: 3, activation: softmax}""",
        "  path: saved.keras",
    ).replace("{hidden: true}", "{heads: true}")
    text = text.replace("{hidden: false}", "{head: false}")
    path = write(tmp_path, text)
    assert validate(path).exit_code == 0  # names known only once built
    result = validate(path, "--deep")
    assert result.exit_code == 1
    assert (
        "stages[1].trainable.heads: no layer is named 'heads'; layers "
        "named: head; did you mean 'head'?"
    ) in result.output
    # A stage's optimizer is built too: what Keras refuses fails here.
    text = text.replace("{heads: true}", "{head: true}").replace(
        "learning_rate: 1.0e-4}", "learning_rate: 1.0e-4, beta_one: 0.8}"
    )
    result = validate(write(tmp_path, text), "--deep")
    assert result.exit_code == 1
    assert "stages[1].compile.optimizer" in result.output
    assert "beta_one" in result.output


# --- where a resumed run continues (run.json's records, no TensorFlow) --------


def records(*rows: tuple[str, int, int, int | None]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "epochs": epochs,
            "first_epoch": first,
            "last_epoch": last,
            "stop_reason": None,
        }
        for name, epochs, first, last in rows
    ]


def test_a_run_killed_inside_stage_two_continues_there() -> None:
    saved = records(("a", 3, 1, 3), ("b", 5, 4, None))
    start = start_point(saved, 6, 2)
    assert (start.stage, start.stage_start, start.epoch) == (1, 3, 6)
    assert start.restore_in is None
    assert start.records == [StageRecord("a", 3, 1, 3)]
    assert stage_names(saved, 6) == ["a"] * 3 + ["b"] * 3


def test_a_backup_from_the_end_of_stage_one_restores_there_first() -> None:
    # Killed in stage two before its first backup: the backup holds epoch 3,
    # saved with stage one's optimizer; stage two begins afresh after it.
    start = start_point(records(("a", 3, 1, 3), ("b", 5, 4, None)), 3, 2)
    assert (start.stage, start.stage_start, start.restore_in) == (1, 3, 0)
    # Killed between the two stages (stage two not begun): the same.
    start = start_point(records(("a", 3, 1, 3)), 3, 2)
    assert (start.stage, start.stage_start, start.restore_in) == (1, 3, 0)


def test_a_backup_older_than_the_end_of_stage_one_continues_stage_one() -> None:
    # Backups are throttled: stage one ended at 3 (cut short by
    # EarlyStopping), the last backup is of epoch 2.
    saved = records(("a", 6, 1, 3), ("b", 5, 4, 5))
    start = start_point(saved, 2, 2)
    assert (start.stage, start.stage_start, start.restore_in) == (0, 0, None)
    assert start.records == []
    assert stage_names(saved, 2) == ["a", "a"]


def test_a_run_that_ended_every_stage_only_restores() -> None:
    start = start_point(records(("a", 3, 1, 3), ("b", 2, 4, 5)), 5, 2)
    assert (start.stage, start.restore_in) == (2, 1)


@pytest.mark.keras
def test_a_run_stopped_after_its_last_stage_resumes_in_that_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while evaluating: the backup holds the last epoch; --resume
    restores it in the last stage's setup (a fit of no epoch), then saves."""
    import keras

    import cbrun.training.lifecycle as lifecycle
    from cbrun.training.resume import prepare_resume
    from cbrun.training.signals import Interrupted

    real = lifecycle._Run._evaluate

    def signalled(self: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)
        return real(self)

    monkeypatch.setattr(lifecycle._Run, "_evaluate", signalled)
    path = write(tmp_path, STAGED)
    with pytest.raises(Interrupted):
        train_config(path, tmp_path / "runs")
    monkeypatch.setattr(lifecycle._Run, "_evaluate", real)
    (run_dir,) = (tmp_path / "runs" / "staged").iterdir()
    record = read_json(run_dir / "run.json")
    assert (record["status"], record["backup_epoch"]) == ("interrupted", 5)
    stopped = keras.saving.load_model(run_dir / "model.keras")

    loaded, resume = prepare_resume(run_dir, ())
    result = lifecycle.train(
        loaded,
        tmp_path / "runs",
        command=["resume"],
        resume=resume,
        echo=lambda line: None,
    )
    assert result.status == "completed"
    assert read_json(run_dir / "history.json")["stage"] == ["frozen"] * 3 + ["fine"] * 2
    assert [s["last_epoch"] for s in read_json(run_dir / "run.json")["stages"]] == [
        3,
        5,
    ]
    resumed = keras.saving.load_model(run_dir / "model.keras")
    assert resumed.get_layer("hidden").trainable
    assert float(resumed.optimizer.learning_rate) == pytest.approx(1e-4)
    assert int(resumed.optimizer.iterations) == int(stopped.optimizer.iterations)
    for a, b in zip(stopped.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# --- a real kill inside stage two, then --resume ------------------------------

SLOW_STAGED = """\
name: slow_staged
data: {source: sklearn, name: digits, scale: 0.0625}
model:
  layers:
    - {name: hidden, type: Dense, units: 64, activation: relu}
    - {name: out, type: Dense, units: 10, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.001}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 1, batch_size: 4, validation_split: 0.1, verbose: 0, shuffle: false}
stages:
  - name: head
    trainable: {hidden: false}
  - name: all
    trainable: {hidden: true}
    compile: {optimizer: {type: Adam, learning_rate: 2.0e-4}}
    fit: {epochs: 20}
"""


@pytest.mark.slow
@pytest.mark.keras
def test_a_run_killed_in_stage_two_resumes_inside_it(tmp_path: Path) -> None:
    import keras

    config = write(tmp_path, SLOW_STAGED)
    runs_dir = tmp_path / "runs"
    process = start_cbrun("train", str(config), "--runs-dir", str(runs_dir))
    try:
        # A backup of an epoch of stage two (backups are throttled).
        run_dir, _ = wait_for_record(
            runs_dir,
            "*/*/run.json",
            process,
            lambda record: (record.get("backup_epoch") or 0) >= 3,
            "no backup inside stage two",
        )
    finally:
        process.kill()
        process.communicate()
    metadata = read_json(run_dir / "backup" / "training_metadata.json")
    done = metadata["epoch"]
    assert 3 <= done < 21, "the run ended before the kill; make it slower"

    resumed = start_cbrun("train", "--resume", str(run_dir))
    _, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err
    assert f"resuming after epoch {done}" in err
    record = read_json(run_dir / "run.json")
    assert record["status"] == "completed"
    assert record["epochs_run"] == 21
    assert record["resumes"][0]["from_epoch"] == done
    assert [
        (s["name"], s["first_epoch"], s["last_epoch"]) for s in record["stages"]
    ] == [
        ("head", 1, 1),
        ("all", 2, 21),
    ]
    history = read_json(run_dir / "history.json")
    assert history["stage"] == ["head"] + ["all"] * 20
    assert {len(v) for k, v in history.items() if k != "stage"} == {21}
    # Stage two's setup after the resume: the layer trainable, its own rate,
    # and the optimizer's steps counted on from the backup's (not from 0).
    model = keras.saving.load_model(run_dir / "model.keras")
    assert model.get_layer("hidden").trainable
    assert float(model.optimizer.learning_rate) == pytest.approx(2e-4)
    samples = int(re.search(r"(\d+) train", err).group(1))  # type: ignore[union-attr]
    steps = math.ceil(training_samples(samples, 0.1) / 4)
    assert int(model.optimizer.iterations) == 20 * steps
