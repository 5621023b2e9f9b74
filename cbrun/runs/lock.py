"""One process at a time per run directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from cbrun.errors import CbrunError, ExitCode
from cbrun.runs.layout import LOCK_FILE


class RunLockedError(CbrunError):
    """Another process is training (or resuming) this run."""

    exit_code = ExitCode.INVALID_CONFIG


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` while training in it.

    ``flock`` is released by the kernel when the holder dies, even by
    ``kill -9``, so a crashed run never leaves a stale lock behind.

    Raises:
        RunLockedError: Another live process holds the lock.
    """
    path = run_dir / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            raise RunLockedError(
                f"{run_dir} is in use by another cbrun process"
                f"{f' (pid {holder})' if holder else ''}; wait for it to end"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(descriptor)
