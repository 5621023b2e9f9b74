"""Atomic file writes and tolerant JSON reads for the run directory.

run.json and history.json are rewritten at every epoch end and read by other
tools at any moment, so a reader must never see a half-written file: each
write goes to a temp file in the same folder, is flushed to disk, then
renamed over the target (``os.replace`` is atomic on POSIX and Windows).

JSON rule: non-finite floats (NaN, inf, -inf, as left by a diverged run) are
written as ``null``, so the files stay standard JSON that any tool can parse.
Numpy-like scalars (anything with ``.item()``) are converted to Python values
without importing numpy.

Read rule: every file cbrun reads that a user or another tool may have put
there (a config, a data file, a run's records) is opened with
:func:`open_regular` or read with :func:`read_regular_bounded`: a FIFO would
block the read forever and ``/dev/zero`` would fill memory, and ``st_size``
says nothing about either, so the file must be a regular one and the read
stops one byte past the limit.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any, BinaryIO

from cbrun.errors import CbrunError

__all__ = [
    "MAX_JSON_BYTES",
    "CorruptFileError",
    "FileTooLargeError",
    "MissingFileError",
    "NotRegularFileError",
    "RunFileError",
    "dumps_json",
    "file_kind",
    "open_regular",
    "read_json",
    "read_regular_bounded",
    "remove_stale_temps",
    "sanitize_json",
    "write_json_atomic",
    "write_text_atomic",
]

# mkstemp would create the file 0600; os.open with 0o666 honours the umask so
# run.json gets the same permissions as any other file the user creates.
_FILE_MODE = 0o666
_TEMP_NAME_ATTEMPTS = 100
# A run's history.json grows by one entry per epoch and metric: 10,000 epochs
# of 20 metrics is about 4 MB. Beyond this a JSON file is not cbrun's.
MAX_JSON_BYTES = 64 * 1024 * 1024
# O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused after
# the fstat anyway); O_NOCTTY: opening a terminal must not make it ours.
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


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


class NotRegularFileError(OSError):
    """The path names a FIFO, a device, a directory or a socket, not a file.

    An :class:`OSError`, so that code which reports any ``OSError`` by its
    ``strerror`` still says the right thing.

    Attributes:
        path: The file as given.
        kind: What it is, e.g. ``a FIFO`` or ``a character device``.
        reason: ``is a FIFO, not a regular file``.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        self.reason = f"is {kind}, not a regular file"
        code = errno.EISDIR if kind == "a directory" else errno.EINVAL
        super().__init__(code, self.reason, str(path))
        self.path = Path(path)
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class FileTooLargeError(OSError):
    """A file holds more bytes than its reader accepts.

    Attributes:
        path: The file as given.
        limit: The most bytes accepted.
        reason: ``file is larger than N bytes``.
    """

    def __init__(self, path: str | os.PathLike[str], limit: int) -> None:
        self.reason = f"file is larger than {limit} bytes"
        super().__init__(errno.EFBIG, self.reason, str(path))
        self.path = Path(path)
        self.limit = limit

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def file_kind(mode: int) -> str | None:
    """Name what a ``st_mode`` describes: ``a FIFO``, ...; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "a special file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading, refusing anything else.

    Symlinks are followed. The path is checked with ``stat`` before it is
    opened (opening a device can itself do something, such as rewind a
    tape) and the opened descriptor again with ``fstat`` (the path may have
    changed in between). The open never blocks: a FIFO is opened with
    ``O_NONBLOCK``, then refused.

    Args:
        path: The file.

    Returns:
        The open file, positioned at its start; the caller closes it.

    Raises:
        NotRegularFileError: It is a FIFO, a device, a directory or a socket.
        OSError: Any other failure, e.g. ``FileNotFoundError`` or
            ``PermissionError``, as ``open`` raises it.
    """
    kind = file_kind(os.stat(path).st_mode)
    if kind:
        raise NotRegularFileError(path, kind)
    fd = os.open(path, _READ_FLAGS)
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind:
            raise NotRegularFileError(path, kind)
        _clear_nonblock(fd)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes.

    At most ``limit + 1`` bytes are read, whatever ``st_size`` says (files
    under /proc report 0, and a file may grow while it is read).

    Args:
        path: The file.
        limit: The most bytes accepted.

    Returns:
        The file's bytes.

    Raises:
        FileTooLargeError: The file holds more than ``limit`` bytes.
        NotRegularFileError: It is not a regular file (see :func:`open_regular`).
        OSError: It cannot be opened or read.
    """
    with open_regular(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(path, limit)
    return data


def _clear_nonblock(fd: int) -> None:
    """Make reads of ``fd`` blocking again (the flag only served the open)."""
    if sys.platform == "win32":
        return
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


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
    write_bytes_atomic(path, text.encode("utf-8"), durable=durable)


def write_bytes_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` as :func:`write_text_atomic` does (an image).

    Raises:
        OSError: As for :func:`write_text_atomic`; the target is untouched.
    """
    path = Path(path)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
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


def read_json(path: Path, *, limit: int = MAX_JSON_BYTES) -> Any:
    """Read and parse a JSON file: a regular file of at most ``limit`` bytes.

    Args:
        path: The file.
        limit: The most bytes accepted.

    Returns:
        The parsed value.

    Raises:
        MissingFileError: The file does not exist.
        CorruptFileError: It is not a regular file, is larger than ``limit``,
            cannot be read, is not UTF-8 or not valid JSON (e.g. truncated by
            a full disk or written by another tool), or nests too deeply.
    """
    path = Path(path)
    try:
        raw = read_regular_bounded(path, limit)
    except FileNotFoundError:
        raise MissingFileError(path, "no such file") from None
    except (NotRegularFileError, FileTooLargeError) as exc:
        raise CorruptFileError(path, exc.reason) from None
    except OSError as exc:
        raise CorruptFileError(path, f"cannot be read ({exc.strerror})") from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CorruptFileError(path, f"not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        reason = "empty file" if not raw.strip() else f"not valid JSON ({exc})"
        raise CorruptFileError(path, reason) from exc
    except RecursionError:
        raise CorruptFileError(path, "not valid JSON (nested too deeply)") from None


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
