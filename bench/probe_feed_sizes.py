"""Where ``feed: auto`` should stop using tf.data: epoch time and peak RSS by size.

Run: ``python bench/probe_feed_sizes.py [--samples 10000,20000,60000]``.

For each size, two fresh processes train the same MLP (Flatten, Dense 128,
Dense 10; Adam; batch 64; last 10 % for validation; 5 epochs) on seeded
random 28x28 float32 images: one gives ``fit`` the NumPy arrays, the other
cbrun's own pipeline (``cbrun.keras.feeding.as_datasets``, the opt-in
``feed: tf.data``). Each prints the median epoch time from the second epoch
on and its peak RSS. The numbers behind ``cbrun.keras.feeding.AUTO_MAX_BYTES``
(the opt-in ``feed: auto``); not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

EPOCHS = 5
BATCH = 64


def train_once(feed: str, samples: int) -> dict[str, float]:
    """Train in this process with one feed; return epoch time and peak RSS."""
    from cbrun.keras.env import import_keras

    keras = import_keras("tensorflow")
    import numpy as np

    from cbrun.keras.feeding import as_datasets

    rng = np.random.default_rng(0)
    x = rng.random((samples, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, samples).astype(np.int64)
    keras.utils.set_random_seed(42)
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    epochs: list[float] = []

    class EpochTimer(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            epochs.append(time.perf_counter() - self.started)

    fit = {"epochs": EPOCHS, "verbose": 0, "callbacks": [EpochTimer()]}
    if feed == "numpy":
        model.fit(x, y, batch_size=BATCH, validation_split=0.1, **fit)
    else:
        data = SimpleNamespace(x_train=x, y_train=y, x_test=None, y_test=None)
        datasets = as_datasets(data, batch_size=BATCH, validation_split=0.1, seed=42)
        # The pipeline batches, shuffles and holds the validation split itself.
        model.fit(
            datasets.train, validation_data=datasets.validation, shuffle=False, **fit
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"epoch_s": statistics.median(epochs[1:]), "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="10000,20000,60000")
    parser.add_argument("--child", nargs=2, metavar=("FEED", "SAMPLES"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(train_once(args.child[0], int(args.child[1]))))
        return
    print(f"{'samples':>8} {'MB':>6} {'numpy epoch':>12} {'tf.data':>8} {'ratio':>6}")
    for samples in map(int, args.samples.split(",")):
        result = {}
        for feed in ("numpy", "tf.data"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", feed, str(samples)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            result[feed] = json.loads(out.strip().splitlines()[-1])
        numpy, tfdata = result["numpy"], result["tf.data"]
        megabytes = samples * 28 * 28 * 4 / 1e6
        print(
            f"{samples:>8} {megabytes:>6.0f} {numpy['epoch_s'] * 1000:>10.0f}ms "
            f"{tfdata['epoch_s'] * 1000:>6.0f}ms "
            f"{tfdata['epoch_s'] / numpy['epoch_s']:>5.2f}x  peak RSS "
            f"{numpy['peak_rss_mb']:.0f} -> {tfdata['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
