"""Section 5's child process: data loading and input feeding, in-process.

Run by bench/bench_data.py::

    python bench/probe_data.py --config sklearn=A.yaml --config npz=B.yaml \
        --config csv=C.yaml --rounds N [--load-repeats M] --out OUT.json \
        [--profile-load SOURCE]

First the loaders alone (cbrun's and by hand, alternating, ``--load-repeats``
times each). Then, for each source, three variants alternate run by run (the
order rotates every round):

- ``cbrun_numpy``: cbrun's loader (``cbrun.keras.data.load_data``), then
  ``fit`` on the NumPy arrays, as ``cbrun train`` does with its default
  ``feed: numpy``;
- ``hand_numpy``: the same data loaded by hand (sklearn + train_test_split,
  ``np.load``, ``np.loadtxt``), then the same ``fit``;
- ``cbrun_tfdata``: cbrun's arrays through cbrun's ``tf.data`` pipeline
  (``cbrun.keras.feeding.as_datasets``:
  ``from_tensor_slices((x, y)).shuffle(len(x)).batch(b).prefetch(AUTOTUNE)``;
  Keras shuffles NumPy input every epoch too), as the opt-in ``feed:
  tf.data`` does. Each run also records what the opt-in ``feed: auto``
  would pick for these arrays.

Each run: ``keras.utils.set_random_seed``, load, build and compile the
config's model, ``fit`` without validation. Timed: the loading, ``fit``'s
start to the end of the first training batch, every epoch (wall and CPU).
Time to first batch = loading + that start-up (the model build, the same
for all, is left out). ``--profile-load SOURCE`` runs one load of that
source by cbrun's loader under cProfile.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("cbrun_numpy", "hand_numpy", "cbrun_tfdata")


def hand_loader(source: str, loaded: Any) -> Callable[[], tuple[Any, Any]]:
    """Load the training arrays by hand, as a Keras user would."""
    import handwritten
    import numpy as np

    data = loaded.experiment.data

    def sklearn() -> tuple[Any, Any]:
        x_train, y_train, _, _ = handwritten.load_digits()
        return x_train, y_train

    def npz() -> tuple[Any, Any]:
        # The test arrays too: cbrun loads them for the evaluation after fit.
        scale = np.float32(data.scale)
        with np.load(loaded.base_dir / data.path) as arrays:
            x_train = arrays["x_train"].astype(np.float32) * scale
            y_train = arrays["y_train"].astype(np.int64)
            x_test = arrays["x_test"].astype(np.float32) * scale
            y_test = arrays["y_test"].astype(np.int64)
        assert len(x_test) == len(y_test)
        return x_train, y_train

    def csv() -> tuple[Any, Any]:
        x_train, y_train, _, _ = handwritten.load_csv(loaded.base_dir / data.path)
        return x_train, y_train

    return {"sklearn": sklearn, "npz": npz, "csv": csv}[source]


def cbrun_loader(loaded: Any) -> Callable[[], tuple[Any, Any]]:
    """Load the training arrays with cbrun's loader."""
    from cbrun.keras.data import load_data

    def load() -> tuple[Any, Any]:
        config = loaded.experiment
        data = load_data(config.data, seed=config.seed, base_dir=loaded.base_dir)
        return data.x_train, data.y_train

    return load


class Timer:
    """Stamps for one ``fit``: its start, the first batch's end, each epoch."""

    def __init__(self) -> None:
        self.fit_called = 0.0
        self.first_batch = 0.0
        self.epochs: list[dict[str, float]] = []
        self.started = (0.0, 0.0)

    def callback(self, keras: Any) -> Any:
        timer = self

        class Stamps(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                timer.started = (time.perf_counter(), time.process_time())

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if not timer.first_batch:
                    timer.first_batch = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                wall, cpu = timer.started
                timer.epochs.append(
                    {
                        "epoch_s": time.perf_counter() - wall,
                        "cpu_s": time.process_time() - cpu,
                    }
                )

        return Stamps()


def feed(variant: str, x: Any, y: Any, batch_size: int, seed: int) -> dict[str, Any]:
    """``fit`` arguments: the arrays, or cbrun's prefetching tf.data pipeline."""
    if variant != "cbrun_tfdata":
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": True}
    from types import SimpleNamespace

    from cbrun.keras.feeding import as_datasets

    data = SimpleNamespace(x_train=x, y_train=y, x_test=None, y_test=None)
    datasets = as_datasets(data, batch_size=batch_size, shuffle=True, seed=seed)
    # The dataset batches and shuffles itself (FitPlan.fed_from does the same).
    return {"x": datasets.train, "shuffle": False}


def one_run(keras: Any, variant: str, source: str, loaded: Any) -> dict[str, Any]:
    """Load, build, fit; return the timings."""
    from cbrun.keras.model import build_model, compile_model

    config = loaded.experiment
    keras.utils.set_random_seed(config.seed)
    load = (
        hand_loader(source, loaded) if variant == "hand_numpy" else cbrun_loader(loaded)
    )
    start = time.perf_counter()
    x, y = load()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    model = build_model(config, _Shapes(x))
    compile_model(model, config)
    build_s = time.perf_counter() - start
    timer = Timer()
    arguments = feed(variant, x, y, config.fit.batch_size or 32, config.seed)
    timer.fit_called = time.perf_counter()
    model.fit(
        **arguments,
        epochs=config.fit.epochs,
        verbose=0,
        callbacks=[timer.callback(keras)],
    )
    return {
        "variant": variant,
        "source": source,
        "load_s": load_s,
        "build_s": build_s,
        "fit_to_first_batch_s": timer.first_batch - timer.fit_called,
        "first_batch_s": load_s + timer.first_batch - timer.fit_called,
        "epochs": timer.epochs,
        "samples": len(x),
        "auto_feed": auto_feed(x, y),
        "checksum": [float(x.sum(dtype="float64")), float(y.sum(dtype="float64"))],
    }


def auto_feed(x: Any, y: Any) -> str:
    """What cbrun's ``feed: auto`` picks for these arrays (tensorflow, one device)."""
    from cbrun.keras.feeding import choose_feed

    return choose_feed("auto", backend="tensorflow", distributed=False, x=x, y=y)[0]


class _Shapes:
    """What ``build_model`` reads from a dataset: the input shape."""

    def __init__(self, x: Any) -> None:
        self.input_shape = tuple(int(s) for s in x.shape[1:])


def profile_load(loaded: Any) -> list[str]:
    """cProfile one load by cbrun's loader: the heaviest functions by own time."""
    import cProfile
    import pstats

    from bench_profiling import cprofile_text

    profiler = cProfile.Profile()
    load = cbrun_loader(loaded)
    profiler.enable()
    load()
    profiler.disable()
    return cprofile_text(pstats.Stats(profiler), "tottime", 10)


def loader_bench(configs: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Time the loaders alone: cbrun's and by hand, alternating, after a warm-up.

    Inside the training runs a load of large arrays also pays for whatever
    memory the previous run left behind; alone, the loaders compare cleanly.
    """
    timings: dict[str, Any] = {}
    for source, loaded in configs.items():
        loaders = {"cbrun": cbrun_loader(loaded), "hand": hand_loader(source, loaded)}
        for load in loaders.values():
            load()  # warm-up: imports, page cache
        timings[source] = {name: [] for name in loaders}
        for _ in range(repeats):
            for name, load in loaders.items():
                gc.collect()
                start = time.perf_counter()
                arrays = load()
                timings[source][name].append(time.perf_counter() - start)
                del arrays
    return timings


def warm_up(keras: Any, configs: dict[str, Any]) -> None:
    """Import scikit-learn and run one untimed fit: one-time costs of the process."""
    import sklearn.datasets
    import sklearn.model_selection  # noqa: F401

    source, loaded = next(iter(configs.items()))
    one_run(keras, "cbrun_numpy", source, loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=[], metavar="SOURCE=PATH")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-repeats", type=int, default=7)
    parser.add_argument("--profile-load", action="append", default=[], metavar="SOURCE")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from cbrun.config.loading import load_config
    from cbrun.keras.env import import_keras

    keras = import_keras("tensorflow")
    configs = {}
    for item in args.config:
        source, path = item.split("=", 1)
        configs[source] = load_config(Path(path))
    loads = loader_bench(configs, args.load_repeats) if args.rounds else {}
    if args.rounds:
        warm_up(keras, configs)
    runs = []
    for round_ in range(args.rounds):
        shift = round_ % len(VARIANTS)
        for source, loaded in configs.items():
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                keras.backend.clear_session()
                gc.collect()
                runs.append(
                    {"round": round_, **one_run(keras, variant, source, loaded)}
                )
        print(f"  .. data probe round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    profiles = {source: profile_load(configs[source]) for source in args.profile_load}
    report = {"runs": runs, "loads": loads, "profiles": profiles}
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
