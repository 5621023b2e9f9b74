"""Build and compile the Keras model that a config describes.

A Sequential model, a graph (:mod:`cbrun.keras.graph`), a saved file or a
user's builder; layers are created by :mod:`cbrun.keras.layers`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import keras

from cbrun.atomic import open_regular
from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.training import (
    LossObject,
    MetricObject,
    OptimizerObject,
    ScheduleObject,
    metrics_by_output,
)
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data import Dataset
from cbrun.keras.downloads import download_failure
from cbrun.keras.graph import build_graph
from cbrun.keras.imports import check_parameters, import_object, keras_error
from cbrun.keras.layers import build_layer, construct
from cbrun.keras.values import with_functions, with_paths
from cbrun.suggest import shorten, shown

_COULD_NOT_LOCATE = re.compile(r"Could not locate (?:function|class) '([^']{1,80})'")


def _sequential(
    config: ExperimentConfig,
    data: Dataset,
    *,
    base_dir: Path | None,
    adapter: Any,
) -> keras.Model:
    """``layers`` without a graph: a Sequential model, as a script writes it."""
    assert config.model.layers is not None
    specs = data.input_specs()
    if isinstance(specs, dict):
        raise BuildError(
            f"the data gives {len(specs)} named inputs ({', '.join(specs)}), and "
            "`layers:` without `model.inputs` is a Sequential model of one input; "
            "name them in model.inputs and say which layer takes which with "
            "`inputs:`",
            ("model", "layers"),
        )
    model = keras.Sequential(name=config.name)
    # Numbers keep Keras's default float input, as a script's keras.Input;
    # strings (text files, a table's text column) need their own dtype.
    dtype = "string" if specs.dtype == "string" else None
    model.add(keras.Input(shape=specs.shape, dtype=dtype))
    for index, layer in enumerate(config.model.layers):
        where: ConfigPath = ("model", "layers", index)
        reaching = tuple(model.outputs[0].shape[1:]) if model.layers else None
        built = build_layer(
            layer,
            where,
            input_shape=reaching or data.input_shape,
            base_dir=base_dir,
        )
        if adapter is not None and layer.adapt:
            adapter.adapt(built, model if model.layers else None, where)
        try:
            model.add(built)
        except (ValueError, TypeError) as exc:
            raise BuildError(
                f"layer {layer.type} does not fit after the previous layers "
                f"(input shape {data.input_shape}): {keras_error(exc)}",
                where,
            ) from None
    return model


def build_model(
    config: ExperimentConfig,
    data: Dataset,
    *,
    base_dir: Path | None = None,
    adapter: Any = None,
) -> keras.Model:
    """Build the (uncompiled) model: layers (Sequential or graph), a file or a builder.

    Args:
        config: The config.
        data: The loaded data (or its shapes).
        base_dir: The config's folder: a relative ``model.path`` is read from
            there, as data paths are, and ``{path: ...}`` builder params.
        adapter: Adapts the layers with ``adapt: true`` before they are
            called (``cbrun.keras.adapt.Adapter``); None adapts none.

    Raises:
        BuildError: A layer that Keras refuses, a missing file, a builder that
            fails, at the config line it comes from.
    """
    spec = config.model
    if spec.layers is not None and spec.is_graph:
        return build_graph(config, data, base_dir=base_dir, adapter=adapter)
    if spec.layers is not None:
        return _sequential(config, data, base_dir=base_dir, adapter=adapter)
    if spec.path is not None:
        path = spec.path if base_dir is None else str(base_dir / spec.path)
        return load_saved_model(path, shown_as=spec.path)
    assert spec.build is not None
    builder = import_object(spec.build, ("model", "build"))
    where: ConfigPath = ("model", "params")
    params = with_paths(with_functions(spec.params, where), where, base_dir)
    check_parameters(builder, params, where, spec.build)
    try:
        model = builder(**params)
    except Exception as exc:
        download = download_failure(exc, ("model", "build"))
        if download is not None:
            raise download from None
        raise BuildError(
            f"{spec.build} raised {type(exc).__name__}: {keras_error(exc)}",
            ("model", "build"),
        ) from None
    if not isinstance(model, keras.Model):
        raise BuildError(
            f"{spec.build} returned {type(model).__name__}, not a keras.Model",
            ("model", "build"),
        )
    if isinstance(model, keras.Sequential) and not model.built:
        _build_on_data(model, data, spec.build)
    return model


def _build_on_data(model: keras.Sequential, data: Dataset, builder: str) -> None:
    """Build a Sequential model that has no input yet on the data's shape.

    A script's ``keras.Sequential([Dense(...), ...])`` builds on its first
    batch; cbrun needs its outputs before ``fit`` (to compile by output and
    check them), so it builds it on the same shape first. Weights are made
    layer by layer in the same order either way.
    """
    specs = data.input_specs()
    if isinstance(specs, dict):
        raise BuildError(
            f"{builder} returned a Sequential model without an input, and the data "
            f"gives named inputs ({', '.join(specs)}); build a functional model "
            "with a keras.Input per name",
            ("model", "build"),
        )
    try:
        model.build((None, *specs.shape))
    except (ValueError, TypeError) as exc:
        raise BuildError(
            f"{builder} returned a Sequential model without an input, and it does "
            f"not build on the data's shape {specs.shape}: {keras_error(exc)}",
            ("model", "build"),
        ) from None


def missing_user_object(exc: BaseException) -> str | None:
    """The name of the function or class a saved model needs, from Keras's error.

    Keras wraps "Could not locate function 'f'" in one "could not be
    deserialized" error per enclosing layer and model.
    """
    seen: BaseException | None = exc
    while seen is not None:
        found = _COULD_NOT_LOCATE.search(str(seen))
        if found is not None:
            return found.group(1)
        seen = seen.__cause__ or seen.__context__
    return None


def load_saved_model(path: str, *, shown_as: str | None = None) -> keras.Model:
    """Load ``model.path``, always in Keras's safe mode.

    ``safe_mode=True`` is explicit: a saved model must not bring code, graphs
    or outside files with it (a ``Lambda``'s bytecode, a ``TFSMLayer``, a
    vocabulary file) even if something turned the global default off.

    Args:
        path: The file to load.
        shown_as: ``model.path`` as the config writes it, for messages.

    Raises:
        BuildError: At ``model.path``: a missing or broken file, a model that
            needs code to load, or a file that holds no ``keras.Model``.
    """
    where: ConfigPath = ("model", "path")
    written = path if shown_as is None else shown_as
    try:
        with open_regular(path):  # A FIFO or /dev/zero would hang Keras.
            pass
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise BuildError(
            f"cannot load model.path {shown(written)}: {reason}", where
        ) from None
    try:
        loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError) as exc:
        missing = missing_user_object(exc)
        if missing is not None:
            raise BuildError(
                f"model.path {shown(written)} holds your code ({missing}), which "
                "Keras saves by name and loads only when given it; cbrun loads a "
                "saved model without code: describe the model with `layers` (as "
                "the config.yaml beside a run's model.keras does), or return it "
                "from a `build: pkg.mod:fn` that calls keras.saving.load_model("
                f"path, custom_objects={{{missing!r}: ...}})",
                where,
            ) from None
        # Keras's first sentence says what it refused; the rest of its message
        # suggests turning safe mode off, which cbrun never does.
        reason = shorten(keras_error(exc).split(". ")[0], 160)
        if "safe_mode" in str(exc):
            raise BuildError(
                f"model.path {shown(written)} needs what Keras's safe_mode refuses "
                f"to load ({reason}); cbrun always loads saved models in safe "
                "mode: save the model without Lambda or TFSMLayer layers, file "
                "vocabularies or other code, or describe it with `layers`",
                where,
            ) from None
        raise BuildError(
            f"cannot load model.path {shown(written)}: {reason}", where
        ) from None
    if not isinstance(loaded, keras.Model):
        raise BuildError(
            f"model.path {shown(written)} holds a {type(loaded).__name__}, "
            "not a keras.Model",
            where,
        )
    return loaded


def _schedule(spec: ScheduleObject, where: ConfigPath) -> Any:
    cls = getattr(keras.optimizers.schedules, spec.type)
    return construct(cls, dict(spec.model_extra or {}), where, spec.type)


def build_optimizer(spec: str | OptimizerObject) -> Any:
    """Create the optimizer from a name or ``{type, ...}``."""
    where: ConfigPath = ("compile", "optimizer")
    if isinstance(spec, str):
        if IMPORT_PATH_RE.match(spec):
            return construct(import_object(spec, where), {}, where, spec)
        return keras.optimizers.get(spec)
    params = dict(spec.model_extra or {})
    if isinstance(spec.learning_rate, ScheduleObject):
        params["learning_rate"] = _schedule(
            spec.learning_rate, (*where, "learning_rate")
        )
    elif spec.learning_rate is not None:
        params["learning_rate"] = spec.learning_rate
    cls = (
        import_object(spec.type, (*where, "type"))
        if IMPORT_PATH_RE.match(spec.type)
        else getattr(keras.optimizers, spec.type)
    )
    return construct(cls, params, where, f"optimizer {spec.type}")


def _object(spec: Any, module: Any, where: ConfigPath, kind: str) -> Any:
    if isinstance(spec, str):
        return import_object(spec, where) if IMPORT_PATH_RE.match(spec) else spec
    cls = (
        import_object(spec.type, (*where, "type"))
        if IMPORT_PATH_RE.match(spec.type)
        else getattr(module, spec.type)
    )
    return construct(cls, dict(spec.model_extra or {}), where, f"{kind} {spec.type}")


def _losses(spec: Any, single: bool) -> Any:
    """The loss, or a mapping of losses by output name, as Keras takes it."""
    where: ConfigPath = ("compile", "loss")
    if isinstance(spec, dict):
        losses = {
            out: _object(item, keras.losses, (*where, out), "loss")
            for out, item in spec.items()
        }
        return next(iter(losses.values())) if single else losses
    if isinstance(spec, str | LossObject):
        return _object(spec, keras.losses, where, "loss")
    return None


def _metrics(spec: Any, field: str, single: bool) -> Any:
    """Metrics as a list, or a mapping of lists by output name."""
    by_output = metrics_by_output(spec)
    if by_output is None:
        return [
            _object(m, keras.metrics, ("compile", field, i), "metric")
            for i, m in enumerate(spec or [])
            if isinstance(m, str | MetricObject)
        ] or None
    built = {
        out: [
            _object(m, keras.metrics, ("compile", field, out, i), "metric")
            for i, m in enumerate(items)
        ]
        for out, items in by_output.items()
    }
    return next(iter(built.values())) if single else built


def compile_model(model: keras.Model, config: ExperimentConfig) -> None:
    """Compile ``model`` with the config's optimizer, loss and metrics.

    Mappings by output name go to Keras as mappings; for a model with one
    output, the one entry is given as is (Keras names a single output's
    logs without a prefix either way).
    """
    spec = config.compile
    # A graph's outputs given as a mapping keep it, even with one entry.
    by_name = isinstance(getattr(model, "_outputs_struct", None), dict)
    single = len(model.outputs) == 1 and not by_name
    loss_weights: Any = spec.loss_weights
    if single and isinstance(loss_weights, dict):
        loss_weights = list(loss_weights.values())
    try:
        model.compile(
            optimizer=build_optimizer(spec.optimizer),
            loss=_losses(spec.loss, single),
            loss_weights=loss_weights,
            metrics=_metrics(spec.metrics, "metrics", single),
            weighted_metrics=_metrics(
                spec.weighted_metrics, "weighted_metrics", single
            ),
            run_eagerly=spec.run_eagerly,
            steps_per_execution=spec.steps_per_execution,
            jit_compile=spec.jit_compile,
            auto_scale_loss=spec.auto_scale_loss,
        )
    except (ValueError, TypeError) as exc:
        raise BuildError(f"compile failed: {keras_error(exc)}", ("compile",)) from None


def _labels(data: Dataset) -> Any:
    """The training labels (a stream's label spec): an array, or a dict of them."""
    streams = getattr(data, "streams", None)
    return data.y_train if streams is None else streams.train.element_spec[1]


def _label_names(data: Dataset) -> list[str] | None:
    """The names of the data's labels when they are a dict by output name."""
    labels = _labels(data)
    return list(labels) if isinstance(labels, dict) else None


def _output_names(model: keras.Model) -> list[str]:
    """The names Keras matches labels to: a mapping's keys, else the layers'."""
    struct = getattr(model, "_outputs_struct", None)
    if isinstance(struct, dict):
        return list(struct)
    return list(getattr(model, "output_names", None) or [])


def check_labels_match_outputs(
    model: keras.Model, config: ExperimentConfig, data: Dataset
) -> None:
    """Refuse labels named by output that name no output of the model.

    Keras matches a dict of labels to the outputs by name; one it cannot
    match fails inside the loss with a sentence about dtypes.
    """
    labels = _label_names(data)
    outputs = _output_names(model)
    where: ConfigPath = ("model", "outputs")
    if getattr(config.model, "outputs", None) is None:
        where = ("model",)
    single = _labels(data)
    if (
        labels is None
        and len(outputs) > 1
        and single is not None
        and not isinstance(single, list | tuple)
    ):
        raise BuildError(
            f"the model has {len(outputs)} outputs ({', '.join(outputs)}) but "
            "the data gives one label per sample; give one output, or labels "
            "named by output ({name: array, ...} from a function or npz "
            "source, several targets of a table)",
            where,
        )
    if labels is None or not outputs or set(labels) <= set(outputs):
        return
    unknown = [name for name in labels if name not in outputs]
    fix = "name the outputs after the labels"
    if len(labels) == len(outputs):
        pairs = ", ".join(
            f"{label}: {out}" for label, out in zip(labels, outputs, strict=True)
        )
        fix += f": outputs: {{{pairs}}}"
    raise BuildError(
        f"the data's labels are named {', '.join(labels)} but the model's outputs "
        f"are {', '.join(outputs)} (no output {', '.join(map(repr, unknown))}); "
        f"{fix}",
        where,
    )


def check_output_fits_labels(
    model: keras.Model, config: ExperimentConfig, data: Dataset
) -> None:
    """Say before ``fit`` when the last layer cannot match the labels.

    Labels named by output must name outputs of the model. Otherwise only the
    clear case is checked: integer class labels with a sparse categorical
    loss need as many output units as classes.
    """
    check_labels_match_outputs(model, config, data)
    loss = config.compile.loss
    name = loss if isinstance(loss, str) else getattr(loss, "type", "")
    if data.num_classes is None or "sparse_categorical" not in str(name).lower():
        return
    units = model.outputs[0].shape[-1] if model.outputs else None
    if units is None or units == data.num_classes:
        return
    if data.num_classes < 2:
        raise BuildError(
            "the training labels hold one class only (0); a classifier needs "
            "at least two: check the target column, data.labels or the split",
            ("data",),
        )
    where: ConfigPath = ("model",)
    if config.model.layers is not None:
        where = ("model", "layers", len(config.model.layers) - 1)
    raise BuildError(
        f"the model outputs {units} values but the data has {data.num_classes} "
        f"classes; give the last layer units: {data.num_classes}",
        where,
    )
