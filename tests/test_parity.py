"""Each callback schema mirrors the installed Keras class's ``__init__``.

A Keras upgrade that adds, removes, reorders or re-defaults a parameter fails
here, naming the callback and the difference.
"""

from __future__ import annotations

import inspect

import pytest

from cbrun.config.base import default_of
from cbrun.config.callbacks import CALLBACK_SCHEMAS

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

KERAS_SCHEMAS = {
    name: schema for name, schema in CALLBACK_SCHEMAS.items() if schema.keras_class
}


def keras_signature(name: str) -> list[tuple[str, object]]:
    cls = getattr(keras.callbacks, name)
    params = inspect.signature(cls.__init__).parameters.values()
    return [
        (p.name, p.default)
        for p in params
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def schema_signature(name: str) -> list[tuple[str, object]]:
    schema = CALLBACK_SCHEMAS[name]
    fields = [
        f
        for f in schema.model_fields
        if f != "type" and f not in schema.cbrun_additions
    ]
    return [
        (
            f,
            inspect.Parameter.empty
            if default_of(schema, f) is ...
            else default_of(schema, f),
        )
        for f in fields
    ]


@pytest.mark.parametrize("name", sorted(KERAS_SCHEMAS))
def test_schema_matches_keras_signature(name):
    assert schema_signature(name) == keras_signature(name), (
        f"{name}: the schema in cbrun/config/callbacks/ no longer mirrors "
        f"keras.callbacks.{name}.__init__ of Keras {keras.__version__}"
    )


def test_every_tutorial_and_keras3_callback_has_a_schema():
    tutorial = {
        "History",
        "BaseLogger",
        "EarlyStopping",
        "LearningRateScheduler",
        "ReduceLROnPlateau",
        "ModelCheckpoint",
        "TensorBoard",
        "LambdaCallback",
        "ProgbarLogger",
        "TerminateOnNaN",
        "RemoteMonitor",
        "CSVLogger",
    }
    public = {
        name
        for name, obj in vars(keras.callbacks).items()
        if inspect.isclass(obj)
        and issubclass(obj, keras.callbacks.Callback)
        and name not in {"Callback", "CallbackList"}
    }
    assert tutorial | public <= set(CALLBACK_SCHEMAS)


def test_cbrun_additions_come_last():
    for name, schema in CALLBACK_SCHEMAS.items():
        fields = list(schema.model_fields)
        if schema.cbrun_additions:
            assert fields[-len(schema.cbrun_additions) :] == list(
                schema.cbrun_additions
            ), name


def test_removed_parameters_are_really_gone_from_keras():
    for name, schema in KERAS_SCHEMAS.items():
        current = {p for p, _ in keras_signature(name)}
        assert not current & set(schema.removed_parameters), name
