"""The config's JSON Schema, for editors' YAML plugins and other validators."""

from __future__ import annotations

from typing import Any

from cbrun import __version__
from cbrun.config.experiment import ExperimentConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a cbrun config file."""
    schema = ExperimentConfig.model_json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "cbrun config",
        "description": f"A cbrun {__version__} training run: data, model, compile, "
        "fit and callbacks.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }
