"""TensorFlow-free checks of a graph model and of compile's mappings by output.

A graph (``model.inputs``, ``inputs:`` on layers, ``outputs``) is checked
the way Keras would only find out while building it, or never: every name a
layer or output refers to exists above its use, names are unique, there is
no cycle, every input is used and every layer leads to an output. The
``loss``, ``metrics`` and ``loss_weights`` mappings must name the model's
outputs (design section 9). Each problem is at the config line it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cbrun.config.experiment import ExperimentConfig
from cbrun.config.function_checks import function_value_problems
from cbrun.config.model import IMPLICIT_INPUT, ModelConfig
from cbrun.config.problems import ProblemList, function_in_compile
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem
from cbrun.suggest import did_you_mean, shown


@dataclass
class _Node:
    """An input or a layer of the graph.

    Attributes:
        key: The name, or ``#i`` for an unnamed layer i.
        where: Its place in the config (the ``name``, or the layer).
        order: Inputs come first (negative), then layers by index.
        takes: The nodes it takes, with the place each reference is written.
    """

    key: str
    where: ConfigPath
    order: int
    takes: list[tuple[str, ConfigPath]] = field(default_factory=list)


class _GraphChecker(ProblemList):
    """Collects the problems of one config's graph and mappings."""

    def __init__(self, config: ExperimentConfig, data: Any, source: SourceMap):
        super().__init__(source, data)
        self.model: ModelConfig = config.model
        self.config = config

    def line_of(self, path: ConfigPath) -> int:
        return self.source.locate(path).line

    # The graph.

    def nodes(self) -> dict[str, _Node]:
        """Every input and layer by name, reporting names used twice."""
        nodes: dict[str, _Node] = {}
        declared = self.model.inputs or []
        for index, spec in enumerate(declared):
            self._declare(
                nodes, _Node(spec.name, ("model", "inputs", index, "name"), -1)
            )
        if not declared:
            nodes[IMPLICIT_INPUT] = _Node(IMPLICIT_INPUT, ("model",), -1)
        for index, layer in enumerate(self.model.layers or []):
            where: ConfigPath = ("model", "layers", index)
            key = layer.name or f"#{index}"
            self._declare(
                nodes, _Node(key, (*where, "name") if layer.name else where, index)
            )
        return nodes

    def _declare(self, nodes: dict[str, _Node], node: _Node) -> None:
        first = nodes.get(node.key)
        if first is None:
            nodes[node.key] = node
            return
        if first.where == ("model",):
            self.add(
                node.where,
                f"the name {shown(node.key)} is the model's input when "
                "model.inputs is left out; name this layer otherwise",
            )
            return
        self.add(
            node.where,
            f"the name {shown(node.key)} is already used at line "
            f"{self.line_of(first.where)}; names in model.inputs and model.layers "
            "must be unique",
        )

    def link(self, nodes: dict[str, _Node]) -> bool:
        """Fill each layer's ``takes``; report unknown and misplaced names.

        Returns:
            Whether every reference names a known node.
        """
        ok = True
        names = [k for k in nodes if not k.startswith("#")]
        inputs = self.model.input_names()
        layers = self.model.layers or []
        for index, layer in enumerate(layers):
            where: ConfigPath = ("model", "layers", index)
            node = nodes.get(layer.name or f"#{index}")
            if node is None or node.order != index:
                continue  # A duplicate name, reported already.
            if layer.inputs is None:
                if index == 0 and len(inputs) > 1:
                    self.add(
                        where,
                        f"the first layer takes the model's input, but there are "
                        f"{len(inputs)} ({', '.join(inputs)}); name the ones it "
                        "takes with `inputs:`",
                    )
                    ok = False
                    continue
                above = inputs[0] if index == 0 else layers[index - 1].name
                node.takes.append((above or f"#{index - 1}", where))
                continue
            refs = [layer.inputs] if isinstance(layer.inputs, str) else layer.inputs
            for position, ref in enumerate(refs):
                place: ConfigPath = (*where, "inputs")
                if isinstance(layer.inputs, list):
                    place = (*place, position)
                if ref not in nodes:
                    self.add(
                        place,
                        f"unknown input or layer {shown(ref)}; known names: "
                        f"{', '.join(names)}{did_you_mean(ref, names)}",
                    )
                    ok = False
                    continue
                node.takes.append((ref, place))
        return ok

    def check_order(self, nodes: dict[str, _Node]) -> bool:
        """Report cycles, then references to layers defined further down."""
        ok = True
        cycle = _find_cycle(nodes)
        if cycle:
            first = nodes[cycle[0]]
            place = next(p for ref, p in first.takes if ref == cycle[1])
            self.add(
                place,
                f"a cycle: {' -> '.join(cycle)}; a layer cannot take its own "
                "output, directly or through others",
            )
            ok = False
        in_cycle = set(cycle)
        for node in sorted(nodes.values(), key=lambda n: n.order):
            for ref, place in node.takes:
                later = nodes[ref]
                if later.order < node.order or node.key in in_cycle:
                    continue
                self.add(
                    place,
                    f"{shown(ref)} is defined later, at line "
                    f"{self.line_of(later.where)}; a layer takes inputs or layers "
                    "above it: move this layer below it",
                )
                ok = False
        return ok

    def check_outputs(self, nodes: dict[str, _Node]) -> set[str]:
        """Report outputs that name nothing; return the nodes that are outputs."""
        outputs = self.model.output_layers() or {}
        found: set[str] = set()
        names = [k for k in nodes if not k.startswith("#")]
        written = self.model.outputs
        for position, (out, layer) in enumerate(outputs.items()):
            if written is None:
                found.add(f"#{len(self.model.layers or []) - 1}")
                found.add(layer)
                continue
            place: ConfigPath = ("model", "outputs")
            if isinstance(written, list):
                place = (*place, position)
            elif isinstance(written, dict):
                place = (*place, out)
            if layer not in nodes:
                self.add(
                    place,
                    f"output {shown(layer)} is not an input or layer of the model; "
                    f"known names: {', '.join(names)}{did_you_mean(layer, names)}",
                )
                continue
            found.add(layer)
        if isinstance(written, list):
            for name in {n for n in written if written.count(n) > 1}:
                self.add(("model", "outputs"), f"output {shown(name)} is listed twice")
        return found

    def check_reachable(self, nodes: dict[str, _Node], outputs: set[str]) -> None:
        """Every input is used, and every layer leads to an output."""
        used_by: dict[str, list[str]] = {key: [] for key in nodes}
        for node in nodes.values():
            for ref, _ in node.takes:
                used_by[ref].append(node.key)
        reaches: set[str] = set()
        stack = [key for key in outputs if key in nodes]
        while stack:
            key = stack.pop()
            if key in reaches:
                continue
            reaches.add(key)
            stack.extend(ref for ref, _ in nodes[key].takes)
        for node in sorted(nodes.values(), key=lambda n: n.order):
            if node.key in reaches:
                continue
            label = _label(node)
            if node.order < 0:
                self.add(
                    node.where,
                    f"input {shown(node.key)} is not used by any layer; name it in "
                    "a layer's `inputs:`, or remove it",
                )
            elif not used_by[node.key]:
                self.add(
                    node.where,
                    f"{label} is left dangling: no layer takes its output and it is "
                    "not in model.outputs; use it, list it in outputs, or remove it",
                )
            else:
                self.add(
                    node.where,
                    f"{label} does not lead to any output: it is taken only by "
                    f"{', '.join(_shown_key(k) for k in used_by[node.key])}, "
                    "which lead to none",
                )

    def check_graph(self) -> None:
        if not self.model.is_graph:
            return
        nodes = self.nodes()
        linked = self.link(nodes)
        ordered = self.check_order(nodes)
        outputs = self.check_outputs(nodes)
        if linked and ordered and not self.problems:
            self.check_reachable(nodes, outputs)

    # compile's mappings by output.

    def check_mappings(self) -> None:
        spec = self.config.compile
        outputs = self.model.output_names()
        graph = self.model.is_graph
        if self.model.layers is not None and not graph:
            last = self.model.layers[-1].name
            outputs = [last] if last else []
        mappings: list[tuple[str, Any]] = [
            ("loss", spec.loss),
            ("metrics", spec.metrics),
            ("weighted_metrics", spec.weighted_metrics),
            ("loss_weights", spec.loss_weights),
        ]
        for field_name, value in mappings:
            if isinstance(value, dict) and outputs is not None:
                self._check_keys(field_name, value, outputs)
        for index, stage in enumerate(self.config.stages or []):
            # A stage's compile is built only when the stage begins: a wrong
            # key failed after the stages before it had trained.
            given = stage.compile_overrides()
            for field_name in ("loss", "loss_weights"):
                value = given.get(field_name)
                if isinstance(value, dict) and outputs is not None:
                    self._check_keys(
                        field_name, value, outputs, ("stages", index, "compile")
                    )
        if outputs is None or len(outputs) < 2:
            return
        if self.config.fit.class_weight is not None:
            # Keras's fit refuses it, after the run dir is made.
            self.add(
                ("fit", "class_weight"),
                "Keras takes class_weight for a model of one output; this one "
                f"has {len(outputs)} ({', '.join(outputs)}): remove it "
                "(compile.loss_weights weighs whole outputs, if that is the need)",
            )
        for field_name in ("metrics", "weighted_metrics"):
            value = getattr(spec, field_name)
            if isinstance(value, list) and value:
                example = f"{{{outputs[0]}: [{_metric_text(value[0])}]}}"
                self.add(
                    ("compile", field_name),
                    f"the model has {len(outputs)} outputs ({', '.join(outputs)}): "
                    f"give {field_name} by output name, e.g. {field_name}: {example}",
                )
        if isinstance(spec.loss_weights, list) and len(spec.loss_weights) != len(
            outputs
        ):
            self.add(
                ("compile", "loss_weights"),
                f"{len(spec.loss_weights)} loss weights for {len(outputs)} outputs "
                f"({', '.join(outputs)}); give one per output, or a mapping by name",
            )
        if isinstance(spec.loss, dict):
            missing = [out for out in outputs if out not in spec.loss]
            for out in missing:
                self.add(
                    ("compile", "loss"),
                    f"output {shown(out)} has no loss: it will not be trained "
                    "(Keras warns that its gradients do not exist)",
                    severity="warning",
                )

    def _check_keys(
        self,
        field_name: str,
        value: dict[str, Any],
        outputs: list[str],
        section: ConfigPath = ("compile",),
    ) -> None:
        candidates = [*outputs, "type"] if field_name == "loss" else outputs
        for key in value:
            if key in outputs:
                continue
            if key == "function" and field_name != "loss_weights":
                # {function: ...} read as a mapping by output name.
                self.add((*section, field_name), function_in_compile(value))
                continue
            if outputs:
                known = f"the model's outputs are {', '.join(outputs)}"
            else:
                known = (
                    "a Sequential model's one output is named by its last layer: "
                    "give that layer a `name`, or write compile."
                    f"{field_name} without the mapping"
                )
            self.add(
                (*section, field_name, key),
                f"{shown(key)} is not an output of the model; {known}"
                f"{did_you_mean(key, candidates)}",
            )


def _find_cycle(nodes: dict[str, _Node]) -> list[str]:
    """The first cycle among the references, as ``[a, b, ..., a]``, or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(key: str, path: list[str]) -> list[str]:
        state[key] = 1
        path.append(key)
        for ref, _ in nodes[key].takes:
            if state.get(ref) == 1:
                return [*path[path.index(ref) :], ref]
            if ref not in state:
                found = visit(ref, path)
                if found:
                    return found
        path.pop()
        state[key] = 2
        return []

    for key in sorted(nodes, key=lambda k: nodes[k].order):
        if key not in state:
            found = visit(key, [])
            if found:
                return found
    return []


def _label(node: _Node) -> str:
    if node.key.startswith("#"):
        return f"layer {node.key[1:]} (unnamed)"
    return f"layer {shown(node.key)}"


def _shown_key(key: str) -> str:
    return f"layer {key[1:]}" if key.startswith("#") else shown(key)


def _metric_text(metric: Any) -> str:
    return metric if isinstance(metric, str) else "{type: ...}"


def graph_checks(
    config: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """Check a graph model's references and compile's mappings by output.

    Args:
        config: The validated config.
        data: The data it was validated from (for positions).
        source: Where each value came from.

    Returns:
        Errors and warnings, in file order.
    """
    checker = _GraphChecker(config, data, source)
    checker.check_graph()
    checker.check_mappings()
    checker.problems += function_value_problems(config, data, source)
    return sorted(checker.problems, key=lambda p: (p.line, p.column))
