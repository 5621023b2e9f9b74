"""What each Keras backend and distribution strategy can run, said before a run.

Keras 3 runs on TensorFlow, JAX and PyTorch, but not every callback or
strategy works on each; these checks say so at ``validate`` instead of failing
minutes into ``train``.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, cast

from cbrun.config.experiment import ExperimentConfig
from cbrun.config.problems import ProblemList
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import Problem

if TYPE_CHECKING:
    from cbrun.config.callbacks.tensorboard import TensorBoardSchema

# Which backend each strategy runs on (keras-team/keras issue 20585 rules out
# TensorFlow's multi-worker strategy).
STRATEGY_BACKENDS = {"mirrored": "tensorflow", "data_parallel": "jax"}
_PAIRS = "mirrored with backend tensorflow, data_parallel with backend jax"


def _installed(module: str) -> bool:
    # find_spec locates a package without importing it: no TensorFlow cost.
    return importlib.util.find_spec(module) is not None


def backend_checks(
    config: ExperimentConfig, data: Any, source: SourceMap
) -> list[Problem]:
    """Check the backend, the strategy and the callbacks against each other."""
    found = ProblemList(source, data)
    add = found.add

    backend = config.backend
    if config.distribute is not None:
        wanted = STRATEGY_BACKENDS[config.distribute.strategy]
        if wanted != backend:
            add(
                ("distribute", "strategy"),
                f"strategy {config.distribute.strategy} needs backend: {wanted}, "
                f"but the backend is {backend}; the pairs that work: {_PAIRS}",
            )
    for index, item in enumerate(config.callbacks):
        # By `type`: an isinstance test would import the TensorBoard schema.
        if item.type != "TensorBoard":
            continue
        callback = cast("TensorBoardSchema", item)
        where = ("callbacks", index)
        if backend != "tensorflow" and not _installed("tensorflow"):
            add(
                (*where, "type"),
                f"TensorBoard on the {backend} backend still writes through "
                "TensorFlow, which is not installed; pip install tensorflow-cpu",
            )
        if backend == "torch" and callback.profile_batch != 0:
            add(
                (*where, "profile_batch"),
                "TensorBoard profiling does not exist on the torch backend; set "
                "profile_batch: 0",
            )
    if config.deterministic and backend != "tensorflow":
        add(
            ("deterministic",),
            f"deterministic: true turns on TensorFlow op determinism, which the "
            f"{backend} backend does not use; seed still applies",
            severity="warning",
        )
    return found.problems
