"""Stop a test that hangs, instead of timing one that finishes.

Speed is measured by the benchmarks in ``bench/``. The tests here only need
to know that a hostile input (an alias bomb, a huge number) is refused by a
bound and not by running out of time, so the limit is generous: a busy CI
machine (a garbage collection over a heap full of TensorFlow objects once
took 10 s) must not fail them, while an unbounded expansion still does.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: Far above any bounded answer (milliseconds), far below a real hang.
HANG_SECONDS = 30.0


class HangError(AssertionError):
    """Raised inside the guarded block when it runs past its limit."""


@contextmanager
def fails_after(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Raise :class:`HangError` in the block if it runs longer than ``seconds``.

    Uses ``SIGALRM``, so the block is interrupted even inside a long loop
    and the test fails instead of hanging the suite.

    Args:
        seconds: The limit.

    Raises:
        RuntimeError: Outside the main thread, where signals cannot be used.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("fails_after works only in the main thread")

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise HangError(f"still running after {seconds:g} s: unbounded work?")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
