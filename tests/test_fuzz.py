"""Bounded fuzzing of the config stage: accept, or explain with positions.

The strategies and properties live in ``scripts/fuzz.py`` (its docstring lists
them); these tests run a few hundred inputs in seconds. The long run is
``.venv/bin/python scripts/fuzz.py --seconds 300``. The regression cases at the
end are inputs the fuzzing found that once crashed, hung or flooded the output.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from cbrun.config.expressions import ExpressionError, parse_schedule
from cbrun.config.loading import load_config
from cbrun.config.yaml_loader import MAX_FILE_BYTES
from cbrun.errors import ConfigError
from tests.hang_guard import fails_after

REPO = Path(__file__).resolve().parent.parent


def _load_fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cbrun_fuzz", REPO / "scripts" / "fuzz.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()
# Only a hang fails here; how fast inputs are is the long run's report.
fuzz.TIME_LIMITS = False

FUZZ_SETTINGS = settings(
    deadline=None,  # the harness cuts off a hang after HANG_SECONDS
    phases=fuzz.PHASES,  # no tracing "explain" phase: it would skew the times
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> Iterator[None]:
    """Build the schemas once before the inputs; print the tally after (``-s``)."""
    fuzz.warm_up()
    yield
    print(f"\n{fuzz.STATS.summary()}")


def _run(target: str, value: Any) -> None:
    fuzz.TARGETS[target].run(value)


@settings(FUZZ_SETTINGS, max_examples=100)
@given(fuzz.TARGETS["mutated_config"].strategy)
def test_mutated_configs_are_accepted_or_explained(value: Any) -> None:
    _run("mutated_config", value)


@settings(FUZZ_SETTINGS, max_examples=150)
@given(fuzz.TARGETS["random_text"].strategy)
def test_random_text_is_explained(value: Any) -> None:
    _run("random_text", value)


@settings(FUZZ_SETTINGS, max_examples=60)
@given(fuzz.TARGETS["random_bytes"].strategy)
def test_random_bytes_are_explained(value: Any) -> None:
    _run("random_bytes", value)


@settings(FUZZ_SETTINGS, max_examples=120)
@given(fuzz.TARGETS["overrides"].strategy)
def test_random_overrides_are_applied_or_explained(value: Any) -> None:
    _run("overrides", value)


@settings(FUZZ_SETTINGS, max_examples=300)
@given(fuzz.TARGETS["schedule"].strategy)
def test_schedules_parse_and_run_or_fail_fast(value: Any) -> None:
    _run("schedule", value)


@settings(FUZZ_SETTINGS, max_examples=30)
@given(fuzz.TARGETS["cli"].strategy)
def test_cli_validate_exits_0_or_1_with_bounded_output(value: Any) -> None:
    _run("cli", value)


# --------------------------------------------------------------------------- #
# What the fuzzing found, kept as plain regression tests
# --------------------------------------------------------------------------- #

_BASE = (REPO / "configs" / "earlystop.yaml").read_text(encoding="utf-8")
_HUGE_HEX = "0x" + "f" * 5000


def _problems(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    fuzz.check_config_text(text, overrides)  # every property, not only no crash
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, display="config.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # PyYAML's reader raised ReaderError before any try block.
        ("a: 1\n\x18b: 2\n", "config.yaml:2:1: character 0x0018 is not allowed"),
        # int() refuses more than 4300 digits with a ValueError.
        ("seed: " + "1" * 5000 + "\n", "config.yaml:1:7: cannot read '1111"),
        # Hex bypasses that limit, then every message and pydantic failed.
        (_BASE.replace("patience: 3", "patience: " + _HUGE_HEX), "more than 1000"),
        (_BASE.replace("source: sklearn", "source: " + _HUGE_HEX), "more than 1000"),
        # PyYAML's constructors raised ValueError, KeyError, AttributeError.
        ("a: 2001-13-45\n", "config.yaml:1:4: cannot read '2001-13-45' as a date"),
        ("a: !!bool maybe\n", "cannot read 'maybe' as true or false"),
        ("a: !!timestamp nope\n", "cannot read 'nope' as a date"),
        ("a: !!float abc\n", "cannot read 'abc' as a number"),
        # A key that is not a string was reported at its value, showing it.
        (_BASE + "1: x\n", "config.yaml:34:1: [1]: a key must be a name, got 1"),
        (_BASE + "null: x\n", "config.yaml:34:1: None: a key must be a name"),
        # A metric object without `type` was told to name a callback.
        (
            _BASE.replace("metrics: [accuracy]", "metrics: [{name: x}]"),
            "missing `type`: the class name",
        ),
    ],
)
def test_values_pyyaml_cannot_construct_are_explained(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in _problems(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        "? " + "k" * 100_000 + "\n: 1\n? " + "k" * 100_000 + "\n: 2\n",  # duplicate
        _BASE + "? " + "k" * 100_000 + "\n: 1\n",  # unknown key
        _BASE.replace("optimizer: adam", "optimizer: " + "a" * 100_000),
        _BASE.replace("type: EarlyStopping", "type: " + "E" * 100_000),
        _BASE.replace("monitor: val_accuracy", "monitor: " + "v" * 100_000),
        _BASE.replace("{type: Flatten}", "{type: " + "F" * 100_000 + "}"),
        _BASE.replace("  layers:", "  path: " + "p" * 100_000 + "\n  layers:"),
        "a: *" + "a" * 100_000 + "\n",  # undefined alias
        "a: !" + "t" * 100_000 + " 1\n",  # unknown tag
        _BASE.replace(
            "    patience: 3",
            "    patience: 3\n  - {type: ModelCheckpoint, filepath: '"
            + "a" * 100_000
            + "'}",
        ),
    ],
)
def test_long_values_are_cut_short_in_messages(tmp_path: Path, text: str) -> None:
    message = _problems(tmp_path, text)
    assert len(message) < 1_000, message[:300]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # utf-8-sig counts error offsets after the BOM: the byte shown was
        # the wrong one, its column off by three.
        (b"\xef\xbb\xbfab\xff\n", "config.yaml:1:3: byte 0xff is not valid UTF-8"),
        # Columns count characters, not bytes.
        (b"x: \xc3\xa9\xc3\xa9\xff\n", "config.yaml:1:6: byte 0xff is not valid"),
    ],
)
def test_bytes_that_are_not_utf8_are_shown_where_they_are(
    tmp_path: Path, raw: bytes, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    fuzz.check_config_bytes(raw)
    with pytest.raises(ConfigError) as info:
        load_config(path, display="config.yaml")
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize(
    "item",
    ["{type: EarlyStopping, patiense: 1}", "{type: EarlyStopping, monitor: vall_loss}"],
)
def test_a_mistake_repeated_a_thousand_times_is_listed_fifty_times(
    tmp_path: Path, item: str
) -> None:
    message = _problems(tmp_path, _BASE + f"  - {item}\n" * 1_000)
    assert "950 more problems not shown; fix the first 50 and run again" in message
    assert len(message.splitlines()) == 51
    assert len(message) < fuzz.MAX_OUTPUT_CHARS


@pytest.mark.parametrize(
    "spec", ["{epoch:9999999999d}", "{val_loss:,.2000000000f}", "{epoch:1000000000d}"]
)
def test_checkpoint_format_widths_are_refused_not_built(
    tmp_path: Path, spec: str
) -> None:
    text = _BASE.replace(
        "    patience: 3",
        f"    patience: 3\n  - {{type: ModelCheckpoint, filepath: 'a{spec}.keras'}}",
    )
    with fails_after():
        message = _problems(tmp_path, text)
    assert "a width or precision above 999" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("callbacks.\u00b2.patience=1", "no callback of type '²'"),
        ("model.layers.\u00b2.units=1", "'²' is not an index into a list"),
        ("callbacks." + "9" * 5000 + ".patience=1", "is out of range"),
        ("fit.epochs=" + "x" * 100_000, "--set fit.epochs=xxxx"),
        ("name.x=1", "is 'earlystop', not a mapping"),
        ("seed=" + _HUGE_HEX, "more than 1000 digits"),
        ("fit.epochs=\x07", "character 0x0007 is not allowed"),
    ],
)
def test_odd_overrides_are_explained(
    tmp_path: Path, override: str, expected: str
) -> None:
    message = _problems(tmp_path, _BASE, (override,))
    assert expected in message
    assert len(message) < 1_000, message[:300]


@pytest.mark.parametrize(
    "text",
    [
        "x: [" + "1, " * 200_000 + "1]\n",  # composed every node before counting
        "".join(f"k{i}: {i}\n" for i in range(60_000)),
        "x: " + "a " * (MAX_FILE_BYTES // 2 - 10) + "\n",  # slow, under the limit
        "x: 1\n" + "#" * (MAX_FILE_BYTES + 1) + "\n",  # over the size limit
    ],
)
def test_big_documents_answer_within_the_time_limit(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with fails_after(), pytest.raises(ConfigError):
        load_config(path)


@pytest.mark.parametrize(
    "text", ["10**10**10", "9**9**9**9", "(" * 300 + "lr" + ")" * 300, "-" * 999 + "1"]
)
def test_hostile_schedules_fail_fast(text: str) -> None:
    with fails_after():
        try:
            schedule = parse_schedule(text)
            schedule(1, 0.1)
        except ExpressionError as exc:
            assert exc.message
