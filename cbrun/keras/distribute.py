"""Run ``fit`` on an existing distribution engine, never a home-made one.

- ``mirrored``: ``tf.distribute.MirroredStrategy`` over one machine's devices;
  the model and optimizer are built in its scope and ``fit.batch_size`` is the
  global batch.
- ``data_parallel``: Keras's distribution API on JAX, over many processes on
  one or many machines; the input goes through ``tf.data``, which Keras
  shards across processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from cbrun.cluster import ENV_JOIN_TIMEOUT, Cluster
from cbrun.config.experiment import DistributeConfig
from cbrun.errors import CbrunError, ExitCode


class ClusterError(CbrunError):
    """The processes of a job could not start together or lost each other."""

    exit_code = ExitCode.TRAINING_FAILED


def start_data_parallel(
    cluster: Cluster, devices: list[str] | None, echo: Callable[[str], None]
) -> list[str]:
    """Join the job (JAX's coordination service) and set Keras's distribution.

    When a process does not join within ``cluster.join_timeout`` seconds,
    JAX's coordination service ends this process itself (a fatal error from
    C++, exit code 134), so the line printed before joining is what tells the
    user what was being waited for.

    Returns:
        The devices used, across all processes.

    Raises:
        ClusterError: Joining failed with a Python error.
    """
    import jax

    # JAX's CPU collectives need gloo; GPUs and TPUs ignore the setting.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if cluster.multi_process:
        echo(
            f"process {cluster.process_id}: joining {cluster.num_processes} "
            f"processes at {cluster.coordinator}; a process that is not there "
            f"within {cluster.join_timeout} s ends the job ({ENV_JOIN_TIMEOUT})"
        )
        try:
            jax.distributed.initialize(
                coordinator_address=cluster.coordinator,
                num_processes=cluster.num_processes,
                process_id=cluster.process_id,
                initialization_timeout=cluster.join_timeout,
                heartbeat_timeout_seconds=cluster.heartbeat_timeout,
            )
        except Exception as exc:
            raise ClusterError(
                f"process {cluster.process_id} of {cluster.num_processes} could not "
                f"join the job at {cluster.coordinator} within "
                f"{cluster.join_timeout} s: {str(exc).strip().splitlines()[0]}; "
                "check that every process started with the same --coordinator "
                "and --num-processes"
            ) from None
    import keras

    found = keras.distribution.list_devices()
    chosen = [d for d in found if devices is None or d in devices]
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=chosen))
    return [str(d) for d in chosen]


@contextlib.contextmanager
def build_scope(distribute: DistributeConfig | None) -> Iterator[Any]:
    """Yield the strategy whose scope the model and optimizer are built in."""
    if distribute is None or distribute.strategy != "mirrored":
        yield None
        return
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(devices=distribute.devices)
    with strategy.scope():
        yield strategy
