"""Data with two targets per sample, for ``configs/multi_output.yaml``.

scikit-learn's digits (bundled, offline) with two labels for each image: the
digit (a class) and its ink, the mean pixel intensity (a number). The labels
are a dict by output name, which cbrun matches to the model's outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def digits_and_ink(test_size: float = 0.2, seed: int = 0) -> dict[str, Any]:
    """Digits images with ``{digit, ink}`` labels, split into train and test.

    Args:
        test_size: The fraction of samples kept for the test split.
        seed: Seeds the split.

    Returns:
        ``{x_train, y_train, x_test, y_test}``; each ``y`` is a dict of a
        ``digit`` class array and an ``ink`` float array.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    digit = digits.target.astype(np.int64)
    ink = x.mean(axis=1).astype(np.float32)
    parts = train_test_split(
        x, digit, ink, test_size=test_size, random_state=seed, stratify=digit
    )
    x_train, x_test, digit_train, digit_test, ink_train, ink_test = parts
    return {
        "x_train": x_train,
        "y_train": {"digit": digit_train, "ink": ink_train},
        "x_test": x_test,
        "y_test": {"digit": digit_test, "ink": ink_test},
    }
