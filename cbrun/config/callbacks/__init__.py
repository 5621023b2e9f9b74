"""One schema per callback, and the union that picks one by ``type``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.callbacks.backup_and_restore import BackupAndRestoreSchema
from cbrun.config.callbacks.base import CallbackSchema
from cbrun.config.callbacks.base_logger import BaseLoggerSchema
from cbrun.config.callbacks.csv_logger import CSVLoggerSchema
from cbrun.config.callbacks.custom import CustomCallbackSchema
from cbrun.config.callbacks.early_stopping import EarlyStoppingSchema
from cbrun.config.callbacks.history import HistorySchema
from cbrun.config.callbacks.lambda_callback import LambdaCallbackSchema
from cbrun.config.callbacks.learning_rate_scheduler import (
    LearningRateSchedulerSchema,
)
from cbrun.config.callbacks.model_checkpoint import ModelCheckpointSchema
from cbrun.config.callbacks.orbax_checkpoint import OrbaxCheckpointSchema
from cbrun.config.callbacks.progbar_logger import ProgbarLoggerSchema
from cbrun.config.callbacks.reduce_lr_on_plateau import ReduceLROnPlateauSchema
from cbrun.config.callbacks.remote_monitor import RemoteMonitorSchema
from cbrun.config.callbacks.swap_ema_weights import SwapEMAWeightsSchema
from cbrun.config.callbacks.tensorboard import TensorBoardSchema
from cbrun.config.callbacks.terminate_on_nan import TerminateOnNaNSchema

# In the order of the TF 2.0 callbacks tutorial, then Keras 3's additions.
CALLBACK_SCHEMAS: dict[str, type[CallbackSchema]] = {
    "History": HistorySchema,
    "BaseLogger": BaseLoggerSchema,
    "EarlyStopping": EarlyStoppingSchema,
    "LearningRateScheduler": LearningRateSchedulerSchema,
    "ReduceLROnPlateau": ReduceLROnPlateauSchema,
    "ModelCheckpoint": ModelCheckpointSchema,
    "TensorBoard": TensorBoardSchema,
    "LambdaCallback": LambdaCallbackSchema,
    "ProgbarLogger": ProgbarLoggerSchema,
    "TerminateOnNaN": TerminateOnNaNSchema,
    "RemoteMonitor": RemoteMonitorSchema,
    "CSVLogger": CSVLoggerSchema,
    "BackupAndRestore": BackupAndRestoreSchema,
    "SwapEMAWeights": SwapEMAWeightsSchema,
    "OrbaxCheckpoint": OrbaxCheckpointSchema,
}
CUSTOM_TAG = "package.module:Class"
UNKNOWN_CALLBACK_ERROR = "unknown_callback_type"


def callback_tag(value: Any) -> str | None:
    """Pick the schema for one ``callbacks`` item from its ``type``.

    Returns:
        A key of :data:`CALLBACK_SCHEMAS`, :data:`CUSTOM_TAG` for an import
        path, or ``None`` (reported as an unknown callback type).
    """
    kind = (
        value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    )
    if not isinstance(kind, str):
        return None
    if kind in CALLBACK_SCHEMAS:
        return kind
    if IMPORT_PATH_RE.match(kind):
        return CUSTOM_TAG
    return None


CallbackConfig = Annotated[
    Annotated[HistorySchema, Tag("History")]
    | Annotated[BaseLoggerSchema, Tag("BaseLogger")]
    | Annotated[EarlyStoppingSchema, Tag("EarlyStopping")]
    | Annotated[LearningRateSchedulerSchema, Tag("LearningRateScheduler")]
    | Annotated[ReduceLROnPlateauSchema, Tag("ReduceLROnPlateau")]
    | Annotated[ModelCheckpointSchema, Tag("ModelCheckpoint")]
    | Annotated[TensorBoardSchema, Tag("TensorBoard")]
    | Annotated[LambdaCallbackSchema, Tag("LambdaCallback")]
    | Annotated[ProgbarLoggerSchema, Tag("ProgbarLogger")]
    | Annotated[TerminateOnNaNSchema, Tag("TerminateOnNaN")]
    | Annotated[RemoteMonitorSchema, Tag("RemoteMonitor")]
    | Annotated[CSVLoggerSchema, Tag("CSVLogger")]
    | Annotated[BackupAndRestoreSchema, Tag("BackupAndRestore")]
    | Annotated[SwapEMAWeightsSchema, Tag("SwapEMAWeights")]
    | Annotated[OrbaxCheckpointSchema, Tag("OrbaxCheckpoint")]
    | Annotated[CustomCallbackSchema, Tag(CUSTOM_TAG)],
    Discriminator(
        callback_tag,
        custom_error_type=UNKNOWN_CALLBACK_ERROR,
        custom_error_message="unknown callback type",
    ),
]

__all__ = [
    "CALLBACK_SCHEMAS",
    "CUSTOM_TAG",
    "UNKNOWN_CALLBACK_ERROR",
    "CallbackConfig",
    "CallbackSchema",
    "CustomCallbackSchema",
    "callback_tag",
]
