"""Ctrl-C and SIGTERM in every phase of a run: what a signal does, and when.

One :class:`StopRequest` receives SIGINT and SIGTERM for the whole of a run
(:func:`signals_routed`); the run says, phase by phase, how a first signal is
acted on:

- **now** (loading the config, importing TensorFlow, loading data, building
  and compiling the model, building callbacks): the signal stops the run at
  once. A run dir that exists records ``interrupted``.
- **after the current step** (``fit``): the signal is acknowledged and a
  callback stops training before the next batch, so the epoch's bookkeeping
  stays whole and the backup lets ``--resume`` continue.
- **finish** (after ``fit``: evaluating, saving the model): training is over,
  so the signal is acknowledged, evaluation stops at its next batch and
  the model is still saved (a save is short); the run records
  ``interrupted``.
- **shielded** (writing the final record, waiting for the history plot):
  the signal is remembered and acted on as soon as the write is done, so
  run.json is never left saying ``running``.

In every phase but *now* a second signal stops at once; a signal that was
acknowledged is always acted on: the run ends ``interrupted`` with exit code
130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from cbrun.errors import CbrunError, ExitCode
from cbrun.training.reporting import Echo, log_line

_NOW, _AFTER, _SHIELD = "now", "after", "shield"


class Interrupted(CbrunError):
    """Training was stopped by SIGINT (Ctrl-C) or SIGTERM."""

    def __init__(self, signal_name: str, exit_code: ExitCode) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.exit_code = exit_code


class SignalStop(KeyboardInterrupt):
    """Raised inside the run when a signal stops it; :class:`Interrupted` outside.

    A ``KeyboardInterrupt`` so that Keras, TensorFlow and user code, which
    catch ``Exception`` in places, let it through as they let Ctrl-C.

    Attributes:
        signal_name: ``SIGINT`` or ``SIGTERM``.
        exit_code: 130 or 143.
        at_once: Raised by the signal handler (a second signal, or a phase
            that stops at once) rather than by a check at a safe point.
    """

    def __init__(self, signal_name: str, exit_code: ExitCode, at_once: bool) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = exit_code
        self.at_once = at_once

    def interrupted(self) -> Interrupted:
        """The error the API raises for it."""
        return Interrupted(self.signal_name, self.exit_code)


def as_signal_stop(exc: KeyboardInterrupt) -> SignalStop:
    """A plain ``KeyboardInterrupt`` (no handler installed) is a SIGINT at once."""
    if isinstance(exc, SignalStop):
        return exc
    return SignalStop("SIGINT", ExitCode.INTERRUPTED, at_once=True)


class StopRequest:
    """Turns SIGINT and SIGTERM into a stop, as the current phase allows.

    Outside any phase context a signal stops at once. See the module
    docstring for the phases.

    Args:
        echo: Told, at a first signal it defers, what the run will do.
    """

    def __init__(self, echo: Echo = log_line) -> None:
        self.echo = echo
        self.signal_name: str | None = None
        self.exit_code = ExitCode.INTERRUPTED
        self._mode = _NOW
        self._note = ""

    @property
    def pending(self) -> bool:
        """Whether a signal came (and the run must end ``interrupted``)."""
        return self.signal_name is not None

    def handler(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: remember the first signal; raise as the phase says."""
        name = signal.Signals(signum).name
        code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
        first = self.signal_name is None
        if first:
            self.signal_name, self.exit_code = name, code
        if self._mode == _SHIELD:
            return
        if self._mode == _NOW or not first:
            raise SignalStop(self.signal_name or name, self.exit_code, at_once=True)
        self.echo(f"{name}: {self._note} (again to stop at once)")

    def check(self) -> None:
        """Raise :class:`SignalStop` if a signal came; called at safe points."""
        if self.signal_name is not None:
            raise SignalStop(self.signal_name, self.exit_code, at_once=False)

    @contextmanager
    def deferred(self, note: str) -> Iterator[None]:
        """Within: a first signal is acknowledged with ``note`` and remembered.

        The code inside acts on it at its safe points (:meth:`check`); a second
        signal stops at once.
        """
        with self._mode_as(_AFTER, note):
            yield

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Within: signals are only remembered (for short writes that must finish)."""
        with self._mode_as(_SHIELD, ""):
            yield

    @contextmanager
    def _mode_as(self, mode: str, note: str) -> Iterator[None]:
        previous = self._mode, self._note
        self._mode, self._note = mode, note
        try:
            yield
        finally:
            self._mode, self._note = previous


@contextmanager
def signals_routed(request: StopRequest) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``request`` for the whole of a run.

    A :class:`SignalStop` that leaves the block becomes :class:`Interrupted`;
    a signal that came but was not acted on inside (it arrived as the run
    returned) is acted on here. Outside the main thread signals are left alone.

    Raises:
        Interrupted: A signal stopped the run.
    """
    try:
        previous = {
            sig: signal.signal(sig, request.handler)
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
    except ValueError:  # Not the main thread: Python delivers signals there only.
        previous = {}
    try:
        yield
        request.check()
    except KeyboardInterrupt as exc:
        raise as_signal_stop(exc).interrupted() from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# The signal that stopped the command outside a run, if any: libraries that
# run Python callbacks (pydantic building a schema, for one) may wrap the
# exception a handler raises, and the caller still owes the right exit code.
_stopped_by: SignalStop | None = None


def sigterm_like_ctrl_c() -> None:
    """Make SIGINT and SIGTERM raise :class:`SignalStop` outside a run too.

    For a command's main thread: between runs, and while configs load, SIGTERM
    then unwinds like Ctrl-C instead of killing the process; the caller exits
    with ``exc.exit_code`` of the ``KeyboardInterrupt`` it catches (130 for a
    plain one), or with :func:`stopped_by`'s when a library wrapped it. Inside
    a run :func:`signals_routed` takes over.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        global _stopped_by
        name = signal.Signals(signum).name
        code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
        _stopped_by = SignalStop(name, code, at_once=True)
        raise _stopped_by

    with contextlib.suppress(ValueError):  # not the main thread: leave it
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)


@contextmanager
def signals_unwind() -> Iterator[None]:
    """:func:`sigterm_like_ctrl_c` for a block; the old handlers put back after.

    A command runs inside it, so a process that calls several commands (a
    test, a notebook) keeps its own handlers afterwards.
    """
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    sigterm_like_ctrl_c()
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, TypeError):  # not the main thread
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def stopped_by() -> SignalStop | None:
    """The signal that stopped the command outside a run, if one did."""
    return _stopped_by
