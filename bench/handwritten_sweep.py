"""configs/sweep.yaml's study written by hand: Optuna and Keras in one script.

Run: ``python bench/handwritten_sweep.py --trials 10 --out DIR``.

The same study as ``cbrun sweep configs/sweep.yaml``, in the same order as
cbrun/sweeper/ and cbrun/training/, so that bench/bench_sweep.py can compare
the two processes:

1. import TensorFlow, then Keras;
2. an in-memory study (a script's natural choice; cbrun keeps a journal file
   so a killed sweep resumes), ``TPESampler(seed=42)``,
   ``MedianPruner(n_startup_trials=2, n_warmup_steps=1)``, maximizing
   ``val_accuracy``;
3. per trial, with ask/tell: the learning rate (log-uniform 1e-4..1e-2), the
   hidden width (32..256 step 32) and EarlyStopping's patience (2, 3, 5)
   suggested in that order; ``keras.utils.set_random_seed(42)``; the digits
   arrays as bench/handwritten.py loads them; the MLP; ``fit`` with
   EarlyStopping and a callback that reports val_accuracy after every epoch
   and stops when the pruner says so; evaluate on the test split; save
   model.keras and history.json in ``DIR/<number>/``; tell the best
   val_accuracy, or PRUNED.

What it does not do is cbrun's own work: the YAML, sweep.json, trials.csv,
best.yaml and the pictures, each trial's run dir with config.yaml, run.json
and its backup for ``--resume``, and the journal.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from pathlib import Path
from typing import Any

from handwritten import SEED, load_digits


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    return parser.parse_args()


def pruning_callback(keras: Any, trial: Any) -> Any:
    """Report val_accuracy after every epoch; stop training when pruned."""

    class Report(keras.callbacks.Callback):
        pruned = False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            trial.report(float((logs or {})["val_accuracy"]), step=epoch)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return Report()


def run_trial(keras: Any, trial: Any, out: Path) -> tuple[float | None, bool]:
    """Train one trial; its best val_accuracy and whether it was pruned."""
    learning_rate = trial.suggest_float(
        "compile.optimizer.learning_rate", 1.0e-4, 1.0e-2, log=True
    )
    units = trial.suggest_int("model.layers.1.units", 32, 256, step=32)
    patience = trial.suggest_categorical("callbacks.EarlyStopping.patience", [2, 3, 5])
    keras.utils.set_random_seed(SEED)
    x_train, y_train, x_test, y_test = load_digits()
    model = keras.Sequential(name="sweep")
    model.add(keras.Input(shape=x_train.shape[1:]))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(units, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    report = pruning_callback(keras, trial)
    history = model.fit(
        x_train,
        y_train,
        epochs=100,
        batch_size=32,
        validation_split=0.1,
        verbose=2,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience),
            report,
        ],
    )
    model.evaluate(x_test, y_test, verbose=0, batch_size=32)
    folder = out / str(trial.number)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    history_dict = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    (folder / "history.json").write_text(json.dumps(history_dict))
    return max(history_dict["val_accuracy"]), report.pruned


def main() -> None:
    args = parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    importlib.import_module("tensorflow")
    import keras
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=SEED),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    seconds = []
    for _ in range(args.trials):
        trial = study.ask()
        start = time.perf_counter()
        value, pruned = run_trial(keras, trial, args.out)
        seconds.append(time.perf_counter() - start)
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
    summary = {
        "trials": [
            {"number": t.number, "state": t.state.name, "value": t.value}
            for t in study.trials
        ],
        "trial_seconds": seconds,
        "best_value": study.best_value,
    }
    (args.out / "study.json").write_text(json.dumps(summary, indent=2))
    print(f"best val_accuracy {study.best_value:.6f} (trial {study.best_trial.number})")


if __name__ == "__main__":
    main()
