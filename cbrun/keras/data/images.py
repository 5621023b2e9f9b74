"""The ``images`` source: ``keras.utils.image_dataset_from_directory``, streamed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cbrun.config.data_folders import IMAGE_EXTENSIONS, ImagesData
from cbrun.keras.data.common import Dataset
from cbrun.keras.data.folders import FolderKind, load_folders

_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def load(
    config: ImagesData,
    *,
    seed: int,
    base_dir: Path,
    batch_size: int,
    validation_split: float,
) -> Dataset:
    """Stream the images of one subfolder per class, resized to ``image_size``."""
    import keras

    height, width = config.image_size
    options = {
        "image_size": (height, width),
        "color_mode": config.color_mode,
        "crop_to_aspect_ratio": config.crop_to_aspect_ratio,
    }

    def rebuild(
        paths: list[str],
        labels: Any,
        num_classes: int,
        shuffle: bool,
        buffer: int,
        seed: int,
    ) -> Any:
        # Keras's own per-file pipeline, for bad_files: skip (see folders.py).
        from keras.src.utils.image_dataset_utils import paths_and_labels_to_dataset

        return paths_and_labels_to_dataset(
            image_paths=paths,
            image_size=(height, width),
            num_channels=_CHANNELS[config.color_mode],
            labels=labels,
            label_mode=config.label_mode,
            num_classes=num_classes,
            interpolation="bilinear",
            data_format=keras.config.image_data_format(),
            crop_to_aspect_ratio=config.crop_to_aspect_ratio,
            shuffle=shuffle,
            shuffle_buffer_size=buffer,
            seed=seed,
        )

    def probe(path: Any) -> Any:
        # Keras's read and decode (image_dataset_utils._load_image_tf).
        import tensorflow as tf

        image = tf.image.decode_image(
            tf.io.read_file(path),
            channels=_CHANNELS[config.color_mode],
            expand_animations=False,
        )
        return tf.shape(image)

    kind = FolderKind(
        name="images",
        extensions=IMAGE_EXTENSIONS,
        utility=keras.utils.image_dataset_from_directory,
        options=options,
        probe=probe,
        rebuild=rebuild,
        shape=f"{height}x{width} {config.color_mode}",
        scale=config.scale,
    )
    return load_folders(
        config,
        kind,
        seed=seed,
        base_dir=base_dir,
        batch_size=batch_size,
        validation_split=validation_split,
    )
