"""How ``fit`` reads the data: the NumPy arrays, or a ``tf.data`` pipeline.

Keras's own NumPy input path costs about a millisecond per step more than a
prefetched ``tf.data`` pipeline: on the digits MLP an epoch takes 135 ms
from arrays and 58 ms from ``tf.data`` (bench/README.md, section 5). The gain
shrinks as the arrays grow, while the memory the pipeline holds (its copy of
the arrays and the shuffle buffer) grows with them. Measured with
bench/probe_feed_sizes.py (an MLP over 28x28 float32 images, batch 64; epoch
time and peak RSS, tf.data against numpy, over a few runs): 31 MB 0.73-0.90x
and +9 to +13 MB (~1.5%); 63 MB 0.93-0.98x and +39 MB; 188 MB 0.97-1.36x and
+93 MB. ``feed: auto`` therefore picks ``tf.data`` up to 32 MiB.

Either pipeline shuffles in another order than Keras shuffles arrays, so the
numbers differ from a hand-written ``model.fit(x, y)``: the default feed is
``numpy``, and ``tf.data`` and ``auto`` are opt-in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from cbrun.errors import BuildError

AUTO_MAX_BYTES: Final = 32 * 1024 * 1024
"""``feed: auto`` uses ``tf.data`` for training arrays up to this size."""


def choose_feed(
    feed: str, *, backend: str, distributed: bool, x: Any, y: Any
) -> tuple[str, str]:
    """Resolve ``data.feed`` to ``numpy`` or ``tf.data``, and say why.

    Args:
        feed: ``auto``, ``numpy`` or ``tf.data``.
        backend: The Keras backend.
        distributed: Whether ``distribute`` is set.
        x: The training inputs (a NumPy array).
        y: The training labels.

    Returns:
        The feed and a short reason for the run's log.
    """
    strings = string_inputs(x)
    if strings:
        # Keras's fit refuses NumPy string arrays ("Invalid dtype: object"):
        # the keras-io structured-data example feeds such columns through
        # tf.data.Dataset.from_tensor_slices, shuffled and batched.
        return "tf.data", (
            f"string columns ({', '.join(strings[:3])}"
            f"{', ...' if len(strings) > 3 else ''}): Keras's fit takes no NumPy "
            "strings, so tf.data as the keras-io structured-data example"
        )
    if feed == "numpy":
        return feed, "the arrays, as a script passes them to fit"
    if feed != "auto":
        return feed, "data.feed"
    train_bytes = _nbytes(x) + _nbytes(y)
    size = f"{train_bytes / 1e6:.1f} MB of training arrays"
    if not _numeric(x) or not _numeric(y):
        return "numpy", "auto: arrays that are not numbers"
    if backend != "tensorflow":
        return "numpy", f"auto: backend {backend}"
    if distributed:
        return "numpy", "auto: distribute is set"
    if train_bytes > AUTO_MAX_BYTES:
        return "numpy", f"auto: {size} (tf.data up to {AUTO_MAX_BYTES >> 20} MiB)"
    return "tf.data", f"auto: {size}"


def _values(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else [value]


def _nbytes(value: Any) -> int:
    return sum(int(array.nbytes) for array in _values(value))


def _numeric(value: Any) -> bool:
    return all(array.dtype.kind in "biuf" for array in _values(value))


def string_inputs(x: Any) -> list[str]:
    """The names of the input columns that hold strings (dict inputs only)."""
    if not isinstance(x, dict):
        return []
    return [name for name, array in x.items() if array.dtype.kind in "OUS"]


def _length(value: Any) -> int:
    return len(_values(value)[0])


def _slice(value: Any, start: int | None, stop: int | None) -> Any:
    if isinstance(value, dict):
        return {name: array[start:stop] for name, array in value.items()}
    return value[start:stop]


def training_samples(samples: int, validation_split: float) -> int:
    """How many samples ``fit`` trains on: Keras keeps ``floor(n * (1 - split))``.

    The rest, the last ones, are the validation split (before shuffling).
    """
    return math.floor(samples * (1.0 - validation_split))


def _batched(x: Any, y: Any, batch: int, processes: int) -> Any:
    """A dataset of whole global batches, the same number for every process.

    Keras rebatches each global batch into ``batch / processes`` and deals
    the pieces out in turn; a last partial batch would give one process a
    step the others do not take, and the job would hang in a collective.
    A split smaller than one batch is batched as a whole (rounded down to a
    multiple of ``processes``).
    """
    import tensorflow as tf

    count = _length(x)
    size = min(batch, count - count % processes) if processes > 1 else batch
    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .batch(max(size, processes), drop_remainder=processes > 1)
        .prefetch(tf.data.AUTOTUNE)
    )


@dataclass(frozen=True)
class DatasetFeed:
    """The ``tf.data`` pipelines a run trains, validates and tests on.

    Attributes:
        train: Shuffled (if asked), batched, prefetched training samples.
        validation: The validation split or data, batched; or None.
        test: The test split, batched; or None.
        class_weight: ``fit``'s class weights, filled in for every class.
    """

    train: Any
    validation: Any
    test: Any
    class_weight: dict[int, float] | None


def as_datasets(
    data: Any,
    *,
    batch_size: int,
    validation_split: float = 0.0,
    validation_data: tuple[Any, Any] | None = None,
    validation_batch_size: int | None = None,
    shuffle: bool = True,
    class_weight: dict[int, float] | None = None,
    seed: int,
    processes: int = 1,
) -> DatasetFeed:
    """Turn numpy arrays into batched, prefetched ``tf.data`` pipelines for ``fit``.

    Keras splits ``validation_split`` off numpy input only; for a dataset the
    same split (the last fraction, before shuffling) is made here. The
    training samples are shuffled every epoch, seeded, as Keras shuffles
    arrays (in another order). With several processes the last partial
    batch of each split is dropped.

    Raises:
        BuildError: ``fit.batch_size`` does not divide among the processes.
    """
    import tensorflow as tf

    if batch_size % processes:
        raise BuildError(
            f"the global batch {batch_size} does not divide among {processes} "
            f"processes; use a multiple of {processes}",
            ("fit", "batch_size"),
        )
    validation_batch = validation_batch_size or batch_size
    x, y = data.x_train, data.y_train
    validation = None
    if validation_split:
        cut = training_samples(_length(x), validation_split)
        x, x_val = _slice(x, None, cut), _slice(x, cut, None)
        y, y_val = _slice(y, None, cut), _slice(y, cut, None)
        validation = _batched(x_val, y_val, validation_batch, processes)
    elif validation_data is not None:
        validation = _batched(*validation_data, validation_batch, processes)
    train = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        train = train.shuffle(_length(x), seed=seed, reshuffle_each_iteration=True)
    train = train.batch(batch_size, drop_remainder=processes > 1).prefetch(
        tf.data.AUTOTUNE
    )
    test = None
    if data.x_test is not None:
        test = _batched(data.x_test, data.y_test, validation_batch, processes)
    return DatasetFeed(
        train,
        validation,
        test,
        _every_class(class_weight, y)
        if class_weight and not isinstance(y, dict)
        else class_weight,
    )


def _every_class(class_weight: dict[int, float], y: Any) -> dict[int, float]:
    """``class_weight`` with 1.0 for the classes it leaves out.

    Keras weighs arrays with ``class_weight.get(c, 1.0)``, but a dataset
    through a table up to the largest key given: a class above it fails
    (CPU) or gets weight 0 (GPU).
    """
    classes = int(y.shape[-1]) if y.ndim > 1 else int(y.max()) + 1
    size = max(classes, max(class_weight) + 1)
    return {c: class_weight.get(c, 1.0) for c in range(size)}
