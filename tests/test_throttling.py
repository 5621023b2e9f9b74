"""Backups and per-epoch records that cost at most a share of training time.

- :class:`CostBudget` on a hand-driven clock: first use, estimates, the
  share, ``None`` for "always".
- ``ThrottledBackupAndRestore`` on real tiny Keras fits: every epoch without a
  budget, none on short epochs under the default budget (the estimate keeps
  even the first save from costing more than its share), every epoch when
  epochs are long; the backup restores the weights it saved.
- ``RunRecorder`` writes after the first epoch, after every backed-up epoch
  and when the budget allows, and keeps every epoch in memory.
- ``cbrun train --resume`` of a run stopped before its first backup starts
  again from epoch 1.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.keras.budget import CostBudget
from cbrun.runs import manifest as runs
from tests.conftest import MINIMAL


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_allows_a_first_use_without_estimate_then_follows_the_share():
    clock = Clock()
    budget = CostBudget(0.01, clock=clock)
    assert budget.allows()
    with budget.spend():
        clock.now += 0.02  # the work took 20 ms
    assert budget.last_cost == pytest.approx(0.02)
    clock.now += 1.9
    assert not budget.allows()  # 20 ms > 1 % of 1.9 s
    clock.now += 0.2
    assert budget.allows()  # 20 ms <= 1 % of 2.1 s


def test_budget_uses_the_estimate_until_the_first_use():
    clock = Clock()
    budget = CostBudget(0.005, clock=clock)
    clock.now += 1.0
    assert not budget.allows(estimate=0.015)  # needs 3 s
    clock.now += 2.5
    assert budget.allows(estimate=0.015)
    budget.restart()
    assert not budget.allows(estimate=0.015)


def test_budget_none_always_allows():
    budget = CostBudget(None, clock=Clock())
    with budget.spend():
        pass
    assert budget.allows(estimate=1e9)


# --- real Keras ---------------------------------------------------------------

keras_tests = pytest.mark.keras


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


def tiny_fit(keras, callbacks, epochs=3, sleep=0.0):
    """Fit a tiny model; ``sleep`` seconds are added to every epoch."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x[:, :3]
    slow = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: time.sleep(sleep))
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[slow, *callbacks])
    return model, x


@keras_tests
def test_backup_without_budget_saves_every_epoch(keras, tmp_path):
    from cbrun.keras.backup import ThrottledBackupAndRestore

    backup = ThrottledBackupAndRestore(
        str(tmp_path), max_share=None, delete_checkpoint=False
    )
    model, x = tiny_fit(keras, [backup], epochs=3)
    assert backup.saved_epoch == 3
    metadata = json.loads((tmp_path / "training_metadata.json").read_text())
    assert metadata["epoch"] == 3
    restored = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    restored.load_weights(tmp_path / "latest.weights.h5")
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0)
    )


@keras_tests
def test_backup_budget_skips_even_the_first_save_on_short_epochs(keras, tmp_path):
    from cbrun.keras.backup import ThrottledBackupAndRestore, estimated_save_seconds

    backup = ThrottledBackupAndRestore(str(tmp_path / "backup"), max_share=0.005)
    model, _ = tiny_fit(keras, [backup], epochs=3)
    # ~15 ms estimated at 0.5 % needs 3 s of training; three tiny epochs
    # take well under that.
    assert estimated_save_seconds(model) > 0.015
    assert backup.saved_epoch is None
    assert not (tmp_path / "backup" / "latest.weights.h5").exists()


@keras_tests
def test_backup_budget_saves_every_long_epoch(keras, tmp_path):
    from cbrun.keras.backup import ThrottledBackupAndRestore

    saved = []
    backup = ThrottledBackupAndRestore(str(tmp_path), max_share=0.5)
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: saved.append(backup.saved_epoch)
    )
    tiny_fit(keras, [backup, record], epochs=3, sleep=0.2)
    assert saved == [1, 2, 3]


@keras_tests
def test_recorder_writes_first_epoch_backed_up_epochs_and_keeps_all(keras, tmp_path):
    from cbrun.keras.backup import ThrottledBackupAndRestore
    from cbrun.keras.recorder import RunRecorder

    def recorder(backup):
        calls: list[int] = []
        return calls, RunRecorder(
            "loss",
            False,
            lambda epochs, history, best: calls.append(epochs),
            backup=backup,
            share=1e-9,  # never affordable after the first write
        )

    alone_calls, alone = recorder(None)
    backup = ThrottledBackupAndRestore(str(tmp_path), max_share=None)
    following_calls, following = recorder(backup)
    tiny_fit(keras, [alone], epochs=4)
    tiny_fit(keras, [backup, following], epochs=4)
    assert alone_calls == [1, 4]  # the first epoch, then at the end of training
    assert following_calls == [1, 2, 3, 4]
    assert len(alone.history["loss"]) == 4
    assert alone.best is not None and alone.best["epoch"] >= 1

    free_calls, free = recorder(None)
    free.budget = CostBudget(None)
    tiny_fit(keras, [free], epochs=3)
    assert free_calls == [1, 2, 3]


@keras_tests
@pytest.mark.slow
def test_resume_before_the_first_backup_starts_again(tmp_path):
    run_dir = tmp_path / "runs" / "config" / "20261126-120000"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(MINIMAL)
    manifest = runs.RunManifest(run_dir)
    manifest.start("config", str(tmp_path / "config.yaml"), 42, ["cbrun", "train"])
    manifest.update(epochs_run=1, pid=None)  # killed before any backup
    runs.write_history(run_dir, {"loss": [1.0]})

    result = CliRunner().invoke(cli, ["train", "--resume", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "no backup was written in its 1 epochs" in result.stderr
    assert "training starts again from epoch 1" in result.stderr
    record = runs.load_record(run_dir)
    assert record.status == runs.COMPLETED
    assert record.epochs_run == 2
    assert record.resumes[0]["from_epoch"] == 0
    assert {len(v) for v in runs.load_history(run_dir).values()} == {2}


def test_a_resumed_history_shorter_than_the_backup_is_padded_with_nan():
    from cbrun.training.resume import _cut_history

    cut = _cut_history({"loss": [1.0, 0.5], "val_loss": [1.0, None, 0.2]}, 3)
    assert cut["val_loss"][:1] == [1.0] and cut["val_loss"][2] == 0.2
    assert cut["loss"][:2] == [1.0, 0.5]
    assert all(np.isnan(v) for v in (cut["loss"][2], cut["val_loss"][1]))


@keras_tests
def test_tf_data_feed_weighs_classes_left_out_of_class_weight_by_one(keras):
    from types import SimpleNamespace

    from cbrun.keras.feeding import as_datasets

    x = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
    y = np.arange(60) % 3
    data = SimpleNamespace(x_train=x, y_train=y, x_test=None, y_test=None)
    feed = as_datasets(data, batch_size=8, class_weight={0: 2.0}, seed=0)
    assert feed.class_weight == {0: 2.0, 1: 1.0, 2: 1.0}
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # Keras's dataset path gathers weights from a table up to the largest key:
    # without the filled-in map, labels 1 and 2 would fail here.
    history = model.fit(feed.train, epochs=1, verbose=0, class_weight=feed.class_weight)
    assert np.isfinite(history.history["loss"][0])
