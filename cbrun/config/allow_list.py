"""What ``--no-user-code`` allows: Keras built-ins from cbrun's tables, nothing else.

Every class or function a config names must be in :mod:`cbrun.config.keras_names`
(layers and the layers nested in them, activations, initializers,
regularizers, constraints, losses, metrics, optimizers, learning-rate
schedules) or be one of cbrun's callbacks. On top of that:

* a string of the form ``package.module:name`` is refused wherever it stands,
  so a field that a future Keras or cbrun resolves as an import is closed too;
* layers that run code, or read graphs or files, are refused with the reason
  (:data:`REFUSED_LAYERS`, and a string ``vocabulary``, which is a file);
* Keras-serialized mappings (``{class_name, config, module,
  registered_name}``) are checked at any depth: a known class name, a
  ``keras`` module, no registered custom object.

The walk reads the plain data the schemas accepted, so every refusal has a
place in the file. It never imports Keras.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from cbrun.config import keras_names as kn
from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.callbacks.registry import CALLBACK_NAMES
from cbrun.errors import ConfigPath
from cbrun.suggest import closest, shown

REFUSED_LAYERS: dict[str, str] = {
    "FlaxLayer": "runs the code of a Flax module",
    "JaxLayer": "runs JAX functions (call_fn, init_fn)",
    "Lambda": "runs a Python function",
    "TFSMLayer": "loads a TensorFlow SavedModel from a file and runs its graph",
    "TorchModuleWrapper": "runs the code of a PyTorch module",
}
"""Layers in ``keras.layers`` that run code or graphs the config points at."""

FILE_VOCABULARY_LAYERS: tuple[str, ...] = (
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
)
"""Layers whose ``vocabulary`` may be a file path (a list is fine)."""


_SERIAL_KEYS = ("class_name", "module", "registered_name")
# Parameters whose value Keras hands to a layer constructor or deserializer.
_LAYER_KEYS = ("layer", "backward_layer", "cell", "cells", "layers")
_FUNCTION_NAMES = (
    *kn.ACTIVATIONS,
    *kn.INITIALIZERS,
    *kn.REGULARIZERS,
    *kn.CONSTRAINTS,
    *kn.LOSS_ALIASES,
    *kn.METRIC_LOG_NAMES,
)
_ANY_CLASS = (
    *kn.LAYERS,
    *kn.INITIALIZERS,
    *kn.REGULARIZERS,
    *kn.CONSTRAINTS,
    *kn.LOSSES,
    *kn.METRICS,
    *kn.OPTIMIZERS,
    *kn.LR_SCHEDULES,
    *kn.DTYPE_POLICIES,
)
# The names each kind of parameter may hold: strings, or a serialized class.
_KIND_NAMES: dict[str, tuple[str, ...]] = {
    "activation": kn.ACTIVATIONS,
    "initializer": kn.INITIALIZERS,
    "regularizer": kn.REGULARIZERS,
    "constraint": kn.CONSTRAINTS,
    "layer": kn.LAYERS,
    "dtype policy": kn.DTYPE_POLICIES,
}


@dataclass(frozen=True)
class Refusal:
    """One thing ``--no-user-code`` refuses.

    Attributes:
        where: Its place in the config.
        what: What was named and why it is refused, e.g.
            ``layer 'Lambda' runs a Python function``.
        key: Whether the place is a mapping key rather than its value.
        fix: How to get past it, when not by removing it.
    """

    where: ConfigPath
    what: str
    key: bool = False
    fix: str | None = None


def is_import_path(value: Any) -> bool:
    """Whether ``value`` is a ``package.module:name`` string."""
    return isinstance(value, str) and bool(IMPORT_PATH_RE.match(value))


def refused_names(data: Mapping[str, Any]) -> Iterator[Refusal]:
    """Yield every name in a validated config that is not a Keras built-in.

    Args:
        data: The plain config, as the schemas accepted it.

    Yields:
        One refusal per place; import paths first, found anywhere.
    """
    yield from _import_paths(data, ())
    model = data.get("model")
    if isinstance(model, dict):
        for index, layer in enumerate(model.get("layers") or []):
            yield from _layer(layer, ("model", "layers", index))
    compile_ = data.get("compile")
    if isinstance(compile_, dict):
        yield from _compile(compile_)
    for index, callback in enumerate(data.get("callbacks") or []):
        kind = callback.get("type") if isinstance(callback, dict) else None
        if _plain(kind) and kind not in CALLBACK_NAMES:
            where: ConfigPath = ("callbacks", index, "type")
            yield Refusal(where, f"callback {shown(kind)} is not a Keras callback")


def _plain(value: Any) -> TypeGuard[str]:
    """A string that is not an import path (those are refused on their own)."""
    return isinstance(value, str) and not is_import_path(value)


def _import_paths(value: Any, where: ConfigPath) -> Iterator[Refusal]:
    if is_import_path(value):
        yield Refusal(where, f"names user code ({value})")
    elif isinstance(value, dict):
        if len(value) == 1 and is_import_path(value.get("function")):
            # `{function: pkg.mod:fn}` is how a field takes code: name the field.
            yield Refusal(where, f"names user code ({value['function']})")
            return
        for key, item in value.items():
            if is_import_path(key):
                yield Refusal((*where, key), f"names user code ({key})", key=True)
            yield from _import_paths(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _import_paths(item, (*where, index))


def _not_builtin(
    where: ConfigPath, kind: str, name: Any, names: Iterable[str] = ()
) -> Refusal:
    what = f"{kind} {shown(name)} is not a Keras built-in known to cbrun"
    match = closest(name, names) if isinstance(name, str) else None
    if match is None or match == name:
        return Refusal(where, what)
    fix = f"did you mean {match!r}? Else remove it or run where the config is trusted"
    return Refusal(where, what, fix=fix)


def _layer(layer: Any, where: ConfigPath) -> Iterator[Refusal]:
    """A ``{type: Name, ...}`` item of ``model.layers``."""
    if not isinstance(layer, dict):
        return
    kind = layer.get("type")
    if _plain(kind):
        yield from _layer_class(kind, (*where, "type"))
    yield from _serial_keys_in_typed(layer, where)
    params = {k: v for k, v in layer.items() if k != "type" and k not in _SERIAL_KEYS}
    weights = params.get("weights")
    if kind in kn.APPLICATIONS and weights is not None and weights != "imagenet":
        # Anything but Keras's own weights is a file the application loads.
        yield Refusal(
            (*where, "weights"),
            f"{kind}.weights {shown(weights)} is a file the application loads",
            fix="use weights: imagenet or null, or run where the config is trusted",
        )
        params.pop("weights")
    # The graph's own keys name layers and call arguments, not classes.
    for own in ("name", "inputs", "call", "trainable", "adapt"):
        params.pop(own, None)
    yield from _params(params, where, kind if isinstance(kind, str) else None)


def _serial_keys_in_typed(
    spec: Mapping[str, Any], where: ConfigPath
) -> Iterator[Refusal]:
    """``{type: ...}`` names its class by ``type``: no Keras serialization keys."""
    for key in _SERIAL_KEYS:
        if key in spec:
            yield Refusal(
                (*where, key),
                f"`{key}` {shown(spec[key])} in a {{type: ...}} mapping (it names "
                "code for Keras to look up)",
                key=True,
            )


def _layer_class(name: str, where: ConfigPath) -> Iterator[Refusal]:
    if name in kn.APPLICATIONS:
        return  # A keras.applications model: its weights are checked apart.
    if name not in kn.LAYERS:
        yield _not_builtin(where, "layer", name, (*kn.LAYERS, *kn.APPLICATIONS))
    elif name in REFUSED_LAYERS:
        yield Refusal(where, f"layer {name} {REFUSED_LAYERS[name]}")


def _kind_of(key: Any) -> str | None:
    """The kind of name a constructor parameter holds, from its name."""
    if not isinstance(key, str):
        return None
    if key == "activation" or key.endswith("_activation"):
        return "activation"
    for suffix in ("initializer", "regularizer", "constraint"):
        if key.endswith(suffix):
            return suffix
    if key in _LAYER_KEYS:
        return "layer"
    if key == "dtype":
        return "dtype policy"
    return None


def _params(
    params: Mapping[Any, Any], where: ConfigPath, owner: str | None
) -> Iterator[Refusal]:
    """Constructor parameters of ``owner`` (a class name, when known)."""
    for key, value in params.items():
        here = (*where, key)
        if key == "vocabulary" and isinstance(value, str):
            # IndexLookup reads a string vocabulary as a file (tf.io.gfile).
            name = owner or "lookup layer"
            yield Refusal(
                here,
                f"{name}.vocabulary {shown(value)} is a file the layer reads",
                fix="give the words as a list, or run where the config is trusted",
            )
            continue
        yield from _value(value, here, _kind_of(key))


def _value(value: Any, where: ConfigPath, kind: str | None) -> Iterator[Refusal]:
    """One parameter value: a name, a serialized object, or a container."""
    if _plain(value) and kind is not None:
        if kind == "dtype policy":
            return  # a dtype name such as float32, not a class
        if kind == "layer":
            yield from _layer_class(value, where)
        elif value not in _KIND_NAMES[kind]:
            yield _not_builtin(where, kind, value, _KIND_NAMES[kind])
    elif isinstance(value, dict):
        if any(key in value for key in _SERIAL_KEYS):
            yield from _serialized(value, where, kind)
        else:
            yield from _params(value, where, None)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _value(item, (*where, index), kind)


def _serialized(
    value: dict[str, Any], where: ConfigPath, kind: str | None
) -> Iterator[Refusal]:
    """A Keras-serialized object: ``{class_name, config, module, registered_name}``."""
    name = value.get("class_name")
    module = value.get("module")
    function = name == "function"  # how Keras writes a built-in function
    if not isinstance(name, str):
        yield Refusal(where, "a Keras-serialized mapping without a class_name")
    elif function:
        # Keras finds a built-in function by the name in `config`.
        config = value.get("config")
        names = kn.ACTIVATIONS if kind == "activation" else _FUNCTION_NAMES
        if not is_import_path(config) and config not in names:
            label = kind or "function"
            yield _not_builtin((*where, "config"), label, config, names)
    elif _plain(name):
        names = _KIND_NAMES.get(kind or "", _ANY_CLASS)
        if kind == "activation":
            names = kn.ACTIVATIONS
        if name not in names:
            yield _not_builtin((*where, "class_name"), kind or "class", name, names)
        elif name in REFUSED_LAYERS and name in kn.LAYERS:
            reason = REFUSED_LAYERS[name]
            yield Refusal((*where, "class_name"), f"layer {name} {reason}")
    if module is not None and not _keras_module(module, function):
        yield Refusal(
            (*where, "module"),
            f"module {shown(module)} is not Keras: Keras would import it",
        )
    registered = value.get("registered_name")
    if registered is not None and registered != name:
        yield Refusal(
            (*where, "registered_name"),
            f"registered_name {shown(registered)} names a custom object",
        )
    for key, item in value.items():
        if key in _SERIAL_KEYS:
            continue
        here = (*where, key)
        if key == "config" and isinstance(item, dict):
            owner = name if isinstance(name, str) else None
            yield from _params(item, here, owner)
        elif not (key == "config" and function):
            yield from _value(item, here, None)


def _keras_module(module: Any, function: bool) -> bool:
    if not isinstance(module, str):
        return False
    if function and module == "builtins":
        return True
    return module == "keras" or module.startswith("keras.")


def _compile(compile_: dict[str, Any]) -> Iterator[Refusal]:
    """Optimizer (and its schedule), loss and metrics of ``compile``."""
    where: ConfigPath = ("compile", "optimizer")
    optimizer = compile_.get("optimizer")
    if _plain(optimizer) and optimizer.lower() not in kn.OPTIMIZER_ALIASES:
        yield _not_builtin(where, "optimizer", optimizer, kn.OPTIMIZER_ALIASES)
    elif isinstance(optimizer, dict):
        yield from _object(optimizer, where, "optimizer", kn.OPTIMIZERS)
    losses = (*kn.LOSS_ALIASES, *kn.LOSSES, *kn.LOSS_COMPILE_ALIASES)
    for here, loss in _by_output(compile_.get("loss"), ("compile", "loss")):
        if _plain(loss) and loss not in losses and loss.lower() not in losses:
            yield _not_builtin(here, "loss", loss, losses)
        elif isinstance(loss, dict):
            yield from _object(loss, here, "loss", kn.LOSSES)
    metric_names = (*kn.METRIC_LOG_NAMES, *kn.METRIC_CLASS_LOG_NAMES)
    for field in ("metrics", "weighted_metrics"):
        for here, metric in _metric_items(compile_.get(field), ("compile", field)):
            if _plain(metric) and metric not in metric_names:
                yield _not_builtin(here, "metric", metric, metric_names)
            elif isinstance(metric, dict):
                yield from _object(metric, here, "metric", kn.METRICS)


def _by_output(value: Any, where: ConfigPath) -> Iterator[tuple[ConfigPath, Any]]:
    """A loss, or each loss of a mapping by output name (no ``type`` key)."""
    if isinstance(value, dict) and "type" not in value:
        for output, item in value.items():
            yield (*where, output), item
    elif value is not None:
        yield where, value


def _metric_items(value: Any, where: ConfigPath) -> Iterator[tuple[ConfigPath, Any]]:
    """Each metric of a list, or of a mapping by output name (item or list)."""
    if isinstance(value, dict):
        for output, items in value.items():
            if isinstance(items, list):
                for index, item in enumerate(items):
                    yield (*where, output, index), item
            else:
                yield (*where, output), items
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*where, index), item


def _object(
    spec: dict[str, Any], where: ConfigPath, kind: str, names: tuple[str, ...]
) -> Iterator[Refusal]:
    """A ``{type: Name, ...}`` optimizer, schedule, loss or metric."""
    name = spec.get("type")
    if _plain(name) and name not in names:
        yield _not_builtin((*where, "type"), kind, name, names)
    yield from _serial_keys_in_typed(spec, where)
    for key, value in spec.items():
        here = (*where, key)
        if key == "type" or key in _SERIAL_KEYS:
            continue
        if kind == "optimizer" and key == "learning_rate" and isinstance(value, dict):
            yield from _object(value, here, "learning rate schedule", kn.LR_SCHEDULES)
        else:
            yield from _value(value, here, _kind_of(key))
