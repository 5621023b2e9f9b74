"""Section 4's child process: per-epoch timings of in-process training runs.

Run by bench/bench_callbacks.py (the benchmark itself never imports
TensorFlow)::

    python bench/probe_callbacks.py --none NONE.yaml --tutorial TUTORIAL.yaml \
        --rounds N --out OUT.json [--profile-own]

Four variants, alternating run by run (the order rotates every round), all
built from the same two configs (bench/bench_workloads.py
``callback_configs``) with the same seed, data and model:

- ``keras_none``: cbrun builds data, model and fit plan
  (``cbrun.training.assemble.assemble``), then plain ``model.fit`` with the
  same inputs as ``train`` (the config's feed, numpy by default) and no
  callbacks at all;
- ``keras_tutorial``: the same with every tutorial callback, as cbrun builds
  them from the config, and nothing of cbrun's own;
- ``cbrun_none``: ``cbrun.training.lifecycle.train`` of the config without
  callbacks: only cbrun's own (ThrottledBackupAndRestore,
  CallbackStateKeeper, StopCheck, RunRecorder) and its work before and after
  ``fit``;
- ``cbrun_tutorial``: ``train`` with every tutorial callback.

A callback first in ``fit``'s list stamps each epoch's start: an epoch runs
from its start to the next one's (or the end of training), so it includes
every callback's hooks. Every overridden hook of every callback is timed (the
Keras default no-op hooks are left alone), so are ``os.fsync``, the
history.json and run.json writes, and what cbrun does before and after
``fit`` (run dir and config.yaml, the first run.json, the final fsynced
records, history.png, model.keras). ``--profile-own`` also runs cbrun's own
callbacks' hooks and history.png under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("keras_none", "keras_tutorial", "cbrun_none", "cbrun_tutorial")
HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_batch_begin",
    "on_batch_end",
)


class Probe:
    """Timings of the current run, filled by the wrappers.

    ``run["epochs"]`` holds one dict per epoch: ``epoch_s``, ``cpu_s``,
    ``hooks`` (callback class to seconds in its hooks), ``calls`` (callback
    class to hook calls) and ``parts`` (named cbrun operations to seconds).
    Hooks and parts outside any epoch go to ``run["outside"]`` and
    ``run["parts"]``.
    """

    def __init__(self) -> None:
        self.run: dict[str, Any] = {}
        self.epoch: dict[str, Any] | None = None
        self.started = 0.0
        self.cpu_started = 0.0

    def begin_run(self, variant: str, round_: int) -> None:
        self.run = {
            "variant": variant,
            "round": round_,
            "epochs": [],
            "outside": {},
            "parts": {},
            "backup_saves": [],
        }
        self.epoch = None

    def epoch_begins(self) -> None:
        self.close_epoch()
        self.started, self.cpu_started = time.perf_counter(), time.process_time()
        self.epoch = {
            "epoch_s": 0.0,
            "cpu_s": 0.0,
            "hooks": {},
            "calls": {},
            "parts": {},
        }
        self.run["epochs"].append(self.epoch)

    def close_epoch(self) -> None:
        if self.epoch is not None:
            self.epoch["epoch_s"] = time.perf_counter() - self.started
            self.epoch["cpu_s"] = time.process_time() - self.cpu_started
        self.epoch = None

    def add_hook(self, name: str, seconds: float) -> None:
        target = self.epoch["hooks"] if self.epoch is not None else self.run["outside"]
        target[name] = target.get(name, 0.0) + seconds
        if self.epoch is not None:
            self.epoch["calls"][name] = self.epoch["calls"].get(name, 0) + 1

    def add_part(self, key: str, seconds: float) -> None:
        target = self.epoch["parts"] if self.epoch is not None else self.run["parts"]
        target[key] = target.get(key, 0.0) + seconds
        count = key + "_n"
        target[count] = target.get(count, 0) + 1


PROBE = Probe()
OWN = ("ThrottledBackupAndRestore", "CallbackStateKeeper", "StopCheck", "RunRecorder")
# With --profile-own: cProfile of cbrun's own callbacks' hooks, and of history.png.
PROFILERS: dict[str, cProfile.Profile] = {}


def timed(function: Callable[..., Any], add: Callable[[float], None]) -> Any:
    """Wrap ``function`` so that each call adds its duration through ``add``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            add(time.perf_counter() - start)

    return wrapper


def part(key: str) -> Callable[[float], None]:
    return lambda seconds: PROBE.add_part(key, seconds)


def wrap_callback(callback: Any, is_default: Callable[[Any], bool]) -> None:
    """Time every overridden hook of ``callback`` (nested calls counted once)."""
    name = type(callback).__name__
    depth = [0]
    profiler = PROFILERS.get("own_callbacks") if name in OWN else None

    def add(seconds: float) -> None:
        if depth[0] == 0:
            PROBE.add_hook(name, seconds)

    for hook in HOOKS:
        method = getattr(callback, hook)
        if is_default(method):
            continue

        def wrapper(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            depth[0] += 1
            if profiler and depth[0] == 1:
                profiler.enable()
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                depth[0] -= 1
                add(time.perf_counter() - start)
                if profiler and depth[0] == 0:
                    profiler.disable()

        setattr(callback, hook, wrapper)
    save = getattr(callback, "_save_model", None)
    if save is not None and name == "ThrottledBackupAndRestore":

        def counted_save() -> None:
            start = time.perf_counter()
            save()
            PROBE.run["backup_saves"].append(time.perf_counter() - start)

        callback._save_model = counted_save


def profiled(function: Callable[..., Any], key: str) -> Any:
    """Run ``function`` under the profiler ``key`` when there is one."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        profiler = PROFILERS.get(key)
        if profiler is None:
            return function(*args, **kwargs)
        profiler.enable()
        try:
            return function(*args, **kwargs)
        finally:
            profiler.disable()

    return wrapper


def profile_lines() -> dict[str, list[str]]:
    """The profilers' heaviest functions by own time (those that ran)."""
    import pstats

    from bench_profiling import cprofile_text

    lines = {}
    for key, profiler in PROFILERS.items():
        try:
            lines[key] = cprofile_text(pstats.Stats(profiler), "tottime", 14)
        except TypeError:  # it never ran (e.g. no history.png in this process)
            continue
    return lines


def epoch_timer(keras: Any) -> Any:
    """A callback, first in the list, that stamps epoch starts and the end."""

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            PROBE.epoch_begins()

        def on_train_end(self, logs: Any = None) -> None:
            PROBE.close_epoch()

    return EpochTimer()


def instrument(keras: Any) -> None:
    """Patch fit and cbrun's bookkeeping functions with timers."""
    from keras.src.utils.python_utils import is_default

    import cbrun.runs.plots
    import cbrun.training.lifecycle
    from cbrun.runs import manifest

    original_fit = keras.Model.fit

    def fit(self: Any, *args: Any, callbacks: Any = None, **kwargs: Any) -> Any:
        callbacks = list(callbacks or [])
        PROBE.run["callbacks"] = [type(c).__name__ for c in callbacks]
        for callback in callbacks:
            wrap_callback(callback, is_default)
        start = time.perf_counter()
        try:
            return original_fit(
                self, *args, callbacks=[epoch_timer(keras), *callbacks], **kwargs
            )
        finally:
            PROBE.run["fit_s"] = time.perf_counter() - start

    keras.Model.fit = fit
    keras.Model.save = timed(keras.Model.save, part("model_keras"))
    keras.Model.evaluate = timed(keras.Model.evaluate, part("evaluate"))
    manifest.write_history = timed(manifest.write_history, part("history_json"))
    manifest.RunManifest.update = timed(manifest.RunManifest.update, part("run_json"))
    manifest.RunManifest.start = timed(
        manifest.RunManifest.start, part("run_json_start")
    )
    os.fsync = timed(os.fsync, part("fsync"))
    # cbrun.training.lifecycle draws history.png on a thread with draw_history_plot.
    cbrun.runs.plots.draw_history_plot = timed(
        profiled(cbrun.runs.plots.draw_history_plot, "history_png"),
        part("history_png"),
    )
    # Patched where cbrun.training.lifecycle looks them up (its own globals).
    lifecycle = cbrun.training.lifecycle
    lifecycle.finish_safely = timed(lifecycle.finish_safely, part("final_records"))
    lifecycle.create_run_dir = timed(lifecycle.create_run_dir, part("run_dir"))
    lifecycle.write_resolved_config = timed(
        lifecycle.write_resolved_config, part("config_yaml")
    )
    lifecycle.assemble = timed(lifecycle.assemble, part("build"))


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    """An HTTP server for RemoteMonitor, in its own process (POST gets 501)."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return server, port


def run_variant(variant: str, configs: dict[str, Any], tmp: Path) -> None:
    """One training run of ``variant`` into ``tmp``.

    The ``keras`` variants assemble data, model and fit plan as ``train`` does
    (the timed ``cbrun.training.lifecycle.assemble``), then call ``fit`` with
    the same inputs and arguments as ``train`` (the config's feed, numpy by
    default) and only the tutorial's callbacks.
    """
    import cbrun.training.lifecycle as lifecycle
    from cbrun.cluster import Cluster
    from cbrun.keras.callbacks import build_callbacks
    from cbrun.training.assemble import callback_context
    from cbrun.training.reporting import silent

    kind, which = variant.split("_")
    loaded = configs[which]
    if kind == "cbrun":
        lifecycle.train(loaded, tmp / "runs", command=["bench"], echo=silent)
        return
    built = lifecycle.assemble(
        loaded, smoke=False, verbose=False, cluster=Cluster(), echo=silent
    )
    plan, data = built.plan, built.data
    callbacks = []
    if which == "tutorial":
        run_dir = tmp / "keras_run"
        run_dir.mkdir(parents=True, exist_ok=True)
        context = callback_context(plan, data, run_dir)
        schemas = list(loaded.experiment.callbacks)
        callbacks = [c for _, c in build_callbacks(schemas, context)]
    inputs = (
        (plan.train_input,)
        if plan.train_input is not None
        else (data.x_train, data.y_train)
    )
    built.model.fit(*inputs, callbacks=callbacks, **plan.fit_arguments())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--none", type=Path, required=True)
    parser.add_argument("--tutorial", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile-own", action="store_true")
    args = parser.parse_args()
    if args.profile_own:
        PROFILERS.update(
            own_callbacks=cProfile.Profile(), history_png=cProfile.Profile()
        )
    sys.path.insert(0, str(REPO))
    from cbrun.config.loading import load_config
    from cbrun.keras.env import import_keras

    keras = import_keras("tensorflow")
    instrument(keras)
    server, port = start_server()
    root = f"callbacks.RemoteMonitor.root=http://127.0.0.1:{port}"
    configs = {
        "none": load_config(args.none),
        "tutorial": load_config(args.tutorial, overrides=[root]),
    }
    runs = []
    try:
        for round_ in range(args.rounds):
            shift = round_ % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                keras.backend.clear_session()
                gc.collect()
                PROBE.begin_run(variant, round_)
                with tempfile.TemporaryDirectory(prefix="cbrun-bench-cb-") as tmp:
                    start = time.perf_counter()
                    run_variant(variant, configs, Path(tmp))
                    PROBE.run["total_s"] = time.perf_counter() - start
                runs.append(PROBE.run)
            print(f"  .. probe round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        server.terminate()
        server.wait()
    report = {"runs": runs, "server_port": port, "profiles": profile_lines()}
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
