"""TensorBoard's HParams summary at the end of a run (design section 11).

A run with a ``TensorBoard`` callback also writes, into that callback's
``log_dir`` itself, the hparams plugin's session start (the run's
hyperparameters) and its final metrics as scalars:

- hyperparameters: a sweep trial's params (run.json ``trial.params``) and
  the values at the config's ``tracking.tensorboard_hparams`` keys
  (``--set`` syntax); bool, int, float and str as they are, anything else
  as its JSON text;
- scalars, at step = epochs run: ``final/<name>`` for each metric's last
  epoch value (``final/val_accuracy``), ``final/test_<name>`` for the test
  metrics and ``best/<monitor>`` for the monitored best.

Why the ``log_dir`` root: the HParams dashboard makes a session of every run
folder holding a session start, and takes as its metrics the scalars of that
folder and of the folders under it. Keras writes ``train/`` and
``validation/`` under ``log_dir``, so its epoch curves join the final
metrics in the dashboard; a ``hparams/`` sibling would lose them. No
``hparams_config`` (experiment) summary is written: the dashboard uses the
first one it finds for every run under ``--logdir``, so one run's would hide
the others' hparams. Without one it infers the columns from all sessions.
A resumed run writes again into the same folder: the dashboard keeps a
folder's first session start (the same config) and each scalar's last value.

Any failure is one line through ``echo``, never a failed run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from cbrun.config.callbacks.tensorboard import TensorBoardSchema
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.loading import LoadedConfig
from cbrun.config.overrides import split_key
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigError
from cbrun.runs.layout import resolve_inside

Scalar = bool | int | float | str
MISSING: Final = object()  # lookup found no value there


def tensorboard_log_dirs(config: ExperimentConfig, run_dir: Path) -> list[Path]:
    """Each ``TensorBoard`` callback's ``log_dir``, resolved as its builder does."""
    found: list[Path] = []
    for callback in config.callbacks:
        if isinstance(callback, TensorBoardSchema):
            folder = resolve_inside(run_dir, callback.log_dir)
            if folder not in found:
                found.append(folder)
    return found


def hparam_value(value: Any) -> Scalar:
    """A value TensorBoard accepts: bool, int, float, str; else its JSON text."""
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, default=str, separators=(", ", ": "))


def lookup(data: Any, key: str) -> Any:
    """The value at a ``--set`` key in config data, or ``MISSING``.

    Segments step into mappings by name and into lists by index; under
    ``callbacks`` a segment may name the one callback of that ``type``.

    Raises:
        ConfigError: ``key`` is not a dotted key.
    """
    current = data
    path: list[str] = []
    for part in split_key(key, SourceMap("<tracking>"), key):
        if isinstance(current, Mapping):
            current = current.get(part, MISSING)
        elif isinstance(current, list):
            current = _list_item(current, part, callbacks=path == ["callbacks"])
        else:
            return MISSING
        if current is MISSING:
            return MISSING
        path.append(part)
    return current


def _list_item(items: list[Any], part: str, *, callbacks: bool) -> Any:
    if part.isascii() and part.isdigit():
        index = int(part)
        return items[index] if index < len(items) else MISSING
    if callbacks:
        typed = [i for i in items if isinstance(i, Mapping) and i.get("type") == part]
        if len(typed) == 1:
            return typed[0]
    return MISSING


def chosen_hparams(
    loaded: LoadedConfig,
    trial: Mapping[str, Any] | None,
    echo: Callable[[str], None],
) -> dict[str, Scalar]:
    """The run's hyperparameters: the config's chosen keys, then a trial's params.

    A key is looked up in the config as written (overrides applied), then in
    the resolved config (defaults filled). A key found in neither is left
    out with one line through ``echo``.
    """
    result: dict[str, Scalar] = {}
    tracking = loaded.experiment.tracking
    keys = (tracking.tensorboard_hparams if tracking is not None else None) or []
    resolved: dict[str, Any] | None = None
    for key in keys:
        try:
            value = lookup(loaded.data, key)
            if value is MISSING:
                if resolved is None:
                    resolved = loaded.experiment.model_dump(mode="json", warnings=False)
                value = lookup(resolved, key)
        except ConfigError as exc:
            echo(f"tracking.tensorboard_hparams: {exc.problems[0].message}")
            continue
        if value is MISSING:
            echo(f"tracking.tensorboard_hparams: {key} is not in the config; left out")
            continue
        result[key] = hparam_value(value)
    params = trial.get("params") if trial is not None else None
    if isinstance(params, Mapping):
        result.update({str(k): hparam_value(v) for k, v in params.items()})
    return result


def final_scalars(
    history: Mapping[str, Sequence[float | None]],
    test_metrics: Mapping[str, float | None] | None,
    best: Mapping[str, Any] | None,
) -> dict[str, float]:
    """``final/<name>``, ``final/test_<name>`` and ``best/<monitor>`` values.

    Missing and non-finite values are left out (a NaN scalar breaks the
    dashboard's sorting and says nothing a run.json does not).
    """
    found: dict[str, Any] = {}
    for name, values in history.items():
        if values:
            found[f"final/{name}"] = values[-1]
    for name, value in (test_metrics or {}).items():
        found[f"final/test_{name}"] = value
    if best is not None and best.get("monitor"):
        found[f"best/{best['monitor']}"] = best.get("value")
    return {
        name: float(value)
        for name, value in found.items()
        if isinstance(value, int | float) and math.isfinite(value)
    }


def write_hparams(
    loaded: LoadedConfig,
    run_dir: Path,
    *,
    trial: Mapping[str, Any] | None,
    history: Mapping[str, Sequence[float | None]],
    test_metrics: Mapping[str, float | None] | None,
    best: Mapping[str, Any] | None,
    echo: Callable[[str], None],
) -> list[Path]:
    """Write the hparams summary and final metrics into each TensorBoard log dir.

    Never raises for a failure of its own: each is one line through
    ``echo`` (the run's record is what counts).

    Args:
        loaded: The validated config the run trained.
        run_dir: The run directory the callbacks' paths resolve in.
        trial: ``{number, params}`` of a sweep's trial, else None.
        history: Metric name to one value per epoch.
        test_metrics: The test metrics, or None.
        best: ``{monitor, value, epoch}`` of the monitored quantity, or None.
        echo: Where the warnings go.

    Returns:
        The log dirs written to (none without a TensorBoard callback).
    """
    try:
        folders = tensorboard_log_dirs(loaded.experiment, run_dir)
        if not folders:
            return []
        hparams = chosen_hparams(loaded, trial, echo)
        scalars = final_scalars(history, test_metrics, best)
        step = max((len(v) for v in history.values()), default=0)
        trial_id = _trial_id(run_dir, trial)
        written = []
        for folder in folders:
            _write_one(folder, hparams, scalars, step, trial_id)
            written.append(folder)
        return written
    except Exception as exc:  # a view of the run must never cost it
        text = str(exc).strip().splitlines()
        detail = f": {text[0]}" if text else ""
        echo(f"TensorBoard hparams not written: {type(exc).__name__}{detail}")
        return []


def _trial_id(run_dir: Path, trial: Mapping[str, Any] | None) -> str:
    """The session group's name: ``<name>/<stamp>``, or a trial's sweep path.

    Unique per run, so the dashboard lists each run rather than averaging
    runs whose hyperparameters happen to agree (its default groups by them).
    """
    parts = run_dir.absolute().parts
    return "/".join(parts[-4:] if trial is not None else parts[-2:])


def _write_one(
    folder: Path,
    hparams: Mapping[str, Scalar],
    scalars: Mapping[str, float],
    step: int,
    trial_id: str,
) -> None:
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    folder.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(folder))
    try:
        with writer.as_default():
            hp.hparams(dict(hparams), trial_id=trial_id)
            for name, value in scalars.items():
                tf.summary.scalar(name, value, step=step)
    finally:
        writer.close()
