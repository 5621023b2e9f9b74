"""The ``text`` source: ``keras.utils.text_dataset_from_directory``, streamed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cbrun.config.data_folders import TEXT_EXTENSIONS, TextData
from cbrun.keras.data.common import Dataset
from cbrun.keras.data.folders import FolderKind, load_folders


def load(
    config: TextData,
    *,
    seed: int,
    base_dir: Path,
    batch_size: int,
    validation_split: float,
) -> Dataset:
    """Stream the ``.txt`` files of one subfolder per class, as strings."""
    import keras

    def rebuild(
        paths: list[str],
        labels: Any,
        num_classes: int,
        shuffle: bool,
        buffer: int,
        seed: int,
    ) -> Any:
        # Keras's own per-file pipeline, for bad_files: skip (see folders.py).
        from keras.src.utils.text_dataset_utils import paths_and_labels_to_dataset

        return paths_and_labels_to_dataset(
            file_paths=paths,
            labels=labels,
            label_mode=config.label_mode,
            num_classes=num_classes,
            max_length=config.max_length,
            shuffle=shuffle,
            shuffle_buffer_size=buffer,
            seed=seed,
        )

    def probe(path: Any) -> Any:
        import tensorflow as tf

        return tf.strings.length(tf.io.read_file(path))

    kind = FolderKind(
        name="text",
        extensions=TEXT_EXTENSIONS,
        utility=keras.utils.text_dataset_from_directory,
        options={"max_length": config.max_length},
        probe=probe,
        rebuild=rebuild,
    )
    return load_folders(
        config,
        kind,
        seed=seed,
        base_dir=base_dir,
        batch_size=batch_size,
        validation_split=validation_split,
    )
