"""Schema of the ``model`` section: layers (Sequential or a graph), a file, a builder.

``layers`` alone is a Sequential model. With ``inputs`` (the model's named
inputs), ``inputs:`` on a layer (the names it takes), ``outputs``, or
``call:`` on a layer, the layers form a functional graph (design section 9);
the graph's references are checked by :mod:`cbrun.config.graph_checks`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from cbrun.config.base import ImportPath, OpenModel, StrictModel, known_name
from cbrun.config.keras_names import APPLICATIONS, LAYERS
from cbrun.suggest import shown

NODE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$"
"""A model input's, layer's or output's name: also a Keras name and a log prefix."""

NodeName = Annotated[
    str,
    Field(
        pattern=NODE_NAME_PATTERN,
        description="A name: letters, digits, '_', '.', '-'; not starting "
        "with a digit.",
    ),
]


def _keras_input_name(value: str) -> str:
    """Keras 3 takes any input name without '/' (a CSV column 'age group' too)."""
    if "/" in value:
        raise ValueError(
            f"a model input's name cannot contain '/' (Keras refuses it), got "
            f"{shown(value)}; if it is a CSV column, rename the column"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError(
            f"a model input's name cannot hold control characters: {shown(value)}"
        )
    return value


InputName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description="An input's name: any text without '/' (a CSV column's name).",
    ),
    AfterValidator(_keras_input_name),
]
"""A model input's name, or a layer's reference to an input or a layer.

Wider than :data:`NodeName`: with ``inputs: columns`` each CSV column is an
input of its name, and Keras 3 takes any name without '/' (``age group``).
Layer and output names stay plain: they prefix the logged metrics.
"""
InputDtype = Literal[
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "bool",
    "string",
]


def _shape_kind(value: Any) -> str:
    """Tell a name, a list and a mapping apart, for one clear message each."""
    if isinstance(value, list):
        return "list"
    return "mapping" if isinstance(value, dict) else "name"


Names = Annotated[
    Annotated[InputName, Tag("name")]
    | Annotated[list[InputName], Field(min_length=1), Tag("list")],
    Discriminator(_shape_kind),
]
"""One name, or a non-empty list of names."""
Outputs = Annotated[
    Annotated[NodeName, Tag("name")]
    | Annotated[list[NodeName], Field(min_length=1), Tag("list")]
    | Annotated[dict[NodeName, NodeName], Field(min_length=1), Tag("mapping")],
    Discriminator(_shape_kind),
]
"""A layer name, a list of them, or ``{output_name: layer_name}``."""
IMPLICIT_INPUT = "input"
"""The name of a graph's one input when ``model.inputs`` is left out."""


class InputConfig(StrictModel):
    """One named input of a graph model (``keras.Input``).

    Example:
        ``{name: thal, shape: [1], dtype: string}``
    """

    name: InputName = Field(
        description="The input's name; data given as a dict is matched by it."
    )
    shape: list[Annotated[int, Field(gt=0)] | None] | None = Field(
        None,
        description="One sample's shape (null for a size that varies); "
        "default: the data's.",
    )
    dtype: InputDtype | None = Field(
        None, description="The input's dtype; default: the data's."
    )


class LayerConfig(OpenModel):
    """One layer: a ``keras.layers`` class, a Keras application or ``pkg.mod:Class``.

    Every other key is passed to the layer's constructor, except the graph's
    own keys ``inputs`` and ``call`` and ``trainable`` (set after it is built).

    Example:
        ``{type: Dense, units: 10, activation: softmax}``
    """

    type: Annotated[str, known_name("layer type", LAYERS, APPLICATIONS)] = Field(
        description="A keras.layers class name, a keras.applications name "
        "(MobileNetV2, ...), or pkg.mod:Class."
    )
    name: NodeName | None = Field(
        None, description="The layer's name: other layers and outputs use it."
    )
    inputs: Names | None = Field(
        None,
        description="Graph models: the input or layer (or a list of them) this "
        "layer takes; default: the layer above.",
    )
    call: dict[str, Any] | None = Field(
        None,
        description="Graph models: keyword arguments of the layer's call, "
        "e.g. {training: false}.",
    )
    trainable: bool | None = Field(
        None, description="false freezes the layer's weights."
    )
    adapt: bool = Field(
        False,
        description="Preprocessing layers: adapt on the training split before fit.",
    )

    def constructor_params(self) -> dict[str, Any]:
        """The keyword arguments of the layer's constructor."""
        params = dict(self.model_extra or {})
        if self.name is not None:
            params["name"] = self.name
        return params


class ModelConfig(StrictModel):
    """The model: exactly one of ``layers``, ``path`` or ``build``.

    Example:
        ``{layers: [{type: Flatten}, {type: Dense, units: 10}]}``
    """

    inputs: list[InputConfig] | None = Field(
        None,
        min_length=1,
        description="Graph models: the named inputs; default one input "
        "named `input` shaped as the data.",
    )
    layers: list[LayerConfig] | None = Field(
        None,
        min_length=1,
        description="The layers: a Sequential model, or a graph with inputs, "
        "names and outputs.",
    )
    outputs: Outputs | None = Field(
        None,
        description="Graph models: the output layer's name, a list, or "
        "{output_name: layer_name}; default the last layer.",
    )
    path: str | None = Field(
        None, min_length=1, description="A saved .keras model to train further."
    )
    build: ImportPath | None = Field(
        None, description="pkg.mod:function returning an uncompiled keras.Model."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for `build`; {path: file} is a file "
        "relative to the config's folder.",
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
        if self.layers is None and (self.inputs or self.outputs):
            raise ValueError("`inputs` and `outputs` describe a graph of `layers`")
        return self

    @property
    def is_graph(self) -> bool:
        """Whether ``layers`` form a functional graph rather than a Sequential."""
        if self.layers is None:
            return False
        return (
            self.inputs is not None
            or self.outputs is not None
            or any(
                layer.inputs is not None or layer.call is not None
                for layer in self.layers
            )
        )

    def input_names(self) -> list[str]:
        """The graph's input names (``input`` when ``inputs`` is left out)."""
        if self.inputs is None:
            return [IMPLICIT_INPUT]
        return [spec.name for spec in self.inputs]

    def output_layers(self) -> dict[str, str] | None:
        """Output name to the layer (or input) giving it, for a graph.

        A single output keeps its layer's name; a list names each output by
        its layer. ``None`` when the outputs cannot be known without Keras (a
        saved model or a builder) or the model is Sequential.
        """
        if not self.is_graph or self.layers is None:
            return None
        outputs = self.outputs
        if outputs is None:
            last = self.layers[-1].name or f"layer {len(self.layers) - 1}"
            return {last: last}
        if isinstance(outputs, str):
            return {outputs: outputs}
        if isinstance(outputs, list):
            return {name: name for name in outputs}
        return dict(outputs)

    def output_names(self) -> list[str] | None:
        """The names Keras logs per-output quantities under, when known.

        A Sequential model has one output; its name does not show in logs.
        """
        if self.layers is not None and not self.is_graph:
            return [self.layers[-1].name or "output"]
        layers = self.output_layers()
        return None if layers is None else list(layers)
