"""Schema of the ``model`` section: layers, a saved model, or a builder."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from cbrun.config.base import ImportPath, OpenModel, StrictModel, known_name
from cbrun.config.keras_names import LAYERS
from cbrun.suggest import shown


class LayerConfig(OpenModel):
    """One layer: ``type`` is a ``keras.layers`` class (or ``pkg.mod:Class``).

    Every other key is passed to the layer's constructor.

    Example:
        ``{type: Dense, units: 10, activation: softmax}``
    """

    type: Annotated[str, known_name("layer type", LAYERS)] = Field(
        description="A keras.layers class name, or pkg.mod:Class."
    )
    adapt: bool = Field(
        False,
        description="Preprocessing layers: adapt on the training split before fit.",
    )


class ModelConfig(StrictModel):
    """The model: exactly one of ``layers``, ``path`` or ``build``.

    Example:
        ``{layers: [{type: Flatten}, {type: Dense, units: 10}]}``
    """

    layers: list[LayerConfig] | None = Field(
        None,
        min_length=1,
        description="A Sequential model; the input shape comes from the data.",
    )
    path: str | None = Field(
        None, min_length=1, description="A saved .keras model to train further."
    )
    build: ImportPath | None = Field(
        None, description="pkg.mod:function returning an uncompiled keras.Model."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for `build`."
    )

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ModelConfig:
        given = [k for k in ("layers", "path", "build") if getattr(self, k) is not None]
        if len(given) != 1:
            got = ", ".join(given) if given else "none of them"
            raise ValueError(
                f"give exactly one of `layers`, `path` or `build` (got {got})"
            )
        if self.params and self.build is None:
            raise ValueError("`params` is for `build` only")
        if self.path is not None and not self.path.endswith(".keras"):
            raise ValueError(f"`path` must be a .keras file, got {shown(self.path)}")
        return self
