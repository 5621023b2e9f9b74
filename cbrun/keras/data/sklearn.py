"""The ``sklearn`` source: a dataset bundled with scikit-learn, split here."""

from __future__ import annotations

from pathlib import Path

from cbrun.config.data import SklearnData
from cbrun.keras.data.common import Raw, split


def load(config: SklearnData, *, seed: int, base_dir: Path) -> Raw:
    """Load a dataset bundled with scikit-learn and split it, stratified."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{config.name}")()
    x_train, x_test, y_train, y_test = split(
        bunch.data,
        bunch.target,
        test_size=config.test_size,
        seed=seed,
        stratify=True,
        where=("data", "test_size"),
    )
    return Raw(
        x_train, y_train, x_test, y_test, f"sklearn {config.name}", "classification"
    )
