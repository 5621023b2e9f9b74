"""Importing Keras: the collector is paused during the first import only."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

from cbrun.keras_env import _frozen_after_import
from tests.conftest import REPO


@pytest.fixture
def unfrozen():
    """Leave the permanent generation empty after the test, as Python starts."""
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.enable()


def test_first_import_pauses_collection_and_freezes_what_it_made(unfrozen):
    with _frozen_after_import(enabled=True):
        paused = not gc.isenabled()
        made = [[index] for index in range(5_000)]
    assert paused
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)


def test_later_imports_leave_the_collector_alone(unfrozen):
    with _frozen_after_import(enabled=False):
        running = gc.isenabled()
        made = [[index] for index in range(5_000)]
    assert running
    assert gc.get_freeze_count() == 0
    assert len(made) == 5_000


def test_collector_is_enabled_again_when_the_import_fails(unfrozen):
    with pytest.raises(ImportError), _frozen_after_import(enabled=True):
        raise ImportError("no such backend")
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled(unfrozen):
    gc.disable()
    with _frozen_after_import(enabled=True):
        pass
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


PROBE = """
import gc, json
from cbrun.keras_env import import_keras
import_keras("tensorflow")
first = gc.get_freeze_count()
garbage = [[index] for index in range(5_000)]
import_keras("tensorflow")
print(json.dumps({"first": first, "second": gc.get_freeze_count(),
                  "enabled": gc.isenabled()}))
"""


@pytest.mark.slow
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
