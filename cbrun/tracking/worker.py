"""One thread that makes every MLflow call, so that training never waits on one.

The training thread only appends to a bounded queue; when the queue is full
the call is refused (the caller sends the same data later). The first call
that raises stops the worker: later calls are dropped, and the error is kept
for run.json. Waiting for the queue to drain is bounded by a deadline.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from cbrun.tracking.store import client, error_line

QUEUE_SIZE = 64
Call = Callable[[Any], object]
"""An MLflow call: given the ``MlflowClient``."""


class Worker:
    """A daemon thread running MLflow calls in order.

    Args:
        tracking_uri: The store the client talks to; MLflow is imported and
            the client made on the worker thread (about a second).
    """

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.error: str | None = None
        self._calls: deque[Call] = deque()
        self._busy = False
        self._closing = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._serve, name="cbrun-mlflow", daemon=True
        )
        self._thread.start()

    def submit(self, call: Call, *, force: bool = False) -> bool:
        """Queue ``call``; False when the queue is full or the worker failed.

        Args:
            call: The MLflow call.
            force: Queue it even when the queue is full (the run's last calls).
        """
        with self._changed:
            if self.error is not None:
                return False
            if len(self._calls) >= QUEUE_SIZE and not force:
                return False
            self._calls.append(call)
            self._changed.notify_all()
            return True

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued call; True if done."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._calls or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def close(self) -> None:
        """Let the thread end once its queue is empty (it does not wait)."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()

    def _serve(self) -> None:
        mlflow_client = None
        while True:
            with self._changed:
                while not self._calls:
                    if self._closing:
                        return
                    self._changed.wait()
                call = self._calls.popleft()
                self._busy = True
            try:
                if self.error is None:
                    if mlflow_client is None:
                        mlflow_client = client(self.tracking_uri)
                    call(mlflow_client)
            except Exception as exc:
                self.error = error_line(exc)
            finally:
                with self._changed:
                    self._busy = False
                    if self.error is not None:
                        self._calls.clear()
                    self._changed.notify_all()
