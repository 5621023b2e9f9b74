"""One schema per callback, each imported when a config first names it.

``cbrun validate`` loads the schemas a config uses; :data:`CALLBACK_SCHEMAS`
(for ``cbrun callbacks``, ``cbrun schema`` and the tests) loads them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cbrun.config.callbacks.base import CallbackSchema
from cbrun.config.callbacks.custom import CustomCallbackSchema
from cbrun.config.callbacks.item import UNKNOWN_CALLBACK_ERROR, CallbackConfig
from cbrun.config.callbacks.registry import (
    CALLBACK_NAMES,
    CUSTOM_TAG,
    all_callback_schemas,
    callback_schema,
    callback_tag,
)

if TYPE_CHECKING:
    CALLBACK_SCHEMAS: dict[str, type[CallbackSchema]]
    """Every callback's schema by name, tutorial order first."""


def __getattr__(name: str) -> Any:
    # PEP 562: CALLBACK_SCHEMAS imports every schema, so only when asked for.
    if name == "CALLBACK_SCHEMAS":
        return all_callback_schemas()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CALLBACK_NAMES",
    "CALLBACK_SCHEMAS",
    "CUSTOM_TAG",
    "UNKNOWN_CALLBACK_ERROR",
    "CallbackConfig",
    "CallbackSchema",
    "CustomCallbackSchema",
    "all_callback_schemas",
    "callback_schema",
    "callback_tag",
]
