"""Load the ``data`` section into NumPy arrays: one module per ``source``.

Every source module has a ``load`` (a :class:`~cbrun.keras.data.common.Loader`)
that returns raw train/test arrays; :func:`load_data` picks it by ``source`` and
then applies what all sources share (``limit``, ``scale``, label dtypes, the
task and the number of classes). Each problem a user can cause is a
:class:`~cbrun.errors.BuildError` that names the file or value and the fix, with
the config path it comes from. A new source is a new module plus one line in
:data:`_LOADERS`.
"""

from __future__ import annotations

from pathlib import Path

from cbrun.config.data import DataConfig
from cbrun.keras.data import (
    csv,
    function,
    images,
    keras_datasets,
    npz,
    sklearn,
    synthetic,
    text,
    timeseries,
)
from cbrun.keras.data.common import Dataset, Loader, StreamLoader, finish
from cbrun.keras.data.keras_cache import missing_cache_files
from cbrun.keras.data.keras_datasets import shape_only_data

__all__ = ["Dataset", "load_data", "missing_cache_files", "shape_only_data"]

# Source name (the `source` key) -> its loader.
_LOADERS: dict[str, Loader] = {
    "sklearn": sklearn.load,
    "keras": keras_datasets.load,
    "npz": npz.load,
    "csv": csv.load,
    "synthetic": synthetic.load,
    # Arrays, or tf.data streams: load_data calls it itself.
    "function": function.load,  # type: ignore[dict-item]
}


# Sources that batch and split themselves (tf.data pipelines) -> their loader.
_STREAM_LOADERS: dict[str, StreamLoader] = {"timeseries": timeseries.load}
_STREAM_LOADERS["images"] = images.load
_STREAM_LOADERS["text"] = text.load


def load_data(
    config: DataConfig,
    *,
    seed: int,
    base_dir: Path,
    batch_size: int = 32,
    validation_split: float = 0.0,
) -> Dataset:
    """Load the data a config's ``data`` section names.

    Args:
        config: The validated ``data`` section.
        seed: The run's seed; every split and synthetic sample derives from it.
        base_dir: The config file's folder; relative npz/csv paths resolve
            against it.
        batch_size: ``fit``'s batch size, for the sources that batch
            themselves (folders, time series).
        validation_split: ``fit.validation_split``; the streaming sources
            make it with their loader's seeded split, Keras makes it for
            arrays.

    Returns:
        The dataset, with ``limit`` and ``scale`` applied.

    Raises:
        BuildError: The data cannot be loaded; the message says why and how to
            fix it, and ``path`` points into the ``data`` section.
    """
    if config.source == "function":
        # User code returns arrays (finished below) or tf.data streams.
        loaded = function.load(config, seed=seed, base_dir=base_dir)
        if isinstance(loaded, Dataset):
            return loaded
        return finish(
            loaded, scale=config.scale, limit=config.limit, labels=config.labels
        )
    stream_loader = _STREAM_LOADERS.get(config.source)
    if stream_loader is not None:
        return stream_loader(
            config,
            seed=seed,
            base_dir=base_dir,
            batch_size=batch_size,
            validation_split=validation_split,
        )
    raw = _LOADERS[config.source](config, seed=seed, base_dir=base_dir)
    return finish(raw, scale=config.scale, limit=config.limit, labels=config.labels)
