"""One trial's config: the base config with a sweep's parameters applied.

``cbrun sweep`` builds each trial's config with :func:`apply_params`, then
validates it like any config (``cbrun.config.loading.load_mapping``), so a
trial's ``config.yaml`` trains on its own with ``cbrun train``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from cbrun.config.overrides import set_value, split_key
from cbrun.config.yaml_loader import SourceMap


def override_text(key: str, value: Any) -> str:
    """Write one parameter as the ``--set KEY=VALUE`` that does the same.

    JSON scalars are YAML scalars, so the text parses back to ``value``.
    """
    return f"{key}={json.dumps(value, default=str)}"


def apply_params(
    data: Mapping[str, Any], params: Mapping[str, Any], *, file: str = "<sweep>"
) -> dict[str, Any]:
    """Return a copy of ``data`` with each parameter set and no ``sweep``.

    Each key is set as ``--set KEY=VALUE`` would set it (dotted keys, list
    indexes, ``callbacks.<Type>`` for the one callback of that type). The
    ``sweep`` section goes first, so no parameter can reach it.

    Args:
        data: The base config as loaded (plain YAML data; not modified).
        params: ``--set`` keys to their values, e.g. Optuna's ``trial.params``.
        file: The file named in error messages.

    Returns:
        The trial's config, to validate with ``load_mapping``.

    Raises:
        ConfigError: The same error as ``--set`` gives for a key that cannot
            be set (a bad index, no callback of that type, a path through a
            scalar), naming ``--set KEY=VALUE``.
    """
    result = copy.deepcopy(dict(data))
    result.pop("sweep", None)
    source = SourceMap(file)
    for key, value in params.items():
        text = override_text(key, value)
        set_value(result, split_key(key, source, text), value, source, text)
    return result
