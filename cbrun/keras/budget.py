"""A time budget for cbrun's repeated work during training.

Backups and per-epoch records are insurance: on tiny epochs, writing them
every epoch costs more than the run can afford (a backup of a small model
takes ~15 ms, a whole epoch ~130 ms). A :class:`CostBudget` lets such work
happen only when its last cost is at most a share of the time since it last
happened. Long epochs then get it every epoch; short ones every few epochs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class CostBudget:
    """Decide when a repeated cost is affordable.

    The work is allowed when its last cost (or, before it first ran, an
    estimate) is at most ``share`` of the time since it last ran (or since
    :meth:`restart`). A first run with no estimate is always allowed.

    Args:
        share: The most of the time the work may take, e.g. ``0.003``;
            ``None`` allows it every time.
        clock: Seconds, monotonic. Defaults to ``time.monotonic``.

    Example:
        ::

            budget = CostBudget(0.003)
            if budget.allows():
                with budget.spend():
                    save()
    """

    def __init__(
        self, share: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.share = share
        self.clock = clock
        self.last_cost: float | None = None
        self._since = clock()

    def restart(self) -> None:
        """Count the time available from now (training begins)."""
        self._since = self.clock()

    def allows(self, estimate: float | None = None) -> bool:
        """Whether the work fits in the budget now.

        Args:
            estimate: Its expected cost in seconds, used until it has run once.
        """
        cost = self.last_cost if self.last_cost is not None else estimate
        if self.share is None or cost is None:
            return True
        return cost <= self.share * (self.clock() - self._since)

    def charge(self, seconds: float) -> None:
        """Add work done right after the last :meth:`spend` to its cost."""
        self.last_cost = (self.last_cost or 0.0) + seconds
        self._since = self.clock()

    @contextmanager
    def spend(self) -> Iterator[None]:
        """Time the work done inside, and count the budget from its end."""
        start = self.clock()
        try:
            yield
        finally:
            self._since = self.clock()
            self.last_cost = self._since - start
