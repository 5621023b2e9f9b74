"""``cbrun validate --deep``: build everything a run needs, without training.

After the TensorFlow-free checks, this imports Keras and the user's code,
builds the data shapes, the model, the compiled optimizer and every callback,
so that what would fail in the first seconds of ``train`` fails here, at the
config line it comes from.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cbrun.config.data import KerasData
from cbrun.config.loading import LoadedConfig
from cbrun.config.problems import make_problem
from cbrun.errors import BuildError, CbrunError, Problem
from cbrun.training.plan import FitPlan


def deep_check(loaded: LoadedConfig) -> list[Problem]:
    """Build a config's data shapes, model, optimizer and callbacks.

    Args:
        loaded: A config that passed the plain checks.

    Returns:
        Problems found (errors and warnings); empty when all builds.
    """
    try:
        return _build_everything(loaded)
    except BuildError as exc:
        return [make_problem(loaded.source, loaded.data, exc.path, exc.message)]
    except CbrunError as exc:
        return [Problem(str(loaded.path), 0, 0, "", str(exc))]
    except Exception as exc:
        message = f"building failed: {type(exc).__name__}: {exc}"
        return [Problem(str(loaded.path), 0, 0, "", message.splitlines()[0])]


def _build_everything(loaded: LoadedConfig) -> list[Problem]:
    from cbrun.training.assemble import (
        callback_context,
        compiled_model,
        load_data_for,
        seed,
        start_keras,
    )

    config = loaded.experiment
    keras = start_keras(loaded)
    from cbrun.keras.callbacks import build_callbacks
    from cbrun.keras.data import missing_cache_files, shape_only_data

    seed(keras, config)
    problems: list[Problem] = []
    if isinstance(config.data, KerasData):
        data = shape_only_data(config.data)
        folder, missing = missing_cache_files(config.data)
        if missing:
            problems.append(
                make_problem(
                    loaded.source,
                    loaded.data,
                    ("data", "name"),
                    f"not in the Keras cache yet: {', '.join(missing)} in {folder}; "
                    "train will try to download them",
                    severity="warning",
                )
            )
    else:
        data = load_data_for(config, loaded.base_dir)
    # No distribution scope: the check builds, it does not train.
    model, _ = compiled_model(config, data, scoped=False, base_dir=loaded.base_dir)
    model.optimizer.build(model.trainable_variables)
    plan = FitPlan.from_config(config.fit, data)
    scratch = Path(tempfile.mkdtemp(prefix="cbrun-deep-"))
    try:
        build_callbacks(list(config.callbacks), callback_context(plan, data, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return problems
