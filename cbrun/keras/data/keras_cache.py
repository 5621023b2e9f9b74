"""Where ``keras.datasets`` keeps its files, and what to say when they are absent.

The file names, folders and download addresses come from the generated
``KERAS_DATASET_FACTS`` (``scripts/gen_keras_names.py`` traces them from the
installed Keras), so a Keras upgrade that moves them fails that table's test
instead of misleading users here.
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from cbrun.atomic import file_kind
from cbrun.config.data import KerasData
from cbrun.config.keras_names import KERAS_DATASET_FACTS
from cbrun.errors import BuildError


@dataclass(frozen=True)
class CacheFile:
    """A file ``keras.datasets`` reads from ``$KERAS_HOME/datasets``.

    Attributes:
        name: The path below ``$KERAS_HOME/datasets``.
        origin: The URL Keras downloads it from.
        note: How to turn the download into ``name``, when it differs.
    """

    name: str
    origin: str
    note: str = ""


def cache_files(name: str, load_args: Mapping[str, Any]) -> list[CacheFile]:
    """Return the cache files ``keras.datasets.<name>.load_data`` needs.

    Args:
        name: The ``keras.datasets`` module.
        load_args: Its ``load_data`` arguments, already checked against its
            signature.
    """
    facts = KERAS_DATASET_FACTS[name]
    # The table's folders are below $KERAS_HOME; users see $KERAS_HOME/datasets.
    subdir = PurePosixPath(facts["cache_subdir"]).relative_to("datasets")
    files = [
        CacheFile(
            str(subdir / file),
            facts["origin_base"] + origin,
            # cifar keeps the downloaded tarball under a *-target_archive name.
            "" if file == origin else f"that is {origin}, renamed",
        )
        for file, origin in zip(facts["files"], facts["origin_files"], strict=True)
    ]
    if "path" in load_args and len(files) == 1:
        # The one-file (npz) datasets take their cache file name from `path`.
        files = [replace(files[0], name=str(load_args["path"]))]
    return files


def datasets_dir() -> Path:
    """Return the folder ``keras.utils.get_file`` reads datasets from."""
    try:
        # The value Keras read from KERAS_HOME when it was imported.
        from keras.src.backend.config import keras_home

        home = str(keras_home())
    except ImportError:  # pragma: no cover - a Keras without that module
        home = os.environ.get("KERAS_HOME") or os.path.join(
            os.path.expanduser("~"), ".keras"
        )
    base = os.path.expanduser(home)
    if not os.access(base, os.W_OK):
        # get_file falls back to /tmp/.keras when the cache dir is read-only.
        base = os.path.join("/tmp", ".keras")
    return Path(base).resolve() / "datasets"


def missing_cache_files(config: KerasData) -> tuple[Path, list[str]]:
    """Return the Keras cache folder and the files ``load_data`` still lacks."""
    folder = datasets_dir()
    files = cache_files(config.name, config.load_args)
    return folder, [f.name for f in files if not (folder / f.name).is_file()]


def check_cache_files(folder: Path, files: Sequence[CacheFile]) -> None:
    """Refuse cache entries that are FIFOs, devices, folders or sockets.

    Keras reads whatever exists under a cache file's name (its hash check
    first): a FIFO there would block the run forever, ``/dev/zero`` would
    never end. A missing file is fine: Keras downloads it.

    Raises:
        BuildError: Naming the entry and what it is.
    """
    for file in files:
        path = folder / file.name
        try:
            kind = file_kind(path.stat().st_mode)
        except OSError:
            continue
        if kind:
            raise BuildError(
                f"{path} is {kind}, not a regular file, in the Keras cache; "
                f"remove it so Keras downloads {file.origin} again",
                ("data", "name"),
            )


def load_error(
    config: KerasData,
    folder: Path,
    files: Sequence[CacheFile],
    present: set[str],
    error: BaseException,
) -> BuildError:
    """Explain a failed ``load_data``: what to download and where to put it.

    Args:
        config: The ``data`` section.
        folder: ``$KERAS_HOME/datasets``.
        files: The cache files the dataset needs.
        present: The names of those that existed before ``load_data`` ran.
        error: What ``load_data`` raised.
    """
    name = config.name
    reason = str(error).rstrip(".")
    if not _is_download_failure(error):
        args = ", ".join(f"{key}={value!r}" for key, value in config.load_args.items())
        return BuildError(
            f"keras.datasets.{name}.load_data({args}) failed: "
            f"{type(error).__name__}: {reason}. If the files in {folder} are "
            "damaged, delete them so Keras downloads them again",
            ("data", "load_args") if config.load_args else ("data", "name"),
        )
    lines = []
    for file in files:
        note = f" ({file.note})" if file.note else ""
        lines.append(
            f"  {file.name}: {_cache_state(file, folder, present)}; "
            f"download {file.origin}{note}"
        )
    trouble = (
        "is not in the Keras cache"
        if len(present) < len(files)
        else "has cached files that fail Keras's hash check"
    )
    return BuildError(
        f"keras.datasets.{name} {trouble} and downloading it failed ({reason}). "
        f"Put these files in {folder} ($KERAS_HOME/datasets; KERAS_HOME "
        "defaults to ~/.keras):\n"
        + "\n".join(lines)
        + "\nTo train on your own file in this layout, use source: npz instead",
        ("data", "name"),
    )


def _is_download_failure(error: BaseException) -> bool:
    """Tell whether ``keras.utils.get_file`` failed to download."""
    text = str(error)
    return (
        isinstance(error, urllib.error.URLError | TimeoutError | ConnectionError)
        or "URL fetch failure" in text  # get_file re-raises URLError as this
        or "Incomplete or corrupted file" in text  # downloaded, wrong hash
    )


def _cache_state(file: CacheFile, folder: Path, present: set[str]) -> str:
    """Describe a cache file after a failed download."""
    if file.name not in present:
        return "missing"
    # get_file re-downloads a file whose hash differs, and deletes it when
    # that download fails.
    deleted = "" if (folder / file.name).exists() else " (Keras deleted it)"
    return f"found, but not the file Keras expects (hash check failed){deleted}"
