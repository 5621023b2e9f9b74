"""Prepare the environment for Keras and import it, with a clear error if absent."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType

from cbrun.errors import MissingDependencyError

_INSTALL_HINT = {
    "tensorflow": "pip install 'cbrun[cpu]' (or 'cbrun[tensorflow]' for GPUs)",
    "jax": "pip install 'cbrun[jax]'",
    "torch": "pip install torch",
}


def import_keras(backend: str = "tensorflow", *, verbose: bool = False) -> ModuleType:
    """Set the backend and log level, then import Keras.

    Keras reads ``KERAS_BACKEND`` once, at import; a process that already
    imported it with another backend cannot switch.

    Raises:
        MissingDependencyError: The backend or Keras is not installed, or
            Keras was already imported with another backend.
    """
    if not verbose:
        # TensorFlow's C++ info logs and oneDNN notices, before it is imported.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = backend
    # Importing TensorFlow imports Keras too: either means not the first.
    first_import = "keras" not in sys.modules
    try:
        with (
            _quiet_native_stderr(enabled=not verbose),
            _frozen_after_import(enabled=first_import),
        ):
            importlib.import_module(backend)
            keras = importlib.import_module("keras")
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {backend} backend is not installed ({exc}); "
            f"{_INSTALL_HINT.get(backend, 'pip install ' + backend)}"
        ) from None
    if keras.backend.backend() != backend:
        raise MissingDependencyError(
            f"Keras is already loaded with the {keras.backend.backend()} backend; "
            f"run configs with backend: {backend} in a separate cbrun process"
        )
    if not verbose:
        _quiet_python_loggers(backend)
    return keras


def seed_everything(keras: ModuleType, seed: int, *, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend, as a script's ``set_random_seed`` does.

    Args:
        keras: The imported Keras.
        seed: The config's ``seed``.
        deterministic: Also make TensorFlow's ops deterministic (slower).
    """
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def _frozen_after_import(*, enabled: bool) -> Iterator[None]:
    """Import with the cyclic garbage collector paused, then freeze the result.

    TensorFlow and Keras create about 700,000 objects at import that live
    until the process ends. Collecting while they are created traverses them
    again and again (0.8 s of full collections in a run of
    configs/earlystop.yaml), and interpreter exit traverses them once more
    (1.0 s). ``gc.freeze()`` moves them to the permanent generation, which the
    collector skips: that run takes 4.5 s instead of 5.9 s, with the same
    peak RSS. The price: the few thousand objects of cyclic garbage the
    import leaves (about 2 MB) are never freed. What existed before is
    collected first, so that none of it is frozen.

    Args:
        enabled: True for the process's first import of TensorFlow or Keras
            only: a process that trains many configs (``--smoke``, the tests)
            must not freeze the garbage of its earlier runs.
    """
    if not enabled or not gc.isenabled():
        yield
        return
    gc.collect()  # Cheap: tens of thousands of objects before the import.
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        gc.enable()


@contextlib.contextmanager
def _quiet_native_stderr(*, enabled: bool) -> Iterator[None]:
    """Hide what C++ code prints to file descriptor 2 while TensorFlow loads.

    TensorFlow 2.21 prints oneDNN and CPU-feature notices through absl before
    any log level applies (TF_CPP_MIN_LOG_LEVEL no longer stops them). Python
    exceptions still propagate; ``--verbose`` keeps everything.
    """
    if not enabled or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # No real stderr (an embedding host): nothing to hide.
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_python_loggers(backend: str) -> None:
    """Keep TensorFlow's retracing notices and absl warnings off the console."""
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)
    if backend == "tensorflow":
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
