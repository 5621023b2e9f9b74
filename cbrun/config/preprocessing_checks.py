"""Checks of preprocessing layers and ``adapt: true``, without TensorFlow.

A preprocessing layer holds state computed from data: a ``Normalization``'s
mean and variance, a lookup's vocabulary, a ``Discretization``'s bin
boundaries. It gets that state from its constructor (``mean``/``variance``,
``vocabulary``, ``bin_boundaries``) or from ``adapt: true``, which cbrun runs
on the training split before ``fit`` (design section 9). Keras trains an
un-adapted ``Normalization`` silently as an identity layer (mean 0, variance
1): the issue met a loss of 26545 and no warning. These checks say so at
``cbrun validate``.
"""

from __future__ import annotations

from typing import Any

from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.problems import make_problem
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem

ADAPTED_STATE: dict[str, tuple[str, ...]] = {
    "Discretization": ("bin_boundaries",),
    "IntegerLookup": ("vocabulary",),
    "Normalization": ("mean", "variance"),
    "StringLookup": ("vocabulary",),
    "TextVectorization": ("vocabulary",),
}
"""The ``keras.layers`` classes with an ``adapt`` method (tests check the list
against the installed Keras), and the constructor keys that give the same
state by hand."""

ADAPTABLE = ", ".join(sorted(ADAPTED_STATE))


def preprocessing_checks(
    config: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """Check ``adapt`` and the state of every preprocessing layer in ``model.layers``.

    Args:
        config: The validated config.
        data: The plain config it was validated from (for positions).
        source: Where each value came from.

    Returns:
        Errors: ``adapt: true`` on a layer that cannot adapt, ``adapt`` beside
        the state it would compute, a ``Normalization`` with no state at all.
        Warnings: a lookup or ``Discretization`` with no state.
    """
    layers = config.model.layers or []
    problems: list[Problem] = []
    for index, layer in enumerate(layers):
        where: ConfigPath = ("model", "layers", index)
        adapt = bool(getattr(layer, "adapt", False))
        message, at, severity = _layer_problem(layer.type, adapt, layer)
        if message:
            problems.append(
                make_problem(source, data, (*where, *at), message, severity=severity)
            )
    return problems


def _layer_problem(
    kind: str, adapt: bool, layer: Any
) -> tuple[str, tuple[str, ...], str]:
    """What is wrong with one layer's state: (message, key, severity), or ''."""
    extra = dict(layer.model_extra or {})
    extra.pop("adapt", None)
    if IMPORT_PATH_RE.match(kind):
        return "", (), "error"  # user code: checked when built (validate --deep)
    state = ADAPTED_STATE.get(kind)
    if state is None:
        if adapt:
            return (
                f"{kind} cannot adapt (it has no adapt method); adapt: true is "
                f"for {ADAPTABLE}: remove adapt from this layer",
                ("adapt",),
                "error",
            )
        return "", (), "error"
    given = [key for key in state if extra.get(key) is not None]
    if adapt and given:
        keys = " and ".join(given)
        return (
            f"adapt: true computes {' and '.join(state)} from the training split, "
            f"and {keys} {'is' if len(given) == 1 else 'are'} given too; keep one: "
            f"remove adapt, or remove {keys}",
            ("adapt",),
            "error",
        )
    if adapt or given:
        return "", (), "error"
    if kind == "Normalization":
        return (
            "this Normalization has neither adapt: true nor mean and variance, so "
            "Keras leaves it an identity layer (mean 0, variance 1) and trains "
            "without a warning; add adapt: true to compute them from the "
            "training split, or give mean: and variance:",
            ("type",),
            "error",
        )
    return (
        f"this {kind} has neither adapt: true nor {' and '.join(state)}, so it "
        "starts empty; add adapt: true to compute it from the training split, "
        f"or give {state[0]}:",
        ("type",),
        "warning",
    )
