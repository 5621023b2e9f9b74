"""The ``npz`` source: named arrays in a NumPy ``.npz`` file.

The file may be anything a config names: one that is not a zip archive is
described by its first bytes, never quoted, and array names and NumPy's own
errors are cut to ``DATA_QUOTE_LENGTH`` characters (see :mod:`cbrun.suggest`).
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cbrun.config.data import NpzData
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import Raw, open_data, resolve, split_rows
from cbrun.suggest import (
    DATA_QUOTE_LENGTH,
    closest,
    describe_start,
    shorten,
    shown_data,
    shown_names,
)

_SAVE_HINT = (
    "save it with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
)
# An .npz file is a zip archive (the second signature: one without members).
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_SIGNATURE = b"\x93NUMPY"
# Enough of the start to say what a file that is not an archive looks like.
_SNIFF_BYTES = 512


def load(config: NpzData, *, seed: int, base_dir: Path) -> Raw:
    """Load arrays from an ``.npz`` file; split when it has no test arrays."""
    path = resolve(config.path, base_dir, ("data", "path"))
    keys = config.keys
    with _open_npz(path) as npz:
        x_train = _named_arrays(npz, keys.x_train, "x_train", path)
        y_train = _named_arrays(npz, keys.y_train, "y_train", path)
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
        _check_same_names((x_train, y_train), test, path)
        x_test, y_test = _check_pair(*test, f"{path} (test)", where)
        # A dict of arrays is named by the split: m.npz: x_test['meta'].
        test_name = keys.x_test if isinstance(keys.x_test, str) else "x_test"
        _check_same_features(x_train, x_test, f"{path}: {test_name}", where)
        return Raw(x_train, y_train, x_test, y_test, origin)
    if config.test_size is None:
        return Raw(x_train, y_train, None, None, origin)
    parts = split_rows(
        x_train,
        y_train,
        test_size=config.test_size,
        seed=seed,
        where=("data", "test_size"),
    )
    return Raw(*parts, origin)


def _check_same_names(
    train: tuple[Any, Any], test: tuple[Any, Any], path: Path
) -> None:
    """Test arrays must be named as the training arrays: both plain or both mappings."""
    for train_part, test_part, field in zip(train, test, "xy", strict=True):
        where: ConfigPath = ("data", "keys", f"{field}_test")
        if isinstance(train_part, dict) != isinstance(test_part, dict):
            raise BuildError(
                f"{path}: keys.{field}_train and keys.{field}_test must both be "
                "array names or both mappings by input/output name",
                where,
            )
        if isinstance(train_part, dict) and train_part.keys() != test_part.keys():
            raise BuildError(
                f"{path}: keys.{field}_test must map the names keys.{field}_train "
                f"maps ({', '.join(train_part)})",
                where,
            )


def _named_arrays(
    npz: np.lib.npyio.NpzFile, names: str | dict[str, str], field: str, path: Path
) -> Any:
    """One array, or a dict of input (output) name to array for a mapping."""
    if isinstance(names, str):
        return _npz_array(npz, names, field, path)
    return {name: _npz_array(npz, key, field, path) for name, key in names.items()}


def _present(names: str | dict[str, str], files: list[str]) -> bool:
    if isinstance(names, str):
        return names in files
    return all(key in files for key in names.values())


@contextlib.contextmanager
def _open_npz(path: Path) -> Iterator[np.lib.npyio.NpzFile]:
    """Open an ``.npz`` archive without unpickling anything."""
    where: ConfigPath = ("data", "path")
    with open_data(path, where) as stream:
        head = stream.read(_SNIFF_BYTES)
        stream.seek(0)
        if head.startswith(_NPY_SIGNATURE):
            raise BuildError(
                f"{path} holds a single array (.npy), not named arrays; {_SAVE_HINT}",
                where,
            )
        if not head.startswith(_ZIP_SIGNATURES):
            # Described, not quoted: the file may be a key or a password file.
            raise BuildError(
                f"cannot read {path} as a NumPy .npz file: it does not look like "
                f"one (it starts like {describe_start(head)}, not a zip "
                f"archive); {_SAVE_HINT}",
                where,
            )
        try:
            loaded = np.load(stream, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise BuildError(
                f"cannot read {path} as a NumPy .npz file: {_error_text(error)}; "
                f"{_SAVE_HINT}",
                where,
            ) from None
        with loaded:
            yield loaded


def _error_text(error: BaseException) -> str:
    """NumPy's and zipfile's message, cut: some quote the file's bytes."""
    return shorten(str(error), DATA_QUOTE_LENGTH)


def _npz_array(npz: np.lib.npyio.NpzFile, key: str, field: str, path: Path) -> Any:
    """Read the array ``key`` for ``keys.<field>``, or say which arrays exist."""
    if key not in npz.files:
        match = closest(key, npz.files)
        # The suggestion and the list share the quoting budget.
        suggestion = f"; did you mean {shown_data(match, 30)}?" if match else ""
        names = shown_names(npz.files, DATA_QUOTE_LENGTH - 30, quote=False)
        raise BuildError(
            f"{path} has no array {key!r} for {field}{suggestion} "
            f"(it has: {names or 'no arrays'}); set data.keys.{field}",
            ("data", "keys", field),
        )
    try:
        return npz[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        # Object (ragged) arrays need pickle, which cbrun refuses to run.
        raise BuildError(
            f"cannot read array {key!r} of {path}: {_error_text(error)}; store it "
            "as a plain numeric array (pad ragged sequences to one length)",
            ("data", "keys", field),
        ) from None


def _npz_test_arrays(
    config: NpzData, npz: np.lib.npyio.NpzFile, path: Path
) -> tuple[np.ndarray, np.ndarray] | None:
    """Read both test arrays, or return ``None`` when the file has neither.

    Default key names may be absent (then there is no test split); names the
    config sets explicitly must exist.
    """
    keys = config.keys
    files = npz.files
    present = {
        field: _present(getattr(keys, field), files) for field in ("x_test", "y_test")
    }
    for field in ("x_test", "y_test"):
        if not present[field] and field in keys.model_fields_set:
            _named_arrays(npz, getattr(keys, field), field, path)  # raises
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
            f"it has: {shown_names(files, quote=False)}. Give both test arrays "
            "or neither",
            ("data", "keys", lacking),
        )
    return (
        _named_arrays(npz, keys.x_test, "x_test", path),
        _named_arrays(npz, keys.y_test, "y_test", path),
    )


def _check_pair(x: Any, y: Any, what: str, where: ConfigPath) -> tuple[Any, Any]:
    """Check that x and y are numeric, non-empty and of the same length.

    Either may be a dict of named arrays (several inputs or outputs).
    """
    named = [
        *((f"x[{k!r}]", a) for k, a in (x.items() if isinstance(x, dict) else [])),
        *((f"y[{k!r}]", a) for k, a in (y.items() if isinstance(y, dict) else [])),
    ]
    if not isinstance(x, dict):
        named.insert(0, ("x", x))
    if not isinstance(y, dict):
        named.append(("y", y))
    for name, array in named:
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
    lengths = {name: len(array) for name, array in named}
    if set(lengths) == {"x", "y"} and lengths["x"] != lengths["y"]:
        raise BuildError(
            f"{what}: x has {lengths['x']} samples but y has {lengths['y']}; they "
            "must match",
            where,
        )
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} {count}" for name, count in lengths.items())
        raise BuildError(
            f"{what}: the arrays have different numbers of samples ({shown}); "
            "they must match",
            where,
        )

    # A flat x is one feature per sample; Keras layers want (samples, features).
    def column(a: np.ndarray) -> np.ndarray:
        return a.reshape(-1, 1) if a.ndim == 1 else a

    if isinstance(x, dict):
        return {name: column(a) for name, a in x.items()}, y
    return column(x), y


def _check_same_features(
    x_train: Any, x_test: Any, what: str, where: ConfigPath
) -> None:
    """Check that test samples have the training samples' shape."""
    if isinstance(x_train, dict):
        for name in x_train:
            _check_same_features(
                x_train[name], x_test[name], f"{what}[{name!r}]", where
            )
        return
    if x_train.shape[1:] != x_test.shape[1:]:
        raise BuildError(
            f"{what}: test samples have shape {x_test.shape[1:]}, training samples "
            f"{x_train.shape[1:]}; they must match",
            where,
        )
