"""`cbrun schema` output, checked with a third-party JSON Schema validator."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.config.json_schema import config_json_schema
from tests.conftest import CONFIGS, MINIMAL


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = config_json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(validator, document) -> list[str]:
    return [e.message for e in validator.iter_errors(document)]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_accepted(validator, path):
    assert errors(validator, yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.update(unknown=1), "unknown top-level key"),
        (lambda d: d["fit"].update(epochz=2), "unknown fit key"),
        (lambda d: d.update(callbacks=[{"type": "EarlyStoping"}]), "callback type"),
        (
            lambda d: d.update(callbacks=[{"type": "EarlyStopping", "patiense": 1}]),
            "unknown callback parameter",
        ),
        (
            lambda d: d.update(
                callbacks=[{"type": "ReduceLROnPlateau", "factor": 1.5}]
            ),
            "factor out of range",
        ),
        (
            lambda d: d.update(callbacks=[{"type": "EarlyStopping", "patience": -1}]),
            "negative patience",
        ),
        (lambda d: d["fit"].update(validation_split=1.2), "validation_split"),
        (lambda d: d["data"].update(source="sklern"), "data source"),
        (
            lambda d: d.update(callbacks=[{"type": "ModelCheckpoint"}]),
            "missing filepath",
        ),
    ],
)
def test_invalid_documents_are_rejected(validator, change, why):
    document = yaml.safe_load(MINIMAL)
    assert errors(validator, document) == []
    change(document)
    assert errors(validator, document), why


def test_user_callback_by_import_path_is_accepted(validator):
    document = yaml.safe_load(MINIMAL)
    document["callbacks"] = [{"type": "my_pkg.callbacks:Stop", "target": 0.9}]
    assert errors(validator, document) == []


def test_schema_command_writes_the_same_schema(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == config_json_schema()
    out = tmp_path / "cbrun.schema.json"
    result = runner.invoke(cli, ["schema", "-o", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text()) == config_json_schema()
    assert result.stderr == f"wrote {out}\n"


def test_committed_schema_file_is_current():
    from tests.conftest import REPO

    committed = json.loads((REPO / "cbrun.schema.json").read_text())
    assert committed == config_json_schema(), (
        "cbrun.schema.json is stale: run `cbrun schema -o cbrun.schema.json`"
    )
