"""Schemas of the ``data`` section: one model per ``source``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from cbrun.config.base import PositiveInt, StrictModel
from cbrun.config.dataset_names import (
    SKLEARN_DATASETS,
    KerasDatasetName,
    SklearnDatasetName,
)

DATA_SOURCES = ("sklearn", "keras", "npz", "csv", "synthetic")

TestSize = Annotated[
    float,
    Field(gt=0, lt=1, description="Fraction of the samples held out for testing."),
]


def _no_nul(value: str) -> str:
    """Refuse a NUL character, which no file system accepts in a name."""
    if "\0" in value:
        raise ValueError("a file path cannot contain a NUL character (\\0)")
    return value


DataPath = Annotated[str, AfterValidator(_no_nul)]


class _SourceBase(StrictModel):
    """Fields every source takes."""

    scale: float | None = Field(
        None,
        gt=0,
        description="Multiply the inputs by this, as float32 (1/255 for pixels).",
    )
    limit: PositiveInt | None = Field(
        None, description="Use at most this many training (and test) samples."
    )
    feed: Literal["numpy", "tf.data", "auto"] = Field(
        "numpy",
        description=(
            "How fit reads the arrays. `numpy` (default): the arrays themselves, "
            "as `model.fit(x, y)` in a script: same shuffling, same numbers. "
            "`tf.data` (opt-in): a shuffled, batched, prefetched tf.data "
            "pipeline, about 2x faster per epoch on small data but with another "
            "shuffle order, so other numbers; `auto`: tf.data when the training "
            "arrays take at most 32 MiB, the backend is tensorflow and there is "
            "no `distribute`, else numpy."
        ),
    )


class SklearnData(_SourceBase):
    """A dataset bundled with scikit-learn; works offline.

    Example:
        ``{source: sklearn, name: digits, test_size: 0.2, scale: 0.0625}``
    """

    source: Literal["sklearn"]
    name: SklearnDatasetName = Field(
        description=f"{', '.join(SKLEARN_DATASETS[:-1])} or {SKLEARN_DATASETS[-1]}."
    )
    test_size: TestSize = 0.2


class KerasData(_SourceBase):
    """A ``keras.datasets`` dataset, read from the Keras cache when offline.

    Example:
        ``{source: keras, name: fashion_mnist, scale: 0.00392156862745098}``
    """

    source: Literal["keras"]
    name: KerasDatasetName = Field(description="The keras.datasets module.")
    load_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for load_data, e.g. {num_words: 10000}.",
    )


class NpzKeys(StrictModel):
    """The array names inside an ``.npz`` file."""

    x_train: str = "x_train"
    y_train: str = "y_train"
    x_test: str = "x_test"
    y_test: str = "y_test"


class NpzData(_SourceBase):
    """Arrays in a NumPy ``.npz`` file (the ``mnist.npz`` layout).

    A relative ``path`` is relative to the config file's folder.

    Example:
        ``{source: npz, path: data/mnist.npz}``
    """

    source: Literal["npz"]
    path: DataPath = Field(min_length=1, description="The .npz file.")
    keys: NpzKeys = Field(default_factory=NpzKeys, description="Array names.")
    test_size: TestSize | None = Field(
        None, description="Split off a test set when the file has no test arrays."
    )


class CsvData(_SourceBase):
    """A CSV file with a header row and a target column.

    Relative paths are relative to the config file's folder.

    Example:
        ``{source: csv, path: data/train.csv, target: price, test_size: 0.2}``
    """

    source: Literal["csv"]
    path: DataPath = Field(min_length=1, description="The training CSV.")
    target: str = Field("target", min_length=1, description="The label column.")
    test_path: DataPath | None = Field(None, description="A separate test CSV.")
    test_size: TestSize | None = Field(
        None, description="Split off a test set (default 0.2 without test_path)."
    )

    @model_validator(mode="after")
    def _one_test_split(self) -> CsvData:
        if self.test_path is not None and self.test_size is not None:
            raise ValueError("give either test_path or test_size, not both")
        return self


class SyntheticData(_SourceBase):
    """Seeded random data of a given shape, for tests and benchmarks.

    Example:
        ``{source: synthetic, task: classification, samples: 1000, shape: [20],
        classes: 3}``
    """

    source: Literal["synthetic"]
    task: Literal["classification", "regression"] = "classification"
    samples: Annotated[int, Field(ge=4, le=10_000_000)] = Field(
        1000, description="Number of samples, before the test split."
    )
    shape: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=lambda: [20],
        min_length=1,
        max_length=4,
        description="One sample's shape, e.g. [28, 28, 1].",
    )
    classes: Annotated[int, Field(ge=2, le=100_000)] | None = Field(
        None, description="Number of classes (classification; default 2)."
    )
    test_size: TestSize = 0.2

    @model_validator(mode="after")
    def _classes_for_classification(self) -> SyntheticData:
        if self.task == "regression" and self.classes is not None:
            raise ValueError("`classes` applies to task: classification only")
        return self


DataConfig = Annotated[
    SklearnData | KerasData | NpzData | CsvData | SyntheticData,
    Field(discriminator="source"),
]
