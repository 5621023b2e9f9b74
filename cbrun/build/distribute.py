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
from cbrun.errors import BuildError, CbrunError, ExitCode


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


def _batched(x: Any, y: Any, batch: int, processes: int) -> Any:
    """A dataset of whole global batches, the same number for every process.

    Keras rebatches each global batch into ``batch / processes`` and deals
    the pieces out in turn; a last partial batch would give one process a
    step the others do not take, and the job would hang in a collective.
    A split smaller than one batch is batched as a whole (rounded down to a
    multiple of ``processes``).
    """
    import tensorflow as tf

    size = min(batch, len(x) - len(x) % processes) if processes > 1 else batch
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(
        max(size, processes), drop_remainder=processes > 1
    )


def as_datasets(
    data: Any, fit_arguments: dict[str, Any], seed: int, processes: int = 1
) -> tuple[Any, dict[str, Any], Any]:
    """Turn numpy arrays into batched ``tf.data`` pipelines for ``fit``.

    Keras splits ``validation_split`` off numpy input only; for a dataset the
    same split (the last fraction, before shuffling) is made here. With
    several processes the last partial batch of each split is dropped.

    Returns:
        The training dataset, the remaining fit arguments, and the test
        dataset (or None).

    Raises:
        BuildError: ``fit.batch_size`` does not divide among the processes.
    """
    import tensorflow as tf

    arguments = dict(fit_arguments)
    batch = arguments.pop("batch_size", None) or 32
    if batch % processes:
        raise BuildError(
            f"the global batch {batch} does not divide among {processes} "
            f"processes; use a multiple of {processes}",
            ("fit", "batch_size"),
        )
    split = arguments.pop("validation_split", 0.0)
    shuffle = arguments.pop("shuffle", True)
    validation_batch = arguments.pop("validation_batch_size", None) or batch
    x, y = data.x_train, data.y_train
    if split:
        cut = int(len(x) * (1.0 - split))
        x, y, x_val, y_val = x[:cut], y[:cut], x[cut:], y[cut:]
        arguments["validation_data"] = _batched(
            x_val, y_val, validation_batch, processes
        )
    elif isinstance(arguments.get("validation_data"), tuple):
        x_val, y_val = arguments["validation_data"]
        arguments["validation_data"] = _batched(
            x_val, y_val, validation_batch, processes
        )
    train = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        train = train.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    train = train.batch(batch, drop_remainder=processes > 1)
    test = None
    if data.x_test is not None:
        test = _batched(data.x_test, data.y_test, batch, processes)
    return train, arguments, test
