"""MLflow tracking's cost to training: per epoch, against the same run untracked.

Run: ``python bench/bench_tracking.py [--epochs 30] [--rounds 3]``.

Trains ``configs/earlystop.yaml`` (digits) for a fixed number of epochs
(EarlyStopping's patience raised so every run trains them all) in one
process, alternating an untracked run and one tracked into a fresh local
SQLite store. Printed:

- the median epoch time of each (fit's wall time over its epochs: from the
  tracker's ``start`` to its ``finish``, a no-op tracker for the untracked
  run) and their difference as a share of the untracked epoch (goal: at
  most 2 %); it includes the worker thread's share of the GIL;
- measured directly: the training thread's time inside the tracker's
  per-epoch calls, per epoch, as a share of the epoch time;
- the worker thread's CPU time in its per-epoch sends, per epoch: the most
  of the GIL it can take from the training loop (sends are throttled to
  1 % of the time between them, see ``cbrun.tracking.live.SEND_SHARE``);
- the end of the run: how long ``finish`` waited for MLflow (bounded by
  ``CBRUN_TRACKING_TIMEOUT``; not a per-epoch cost).

All tracked runs share one store (as ``mlflow.db`` beside a runs dir); a
first, tracked warm-up run imports TensorFlow and MLflow and creates the
store's tables (about 3 s of CPU, once per store) and is left out. In a
``cbrun train`` process MLflow is imported on the worker thread while
TensorFlow is imported and the model built, before fit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from cbrun.config.loading import load_config
from cbrun.tracking import MlflowSettings, live
from cbrun.tracking.live import MlflowRunTracker
from cbrun.training.lifecycle import train
from cbrun.training.records import resolved_data

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "earlystop.yaml"


SENDS = {"cpu": 0.0}
_log_epochs = live.log_epochs


def counted_log_epochs(*args: Any, **kwargs: Any) -> None:
    """live.log_epochs, its CPU time on the worker thread added up."""
    began = time.thread_time()
    try:
        _log_epochs(*args, **kwargs)
    finally:
        SENDS["cpu"] += time.thread_time() - began


live.log_epochs = counted_log_epochs  # type: ignore[assignment]


class Timed:
    """A tracker wrapper: wall clock from start to finish, time inside calls."""

    def __init__(self, inner: MlflowRunTracker | None) -> None:
        self.inner = inner
        self.started = self.finishing = 0.0
        self.inside = 0.0  # training thread's seconds in start + epoch
        self.finish_seconds = 0.0
        self.marks: list[tuple[float, int]] = []  # (time, epochs done)

    def start(self, run_dir: Path, record: Any) -> None:
        self.started = time.perf_counter()
        if self.inner is not None:
            self.inner.start(run_dir, record)
        self.inside += time.perf_counter() - self.started

    def epoch(self, history: Any) -> None:
        begin = time.perf_counter()
        self.marks.append((begin, max(len(v) for v in history.values())))
        if self.inner is not None:
            self.inner.epoch(history)
        self.inside += time.perf_counter() - begin

    def finish(self, run_dir: Path, record: Any, history: Any, update: Any) -> Any:
        self.finishing = time.perf_counter()
        if self.inner is not None:
            record = self.inner.finish(run_dir, record, history, update)
        self.finish_seconds = time.perf_counter() - self.finishing
        return record

    def steady(self) -> float:
        """Seconds per epoch over the last two thirds of the epochs.

        By then MLflow is imported and the store made (about 3 s of the
        worker's CPU at the start of a run, shared with the first epochs).
        """
        total = self.marks[-1][1]
        later = [m for m in self.marks if m[1] >= total // 3]
        (t0, e0), (t1, e1) = later[0], later[-1]
        return (t1 - t0) / max(1, e1 - e0)


def one_run(epochs: int, folder: Path, store: Path | None) -> list[float]:
    """Per epoch: fit, fit's last 2/3, tracker calls, worker's send CPU; finish."""
    overrides = [
        f"fit.epochs={epochs}",
        "fit.verbose=0",
        "callbacks.EarlyStopping.patience=100000",
    ]
    loaded = load_config(CONFIG, overrides)
    inner = None
    SENDS["cpu"] = 0.0
    if store is not None:
        settings = MlflowSettings(f"sqlite:///{store}", "bench")
        inner = MlflowRunTracker(settings, resolved_data(loaded.experiment), print)
    timed = Timed(inner)
    result = train(
        loaded, folder / "runs", command=["bench"], echo=lambda _: None, tracker=timed
    )
    if store is not None:
        assert result.record.tracking is not None, result.record.tracking_error
    ran = result.record.epochs_run
    fit_seconds = timed.finishing - timed.started
    return [
        fit_seconds / ran,
        timed.steady(),
        timed.inside / ran,
        SENDS["cpu"] / ran,
        timed.finish_seconds,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[bool, list[list[float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-tracking-") as scratch:
        # One store for every run, as mlflow.db beside a runs dir; the
        # warm-up imports TensorFlow and MLflow and creates its tables.
        store = Path(scratch) / "mlflow.db"
        one_run(2, Path(scratch) / "warm", store)
        for round_number in range(args.rounds):
            order = (False, True) if round_number % 2 == 0 else (True, False)
            for tracked in order:
                folder = Path(scratch) / f"{round_number}-{tracked}"
                run = one_run(args.epochs, folder, store if tracked else None)
                results[tracked].append(run)

    def median(tracked: bool, column: int) -> float:
        return statistics.median(r[column] for r in results[tracked])

    plain, tracked_epoch = median(False, 0), median(True, 0)
    plain_steady, tracked_steady = median(False, 1), median(True, 1)
    inside, sends, finish = median(True, 2), median(True, 3), median(True, 4)
    print(f"epochs per run: {args.epochs}, rounds: {args.rounds}")
    for label, a, b in (
        ("whole fit", plain, tracked_epoch),
        ("last 2/3 of the epochs", plain_steady, tracked_steady),
    ):
        print(
            f"{label}: median epoch {a * 1000:.1f} ms untracked, {b * 1000:.1f} ms "
            f"tracked: {(b - a) / a * 100:+.2f} % (goal <= 2 %)"
        )
    print(
        f"training thread inside the tracker: {inside * 1e6:.0f} us per epoch "
        f"({inside / plain * 100:.3f} % of an epoch)"
    )
    print(
        f"worker thread's CPU in MLflow sends (the GIL it may take from fit): "
        f"{sends * 1000:.2f} ms per epoch ({sends / plain * 100:.2f} % of an epoch)"
    )
    print(f"end of run, waiting for MLflow: {finish * 1000:.0f} ms (median)")


if __name__ == "__main__":
    main()
