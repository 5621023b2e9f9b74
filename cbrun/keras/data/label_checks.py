"""Labels a classification loss cannot take, caught before ``fit``.

Labels -1/1 with ``sparse_categorical_crossentropy`` are taken as a
regression target and fail inside ``fit`` with only "Graph execution
error"; this check names the values seen and the fix instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cbrun.errors import BuildError, ConfigPath

# Losses whose labels are class indexes (sparse) or class probabilities.
_INDEX_LOSSES = frozenset(
    {
        "sparse_categorical_crossentropy",
        "SparseCategoricalCrossentropy",
    }
)
_PROBABILITY_LOSSES = frozenset(
    {
        "binary_crossentropy",
        "bce",
        "BCE",
        "BinaryCrossentropy",
        "binary_focal_crossentropy",
        "BinaryFocalCrossentropy",
        "categorical_crossentropy",
        "CategoricalCrossentropy",
        "categorical_focal_crossentropy",
        "CategoricalFocalCrossentropy",
    }
)
_SHOWN_VALUES = 6


def loss_names(compile_loss: Any) -> dict[str | None, str]:
    """The loss name per output (None: every output) from ``compile.loss``."""
    if compile_loss is None:
        return {}
    if isinstance(compile_loss, str):
        return {None: compile_loss}
    if isinstance(compile_loss, dict):
        if "type" in compile_loss:
            return {None: str(compile_loss["type"])}
        return {name: _name_of(loss) for name, loss in compile_loss.items()}
    kind = getattr(compile_loss, "type", None)
    return {None: kind} if isinstance(kind, str) else {}


def _name_of(loss: Any) -> str:
    if isinstance(loss, str):
        return loss
    if isinstance(loss, dict):
        return str(loss.get("type", ""))
    return str(getattr(loss, "type", ""))


def check_labels_fit_loss(config: Any, data: Any) -> None:
    """Refuse labels a classification loss cannot take, before ``fit``.

    Args:
        config: The experiment config (``compile.loss``, ``data``).
        data: The loaded dataset.

    Raises:
        BuildError: The loss is a classification loss and the training
            labels are negative or not whole (or outside 0..1 for a
            probability loss), at ``data``.
    """
    losses = loss_names(config.compile.loss)
    if not losses:
        return
    if getattr(getattr(config, "data", None), "label_mode", None) == "categorical":
        return  # a folder's batches hold one-hot rows; train_labels their indexes
    labels = _training_labels(data)
    if labels is None:
        return
    outputs = labels if isinstance(labels, dict) else {None: labels}
    for output, y in outputs.items():
        loss = losses.get(output, losses.get(None))
        if loss is None or y is None:
            continue
        try:
            _check_one(np.asarray(y), loss, output, _source(config))
        except BuildError as exc:
            if output is None or output in losses or len(outputs) < 2:
                raise
            raise _shared_loss_error(exc, loss, output, outputs, y) from None


def _shared_loss_error(
    exc: BuildError, loss: str, output: str, outputs: dict[Any, Any], y: Any
) -> BuildError:
    """One loss for several outputs: the fix is a loss per output."""
    values = np.unique(np.asarray(y).reshape(-1))
    classes = len(values) > 2 and _class_indexes(values)
    own = "sparse_categorical_crossentropy" if classes else "mse"
    pairs = ", ".join(f"{name}: {own if name == output else loss}" for name in outputs)
    message = exc.message.split("; ", 1)[0]
    return BuildError(
        f"{message}; one loss applies to every output: give each output its "
        f"own, e.g. loss: {{{pairs}}}",
        ("compile", "loss"),
    )


def _training_labels(data: Any) -> Any:
    if data.streams is not None:
        return data.streams.train_labels
    return data.y_train


def _source(config: Any) -> str | None:
    data = getattr(config, "data", None)
    return getattr(data, "source", None)


def _check_one(
    y: np.ndarray, loss: str, output: str | None, source: str | None = None
) -> None:
    if y.dtype.kind not in "biuf" or not len(y):
        return
    flat = y.reshape(-1)
    index_loss = loss in _INDEX_LOSSES
    if not index_loss and loss not in _PROBABILITY_LOSSES:
        return
    if index_loss:
        bad = (flat < 0) | (flat != np.floor(flat))
        need = "class indexes 0, 1, ..., classes - 1"
    else:
        bad = (flat < 0) | (flat > 1)
        need = "values between 0 and 1 (class indexes 0/1 or one-hot rows)"
    if not bad.any():
        return
    values = np.unique(flat)
    seen = ", ".join(f"{v:g}" for v in values[:_SHOWN_VALUES])
    if len(values) > _SHOWN_VALUES:
        seen += f", ... ({len(values)} values)"
    example = ", ".join(f"{v:g}: {i}" for i, v in enumerate(values[:3]))
    fix = (
        f"map them with data.labels: {{map: {{{example}}}}}"
        if len(values) <= 20
        else "use a regression loss (mse), or map the labels with data.labels.map"
    )
    if not index_loss and len(values) > 2 and _class_indexes(values):
        # 0, 1, 2, ...: mapping them to 0/1 would merge classes.
        fix = (
            f"for {len(values)} classes use loss: sparse_categorical_crossentropy "
            f"and a softmax output of {int(values.max()) + 1} units (or "
            "data.labels: {one_hot: true} with categorical_crossentropy)"
        )
        if source in ("images", "text"):  # folders take label_mode, not labels
            fix = fix.replace(
                "data.labels: {one_hot: true}", "data.label_mode: categorical"
            )
    where: ConfigPath = ("data",)
    target = f" of output {output!r}" if output else ""
    raise BuildError(
        f"the training labels{target} are {seen}, but the loss {loss} takes "
        f"{need}; {fix}",
        where,
    )


def _class_indexes(values: np.ndarray) -> bool:
    """Whole numbers from 0: class indexes, not -1/1 or 1/2 codes."""
    return bool(values.min() == 0 and np.all(values == np.floor(values)))
