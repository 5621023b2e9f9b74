"""Schemas of the ``data`` section: one model per ``source``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from cbrun.config.base import ImportPath, PositiveInt, StrictModel
from cbrun.config.data_folders import ImagesData, TextData
from cbrun.config.dataset_names import (
    SKLEARN_DATASETS,
    KerasDatasetName,
    SklearnDatasetName,
)

DATA_SOURCES = (
    "sklearn",
    "keras",
    "npz",
    "csv",
    "synthetic",
    "timeseries",
    "function",
    "images",
    "text",
)

TestSize = Annotated[
    float,
    Field(gt=0, lt=1, description="Fraction of the samples held out for testing."),
]
OptionalTestSize = Annotated[
    float,
    Field(
        ge=0,
        lt=1,
        description="Fraction of the samples held out for testing; 0: no test split.",
    ),
]
LabelValue = int | float | str
ColumnName = Annotated[str, Field(min_length=1)]


def _no_nul(value: str) -> str:
    """Refuse a NUL character, which no file system accepts in a name."""
    if "\0" in value:
        raise ValueError("a file path cannot contain a NUL character (\\0)")
    return value


DataPath = Annotated[str, AfterValidator(_no_nul)]


def _one_character(value: Any) -> Any:
    """Say how to write a tab: YAML reads '\\t' (single quotes) as two characters."""
    if not isinstance(value, str) or len(value) == 1:
        return value
    if value.lower() in ("\\t", "tab", "\\\\t"):
        raise ValueError(
            f"expected one character, got {value!r}; a tab is written "
            'delimiter: "\\t", in double quotes (single quotes keep the backslash)'
        )
    raise ValueError(f'expected one character, e.g. ";" or "\\t", got {value!r}')


# Checked before the length, to say how to write a tab.
Delimiter = Annotated[
    str, Field(min_length=1, max_length=1), BeforeValidator(_one_character)
]


class LabelsConfig(StrictModel):
    """Label transforms applied before training, to every split.

    Example:
        ``{map: {-1: 0, 1: 1}, one_hot: true, classes: 2}``
    """

    map: dict[LabelValue, int] | None = Field(
        None,
        description="Label value -> class index; a label outside the map is an error.",
    )
    one_hot: bool = Field(
        False, description="One-hot rows (for categorical_crossentropy)."
    )
    classes: Annotated[int, Field(ge=2, le=100_000)] | None = Field(
        None,
        description="one_hot's width; default: the number of classes after mapping.",
    )

    @field_validator("map", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, value: Any) -> Any:
        """YAML reads an unquoted yes/no/on/off/true/false key as a boolean."""
        if isinstance(value, dict) and any(isinstance(key, bool) for key in value):
            raise ValueError(
                "a key reads as true/false: YAML takes unquoted yes, no, on, off, "
                "true and false as booleans; quote label words, e.g. "
                "{'yes': 1, 'no': 0}"
            )
        return value

    @model_validator(mode="after")
    def _classes_for_one_hot(self) -> LabelsConfig:
        if self.classes is not None and not self.one_hot:
            raise ValueError("`classes` is one_hot's width: set `one_hot: true`")
        if self.map is not None and not self.map:
            raise ValueError("`map` is empty; give label -> class, e.g. {-1: 0, 1: 1}")
        return self


def table_delimiter(section: Any) -> str:
    """A table's separator: ``delimiter``, else a tab for ``.tsv``, else a comma.

    Args:
        section: A ``csv`` or ``timeseries`` data section.
    """
    if section.delimiter is not None:
        return str(section.delimiter)
    return "\t" if str(section.path).lower().endswith(".tsv") else ","


class _SourceBase(StrictModel):
    """Fields every source takes."""

    labels: LabelsConfig | None = Field(
        None, description="Label transforms: {map: {...}, one_hot: true, classes: N}."
    )

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


ArrayNames = str | Annotated[dict[ColumnName, str], Field(min_length=1)]


class NpzKeys(StrictModel):
    """The array names inside an ``.npz`` file.

    Each is one array name, or a mapping of input (output) name to array name
    for a model with several inputs (outputs).
    """

    x_train: ArrayNames = "x_train"
    y_train: ArrayNames = "y_train"
    x_test: ArrayNames = "x_test"
    y_test: ArrayNames = "y_test"


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
    """A table: a CSV (``.csv``), TSV (``.tsv``) or Parquet (``.parquet``) file.

    Relative paths are relative to the config file's folder.

    Example:
        ``{source: csv, path: data/train.csv, target: price, test_size: 0.2}``
    """

    source: Literal["csv"]
    path: DataPath = Field(
        min_length=1, description="The training table (.csv, .tsv or .parquet)."
    )
    target: ColumnName | Annotated[list[ColumnName], Field(min_length=1)] = Field(
        "target",
        description="The label column, or a list of them for several outputs.",
    )
    features: Annotated[list[ColumnName], Field(min_length=1)] | None = Field(
        None, description="The input columns; default: every other column."
    )
    delimiter: Delimiter | None = Field(
        None, description="The separator: default `,`, a tab for .tsv files."
    )
    header: bool | None = Field(
        None,
        description="Whether the first line names the columns; default: yes, "
        "unless `names` is given.",
    )
    names: Annotated[list[ColumnName], Field(min_length=1)] | None = Field(
        None, description="The column names of a file without a header line."
    )
    inputs: Literal["matrix", "columns"] = Field(
        "matrix",
        description=(
            "`matrix`: one float32 array of the (numeric) features; `columns`: "
            "one named input per column, any dtype, strings too, each (n, 1)."
        ),
    )
    test_path: DataPath | None = Field(None, description="A separate test table.")
    test_size: OptionalTestSize | None = Field(
        None,
        description="Split off a test set (default 0.2 without test_path; 0: none).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CsvData:
        if self.test_path is not None and self.test_size is not None:
            raise ValueError("give either test_path or test_size, not both")
        if self.header is False and self.names is None:
            raise ValueError("`header: false` needs `names: [...]`, the column names")
        if self.header and self.names is not None:
            raise ValueError(
                "`names` is for a file without a header line: remove header: true"
            )
        if self.names is not None and len(set(self.names)) != len(self.names):
            raise ValueError("`names` holds a name twice")
        targets = [self.target] if isinstance(self.target, str) else self.target
        if len(set(targets)) != len(targets):
            raise ValueError("`target` holds a column twice")
        features = self.features or []
        twice = sorted({name for name in features if features.count(name) > 1})
        if twice:
            raise ValueError(
                f"`features` holds {', '.join(map(repr, twice))} twice; list each "
                "column once"
            )
        both = sorted(set(targets) & set(features))
        if both:
            raise ValueError(
                f"{', '.join(both)} is both a target and a feature; remove it from "
                "features"
            )
        return self

    @property
    def has_header(self) -> bool:
        """Whether the file's first line names its columns."""
        return self.header if self.header is not None else self.names is None

    @property
    def targets(self) -> list[str]:
        """The target columns, as a list."""
        return [self.target] if isinstance(self.target, str) else list(self.target)


class TimeseriesSplit(StrictModel):
    """Chronological fractions of the rows: train first, then validation, test."""

    validation: Annotated[float, Field(ge=0, lt=1)] = 0.15
    test: Annotated[float, Field(ge=0, lt=1)] = 0.15

    @model_validator(mode="after")
    def _leaves_training(self) -> TimeseriesSplit:
        if self.validation + self.test >= 1:
            raise ValueError("validation + test must leave rows to train on (< 1)")
        return self


class TimeseriesData(_SourceBase):
    """Windows of a time series, cut by ``keras.utils.timeseries_dataset_from_array``.

    The window starting at row i covers rows i, i + r, ..., i + (L - 1) r
    (r = ``sampling_rate``, L = ``sequence_length``); its target is row
    i + (L - 1) r + ``target_offset``. Splits are chronological.

    Example:
        ``{source: timeseries, path: data/series.csv, target: y,
        sequence_length: 24}``
    """

    source: Literal["timeseries"]
    path: DataPath = Field(min_length=1, description="A .csv (.tsv) or .npz file.")
    target: ColumnName = Field(description="The column (npz: array) to predict.")
    features: Annotated[list[ColumnName], Field(min_length=1)] | None = Field(
        None, description="The input columns; default: every column, target too."
    )
    sequence_length: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        description="Rows per window (L)."
    )
    sampling_rate: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        1, description="Take every r-th row inside a window (r)."
    )
    target_offset: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        1,
        description="The target is this many rows after the window's last row "
        "(0: the last row itself).",
    )
    split: TimeseriesSplit = Field(
        default_factory=TimeseriesSplit,
        description="Chronological validation and test fractions of the rows.",
    )
    shuffle: bool = Field(
        False, description="Shuffle the training windows (seeded); Keras's default: no."
    )
    delimiter: Delimiter | None = None


class FunctionData(_SourceBase):
    """Data from your own Python function (user code).

    The function gets ``params`` as keyword arguments (and ``base_dir``, the
    config's folder, if it takes that argument) and returns either arrays,
    ``{x_train, y_train, x_test?, y_test?}`` (each an array or a dict of
    named arrays), or ``((x_train, y_train), (x_test, y_test))`` as
    ``keras.datasets`` do; or batched ``tf.data.Dataset`` s of ``(x, y)``,
    ``{train, validation?, test?}``.

    Example:
        ``{source: function, function: my_data:load, params: {rows: 500}}``
    """

    source: Literal["function"]
    function: ImportPath
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the function."
    )
    test_size: OptionalTestSize | None = Field(
        None, description="Split off a test set from arrays without test arrays."
    )


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
    SklearnData
    | KerasData
    | NpzData
    | CsvData
    | SyntheticData
    | TimeseriesData
    | FunctionData
    | ImagesData
    | TextData,
    Field(discriminator="source"),
]
