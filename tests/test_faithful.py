"""By default cbrun trains exactly as the same hand-written Keras script.

``configs/earlystop.yaml`` through cbrun's default feed against
``bench/handwritten.py digits``, the same run written in plain Keras (a
separate process, as a user would run it): the same epochs, the same history
to 1e-6 and the same test metrics.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.keras]


@pytest.fixture(scope="module")
def hand_written(tmp_path_factory) -> tuple[dict, dict]:
    out = tmp_path_factory.mktemp("handwritten")
    script = ROOT / "bench" / "handwritten.py"
    subprocess.run(
        [sys.executable, str(script), "digits", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    history = json.loads((out / "history.json").read_text())
    test_metrics = json.loads((out / "test_metrics.json").read_text())
    return history, test_metrics


def test_earlystop_example_trains_as_the_hand_written_script(hand_written, tmp_path):
    import cbrun

    history, test_metrics = hand_written
    result = cbrun.train(ROOT / "configs" / "earlystop.yaml", runs_dir=tmp_path)
    assert result.config.data.feed == "numpy"  # the default, not overridden
    assert len(result.history["loss"]) == len(history["loss"]) < 500
    assert set(result.history) == set(history)
    for key, values in history.items():
        np.testing.assert_allclose(result.history[key], values, rtol=1e-6, atol=1e-6)
    assert result.record.test_metrics is not None
    assert result.record.test_metrics.keys() == test_metrics.keys()
    for key, value in test_metrics.items():
        assert result.record.test_metrics[key] == pytest.approx(value, abs=1e-6)
