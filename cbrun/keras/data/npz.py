"""The ``npz`` source: named arrays in a NumPy ``.npz`` file."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cbrun.config.data import NpzData
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import Raw, looks_like_classes, resolve, split
from cbrun.suggest import did_you_mean


def load(config: NpzData, *, seed: int, base_dir: Path) -> Raw:
    """Load arrays from an ``.npz`` file; split when it has no test arrays."""
    path = resolve(config.path, base_dir, ("data", "path"))
    keys = config.keys
    with _open_npz(path) as npz:
        x_train = _npz_array(npz, keys.x_train, "x_train", path)
        y_train = _npz_array(npz, keys.y_train, "y_train", path)
        test = _npz_test_arrays(config, npz, path)
    origin = f"npz {path}"
    where: ConfigPath = ("data", "path")
    x_train, y_train = _check_pair(x_train, y_train, f"{path} (train)", where)
    if test is not None:
        if config.test_size is not None:
            raise BuildError(
                f"{path} has its own test arrays ({keys.x_test}, {keys.y_test}); "
                "remove test_size, which only splits files without them",
                ("data", "test_size"),
            )
        x_test, y_test = _check_pair(*test, f"{path} (test)", where)
        _check_same_features(x_train, x_test, f"{path}: {keys.x_test}", where)
        return Raw(x_train, y_train, x_test, y_test, origin)
    if config.test_size is None:
        return Raw(x_train, y_train, None, None, origin)
    x_train, x_test, y_train, y_test = split(
        x_train,
        y_train,
        test_size=config.test_size,
        seed=seed,
        stratify=looks_like_classes(y_train),
        where=("data", "test_size"),
    )
    return Raw(x_train, y_train, x_test, y_test, origin)


@contextlib.contextmanager
def _open_npz(path: Path) -> Iterator[np.lib.npyio.NpzFile]:
    """Open an ``.npz`` archive without unpickling anything."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise BuildError(
            f"cannot read {path} as a NumPy .npz file: {error}; save it with "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)",
            ("data", "path"),
        ) from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise BuildError(
            f"{path} holds a single array (.npy), not named arrays; save it with "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)",
            ("data", "path"),
        )
    with loaded:
        yield loaded


def _npz_array(npz: np.lib.npyio.NpzFile, key: str, field: str, path: Path) -> Any:
    """Read the array ``key`` for ``keys.<field>``, or say which arrays exist."""
    if key not in npz.files:
        raise BuildError(
            f"{path} has no array {key!r} for {field}{did_you_mean(key, npz.files)} "
            f"(it has: {', '.join(npz.files) or 'no arrays'}); set data.keys.{field}",
            ("data", "keys", field),
        )
    try:
        return npz[key]
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        # Object (ragged) arrays need pickle, which cbrun refuses to run.
        raise BuildError(
            f"cannot read array {key!r} of {path}: {error}; store it as a plain "
            "numeric array (pad ragged sequences to one length)",
            ("data", "keys", field),
        ) from error


def _npz_test_arrays(
    config: NpzData, npz: np.lib.npyio.NpzFile, path: Path
) -> tuple[np.ndarray, np.ndarray] | None:
    """Read both test arrays, or return ``None`` when the file has neither.

    Default key names may be absent (then there is no test split); names the
    config sets explicitly must exist.
    """
    keys = config.keys
    files = npz.files
    present = {field: getattr(keys, field) in files for field in ("x_test", "y_test")}
    for field in ("x_test", "y_test"):
        if not present[field] and field in keys.model_fields_set:
            _npz_array(npz, getattr(keys, field), field, path)  # raises
    if not any(present.values()):
        return None
    if not all(present.values()):
        found, lacking = (
            ("x_test", "y_test")
            if present["x_test"]
            else (
                "y_test",
                "x_test",
            )
        )
        raise BuildError(
            f"{path} has {getattr(keys, found)!r} but no {getattr(keys, lacking)!r}; "
            f"it has: {', '.join(files)}. Give both test arrays or neither",
            ("data", "keys", lacking),
        )
    return (
        _npz_array(npz, keys.x_test, "x_test", path),
        _npz_array(npz, keys.y_test, "y_test", path),
    )


def _check_pair(
    x: np.ndarray, y: np.ndarray, what: str, where: ConfigPath
) -> tuple[np.ndarray, np.ndarray]:
    """Check that x and y are numeric, non-empty and of the same length."""
    for name, array in (("x", x), ("y", y)):
        if array.dtype.kind not in "biuf":
            raise BuildError(
                f"{what}: {name} has dtype {array.dtype}; it must be numeric "
                "(encode labels as integers 0..classes-1)",
                where,
            )
        if array.ndim == 0 or len(array) == 0:
            raise BuildError(
                f"{what}: {name} has shape {array.shape}; it needs one row per sample",
                where,
            )
    if len(x) != len(y):
        raise BuildError(
            f"{what}: x has {len(x)} samples but y has {len(y)}; they must match",
            where,
        )
    # A flat x is one feature per sample; Keras layers want (samples, features).
    return (x.reshape(-1, 1) if x.ndim == 1 else x), y


def _check_same_features(
    x_train: np.ndarray, x_test: np.ndarray, what: str, where: ConfigPath
) -> None:
    """Check that test samples have the training samples' shape."""
    if x_train.shape[1:] != x_test.shape[1:]:
        raise BuildError(
            f"{what}: test samples have shape {x_test.shape[1:]}, training samples "
            f"{x_train.shape[1:]}; they must match",
            where,
        )
