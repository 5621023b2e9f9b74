"""cbrun: Keras training runs from one reviewable YAML file.

The library API mirrors the CLI (see :mod:`cbrun.api`)::

    import cbrun

    cbrun.validate("configs/").valid
    result = cbrun.train("configs/earlystop.yaml")
    best = cbrun.sweep("configs/sweep.yaml").record.best
    for run in cbrun.list_runs("runs"):
        print(run.name, run.status)

``import cbrun`` is cheap: the API, pydantic's schemas and Keras are imported
only when a function is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cbrun.api import (
        FileReport,
        Report,
        list_runs,
        load_config,
        resume,
        smoke,
        sweep,
        train,
        validate,
    )

__all__ = [
    "FileReport",
    "Report",
    "__version__",
    "list_runs",
    "load_config",
    "resume",
    "smoke",
    "sweep",
    "train",
    "validate",
]

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    """Import the API on first use (PEP 562), keeping ``import cbrun`` cheap."""
    if name in _API:
        return getattr(importlib.import_module("cbrun.api"), name)
    raise AttributeError(f"module 'cbrun' has no attribute {name!r}")
