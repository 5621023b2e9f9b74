"""Checks of ``stages`` against the rest of a config, without TensorFlow.

Unique stage names, layer names against ``model.layers`` (with did-you-mean)
and the keys a stage may not change. A saved model's or a builder's layer
names are only known once it is built: :func:`cbrun.training.stages.check_built`
checks those in ``validate --deep`` and at the start of ``train``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cbrun.config.keras_names import APPLICATIONS
from cbrun.config.problems import ProblemList, make_problem
from cbrun.config.stages import StageConfig
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem
from cbrun.suggest import did_you_mean, shorten, shown

# fit keys a stage may not change, and why. The data is loaded and split once
# per run, and the loop sets each stage's initial_epoch itself.
FIXED_FIT_KEYS = {
    "validation_split": "the data is split once for the whole run",
    "validation_data": "the data is split once for the whole run",
    "initial_epoch": "epochs count on across stages by themselves",
    "class_weight": "the class weights are worked out once for the run's data",
}
# Sources that give batched tf.data pipelines, and the fit keys those used.
STREAMED_SOURCES = ("images", "text", "timeseries")
FED_FIT_KEYS = ("batch_size", "shuffle", "validation_batch_size")
# compile keys a stage may not change: history.json is one history, so every
# epoch logs the same quantities.
FIXED_COMPILE_KEYS = ("metrics", "weighted_metrics")


def layer_names(config: Any) -> list[str] | None:
    """The names ``model.layers`` gives its layers; None for a saved or built model.

    Keras names unnamed layers itself (``dense_1``), which a config cannot
    know, so only the names written in the config count.
    """
    layers = config.model.layers
    if layers is None:
        return None
    names: list[str] = []
    for layer in layers:
        name = getattr(layer, "name", None)
        if name is None:
            name = (layer.model_extra or {}).get("name")
        if isinstance(name, str):
            names.append(name)
    return names


def unknown_layer_message(
    name: str,
    known: list[str],
    unnamed: list[str] | None = None,
    applications: list[str] | None = None,
) -> str:
    """The message for ``trainable`` naming a layer the model does not have.

    Args:
        name: The name ``trainable`` gives.
        known: The layers' names.
        unnamed: The layers without a ``name`` (``model.layers[2] (Dense)``):
            Keras names them itself, which the config cannot use.
        applications: Named keras.applications layers (``base (VGG16)``),
            whose inner layers (``block5_conv1``) a stage cannot name.
    """
    if not known:
        return (
            f"no layer is named {shown(name)}; no layer has a `name`: "
            "give the layers to freeze or unfreeze a `name` (Keras's own names, "
            "like dense_1, depend on what else was built)"
        )
    listed = shorten(", ".join(known), 200)
    message = f"no layer is named {shown(name)}; layers named: {listed}"
    hint = did_you_mean(name, known)
    if not hint and unnamed:
        some = ", ".join(unnamed[:3]) + (", ..." if len(unnamed) > 3 else "")
        verb = "has" if len(unnamed) == 1 else "have"
        hint = (
            f"; {some} {verb} no `name`: give it one to freeze or unfreeze it "
            "(Keras's own names, like dense_1, depend on what else was built)"
        )
    if not hint and applications:
        hint = (
            f"; a stage sets {', '.join(applications)} trainable as a whole: "
            "the layers inside an application cannot be named here (to unfreeze "
            "only its top, return keras.Model(base.input, ...) from a model.build "
            "function: the base's layers are then the model's)"
        )
    return message + hint


def application_layers(config: Any) -> list[str]:
    """``base (VGG16)`` of each named keras.applications layer."""
    return [
        f"{layer.name} ({layer.type})"
        for layer in config.model.layers or []
        if layer.type in APPLICATIONS and isinstance(layer.name, str)
    ]


def unnamed_layers(config: Any) -> list[str]:
    """``model.layers[i] (Type)`` of each layer without a ``name``."""
    found: list[str] = []
    for index, layer in enumerate(config.model.layers or []):
        name = getattr(layer, "name", None) or (layer.model_extra or {}).get("name")
        if not isinstance(name, str):
            found.append(f"model.layers[{index}] ({layer.type})")
    return found


def _stages(config: Any) -> Iterator[tuple[ConfigPath, StageConfig]]:
    for index, stage in enumerate(config.stages or []):
        yield ("stages", index), stage


def check_stages(config: Any, data: Any, source: SourceMap) -> list[Problem]:
    """Check ``stages`` against the rest of the config, without TensorFlow.

    Args:
        config: The validated ``ExperimentConfig``.
        data: The plain config data, for positions.
        source: Where each value came from.

    Returns:
        Problems at the stage key they concern.
    """
    if config.stages is None:
        return []
    found = ProblemList(source, data)
    add = found.add

    if not config.stages:
        add(("stages",), "stages is empty; give at least one stage or remove it")
    if config.fit.initial_epoch:
        add(
            ("fit", "initial_epoch"),
            "with stages, epochs count from 0 across the stages; remove "
            "fit.initial_epoch (--resume continues a stopped run)",
        )
    known = layer_names(config)
    seen: set[str] = set()
    for where, stage in _stages(config):
        if stage.name in seen:
            add((*where, "name"), f"stage name {shown(stage.name)} is used twice")
        seen.add(stage.name)
        if known is not None:
            for layer in stage.trainable:
                if layer not in known:
                    add(
                        (*where, "trainable", layer),
                        unknown_layer_message(
                            layer,
                            known,
                            unnamed_layers(config),
                            application_layers(config),
                        ),
                        key=True,
                    )
        for name in stage.fit_overrides():
            kind = getattr(config.data, "source", None)
            if name in FED_FIT_KEYS and kind in STREAMED_SOURCES:
                # Train says so at build time too (any tf.data feed).
                add(
                    (*where, "fit", name),
                    f"a stage cannot change fit.{name} with this data: it is fed "
                    "as tf.data, batched and shuffled once for the whole run; "
                    "set it in the top-level fit",
                    key=True,
                )
            if name in FIXED_FIT_KEYS:
                add(
                    (*where, "fit", name),
                    f"a stage cannot change fit.{name}: {FIXED_FIT_KEYS[name]}; "
                    "set it in the top-level fit",
                    key=True,
                )
        for name in stage.compile_overrides():
            if name in FIXED_COMPILE_KEYS:
                add(
                    (*where, "compile", name),
                    f"a stage cannot change compile.{name}: history.json is one "
                    "history, so every stage logs the same metrics; set them in "
                    "the top-level compile",
                    key=True,
                )
    return [
        *found.problems,
        *_idle_stage_warnings(config, data, source),
        *top_epochs_override_problems(config, data, source),
    ]


def stages_with_own_epochs(config: Any) -> list[tuple[int, StageConfig]]:
    """The stages (with their indexes) whose own ``fit.epochs`` wins over the top's."""
    return [
        (index, stage)
        for index, stage in enumerate(config.stages or [])
        if "epochs" in stage.fit_overrides()
    ]


def own_epochs_listed(own: list[tuple[int, StageConfig]]) -> str:
    """E.g. ``'head' (stages.0): 10, 'fine_tune' (stages.1): 3``."""
    return ", ".join(
        f"{shown(stage.name)} (stages.{index}): {stage.fit_overrides()['epochs']}"
        for index, stage in own
    )


def top_epochs_override_problems(
    config: Any, data: Any, source: SourceMap
) -> list[Problem]:
    """Refuse a ``--set fit.epochs=N`` that no stage trains with.

    A stage's own ``fit.epochs`` wins over the top level's, so with stages
    that all set theirs, the override would change nothing and the run would
    train as long as before (a ``--resume`` asking for more epochs too). When
    only some stages take it, a warning names those that keep their own.
    """
    path: ConfigPath = ("fit", "epochs")
    if not config.stages or source.origin(path) is None:
        return []
    fit = data.get("fit") if isinstance(data, dict) else None
    if not isinstance(fit, dict) or "epochs" not in fit:
        return []  # set by no override (an override made `fit` for another key)
    value = config.fit.epochs
    own = stages_with_own_epochs(config)
    if not own:
        return []
    listed = own_epochs_listed(own)
    last_index, last = own[-1]
    fix = f"--set stages.{last_index}.fit.epochs={value}"
    if len(own) == len(config.stages):
        message = (
            f"fit.epochs={value} changes no stage: every stage sets its own "
            f"fit.epochs ({listed}), which wins over the top-level one, so the run "
            f"would train as long as without it; set a stage's epochs instead, "
            f"e.g. {fix} for stage {shown(last.name)}"
        )
        return [make_problem(source, data, path, message)]
    taking = ", ".join(
        shown(stage.name)
        for stage in config.stages
        if "epochs" not in stage.fit_overrides()
    )
    message = (
        f"fit.epochs={value} sets the epochs of {taking} only: {listed} "
        f"{'keeps its' if len(own) == 1 else 'keep their'} own fit.epochs; to "
        f"change {'it' if len(own) == 1 else 'one'}, e.g. {fix}"
    )
    return [make_problem(source, data, path, message, severity="warning")]


def _idle_stage_warnings(config: Any, data: Any, source: SourceMap) -> list[Problem]:
    """Warn of a stage that changes nothing and of ``trainable`` already so.

    A stage that sets ``trainable`` is compiled again, with a new optimizer
    (its moments and step count start over), so a flag that is already set
    costs the optimizer state for nothing.
    """
    flags: dict[str, bool] = {}
    for layer in config.model.layers or []:
        name = layer.name or (layer.model_extra or {}).get("name")
        if isinstance(name, str):
            flags[name] = layer.trainable is not False
    problems: list[Problem] = []
    stages = list(_stages(config))
    for index, (where, stage) in enumerate(stages):
        given = stage.trainable or stage.compile_overrides() or stage.fit_overrides()
        if index and not given:
            before = stages[index - 1][1].name
            problems.append(
                make_problem(
                    source,
                    data,
                    where,
                    f"stage {shown(stage.name)} changes nothing: it trains on as "
                    f"stage {shown(before)} for the top-level fit.epochs; give it "
                    "trainable, compile or fit, or give those epochs to "
                    f"{shown(before)}",
                    severity="warning",
                )
            )
        for layer, flag in stage.trainable.items():
            if flags.get(layer) is flag:
                state = "trainable" if flag else "frozen"
                cost = (
                    "; setting it compiles the model again with a new optimizer "
                    "(its state starts over): remove it unless that is what you want"
                    if index
                    else " by model.layers; remove it"
                )
                problems.append(
                    make_problem(
                        source,
                        data,
                        (*where, "trainable", layer),
                        f"{shown(layer)} is already {state}{cost}",
                        severity="warning",
                        key=True,
                    )
                )
            if layer in flags:
                flags[layer] = flag
    return problems
