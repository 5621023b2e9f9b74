"""One training run: resolve, build, fit, evaluate, record.

Everything here imports Keras lazily, inside :func:`train`, so that importing
this module costs nothing until a run starts.
"""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import click
import yaml

from cbrun.config.callbacks import CallbackSchema
from cbrun.config.keras_names import METRIC_DIRECTIONS
from cbrun.config.loading import LoadedConfig
from cbrun.config.problems import make_problem
from cbrun.errors import BuildError, CbrunError, ConfigError, ExitCode
from cbrun.runs import manifest as runs
from cbrun.runs.rundir import create_run_dir


class Interrupted(CbrunError):
    """Training was stopped by SIGINT (Ctrl-C) or SIGTERM."""

    def __init__(self, signal_name: str, exit_code: ExitCode) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.exit_code = exit_code


class TrainingFailed(CbrunError):
    """Training raised, or stopped on NaN; run.json says which."""

    exit_code = ExitCode.TRAINING_FAILED


@dataclass
class RunResult:
    """What one run ended with.

    Attributes:
        run_dir: The run directory.
        status: The final status written to run.json.
        record: The final run record.
        history: Metric name to one value per epoch.
    """

    run_dir: Path
    status: str
    record: runs.RunRecord
    history: dict[str, list[float]] = field(default_factory=dict)


def _say(message: str) -> None:
    click.echo(f"cbrun: {message}", err=True)


def _config_error(loaded: LoadedConfig, exc: BuildError) -> ConfigError:
    problem = make_problem(loaded.source, loaded.data, exc.path, exc.message)
    return ConfigError([problem])


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into an exception so the run records ``interrupted``."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted("SIGTERM", ExitCode.TERMINATED)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # Not the main thread: leave signals alone.
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _monitor(loaded: LoadedConfig) -> tuple[str, bool]:
    """Pick the quantity whose best value run.json reports, and its direction."""
    config = loaded.experiment
    has_validation = bool(config.fit.validation_split) or (
        config.fit.validation_data is not None
    )
    for callback in config.callbacks:
        monitor = getattr(callback, "monitor", None)
        if isinstance(monitor, str):
            mode = getattr(callback, "mode", "auto")
            break
    else:
        monitor, mode = ("val_loss" if has_validation else "loss"), "auto"
    if mode != "auto":
        return monitor, mode == "max"
    base = monitor.removeprefix("val_")
    return monitor, METRIC_DIRECTIONS.get(base, "down") == "up"


SMOKE_EPOCHS = 2
SMOKE_STEPS = 2


def _fit_arguments(
    loaded: LoadedConfig, data: Any, *, smoke: bool = False
) -> dict[str, Any]:
    fit = loaded.experiment.fit
    arguments = fit.model_dump(exclude={"validation_data"})
    if smoke:
        # Lightning's fast_dev_run for Keras: every callback still fires.
        arguments.update(
            epochs=SMOKE_EPOCHS,
            initial_epoch=0,
            steps_per_epoch=SMOKE_STEPS,
            validation_steps=SMOKE_STEPS,
            verbose=0,
        )
    if fit.validation_data == "test":
        if data.x_test is None:
            raise BuildError(
                "validation_data: test needs a test split, and this data has none; "
                "set data.test_size or use fit.validation_split",
                ("fit", "validation_data"),
            )
        arguments["validation_data"] = (data.x_test, data.y_test)
    return arguments


def _stop_reason(
    callbacks: Sequence[Any], epochs_run: int, epochs: int
) -> tuple[str, str]:
    """Return (status, reason) from what the callbacks did."""
    import keras

    for callback in callbacks:
        if (
            isinstance(callback, keras.callbacks.EarlyStopping)
            and callback.stopped_epoch
        ):
            best = callback.best
            reason = (
                f"EarlyStopping: {callback.monitor} did not improve for "
                f"{callback.patience} epochs after epoch {callback.best_epoch + 1} "
                f"(best {float(best):.6g}); stopped at epoch "
                f"{callback.stopped_epoch + 1}"
            )
            return runs.STOPPED_EARLY, reason
    if epochs_run < epochs:
        return runs.STOPPED_EARLY, f"a callback stopped training at epoch {epochs_run}"
    return runs.COMPLETED, f"finished {epochs_run} epochs"


def _nan_stopped(callbacks: Sequence[Any], last_logs: dict[str, float]) -> bool:
    import keras

    has_guard = any(isinstance(c, keras.callbacks.TerminateOnNaN) for c in callbacks)
    loss = last_logs.get("loss")
    return has_guard and loss is not None and not math.isfinite(loss)


def _write_resolved_config(run_dir: Path, loaded: LoadedConfig) -> None:
    resolved = loaded.experiment.model_dump(mode="json")
    header = f"# Resolved from {loaded.path}"
    if loaded.overrides:
        header += " with " + " ".join(f"--set {o}" for o in loaded.overrides)
    text = header + "\n" + yaml.safe_dump(resolved, sort_keys=False)
    (run_dir / "config.yaml").write_text(text, encoding="utf-8")


def train(
    loaded: LoadedConfig,
    runs_dir: Path,
    *,
    command: Sequence[str],
    verbose: bool = False,
    echo: Callable[[str], None] = _say,
    smoke: bool = False,
) -> RunResult:
    """Run one config: build everything, fit, evaluate and record.

    Args:
        loaded: The validated config.
        runs_dir: Runs go to ``runs_dir/<name>/<timestamp>/``.
        command: The command line, recorded in run.json.
        verbose: Keep TensorFlow's info logs.
        echo: Where cbrun's own lines go (stderr by default).
        smoke: Two epochs of two batches each (validation and test likewise),
            silently, with every callback built and fired.

    Returns:
        The result; its status is completed or stopped_early.

    Raises:
        ConfigError: Something in the config cannot be built (before the run
            dir is created, so no run is recorded).
        TrainingFailed: Training raised or stopped on NaN (recorded).
        Interrupted: SIGINT or SIGTERM (recorded).
    """
    from cbrun.keras_env import import_keras

    config = loaded.experiment
    keras = import_keras(config.backend, verbose=verbose)
    from cbrun.build.callbacks import BuildContext, build_callbacks
    from cbrun.build.data import load_data
    from cbrun.build.imports import add_import_root
    from cbrun.build.model import build_model, check_output_fits_labels, compile_model
    from cbrun.build.recorder import RunRecorder

    add_import_root(loaded.path.parent)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic and config.backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    try:
        data = load_data(config.data, seed=config.seed, base_dir=loaded.path.parent)
        model = build_model(config, data)
        compile_model(model, config)
        check_output_fits_labels(model, config, data)
        fit_arguments = _fit_arguments(loaded, data, smoke=smoke)
    except BuildError as exc:
        raise _config_error(loaded, exc) from None
    except Exception as exc:
        if verbose:
            raise
        raise TrainingFailed(
            f"{loaded.path}: building the model failed: {_first_line(exc)} "
            "(--verbose shows the traceback)"
        ) from None

    run_dir = create_run_dir(runs_dir, loaded.name)
    echo(f"run dir: {run_dir}")
    echo(f"data: {data.description}")
    _write_resolved_config(run_dir, loaded)
    manifest = runs.RunManifest(run_dir)
    manifest.start(loaded.name, loaded.path, config.seed, list(command))
    samples = len(data.x_train)
    context = BuildContext(
        run_dir=run_dir,
        train_samples=samples - int(samples * config.fit.validation_split),
        batch_size=config.fit.batch_size or 32,
    )
    try:
        callbacks = build_callbacks(list[CallbackSchema](config.callbacks), context)
    except BuildError as exc:
        _finish_safely(manifest, runs.FAILED, echo, error=exc.message)
        raise _config_error(loaded, exc) from None

    monitor, maximize = _monitor(loaded)

    def on_epoch(
        epochs_run: int, history: dict[str, list[float]], best: dict[str, Any] | None
    ) -> None:
        runs.write_history(run_dir, history)
        manifest.update(epochs_run=epochs_run, best=best)

    recorder = RunRecorder(monitor, maximize, on_epoch)
    try:
        with _sigterm_as_interrupt():
            model.fit(
                data.x_train,
                data.y_train,
                callbacks=[*callbacks, recorder],
                **fit_arguments,
            )
    except (KeyboardInterrupt, Interrupted) as exc:
        if not isinstance(exc, Interrupted):
            exc = Interrupted("SIGINT", ExitCode.INTERRUPTED)
        _finish_safely(
            manifest,
            runs.INTERRUPTED,
            echo,
            history=recorder.history,
            stop_reason=f"{exc.signal_name} after {recorder.epochs_run} epochs",
            epochs_run=recorder.epochs_run,
        )
        echo(f"interrupted by {exc.signal_name}; the run so far is in {run_dir}")
        raise exc from None
    except Exception as exc:
        status = runs.FAILED
        if _nan_stopped(callbacks, {"loss": math.nan}) and "nan" in str(exc).lower():
            status = runs.TERMINATED_NAN
        message = f"{type(exc).__name__}: {_first_line(exc)}"
        _finish_safely(
            manifest,
            status,
            echo,
            history=recorder.history,
            error=message,
            epochs_run=recorder.epochs_run,
        )
        if verbose:
            raise
        raise TrainingFailed(f"training failed ({status}): {message}") from None

    if _nan_stopped(callbacks, recorder.last_logs):
        _finish_safely(
            manifest,
            runs.TERMINATED_NAN,
            echo,
            stop_reason=f"TerminateOnNaN: loss became {recorder.last_logs.get('loss')} "
            f"in epoch {recorder.epochs_run}",
            epochs_run=recorder.epochs_run,
        )
        echo(f"stopped: the loss became NaN in epoch {recorder.epochs_run}")
        raise TrainingFailed("training terminated on NaN loss (terminated_nan)")

    epochs = fit_arguments["epochs"]
    status, reason = _stop_reason(callbacks, recorder.epochs_run, epochs)
    try:
        test_metrics = None
        if data.x_test is not None:
            evaluated = model.evaluate(
                data.x_test,
                data.y_test,
                verbose=0,
                return_dict=True,
                batch_size=config.fit.validation_batch_size or config.fit.batch_size,
                steps=SMOKE_STEPS if smoke else None,
            )
            test_metrics = {k: float(v) for k, v in evaluated.items()}
        model.save(run_dir / "model.keras")
    except Exception as exc:
        message = f"after training: {type(exc).__name__}: {_first_line(exc)}"
        _finish_safely(manifest, runs.FAILED, echo, error=message)
        if verbose:
            raise
        raise TrainingFailed(
            f"{message} (the trained epochs are in {run_dir})"
        ) from None
    record = _finish_safely(
        manifest, status, echo, stop_reason=reason, test_metrics=test_metrics
    )
    echo(reason)
    if recorder.best is not None:
        best = recorder.best
        echo(f"best {best['monitor']}: {best['value']:.6g} at epoch {best['epoch']}")
    if test_metrics:
        echo("test: " + ", ".join(f"{k} {v:.6g}" for k, v in test_metrics.items()))
    echo(f"files: {run_dir} (run.json, history.json, config.yaml, model.keras)")
    return RunResult(run_dir, status, record, recorder.history)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _finish_safely(
    manifest: runs.RunManifest,
    status: str,
    echo: Callable[[str], None],
    history: dict[str, list[float]] | None = None,
    **fields: Any,
) -> runs.RunRecord:
    """Record the end of a run; a failure to write is itself a clear error.

    Raises:
        TrainingFailed: run.json or history.json cannot be written (a full
            disk, a folder made read-only), naming the folder and the reason.
    """
    try:
        if history is not None:
            runs.write_history(manifest.run_dir, history)
        return manifest.finish(status, **fields)
    except OSError as exc:
        raise TrainingFailed(
            f"cannot record the run in {manifest.run_dir}: {exc.strerror or exc}; "
            "free space or fix the folder's permissions"
        ) from None


def default_command() -> list[str]:
    """The command line as typed, for run.json."""
    return ["cbrun", *sys.argv[1:]]
