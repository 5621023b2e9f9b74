"""Name the files behind a data pipeline that fails inside fit or evaluate.

A folder source streams its files, so a file whose header is fine but whose
pixels are not (a GIF's damaged LZW data) is found only when TensorFlow
decodes it, in the middle of an epoch. TensorFlow's error gives the
decoder's sentence, never the file. The source can decode every file again
(:attr:`~cbrun.keras.data.common.Streams.find_bad_files`); this module asks
it, on the failure path only, and words the error a user can act on.
"""

from __future__ import annotations

from typing import Any

from cbrun.errors import ConfigPath
from cbrun.training.reporting import first_line

# TensorFlow's error type for a failed op such as DecodeImage; matched by name
# so a run without TensorFlow errors never imports it here.
_DECODE_ERRORS = ("InvalidArgumentError", "DataLossError")
_SHOWN_FILES = 3


def bad_files_failure(exc: BaseException, data: Any) -> tuple[str, ConfigPath] | None:
    """The message and config place for a failure caused by unreadable files.

    Args:
        exc: What fit or evaluate raised.
        data: The run's :class:`~cbrun.keras.data.common.Dataset`.

    Returns:
        ``(message, ("data", "path"))`` when the source finds files it cannot
        decode; None when the failure is something else (or the source
        cannot tell), so the caller reports it as before.
    """
    streams = getattr(data, "streams", None)
    finder = getattr(streams, "find_bad_files", None)
    if finder is None or type(exc).__name__ not in _DECODE_ERRORS:
        return None
    try:
        bad = finder()
    except Exception:  # the diagnosis must never hide the first error
        return None
    if not bad:
        return None
    shown = ", ".join(bad[:_SHOWN_FILES]) + (", ..." if len(bad) > _SHOWN_FILES else "")
    files = "file cannot" if len(bad) == 1 else "files cannot"
    them = "it" if len(bad) == 1 else "them"
    message = (
        f"{len(bad)} {files} be decoded: {shown} ({first_line(exc, 120)}); "
        f"replace or remove {them}, or set `bad_files: skip` in data to train "
        f"without {them}"
    )
    return message, ("data", "path")
