"""Schema of a user's own callback class, ``type: package.module:Name``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from cbrun.config.base import IMPORT_PATH_PATTERN
from cbrun.config.callbacks.base import CallbackSchema


class CustomCallbackSchema(CallbackSchema):
    """A ``keras.callbacks.Callback`` subclass of your own.

    ``type`` is its import path; the other keys are its ``__init__``
    parameters, checked against its signature when it is imported (at
    ``train`` and ``validate --deep``, never at plain ``validate``).

    Example:
        ``{type: my_project.callbacks:StopAtAccuracy, target: 0.99}``
    """

    model_config = ConfigDict(extra="allow")
    summary: ClassVar[str] = "Your own Callback subclass, by import path."

    type: str = Field(pattern=IMPORT_PATH_PATTERN, description="pkg.module:Class")

    def keras_parameters(self) -> dict[str, object]:
        """Return the user's parameters (every key except ``type``)."""
        return dict(self.model_extra or {})
