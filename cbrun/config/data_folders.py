"""Schemas of the folder sources ``images`` and ``text``: one subfolder per class.

Both stream their files from disk through Keras's
``image_dataset_from_directory`` / ``text_dataset_from_directory``, which
batch, shuffle and split themselves, so the array sources' ``feed`` and
``limit`` (and ``labels``: the classes are the folders) do not apply; they
are refused with the reason rather than as unknown keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from cbrun.config.base import PositiveInt, StrictModel

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
"""The files ``image_dataset_from_directory`` lists (case-insensitive)."""
TEXT_EXTENSIONS = (".txt",)
"""The files ``text_dataset_from_directory`` lists (case-insensitive)."""

_REFUSED = {
    "feed": (
        "the source is already a batched, prefetched tf.data pipeline read from "
        "disk; remove `feed`"
    ),
    "limit": (
        "a folder source reads every file of its class folders; use `class_names` "
        "to train on fewer classes, or a smaller folder (`cbrun train --smoke` for "
        "a quick try)"
    ),
    "labels": (
        "the labels are the class folders; `class_names` chooses and orders them "
        "and `label_mode: categorical` gives one-hot rows"
    ),
    "scale": (
        "text is strings, not numbers; remove `scale` (TextVectorization turns "
        "the text into numbers inside the model)"
    ),
}


def _no_nul(value: str) -> str:
    """Refuse a NUL character, which no file system accepts in a name."""
    if "\0" in value:
        raise ValueError("a file path cannot contain a NUL character (\\0)")
    return value


FolderPath = Annotated[str, AfterValidator(_no_nul), Field(min_length=1)]
ClassName = Annotated[str, AfterValidator(_no_nul), Field(min_length=1)]
ImageSide = Annotated[int, Field(ge=1, le=16384)]


def _refuse(source: str, key: str) -> ValueError:
    return ValueError(f"`{key}` does not apply to the {source} source: {_REFUSED[key]}")


class _FolderSource(StrictModel):
    """What ``images`` and ``text`` share: the folders, the classes, the splits."""

    path: FolderPath = Field(
        description="The training folder: one subfolder per class, e.g. data/flowers."
    )
    label_mode: Literal["int", "categorical", "binary"] = Field(
        "int",
        description=(
            "`int`: class indexes (sparse_categorical_crossentropy); `categorical`:"
            " one-hot rows; `binary`: 0/1 floats for exactly two classes (sigmoid)."
        ),
    )
    class_names: Annotated[list[ClassName], Field(min_length=1)] | None = Field(
        None,
        description=(
            "The class subfolders to use, in this order (their index is the "
            "label); other subfolders are ignored. Default: every subfolder, "
            "sorted. Applies to test_path too."
        ),
    )
    test_path: FolderPath | None = Field(
        None, description="A separate test folder with the same class subfolders."
    )
    test_size: Annotated[float, Field(ge=0, lt=1)] | None = Field(
        None,
        description=(
            "Fraction of the files held out for testing (seeded); 0 or unset: "
            "no test split."
        ),
    )
    bad_files: Literal["error", "skip"] = Field(
        "error",
        description=(
            "A file that is not a readable image (text: not UTF-8): `error` stops "
            "before training, naming it; `skip` leaves it out and logs the count."
        ),
    )
    # Keys of the array sources that a folder source refuses, with the reason.
    feed: SkipJsonSchema[Any] = None
    limit: SkipJsonSchema[Any] = None
    labels: SkipJsonSchema[Any] = None

    @field_validator("feed", "limit", "labels", mode="before")
    @classmethod
    def _not_for_folders(cls, value: Any, info: Any) -> Any:
        if value is None:  # as a run's resolved config.yaml writes it
            return None
        raise _refuse(cls._source_name(), info.field_name)

    @classmethod
    def _source_name(cls) -> str:
        return "folder"

    @field_validator("class_names")
    @classmethod
    def _unique_classes(cls, names: list[str] | None) -> list[str] | None:
        if names is not None:
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"class_names repeats {', '.join(repeated)}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> _FolderSource:
        if self.test_path is not None and self.test_size is not None:
            raise ValueError("give either test_path or test_size, not both")
        if (
            self.label_mode == "binary"
            and self.class_names is not None
            and len(self.class_names) != 2
        ):
            raise ValueError(
                f"label_mode: binary needs exactly 2 classes; class_names has "
                f"{len(self.class_names)}: use label_mode: int or categorical, "
                "or name two classes"
            )
        return self


class ImagesData(_FolderSource):
    """Images in one subfolder per class, read batch by batch from disk.

    ``keras.utils.image_dataset_from_directory`` lists, decodes and resizes
    them, with ``fit.validation_split`` as its seeded split.

    Example:
        ``{source: images, path: data/flowers, image_size: [64, 64],
        test_size: 0.15}``
    """

    source: Literal["images"]
    image_size: Annotated[list[ImageSide], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [256, 256],
        description="[height, width] every image is resized to (Keras: 256x256).",
    )
    color_mode: Literal["grayscale", "rgb", "rgba"] = Field(
        "rgb", description="1, 3 or 4 channels."
    )
    crop_to_aspect_ratio: bool = Field(
        False,
        description="Crop to image_size's aspect ratio before resizing (no stretch).",
    )
    scale: float | None = Field(
        None,
        gt=0,
        description=(
            "Multiply the pixels (0..255 floats) by this, e.g. 1/255; or put a "
            "Rescaling layer in the model."
        ),
    )

    @classmethod
    def _source_name(cls) -> str:
        return "images"


class TextData(_FolderSource):
    """Text files (``.txt``, UTF-8) in one subfolder per class.

    ``keras.utils.text_dataset_from_directory`` reads them as strings, with
    ``fit.validation_split`` as its seeded split.

    Example:
        ``{source: text, path: data/reviews, test_path: data/reviews_test}``
    """

    source: Literal["text"]
    max_length: PositiveInt | None = Field(
        None, description="Keep at most this many characters of each file."
    )
    scale: SkipJsonSchema[Any] = None

    @field_validator("scale", mode="before")
    @classmethod
    def _no_scale(cls, value: Any) -> Any:
        if value is None:  # as a run's resolved config.yaml writes it
            return None
        raise _refuse("text", "scale")

    @classmethod
    def _source_name(cls) -> str:
        return "text"
