"""Find every place where a config names code to import (``package.module:name``).

``--no-user-code`` (or ``CBRUN_NO_USER_CODE=1``) refuses such configs, for CI
jobs that run configs from pull requests they do not trust.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.experiment import ExperimentConfig
from cbrun.errors import ConfigPath

ENV_VAR = "CBRUN_NO_USER_CODE"


def user_code_refused(flag: bool) -> bool:
    """Whether user code is refused: by the flag or by the environment."""
    return flag or os.environ.get(ENV_VAR, "").lower() in ("1", "true", "yes")


def _named(value: Any) -> bool:
    return isinstance(value, str) and bool(IMPORT_PATH_RE.match(value))


def user_code_references(config: ExperimentConfig) -> Iterator[tuple[ConfigPath, str]]:
    """Yield ``(path, import path)`` for every piece of user code a config names."""
    if config.model.build is not None:
        yield ("model", "build"), config.model.build
    for index, layer in enumerate(config.model.layers or []):
        if _named(layer.type):
            yield ("model", "layers", index, "type"), layer.type
    compile_ = config.compile
    for field in ("optimizer", "loss"):
        value = getattr(compile_, field)
        kind = value if isinstance(value, str) else getattr(value, "type", None)
        if _named(kind):
            yield ("compile", field), str(kind)
    for field in ("metrics", "weighted_metrics"):
        for index, metric in enumerate(getattr(compile_, field) or []):
            kind = metric if isinstance(metric, str) else metric.type
            if _named(kind):
                yield ("compile", field, index), kind
    for index, callback in enumerate(config.callbacks):
        where: ConfigPath = ("callbacks", index)
        if _named(callback.type):
            yield (*where, "type"), callback.type
        for name, value in callback:
            if name != "type" and _named(value):
                yield (*where, name), value
            function = getattr(value, "function", None)
            if _named(function):
                yield (*where, name), str(function)
