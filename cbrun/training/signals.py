"""Ctrl-C and SIGTERM during a run: a clean stop after the current step.

The first signal is turned into a request that a callback checks before
every batch, so the epoch's bookkeeping stays whole; a second one stops at
once. Either way the run is recorded as interrupted and can be resumed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from cbrun.errors import CbrunError, ExitCode
from cbrun.training.reporting import Echo, log_line


class Interrupted(CbrunError):
    """Training was stopped by SIGINT (Ctrl-C) or SIGTERM."""

    def __init__(self, signal_name: str, exit_code: ExitCode) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.exit_code = exit_code


class StopRequest:
    """Turns SIGINT and SIGTERM into a stop after the current step.

    The first signal is remembered and checked by a callback before the next
    batch; a second one stops at once.

    Args:
        echo: Told, at the first signal, that the run will stop.
    """

    def __init__(self, echo: Echo = log_line) -> None:
        self.echo = echo
        self.signal_name: str | None = None
        self.exit_code = ExitCode.INTERRUPTED

    def handler(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: remember the first signal, raise on the second."""
        name = signal.Signals(signum).name
        code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
        if self.signal_name is not None:
            raise Interrupted(name, code)
        self.signal_name, self.exit_code = name, code
        self.echo(f"{name}: stopping after the current step (again to stop at once)")

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal came; called before each batch."""
        if self.signal_name is not None:
            raise Interrupted(self.signal_name, self.exit_code)


@contextmanager
def signals_stop_training(request: StopRequest) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``request`` while training runs."""
    try:
        previous = {
            sig: signal.signal(sig, request.handler)
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
    except ValueError:  # Not the main thread: leave signals alone.
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def join_ignoring_ctrl_c(thread: threading.Thread) -> None:
    """Wait for a short thread; a Ctrl-C meanwhile is ignored.

    The history plot takes a fraction of a second; a Ctrl-C then must not turn
    a recorded run into an "Interrupted." exit.
    """
    while thread.is_alive():
        with contextlib.suppress(KeyboardInterrupt):
            thread.join()
