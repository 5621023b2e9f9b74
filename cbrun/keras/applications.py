"""Keras applications (MobileNetV2, ResNet50, ...) as layers of a config's model.

An application is a ``keras.Model``; in a graph it is called like a layer.
Its ``input_shape`` defaults to the shape of what reaches it (the data's
image size and channels). ``weights: imagenet`` makes Keras fetch the
weights file into ``$KERAS_HOME/models`` unless it is there already;
offline, that is an error naming the file and the folder to put it in, as
for a ``keras.datasets`` file (exit 1, also at ``validate --deep``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import keras

from cbrun.config.keras_names import APPLICATIONS
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.downloads import models_dir
from cbrun.keras.imports import check_parameters, keras_error
from cbrun.suggest import closest, shorten

# get_file: "URL fetch failure on {origin}: {errno} -- {reason}".
_FETCH_FAILURE = re.compile(r"URL fetch failure on (?P<origin>\S+?): (?P<reason>.*)")
_NAMED_WEIGHTS = ("imagenet",)


def is_application(name: str) -> bool:
    """Whether ``name`` is a ``keras.applications`` model constructor."""
    return name in APPLICATIONS


def build_application(
    name: str,
    params: dict[str, Any],
    where: ConfigPath,
    *,
    input_shape: tuple[int | None, ...] | None,
    base_dir: Path | None,
) -> keras.Model:
    """Build ``keras.applications.<name>(**params)``.

    Args:
        name: The application, e.g. ``MobileNetV2``.
        params: Its arguments from the config (``weights``, ``include_top``,
            ``pooling``, ...).
        where: The layer's place in the config.
        input_shape: One sample's shape reaching it; the default of
            ``input_shape``.
        base_dir: The config's folder: ``weights`` given as a file path is
            read from there.

    Raises:
        BuildError: Keras refuses the arguments, or the weights are not in the
            Keras cache and cannot be downloaded.
    """
    constructor = getattr(keras.applications, name)
    params = dict(params)
    if "input_shape" not in params and "input_tensor" not in params and input_shape:
        params["input_shape"] = tuple(input_shape)
    elif isinstance(params.get("input_shape"), list):
        params["input_shape"] = tuple(params["input_shape"])
    weights = params.get("weights", "imagenet")
    if _is_file(weights):
        path = Path(weights).expanduser()
        params["weights"] = str(
            path if path.is_absolute() or not base_dir else base_dir / path
        )
        if not Path(params["weights"]).is_file():
            # Keras says only that weights must be None, imagenet or a path.
            raise _missing_file(name, params["weights"], weights, where)
    check_parameters(constructor, params, where, name)
    with _recorded_fetches() as fetches:
        try:
            return constructor(**params)
        except Exception as exc:
            if isinstance(exc, OSError) and _is_file(weights):
                raise _unreadable_file(name, params["weights"], exc, where) from None
            raise _application_error(name, weights, exc, where, fetches) from None


@dataclass
class _Fetch:
    """One ``get_file`` call of an application: the weights file it asked for.

    Attributes:
        file_name: The file's name in the cache.
        origin: The URL Keras downloads it from.
        existed: Whether the file was in the cache before the call.
        path: What ``get_file`` returned (the file Keras then reads), or
            None when it raised.
    """

    file_name: str
    origin: str
    existed: bool
    path: str | None = None


@contextlib.contextmanager
def _recorded_fetches() -> Iterator[list[_Fetch]]:
    """Note each weights file the application fetches, passing the calls on.

    Keras's reason for an unreadable cached file is h5py's ("file signature
    not found"), without the file's name; the record names it and its URL.
    """
    from keras.src.utils import file_utils

    fetches: list[_Fetch] = []
    original = file_utils.get_file

    def recording(*args: Any, **kwargs: Any) -> Any:
        origin = str(kwargs.get("origin", args[1] if len(args) > 1 else ""))
        name = kwargs.get("fname", args[0] if args else None)
        name = str(name or Path(urlparse(origin).path).name)
        subdir = str(kwargs.get("cache_subdir", "datasets"))
        existed = (models_dir().parent / subdir / name).exists()
        fetch = _Fetch(name, origin, existed)
        fetches.append(fetch)
        fetch.path = str(original(*args, **kwargs))
        return fetch.path

    file_utils.get_file = recording
    try:
        yield fetches
    finally:
        file_utils.get_file = original


def _unreadable_weights(
    name: str, weights: Any, error: Exception, where: ConfigPath, fetch: _Fetch
) -> BuildError:
    """The cached weights file was found but Keras could not load it."""
    reason = shorten(keras_error(error), 160)
    state = (
        "is damaged"
        if isinstance(error, OSError)
        else "is not the weights file Keras expects"
    )
    return BuildError(
        f"keras.applications.{name} weights {weights!r}: the cached file "
        f"{fetch.path} {state} ({type(error).__name__}: {reason}). Delete it "
        f"and put a good copy there: download {fetch.origin} (Keras downloads "
        "it again by itself when online); or set weights: null to start from "
        "random weights",
        (*where, "weights"),
    )


def _is_file(weights: Any) -> bool:
    """Whether ``weights`` names a file (not ``imagenet`` or None)."""
    return isinstance(weights, str) and weights not in _NAMED_WEIGHTS


def _missing_file(name: str, path: str, given: str, where: ConfigPath) -> BuildError:
    """A ``weights`` file named in the config that is not there."""
    state = "is a folder" if Path(path).is_dir() else "does not exist"
    named = closest(given, _NAMED_WEIGHTS)  # weights: imagnet
    fix = f"did you mean weights: {named}? Else give" if named else "give"
    return BuildError(
        f"keras.applications.{name} weights file {path} {state} (a relative "
        f"path is read from the config's folder); {fix} the path of a weights "
        "file Keras saved for this application, or weights: imagenet (Keras's "
        "own, from its cache) or null (random weights)",
        (*where, "weights"),
    )


def _unreadable_file(
    name: str, path: str, error: OSError, where: ConfigPath
) -> BuildError:
    """A ``weights`` file of the user's that h5py cannot open."""
    reason = shorten(keras_error(error), 160)
    return BuildError(
        f"keras.applications.{name} weights file {path} cannot be read, it may "
        f"be damaged ({type(error).__name__}: {reason}); give a weights file "
        "Keras saved for this application, or weights: imagenet or null",
        (*where, "weights"),
    )


def _application_error(
    name: str,
    weights: Any,
    error: Exception,
    where: ConfigPath,
    fetches: list[_Fetch],
) -> BuildError:
    """Explain a failed application: a missing or damaged file, or Keras's reason."""
    text = str(error).strip()
    first = shorten(keras_error(error), 240)
    match = _FETCH_FAILURE.search(text)
    folder = models_dir()
    loaded = [fetch for fetch in fetches if fetch.path is not None]
    if match is None and loaded and weights is not None:
        # get_file handed over a cached file, and reading it failed.
        return _unreadable_weights(name, weights, error, where, loaded[-1])
    if match is None:
        damaged = (
            f"; if a weights file in {folder} is damaged, delete it so Keras "
            "downloads it again"
            if weights is not None
            else ""
        )
        return BuildError(
            f"keras.applications.{name}: {type(error).__name__}: {first}{damaged}",
            where,
        )
    origin = match["origin"]
    file_name = Path(urlparse(origin).path).name or origin
    reason = match["reason"].strip().rstrip(".")
    cached = [fetch for fetch in fetches if fetch.origin == origin and fetch.existed]
    if cached or (folder / file_name).exists():
        # Keras re-downloads a cached file whose hash is wrong, and removes
        # it when that fails.
        return BuildError(
            f"keras.applications.{name} weights {weights!r}: the cached file "
            f"{folder / file_name} is damaged (its hash is not the one Keras "
            f"expects) and downloading it again failed ({shorten(reason, 120)}). "
            f"Put a good copy there: download {origin}; or set weights: null to "
            "start from random weights",
            (*where, "weights") if weights is not None else where,
        )
    return BuildError(
        f"keras.applications.{name} weights {weights!r} are not in the Keras cache "
        f"and downloading them failed ({shorten(reason, 120)}). Put this file in "
        f"{folder} ($KERAS_HOME/models; KERAS_HOME defaults to ~/.keras):\n"
        f"  {file_name}: missing; download {origin}\n"
        "Or set weights: null to start from random weights",
        (*where, "weights") if weights is not None else where,
    )
