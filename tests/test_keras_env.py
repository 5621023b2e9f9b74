"""Importing Keras: the collector is paused during the first import only."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

from cbrun.keras.env import _frozen_after_import
from tests.conftest import REPO


@pytest.fixture
def unfrozen():
    """Start with nothing frozen; afterwards freeze again what was frozen.

    Keras's import-time objects, frozen by an earlier test's import, go back
    to the permanent generation so that later tests keep their speed.
    """
    was_frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    yield
    gc.enable()
    if was_frozen:
        gc.freeze()


def is_frozen(thing: object) -> bool:
    """Whether ``thing`` is in the permanent generation (the collector skips it)."""
    return not any(tracked is thing for tracked in gc.get_objects())


def test_first_import_pauses_collection_and_freezes_what_it_made(unfrozen):
    with _frozen_after_import(enabled=True):
        paused = not gc.isenabled()
        made = [[index] for index in range(5_000)]
    assert paused
    assert gc.isenabled()
    assert is_frozen(made[0])
    assert is_frozen(made[-1])


def test_later_imports_leave_the_collector_alone(unfrozen):
    with _frozen_after_import(enabled=False):
        running = gc.isenabled()
        made = [[index] for index in range(5_000)]
    assert running
    assert gc.get_freeze_count() == 0
    assert not is_frozen(made[0])


def test_garbage_from_before_the_import_is_collected_not_frozen(unfrozen):
    collected = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            collected.append(True)

    Cycle()  # Unreachable at once, but a cycle: only the collector frees it.
    with _frozen_after_import(enabled=True):
        pass
    assert collected == [True]


def test_a_failed_import_freezes_nothing_and_enables_the_collector(unfrozen):
    with pytest.raises(ImportError), _frozen_after_import(enabled=True):
        made = [[index] for index in range(5_000)]
        raise ImportError("no such backend")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert not is_frozen(made[0])


def test_a_disabled_collector_stays_disabled(unfrozen):
    gc.disable()
    with _frozen_after_import(enabled=True):
        pass
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


PROBE = """
import gc, json
from cbrun.keras.env import import_keras
import_keras("tensorflow")
first = gc.get_freeze_count()
garbage = [[index] for index in range(5_000)]
import_keras("tensorflow")
print(json.dumps({"first": first, "second": gc.get_freeze_count(),
                  "enabled": gc.isenabled()}))
"""


@pytest.mark.slow
@pytest.mark.keras
def test_real_import_freezes_keras_once():
    """In a fresh process: TensorFlow's objects frozen, a second call adds none."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["first"] > 100_000
    assert report["second"] == report["first"]
    assert report["enabled"]
