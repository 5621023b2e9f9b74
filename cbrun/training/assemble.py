"""Build what a run needs from its config: Keras, data, model, fit plan, callbacks.

Shared by ``cbrun train`` and ``cbrun validate --deep``, so that what the
check builds is what training builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cbrun.cluster import Cluster
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.loading import LoadedConfig
from cbrun.config.problems import make_problem
from cbrun.errors import BuildError, ConfigError
from cbrun.training.outcome import TrainingFailed
from cbrun.training.plan import KERAS_BATCH_SIZE, SMOKE_STEPS, FitPlan
from cbrun.training.reporting import Echo, first_line
from cbrun.training.stages import check_built, plan_stages


@dataclass
class Assembled:
    """Everything built from a config before its run directory exists.

    Attributes:
        keras: The imported Keras module.
        data: The loaded data (``cbrun.keras.data.Dataset``).
        model: The compiled model.
        plan: What ``fit`` and ``evaluate`` get.
        feed: How fit reads the data, and why, for the run's log.
        distribute: What run.json records of a distributed run, else None.
        stages: A staged run's stages (:func:`cbrun.training.stages.plan_stages`).
        adapter: What adapted the ``adapt: true`` layers (or restored them),
            whose states :func:`keep_adapted` writes into the run dir; None.
    """

    keras: Any
    data: Any
    model: Any
    plan: FitPlan
    feed: str
    distribute: dict[str, Any] | None = None
    stages: list[Any] = field(default_factory=list)
    adapter: Any = None


def start_keras(loaded: LoadedConfig, *, verbose: bool = False) -> ModuleType:
    """Import Keras with the config's backend; make the user's code importable."""
    from cbrun.keras.env import import_keras

    keras = import_keras(loaded.experiment.backend, verbose=verbose)
    from cbrun.keras.imports import add_import_root

    add_import_root(loaded.base_dir)
    return keras


def seed(keras: Any, config: ExperimentConfig) -> None:
    """Seed every random generator, as a script's ``set_random_seed`` does."""
    from cbrun.keras.env import seed_everything

    seed_everything(keras, config.seed, deterministic=config.deterministic)


def compiled_model(
    config: ExperimentConfig,
    data: Any,
    *,
    scoped: bool,
    base_dir: Path,
    adapter: Any = None,
) -> tuple[Any, Any]:
    """Build and compile the model; check its output against the labels.

    Args:
        config: The config.
        data: The loaded data (or its shapes).
        scoped: Build inside the ``distribute`` strategy's scope.
        base_dir: The config's folder, which a relative ``model.path`` is in.
        adapter: Adapts the ``adapt: true`` layers as they are built (see
            :func:`adapter_for`); None adapts none.

    Returns:
        The model, and the tf.distribute strategy it was built in (or None).
    """
    from cbrun.keras import distribute
    from cbrun.keras.model import build_model, check_output_fits_labels, compile_model

    with distribute.build_scope(config.distribute if scoped else None) as strategy:
        model = build_model(config, data, base_dir=base_dir, adapter=adapter)
        compile_model(model, config)
    check_output_fits_labels(model, config, data)
    check_built(model, config)  # stages against the model they name
    return model, strategy


def callback_context(
    plan: FitPlan, data: Any, run_dir: Path, resumed_epochs: int | None = None
) -> Any:
    """What the callback builders need besides each callback's parameters."""
    from cbrun.keras.callbacks import BuildContext

    return BuildContext(
        run_dir=run_dir,
        train_samples=(
            data.train_samples
            if data.streams is not None
            else plan.training_samples(data.train_samples)
        ),
        batch_size=plan.effective_batch_size,
        resumed_epochs=resumed_epochs,
    )


def assemble(
    loaded: LoadedConfig,
    *,
    smoke: bool,
    verbose: bool,
    cluster: Cluster,
    echo: Echo,
    adapted_from: Path | None = None,
) -> Assembled:
    """Seed, load the data, build and compile the model, plan the fit.

    Args:
        loaded: The validated config.
        smoke: Plan a smoke run.
        verbose: Keep TensorFlow's logs; raise unexpected errors.
        cluster: This process's place in a job.
        echo: Where cbrun's lines go.
        adapted_from: A resumed run's backup folder: its ``adapt: true``
            layers get back the states saved there instead of adapting.

    Raises:
        ConfigError: A value that cannot be built, at its config line.
        TrainingFailed: An unexpected error while building.
    """
    config = loaded.experiment
    keras = start_keras(loaded, verbose=verbose)
    record = _start_distribution(config, cluster, echo)
    seed(keras, config)
    try:
        data = load_data_for(config, loaded.base_dir)
        adapter = adapter_for(config, data, echo, adapted_from, smoke=smoke)
        model, strategy = compiled_model(
            config, data, scoped=True, base_dir=loaded.base_dir, adapter=adapter
        )
        plan = FitPlan.from_config(config.fit, data, smoke=smoke)
        plan, feed = _feed(config, data, plan, cluster)
        stages = plan_stages(config, plan, smoke=smoke)
        if config.fit.class_weight == "balanced":
            feed += f"; class_weight balanced: {plan.class_weight}"
    except BuildError as exc:
        problem = make_problem(loaded.source, loaded.data, exc.path, exc.message)
        raise ConfigError([problem]) from None
    except Exception as exc:
        if verbose:
            raise
        raise TrainingFailed(
            f"{loaded.path}: building the model failed: {first_line(exc)} "
            "(--verbose shows the traceback)"
        ) from None
    if strategy is not None:
        devices = [str(d) for d in strategy.extended.worker_devices]
        record = {"strategy": "mirrored", "processes": 1, "devices": devices}
    return Assembled(keras, data, model, plan, feed, record, stages, adapter)


def adapter_for(
    config: ExperimentConfig,
    data: Any,
    echo: Echo | None,
    adapted_from: Path | None = None,
    *,
    smoke: bool = False,
) -> Any:
    """What adapts the config's ``adapt: true`` layers on the training split.

    Args:
        config: The config.
        data: The loaded data.
        echo: Receives one line per adapted layer.
        adapted_from: A resumed run's backup folder: when it holds the
            states the run began with, they are restored instead.
        smoke: A smoke run adapts on the batches it trains on only.

    Returns:
        A ``cbrun.keras.adapt.Adapter``, or None when no layer says
        ``adapt: true``.
    """
    layers = config.model.layers or []
    if not any(layer.adapt for layer in layers):
        return None
    from cbrun.keras.adapt import ADAPTED_FILE, Adapter

    if adapted_from is not None and (adapted_from / ADAPTED_FILE).is_file():
        return Adapter.restoring(adapted_from / ADAPTED_FILE, echo=echo)

    return Adapter.for_training(
        data,
        validation_split=config.fit.validation_split,
        validation_data=config.fit.validation_data,
        echo=echo,
        batches=SMOKE_STEPS if smoke else None,
        batch_size=config.fit.batch_size or KERAS_BATCH_SIZE,
    )


def keep_adapted(built: Assembled, backup_dir: Path) -> None:
    """Write the adapted layers' states beside the run's backup, for ``--resume``.

    Keras's weights backup holds a Normalization's mean but not a lookup's
    vocabulary; a resumed run restores both from this file.
    """
    if built.adapter is not None:
        built.adapter.save(backup_dir)


def load_data_for(config: ExperimentConfig, base_dir: Path) -> Any:
    """Load the config's data; streaming sources batch and split as fit asks."""
    from cbrun.keras.data import load_data
    from cbrun.keras.data.label_checks import check_labels_fit_loss

    data = load_data(
        config.data,
        seed=config.seed,
        base_dir=base_dir,
        batch_size=config.fit.batch_size or KERAS_BATCH_SIZE,
        validation_split=config.fit.validation_split,
    )
    check_labels_fit_loss(config, data)
    return data


def _start_distribution(
    config: ExperimentConfig, cluster: Cluster, echo: Echo
) -> dict[str, Any] | None:
    """Join a ``data_parallel`` job; return what run.json records of it."""
    if config.distribute is None or config.distribute.strategy != "data_parallel":
        return None
    from cbrun.keras import distribute

    devices = distribute.start_data_parallel(cluster, config.distribute.devices, echo)
    return {"strategy": "data_parallel", **cluster.describe(), "devices": devices}


def _feed(
    config: ExperimentConfig, data: Any, plan: FitPlan, cluster: Cluster
) -> tuple[FitPlan, str]:
    """The plan with the data feed chosen, and the feed's description."""
    from cbrun.keras.feeding import DatasetFeed, as_datasets, choose_feed

    if data.streams is not None:
        streams = data.streams
        validation = streams.validation
        if validation is None and plan.validation_data is not None:
            validation = plan.validation_data  # validation_data: test
        fed = DatasetFeed(streams.train, validation, streams.test, plan.class_weight)
        return plan.fed_from(fed), "tf.data (the source's own pipeline)"
    feed, why = choose_feed(
        config.data.feed,
        backend=config.backend,
        distributed=config.distribute is not None,
        x=data.x_train,
        y=data.y_train,
    )
    data_parallel = (
        config.distribute is not None and config.distribute.strategy == "data_parallel"
    )
    if not (data_parallel or feed == "tf.data"):
        return plan, f"{feed} ({why})"
    # Keras shards tf.data input across processes; numpy it cannot.
    datasets = as_datasets(
        data,
        batch_size=plan.effective_batch_size,
        validation_split=plan.validation_split,
        validation_data=plan.validation_data,
        validation_batch_size=plan.validation_batch_size,
        shuffle=plan.shuffle,
        class_weight=plan.class_weight,
        seed=config.seed,
        processes=cluster.num_processes,
    )
    described = "tf.data (data_parallel)" if data_parallel else f"{feed} ({why})"
    return plan.fed_from(datasets), described
