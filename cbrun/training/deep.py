"""``cbrun validate --deep``: build everything a run needs, without training.

After the TensorFlow-free checks, this imports Keras and the user's code,
builds the data shapes, the model (``adapt: true`` layers adapted as in
``train``), the compiled optimizer and every callback, and runs one training
batch through the model and the loss without updating anything, so that
what would fail in the first seconds of ``train`` fails here, at the config
line it comes from.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from cbrun.config.data import KerasData
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.loading import LoadedConfig
from cbrun.config.problems import make_problem
from cbrun.errors import BuildError, CbrunError, ConfigPath, Problem
from cbrun.training.plan import FitPlan
from cbrun.training.reporting import first_line


def deep_check(loaded: LoadedConfig) -> list[Problem]:
    """Build a config's data shapes, model, optimizer and callbacks.

    Args:
        loaded: A config that passed the plain checks.

    Returns:
        Problems found (errors and warnings); empty when all builds.
    """
    try:
        return _build_everything(loaded)
    except BuildError as exc:
        return [make_problem(loaded.source, loaded.data, exc.path, exc.message)]
    except CbrunError as exc:
        return [Problem(str(loaded.path), 0, 0, "", str(exc))]
    except Exception as exc:
        message = f"building failed: {type(exc).__name__}: {first_line(exc)}"
        return [Problem(str(loaded.path), 0, 0, "", message)]


def _build_everything(loaded: LoadedConfig) -> list[Problem]:
    from cbrun.training.assemble import (
        adapter_for,
        callback_context,
        compiled_model,
        load_data_for,
        seed,
        start_keras,
    )

    config = loaded.experiment
    keras = start_keras(loaded)
    from cbrun.keras.callbacks import build_callbacks
    from cbrun.keras.data import missing_cache_files, shape_only_data

    seed(keras, config)
    problems: list[Problem] = []
    if isinstance(config.data, KerasData):
        data = shape_only_data(config.data)
        folder, missing = missing_cache_files(config.data)
        if missing:
            problems.append(
                make_problem(
                    loaded.source,
                    loaded.data,
                    ("data", "name"),
                    f"not in the Keras cache yet: {', '.join(missing)} in {folder}; "
                    "train will try to download them",
                    severity="warning",
                )
            )
    else:
        data = load_data_for(config, loaded.base_dir)
    # No distribution scope: the check builds, it does not train.
    model, _ = compiled_model(
        config,
        data,
        scoped=False,
        base_dir=loaded.base_dir,
        adapter=adapter_for(config, data, None),
    )
    model.optimizer.build(model.trainable_variables)
    plan = FitPlan.from_config(config.fit, data)
    if config.stages:
        _plan_stages(config, data, plan)
    one_batch(config, model, data, plan.effective_batch_size)
    scratch = Path(tempfile.mkdtemp(prefix="cbrun-deep-"))
    try:
        build_callbacks(list(config.callbacks), callback_context(plan, data, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return problems


def _plan_stages(config: ExperimentConfig, data: Any, plan: FitPlan) -> None:
    """Plan the stages on the run's feed, as train does.

    A stage may not change what a tf.data feed was batched and shuffled with.
    """
    from cbrun.cluster import Cluster
    from cbrun.training.assemble import _feed
    from cbrun.training.stages import plan_stages

    fed, _ = _feed(config, data, plan, Cluster())
    plan_stages(config, fed, smoke=False)


def one_batch(config: ExperimentConfig, model: Any, data: Any, batch_size: int) -> None:
    """Run the first training batch through the model and the loss; update nothing.

    Args:
        config: The config (for the places of what fails).
        model: The compiled model.
        data: The loaded data.
        batch_size: ``fit``'s batch size.

    Raises:
        BuildError: At ``model.inputs`` (or the model) when the batch does not
            go through the model, at ``compile.loss`` when the loss cannot
            take the labels and outputs, at ``compile.metrics`` for a metric;
            with Keras's own line.
    """
    from cbrun.keras.first_batch import (
        batch_loss,
        evaluate_batch,
        first_batch,
        forward,
    )

    x, y = first_batch(data, batch_size)
    try:
        y_pred = forward(model, x)
    except Exception as exc:
        raise BuildError(
            f"one batch of the data ({_shapes(x)}) does not go through the model: "
            f"{first_line(exc).rstrip('.')}{_strings_hint(x, exc)}",
            _inputs_place(config),
        ) from None
    try:
        batch_loss(model, x, y, y_pred)
    except Exception as exc:
        raise BuildError(
            f"the loss cannot take one batch of labels {_shapes(y)} with the "
            f"model's outputs {_shapes(y_pred)}: {first_line(exc)}"
            f"{_loss_hint(config, y)}",
            ("compile", "loss"),
        ) from None
    try:
        evaluate_batch(model, x, y)
    except Exception as exc:
        metrics = bool(config.compile.metrics)
        raise BuildError(
            f"one batch through the compiled loss and metrics failed: "
            f"{first_line(exc)}",
            ("compile", "metrics") if metrics else ("compile",),
        ) from None


def _strings_hint(x: Any, exc: Exception) -> str:
    """The usual fix when strings reach a layer that takes numbers."""
    values = x.values() if isinstance(x, dict) else [x]
    strings = any("string" in str(getattr(v, "dtype", "")) for v in values)
    if not strings or "string" not in str(exc):
        return ""
    return (
        "; strings (text files, a table's text column) need a TextVectorization "
        "or StringLookup layer with adapt: true before the layers that take "
        "numbers"
    )


def _loss_hint(config: ExperimentConfig, y: Any) -> str:
    """The usual fix when class labels and a crossentropy loss do not match."""
    loss = config.compile.loss
    name = str(loss if isinstance(loss, str) else getattr(loss, "type", "")).lower()
    if isinstance(y, dict) and len(y) > 1 and not isinstance(loss, dict):
        shown = str(loss) if isinstance(loss, str) else name
        pairs = ", ".join(f"{output}: ..." for output in y)
        return (
            f"; one loss applies to every output ({', '.join(y)}): give a loss by "
            f"output name, loss: {{{pairs}}} (not {shown} for each)"
        )
    rank = len(getattr(y, "shape", ()))
    if "categorical" not in name or isinstance(y, dict):
        return ""
    if "sparse" not in name and rank == 1:
        return (
            "; integer class labels go with sparse_categorical_crossentropy, or "
            "make them one-hot rows with data.labels: {one_hot: true}"
        )
    if "sparse" in name and rank == 2 and y.shape[-1] > 1:
        return (
            "; one-hot labels go with categorical_crossentropy "
            "(sparse_categorical_crossentropy takes class indexes)"
        )
    return ""


def _inputs_place(config: ExperimentConfig) -> ConfigPath:
    """Where the model's inputs are described."""
    spec = config.model
    if getattr(spec, "inputs", None) is not None:
        return ("model", "inputs")
    if spec.build is not None:
        return ("model", "build")
    if spec.path is not None:
        return ("model", "path")
    return ("model",)


def _shapes(value: Any) -> str:
    """``(32, 4) float32``, or ``{name: shape dtype, ...}`` for named values."""
    if isinstance(value, dict):
        inner = ", ".join(f"{name}: {_shapes(item)}" for name, item in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shapes(item) for item in value) + "]"
    shape = tuple(getattr(value, "shape", ()))
    dtype = getattr(value, "dtype", None)
    name = getattr(dtype, "name", None) or str(dtype)
    return f"{shape} {name}"
