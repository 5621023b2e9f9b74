"""Prepare the environment for Keras and import it, with a clear error if absent."""

from __future__ import annotations

import importlib
import os
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
    try:
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
        import absl.logging  # Installed with TensorFlow and JAX.

        absl.logging.set_verbosity(absl.logging.ERROR)
    return keras
