"""The ``images`` source: epoch time against a hand-written script, and memory.

(a) Epoch time: the same small CNN on the same generated PNGs, trained by
    cbrun's ``images`` source (``cbrun.train`` of a config) and by a
    hand-written ``keras.utils.image_dataset_from_directory`` + ``fit``
    script, each in its own child process, alternating. Reported: the median
    epoch from the second on (the first compiles the graph), per variant, and
    their ratio. Goal: cbrun at most 1.05x the script.
(b) Peak RSS of ``cbrun train`` (a child process, ``ru_maxrss`` from
    ``wait4``) at 1,000 and at 10,000 small images, one epoch. Goal: flat
    within 10 % (the images stream from disk; memory must not grow with
    their number). Also the time of validate's TF-free folder check (every
    file's first and last bytes).

Prints numbers; it is not a test. ``python bench/bench_images.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.make_example_data import write_images  # noqa: E402

SIDE = 32
EPOCHS = 8
BATCH = 32
SEED = 42
EPOCH_GOAL = 1.05
RSS_GOAL = 0.10


def _epoch_timer() -> type:
    """A Keras callback class that writes each epoch's wall time to a JSON file."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = Path(path)
            self.times: list[list[float]] = []  # [wall, CPU] per epoch
            self.start = (0.0, 0.0)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            wall, cpu = self.start
            spent = [time.perf_counter() - wall, time.process_time() - cpu]
            self.times.append(spent)
            self.path.write_text(json.dumps(self.times))

    return EpochTimer


def __getattr__(name: str) -> Any:
    # `bench_images:EpochTimer` in the config: made on first use, so that the
    # parent process, which never trains, does not import Keras.
    if name == "EpochTimer":
        return _epoch_timer()
    raise AttributeError(name)


def layers_of(keras: Any) -> list[Any]:
    """The model both variants train (as configured in :func:`cbrun_config`)."""
    return [
        keras.Input((SIDE, SIDE, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ]


def cbrun_config(images: Path, times: Path, epochs: int) -> dict[str, Any]:
    return {
        "name": "bench_images",
        "seed": SEED,
        "data": {"source": "images", "path": str(images), "image_size": [SIDE, SIDE]},
        "model": {
            "layers": [
                {"type": "Rescaling", "scale": 1 / 255},
                {"type": "Conv2D", "filters": 16, "kernel_size": 3}
                | {"activation": "relu"},
                {"type": "MaxPooling2D"},
                {"type": "Conv2D", "filters": 32, "kernel_size": 3}
                | {"activation": "relu"},
                {"type": "GlobalAveragePooling2D"},
                {"type": "Dense", "units": 3, "activation": "softmax"},
            ]
        },
        "compile": {
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        "fit": {
            "epochs": epochs,
            "batch_size": BATCH,
            "validation_split": 0.2,
            "verbose": 0,
        },
        "callbacks": [{"type": "bench_images:EpochTimer", "path": str(times)}],
    }


def child_cbrun(images: Path, times: Path, runs: Path) -> None:
    import cbrun

    cbrun.train(cbrun_config(images, times, EPOCHS), runs_dir=runs)


def child_hand(images: Path, times: Path) -> None:
    import keras

    keras.utils.set_random_seed(SEED)
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        str(images),
        validation_split=0.2,
        subset="both",
        seed=SEED,
        image_size=(SIDE, SIDE),
        batch_size=BATCH,
    )
    model = keras.Sequential(layers_of(keras))
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=EPOCHS,
        verbose=0,
        callbacks=[_epoch_timer()(str(times))],
    )


def child_env() -> dict[str, str]:
    path = os.pathsep.join([str(REPO / "bench"), str(REPO)])
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3"}


def epoch_times(variant: str, images: Path, work: Path) -> list[list[float]]:
    times = work / f"{variant}.json"
    times.unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, __file__, "--child", variant, str(images), str(times)],
        check=True,
        env=child_env(),
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return json.loads(times.read_text())


def peak_rss(images: Path, work: Path) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of ``cbrun train`` of one epoch."""
    config = work / "rss.json"
    config.write_text(json.dumps(cbrun_config(images, work / "rss_times.json", 1)))
    command = [str(REPO / ".venv" / "bin" / "cbrun"), "train", str(config)]
    start = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--runs-dir", str(work / "runs")],
        env=child_env(),
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"cbrun train failed on {images}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def check_time(folder: Path) -> float:
    """Seconds of validate's TF-free check of a folder (the fastest of 3)."""
    from cbrun.config.data_folders import ImagesData
    from cbrun.config.folder_checks import inspect_folders

    section = ImagesData.model_validate({"source": "images", "path": str(folder)})
    spent = []
    for _ in range(3):
        start = time.perf_counter()
        inspect_folders(section, folder.parent)
        spent.append(time.perf_counter() - start)
    return min(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000, help="for (a)")
    parser.add_argument("--part", choices=("a", "b", "both"), default="both")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, images, times = args.child
        if variant == "cbrun":
            child_cbrun(Path(images), Path(times), Path(times).parent / "runs")
        else:
            child_hand(Path(images), Path(times))
        return
    with tempfile.TemporaryDirectory(prefix="bench_images_") as name:
        work = Path(name)
        if args.part in ("a", "both"):
            epoch_part(args, work)
        if args.part in ("b", "both"):
            rss_part(work)


def epoch_part(args: argparse.Namespace, work: Path) -> None:
    """(a): epoch times of both variants, alternating."""
    per_class = args.images // 3
    print(f"(a) epoch time, {3 * per_class} PNGs {SIDE}x{SIDE}, batch {BATCH}")
    write_images(work / "epoch", per_class, seed=1, side=SIDE)
    walls: dict[str, list[float]] = {"cbrun": [], "hand": []}
    fastest: dict[str, list[float]] = {"cbrun": [], "hand": []}
    cpus: dict[str, list[float]] = {"cbrun": [], "hand": []}
    for round_ in range(args.rounds):
        for variant in ("cbrun", "hand") if round_ % 2 == 0 else ("hand", "cbrun"):
            times = epoch_times(variant, work / "epoch", work)[1:]
            walls[variant].append(statistics.median(t[0] for t in times))
            fastest[variant].append(min(t[0] for t in times))
            cpus[variant].append(statistics.median(t[1] for t in times))
            print(
                f"  round {round_ + 1} {variant:5}: median epoch "
                f"{walls[variant][-1] * 1000:.0f} ms wall, "
                f"{cpus[variant][-1] * 1000:.0f} ms CPU (epochs 2-"
                f"{len(times) + 1} wall: "
                f"{', '.join(f'{t[0] * 1000:.0f}' for t in times)})"
            )
    for label, values in (("wall", walls), ("CPU", cpus)):
        cbrun_ms = statistics.median(values["cbrun"]) * 1000
        hand_ms = statistics.median(values["hand"]) * 1000
        ratio = cbrun_ms / hand_ms
        verdict = "PASS" if ratio <= EPOCH_GOAL else "FAIL"
        print(
            f"  {label}, median over rounds: cbrun {cbrun_ms:.0f} ms, script "
            f"{hand_ms:.0f} ms per epoch: {ratio:.3f}x (goal <= {EPOCH_GOAL}x) "
            f"{verdict}"
        )
    # The fastest epoch is the one least disturbed by other processes.
    low = {variant: min(values) * 1000 for variant, values in fastest.items()}
    print(
        f"  fastest epoch: cbrun {low['cbrun']:.0f} ms, script {low['hand']:.0f} "
        f"ms: {low['cbrun'] / low['hand']:.3f}x"
    )
    print(
        f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(other processes make the wall times noisy; CPU time less so)"
    )


def rss_part(work: Path) -> None:
    """(b): peak RSS of cbrun train at 1,000 and 10,000 images."""
    print("(b) peak RSS of cbrun train, 1 epoch, PNGs 24x24")
    rss = {}
    for count in (1000, 10000):
        folder = work / f"rss{count}"
        write_images(folder, count // 3 + 1, seed=2, side=24)
        rss[count], wall = peak_rss(folder, work)
        checked = check_time(folder)
        print(
            f"  {count:>6} images: peak RSS {rss[count]:.0f} MiB ({wall:.1f} s); "
            f"validate's folder check {checked * 1000:.0f} ms"
        )
    growth = rss[10000] / rss[1000] - 1
    verdict = "PASS" if growth <= RSS_GOAL else "FAIL"
    print(
        f"  10,000 vs 1,000 images: {growth:+.1%} (goal within "
        f"{RSS_GOAL:.0%}) {verdict}"
    )


if __name__ == "__main__":
    main()
