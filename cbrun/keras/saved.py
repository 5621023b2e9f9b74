"""What it takes to load a run's ``model.keras`` that holds the user's code.

Keras 3 saves a user function or class (``activation: {function:
mymod:swishy}``, a ``Lambda``'s function, ``type: mymod:MyLayer``, a loss
``mymod:my_loss``) by its name only and, for safety, never imports the
module a saved file names: ``keras.saving.load_model`` finds the object only
in ``custom_objects`` or among those registered with
``keras.saving.register_keras_serializable`` in the loading process. cbrun
registering them while it trains would not help a later process (the
registry is not saved), and it would change the names a hand-written script
saves; so cbrun saves what the script saves and says which
``custom_objects`` load it, and loads with them where it loads such a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras

from cbrun.config.base import IMPORT_PATH_RE
from cbrun.config.experiment import ExperimentConfig
from cbrun.errors import ConfigPath
from cbrun.keras.imports import import_object
from cbrun.keras.values import is_function_value


def _specs(value: Any, in_compile: bool) -> Iterator[str]:
    """The import paths of user objects in a config value, in order."""
    if is_function_value(value):
        yield value["function"]
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "type" and isinstance(item, str) and IMPORT_PATH_RE.match(item):
                yield item
            else:
                yield from _specs(item, in_compile)
    elif isinstance(value, list):
        for item in value:
            yield from _specs(item, in_compile)
    elif in_compile and isinstance(value, str) and IMPORT_PATH_RE.match(value):
        yield value  # a loss, metric or optimizer written as an import path


def user_code_specs(config: ExperimentConfig) -> list[str]:
    """The ``pkg.mod:name`` of each user object the built model may save.

    Layers' ``{function: ...}`` values and import-path types, and the import
    paths of compile and the stages' compile (the saved model keeps its
    compile arguments), each once.
    """
    found: list[str] = []
    layers = [
        layer.model_dump(exclude_none=True) for layer in config.model.layers or []
    ]
    compiled = [config.compile.model_dump(exclude_none=True)] + [
        stage.compile.model_dump(exclude_none=True)
        for stage in config.stages or []
        if stage.compile is not None
    ]
    for spec in [*_specs(layers, False), *_specs(compiled, True)]:
        if spec not in found:
            found.append(spec)
    return found


def _imported(config: ExperimentConfig) -> list[tuple[str, str, Any]]:
    """Each user object as ``(import path, the name Keras saves, object)``.

    The name is the registered name of a registered object, else its
    ``__name__``. Objects that no longer import are left out (the model was
    built with them: the module changed since).
    """
    found: list[tuple[str, str, Any]] = []
    where: ConfigPath = ("model",)
    for spec in user_code_specs(config):
        try:
            obj = import_object(spec, where)
        except Exception:  # the saved file still stands; its module changed
            continue
        found.append((spec, keras.saving.get_registered_name(obj), obj))
    return found


def user_objects(config: ExperimentConfig) -> dict[str, Any]:
    """``custom_objects`` for ``keras.saving.load_model`` of the run's model."""
    return {name: obj for _, name, obj in _imported(config)}


def loading_lines(
    config: ExperimentConfig, model_file: Path, code_folder: Path | None = None
) -> list[str]:
    """How to load ``model_file`` in Python when it holds the user's code.

    Args:
        config: The run's config.
        model_file: The saved model.
        code_folder: The folder the run imported the user's code from (the
            config's), named as the current folder sees it.

    Returns:
        No line for a model of Keras objects only; else a sentence and the
        import and ``keras.saving.load_model`` call with its ``custom_objects``.
    """
    imported = _imported(config)
    if not imported or not model_file.exists():
        return []
    modules: list[str] = []
    entries: list[str] = []
    for spec, name, _ in imported:
        module, _, attribute = spec.partition(":")
        if module not in modules:
            modules.append(module)
        entries.append(f"{name!r}: {module}.{attribute}")
    call = (
        f"import keras, {', '.join(modules)}; model = keras.saving.load_model("
        f"{str(model_file)!r}, custom_objects={{{', '.join(entries)}}})"
    )
    specs = ", ".join(spec for spec, _, _ in imported)
    folder = "the config's folder"
    if code_folder is not None:
        shown_folder = os.path.relpath(code_folder)
        if shown_folder.startswith(".."):
            shown_folder = str(code_folder.resolve())
        folder = f"the config's folder ({shown_folder})"
    return [
        f"model.keras holds your code ({specs}); Keras loads it only when "
        f"given it, with {folder} on PYTHONPATH:",
        f"  {call}",
    ]
