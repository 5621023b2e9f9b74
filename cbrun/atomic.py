"""Atomic file writes and tolerant JSON reads for the run directory.

run.json and history.json are rewritten at every epoch end and read by other
tools at any moment, so a reader must never see a half-written file: each
write goes to a temp file in the same folder, is flushed to disk, then
renamed over the target (``os.replace`` is atomic on POSIX and Windows).

JSON rule: non-finite floats (NaN, inf, -inf, as left by a diverged run) are
written as ``null``, so the files stay standard JSON that any tool can parse.
Numpy-like scalars (anything with ``.item()``) are converted to Python values
without importing numpy.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

from cbrun.errors import CbrunError

__all__ = [
    "CorruptFileError",
    "MissingFileError",
    "RunFileError",
    "dumps_json",
    "read_json",
    "remove_stale_temps",
    "sanitize_json",
    "write_json_atomic",
    "write_text_atomic",
]

# mkstemp would create the file 0600; os.open with 0o666 honours the umask so
# run.json gets the same permissions as any other file the user creates.
_FILE_MODE = 0o666
_TEMP_NAME_ATTEMPTS = 100


class RunFileError(CbrunError):
    """A run file cannot be read.

    Attributes:
        path: The file.
        reason: What is wrong with it.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class MissingFileError(RunFileError):
    """The file does not exist (e.g. a folder that is not a run directory)."""


class CorruptFileError(RunFileError):
    """The file exists but is not what it should be (not JSON, wrong shape)."""


def write_text_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so readers see old or new, never half.

    Args:
        path: The target file; its folder must exist.
        text: The new content.
        durable: Also fsync the file and its folder, so the new content
            survives a power cut. Without it the write is still atomic for
            readers and for a killed process (the rename is), and costs
            milliseconds less: right for per-epoch records.

    Raises:
        OSError: The folder is not writable or the disk is full. The target
            is then untouched and no temp file is left behind.
    """
    path = Path(path)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # BaseException too: a KeyboardInterrupt mid-write must not leave litter.
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(path.parent)


def write_json_atomic(path: Path, obj: Any, *, durable: bool = True) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (see the module JSON rule).

    The object is serialised before any file is touched, so an object that
    cannot be serialised leaves the old file as it was.

    Args:
        path: The target file; its folder must exist.
        obj: JSON-serialisable data; NaN and infinities become ``null``.
        durable: See :func:`write_text_atomic`.

    Raises:
        TypeError: ``obj`` holds something JSON cannot represent.
        OSError: As for :func:`write_text_atomic`.
    """
    write_text_atomic(path, dumps_json(obj), durable=durable)


def dumps_json(obj: Any) -> str:
    """Serialise ``obj`` the way every run file is written, newline-terminated."""
    return (
        json.dumps(
            sanitize_json(obj),
            indent=2,
            sort_keys=False,
            ensure_ascii=False,
            allow_nan=False,  # a safety net: sanitize_json removed them already
            default=_default,
        )
        + "\n"
    )


def sanitize_json(obj: Any) -> Any:
    """Return ``obj`` with non-finite floats replaced by ``None``, recursively.

    Dicts and lists are copied, tuples become lists; other values pass as is.
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: sanitize_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [sanitize_json(v) for v in obj]
    return obj


def read_json(path: Path) -> Any:
    """Read and parse a JSON file.

    Args:
        path: The file.

    Returns:
        The parsed value.

    Raises:
        MissingFileError: The file does not exist.
        CorruptFileError: It cannot be read, is not UTF-8 or not valid JSON
            (e.g. truncated by a full disk or written by another tool).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(path, "no such file") from None
    except OSError as exc:
        raise CorruptFileError(path, f"cannot be read ({exc.strerror})") from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CorruptFileError(path, f"not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        reason = "empty file" if not raw.strip() else f"not valid JSON ({exc})"
        raise CorruptFileError(path, reason) from exc


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temp files a killed writer of ``path`` left beside it.

    Only call this while no other process writes ``path`` (e.g. on resume).

    Args:
        path: The target file whose temp files to remove.

    Returns:
        The files removed.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _default(obj: Any) -> Any:
    """Convert numpy-like scalars (``.item()``) for ``json.dumps``."""
    item = getattr(obj, "item", None)
    if callable(item):
        with contextlib.suppress(TypeError, ValueError):
            return sanitize_json(item())
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _open_temp(path: Path) -> tuple[int, Path]:
    """Create a uniquely named temp file beside ``path``; return its fd and path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_TEMP_NAME_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, _FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name beside {path}")


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself; best effort (not possible on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
