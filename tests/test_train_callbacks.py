"""`cbrun train` fires every tutorial callback for real and each leaves its evidence.

Real Keras on tiny data (iris, wine, digits), in this one pytest process. One
module-scoped run with TensorBoard, CSVLogger, two ModelCheckpoints, two
RemoteMonitors (against a real HTTP server on 127.0.0.1), a LambdaCallback, a
prediction-recording callback, TerminateOnNaN, ProgbarLogger and History is
examined by several tests; the learning-rate callbacks, BaseLogger, the custom
callback class, TerminateOnNaN's stop and ``load_weights_on_restart`` get small
runs of their own.

User code named by the configs lives in ``tests/user_code/hooks.py``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest

from cbrun.config.loading import load_config
from cbrun.runs.manifest import load_history, load_record
from tests.http_sink import Post, http_sink

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CONFIGS = REPO / "configs"
# The configs name `user_code.hooks:...`; cbrun imports it from sys.path.
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

HOOK_LOG_ENV = "CBRUN_TEST_HOOK_LOG"

pytestmark = [pytest.mark.slow, pytest.mark.keras]

IRIS_MODEL = """\
model:
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, units: 3, activation: softmax}
"""


@dataclass
class Run:
    """One finished cbrun run and what it printed."""

    result: Any
    lines: list[str] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return Path(self.result.run_dir)

    @property
    def history(self) -> dict[str, list[float]]:
        return self.result.history


def train_config(
    folder: Path,
    text: str,
    overrides: Sequence[str] = (),
    name: str = "config.yaml",
    runs_dir: Path | None = None,
) -> Run:
    """Write ``text`` as a config in ``folder`` and train it with cbrun, in-process."""
    from cbrun.training.lifecycle import train

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    lines: list[str] = []
    result = train(
        load_config(path, overrides),
        runs_dir or folder / "runs",
        command=["cbrun", "train", str(path)],
        echo=lines.append,
    )
    return Run(result, lines)


def train_file(path: Path, runs_dir: Path, overrides: Sequence[str] = ()) -> Run:
    """Train an existing config file with cbrun, in-process."""
    from cbrun.training.lifecycle import train

    lines: list[str] = []
    result = train(
        load_config(path, overrides),
        runs_dir,
        command=["cbrun", "train", str(path)],
        echo=lines.append,
    )
    return Run(result, lines)


def iris_model() -> Any:
    """The model of IRIS_MODEL, built by hand (for load_weights)."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def assert_close(
    actual: Sequence[float], expected: Sequence[float], rel: float
) -> None:
    assert len(actual) == len(expected), (actual, expected)
    for a, e in zip(actual, expected, strict=True):
        assert math.isclose(a, e, rel_tol=rel, abs_tol=0.0), (actual, expected)


# --- A real HTTP server for RemoteMonitor ------------------------------------


@pytest.fixture(scope="module")
def http_server() -> Iterator[ThreadingHTTPServer]:
    with http_sink() as server:
        yield server


# --- One run with most callbacks, examined by several tests ------------------

EPOCHS = 4
TRAIN_BATCHES = 6  # iris: 120 train samples, 96 after validation_split 0.2, /16


@dataclass
class MainRun:
    run: Run
    posts: list[Post]
    hook_events: list[dict[str, Any]]
    predictions: dict[str, np.ndarray]
    config_path: Path


@pytest.fixture(scope="module")
def main_run(tmp_path_factory, http_server) -> MainRun:
    folder = tmp_path_factory.mktemp("callbacks")
    hook_log = folder / "hooks.jsonl"
    predictions = folder / "predictions.npz"
    port = http_server.server_address[1]
    text = f"""\
        name: callbacks
        seed: 7
        data: {{source: sklearn, name: iris}}
        {textwrap.indent(IRIS_MODEL, "        ").strip()}
        compile:
          optimizer: {{type: Adam, learning_rate: 0.01}}
          loss: sparse_categorical_crossentropy
          metrics: [accuracy]
        fit: {{epochs: {EPOCHS}, batch_size: 16, validation_split: 0.2, verbose: 0}}
        callbacks:
          - {{type: TensorBoard, log_dir: tensorboard}}
          - {{type: CSVLogger, filename: logs/csv/log.csv}}
          - type: ModelCheckpoint
            filepath: "checkpoints/weights.{{epoch:02d}}-{{val_loss:.2f}}.weights.h5"
            save_weights_only: true
          - type: ModelCheckpoint
            filepath: "checkpoints/model.{{epoch:02d}}.keras"
            period: 2
          - type: RemoteMonitor
            root: "http://127.0.0.1:{port}"
            path: /publish/epoch/end/
            send_as_json: true
          - type: RemoteMonitor
            root: "http://127.0.0.1:{port}"
            path: /form/
            field: payload
            headers: {{X-Run: cbrun-test}}
          - type: LambdaCallback
            on_train_begin: user_code.hooks:on_train_begin
            on_epoch_begin: user_code.hooks:on_epoch_begin
            on_epoch_end: user_code.hooks:on_epoch_end
            on_train_batch_end: user_code.hooks:on_train_batch_end
            on_train_end: user_code.hooks:on_train_end
          - {{type: "user_code.hooks:PredictionsPerEpoch", path: "{predictions}"}}
          - {{type: TerminateOnNaN}}
          - {{type: ProgbarLogger}}
          - {{type: History}}
        """
    os.environ[HOOK_LOG_ENV] = str(hook_log)
    try:
        run = train_config(folder, text)
    finally:
        os.environ.pop(HOOK_LOG_ENV, None)
    events = [json.loads(line) for line in hook_log.read_text().splitlines()]
    with np.load(predictions) as saved:
        arrays = {key: saved[key] for key in saved.files}
    return MainRun(
        run,
        list(http_server.posts),
        events,
        arrays,
        folder / "config.yaml",
    )


def test_main_run_completes_all_epochs(main_run):
    run = main_run.run
    assert run.result.status == "completed"
    assert len(run.history["loss"]) == EPOCHS
    assert set(run.history) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
    }


def test_remote_monitor_json_posts_reach_a_real_server(main_run):
    posts = [p for p in main_run.posts if p.path == "/publish/epoch/end/"]
    assert len(posts) == EPOCHS
    bodies = [json.loads(p.body) for p in posts]
    assert [b["epoch"] for b in bodies] == list(range(EPOCHS))
    assert all(p.headers["Content-Type"] == "application/json" for p in posts)
    history = main_run.run.history
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert_close([b[key] for b in bodies], history[key], rel=1e-7)


def test_remote_monitor_form_posts_use_field_and_headers(main_run):
    posts = [p for p in main_run.posts if p.path == "/form/"]
    assert len(posts) == EPOCHS
    for epoch, post in enumerate(posts):
        assert post.headers["X-Run"] == "cbrun-test"
        form = parse_qs(post.body.decode())
        assert list(form) == ["payload"]
        sent = json.loads(form["payload"][0])
        assert sent["epoch"] == epoch
        assert math.isclose(
            sent["loss"], main_run.run.history["loss"][epoch], rel_tol=1e-7
        )


def _tensorboard_values(folder: Path, tag: str) -> list[float]:
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    assert tag in accumulator.Tags()["tensors"], accumulator.Tags()
    events = accumulator.Tensors(tag)
    assert [e.step for e in events] == list(range(len(events)))
    return [float(tf.make_ndarray(e.tensor_proto)) for e in events]


def test_tensorboard_event_files_hold_the_loss(main_run):
    log_dir = main_run.run.run_dir / "tensorboard"
    history = main_run.run.history
    assert_close(
        _tensorboard_values(log_dir / "train", "epoch_loss"), history["loss"], 1e-6
    )
    assert_close(
        _tensorboard_values(log_dir / "validation", "epoch_loss"),
        history["val_loss"],
        1e-6,
    )
    assert_close(
        _tensorboard_values(log_dir / "train", "epoch_accuracy"),
        history["accuracy"],
        1e-6,
    )


def test_csv_logger_writes_one_row_per_epoch_in_a_folder_cbrun_created(main_run):
    path = main_run.run.run_dir / "logs" / "csv" / "log.csv"
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    history = main_run.run.history
    assert set(rows[0]) == {"epoch", *history}
    for key, values in history.items():
        assert_close([float(r[key]) for r in rows], values, 1e-7)


def test_weights_checkpoints_load_back_to_the_predictions_of_the_model_that_saved_them(
    main_run,
):
    folder = main_run.run.run_dir / "checkpoints"
    val_loss = main_run.run.history["val_loss"]
    expected_names = [
        f"weights.{epoch:02d}-{val_loss[epoch - 1]:.2f}.weights.h5"
        for epoch in range(1, EPOCHS + 1)
    ]
    assert sorted(p.name for p in folder.glob("*.weights.h5")) == expected_names
    x = main_run.predictions["x"]
    for epoch, name in enumerate(expected_names, start=1):
        model = iris_model()
        model.load_weights(folder / name)
        np.testing.assert_allclose(
            model.predict(x, verbose=0),
            main_run.predictions[f"epoch_{epoch}"],
            rtol=0,
            atol=1e-6,
        )
    # The epochs differ: the comparison above is not vacuous.
    assert not np.allclose(
        main_run.predictions["epoch_1"], main_run.predictions["epoch_4"]
    )


def test_model_checkpoint_period_2_saves_only_at_epochs_2_and_4(main_run):
    import keras

    folder = main_run.run.run_dir / "checkpoints"
    assert sorted(p.name for p in folder.glob("*.keras")) == [
        "model.02.keras",
        "model.04.keras",
    ]
    x = main_run.predictions["x"]
    for epoch in (2, 4):
        model = keras.saving.load_model(folder / f"model.{epoch:02d}.keras")
        np.testing.assert_allclose(
            model.predict(x, verbose=0),
            main_run.predictions[f"epoch_{epoch}"],
            rtol=0,
            atol=1e-6,
        )


def test_run_model_keras_is_the_trained_model(main_run):
    import keras

    model = keras.saving.load_model(main_run.run.run_dir / "model.keras")
    np.testing.assert_allclose(
        model.predict(main_run.predictions["x"], verbose=0),
        main_run.predictions[f"epoch_{EPOCHS}"],
        rtol=0,
        atol=1e-6,
    )


def test_lambda_callback_hooks_are_imported_and_called_in_order(main_run):
    events = main_run.hook_events
    expected = ["train_begin"]
    for epoch in range(EPOCHS):
        expected += [f"epoch_begin {epoch}"]
        expected += [f"batch_end {b}" for b in range(TRAIN_BATCHES)]
        expected += [f"epoch_end {epoch}"]
    expected += ["train_end"]
    seen = [
        " ".join(str(e[k]) for k in ("event", "epoch", "batch") if k in e)
        for e in events
    ]
    assert seen == expected
    epoch_logs = [e["logs"] for e in events if e["event"] == "epoch_end"]
    assert_close(
        [logs["loss"] for logs in epoch_logs], main_run.run.history["loss"], 1e-7
    )


def test_history_json_and_run_json_record_the_run(main_run):
    import keras

    run = main_run.run
    history = run.history
    assert load_history(run.run_dir) == history
    record = load_record(run.run_dir)
    assert record.status == "completed"
    assert record.epochs_run == EPOCHS
    assert record.stop_reason == f"finished {EPOCHS} epochs"
    assert record.error is None
    assert record.ended_at is not None
    assert record.seed == 7
    assert record.versions["keras"] == keras.__version__
    assert record.command[:2] == ["cbrun", "train"]
    # ModelCheckpoint's monitor (val_loss, lower is better) is the monitored value.
    best = min(history["val_loss"])
    assert record.best == {
        "monitor": "val_loss",
        "value": best,
        "epoch": history["val_loss"].index(best) + 1,
    }
    assert set(record.test_metrics or {}) == {"loss", "accuracy"}
    assert all(math.isfinite(v) for v in (record.test_metrics or {}).values())
    assert (run.run_dir / "model.keras").is_file()


def test_cbrun_lines_say_where_the_run_is_and_how_it_ended(main_run):
    lines = main_run.run.lines
    run_dir = main_run.run.run_dir
    assert lines[0] == f"run dir: {run_dir}"
    assert f"finished {EPOCHS} epochs" in lines
    assert any(line.startswith("best val_loss: ") for line in lines)
    assert any(line.startswith("test: ") for line in lines)
    assert lines[-2].startswith(f"files: {run_dir}")
    # The run has a TensorBoard callback: the last line says how to view it.
    assert lines[-1] == f"view it: tensorboard --logdir {run_dir / 'tensorboard'}"


def test_resolved_config_in_the_run_dir_validates_again(main_run):
    original = load_config(main_run.config_path)
    again = load_config(main_run.run.run_dir / "config.yaml")
    assert again.experiment.model_dump() == original.experiment.model_dump()
    # Defaults are filled in: the file is the resolved config, not a copy.
    text = (main_run.run.run_dir / "config.yaml").read_text()
    assert "save_best_only: false" in text
    assert "write_graph: true" in text


# --- Learning rate callbacks ---------------------------------------------------


def _iris_config(
    callbacks: str, epochs: int, optimizer: str = "adam", fit_extra: str = ""
) -> str:
    return (
        textwrap.dedent(
            """\
            seed: 1
            data: {source: sklearn, name: iris}
            """
        )
        + IRIS_MODEL
        + textwrap.dedent(
            f"""\
            compile:
              optimizer: {optimizer}
              loss: sparse_categorical_crossentropy
              metrics: [accuracy]
            fit: {{epochs: {epochs}, batch_size: 64, verbose: 0{fit_extra}}}
            callbacks:
            """
        )
        + textwrap.indent(textwrap.dedent(callbacks), "  ")
    )


def test_learning_rate_scheduler_follows_the_tutorial_expression(tmp_path):
    schedule = "0.001 if epoch < 10 else 0.001 * exp(0.1 * (10 - epoch))"
    run = train_config(
        tmp_path,
        _iris_config(
            f'- {{type: LearningRateScheduler, schedule: "{schedule}"}}\n',
            epochs=14,
            optimizer="{type: Adam, learning_rate: 0.5}",
            fit_extra=", validation_data: test",
        ),
    )
    expected = [
        0.001 if epoch < 10 else 0.001 * math.exp(0.1 * (10 - epoch))
        for epoch in range(14)
    ]
    # Keras logs the float32 learning rate.
    assert_close(run.history["learning_rate"], expected, rel=1e-7)
    assert load_history(run.run_dir)["learning_rate"] == run.history["learning_rate"]
    # validation_data: test validates on the test split, which is evaluated after
    # fit with the same weights: the last val_loss is the test loss.
    test_metrics = load_record(run.run_dir).test_metrics or {}
    assert math.isclose(test_metrics["loss"], run.history["val_loss"][-1], rel_tol=1e-6)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        pytest.param(
            "{function: user_code.hooks:halving_schedule}",
            [0.01 * 0.5**e for e in range(4)],
            id="import-path",
        ),
        pytest.param(
            '"lr if epoch < 2 else lr * 0.1"',
            [0.02, 0.02, 0.002, 0.0002],
            id="expression-of-lr",
        ),
    ],
)
def test_learning_rate_scheduler_function_or_lr_expression(
    tmp_path, schedule, expected
):
    run = train_config(
        tmp_path,
        _iris_config(
            f"- {{type: LearningRateScheduler, schedule: {schedule}}}\n",
            epochs=4,
            optimizer="{type: Adam, learning_rate: 0.02}",
        ),
    )
    assert_close(run.history["learning_rate"], expected, rel=1e-7)


def test_reduce_lr_on_plateau_reduces_the_learning_rate(tmp_path):
    # min_delta 100: no epoch after the first improves, so with patience 1 the
    # rate halves after every epoch from the second on, down to min_lr.
    run = train_config(
        tmp_path,
        _iris_config(
            "- {type: ReduceLROnPlateau, monitor: loss, factor: 0.5, patience: 1,"
            " min_delta: 100, min_lr: 0.001}\n",
            epochs=6,
            optimizer="{type: Adam, learning_rate: 0.01}",
        ),
    )
    assert_close(
        run.history["learning_rate"],
        [0.01, 0.01, 0.005, 0.0025, 0.00125, 0.001],
        rel=1e-7,
    )


# --- BaseLogger ----------------------------------------------------------------


def _keras_train_size(samples: int, validation_split: float) -> int:
    """Training samples after Keras's validation_split (array_slicing.py)."""
    return math.floor(samples * (1.0 - validation_split))


def _weighted_epoch_means(
    batches: list[dict[str, float]], train_size: int, batch_size: int, key: str
) -> float:
    sizes = [min(batch_size, train_size - i * batch_size) for i in range(len(batches))]
    assert sum(sizes) == train_size
    return sum(s * b[key] for s, b in zip(sizes, batches, strict=True)) / train_size


def _base_logger_run(
    folder: Path, dataset: str, validation_split: float, batch_size: int
):
    recorded = folder / "batches.json"
    text = f"""\
        seed: 3
        data: {{source: sklearn, name: {dataset}, scale: 0.01}}
        model:
          layers:
            - {{type: Dense, units: 8, activation: relu}}
            - {{type: Dense, units: 3, activation: softmax}}
        compile:
          optimizer: {{type: Adam, learning_rate: 0.01}}
          loss: sparse_categorical_crossentropy
          metrics: [accuracy]
        fit:
          epochs: 2
          batch_size: {batch_size}
          validation_split: {validation_split}
          verbose: 0
        callbacks:
          - {{type: "user_code.hooks:BatchLogRecorder", path: "{recorded}"}}
          - {{type: CSVLogger, filename: log.csv}}
          - {{type: BaseLogger, stateful_metrics: [accuracy]}}
        """
    run = train_config(folder, text)
    return run, json.loads(recorded.read_text())


@pytest.fixture(scope="module")
def base_logger_run(tmp_path_factory):
    # iris: 120 train samples, 96 after the split: batches of 20,20,20,20,16.
    return _base_logger_run(tmp_path_factory.mktemp("baselogger"), "iris", 0.2, 20)


def test_base_logger_epoch_values_are_batch_size_weighted_means(base_logger_run):
    run, recorded = base_logger_run
    train_size = _keras_train_size(120, 0.2)
    for epoch, batches in enumerate(recorded["batches"]):
        assert len(batches) == 5
        expected = _weighted_epoch_means(batches, train_size, 20, "loss")
        assert math.isclose(run.history["loss"][epoch], expected, rel_tol=1e-9)
        # Weighting matters here: the plain mean of the batch values differs.
        plain = sum(b["loss"] for b in batches) / len(batches)
        assert not math.isclose(expected, plain, rel_tol=1e-9)


def test_base_logger_stateful_metrics_take_the_last_batch_value(base_logger_run):
    run, recorded = base_logger_run
    for epoch, batches in enumerate(recorded["batches"]):
        assert run.history["accuracy"][epoch] == batches[-1]["accuracy"]
    # Validation values are not batch logs: Keras's own numbers stay.
    assert run.history["val_loss"] == [e["val_loss"] for e in recorded["epochs"]]


def test_base_logger_weights_follow_keras_validation_split(tmp_path):
    # wine: 142 train samples; Keras keeps floor(142 * 0.8) = 113 for training,
    # batches of 16 x 7 and a last batch of 1 (cbrun assumes 114, so 2).
    run, recorded = _base_logger_run(tmp_path, "wine", 0.2, 16)
    train_size = _keras_train_size(142, 0.2)
    assert train_size == 113
    for epoch, batches in enumerate(recorded["batches"]):
        assert len(batches) == 8
        expected = _weighted_epoch_means(batches, train_size, 16, "loss")
        assert math.isclose(run.history["loss"][epoch], expected, rel_tol=1e-9)


def test_callbacks_listed_before_base_logger_log_the_same_values_as_history(
    base_logger_run,
):
    run, _ = base_logger_run
    with (run.run_dir / "log.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert_close([float(r["loss"]) for r in rows], run.history["loss"], 1e-7)


# --- A custom Callback subclass -------------------------------------------------


def test_custom_callback_class_from_the_shipped_config_stops_training(tmp_path):
    run = train_file(
        CONFIGS / "custom_callback.yaml",
        tmp_path / "runs",
        ["fit.verbose=0", "callbacks.0.target=0.9"],
    )
    accuracy = run.history["accuracy"]
    assert accuracy[-1] >= 0.9
    assert all(value < 0.9 for value in accuracy[:-1])
    assert len(accuracy) < 50
    record = load_record(run.run_dir)
    assert record.status == "stopped_early"
    assert record.epochs_run == len(accuracy)
    assert str(len(accuracy)) in (record.stop_reason or "")


# --- TerminateOnNaN --------------------------------------------------------------


def test_terminate_on_nan_records_terminated_nan(tmp_path):
    from cbrun.training.lifecycle import TrainingFailed

    text = _iris_config(
        "- {type: TerminateOnNaN}\n",
        epochs=5,
        optimizer="{type: SGD, learning_rate: 1.0e+30}",
    )
    with pytest.raises(TrainingFailed, match="NaN"):
        train_config(tmp_path, text)
    (run_dir,) = (tmp_path / "runs" / "config").iterdir()
    record = load_record(run_dir)
    assert record.status == "terminated_nan"
    assert record.epochs_run == 1
    assert "TerminateOnNaN" in (record.stop_reason or "")
    assert record.ended_at is not None
    history = load_history(run_dir)
    assert history["loss"] == [None]  # NaN is written as null


def test_terminate_on_nan_raise_error_records_terminated_nan(tmp_path):
    from cbrun.training.lifecycle import TrainingFailed

    text = _iris_config(
        "- {type: TerminateOnNaN, raise_error: true}\n",
        epochs=5,
        optimizer="{type: SGD, learning_rate: 1.0e+30}",
    )
    with pytest.raises(TrainingFailed, match="terminated_nan"):
        train_config(tmp_path, text)
    (run_dir,) = (tmp_path / "runs" / "config").iterdir()
    record = load_record(run_dir)
    assert record.status == "terminated_nan"
    assert record.epochs_run == 0  # Keras raised inside the first epoch
    assert "NaN or Inf loss" in (record.error or "")
    assert record.ended_at is not None


# --- ModelCheckpoint load_weights_on_restart ---------------------------------------


def test_load_weights_on_restart_starts_from_the_newest_checkpoint(tmp_path):
    import keras

    checkpoints = tmp_path / "shared-checkpoints"
    text = f"""\
        seed: 5
        data: {{source: sklearn, name: iris}}
        {textwrap.indent(IRIS_MODEL, "        ").strip()}
        compile:
          optimizer: {{type: Adam, learning_rate: 0.05}}
          loss: sparse_categorical_crossentropy
        fit: {{epochs: 3, batch_size: 16, verbose: 0}}
        callbacks:
          - type: ModelCheckpoint
            filepath: "{checkpoints}/w.{{epoch:02d}}.weights.h5"
            save_weights_only: true
            load_weights_on_restart: true
          - type: "user_code.hooks:WeightsAtTrainBegin"
            path: "{tmp_path}/begin1.npz"
        """
    first = train_config(tmp_path, text)
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "w.01.weights.h5",
        "w.02.weights.h5",
        "w.03.weights.h5",
    ]
    newest = iris_model()  # the first run's last checkpoint, before run 2 rewrites it
    newest.load_weights(checkpoints / "w.03.weights.h5")
    second = train_config(
        tmp_path, text, overrides=[f"callbacks.1.path={tmp_path}/begin2.npz"]
    )

    def weights(path: Path) -> list[np.ndarray]:
        with np.load(path) as saved:
            return [saved[f"arr_{i}"] for i in range(len(saved.files))]

    final_of_first = keras.saving.load_model(first.run_dir / "model.keras")
    begin1, begin2 = weights(tmp_path / "begin1.npz"), weights(tmp_path / "begin2.npz")
    for start, saved, trained in zip(
        begin2, newest.get_weights(), final_of_first.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(start, saved)
        np.testing.assert_array_equal(start, trained)
    # The first run started from fresh weights, not from a checkpoint.
    assert not all(np.array_equal(a, b) for a, b in zip(begin1, begin2, strict=True))
    assert second.history["loss"][0] < 0.8 * first.history["loss"][0]
