"""The resolved config as MLflow params, and what a run record adds as tags.

MLflow refuses a whole batch for one bad param, so every key and value is
made to fit first: values cut to ``MAX_PARAM_VAL_LENGTH`` (6000 in MLflow 3),
keys longer than ``MAX_ENTITY_KEY_LENGTH`` (250) or with characters MLflow
refuses skipped, long lists summarized as ``[128 items]``. MLflow-free: the
limits are MLflow 3's, checked against ``mlflow.utils.validation`` by a test.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

MAX_PARAM_VALUE = 6000
MAX_KEY = 250
MAX_TAG_VALUE = 8000
LONG_LIST = 16
"""Lists longer than this become ``[N items]`` (a vocabulary, class weights)."""
# MLflow's own rule for param, metric and tag names (validation.py).
_GOOD_KEY = re.compile(r"^[/\w.\- :]*$")
TRIAL_PREFIX = "trial."


def flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted key, leaf)`` pairs: ``{"fit": {"epochs": 3}}`` -> ``fit.epochs``.

    Lists are walked by index (``callbacks.0.patience``) unless longer than
    :data:`LONG_LIST`, then kept whole to be summarized.
    """
    if isinstance(data, Mapping) and data:
        for key, value in data.items():
            yield from flatten(value, f"{prefix}{key}.")
    elif isinstance(data, list) and data and len(data) <= LONG_LIST:
        for index, value in enumerate(data):
            yield from flatten(value, f"{prefix}{index}.")
    else:
        yield prefix[:-1], data


def shown(value: Any) -> str:
    """A leaf as a param value: YAML-like scalars, ``[N items]``, cut to fit."""
    if isinstance(value, list) and len(value) > LONG_LIST:
        return f"[{len(value)} items]"
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=str)
    return cut(text, MAX_PARAM_VALUE)


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def good_key(key: str) -> bool:
    """Whether MLflow accepts ``key`` as a param, metric or tag name.

    Its rules: at most 250 characters of ``/\\w.- :``, and a name that stays
    itself as a file path (no ``a//b``, ``./a``, ``../a``, ``/a``).
    """
    if not 0 < len(key) <= MAX_KEY or not _GOOD_KEY.match(key):
        return False
    norm = posixpath.normpath(key)
    return norm == key and norm != "." and not norm.startswith(("..", "/"))


def config_params(resolved: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The resolved config's params, and the keys skipped (MLflow refuses them).

    Args:
        resolved: ``experiment.model_dump(mode="json")`` (config.yaml's data).
    """
    params: dict[str, str] = {}
    skipped: list[str] = []
    for key, value in flatten(dict(resolved)):
        if good_key(key):
            params[key] = shown(value)
        else:
            skipped.append(key)
    return params, skipped


def trial_params(params: Mapping[str, Any]) -> dict[str, str]:
    """A sweep trial's params, as ``trial.<--set key>`` params."""
    found = {f"{TRIAL_PREFIX}{k}": shown(v) for k, v in params.items()}
    return {k: v for k, v in found.items() if good_key(k)}


def metric_name(name: str) -> str | None:
    """A Keras log name as an MLflow metric name, None if MLflow refuses it."""
    return name if good_key(name) else None


def run_dir_id(run_dir: Path, started_at: str) -> str:
    """A stable id of a run dir: its last three path parts plus its start time.

    Moving the runs dir keeps it; two runs never share it (a run dir is never
    reused, and a trial's number is part of its path).
    """
    parts = "/".join(Path(run_dir).absolute().parts[-3:])
    return hashlib.sha256(f"{parts}|{started_at}".encode()).hexdigest()[:24]


def record_tags(record: Any, run_dir: Path) -> dict[str, str]:
    """Tags of a run record: status, stop reason, versions, the run-dir id.

    Args:
        record: A :class:`cbrun.runs.manifest.RunRecord`.
        run_dir: Its run dir.
    """
    tags = {
        "cbrun.status": record.status,
        "cbrun.run_dir": str(Path(run_dir).absolute()),
        "cbrun.run_dir_id": run_dir_id(run_dir, record.started_at),
        "cbrun.name": record.name,
    }
    if record.stop_reason:
        tags["cbrun.stop_reason"] = record.stop_reason
    if record.error:
        tags["cbrun.error"] = record.error
    for package, version in dict(record.versions).items():
        if version:
            tags[f"cbrun.version.{package}"] = str(version)
    return {k: cut(str(v), MAX_TAG_VALUE) for k, v in tags.items()}
