"""The dataset names the ``sklearn`` and ``keras`` sources accept, stated once.

The ``Literal`` types type ``SklearnData.name`` and ``KerasData.name`` (and so
give the JSON Schema its enums); the tuples, read from them, serve messages,
``scripts/gen_keras_names.py`` (which tabulates each Keras dataset's cache files
in ``keras_names.KERAS_DATASET_FACTS``) and the tests. Adding a name here is the
whole change on the config side.
"""

from __future__ import annotations

from typing import Literal, get_args

SklearnDatasetName = Literal["digits", "iris", "wine", "breast_cancer"]
KerasDatasetName = Literal[
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "imdb",
    "reuters",
    "boston_housing",
    "california_housing",
]

SKLEARN_DATASETS: tuple[str, ...] = get_args(SklearnDatasetName)
KERAS_DATASETS: tuple[str, ...] = get_args(KerasDatasetName)
