"""The ``synthetic`` source: seeded random data a model can learn."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cbrun.config.data import SyntheticData
from cbrun.errors import BuildError
from cbrun.keras.data.common import Raw, split

# Largest synthetic dataset, in float32 elements (8 GiB).
_MAX_SYNTHETIC_ELEMENTS = 2**31


def load(config: SyntheticData, *, seed: int, base_dir: Path) -> Raw:
    """Make seeded random data a model can learn, then split it."""
    shape = tuple(config.shape)
    classes = config.classes or 2
    rows = config.samples + (classes if config.task == "classification" else 0)
    if rows * math.prod(shape) > _MAX_SYNTHETIC_ELEMENTS:
        raise BuildError(
            f"synthetic data of {config.samples} samples of shape {list(shape)} "
            f"needs more than {_MAX_SYNTHETIC_ELEMENTS * 4 // 2**30} GiB; "
            "lower samples or shape",
            ("data", "samples"),
        )
    rng = np.random.default_rng(seed)
    if config.task == "classification":
        x, y = _synthetic_classes(rng, config.samples, shape, classes)
    else:
        x, y = _synthetic_regression(rng, config.samples, shape)
    x_train, x_test, y_train, y_test = split(
        x,
        y,
        test_size=config.test_size,
        seed=seed,
        stratify=config.task == "classification",
        where=("data", "test_size"),
    )
    return Raw(
        x_train, y_train, x_test, y_test, f"synthetic {config.task}", config.task
    )


def _synthetic_classes(
    rng: np.random.Generator, samples: int, shape: tuple[int, ...], classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return unit-noise samples around one random mean per class."""
    means = rng.standard_normal((classes, *shape), dtype=np.float32)
    # Balanced classes in random order, so stratified splits are possible.
    y = rng.permutation(np.arange(samples, dtype=np.int64) % classes)
    x = means[y] + rng.standard_normal((samples, *shape), dtype=np.float32)
    return x, y


def _synthetic_regression(
    rng: np.random.Generator, samples: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``y = x . w + noise`` for one random ``w``, with unit-variance y."""
    x = rng.standard_normal((samples, *shape), dtype=np.float32)
    features = math.prod(shape)
    weights = rng.standard_normal(features) / math.sqrt(features)
    noise = 0.1 * rng.standard_normal(samples)
    y = x.reshape(samples, features) @ weights + noise
    return x, y.astype(np.float32)
