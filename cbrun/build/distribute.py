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
from collections.abc import Iterator
from typing import Any

from cbrun.cluster import Cluster
from cbrun.config.experiment import DistributeConfig
from cbrun.errors import CbrunError, ExitCode


class ClusterError(CbrunError):
    """The processes of a job could not start together or lost each other."""

    exit_code = ExitCode.TRAINING_FAILED


def start_data_parallel(cluster: Cluster, devices: list[str] | None) -> list[str]:
    """Join the job (JAX's coordination service) and set Keras's distribution.

    Returns:
        The devices used, across all processes.

    Raises:
        ClusterError: A process did not join within ``cluster.join_timeout``.
    """
    import jax

    # JAX's CPU collectives need gloo; GPUs and TPUs ignore the setting.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if cluster.multi_process:
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


def as_datasets(
    data: Any, fit_arguments: dict[str, Any], seed: int
) -> tuple[Any, dict[str, Any], Any]:
    """Turn numpy arrays into batched ``tf.data`` pipelines for ``fit``.

    Keras splits ``validation_split`` off numpy input only; for a dataset the
    same split (the last fraction, before shuffling) is made here.

    Returns:
        The training dataset, the remaining fit arguments, and the test
        dataset (or None).
    """
    import tensorflow as tf

    arguments = dict(fit_arguments)
    batch = arguments.pop("batch_size", None) or 32
    split = arguments.pop("validation_split", 0.0)
    shuffle = arguments.pop("shuffle", True)
    x, y = data.x_train, data.y_train
    if split:
        cut = int(len(x) * (1.0 - split))
        x, y, x_val, y_val = x[:cut], y[:cut], x[cut:], y[cut:]
        arguments["validation_data"] = tf.data.Dataset.from_tensor_slices(
            (x_val, y_val)
        ).batch(arguments.pop("validation_batch_size", None) or batch)
    elif isinstance(arguments.get("validation_data"), tuple):
        x_val, y_val = arguments["validation_data"]
        arguments["validation_data"] = tf.data.Dataset.from_tensor_slices(
            (x_val, y_val)
        ).batch(batch)
    train = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        train = train.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    test = None
    if data.x_test is not None:
        test = tf.data.Dataset.from_tensor_slices((data.x_test, data.y_test)).batch(
            batch
        )
    return train.batch(batch), arguments, test
