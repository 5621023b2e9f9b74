"""The ``function`` source: data from the user's own Python function.

``function: pkg.mod:load`` is imported (from beside the config or
PYTHONPATH) and called with ``params`` as keyword arguments, plus
``base_dir=<the config's folder>`` when it takes a ``base_dir`` argument.
As in ``model.params``, a value written ``{path: data/file.csv}`` is a file
relative to the config's folder, passed as an absolute path string; a plain
string is passed as written.

Accepted return values:

* a dict ``{x_train, y_train, x_test?, y_test?}`` of arrays (or dicts of
  named arrays for several inputs/outputs);
* ``((x_train, y_train), (x_test, y_test))``, as ``keras.datasets`` return;
  ``(x_train, y_train)`` alone (no test split, unless ``test_size``);
* a dict ``{train, validation?, test?}`` of batched ``tf.data.Dataset`` s of
  ``(x, y)`` (fed to fit as they are).
"""

from __future__ import annotations

import inspect
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from cbrun.config.data import FunctionData
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import (
    Dataset,
    Raw,
    Streams,
    sample_count,
    split_rows,
)
from cbrun.suggest import shorten

_WHERE: ConfigPath = ("data", "function")
_SHAPES = (
    "return {x_train, y_train, x_test, y_test} arrays, ((x_train, y_train), "
    "(x_test, y_test)), or {train, validation, test} batched tf.data.Datasets"
)
_ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")
_STREAM_KEYS = ("train", "validation", "test")


def call_function(config: FunctionData, base_dir: Path) -> Any:
    """Import and call the function; its errors become one BuildError line."""
    from cbrun.keras.imports import add_import_root, check_parameters, import_object

    add_import_root(base_dir)
    function = import_object(config.function, _WHERE)
    from cbrun.keras.values import with_paths

    # As model.params: {path: file} is relative to the config's folder.
    params = with_paths(config.params, ("data", "params"), base_dir)
    try:
        takes_base_dir = "base_dir" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        takes_base_dir = False
    if takes_base_dir and "base_dir" not in params:
        params["base_dir"] = base_dir
    check_parameters(function, config.params, ("data", "params"), config.function)
    try:
        return function(**params)
    except Exception as error:
        text = shorten(" ".join(str(error).split()), 200)
        raise BuildError(
            f"{config.function} raised {type(error).__name__}{_raised_at(error)}: "
            f"{text}",
            _WHERE,
        ) from None


def _raised_at(error: BaseException) -> str:
    """`` at loaders.py:12``: the line that raised, for the user's debugging."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" at {Path(last.filename).name}:{last.lineno}"


def load(config: FunctionData, *, seed: int, base_dir: Path) -> Raw | Dataset:
    """Call the function: raw arrays to finish, or a streamed Dataset."""
    result = call_function(config, base_dir)
    if isinstance(result, dict) and "train" in result:
        return _streams(config, result)
    x_train, y_train, x_test, y_test = _arrays(config, result)
    origin = f"function {config.function}"
    if x_test is None and config.test_size:
        x_train, y_train, x_test, y_test = split_rows(
            x_train,
            y_train,
            test_size=config.test_size,
            seed=seed,
            where=("data", "test_size"),
        )
    return Raw(x_train, y_train, x_test, y_test, origin)


def _array(value: Any, name: str, config: FunctionData) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {
            key: _array(item, f"{name}[{key!r}]", config) for key, item in value.items()
        }
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise BuildError(
            f"{config.function} returned {name} that is not an array ({error})", _WHERE
        ) from None
    if array.ndim == 0:
        raise BuildError(
            f"{config.function} returned {name} of shape (); it needs one row per "
            f"sample. {_SHAPES}",
            _WHERE,
        )
    return array.reshape(-1, 1) if array.ndim == 1 and name.startswith("x") else array


def _arrays(config: FunctionData, result: Any) -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_test, y_test)`` from any accepted array form."""
    if isinstance(result, dict):
        unknown = [key for key in result if key not in _ARRAY_KEYS]
        if unknown or "x_train" not in result or "y_train" not in result:
            raise BuildError(
                f"{config.function} returned a dict with keys "
                f"{', '.join(map(str, result)) or 'none'}; {_SHAPES}",
                _WHERE,
            )
        values = [result.get(key) for key in _ARRAY_KEYS]
    elif (
        isinstance(result, tuple | list)
        and len(result) == 2
        and all(isinstance(part, tuple | list) and len(part) == 2 for part in result)
    ):
        (x_train, y_train), (x_test, y_test) = result
        values = [x_train, y_train, x_test, y_test]
    elif isinstance(result, tuple | list) and len(result) == 2:
        values = [result[0], result[1], None, None]
    else:
        raise BuildError(
            f"{config.function} returned {type(result).__name__}; {_SHAPES}", _WHERE
        )
    arrays = [_array(v, k, config) for k, v in zip(_ARRAY_KEYS, values, strict=True)]
    if (arrays[2] is None) != (arrays[3] is None):
        raise BuildError(
            f"{config.function} returned x_test without y_test or the reverse; "
            "return both or neither",
            _WHERE,
        )
    for x, y, part in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "test")):
        if x is not None and sample_count(x) != sample_count(y):
            raise BuildError(
                f"{config.function} returned x_{part} of {sample_count(x)} samples "
                f"and y_{part} of {sample_count(y)}; they must match",
                _WHERE,
            )
    if arrays[2] is not None:
        _check_test_like_train(config, arrays[0], arrays[2])
    return arrays[0], arrays[1], arrays[2], arrays[3]


def _check_test_like_train(config: FunctionData, x_train: Any, x_test: Any) -> None:
    """Refuse test inputs unlike the training ones (fit would train, then fail)."""
    train = x_train if isinstance(x_train, dict) else {None: x_train}
    test = x_test if isinstance(x_test, dict) else {None: x_test}
    if set(train) != set(test):
        raise BuildError(
            f"{config.function} returned x_test with inputs "
            f"{_input_names(test)} but x_train with {_input_names(train)}; "
            "give both the same",
            _WHERE,
        )
    for name, array in train.items():
        if array.shape[1:] != test[name].shape[1:]:
            what = "x_test" if name is None else f"x_test[{name!r}]"
            raise BuildError(
                f"{config.function} returned {what} of samples shaped "
                f"{test[name].shape[1:]}, but training samples are shaped "
                f"{array.shape[1:]}; they must match",
                _WHERE,
            )


def _input_names(arrays: dict[Any, Any]) -> str:
    return ", ".join(str(n) for n in arrays) if None not in arrays else "one array"


def _samples(train: Any) -> int:
    """Training samples per epoch: batches times the first batch's size."""
    batches = int(train.cardinality())
    if batches < 0:
        return 0  # infinite or unknown: callbacks count steps without it
    for batch in train.take(1):  # (x, y) or (x, y, sample_weight)
        y = batch[1]
        first = y if not isinstance(y, dict) else next(iter(y.values()))
        return batches * int(first.shape[0])
    return 0


def _streams(config: FunctionData, result: dict[str, Any]) -> Dataset:
    """A Dataset of the function's ``tf.data`` pipelines (batched by the user)."""
    import tensorflow as tf

    unknown = [key for key in result if key not in _STREAM_KEYS]
    if unknown:
        raise BuildError(
            f"{config.function} returned a dict with keys "
            f"{', '.join(map(str, result))}; {_SHAPES}",
            _WHERE,
        )
    for key in _STREAM_KEYS:
        value = result.get(key)
        if value is not None and not isinstance(value, tf.data.Dataset):
            raise BuildError(
                f"{config.function} returned {key} of type {type(value).__name__}, "
                f"not a tf.data.Dataset; {_SHAPES}",
                _WHERE,
            )
    train = result["train"]
    spec = train.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise BuildError(
            f"{config.function}: the train dataset gives {type(spec).__name__}, not "
            "(x, y) pairs; batch it after pairing inputs and labels",
            _WHERE,
        )
    label_rank = getattr(spec[1], "shape", None)
    if label_rank is not None and label_rank.rank == 0:
        raise BuildError(
            f"{config.function}: the train dataset is not batched (its labels are "
            "scalars); call .batch(batch_size) on each dataset",
            _WHERE,
        )
    streams = Streams(
        train=train,
        validation=result.get("validation"),
        test=result.get("test"),
        train_samples=_samples(train),
    )
    classes = None
    if config.labels is not None:
        from cbrun.keras.data.labels import transform_stream

        classes = config.labels.classes
        streams.train = transform_stream(config.labels, streams.train, classes)
        streams.validation = transform_stream(
            config.labels, streams.validation, classes
        )
        streams.test = transform_stream(config.labels, streams.test, classes)
    label_spec = streams.train.element_spec[1]
    regression = getattr(label_spec, "dtype", None) is not None and (
        label_spec.dtype.is_floating
    )
    return Dataset(
        x_train=None,  # type: ignore[arg-type]
        y_train=None,  # type: ignore[arg-type]
        x_test=None,
        y_test=None,
        task="regression" if regression else "classification",
        num_classes=classes if config.labels and config.labels.one_hot else None,
        description=f"function {config.function}: tf.data train"
        + (", validation" if streams.validation is not None else "")
        + (", test" if streams.test is not None else ""),
        streams=streams,
    )
