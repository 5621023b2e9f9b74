#!/usr/bin/env python
"""Generate ``cbrun/config/keras_names.py`` from the installed Keras.

``cbrun validate`` must not import Keras (the import takes seconds), yet it
suggests close names for typos and knows which name Keras logs for each compiled
metric and whether that metric is maximized or minimized. This script computes
those facts from the installed Keras and writes them as plain literals:

* class and string names are read from the public ``keras.*`` namespaces and
  every string alias is verified with the matching ``keras.*.get``;
* metric log names and directions are measured: tiny models are compiled with
  the metrics and trained for one step with ``fit``, the ``History`` keys are
  read, and the direction is asked from Keras's own
  ``MonitorCallback._set_monitor_op`` in ``mode="auto"``;
* dataset cache files (of the names in ``cbrun/config/dataset_names.py``) are
  found by running each ``load_data()`` against an empty temporary
  ``KERAS_HOME`` with the network and hashing stubbed out (nothing is
  downloaded); sample counts and shapes come from the Keras docs and are
  checked against the ``load_data`` docstrings.

Usage::

    python scripts/gen_keras_names.py          # rewrite the module
    python scripts/gen_keras_names.py --check  # exit 1 with a diff if stale

``tests/test_keras_names.py`` calls :func:`generate` (:func:`build_tables` then
:func:`render`) and fails when the shipped module differs. Takes ~10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import inspect
import io
import json
import os
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from cbrun.config.dataset_names import KERAS_DATASETS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "cbrun" / "config" / "keras_names.py"
LINE_LENGTH = 88
REGENERATE_HINT = "python scripts/gen_keras_names.py"

# Public helpers that live next to the named objects but are not names of them.
_HELPERS = frozenset({"get", "serialize", "deserialize", "legacy", "schedules"})

# Strings `compile()` resolves itself instead of asking `keras.metrics.get` /
# `keras.losses.get` (see keras/src/trainers/compile_utils.py).
_COMPILE_METRIC_SPECIALS = ("accuracy", "acc", "crossentropy", "ce")
_COMPILE_LOSS_SPECIALS = ("crossentropy", "ce")

_TEST_SPLIT = 0.2  # Default `test_split` of reuters / boston / california.


def _split(total: int) -> tuple[int, int]:
    """Returns (train, test) sample counts exactly as the Keras loaders split."""
    train = int(total * (1 - _TEST_SPLIT))
    return train, total - train


_REUTERS = _split(11228)
_BOSTON = _split(506)
_CALIFORNIA = _split(20640)
_CALIFORNIA_SMALL = _split(600)

# Shapes and class counts with the default `load_data()` arguments, from the
# Keras docs / docstrings (checked against the docstrings by `_check_doc_facts`),
# one entry per name in cbrun.config.dataset_names.KERAS_DATASETS.
# `variable_length`: `x_*` are 1-D object arrays of int lists of different
# lengths (imdb, reuters), which cbrun pads to `load_args.maxlen`.
DATASET_FACTS: dict[str, dict[str, Any]] = {
    "mnist": {
        "task": "classification",
        "variable_length": False,
        "x_train": [60000, 28, 28],
        "y_train": [60000],
        "x_test": [10000, 28, 28],
        "y_test": [10000],
        "num_classes": 10,
        "notes": ["28x28 grayscale digits, pixel values 0-255."],
    },
    "fashion_mnist": {
        "task": "classification",
        "variable_length": False,
        "x_train": [60000, 28, 28],
        "y_train": [60000],
        "x_test": [10000, 28, 28],
        "y_test": [10000],
        "num_classes": 10,
        "notes": [
            "28x28 grayscale clothing images, pixel values 0-255.",
            "The four .gz files are not hash-checked; any present file is used.",
        ],
    },
    "cifar10": {
        "task": "classification",
        "variable_length": False,
        "x_train": [50000, 32, 32, 3],
        "y_train": [50000, 1],
        "x_test": [10000, 32, 32, 3],
        "y_test": [10000, 1],
        "num_classes": 10,
        "notes": [
            "Shapes are for image_data_format 'channels_last'.",
            "Labels have shape (n, 1), not (n,).",
            "The archive is re-extracted on every load_data() call.",
        ],
    },
    "cifar100": {
        "task": "classification",
        "variable_length": False,
        "x_train": [50000, 32, 32, 3],
        "y_train": [50000, 1],
        "x_test": [10000, 32, 32, 3],
        "y_test": [10000, 1],
        "num_classes": 100,
        "notes": [
            "Shapes are for image_data_format 'channels_last'.",
            "num_classes is for label_mode='fine'; label_mode='coarse' has 20.",
            "Labels have shape (n, 1), not (n,).",
            "The archive is re-extracted on every load_data() call.",
        ],
    },
    "imdb": {
        "task": "classification",
        "variable_length": True,
        "x_train": [25000],
        "y_train": [25000],
        "x_test": [25000],
        "y_test": [25000],
        "num_classes": 2,
        "notes": [
            "x is an object array of variable-length lists of word indexes.",
            "maxlen= drops longer reviews, so counts can shrink.",
        ],
    },
    "reuters": {
        "task": "classification",
        "variable_length": True,
        "x_train": [_REUTERS[0]],
        "y_train": [_REUTERS[0]],
        "x_test": [_REUTERS[1]],
        "y_test": [_REUTERS[1]],
        "num_classes": 46,
        "notes": [
            "11228 newswires split with test_split=0.2.",
            "x is an object array of variable-length lists of word indexes.",
        ],
    },
    "boston_housing": {
        "task": "regression",
        "variable_length": False,
        "x_train": [_BOSTON[0], 13],
        "y_train": [_BOSTON[0]],
        "x_test": [_BOSTON[1], 13],
        "y_test": [_BOSTON[1]],
        "num_classes": None,
        "notes": ["506 samples split with test_split=0.2; targets in k$."],
    },
    "california_housing": {
        "task": "regression",
        "variable_length": False,
        "x_train": [_CALIFORNIA[0], 8],
        "y_train": [_CALIFORNIA[0]],
        "x_test": [_CALIFORNIA[1], 8],
        "y_test": [_CALIFORNIA[1]],
        "num_classes": None,
        "notes": [
            "20640 samples (version='large') split with test_split=0.2.",
            f"version='small' keeps 600 samples: {_CALIFORNIA_SMALL[0]} train, "
            f"{_CALIFORNIA_SMALL[1]} test.",
        ],
    },
}

# Substrings each `load_data` docstring must contain for DATASET_FACTS to hold.
_DOC_FACTS: dict[str, tuple[str, ...]] = {
    "mnist": ("(60000, 28, 28)", "(10000, 28, 28)", "(60000,)", "(10000,)"),
    "fashion_mnist": ("(60000, 28, 28)", "(10000, 28, 28)", "(60000,)"),
    "cifar10": ("(50000, 32, 32, 3)", "(10000, 32, 32, 3)", "(50000, 1)"),
    "cifar100": ("(50000, 32, 32, 3)", "(10000, 32, 32, 3)", "100 fine-grained"),
    "imdb": ("25,000",),
    "reuters": ("11,228", "46 topics"),
    "boston_housing": ("13 attributes", "(num_samples, 13)"),
    "california_housing": ("20,640 samples", "8 features", "600 samples"),
}


class KerasChangedError(RuntimeError):
    """Keras behaves in a way this generator does not know how to record."""


@dataclass
class Table:
    """One module-level constant of the generated file."""

    name: str
    annotation: str
    value: Any
    comment: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------


def _public(module: ModuleType) -> list[str]:
    return sorted(n for n in dir(module) if not n.startswith("_") and n not in _HELPERS)


def _private_keys(module_path: str) -> list[str]:
    """String keys of a `keras.src.*` ALL_OBJECTS_DICT, used only as candidates."""
    import importlib

    try:
        mod = importlib.import_module(module_path)
    except ImportError:
        return []
    return [k for k in getattr(mod, "ALL_OBJECTS_DICT", {}) if isinstance(k, str)]


def _public_subclasses(module: ModuleType, base: type) -> list[str]:
    """Public class names in `module` that subclass `base` (`base` excluded)."""
    out = []
    for name in _public(module):
        obj = getattr(module, name)
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base:
            out.append(name)
    return sorted(out)


def _accepted(candidates: Iterable[str], accept: Callable[[str], bool]) -> list[str]:
    out = []
    for name in sorted(set(candidates)):
        try:
            ok = accept(name)
        except Exception:
            ok = False
        if ok:
            out.append(name)
    return out


def _wrap_comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=LINE_LENGTH - 2, break_on_hyphens=False)


def _get_strings_table(name: str, module: ModuleType, base: type | None) -> Table:
    """Every string `module.get` accepts, checked one by one.

    Args:
        name: The table's name.
        module: A public `keras.*` module with a `get` function.
        base: Base class whose bare instance does not count as accepted.

    Returns:
        The table, with the module's public names that `get` rejects in a comment.
    """
    short = module.__name__  # e.g. keras.initializers
    private = "keras.src." + short.removeprefix("keras.")

    def accept(text: str) -> bool:
        obj = module.get(text)
        return callable(obj) and (base is None or type(obj) is not base)

    public = _public(module)
    accepted = _accepted(
        set(public) | set(_private_keys(private)),
        accept,
    )
    rejected = [
        n for n in public if n not in accepted and getattr(module, n) is not base
    ]
    comment = f"Strings {short}.get accepts (verified)."
    if rejected:
        comment += f" Public {short} names it rejects: {', '.join(rejected)}."
    return Table(name, "tuple[str, ...]", tuple(accepted), _wrap_comment(comment))


def _names_tables(keras: Any) -> list[Table]:
    """Layer, optimizer, schedule, loss, initializer, regularizer, constraint,
    activation and dtype policy names."""
    tables: list[Table] = []

    layers = _public_subclasses(keras.layers, keras.layers.Layer)
    tables.append(
        Table(
            "LAYERS",
            "tuple[str, ...]",
            tuple(layers),
            ["Public Layer subclasses in keras.layers (the base class Layer omitted)."],
        )
    )

    applications = sorted(
        name
        for name in _public(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )
    tables.append(
        Table(
            "APPLICATIONS",
            "tuple[str, ...]",
            tuple(applications),
            [
                "Model constructors in keras.applications (MobileNetV2, ...): "
                "layers by name."
            ],
        )
    )

    opt_base = keras.optimizers.Optimizer
    optimizers = _public_subclasses(keras.optimizers, opt_base)

    def accept_optimizer(name: str) -> bool:
        obj = keras.optimizers.get(name)
        return isinstance(obj, opt_base) and type(obj) is not opt_base

    opt_candidates = {n.lower() for n in optimizers}
    opt_candidates |= {k for k in _private_keys("keras.src.optimizers") if k.islower()}
    opt_aliases = _accepted(opt_candidates, accept_optimizer)
    not_by_string = sorted(n for n in optimizers if n.lower() not in opt_aliases)
    tables.append(
        Table(
            "OPTIMIZERS",
            "tuple[str, ...]",
            tuple(optimizers),
            ["Public Optimizer subclasses in keras.optimizers (base class omitted)."],
        )
    )
    tables.append(
        Table(
            "OPTIMIZER_ALIASES",
            "tuple[str, ...]",
            tuple(opt_aliases),
            _wrap_comment(
                "Strings keras.optimizers.get accepts, verified (it lowercases its "
                "argument, so 'Adam' and 'ADAM' work too). Classes it cannot build "
                "from a string: " + (", ".join(not_by_string) or "none") + "."
            ),
        )
    )

    schedules = _public_subclasses(
        keras.optimizers.schedules, keras.optimizers.schedules.LearningRateSchedule
    )
    tables.append(
        Table(
            "LR_SCHEDULES",
            "tuple[str, ...]",
            tuple(schedules),
            ["LearningRateSchedule subclasses in keras.optimizers.schedules."],
        )
    )

    loss_base = keras.losses.Loss
    losses = _public_subclasses(keras.losses, loss_base)

    def accept_loss(name: str) -> bool:
        obj = keras.losses.get(name)
        return callable(obj) and type(obj) is not loss_base

    loss_candidates = set(_public(keras.losses)) | set(
        _private_keys("keras.src.losses")
    )
    loss_strings = _accepted(loss_candidates, accept_loss)
    loss_rejected = sorted(
        n for n in _public(keras.losses) if n not in loss_strings and n != "Loss"
    )
    tables.append(
        Table(
            "LOSSES",
            "tuple[str, ...]",
            tuple(losses),
            ["Public Loss subclasses in keras.losses (base class omitted)."],
        )
    )
    tables.append(
        Table(
            "LOSS_ALIASES",
            "tuple[str, ...]",
            tuple(n for n in loss_strings if n not in losses),
            _wrap_comment(
                "Strings besides the LOSSES class names that keras.losses.get "
                "accepts (verified; it is case sensitive). Public keras.losses "
                "names it rejects: " + (", ".join(loss_rejected) or "none") + "."
            ),
        )
    )
    tables.append(
        Table(
            "LOSS_COMPILE_ALIASES",
            "tuple[str, ...]",
            tuple(_compile_loss_specials(keras)),
            _wrap_comment(
                "Strings only compile(loss=...) understands (case-insensitive): it "
                "picks binary, sparse categorical or categorical crossentropy from "
                "the shapes of y_true and y_pred. keras.losses.get rejects them."
            ),
        )
    )

    for table_name, module, base in (
        ("INITIALIZERS", keras.initializers, keras.initializers.Initializer),
        ("REGULARIZERS", keras.regularizers, keras.regularizers.Regularizer),
        ("CONSTRAINTS", keras.constraints, keras.constraints.Constraint),
        ("ACTIVATIONS", keras.activations, None),
    ):
        tables.append(_get_strings_table(table_name, module, base))

    # A layer's `dtype` may be a serialized policy; --no-user-code checks its
    # class_name against this table.
    policy = keras.dtype_policies.DTypePolicy
    policies = [policy.__name__, *_public_subclasses(keras.dtype_policies, policy)]
    tables.append(
        Table(
            "DTYPE_POLICIES",
            "tuple[str, ...]",
            tuple(sorted(set(policies))),
            ["DTypePolicy and its public subclasses in keras.dtype_policies."],
        )
    )
    return tables


# --------------------------------------------------------------------------
# Metrics: measured by training
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """A tiny supervised problem to compile and fit metrics on."""

    name: str
    units: int
    activation: str | None
    loss: str


_TASKS = (
    _Task("regression", 1, None, "mse"),
    _Task("binary", 1, "sigmoid", "binary_crossentropy"),
    _Task("sparse_categorical", 6, "softmax", "sparse_categorical_crossentropy"),
    _Task("categorical", 6, "softmax", "categorical_crossentropy"),
)
_N = 12


def _task_data(task: _Task) -> tuple[Any, Any, Any]:
    """Returns (x, y_true, a plausible y_pred) for `task`."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((_N, 3)).astype("float32")
    labels = np.arange(_N) % task.units if task.units > 1 else np.arange(_N) % 2
    y: Any
    if task.name == "regression":
        y = rng.random((_N, 1)).astype("float32")
    elif task.name == "binary":
        y = labels.reshape(_N, 1).astype("float32")
    elif task.name == "sparse_categorical":
        y = labels.astype("int32")
    else:
        y = np.eye(task.units, dtype="float32")[labels]
    if task.units == 1:
        pred = rng.random((_N, 1)).astype("float32")
    else:
        raw = rng.random((_N, task.units)).astype("float32") + 0.1
        pred = raw / raw.sum(axis=1, keepdims=True)
    return x, y, pred


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _fresh_session(keras: Any) -> None:
    """Resets Keras's name counters, so auto-named metrics get their base name."""
    keras.backend.clear_session(free_memory=False)


def _screen(keras: Any, task: _Task, make: Callable[[], Any]) -> str | None:
    """Cheap eager check that compile() would accept the metric for `task`.

    Runs the metric through the same CompileMetrics wrapper compile() uses.

    Returns:
        The name of the compiled metric object, or None if it does not work.
    """
    from keras.src.trainers import compile_utils

    _, y, pred = _task_data(task)
    try:
        with _quiet():
            y_true = keras.ops.convert_to_tensor(y)
            y_pred = keras.ops.convert_to_tensor(pred)
            _fresh_session(keras)
            compiled = compile_utils.CompileMetrics([make()], None)
            compiled.update_state(y_true, y_pred)
            compiled.result()
            (metric,) = compiled.metrics
    except Exception:
        return None
    return str(metric.name)


def _direction(keras: Any, model: Any, monitor: str) -> str | None:
    """Asks Keras's own MonitorCallback logic, in mode="auto", for a direction."""
    from keras.src.callbacks import monitor_callback

    callback = keras.callbacks.EarlyStopping(monitor=monitor, mode="auto")
    callback.set_model(model)
    try:
        callback._set_monitor_op()
    except ValueError:
        return None
    if callback.monitor_op is monitor_callback.ops.greater:
        return "up"
    if callback.monitor_op is monitor_callback.ops.less:
        return "down"
    raise KerasChangedError(
        f"Unexpected monitor_op for {monitor!r}: {callback.monitor_op}"
    )


def _fit(
    keras: Any,
    task: _Task,
    makers: Sequence[Callable[[], Any]],
    run_eagerly: bool = True,
) -> tuple[Any, list[str]]:
    """Compiles a tiny model with the metrics, trains one step.

    Eager by default: tracing a train step with ~80 metrics into a tf.function
    takes ~5 s and the logged names do not depend on it (`_metric_tables`
    spot-checks one compiled fit).

    Returns:
        The model and the sorted keys of its `History`.
    """
    x, y, _ = _task_data(task)
    with _quiet():
        _fresh_session(keras)
        keras.utils.set_random_seed(0)
        metrics = [make() for make in makers]
        model = keras.Sequential(
            [
                keras.Input((3,)),
                keras.layers.Dense(task.units, activation=task.activation),
            ]
        )
        model.compile(
            optimizer="sgd", loss=task.loss, metrics=metrics, run_eagerly=run_eagerly
        )
        history = model.fit(x, y, batch_size=_N, epochs=1, verbose=0)
    return model, sorted(history.history)


def _fit_batch(
    keras: Any,
    task: _Task,
    batch: list[str],
    makers: dict[str, Callable[[], Any]],
    names: dict[str, str],
) -> dict[str, tuple[str, str | None]]:
    """Trains `batch` together; bisects to drop identifiers that break fit().

    Returns:
        Identifier -> (logged name, direction) for those that trained.

    Raises:
        KerasChangedError: The logs do not hold exactly the expected names.
    """
    try:
        model, keys = _fit(keras, task, [makers[i] for i in batch])
    except Exception:
        if len(batch) == 1:
            return {}
        half = len(batch) // 2
        return {
            **_fit_batch(keras, task, batch[:half], makers, names),
            **_fit_batch(keras, task, batch[half:], makers, names),
        }
    expected = sorted({"loss", *(names[i] for i in batch)})
    if keys != expected:
        raise KerasChangedError(
            f"{task.name}: fit logged {keys}, expected {expected}; Keras changed "
            "how it names compiled metrics, update scripts/gen_keras_names.py"
        )
    return {i: (names[i], _direction(keras, model, names[i])) for i in batch}


def _measure(
    keras: Any, makers: dict[str, Callable[[], Any]]
) -> dict[str, tuple[str, str | None]]:
    """Measures (logged name, direction) of each metric identifier.

    Each identifier is tried on every task where the eager screen accepts it.
    Those accepted on one task are compiled together (in batches with distinct
    names, so Keras does not suffix them) and trained one step; the logged
    keys must be exactly "loss" plus the metric names. An identifier must log
    the same name and direction on every task it trains on.

    Args:
        keras: The imported keras module.
        makers: Identifier -> zero-argument factory of what to pass to compile.

    Returns:
        Identifier -> (logged name, "up" / "down" / None) for identifiers that
        trained on at least one task.
    """
    found: dict[str, set[tuple[str, str | None]]] = {}
    for task in _TASKS:
        names: dict[str, str] = {}
        for ident, make in makers.items():
            name = _screen(keras, task, make)
            if name is not None:
                names[ident] = name
        for batch in _unique_name_batches(names):
            for ident, outcome in _fit_batch(keras, task, batch, makers, names).items():
                found.setdefault(ident, set()).add(outcome)
    out: dict[str, tuple[str, str | None]] = {}
    for ident, outcomes in found.items():
        if len(outcomes) != 1:
            raise KerasChangedError(
                f"Metric {ident!r} logs differently per task: {sorted(outcomes)}"
            )
        out[ident] = next(iter(outcomes))
    return out


def _unique_name_batches(names: dict[str, str]) -> list[list[str]]:
    """Splits identifiers into batches whose metric names are all distinct."""
    batches: list[list[str]] = []
    used: list[set[str]] = []
    for ident in sorted(names):
        for batch, taken in zip(batches, used, strict=True):
            if names[ident] not in taken:
                batch.append(ident)
                taken.add(names[ident])
                break
        else:
            batches.append([ident])
            used.append({names[ident]})
    return batches


def _compile_loss_specials(keras: Any) -> list[str]:
    """The compile-only loss strings that really train on every task."""
    out = []
    for alias in _COMPILE_LOSS_SPECIALS:
        try:
            keras.losses.get(alias)
        except Exception:
            pass
        else:
            continue  # A real loss alias now; LOSS_ALIASES lists it.
        ok = True
        for task in _TASKS[1:]:
            try:
                probe = _Task(task.name, task.units, task.activation, alias)
                _, keys = _fit(keras, probe, [])
            except Exception:
                ok = False
                break
            ok = ok and keys == ["loss"]
        if ok:
            out.append(alias)
    return sorted(out)


def _metric_tables(keras: Any) -> list[Table]:
    metric_base = keras.metrics.Metric
    classes = _public_subclasses(keras.metrics, metric_base)

    candidates = set(_public(keras.metrics)) | set(_private_keys("keras.src.metrics"))
    candidates |= set(_COMPILE_METRIC_SPECIALS)
    string_makers: dict[str, Callable[[], Any]] = {
        s: functools.partial(str, s) for s in sorted(candidates)
    }
    by_string = _measure(keras, string_makers)

    needs_args = []
    auto_named = []
    class_makers: dict[str, Callable[[], Any]] = {}
    for name in classes:
        cls = getattr(keras.metrics, name)
        try:
            with _quiet():
                _fresh_session(keras)
                first, second = cls(), cls()
        except Exception:
            needs_args.append(name)
            continue
        class_makers[name] = cls
        if first.name != second.name:  # name=None -> auto_name(): auc, auc_1, ...
            auto_named.append(name)
    by_class = _measure(keras, class_makers)
    untrainable = sorted(set(class_makers) - set(by_class))

    # Spot-check in graph mode (what users run) that names do not change.
    spot = ("acc", "accuracy", "mae", "AUC")
    spot_makers = [string_makers[s] for s in spot] + [class_makers["AUC"]]
    expected = sorted({"loss", *(by_string[s][0] for s in spot), by_class["AUC"][0]})
    model, keys = _fit(keras, _TASKS[1], spot_makers, run_eagerly=False)
    if keys != expected:
        raise KerasChangedError(f"Graph-mode fit logged {keys}, eager {expected}")
    loss_direction = _direction(keras, model, "loss")

    directions: dict[str, str] = {}
    sources = [("loss", ("loss", loss_direction))]
    sources += sorted(by_string.items()) + sorted(by_class.items())
    for ident, (name, direction) in sources:
        if direction is None:
            continue
        if directions.setdefault(name, direction) != direction:
            raise KerasChangedError(
                f"Logged name {name!r} has two directions ({ident!r})"
            )
    no_direction = sorted(
        {name for name, d in [*by_string.values(), *by_class.values()] if d is None}
    )
    rejected = sorted(
        s
        for s in candidates
        if s not in by_string and (s in _COMPILE_METRIC_SPECIALS or s.islower())
    )

    return [
        Table(
            "METRICS",
            "tuple[str, ...]",
            tuple(classes),
            ["Public Metric subclasses in keras.metrics (base class omitted)."],
        ),
        Table(
            "METRIC_LOG_NAMES",
            "dict[str, str]",
            {s: by_string[s][0] for s in sorted(by_string)},
            _wrap_comment(
                "compile(metrics=[<string>]) -> key in the fit logs (and in "
                "History; validation adds a 'val_' prefix, multi-output models "
                "an '<output>_' prefix). Measured by training one step. compile "
                "lowercases 'accuracy'/'acc' before resolving them, so 'ACC' "
                "works too and logs as typed. Lowercase strings compile rejects "
                "as metrics: " + ", ".join(rejected) + "."
            ),
        ),
        Table(
            "METRIC_CLASS_LOG_NAMES",
            "dict[str, str]",
            {c: by_class[c][0] for c in sorted(by_class)},
            _wrap_comment(
                "Metric class (used without arguments) -> logged name, i.e. the "
                "default `name` of an instance. Skipped, they need constructor "
                "arguments: "
                + (", ".join(needs_args) or "none")
                + "."
                + (
                    " Skipped, could not be trained on any probe task: "
                    + ", ".join(untrainable)
                    + "."
                    if untrainable
                    else ""
                )
            ),
        ),
        Table(
            "METRIC_AUTO_NAMED_CLASSES",
            "tuple[str, ...]",
            tuple(auto_named),
            _wrap_comment(
                "Metric classes without a fixed default name: their name comes "
                "from a per-session counter, so only the first instance logs the "
                "name above; later ones add _1, _2, ... (two AUC() log auc and "
                "auc_1) until keras.backend.clear_session()."
            ),
        ),
        Table(
            "METRIC_DIRECTIONS",
            "dict[str, str]",
            dict(sorted(directions.items())),
            _wrap_comment(
                "Logged name (without 'val_') -> 'up' (maximize) or 'down' "
                "(minimize), as MonitorCallback._set_monitor_op infers it in "
                "mode='auto' ('loss' is down, else the compiled metric's "
                "_direction). Absent names make EarlyStopping, ModelCheckpoint "
                "and ReduceLROnPlateau raise in mode='auto'; set mode explicitly. "
                "Logged names without a direction: " + ", ".join(no_direction) + "."
            ),
        ),
    ]


# --------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------


def _relative(path: str, home: str) -> str:
    return Path(os.path.relpath(path, home)).as_posix()


def _probe_dataset(name: str) -> dict[str, Any]:
    """Finds the files `load_data()` looks for, without downloading anything.

    `load_data()` runs against an empty temporary cache dir with
    `urlretrieve` replaced by a stub that creates an empty file, hash
    validation switched off and archive extraction recorded but skipped; it
    then fails reading the empty files, which is expected.
    """
    import importlib

    from keras.src.utils import file_utils

    module = importlib.import_module(f"keras.src.datasets.{name}")
    real_get_file = file_utils.get_file
    downloads: list[dict[str, Any]] = []
    extracts: list[str] = []
    with tempfile.TemporaryDirectory() as home:

        def fake_urlretrieve(url: str, filename: str, *args: Any) -> None:
            Path(filename).write_bytes(b"")
            downloads[-1]["target"] = _relative(filename, home)
            downloads[-1]["origin"] = url

        def fake_extract(file_path: str, path: str = ".", *args: Any) -> bool:
            extracts.append(_relative(path, home))
            return True

        def recording_get_file(*args: Any, **kwargs: Any) -> str:
            bound = inspect.signature(real_get_file).bind(*args, **kwargs)
            bound.arguments["cache_dir"] = home
            downloads.append({"file_hash": bound.arguments.get("file_hash")})
            return str(real_get_file(*bound.args, **bound.kwargs))

        first_missing: str | None = None
        with (
            mock.patch.object(file_utils, "urlretrieve", fake_urlretrieve),
            mock.patch.object(file_utils, "validate_file", return_value=True),
            mock.patch.object(file_utils, "extract_archive", fake_extract),
            mock.patch.object(module, "get_file", recording_get_file),
            _quiet(),
        ):
            try:
                module.load_data()
            except FileNotFoundError as e:
                first_missing = _relative(str(e.filename), home)
            except Exception:
                pass

    if not downloads or any("target" not in d for d in downloads):
        raise KerasChangedError(
            f"Could not trace the files keras.datasets.{name} needs"
        )
    targets = [d["target"] for d in downloads]
    cache_subdirs = {t.rsplit("/", 1)[0] for t in targets}
    if len(cache_subdirs) != 1:
        raise KerasChangedError(f"{name}: files in several folders: {targets}")
    cache_subdir = cache_subdirs.pop()
    origins = [d["origin"] for d in downloads]
    origin_bases = {o.rsplit("/", 1)[0] + "/" for o in origins}
    if len(origin_bases) != 1:
        raise KerasChangedError(f"{name}: files from several hosts: {origins}")
    extract_dir = data_dir = None
    if extracts:
        if len(extracts) != 1 or first_missing is None:
            raise KerasChangedError(f"{name}: unexpected extraction {extracts}")
        extract_dir = extracts[0].removeprefix(cache_subdir + "/")
        data_dir = first_missing.removeprefix(cache_subdir + "/").rsplit("/", 1)[0]
    return {
        "cache_subdir": cache_subdir,
        "files": [t.rsplit("/", 1)[1] for t in targets],
        "file_hashes": [d["file_hash"] for d in downloads],
        "origin_base": origin_bases.pop(),
        "origin_files": [o.rsplit("/", 1)[1] for o in origins],
        "extract_dir": extract_dir,
        "data_dir": data_dir,
    }


def _check_doc_facts(name: str) -> None:
    import importlib

    module = importlib.import_module(f"keras.src.datasets.{name}")
    doc = " ".join((module.load_data.__doc__ or "").split())
    missing = [s for s in _DOC_FACTS[name] if s not in doc]
    if missing:
        raise KerasChangedError(
            f"keras.datasets.{name}.load_data docs no longer mention {missing}; "
            "re-check DATASET_FACTS in scripts/gen_keras_names.py"
        )


def _check_dataset_names() -> None:
    """Fails unless the hand-written facts cover exactly the config's names."""
    for table_name, table in (
        ("DATASET_FACTS", DATASET_FACTS),
        ("_DOC_FACTS", _DOC_FACTS),
    ):
        if set(table) != set(KERAS_DATASETS):
            raise ValueError(
                f"{table_name} in scripts/gen_keras_names.py must have one entry "
                "per name in cbrun/config/dataset_names.py (KerasDatasetName); "
                f"it has {sorted(table)}, the config {sorted(KERAS_DATASETS)}"
            )


def _dataset_table() -> Table:
    _check_dataset_names()
    datasets: dict[str, dict[str, Any]] = {}
    for name in sorted(KERAS_DATASETS):
        _check_doc_facts(name)
        datasets[name] = {**_probe_dataset(name), **DATASET_FACTS[name]}
    return Table(
        "KERAS_DATASET_FACTS",
        "dict[str, dict[str, Any]]",
        datasets,
        [
            "keras.datasets.<name>.load_data() with default arguments, see the",
            "module docstring for what to place where to load offline.",
        ],
    )


# --------------------------------------------------------------------------
# Building and rendering
# --------------------------------------------------------------------------


def build_tables() -> tuple[str, list[Table]]:
    """Imports Keras and computes every table.

    Returns:
        The Keras version and the tables, in file order.
    """
    import keras

    tables = [Table("KERAS_VERSION", "str", keras.__version__)]
    tables += _names_tables(keras)
    tables += _metric_tables(keras)
    tables.append(_dataset_table())
    return keras.__version__, tables


_DOCSTRING = '''\
"""Static tables of Keras names, so that ``cbrun validate`` never imports Keras.

Every value is a plain literal computed from the installed Keras by
``scripts/gen_keras_names.py`` and kept true by ``tests/test_keras_names.py``.
Class-name tables hold what ``{type: <Name>}`` may name; ``*_ALIASES`` and the
other string tables hold the strings the matching ``keras.*.get`` accepts.

Metric log names were measured by compiling tiny models and training one step:
in Keras 3 a metric given as a string is logged under exactly that string
(``"acc"`` logs ``acc``, ``"mae"`` logs ``mae``), while a metric object is logged
under its ``name`` (see ``METRIC_CLASS_LOG_NAMES``). ``"crossentropy"`` and
``"ce"`` are loss-only shortcuts; as metrics they are rejected.

``KERAS_DATASET_FACTS`` holds, for each name in
``cbrun.config.dataset_names.KERAS_DATASETS``, what its default ``load_data()``
returns and where it looks. Paths are relative to ``$KERAS_HOME`` (default
``~/.keras``; ``/tmp/.keras`` when that is not writable). To load offline, put
each of ``files`` into ``cache_subdir``; file ``i`` is what Keras would download
from ``origin_base + origin_files[i]``, and where ``file_hashes[i]`` is set, a
file whose hash differs is downloaded again. Where ``extract_dir`` is set,
``files`` is the ``.tar.gz`` archive itself saved under a name without extension
(e.g. ``cifar-10-batches-py-target_archive``): Keras re-extracts it into
``extract_dir`` on every call and reads ``data_dir``, so an extracted folder
alone is not enough.
"""'''


def _literal(value: Any) -> str:
    if isinstance(value, str):
        if '"' in value or "\\" in value or not value.isascii():
            raise ValueError(f"Refusing to render string {value!r}")
        return json.dumps(value)
    if value is None or isinstance(value, bool | int):
        return repr(value)
    raise TypeError(f"Cannot render {type(value).__name__}: {value!r}")


def _render_value(value: Any, indent: int) -> list[str]:
    """Renders `value` the way `ruff format` leaves it (magic trailing commas)."""
    pad = " " * (indent + 4)
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return ["[" + ", ".join(str(v) for v in value) + "]"]
    if isinstance(value, tuple | list):
        opening, closing = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        if not value:
            return [opening + closing]
        lines = [opening]
        for item in value:
            rendered = _render_value(item, indent + 4)
            lines.append(pad + rendered[0])
            lines.extend(rendered[1:])
            lines[-1] += ","
        lines.append(" " * indent + closing)
        return lines
    if isinstance(value, dict):
        if not value:
            return ["{}"]
        lines = ["{"]
        for key, item in value.items():
            rendered = _render_value(item, indent + 4)
            lines.append(f"{pad}{_literal(key)}: {rendered[0]}")
            lines.extend(rendered[1:])
            lines[-1] += ","
        lines.append(" " * indent + "}")
        return lines
    return [_literal(value)]


def render(version: str, tables: Sequence[Table]) -> str:
    """Renders the generated module's source text.

    Args:
        version: The Keras version the tables come from.
        tables: The tables from `build_tables`.

    Returns:
        Python source, already in `ruff format` style.
    """
    lines = [
        f"# Generated by scripts/gen_keras_names.py from Keras {version}; do not edit.",
        *_DOCSTRING.splitlines(),
        "",
        "from typing import Any",
    ]
    for table in tables:
        lines.append("")
        lines.extend(f"# {c}" if c else "#" for c in table.comment)
        value = _render_value(table.value, 0)
        lines.append(f"{table.name}: {table.annotation} = {value[0]}")
        lines.extend(value[1:])
    too_long = [line for line in lines if len(line) > LINE_LENGTH]
    if too_long:
        raise ValueError(f"Generated lines longer than {LINE_LENGTH}: {too_long}")
    return "\n".join(lines) + "\n"


def generate() -> str:
    """Builds the tables from the installed Keras and renders the module."""
    version, tables = build_tables()
    return render(version, tables)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 and print a diff if the file is stale",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help=str(OUTPUT))
    args = parser.parse_args(argv)

    text = generate()
    current = args.output.read_text() if args.output.exists() else ""
    if args.check:
        if current == text:
            print(f"{args.output} is up to date.")
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{args.output} (shipped)",
                tofile=f"{args.output} (from installed Keras)",
            )
        )
        print(f"\n{args.output} is stale; run `{REGENERATE_HINT}`.", file=sys.stderr)
        return 1
    if current != text:
        args.output.write_text(text)
        print(f"Wrote {args.output}.")
    else:
        print(f"{args.output} already up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
