"""Where this process stands in a multi-process job (``strategy: data_parallel``).

The cluster comes from ``--coordinator HOST:PORT --num-processes N
--process-id I`` or, for launchers such as a Kubernetes Job or SLURM, from
``CBRUN_COORDINATOR``, ``CBRUN_NUM_PROCESSES`` and ``CBRUN_PROCESS_ID``.
TensorFlow-free: it is parsed before anything heavy is imported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cbrun.errors import UsageError

ENV_COORDINATOR = "CBRUN_COORDINATOR"
ENV_NUM_PROCESSES = "CBRUN_NUM_PROCESSES"
ENV_PROCESS_ID = "CBRUN_PROCESS_ID"
ENV_JOIN_TIMEOUT = "CBRUN_JOIN_TIMEOUT"
ENV_HEARTBEAT_TIMEOUT = "CBRUN_HEARTBEAT_TIMEOUT"

_ADDRESS = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class Cluster:
    """One process's place in a job.

    Attributes:
        coordinator: ``HOST:PORT`` of process 0's coordination service, or
            None for a single process.
        num_processes: Processes in the job.
        process_id: This process's index, 0 to ``num_processes - 1``; process
            0 is the only one that writes the run directory.
        join_timeout: Seconds to wait for every process to join.
        heartbeat_timeout: Seconds after which a silent process counts as
            dead, so that the others stop instead of hanging.
    """

    coordinator: str | None = None
    num_processes: int = 1
    process_id: int = 0
    join_timeout: int = 120
    heartbeat_timeout: int = 60

    @property
    def is_writer(self) -> bool:
        """Whether this process writes the run directory."""
        return self.process_id == 0

    @property
    def multi_process(self) -> bool:
        """Whether other processes take part."""
        return self.num_processes > 1

    def check_fits(self, distribute: Any, config_file: object) -> None:
        """Refuse a multi-process job for a config that is not ``data_parallel``.

        Args:
            distribute: The config's ``distribute`` section (or None).
            config_file: The config, named in the message.

        Raises:
            UsageError: Several processes, and no ``data_parallel`` strategy.
        """
        if self.multi_process and getattr(distribute, "strategy", None) != (
            "data_parallel"
        ):
            raise UsageError(
                f"{config_file}: --num-processes {self.num_processes} needs "
                "`distribute: {strategy: data_parallel}` and `backend: jax` in "
                "the config"
            )

    def describe(self) -> dict[str, object]:
        """The cluster as recorded in run.json."""
        return {
            "coordinator": self.coordinator,
            "processes": self.num_processes,
            "process_id": self.process_id,
        }


def _integer(name: str, text: str | int | None, low: int) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, got {text!r}") from None
    if value < low:
        raise UsageError(f"{name} must be at least {low}, got {value}")
    return value


def parse_cluster(
    coordinator: str | None,
    num_processes: int | None,
    process_id: int | None,
    environ: Mapping[str, str] = os.environ,
) -> Cluster:
    """Combine the options with the environment into a checked :class:`Cluster`.

    Options win over environment variables.

    Raises:
        UsageError: An address that does not parse, a process id outside
            ``0..N-1``, or a coordinator missing for several processes.
    """
    address = coordinator or environ.get(ENV_COORDINATOR) or None
    # `is not None`, not `or`: an explicit 0 must be refused, not read as unset.
    count = _integer(
        "--num-processes",
        num_processes if num_processes is not None else environ.get(ENV_NUM_PROCESSES),
        1,
    )
    index = _integer(
        "--process-id",
        process_id if process_id is not None else environ.get(ENV_PROCESS_ID),
        0,
    )
    count = count or 1
    index = index or 0
    if address is not None:
        match = _ADDRESS.match(address)
        if not match or not 0 < int(match["port"]) < 65536:
            raise UsageError(
                f"--coordinator must be HOST:PORT (e.g. 10.0.0.1:12345 or "
                f"node-0:12345), got {address!r}"
            )
    if index >= count:
        raise UsageError(
            f"--process-id {index} is outside 0..{count - 1} for "
            f"--num-processes {count}"
        )
    if count > 1 and address is None:
        raise UsageError(
            f"{count} processes need --coordinator HOST:PORT (process 0's address)"
        )
    join = _integer(ENV_JOIN_TIMEOUT, environ.get(ENV_JOIN_TIMEOUT), 1) or 120
    heartbeat = _integer(ENV_HEARTBEAT_TIMEOUT, environ.get(ENV_HEARTBEAT_TIMEOUT), 1)
    return Cluster(address, count, index, join, heartbeat or 60)
