"""The benchmark's training workloads written by hand in plain Keras.

Run: ``python bench/handwritten.py WORKLOAD [options] --out DIR`` where
WORKLOAD is:

- ``digits``: configs/earlystop.yaml (sklearn digits, MLP, EarlyStopping);
- ``cnn --samples N --epochs E``: the small CNN on seeded synthetic 28x28x1
  images of 10 classes (bench/bench_workloads.py ``cnn_config``);
- ``csv --path FILE --epochs E``: the MLP regression on a numeric CSV with a
  ``target`` column (``csv_config``).

Each does the same work as ``cbrun train`` of that config, in the same order
as cbrun/training/ and cbrun/keras/, so that bench/bench_cli.py can compare
the two processes:

1. import TensorFlow, then Keras (cbrun.keras.env.import_keras); with
   ``--freeze-gc`` also as cbrun does, with the cyclic garbage collector
   paused and the imported objects frozen (plain Keras scripts do not);
2. ``keras.utils.set_random_seed(42)`` before anything random;
3. the same arrays as cbrun.keras.data: ``train_test_split(test_size=0.2,
   random_state=42, stratify=y for classes)``, float32 inputs (digits times
   0.0625), int64 class labels, float32 regression targets; the synthetic
   images drawn exactly as cbrun's ``synthetic`` source draws them; the CSV
   read with ``np.loadtxt`` (as cbrun does, after checking the header);
4. ``keras.Sequential(name=<config name>)`` with ``keras.Input`` and the
   config's layers; the same compile;
5. ``fit`` with the config's epochs, batch size, the last 10 % of the
   training samples for validation and ``verbose=2`` (digits: with
   EarlyStopping(monitor="val_accuracy", patience=3)), fed as cbrun feeds
   by default (``--feed numpy``: the arrays with ``validation_split``, as a
   script passes them) or with ``--feed tf.data`` as cbrun's opt-in
   ``feed: tf.data`` does (a seeded, shuffled, prefetched pipeline);
6. evaluate on the test split, save model.keras, write history.json and
   test_metrics.json.

What it does not do is cbrun's own work: reading and validating the YAML,
the run dir with config.yaml, run.json and history.json rewritten during
training, the BackupAndRestore backup for ``--resume`` and the callback
state kept beside it, the stop-request check before every batch, and
history.png.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
from pathlib import Path
from typing import Any

SEED = 42
TEST_SIZE = 0.2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["digits", "cnn", "csv"])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--samples", type=int, default=10_000, help="cnn images")
    parser.add_argument("--epochs", type=int, default=5, help="cnn and csv epochs")
    parser.add_argument("--path", type=Path, help="csv: the CSV file")
    parser.add_argument(
        "--feed",
        choices=["numpy", "tf.data"],
        default="numpy",
        help="numpy: fit(x, y, validation_split=0.1), cbrun's default; tf.data: "
        "a seeded tf.data pipeline, as cbrun's feed: tf.data",
    )
    parser.add_argument(
        "--freeze-gc",
        action="store_true",
        help="import TensorFlow and Keras as cbrun.keras.env does: with the "
        "cyclic garbage collector paused, then gc.freeze()",
    )
    return parser.parse_args()


def split(x: Any, y: Any, stratify: bool) -> tuple[Any, Any, Any, Any]:
    """Seeded 80/20 split, stratified by class for classification."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x,
        y,
        test_size=TEST_SIZE,
        random_state=SEED,
        stratify=y if stratify else None,
    )
    return x_train, y_train, x_test, y_test


def load_digits() -> tuple[Any, Any, Any, Any]:
    """sklearn digits, pixels scaled to 0..1 as float32, int64 labels."""
    import numpy as np
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    x_train, y_train, x_test, y_test = split(digits.data, digits.target, True)
    scale = np.float32(0.0625)
    return (
        x_train.astype(np.float32) * scale,
        y_train.astype(np.int64),
        x_test.astype(np.float32) * scale,
        y_test.astype(np.int64),
    )


def synthetic_images(samples: int) -> tuple[Any, Any, Any, Any]:
    """Unit noise around one random mean image per class (10 classes)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    shape = (28, 28, 1)
    means = rng.standard_normal((10, *shape), dtype=np.float32)
    y = rng.permutation(np.arange(samples, dtype=np.int64) % 10)
    x = means[y] + rng.standard_normal((samples, *shape), dtype=np.float32)
    return split(x, y, True)


def load_csv(path: Path) -> tuple[Any, Any, Any, Any]:
    """Features as float32, the ``target`` column as float32 targets."""
    import numpy as np

    header = path.read_text().split("\n", 1)[0].split(",")
    values = np.loadtxt(path, delimiter=",", skiprows=1)
    column = header.index("target")
    x = np.delete(values, column, axis=1).astype(np.float32)
    x_train, y_train, x_test, y_test = split(x, values[:, column], False)
    return x_train, y_train.astype(np.float32), x_test, y_test.astype(np.float32)


def digits_layers(keras: Any) -> list[Any]:
    return [
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]


def cnn_layers(keras: Any) -> list[Any]:
    return [
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ]


def regression_layers(keras: Any) -> list[Any]:
    return [
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1),
    ]


def build_model(
    keras: Any, name: str, input_shape: tuple[int, ...], layers: list[Any]
) -> Any:
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=input_shape))
    for layer in layers:
        model.add(layer)
    return model


def workload(args: argparse.Namespace, keras: Any) -> dict[str, Any]:
    """Data, model, compile settings, fit settings and callbacks of one run."""
    classify = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
    if args.workload == "digits":
        return {
            "name": "earlystop",
            "data": load_digits(),
            "layers": digits_layers(keras),
            "compile": classify,
            "epochs": 500,
            "batch_size": 32,
            "callbacks": [
                keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=3)
            ],
        }
    if args.workload == "cnn":
        return {
            "name": "bench_cnn",
            "data": synthetic_images(args.samples),
            "layers": cnn_layers(keras),
            "compile": classify,
            "epochs": args.epochs,
            "batch_size": 64,
            "callbacks": [],
        }
    return {
        "name": "bench_csv",
        "data": load_csv(args.path),
        "layers": regression_layers(keras),
        "compile": {"loss": "mse", "metrics": ["mae"]},
        "epochs": args.epochs,
        "batch_size": 64,
        "callbacks": [],
    }


def fit_inputs(x: Any, y: Any, batch_size: int, feed: str) -> dict[str, Any]:
    """``fit``'s inputs with the last 10 % for validation, fed as cbrun feeds.

    ``numpy``: the arrays with ``validation_split``, as a script passes them;
    ``tf.data``: a pipeline shuffled with the seed every epoch and prefetched.
    """
    if feed == "numpy":
        return {"x": x, "y": y, "batch_size": batch_size, "validation_split": 0.1}
    import tensorflow as tf

    cut = int(len(x) * 0.9)
    train = (
        tf.data.Dataset.from_tensor_slices((x[:cut], y[:cut]))
        .shuffle(cut, seed=SEED, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    validation = (
        tf.data.Dataset.from_tensor_slices((x[cut:], y[cut:]))
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    return {"x": train, "validation_data": validation, "shuffle": False}


def main() -> None:
    args = parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if args.freeze_gc:  # as cbrun.keras.env._frozen_after_import does
        gc.collect()
        gc.disable()
    importlib.import_module("tensorflow")  # first, as cbrun.keras.env does
    import keras

    if args.freeze_gc:
        gc.freeze()
        gc.enable()

    keras.utils.set_random_seed(SEED)
    run = workload(args, keras)
    x_train, y_train, x_test, y_test = run["data"]
    model = build_model(keras, run["name"], x_train.shape[1:], run["layers"])
    model.compile(optimizer="adam", **run["compile"])
    args.out.mkdir(parents=True, exist_ok=True)
    history = model.fit(
        **fit_inputs(x_train, y_train, run["batch_size"], args.feed),
        epochs=run["epochs"],
        verbose=2,
        callbacks=run["callbacks"],
    )
    test_metrics = model.evaluate(
        x_test, y_test, verbose=0, return_dict=True, batch_size=run["batch_size"]
    )
    model.save(args.out / "model.keras")
    history_dict = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    (args.out / "history.json").write_text(json.dumps(history_dict, indent=2))
    test_dict = {k: float(v) for k, v in test_metrics.items()}
    (args.out / "test_metrics.json").write_text(json.dumps(test_dict, indent=2))
    print(f"stopped at epoch {len(history.epoch)}; test: {test_metrics}")


if __name__ == "__main__":
    main()
