"""``data.feed``: which input path ``fit`` gets, and why (no TensorFlow needed)."""

from __future__ import annotations

import numpy as np
import pytest

from cbrun.keras.feeding import AUTO_MAX_BYTES, choose_feed

SMALL_X = np.zeros((1000, 64), dtype=np.float32)
LABELS = np.zeros(1000, dtype=np.int64)


def choose(feed="auto", backend="tensorflow", distributed=False, x=SMALL_X, y=LABELS):
    return choose_feed(feed, backend=backend, distributed=distributed, x=x, y=y)


def test_auto_picks_tf_data_for_small_numeric_arrays_on_tensorflow():
    assert choose() == ("tf.data", "auto: 0.3 MB of training arrays")


def test_auto_picks_tf_data_up_to_exactly_the_limit():
    y = np.zeros(1024, dtype=np.int64)
    x = np.zeros(((AUTO_MAX_BYTES - y.nbytes) // 4,), dtype=np.float32)
    assert x.nbytes + y.nbytes == AUTO_MAX_BYTES
    assert choose(x=x, y=y)[0] == "tf.data"
    assert choose(x=np.zeros(x.size + 1, dtype=np.float32), y=y)[0] == "numpy"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"backend": "jax"}, "auto: backend jax"),
        ({"distributed": True}, "auto: distribute is set"),
        (
            {"x": np.zeros((AUTO_MAX_BYTES // 4 + 1,), dtype=np.float32)},
            "auto: 33.6 MB of training arrays (tf.data up to 32 MiB)",
        ),
        (
            {"x": np.array([[1, 2], [3]], dtype=object)},
            "auto: arrays that are not numbers",
        ),
    ],
)
def test_auto_keeps_numpy_otherwise(kwargs, reason):
    assert choose(**kwargs) == ("numpy", reason)


def test_numpy_is_kept_and_said_to_feed_as_a_script_does():
    assert choose("numpy", backend="jax", distributed=True) == (
        "numpy",
        "the arrays, as a script passes them to fit",
    )


def test_an_explicit_tf_data_feed_is_kept():
    assert choose("tf.data", backend="jax", distributed=True) == (
        "tf.data",
        "data.feed",
    )
