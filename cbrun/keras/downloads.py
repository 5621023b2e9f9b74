"""Explain a failed ``keras.utils.get_file`` download met while building.

Keras applications fetch their weights with ``get_file`` into
``$KERAS_HOME/models``. Offline, that fails with a generic ``Exception``;
cbrun reports it like a missing dataset: exit 1, naming the file to place and
the folder to place it in.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.keras_cache import datasets_dir

# get_file: "URL fetch failure on {origin}: {errno} -- {reason}".
_FETCH_FAILURE = re.compile(r"URL fetch failure on (?P<origin>\S+?): (?P<reason>.*)")


def models_dir() -> Path:
    """Return the folder ``get_file`` caches application weights in."""
    return datasets_dir().parent / "models"


def download_failure(error: BaseException, where: ConfigPath) -> BuildError | None:
    """Return a :class:`BuildError` for a failed weights download, else None.

    Args:
        error: What building the model (or a callback) raised.
        where: The config place that asked for the download.
    """
    match = _FETCH_FAILURE.search(str(error))
    if match is None:
        return None
    origin = match["origin"]
    file_name = Path(urlparse(origin).path).name or origin
    reason = match["reason"].strip().rstrip(".")
    folder = models_dir()
    return BuildError(
        f"downloading {file_name} failed ({reason}). Put the file in {folder} "
        f"($KERAS_HOME/models; KERAS_HOME defaults to ~/.keras): download "
        f"{origin} on a machine with internet access and copy it there, or "
        "build the model with weights=None",
        where,
    )
