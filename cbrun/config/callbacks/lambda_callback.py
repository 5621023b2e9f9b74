"""Schema of ``keras.callbacks.LambdaCallback``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.base import ImportPath
from cbrun.config.callbacks.base import CallbackSchema


class LambdaCallbackSchema(CallbackSchema):
    """Call your own functions at points of training.

    Each hook is an import path ``package.module:function``, imported at
    ``train`` (never at ``validate``). Epoch hooks get ``(epoch, logs)``,
    train hooks ``(logs)``, batch hooks ``(batch, logs)``.

    Args:
        on_epoch_begin: Called at the start of every epoch. Defaults to None.
        on_epoch_end: Called at the end of every epoch. Defaults to None.
        on_train_begin: Called when training starts. Defaults to None.
        on_train_end: Called when training ends. Defaults to None.
        on_train_batch_begin: Called before every batch. Defaults to None.
        on_train_batch_end: Called after every batch. Defaults to None.

    Example:
        ``{type: LambdaCallback, on_epoch_end: builtins:print}``
    """

    keras_class: ClassVar[str | None] = "LambdaCallback"
    removed_parameters: ClassVar[dict[str, str]] = {
        "on_batch_begin": "Keras 3 names it `on_train_batch_begin`",
        "on_batch_end": "Keras 3 names it `on_train_batch_end`",
    }
    summary: ClassVar[str] = "Call your own functions (import paths) during training."

    type: Literal["LambdaCallback"]
    on_epoch_begin: ImportPath | None = Field(
        None, description="pkg.mod:fn called with (epoch, logs)."
    )
    on_epoch_end: ImportPath | None = Field(
        None, description="pkg.mod:fn called with (epoch, logs)."
    )
    on_train_begin: ImportPath | None = Field(
        None, description="pkg.mod:fn called with (logs)."
    )
    on_train_end: ImportPath | None = Field(
        None, description="pkg.mod:fn called with (logs)."
    )
    on_train_batch_begin: ImportPath | None = Field(
        None, description="pkg.mod:fn called with (batch, logs)."
    )
    on_train_batch_end: ImportPath | None = Field(
        None, description="pkg.mod:fn called with (batch, logs)."
    )
