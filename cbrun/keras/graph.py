"""Build a functional graph model from ``model.inputs``, ``layers`` and ``outputs``.

``cbrun validate`` has checked the graph's names, order and reachability
(:mod:`cbrun.config.graph_checks`); here each layer is created and called on
the tensors it names, with its ``call:`` keyword arguments, and
``keras.Model`` ties the inputs (by name when the data gives named inputs) to
the outputs (by output name when there are several).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from cbrun.config.experiment import ExperimentConfig
from cbrun.config.model import IMPLICIT_INPUT, InputConfig, LayerConfig
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data import Dataset
from cbrun.keras.imports import keras_error
from cbrun.keras.layers import build_layer
from cbrun.suggest import did_you_mean, shown


def _input_tensors(config: ExperimentConfig, data: Dataset) -> dict[str, Any]:
    """One ``keras.Input`` per model input, shaped and typed as given or as the data."""
    spec = config.model
    specs = data.input_specs()
    declared = spec.inputs or [InputConfig(name=IMPLICIT_INPUT)]
    tensors: dict[str, Any] = {}
    for index, item in enumerate(declared):
        where: ConfigPath = ("model", "inputs", index) if spec.inputs else ("model",)
        if isinstance(specs, dict):
            given = specs.get(item.name)
            if given is None:
                raise BuildError(
                    f"the data has no input named {shown(item.name)}; it gives "
                    f"{', '.join(specs)}{did_you_mean(item.name, specs)}",
                    (*where, "name") if spec.inputs else where,
                )
        elif len(declared) == 1:
            given = specs
        else:
            raise BuildError(
                f"the model has {len(declared)} inputs but the data gives one "
                "array; give the data as named inputs (csv `inputs: columns`, or "
                "npz `keys: {x_train: {name: array, ...}}`)",
                ("model", "inputs"),
            )
        shape = tuple(item.shape) if item.shape is not None else given.shape
        dtype = item.dtype or given.dtype
        _check_declared(item, given, where if spec.inputs else None)
        tensors[item.name] = keras.Input(shape=shape, dtype=dtype, name=item.name)
    if isinstance(specs, dict):
        unused = [name for name in specs if name not in tensors]
        if unused:
            raise BuildError(
                f"the data gives inputs the model does not take: {', '.join(unused)}; "
                "add them to model.inputs, or leave them out of the data",
                ("model", "inputs") if spec.inputs else ("model",),
            )
    return tensors


def _reaching(
    layer: LayerConfig, index: int, tensors: dict[str, Any], previous: Any
) -> Any:
    """The tensor (or list of tensors) a layer is called on."""
    if layer.inputs is None:
        return previous
    if isinstance(layer.inputs, str):
        return tensors[layer.inputs]
    return [tensors[name] for name in layer.inputs]


def _check_declared(item: InputConfig, given: Any, where: ConfigPath | None) -> None:
    """Refuse a declared dtype or shape the data's input cannot have.

    Strings against numbers, and a shape of another size, fail in the first
    batch with TensorFlow's words and no input named; ints and floats mix.
    """
    if where is None:
        return
    if item.dtype is not None and (item.dtype == "string") != (given.dtype == "string"):
        raise BuildError(
            f"dtype {item.dtype}, but the data's {shown(item.name)} holds "
            f"{given.dtype}; remove dtype (the data's is used) or give one that "
            "fits",
            (*where, "dtype"),
        )
    shape = tuple(item.shape) if item.shape is not None else None
    if shape is None or given.shape is None:
        return
    fits = len(shape) == len(given.shape) and all(
        a is None or b is None or a == b
        for a, b in zip(shape, given.shape, strict=True)
    )
    if not fits:
        raise BuildError(
            f"shape {shape}, but the data's {shown(item.name)} is "
            f"{tuple(given.shape)} per sample; remove shape (the data's is used) or "
            "reshape in the model (a Reshape layer)",
            (*where, "shape"),
        )


def _shape_of(reaching: Any) -> tuple[int | None, ...] | None:
    if isinstance(reaching, list):
        return None
    return tuple(reaching.shape[1:])


def _described(reaching: Any) -> str:
    if isinstance(reaching, list):
        return ", ".join(str(tuple(t.shape)) for t in reaching)
    return str(tuple(reaching.shape))


def build_graph(
    config: ExperimentConfig,
    data: Dataset,
    *,
    base_dir: Path | None = None,
    adapter: Any = None,
) -> keras.Model:
    """Build the graph model that ``model`` describes.

    Args:
        config: The config (``model.layers`` form a graph).
        data: The loaded data: input shapes and dtypes, input names.
        base_dir: The config's folder (an application's weights file).
        adapter: Adapts ``adapt: true`` layers before they are called
            (``cbrun.keras.adapt.Adapter``); None adapts none.

    Raises:
        BuildError: An input the data lacks, a layer Keras refuses or that
            cannot take what reaches it, at the config line it comes from.
    """
    spec = config.model
    assert spec.layers is not None
    inputs = _input_tensors(config, data)
    named = isinstance(data.input_specs(), dict)
    model_inputs: Any = dict(inputs) if named else list(inputs.values())
    tensors: dict[str, Any] = dict(inputs)
    previous = next(iter(inputs.values()))
    for index, layer in enumerate(spec.layers):
        where: ConfigPath = ("model", "layers", index)
        reaching = _reaching(layer, index, tensors, previous)
        built = build_layer(
            layer, where, input_shape=_shape_of(reaching), base_dir=base_dir
        )
        if adapter is not None and getattr(layer, "adapt", False):
            adapter.adapt_in_graph(built, reaching, model_inputs, where)
        try:
            output = built(reaching, **(layer.call or {}))
        except (ValueError, TypeError) as exc:
            place = (*where, "call") if layer.call else where
            raise BuildError(
                f"layer {layer.type} cannot take its input (shape "
                f"{_described(reaching)}): {keras_error(exc)}",
                place,
            ) from None
        tensors[layer.name or f"#{index}"] = output
        previous = output
    outputs = spec.output_layers() or {}
    last = f"#{len(spec.layers) - 1}"
    chosen = {
        out: tensors.get(name, tensors.get(last)) for out, name in outputs.items()
    }
    single = len(chosen) == 1 and not isinstance(spec.outputs, dict)
    model_outputs = next(iter(chosen.values())) if single else chosen
    if not named and len(model_inputs) == 1:
        model_inputs = model_inputs[0]
    try:
        return keras.Model(inputs=model_inputs, outputs=model_outputs, name=config.name)
    except (ValueError, TypeError) as exc:
        raise BuildError(
            f"keras.Model refused the graph: {keras_error(exc)}", ("model",)
        ) from None
