"""Which schema a callback's ``type`` names, each module imported on first use.

``cbrun validate`` pays only for the callbacks a config names: building a
schema is most of what importing its module costs.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.callbacks.base import CallbackSchema
from cbrun.config.callbacks.custom import CustomCallbackSchema

# Callback name to the module of its schema, ``<name>Schema``; in the order of
# the TF 2.0 callbacks tutorial, then Keras 3's additions.
_MODULES = {
    "History": "history",
    "BaseLogger": "base_logger",
    "EarlyStopping": "early_stopping",
    "LearningRateScheduler": "learning_rate_scheduler",
    "ReduceLROnPlateau": "reduce_lr_on_plateau",
    "ModelCheckpoint": "model_checkpoint",
    "TensorBoard": "tensorboard",
    "LambdaCallback": "lambda_callback",
    "ProgbarLogger": "progbar_logger",
    "TerminateOnNaN": "terminate_on_nan",
    "RemoteMonitor": "remote_monitor",
    "CSVLogger": "csv_logger",
    "BackupAndRestore": "backup_and_restore",
    "SwapEMAWeights": "swap_ema_weights",
    "OrbaxCheckpoint": "orbax_checkpoint",
}
CALLBACK_NAMES: tuple[str, ...] = tuple(_MODULES)
"""The callbacks a config may name by ``type``, tutorial order first."""
CUSTOM_TAG = "package.module:Class"
"""The tag of a user's own callback, named by its import path."""


def callback_tag(value: Any) -> str | None:
    """Pick the schema for one ``callbacks`` item from its ``type``.

    Returns:
        One of :data:`CALLBACK_NAMES`, :data:`CUSTOM_TAG` for an import path,
        or ``None`` (reported as an unknown callback type).
    """
    kind = (
        value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    )
    if not isinstance(kind, str):
        return None
    if kind in _MODULES:
        return kind
    if IMPORT_PATH_RE.match(kind):
        return CUSTOM_TAG
    return None


def _import(name: str) -> type[CallbackSchema]:
    module = importlib.import_module(f"{__package__}.{_MODULES[name]}")
    schema: type[CallbackSchema] = getattr(module, f"{name}Schema")
    return schema


def callback_schema(tag: str) -> type[CallbackSchema] | None:
    """Return the schema of a tag from :func:`callback_tag`, importing it.

    Returns:
        The schema, or ``None`` for a name that is not a callback.
    """
    if tag == CUSTOM_TAG:
        return CustomCallbackSchema
    return _import(tag) if tag in _MODULES else None


@cache
def all_callback_schemas() -> dict[str, type[CallbackSchema]]:
    """Import every schema: name to schema, in :data:`CALLBACK_NAMES` order."""
    return {name: _import(name) for name in CALLBACK_NAMES}
