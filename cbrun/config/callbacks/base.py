"""The base class of every callback schema."""

from __future__ import annotations

from typing import ClassVar

from cbrun.config.base import StrictModel


class CallbackSchema(StrictModel):
    """A callback's parameters as written under ``callbacks:`` in a config.

    The fields after ``type`` mirror the Keras class's ``__init__``: same names,
    order and defaults (a test compares them with ``inspect.signature``).

    Attributes:
        keras_class: The class's name in ``keras.callbacks``, or ``None`` for a
            callback that cbrun implements itself.
        cbrun_additions: Fields cbrun adds beyond the Keras signature.
        removed_parameters: Parameters of the TF 2.0 API that Keras 3 removed,
            each with the migration to write instead.
        path_fields: Fields holding a path the callback writes, resolving
            inside the run dir (``cbrun.config.callback_outputs`` checks them).
        monitor_fields: Fields naming a logged quantity.
        summary: One line for ``cbrun callbacks``.
    """

    keras_class: ClassVar[str | None] = None
    cbrun_additions: ClassVar[tuple[str, ...]] = ()
    removed_parameters: ClassVar[dict[str, str]] = {}
    path_fields: ClassVar[tuple[str, ...]] = ()
    monitor_fields: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""

    type: str

    def keras_parameters(self) -> dict[str, object]:
        """Return the parameters for the Keras constructor, without cbrun's own."""
        excluded = {"type", *self.cbrun_additions}
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if name not in excluded
        }
