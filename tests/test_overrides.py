"""`--set KEY=VALUE`: dotted paths, indexes, callbacks by type, YAML scalars."""

from __future__ import annotations

import pytest

from cbrun.config.loading import load_config
from cbrun.errors import ConfigError
from tests.conftest import MINIMAL

WITH_CALLBACKS = MINIMAL + (
    "callbacks:\n"
    "  - {type: EarlyStopping, monitor: val_loss, patience: 1}\n"
    "  - {type: CSVLogger, filename: log.csv}\n"
)


def first_problem(path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, display="c.yaml")
    return info.value.problems[0].format()


def test_dotted_path_and_yaml_scalars(write_config):
    path = write_config(WITH_CALLBACKS)
    loaded = load_config(
        path,
        [
            "fit.epochs=7",
            "fit.shuffle=false",
            "seed=3",
            "callbacks.EarlyStopping.patience=5",
            "callbacks.1.separator=;",
            "compile.metrics=[accuracy]",
            "name=renamed",
        ],
    )
    config = loaded.experiment
    assert config.fit.epochs == 7
    assert config.fit.shuffle is False
    assert config.seed == 3
    assert config.callbacks[0].patience == 5  # type: ignore[union-attr]
    assert config.callbacks[1].separator == ";"  # type: ignore[union-attr]
    assert config.name == "renamed"
    assert loaded.overrides[0] == "fit.epochs=7"


def test_override_creates_a_missing_section(write_config):
    path = write_config(
        MINIMAL.replace("fit: {epochs: 2, validation_split: 0.2}\n", "")
    )
    assert load_config(path, ["fit.epochs=4"]).experiment.fit.epochs == 4


def test_later_override_wins(write_config):
    path = write_config(MINIMAL)
    loaded = load_config(path, ["fit.epochs=4", "fit.epochs=5"])
    assert loaded.experiment.fit.epochs == 5


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "fit.epochz=3",
            "c.yaml: --set fit.epochz=3: fit.epochz: unknown key; did you mean "
            "'epochs'?",
        ),
        (
            "fit.epochs=three",
            "c.yaml: --set fit.epochs=three: fit.epochs: expected an integer, got "
            "'three'",
        ),
        ("fit.epochs", "c.yaml: --set fit.epochs: expected KEY=VALUE"),
        ("=3", "c.yaml: --set =3: expected KEY=VALUE"),
        ("fit..epochs=3", "c.yaml: --set fit..epochs=3: 'fit..epochs' is not a dotted"),
        (
            "callbacks.5.patience=1",
            "c.yaml: --set callbacks.5.patience=1: callbacks has 2 items; index 5 is "
            "out of range",
        ),
        (
            "callbacks.ReduceLROnPlateau.patience=1",
            "c.yaml: --set callbacks.ReduceLROnPlateau.patience=1: no callback of "
            "type 'ReduceLROnPlateau' in this config (it has: EarlyStopping, "
            "CSVLogger)",
        ),
        (
            "seed.x=1",
            "c.yaml: --set seed.x=1: seed is 42, not a mapping; set it as a whole "
            "instead",
        ),
        (
            "callbacks.EarlyStopping.patiense=1",
            "c.yaml: --set callbacks.EarlyStopping.patiense=1: callbacks[0] "
            "(EarlyStopping).patiense: unknown parameter; did you mean 'patience'?",
        ),
    ],
)
def test_bad_overrides(write_config, override, expected):
    path = write_config(WITH_CALLBACKS.replace("data:", "seed: 42\ndata:"))
    assert first_problem(path, override).startswith(expected)


def test_two_callbacks_of_a_type_need_an_index(write_config):
    text = MINIMAL + (
        "callbacks:\n"
        "  - {type: EarlyStopping, monitor: val_loss}\n"
        "  - {type: EarlyStopping, monitor: loss}\n"
    )
    path = write_config(text)
    assert first_problem(path, "callbacks.EarlyStopping.patience=1") == (
        "c.yaml: --set callbacks.EarlyStopping.patience=1: 2 callbacks have type "
        "'EarlyStopping'; pick one by index, e.g. callbacks.0.patience"
    )
    loaded = load_config(path, ["callbacks.1.patience=1"])
    assert loaded.experiment.callbacks[1].patience == 1  # type: ignore[union-attr]
