"""`cbrun train` runs: parity with plain Keras, run directories, bad input, the CLI.

- cbrun's history for an EarlyStopping config equals a hand-written Keras script
  doing the same thing (same seed, split, scaling, model and fit) to 1e-6, and
  stops at the same epoch; the same config twice gives the identical history.
- Run directories are never reused: two runs of one config, and a run started
  in a second whose folder already exists, each get their own folder.
- Bad input (a CSV without the target column, an npz without the arrays, a
  last layer that does not fit the classes, user code that does not import or
  takes other parameters, an unwritable runs dir) is a domain error with a
  clear message and the config line, never a traceback.
- The real entry point, ``python -m cbrun train``, in subprocesses: exit codes
  0 / 1 (invalid config, before TensorFlow is imported) / 3 (NaN loss; an
  unwritable runs dir), Keras's progress on stdout and cbrun's lines on stderr.

User code named by the configs lives in ``tests/user_code/hooks.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cbrun.config.loading import load_config
from cbrun.errors import CbrunError, ConfigError, ExitCode
from cbrun.runs.layout import STAMP_FORMAT
from cbrun.runs.manifest import load_history, load_record

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# The configs name `user_code.hooks:...`; cbrun imports it from sys.path.
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def train_path(path: Path, runs_dir: Path, overrides: Sequence[str] = ()) -> Any:
    """Train a config file with cbrun, in-process; return the RunResult."""
    from cbrun.training.lifecycle import train

    return train(
        load_config(path, overrides),
        runs_dir,
        command=["cbrun", "train", str(path)],
        echo=lambda line: None,
    )


# --- cbrun equals plain Keras; same config twice -----------------------------

SEED = 42
EARLYSTOP = """\
    name: parity
    seed: 42
    data: {source: sklearn, name: digits, test_size: 0.2, scale: 0.0625, limit: 400}
    model:
      layers:
        - {type: Dense, units: 32, activation: relu}
        - {type: Dense, units: 10, activation: softmax}
    compile:
      optimizer: {type: Adam, learning_rate: 0.01}
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
    fit: {epochs: 500, batch_size: 32, validation_split: 0.25, verbose: 0}
    callbacks:
      - {type: EarlyStopping, monitor: val_accuracy, patience: 3}
    """
EPOCHS_OVERRIDE = "fit.epochs=60"


def hand_written_keras(feed: str = "numpy") -> tuple[dict[str, list[float]], Any]:
    """EARLYSTOP as a plain Keras script: the tutorial's way, no cbrun.

    ``feed="tf.data"``: the arrays through a tf.data pipeline as a Keras user
    writes one (the last 25 % for validation, shuffled with the seed every
    epoch, batched, prefetched).
    """
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    keras.utils.set_random_seed(SEED)
    x, y = load_digits(return_X_y=True)
    x_train, _, y_train, _ = train_test_split(
        x, y, test_size=0.2, random_state=SEED, stratify=y
    )
    x_train = x_train[:400].astype(np.float32) * np.float32(0.0625)
    y_train = y_train[:400].astype(np.int64)
    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=3)
    if feed == "tf.data":
        import tensorflow as tf

        cut = int(len(x_train) * 0.75)
        train = (
            tf.data.Dataset.from_tensor_slices((x_train[:cut], y_train[:cut]))
            .shuffle(cut, seed=SEED, reshuffle_each_iteration=True)
            .batch(32)
            .prefetch(tf.data.AUTOTUNE)
        )
        validation = tf.data.Dataset.from_tensor_slices(
            (x_train[cut:], y_train[cut:])
        ).batch(32)
        history = model.fit(
            train,
            validation_data=validation,
            epochs=60,
            verbose=0,
            shuffle=False,
            callbacks=[early_stopping],
        )
        return history.history, early_stopping
    history = model.fit(
        x_train,
        y_train,
        epochs=60,
        batch_size=32,
        validation_split=0.25,
        verbose=0,
        callbacks=[early_stopping],
    )
    return history.history, early_stopping


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity")
    path = write(folder, EARLYSTOP)
    overrides = [EPOCHS_OVERRIDE]  # the default feed: Keras-faithful
    first = train_path(path, folder / "runs", overrides)
    second = train_path(path, folder / "runs", overrides)
    keras_history, early_stopping = hand_written_keras()
    return path, first, second, keras_history, early_stopping


@pytest.mark.slow
@pytest.mark.keras
def test_feed_auto_is_tf_data_and_equals_a_hand_written_tf_data_script(tmp_path):
    from cbrun.training.lifecycle import train

    path = write(tmp_path, EARLYSTOP)
    lines: list[str] = []
    result = train(
        load_config(path, [EPOCHS_OVERRIDE, "data.feed=auto"]),
        tmp_path / "runs",
        command=["cbrun", "train", str(path)],
        echo=lines.append,
    )
    assert any("feed: tf.data (auto: 0.1 MB of training arrays)" in x for x in lines)
    keras_history, _ = hand_written_keras("tf.data")
    assert set(result.history) == set(keras_history)
    for key, values in keras_history.items():
        np.testing.assert_allclose(result.history[key], values, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
@pytest.mark.keras
def test_cbrun_history_equals_a_hand_written_keras_script(parity):
    _, first, _, keras_history, _ = parity
    assert set(first.history) == set(keras_history)
    for key, values in keras_history.items():
        np.testing.assert_allclose(first.history[key], values, rtol=1e-6, atol=1e-6)
    assert load_history(first.run_dir) == first.history


@pytest.mark.slow
@pytest.mark.keras
def test_early_stopping_stops_where_plain_keras_stops(parity):
    _, first, _, keras_history, early_stopping = parity
    stopped = early_stopping.stopped_epoch + 1
    assert 0 < stopped < 60  # it did stop early
    assert len(keras_history["loss"]) == stopped
    record = load_record(first.run_dir)
    assert record.status == "stopped_early" == first.status
    assert record.epochs_run == stopped
    reason = record.stop_reason or ""
    assert "EarlyStopping" in reason and "val_accuracy" in reason
    assert f"stopped at epoch {stopped}" in reason
    assert f"after epoch {early_stopping.best_epoch + 1}" in reason
    assert record.best == {
        "monitor": "val_accuracy",
        "value": float(early_stopping.best),
        "epoch": early_stopping.best_epoch + 1,
    }
    assert record.test_metrics is not None
    assert set(record.test_metrics) == {"loss", "accuracy"}


@pytest.mark.slow
@pytest.mark.keras
def test_same_config_twice_gives_identical_history_in_two_run_dirs(parity):
    _, first, second, _, _ = parity
    assert second.history == first.history
    assert second.run_dir != first.run_dir
    assert second.run_dir.parent == first.run_dir.parent
    assert load_record(first.run_dir).run_dir == str(first.run_dir.absolute())
    assert load_record(second.run_dir).run_dir == str(second.run_dir.absolute())


@pytest.mark.slow
@pytest.mark.keras
def test_resolved_config_yaml_is_valid_and_has_the_overrides(parity):
    path, first, _, _, _ = parity
    saved = first.run_dir / "config.yaml"
    text = saved.read_text()
    assert text.startswith(f"# Resolved from {path} with --set {EPOCHS_OVERRIDE}\n")
    again = load_config(saved)
    original = load_config(path, [EPOCHS_OVERRIDE])
    assert again.experiment.model_dump() == original.experiment.model_dump()
    assert again.experiment.fit.epochs == 60
    # Defaults are written out, e.g. EarlyStopping's min_delta and fit's shuffle.
    assert again.data["callbacks"][0]["min_delta"] == 0.0
    assert again.data["fit"]["shuffle"] is True


# --- A run never overwrites another ------------------------------------------


@pytest.mark.slow
@pytest.mark.keras
def test_a_run_in_a_second_whose_folder_exists_gets_its_own_folder(tmp_path):
    path = write(
        tmp_path,
        """\
        name: taken
        data: {source: sklearn, name: iris}
        model:
          layers:
            - {type: Dense, units: 3, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        fit: {epochs: 1, verbose: 0}
        """,
    )
    runs = tmp_path / "runs"
    # Another run already holds the folder of every second this run may start in.
    start = datetime.now()
    taken = {}
    for seconds in range(-1, 60):
        stamp = (start + timedelta(seconds=seconds)).strftime(STAMP_FORMAT)
        folder = runs / "taken" / stamp
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_text(f'"{stamp}"')
        taken[stamp] = folder
    result = train_path(path, runs)
    match = re.fullmatch(r"(\d{8}-\d{6})-1", result.run_dir.name)
    assert match, result.run_dir
    assert match.group(1) in taken
    for stamp, folder in taken.items():
        assert [p.name for p in folder.iterdir()] == ["run.json"]
        assert (folder / "run.json").read_text() == f'"{stamp}"'
    assert load_record(result.run_dir).status == "completed"


# --- Bad input: a clear message at the config line, no traceback ----------------


def config_error(path: Path, runs_dir: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        train_path(path, runs_dir)
    error = caught.value
    assert error.exit_code == ExitCode.INVALID_CONFIG
    assert [p.severity for p in error.problems] == ["error"]
    assert "Traceback" not in str(error)
    return error


def assert_no_run_recorded_or_failed(runs_dir: Path) -> None:
    """A config error leaves no run, or one whose run.json says failed."""
    for run_json in runs_dir.glob("*/*/run.json"):
        record = load_record(run_json.parent)
        assert record.status == "failed"
        assert record.error
        assert record.epochs_run == 0
        assert not (run_json.parent / "history.json").exists()


@pytest.mark.keras
def test_csv_without_the_target_column(tmp_path):
    (tmp_path / "data.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n6,5,0\n")
    path = write(
        tmp_path,
        """\
        data: {source: csv, path: data.csv, target: labels, test_size: 0.5}
        model:
          layers:
            - {type: Dense, units: 2, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        """,
    )
    error = config_error(path, tmp_path / "runs")
    (problem,) = error.problems
    assert problem.line == 1
    assert problem.where == "data.target"
    assert "data.csv has no column 'labels'" in problem.message
    assert "did you mean 'label'?" in problem.message
    assert "a, b, label" in problem.message  # the columns it has
    assert not (tmp_path / "runs").exists()


@pytest.mark.keras
def test_npz_without_the_arrays(tmp_path):
    np.savez(tmp_path / "data.npz", features=np.zeros((8, 2)), labels=np.zeros(8))
    path = write(
        tmp_path,
        """\
        data:
          source: npz
          path: data.npz
        model:
          layers:
            - {type: Dense, units: 2, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        """,
    )
    error = config_error(path, tmp_path / "runs")
    (problem,) = error.problems
    assert problem.line == 2  # in the data section: `keys` is not written
    assert problem.where == "data.keys.x_train"
    assert "has no array 'x_train'" in problem.message
    assert "it has: features, labels" in problem.message
    assert "data.keys.x_train" in problem.message
    assert not (tmp_path / "runs").exists()


@pytest.mark.keras
def test_last_layer_units_do_not_fit_the_classes(tmp_path):
    path = write(
        tmp_path,
        """\
        data: {source: sklearn, name: iris}
        model:
          layers:
            - {type: Dense, units: 8, activation: relu}
            - {type: Dense, units: 2, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        fit: {epochs: 1, verbose: 0}
        """,
    )
    error = config_error(path, tmp_path / "runs")
    (problem,) = error.problems
    assert problem.line == 5
    assert problem.where.startswith("model.layers[1]")
    assert "outputs 2 values but the data has 3 classes" in problem.message
    assert "units: 3" in problem.message
    assert not (tmp_path / "runs").exists()  # before fit: no run at all


CALLBACK_HEAD = """\
data: {source: sklearn, name: iris}
model:
  layers:
    - {type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, verbose: 0}
callbacks:
"""  # the callback's first line is line 8


@pytest.mark.keras
@pytest.mark.parametrize(
    ("callback", "line", "expected"),
    [
        pytest.param(
            "  - {type: 'no_such_module_for_cbrun:Thing'}\n",
            8,
            "cannot import 'no_such_module_for_cbrun': no module named "
            "'no_such_module_for_cbrun'",
            id="module-missing",
        ),
        pytest.param(
            "  - {type: 'broken_user_module:Thing'}\n",
            8,
            "importing 'broken_user_module' raised RuntimeError: broken at import",
            id="module-raises",
        ),
        pytest.param(
            "  - {type: 'syntax_error_module:Thing'}\n",
            8,
            "importing 'syntax_error_module' raised SyntaxError",
            id="module-syntax-error",
        ),
        pytest.param(
            "  - type: user_code.hooks:BatchLogRecordr\n    path: x.json\n",
            8,
            "'user_code.hooks' has no attribute 'BatchLogRecordr'; "
            "did you mean 'BatchLogRecorder'?",
            id="missing-attribute",
        ),
        pytest.param(
            "  - type: user_code.hooks:halving_schedule\n",
            8,
            "user_code.hooks:halving_schedule is not a keras.callbacks.Callback "
            "subclass",
            id="not-a-callback",
        ),
        pytest.param(
            "  - type: user_code.hooks:NeedsTarget\n    targte: 1\n",
            9,
            "user_code.hooks:NeedsTarget takes no parameter 'targte'; "
            "did you mean 'target'?",
            id="unknown-parameter",
        ),
        pytest.param(
            "  - type: user_code.hooks:NeedsTarget\n",
            8,
            "missing a required argument: 'target'",
            id="missing-parameter",
        ),
        pytest.param(
            "  - type: LambdaCallback\n"
            "    on_epoch_end: user_code.hooks:on_epoch_ends\n",
            9,
            "'user_code.hooks' has no attribute 'on_epoch_ends'; "
            "did you mean 'on_epoch_end'?",
            id="lambda-hook-missing",
        ),
        pytest.param(
            "  - type: LearningRateScheduler\n"
            "    schedule: {function: 'no_such_schedules:warmup'}\n",
            9,
            "cannot import 'no_such_schedules'",
            id="schedule-module-missing",
        ),
    ],
)
def test_user_code_that_cannot_be_used_is_a_config_error_at_its_line(
    tmp_path, callback, line, expected
):
    # Modules beside the config are importable (cbrun adds its folder).
    (tmp_path / "broken_user_module.py").write_text(
        "raise RuntimeError('broken at import')\n"
    )
    (tmp_path / "syntax_error_module.py").write_text("def broken(:\n")
    path = write(tmp_path, CALLBACK_HEAD + callback)
    error = config_error(path, tmp_path / "runs")
    (problem,) = error.problems
    assert expected in problem.message
    assert problem.line == line, problem.format()
    assert problem.where.startswith("callbacks[0]")
    assert problem.format().startswith(f"{path}:{line}:")
    assert_no_run_recorded_or_failed(tmp_path / "runs")


@pytest.mark.keras
def test_runs_dir_under_a_regular_file(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    path = write(tmp_path, CALLBACK_HEAD.replace("callbacks:\n", ""))
    runs_dir = blocker / "runs"
    with pytest.raises(CbrunError) as caught:
        train_path(path, runs_dir)
    error = caught.value
    assert not isinstance(error, ConfigError)
    assert error.exit_code == ExitCode.TRAINING_FAILED
    message = str(error)
    assert "cannot create the run folder" in message
    assert str(runs_dir) in message
    assert "--runs-dir" in message
    assert blocker.read_text() == "a file"


# --- The real entry point, in subprocesses -----------------------------------------

OK_CONFIG = """\
    name: ok
    data: {source: sklearn, name: iris}
    model:
      layers:
        - {type: Dense, units: 8, activation: relu}
        - {type: Dense, units: 3, activation: softmax}
    compile:
      optimizer: adam
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
    fit: {epochs: 2, batch_size: 16, validation_split: 0.2, verbose: 2}
    """
NAN_CONFIG = """\
    name: nan
    data: {source: sklearn, name: iris}
    model:
      layers:
        - {type: Dense, units: 8, activation: relu}
        - {type: Dense, units: 3, activation: softmax}
    compile:
      optimizer: {type: SGD, learning_rate: 1.0e+30}
      loss: sparse_categorical_crossentropy
    fit: {epochs: 5, verbose: 2}
    callbacks:
      - {type: TerminateOnNaN}
    """
BAD_CSV_CONFIG = """\
    data: {source: csv, path: data.csv, target: label}
    model:
      layers:
        - {type: Dense, units: 2, activation: softmax}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    """
INVALID_CONFIG = """\
    data: {source: sklearn, name: iris}
    model:
      layers:
        - {type: Dense, units: 3, activation: softmax}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    callbacks:
      - {type: EarlyStopping, patiense: 3}
    """


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(TESTS), *filter(None, [env.get("PYTHONPATH")])]
    )
    # cbrun's own defaults decide TensorFlow's log level, not this test run's.
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def start_cbrun(cwd: Path, *args: str, python_flags: Sequence[str] = ()) -> Any:
    return subprocess.Popen(
        [sys.executable, *python_flags, "-m", "cbrun", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Finished:
    def __init__(self, process: Any) -> None:
        self.stdout, self.stderr = process.communicate(timeout=300)
        self.returncode = process.returncode


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Three `python -m cbrun train` processes that import TensorFlow, in parallel."""
    folder = tmp_path_factory.mktemp("cli")
    write(folder, OK_CONFIG, "ok.yaml")
    write(folder, NAN_CONFIG, "nan.yaml")
    write(folder, BAD_CSV_CONFIG, "badcsv.yaml")
    # A bad row past the lines validate reads: only loading the data finds it.
    rows = [f"{i},{i + 1},{i % 2}" for i in range(30)]
    (folder / "data.csv").write_text("\n".join(["a,b,label", *rows, "7,oops,1"]))
    (folder / "a-file").write_text("not a folder")
    processes = {
        "ok": start_cbrun(folder, "train", "ok.yaml", "--runs-dir", "runs"),
        "nan": start_cbrun(folder, "train", "nan.yaml", "--runs-dir", "runs"),
        # Two configs in one process: a data error, then an unwritable runs dir.
        "bad": start_cbrun(
            folder, "train", "badcsv.yaml", "ok.yaml", "--runs-dir", "a-file/runs"
        ),
    }
    finished = {name: Finished(process) for name, process in processes.items()}
    return folder, finished


def cbrun_line(stderr: str, prefix: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stderr
    return lines[0][len(prefix) :]


@pytest.mark.slow
@pytest.mark.keras
def test_cli_train_exits_0_with_keras_progress_on_stdout_and_cbrun_on_stderr(cli_runs):
    folder, finished = cli_runs
    ok = finished["ok"]
    assert ok.returncode == 0, ok.stderr
    # Keras's progress (verbose: 2, one line per epoch) goes to stdout as printed.
    assert "Epoch 1/2" in ok.stdout and "Epoch 2/2" in ok.stdout
    assert re.search(r"- loss: \d+\.\d+ - val_accuracy: \d", ok.stdout), ok.stdout
    assert "cbrun:" not in ok.stdout
    run_dir = Path(cbrun_line(ok.stderr, "cbrun: run dir: "))
    if not run_dir.is_absolute():
        run_dir = folder / run_dir
    assert run_dir.parent == folder / "runs" / "ok"
    assert load_record(run_dir).status == "completed"
    assert len(load_history(run_dir)["loss"]) == 2
    # Drawn in the training process: there when the command returns.
    assert (run_dir / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cbrun: finished 2 epochs" in ok.stderr.splitlines()
    assert cbrun_line(ok.stderr, "cbrun: best val_loss: ")
    assert cbrun_line(ok.stderr, "cbrun: files: ")
    assert "Traceback" not in ok.stderr


@pytest.mark.slow
@pytest.mark.keras
def test_cli_train_stderr_has_no_tensorflow_info_logs_without_verbose(cli_runs):
    # TensorFlow 2.21 prints oneDNN notices through absl before any log level
    # applies; without --verbose cbrun keeps them off stderr.
    _, finished = cli_runs
    stderr = finished["ok"].stderr
    assert "absl::InitializeLog" not in stderr
    assert not re.search(r"^[IW]\d{4} ", stderr, re.MULTILINE), stderr


@pytest.mark.slow
@pytest.mark.keras
def test_cli_train_exits_3_when_the_loss_becomes_nan(cli_runs):
    folder, finished = cli_runs
    nan = finished["nan"]
    assert nan.returncode == ExitCode.TRAINING_FAILED == 3, nan.stderr
    assert "cbrun: stopped: the loss became NaN in epoch 1" in nan.stderr
    assert "terminated_nan" in nan.stderr
    assert "Traceback" not in nan.stderr
    assert "Epoch 1/5" in nan.stdout and "Epoch 2/5" not in nan.stdout
    (run_dir,) = (folder / "runs" / "nan").iterdir()
    record = load_record(run_dir)
    assert record.status == "terminated_nan"
    assert record.epochs_run == 1
    assert record.command[:3] == ["cbrun", "train", "nan.yaml"]


@pytest.mark.slow
@pytest.mark.keras
def test_cli_train_reports_bad_data_and_an_unwritable_runs_dir_without_traceback(
    cli_runs,
):
    folder, finished = cli_runs
    bad = finished["bad"]
    # A config error (1) and a runs dir that cannot be created (3): the worst wins.
    assert bad.returncode == 3, bad.stderr
    assert "Traceback" not in bad.stderr
    assert re.search(
        r"^badcsv\.yaml:1:\d+: data\.path: .*data\.csv, line 32, column 'b': "
        r"'oops' is not a number",
        bad.stderr,
        re.MULTILINE,
    ), bad.stderr
    assert re.search(
        r"^cbrun: cannot create the run folder a-file/runs/ok \(.+\)\. Make "
        r"a-file/runs writable or choose another folder with --runs-dir DIR$",
        bad.stderr,
        re.MULTILINE,
    ), bad.stderr
    assert (folder / "a-file").read_text() == "not a folder"


def test_cli_invalid_config_exits_1_fast_without_importing_tensorflow(tmp_path):
    write(tmp_path, INVALID_CONFIG, "invalid.yaml")
    started = time.monotonic()
    process = start_cbrun(
        tmp_path,
        "train",
        "invalid.yaml",
        "--runs-dir",
        "runs",
        python_flags=["-X", "importtime"],
    )
    done = Finished(process)
    elapsed = time.monotonic() - started
    assert done.returncode == ExitCode.INVALID_CONFIG == 1
    messages = [
        line for line in done.stderr.splitlines() if not line.startswith("import time:")
    ]
    assert messages == [
        "invalid.yaml:7:27: callbacks[0] (EarlyStopping).patiense: unknown "
        "parameter; did you mean 'patience'?"
    ]
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "cbrun.cli" in imported  # the importtime listing is real
    assert not {m for m in imported if m.split(".")[0] in ("tensorflow", "keras")}
    assert done.stdout == ""
    assert not (tmp_path / "runs").exists()
    assert elapsed < 4.0  # importing TensorFlow alone takes longer


@pytest.mark.slow
@pytest.mark.keras
def test_ctrl_c_while_evaluating_records_the_run_as_interrupted(tmp_path, monkeypatch):
    import cbrun.training.lifecycle
    from cbrun.training.signals import Interrupted

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(
        cbrun.training.lifecycle._Run, "_evaluate_and_save", interrupted
    )
    path = write(tmp_path, EARLYSTOP)
    with pytest.raises(Interrupted):
        train_path(path, tmp_path / "runs", ["fit.epochs=2"])
    (run_dir,) = (tmp_path / "runs" / "parity").iterdir()
    record = load_record(run_dir)
    assert record.status == "interrupted"
    assert record.epochs_run == 2
    assert "while evaluating and saving the model" in (record.stop_reason or "")
    assert {len(v) for v in load_history(run_dir).values()} == {2}
