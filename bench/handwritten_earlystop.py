"""configs/earlystop.yaml written by hand in plain Keras: the reference for bench.

Run: ``python bench/handwritten_earlystop.py --out DIR`` (DIR is created).

It does the same work as ``cbrun train configs/earlystop.yaml``, in the same
order as cbrun/train.py and cbrun/build/*.py, so that bench/bench_cli.py can
compare the two processes:

1. import TensorFlow, then Keras (cbrun.keras_env.import_keras);
2. ``keras.utils.set_random_seed(42)`` before anything random;
3. scikit-learn digits, ``train_test_split(test_size=0.2, random_state=42,
   stratify=y)``, inputs ``x.astype(float32) * float32(0.0625)``, labels int64
   (cbrun.build.data);
4. ``Sequential(name="earlystop")``: Input((64,)), Flatten, Dense(128, relu),
   Dense(10, softmax) (cbrun.build.model.build_model);
5. compile adam / sparse_categorical_crossentropy / accuracy;
6. fit(epochs=500, batch_size=32, validation_split=0.1, verbose=2) with
   EarlyStopping(monitor="val_accuracy", patience=3);
7. evaluate on the test split, save model.keras, write history.json.

What it does not do is cbrun's bookkeeping: validating the YAML, the resolved
config.yaml, run.json and history.json rewritten at every epoch end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path
from typing import Any

SEED = 42
SCALE = 0.0625


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    return parser.parse_args()


def load_digits_split(seed: int) -> tuple[Any, Any, Any, Any]:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target,
        test_size=0.2,
        random_state=seed,
        stratify=digits.target,
    )
    scale = np.float32(SCALE)
    return (
        x_train.astype(np.float32) * scale,
        y_train.astype(np.int64),
        x_test.astype(np.float32) * scale,
        y_test.astype(np.int64),
    )


def build_model(keras: Any, input_shape: tuple[int, ...]) -> Any:
    model = keras.Sequential(name="earlystop")
    model.add(keras.Input(shape=input_shape))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(128, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    args = parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    importlib.import_module("tensorflow")  # first, as cbrun.keras_env does
    import keras

    keras.utils.set_random_seed(SEED)
    x_train, y_train, x_test, y_test = load_digits_split(SEED)
    model = build_model(keras, x_train.shape[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=3)
    history = model.fit(
        x_train,
        y_train,
        epochs=500,
        batch_size=32,
        validation_split=0.1,
        verbose=2,
        callbacks=[early_stopping],
    )
    test_metrics = model.evaluate(
        x_test, y_test, verbose=0, return_dict=True, batch_size=32
    )
    model.save(args.out / "model.keras")
    history_dict = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    (args.out / "history.json").write_text(json.dumps(history_dict, indent=2))
    print(f"stopped at epoch {len(history.epoch)}; test: {test_metrics}")


if __name__ == "__main__":
    main()
