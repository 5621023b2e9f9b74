"""The benchmark's inputs: configs, data files, config variants and fake run dirs.

Everything is written into a temporary folder by the section that needs it;
relative paths in a config resolve against the config's folder, so each data
file sits beside its config. Nothing here imports TensorFlow (numpy only).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bench_harness import BENCH, REPO

EARLYSTOP = REPO / "configs" / "earlystop.yaml"
HANDWRITTEN = BENCH / "handwritten.py"
SEED = 42


@dataclass(frozen=True)
class Sizes:
    """Workload sizes of a full or a ``--quick`` run.

    Attributes:
        cnn_samples: Synthetic 28x28x1 images of the CNN workload.
        cnn_epochs: Its epochs.
        csv_rows: Rows of the regression CSV.
        csv_epochs: Epochs of the CSV workload.
        npz_train: Training images in the npz of the data-loading section.
        npz_test: Its test images.
        probe_epochs: Epochs of the digits runs of the callback section.
        probe_cnn_epochs: Epochs of its CNN runs (0: no CNN runs).
        data_epochs: Epochs of each data-loading run.
    """

    cnn_samples: int
    cnn_epochs: int
    csv_rows: int
    csv_epochs: int
    npz_train: int
    npz_test: int
    probe_epochs: int
    probe_cnn_epochs: int
    data_epochs: int


FULL = Sizes(
    cnn_samples=10_000,
    cnn_epochs=5,
    csv_rows=20_000,
    csv_epochs=5,
    npz_train=60_000,
    npz_test=10_000,
    probe_epochs=20,
    probe_cnn_epochs=4,
    data_epochs=4,
)
QUICK = Sizes(
    cnn_samples=3_000,
    cnn_epochs=2,
    csv_rows=5_000,
    csv_epochs=3,
    npz_train=10_000,
    npz_test=2_000,
    probe_epochs=8,
    probe_cnn_epochs=0,
    data_epochs=3,
)
CSV_FEATURES = 20
VALIDATE_MANY = 100
FAKE_RUNS = 500


# --- training workloads (section 1) ------------------------------------------


@dataclass(frozen=True)
class TrainingWorkload:
    """One config and the hand-written script's arguments for the same run.

    Both sides feed ``fit`` the same way: ``cbrun train`` gets
    ``--set data.feed=FEED`` (:attr:`cbrun_args`) and the script ``--feed
    FEED`` (in :attr:`hand_args`).

    Attributes:
        key: Short name: digits, cnn or csv.
        config: The config file ``cbrun train`` gets.
        hand_args: Arguments of bench/handwritten.py (before ``--out``).
        what: One line describing the run.
        feed: ``numpy`` (cbrun's default, ``fit(x, y, validation_split=...)``
            as a script does) or ``tf.data`` (the opt-in pipeline).
    """

    key: str
    config: Path
    hand_args: list[str]
    what: str
    feed: str = "numpy"

    @property
    def cbrun_args(self) -> list[str]:
        """Options of ``cbrun train`` after the config: the same feed."""
        return ["--set", f"data.feed={self.feed}"]


CNN_MODEL = """\
model:
  layers:
    - {type: Conv2D, filters: 16, kernel_size: 3, activation: relu}
    - {type: MaxPooling2D, pool_size: 2}
    - {type: Conv2D, filters: 32, kernel_size: 3, activation: relu}
    - {type: MaxPooling2D, pool_size: 2}
    - {type: Flatten}
    - {type: Dense, units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
"""

REGRESSION_MODEL = """\
model:
  layers:
    - {type: Dense, units: 64, activation: relu}
    - {type: Dense, units: 64, activation: relu}
    - {type: Dense, units: 1}
compile: {optimizer: adam, loss: mse, metrics: [mae]}
"""


def cnn_config(name: str, samples: int, epochs: int, verbose: int = 2) -> str:
    """A small CNN on seeded synthetic 28x28x1 images of 10 classes."""
    return (
        f"name: {name}\nseed: {SEED}\n"
        f"data: {{source: synthetic, task: classification, samples: {samples}, "
        "shape: [28, 28, 1], classes: 10}\n"
        + CNN_MODEL
        + f"fit: {{epochs: {epochs}, batch_size: 64, validation_split: 0.1, "
        f"verbose: {verbose}}}\n"
    )


def csv_config(name: str, csv_name: str, epochs: int) -> str:
    """An MLP regression on a CSV beside the config (20% test split)."""
    return (
        f"name: {name}\nseed: {SEED}\n"
        f"data: {{source: csv, path: {csv_name}, target: target, test_size: 0.2}}\n"
        + REGRESSION_MODEL
        + f"fit: {{epochs: {epochs}, batch_size: 64, validation_split: 0.1, "
        "verbose: 2}\n"
    )


def write_regression_csv(path: Path, rows: int, features: int = CSV_FEATURES) -> None:
    """Write ``rows`` of ``features`` numeric columns and a ``target`` column.

    ``target = x . w + noise``, seeded; numbers as ``%.6g``.
    """
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((rows, features))
    weights = rng.standard_normal(features) / np.sqrt(features)
    y = x @ weights + 0.1 * rng.standard_normal(rows)
    header = ",".join([*(f"f{i:02d}" for i in range(features)), "target"])
    np.savetxt(
        path,
        np.column_stack([x, y]),
        delimiter=",",
        header=header,
        comments="",
        fmt="%.6g",
    )


def training_workloads(
    folder: Path, sizes: Sizes, feed: str = "numpy"
) -> list[TrainingWorkload]:
    """Write the CNN and CSV configs (and the CSV) into ``folder``.

    ``feed`` is how both contenders feed ``fit``: ``numpy`` or ``tf.data``.
    """
    cnn = folder / "bench_cnn.yaml"
    cnn.write_text(cnn_config("bench_cnn", sizes.cnn_samples, sizes.cnn_epochs))
    csv_file = folder / "regression.csv"
    write_regression_csv(csv_file, sizes.csv_rows)
    csv = folder / "bench_csv.yaml"
    csv.write_text(csv_config("bench_csv", csv_file.name, sizes.csv_epochs))
    cnn_args = ["cnn", "--samples", str(sizes.cnn_samples)]
    cnn_args += ["--epochs", str(sizes.cnn_epochs)]
    csv_args = ["csv", "--path", str(csv_file), "--epochs", str(sizes.csv_epochs)]
    fed = ["--feed", feed]
    return [
        TrainingWorkload(
            "digits",
            EARLYSTOP,
            ["digits", *fed],
            "configs/earlystop.yaml: sklearn digits MLP, EarlyStopping(patience 3)",
            feed,
        ),
        TrainingWorkload(
            "cnn",
            cnn,
            [*cnn_args, *fed],
            f"CNN, synthetic 28x28x1, {sizes.cnn_samples} samples, "
            f"{sizes.cnn_epochs} epochs, batch 64",
            feed,
        ),
        TrainingWorkload(
            "csv",
            csv,
            [*csv_args, *fed],
            f"CSV regression, {sizes.csv_rows} rows x {CSV_FEATURES} features, "
            f"{sizes.csv_epochs} epochs, batch 64",
            feed,
        ),
    ]


# --- CLI start-up inputs (section 2) -----------------------------------------


def write_variants(folder: Path, count: int) -> None:
    """Write ``count`` valid variants of configs/earlystop.yaml into ``folder``."""
    text = EARLYSTOP.read_text(encoding="utf-8")
    edits = {
        r"^name: earlystop$": "name: bench_{i:03d}",
        r"^seed: 42$": "seed: {i}",
        r"units: 128": "units: {units}",
        r"^  batch_size: 32$": "  batch_size: {batch}",
        r"^    patience: 3$": "    patience: {patience}",
    }
    for i in range(count):
        values = {"i": i, "units": 32 + i, "batch": 16 + i % 48, "patience": i % 10}
        variant = text
        for pattern, replacement in edits.items():
            variant, found = re.subn(
                pattern, replacement.format(**values), variant, count=1, flags=re.M
            )
            if not found:
                raise SystemExit(f"{EARLYSTOP} changed: no line matches {pattern!r}")
        (folder / f"bench_{i:03d}.yaml").write_text(variant, encoding="utf-8")


FAKE_STATUSES = (
    "completed",
    "stopped_early",
    "completed",
    "failed",
    "interrupted",
    "terminated_nan",
    "running",  # with a pid that does not exist: listed as dead
)


def fake_record(name: str, run_dir: Path, index: int, start: datetime) -> dict:
    """A run.json as cbrun writes it (cbrun/runs/manifest.py RunRecord)."""
    status = FAKE_STATUSES[index % len(FAKE_STATUSES)]
    epochs = 5 + index % 40
    ended = None if status == "running" else start + timedelta(seconds=30 + index)
    return {
        "name": name,
        "config_file": f"configs/{name}.yaml",
        "run_dir": str(run_dir),
        "status": status,
        "started_at": start.astimezone().isoformat(timespec="seconds"),
        "ended_at": ended and ended.astimezone().isoformat(timespec="seconds"),
        "epochs_run": epochs,
        "stop_reason": f"finished {epochs} epochs" if status != "running" else None,
        "best": {"monitor": "val_accuracy", "value": 0.9 + index % 9 / 100, "epoch": 3},
        "test_metrics": {"accuracy": 0.95, "loss": 0.12}
        if status in ("completed", "stopped_early")
        else None,
        "seed": index,
        "versions": {
            "cbrun": "0.1.0",
            "keras": "3.15.1",
            "tensorflow": "2.21.0",
            "python": "3.11.7",
        },
        "command": ["cbrun", "train", f"configs/{name}.yaml"],
        "pid": 4_000_000 + index,
        "host": "bench-host" if index % 2 else _hostname(),
        "error": "ValueError: boom" if status == "failed" else None,
        "resumes": [],
        "distribute": None,
    }


def _hostname() -> str:
    import socket

    return socket.gethostname()


def write_fake_runs(folder: Path, count: int = FAKE_RUNS) -> None:
    """Write ``count`` run dirs ``folder/<name>/<stamp>/`` with run.json,
    history.json and config.yaml, over 10 experiment names."""
    base = datetime(2026, 11, 1, 9, 0, 0)
    for index in range(count):
        name = f"experiment_{index % 10}"
        start = base + timedelta(minutes=7 * index)
        run_dir = folder / name / start.strftime("%Y%m%d-%H%M%S")
        run_dir.mkdir(parents=True)
        record = fake_record(name, run_dir, index, start)
        (run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")
        epochs = record["epochs_run"]
        history = {"loss": [1.0 / (e + 1) for e in range(epochs)]}
        (run_dir / "history.json").write_text(json.dumps(history) + "\n")
        (run_dir / "config.yaml").write_text(f"name: {name}\n")


# --- callback cost (section 4) -----------------------------------------------

TUTORIAL_CALLBACKS = """\
callbacks:
  - {type: History}
  - {type: BaseLogger, stateful_metrics: [accuracy]}
  - {type: EarlyStopping, monitor: val_loss, patience: 1000}
  - type: LearningRateScheduler
    schedule: "0.001 if epoch < 10 else 0.001 * exp(0.1 * (10 - epoch))"
  - {type: ReduceLROnPlateau, monitor: val_loss, factor: 0.5, patience: 5}
  - type: ModelCheckpoint
    filepath: "checkpoints/cp-{epoch:04d}.weights.h5"
    save_weights_only: true
    period: 1
  - {type: TensorBoard, log_dir: tensorboard, histogram_freq: 1}
  - {type: CSVLogger, filename: log.csv}
  - {type: TerminateOnNaN}
  - {type: ProgbarLogger}
  - {type: LambdaCallback, on_epoch_end: "benchhooks:on_epoch_end"}
  - type: RemoteMonitor
    root: "http://127.0.0.1:9"
    path: /publish/epoch/end/
    send_as_json: true
"""
TUTORIAL_NAMES = [
    "History",
    "BaseLogger",
    "EarlyStopping",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "ModelCheckpoint",
    "TensorBoard",
    "CSVLogger",
    "TerminateOnNaN",
    "ProgbarLogger",
    "LambdaCallback",
    "RemoteMonitor",
]
HOOKS_MODULE = '''\
"""LambdaCallback hooks for the benchmark: the tutorial's json logging, to memory."""

import json

LINES = []


def on_epoch_end(epoch, logs):
    """Keep one JSON line per epoch, as the tutorial's json_log does."""
    LINES.append(json.dumps({"epoch": epoch, "loss": logs["loss"]}))
'''

DIGITS_DATA = (
    "data: {source: sklearn, name: digits, test_size: 0.2, scale: 0.0625}\n"
    "model:\n  layers:\n    - {type: Flatten}\n"
    "    - {type: Dense, units: 128, activation: relu}\n"
    "    - {type: Dense, units: 10, activation: softmax}\n"
    "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, "
    "metrics: [accuracy]}\n"
)


def callback_configs(folder: Path, workload: str, sizes: Sizes) -> dict[str, Path]:
    """Write ``none`` (no callbacks) and ``tutorial`` (all of them) configs.

    ``workload`` is ``digits`` (configs/earlystop.yaml's data and model) or
    ``cnn`` (the CNN of section 1). Both run with ``verbose: 0``, so that
    Keras adds no progress bar to the runs without callbacks.
    """
    (folder / "benchhooks.py").write_text(HOOKS_MODULE)
    paths = {}
    for variant, callbacks in (("none", "callbacks: []\n"), ("tutorial", None)):
        name = f"bench_{workload}_{variant}"
        if workload == "digits":
            text = (
                f"name: {name}\nseed: {SEED}\n"
                + DIGITS_DATA
                + f"fit: {{epochs: {sizes.probe_epochs}, batch_size: 32, "
                "validation_split: 0.1, verbose: 0}\n"
            )
        else:
            text = cnn_config(
                name, sizes.cnn_samples, sizes.probe_cnn_epochs, verbose=0
            )
        path = folder / f"{name}.yaml"
        path.write_text(text + (callbacks or TUTORIAL_CALLBACKS))
        paths[variant] = path
    return paths


# --- data loading (section 5) ------------------------------------------------


def write_image_npz(path: Path, train: int, test: int) -> None:
    """An ``mnist.npz``-like file: uint8 28x28 images of 10 classes, seeded."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    means = rng.uniform(40, 215, (10, 28, 28))

    def images(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, count).astype(np.uint8)
        x = means[y] + rng.normal(0, 40, (count, 28, 28))
        return np.clip(x, 0, 255).astype(np.uint8), y

    x_train, y_train = images(train)
    x_test, y_test = images(test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def data_configs(folder: Path, sizes: Sizes) -> dict[str, Path]:
    """Write one config per data source (sklearn, npz, csv) and their files."""
    npz = folder / "images.npz"
    write_image_npz(npz, sizes.npz_train, sizes.npz_test)
    csv_file = folder / "regression.csv"
    write_regression_csv(csv_file, sizes.csv_rows)
    fit = f"fit: {{epochs: {sizes.data_epochs}, batch_size: 64, verbose: 0}}\n"
    texts = {
        "sklearn": DIGITS_DATA,
        "npz": (
            f"data: {{source: npz, path: {npz.name}, scale: 0.00392156862745098}}\n"
            "model:\n  layers:\n    - {type: Flatten}\n"
            "    - {type: Dense, units: 128, activation: relu}\n"
            "    - {type: Dense, units: 10, activation: softmax}\n"
            "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, "
            "metrics: [accuracy]}\n"
        ),
        "csv": (
            f"data: {{source: csv, path: {csv_file.name}, target: target, "
            "test_size: 0.2}\n" + REGRESSION_MODEL
        ),
    }
    paths = {}
    for source, text in texts.items():
        path = folder / f"bench_data_{source}.yaml"
        path.write_text(f"name: bench_data_{source}\nseed: {SEED}\n" + text + fit)
        paths[source] = path
    return paths
