"""One batch of the training data through a model and its loss, nothing updated.

``cbrun validate --deep`` uses it, so that inputs that do not fit the model
(a two-input model fed one array) and labels the loss cannot take
(``categorical_crossentropy`` with integer labels, a rank mismatch) fail
there instead of in the first step of ``fit``. No weight changes: the model
is called with ``training=False``, the loss is computed without gradients,
and ``test_on_batch`` runs Keras's compiled evaluation step (no optimizer).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def first_batch(data: Any, batch_size: int) -> tuple[Any, Any]:
    """The first training batch ``(x, y)``, as ``fit`` would read it first.

    Args:
        data: The loaded ``Dataset``: arrays (or dicts of named arrays), or
            streams whose training pipeline is already batched.
        batch_size: ``fit``'s batch size, for arrays.
    """
    streams = getattr(data, "streams", None)
    if streams is not None:
        batch = next(iter(streams.train.take(1)))
        return _as_inputs(batch[0]), _as_inputs(batch[1])
    return _head(data.x_train, batch_size), _head(data.y_train, batch_size)


def forward(model: keras.Model, x: Any) -> Any:
    """The model's outputs for ``x`` in inference mode (no state changes)."""
    return model(_tensors(x), training=False)


def batch_loss(model: keras.Model, x: Any, y: Any, y_pred: Any) -> float:
    """The compiled loss of one batch, as ``fit``'s step computes it."""
    loss = model.compute_loss(
        x=_tensors(x), y=_tensors(y), y_pred=y_pred, training=False
    )
    return float(keras.ops.convert_to_numpy(loss))


def evaluate_batch(model: keras.Model, x: Any, y: Any) -> None:
    """Keras's compiled test step on the batch: loss and metrics, no optimizer."""
    model.test_on_batch(_tensors(x), _tensors(y))
    model.reset_metrics()


def _head(value: Any, size: int) -> Any:
    if isinstance(value, dict):
        return {name: array[:size] for name, array in value.items()}
    return value[:size]


def _as_inputs(value: Any) -> Any:
    """A stream's batch as NumPy where it is numeric (any backend takes it)."""
    return keras.tree.map_structure(_numeric_numpy, value)


def _numeric_numpy(tensor: Any) -> Any:
    if getattr(getattr(tensor, "dtype", None), "name", "") == "string":
        return tensor
    return np.asarray(tensor)


def _tensors(value: Any) -> Any:
    """NumPy string arrays as TensorFlow strings: Keras's converter refuses them."""

    def convert(array: Any) -> Any:
        if isinstance(array, np.ndarray) and array.dtype.kind in "OUS":
            import tensorflow as tf

            return tf.constant(array.astype(str) if array.dtype.kind == "O" else array)
        return array

    converted = keras.tree.map_structure(convert, value)
    if not isinstance(converted, dict):
        return converted
    # A call takes all tensors or no tensors: with a string column among
    # named inputs, the numeric columns become tensors too.
    if any(not isinstance(a, np.ndarray) for a in converted.values()):
        converted = {
            name: keras.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a
            for name, a in converted.items()
        }
    return converted
