"""The ``keras`` source: a ``keras.datasets`` dataset with its own split.

Which datasets are regression and which give word-index sequences comes from
the generated ``KERAS_DATASET_FACTS``, as do the cache files
(:mod:`cbrun.keras.data.keras_cache`).
"""

from __future__ import annotations

import contextlib
import inspect
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cbrun.config.data import KerasData
from cbrun.config.keras_names import KERAS_DATASET_FACTS
from cbrun.errors import BuildError
from cbrun.keras.data.common import Dataset, Raw, Task
from cbrun.keras.data.keras_cache import (
    cache_files,
    check_cache_files,
    datasets_dir,
    load_error,
)
from cbrun.suggest import did_you_mean

# urlretrieve has no timeout of its own: a stalled download would hang forever.
_DOWNLOAD_TIMEOUT_SECONDS = 60.0


def load(config: KerasData, *, seed: int, base_dir: Path) -> Raw:
    """Load a ``keras.datasets`` dataset with its own train/test split."""
    _check_sequence_args(config)
    import keras

    load_data = getattr(keras.datasets, config.name).load_data
    _check_load_args(load_data, config)
    folder = datasets_dir()
    files = cache_files(config.name, config.load_args)
    check_cache_files(folder, files)
    present = {file.name for file in files if (folder / file.name).is_file()}
    try:
        with _socket_timeout(_DOWNLOAD_TIMEOUT_SECONDS):
            (x_train, y_train), (x_test, y_test) = load_data(**config.load_args)
    except Exception as error:
        raise load_error(config, folder, files, present, error) from error
    facts = KERAS_DATASET_FACTS[config.name]
    if facts["variable_length"]:
        # Keras gives lists of word indexes of different lengths.
        maxlen = config.load_args["maxlen"]
        x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
        x_test = keras.utils.pad_sequences(x_test, maxlen=maxlen)
    return Raw(
        np.asarray(x_train),
        np.asarray(y_train),
        np.asarray(x_test),
        np.asarray(y_test),
        f"keras {config.name}",
        facts["task"],
    )


def shape_only_data(config: KerasData) -> Dataset:
    """A two-sample stand-in with the shapes a ``keras`` dataset would have.

    ``validate --deep`` builds the model from it without loading (or
    downloading) the whole dataset.

    Raises:
        BuildError: For ``load_args`` that ``load_data`` would refuse.
    """
    _check_sequence_args(config)
    import keras

    _check_load_args(getattr(keras.datasets, config.name).load_data, config)
    facts = KERAS_DATASET_FACTS[config.name]
    shape = list(facts["x_train"][1:]) or [int(config.load_args.get("maxlen", 1))]
    x = np.zeros((2, *shape), dtype="float32")
    task: Task = facts["task"]
    y = np.zeros(2, dtype="int64" if task == "classification" else "float32")
    classes = facts["num_classes"]
    return Dataset(x, y, x, y, task, classes, f"keras {config.name} (shapes only)")


def _check_sequence_args(config: KerasData) -> None:
    """Require ``maxlen`` where sequences vary in length (imdb, reuters)."""
    if not KERAS_DATASET_FACTS[config.name]["variable_length"]:
        return
    maxlen = config.load_args.get("maxlen")
    if maxlen is None:
        raise BuildError(
            f"keras.datasets.{config.name} gives sequences of different lengths, "
            "which do not fit in one array; add "
            "load_args: {num_words: 10000, maxlen: 200} and cbrun pads them to "
            "maxlen (Keras drops the sequences of maxlen words or more)",
            ("data", "load_args"),
        )
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 2:
        raise BuildError(
            f"load_args.maxlen must be an integer of at least 2. "
            f"Received: maxlen={maxlen!r}",
            ("data", "load_args", "maxlen"),
        )


def _check_load_args(load_data: Callable[..., Any], config: KerasData) -> None:
    """Refuse keys ``load_data`` does not name (imdb's ``**kwargs`` ignores them)."""
    accepted = [
        name
        for name, parameter in inspect.signature(load_data).parameters.items()
        if parameter.kind
        not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    ]
    for key in config.load_args:
        if key in accepted:
            continue
        takes = (
            f"it accepts: {', '.join(accepted)}"
            if accepted
            else "it takes no arguments"
        )
        raise BuildError(
            f"keras.datasets.{config.name}.load_data has no parameter "
            f"{key!r}{did_you_mean(key, accepted)} ({takes})",
            ("data", "load_args"),
        )


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Give sockets a default timeout for the block, unless one is set."""
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
