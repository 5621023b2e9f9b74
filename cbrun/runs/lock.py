"""One process at a time per run directory.

The lock is ``flock`` on ``<run dir>/.lock``: the kernel releases it when
the holder dies, even by ``kill -9``, so a dead process never blocks a run.
The file holds the holder's pid (for the message) and is removed when the
lock is released, so a finished run dir has none; a file left by a killed
process is taken over by the next one.

The lock is re-entrant within one thread: ``--resume`` takes it before it
reads the run's files, and the run keeps it while it trains.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from cbrun.errors import CbrunError, ExitCode
from cbrun.runs.layout import LOCK_FILE
from cbrun.runs.printable import printable

# Removing the file races with a process that opened it just before: that
# process may lock an unlinked file. It checks and tries again, this often.
_ATTEMPTS = 10

# Run dirs this process holds: real path -> (thread id, depth).
_held: dict[str, tuple[int, int]] = {}


class RunLockedError(CbrunError):
    """Another process is training (or resuming) this run."""

    exit_code = ExitCode.INVALID_CONFIG


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` while training in it.

    TensorFlow-free and fast: take it before the heavy imports, so that a
    second process on the same run is refused at once.

    Raises:
        RunLockedError: Another live process holds the lock.
    """
    key = os.path.realpath(run_dir)
    thread = threading.get_ident()
    owner, depth = _held.get(key, (thread, 0))
    if depth and owner == thread:
        _held[key] = (thread, depth + 1)
        try:
            yield
        finally:
            _held[key] = (thread, depth)
        return
    path = Path(run_dir) / LOCK_FILE
    descriptor = _acquire(path, run_dir)
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        _held[key] = (thread, 1)
        yield
    finally:
        _held.pop(key, None)
        # Unlink while still holding it: a process that opens the name later
        # creates a new file; one that opened the old file sees it unlinked.
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(descriptor)


def _acquire(path: Path, run_dir: Path) -> int:
    """Open and lock ``path``; the descriptor of the file now at that name.

    The run dir may come from elsewhere: a ``.lock`` that is a symlink, a
    hard link or not a regular file is refused, never followed or truncated.
    """
    where = printable(run_dir)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    for _ in range(_ATTEMPTS):
        try:
            descriptor = os.open(path, flags, 0o644)
        except OSError as exc:
            raise RunLockedError(
                f"cannot lock {where}: its {LOCK_FILE} cannot be opened "
                f"({exc.strerror}); if no cbrun process uses the run, remove it"
            ) from None
        try:
            _check_plain_file(descriptor, where)
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            os.close(descriptor)
            shown = f" (pid {holder})" if holder.isdigit() else ""
            raise RunLockedError(
                f"{where} is in use by another cbrun process{shown}; wait for it to end"
            ) from None
        except BaseException:
            os.close(descriptor)
            raise
        if _same_file(descriptor, path):
            return descriptor
        os.close(descriptor)  # the holder removed it as we opened it: again
    raise RunLockedError(f"{where}: cannot take its lock; try again")


def _check_plain_file(descriptor: int, where: str) -> None:
    held = os.fstat(descriptor)
    if not stat.S_ISREG(held.st_mode) or held.st_nlink > 1:
        raise RunLockedError(
            f"cannot lock {where}: its {LOCK_FILE} is not a plain file (a FIFO, "
            "a device or a hard link); remove it"
        )


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)
