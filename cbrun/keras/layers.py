"""Create one layer of a config's model: a Keras layer, an application, a user class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.model import LayerConfig
from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.applications import build_application, is_application
from cbrun.keras.downloads import download_failure
from cbrun.keras.imports import check_parameters, import_object, keras_error
from cbrun.keras.values import with_functions


def construct(cls: Any, params: dict[str, Any], where: ConfigPath, label: str) -> Any:
    """Call ``cls(**params)`` after checking the parameters against its signature.

    Raises:
        BuildError: An unknown parameter, or what Keras refuses, at ``where``.
    """
    check_parameters(cls, params, where, label)
    try:
        return cls(**params)
    except (ValueError, TypeError, KeyError) as exc:
        raise BuildError(f"{label}: {keras_error(exc)}", where) from None
    except Exception as exc:
        # A user class may fetch weights (e.g. wrap keras.applications).
        download = download_failure(exc, where)
        if download is None:
            raise
        raise download from None


def build_layer(
    layer: LayerConfig,
    where: ConfigPath,
    *,
    input_shape: tuple[int | None, ...] | None = None,
    base_dir: Path | None = None,
) -> Any:
    """Create one layer from ``{type, ...}``; ``trainable: false`` freezes it.

    Args:
        layer: The layer's config.
        where: Its place in the config.
        input_shape: One sample's shape reaching the layer, when known: an
            application's default ``input_shape``.
        base_dir: The config's folder (an application's weights file).
    """
    params = with_functions(layer.constructor_params(), where)
    if IMPORT_PATH_RE.match(layer.type):
        cls = import_object(layer.type, (*where, "type"))
        built = construct(cls, params, where, f"layer {layer.type}")
    elif is_application(layer.type):
        built = build_application(
            layer.type, params, where, input_shape=input_shape, base_dir=base_dir
        )
    else:
        cls = getattr(keras.layers, layer.type)
        built = construct(cls, params, where, f"layer {layer.type}")
    if layer.trainable is not None:
        try:
            built.trainable = layer.trainable
        except AttributeError:
            raise BuildError(
                f"{type(built).__name__} cannot be frozen (no trainable setting)",
                (*where, "trainable"),
            ) from None
    return built
