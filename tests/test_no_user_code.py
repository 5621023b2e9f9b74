"""``--no-user-code`` is an allow-list (design section 12).

Every name a config gives must be a Keras built-in from cbrun's tables; an
import path is refused in every string field of every schema; layers that
run code or read graphs or files are refused with the reason; data paths and
``model.path`` stay inside the config's folder; ``model.path`` is loaded in
Keras's safe mode. Every refusal is a positioned problem.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import BaseModel

from cbrun.cli import cli
from cbrun.config.allow_list import REFUSED_LAYERS
from cbrun.config.base import OpenModel
from cbrun.config.callbacks import (
    CALLBACK_SCHEMAS,
    CallbackSchema,
    CustomCallbackSchema,
)
from cbrun.config.callbacks.learning_rate_scheduler import ScheduleFunction
from cbrun.config.data import (
    CsvData,
    FunctionData,
    KerasData,
    LabelsConfig,
    NpzData,
    NpzKeys,
    SklearnData,
    SyntheticData,
    TimeseriesData,
    TimeseriesSplit,
)
from cbrun.config.data_folders import ImagesData, TextData
from cbrun.config.experiment import DistributeConfig, ExperimentConfig
from cbrun.config.loading import load_config
from cbrun.config.model import InputConfig, LayerConfig, ModelConfig
from cbrun.config.places import describe
from cbrun.config.stages import StageConfig
from cbrun.config.sweep import Choice, FloatRange, IntRange, SweepConfig
from cbrun.config.tracking import MlflowTracking, TrackingConfig
from cbrun.config.training import (
    CompileConfig,
    FitConfig,
    LossObject,
    MetricObject,
    OptimizerObject,
    ScheduleObject,
)
from cbrun.errors import ConfigError, Problem
from cbrun.suggest import shown
from scripts.make_example_data import png_bytes
from tests.conftest import CONFIGS

REFUSED = "refused by --no-user-code"
CODE = "os:system"
BASE: dict[str, Any] = yaml.safe_load((CONFIGS / "earlystop.yaml").read_text())


def check(
    tmp_path: Path, config: dict[str, Any], *, allow: bool = False
) -> list[Problem]:
    """Write ``config`` as YAML next to nothing else and return its problems."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    # A folder source's base needs a class folder beside the config.
    (tmp_path / "d" / "a").mkdir(parents=True, exist_ok=True)
    (tmp_path / "d" / "a" / "one.txt").write_text("text", encoding="utf-8")
    (tmp_path / "d" / "a" / "one.png").write_bytes(png_bytes([[(0, 0, 0)]]))
    # And the tables the csv and timeseries bases name (validate reads them).
    (tmp_path / "d.csv").write_text("x,target\n1,0\n", encoding="utf-8")
    # A series long enough for a window (3 rows and a target) in each split.
    rows = "".join(f"{i},{i + 1}\n" for i in range(40))
    (tmp_path / "s.csv").write_text("x,y\n" + rows, encoding="utf-8")
    try:
        loaded = load_config(path, (), display="config.yaml", allow_user_code=allow)
    except ConfigError as exc:
        return [p for p in exc.problems if p.severity == "error"]
    return [p for p in loaded.warnings if p.severity == "error"]


def line_of(path: Path, text: str) -> tuple[int, int]:
    """The 1-based line and column where ``text`` first stands in a file."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number, line.index(text) + 1
    raise AssertionError(f"{text!r} not in {path}")


def with_layers(*layers: dict[str, Any]) -> dict[str, Any]:
    config = yaml.safe_load(yaml.safe_dump(BASE))
    config["model"] = {"layers": [*layers, {"type": "Dense", "units": 10}]}
    return config


# ---------------------------------------------------------------------------
# Every string field of every schema
# ---------------------------------------------------------------------------

# Where each schema sits in a valid config, a valid mapping for it there and
# the schema of the mapping around it (when BASE has none). A schema reachable
# from ExperimentConfig or the callbacks that is missing here fails
# `test_every_schema_is_walked`.
Place = tuple[tuple[str | int, ...], dict[str, Any], type[BaseModel] | None]
_PLACES: dict[type[BaseModel], Place] = {
    ExperimentConfig: ((), {}, None),
    SklearnData: (("data",), {"source": "sklearn", "name": "digits"}, None),
    KerasData: (("data",), {"source": "keras", "name": "mnist"}, None),
    NpzData: (("data",), {"source": "npz", "path": "d.npz"}, None),
    NpzKeys: (("data", "keys"), {}, NpzData),
    CsvData: (("data",), {"source": "csv", "path": "d.csv"}, None),
    SyntheticData: (("data",), {"source": "synthetic", "classes": 10}, None),
    ImagesData: (("data",), {"source": "images", "path": "d"}, None),
    TextData: (("data",), {"source": "text", "path": "d"}, None),
    LabelsConfig: (("data", "labels"), {"map": {"a": 0}}, CsvData),
    TimeseriesData: (
        ("data",),
        {"source": "timeseries", "path": "s.csv", "target": "y", "sequence_length": 3},
        None,
    ),
    TimeseriesSplit: (("data", "split"), {}, TimeseriesData),
    FunctionData: (("data",), {"source": "function", "function": "x.y:z"}, None),
    ModelConfig: (("model",), {**BASE["model"], "inputs": [{"name": "x"}]}, None),
    LayerConfig: (("model", "layers", 0), {"type": "Flatten"}, None),
    InputConfig: (
        ("model", "inputs", 0),
        {"name": "x"},
        ModelConfig,
    ),
    CompileConfig: (("compile",), dict(BASE["compile"]), None),
    OptimizerObject: (("compile", "optimizer"), {"type": "Adam"}, None),
    ScheduleObject: (
        ("compile", "optimizer", "learning_rate"),
        {"type": "ExponentialDecay", "initial_learning_rate": 0.01},
        OptimizerObject,
    ),
    LossObject: (("compile", "loss"), {"type": "SparseCategoricalCrossentropy"}, None),
    MetricObject: (
        ("compile", "metrics", 0),
        {"type": "AUC", "name": "accuracy"},
        None,
    ),
    FitConfig: (("fit",), dict(BASE["fit"]), None),
    DistributeConfig: (("distribute",), {"strategy": "mirrored"}, None),
    SweepConfig: (
        ("sweep",),
        {"space": {"callbacks.EarlyStopping.patience": {"choice": [2, 3]}}},
        None,
    ),
    FloatRange: (
        ("sweep", "space", "fit.validation_split"),
        {"float": [0.1, 0.2]},
        SweepConfig,
    ),
    IntRange: (("sweep", "space", "fit.epochs"), {"int": [2, 3]}, SweepConfig),
    Choice: (("sweep", "space", "fit.batch_size"), {"choice": [16, 32]}, SweepConfig),
    TrackingConfig: (("tracking",), {}, None),
    StageConfig: (("stages", 0), {"name": "first"}, None),
    MlflowTracking: (("tracking", "mlflow"), {}, TrackingConfig),
}
_REQUIRED = {
    "LearningRateScheduler": {"schedule": "lr"},
    "ModelCheckpoint": {"filepath": "best.keras"},
    "CSVLogger": {"filename": "log.csv"},
    "BackupAndRestore": {"backup_dir": "my_backup"},
    "OrbaxCheckpoint": {"directory": "orbax"},
}
_CALLBACKS: dict[str, type[BaseModel]] = {
    **CALLBACK_SCHEMAS,
    "x.y:Z": CustomCallbackSchema,
}
for _name, _schema in _CALLBACKS.items():
    _base = {"type": _name, **_REQUIRED.get(_name, {})}
    _PLACES[_schema] = (("callbacks", 0), _base, None)
_PLACES[ScheduleFunction] = (
    ("callbacks", 0, "schedule"),
    {"function": "x.y:z"},
    CALLBACK_SCHEMAS["LearningRateScheduler"],
)
# Values a field's own schema demands besides being an import path.
_VALUE = {
    (ModelConfig, "path"): CODE + ".keras",
    (CALLBACK_SCHEMAS["ModelCheckpoint"], "filepath"): CODE + ".keras",
}


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def _put(config: Any, path: tuple[str | int, ...], value: Any) -> None:
    for part in path[:-1]:
        config = config[part]
    config[path[-1]] = value


def _base_with(schema: type[BaseModel]) -> dict[str, Any]:
    """A valid config holding ``schema``'s base mapping at its place."""
    place, base, parent = _PLACES[schema]
    config = _copy(BASE) if parent is None else _base_with(parent)
    if place[:1] in (("callbacks",), ("stages",)) and parent is None:
        config[place[0]] = [{}]
    if place:
        _put(config, place, _copy(base))
    if base.get("type") == "SwapEMAWeights":
        config["compile"]["optimizer"] = {"type": "Adam", "use_ema": True}
    return config


def _members(annotation: Any) -> Iterator[Any]:
    """The types an annotation admits, Annotated and unions unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _members(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _members(arg)
    else:
        yield annotation


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            yield member
        for arg in typing.get_args(member):
            yield from _models(arg)


def _string_slots(annotation: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Where a field of this type holds an arbitrary string: (sub-path, value)."""
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if member is str:
            yield (), None
        elif origin is list:
            for sub, _ in _string_slots(typing.get_args(member)[0]):
                yield (0, *sub), None
        elif origin is dict and typing.get_args(member)[1] in (str, Any):
            yield ("key",), None


def _container(value: Any, sub: tuple[str | int, ...]) -> Any:
    """A field value that holds ``value`` at ``sub``."""
    if not sub:
        return value
    inner = _container(value, sub[1:])
    return [inner] if isinstance(sub[0], int) else {sub[0]: inner}


def string_fields() -> list[tuple[str, dict[str, Any], tuple[str | int, ...]]]:
    """(label, config, path) with an import path in one string field each."""
    cases = []
    for schema, (place, _, _) in _PLACES.items():
        for name, info in schema.model_fields.items():
            for sub, _ in _string_slots(info.annotation):
                config = _base_with(schema)
                if schema is ModelConfig:  # exactly one of layers, path, build
                    config["model"] = {"build": "x.y:z"} if name == "params" else {}
                value = _VALUE.get((schema, name), CODE)
                _put(config, (*place, name), _container(value, sub))
                label = f"{schema.__name__}.{name}{''.join(f'[{s}]' for s in sub)}"
                path = (*place, name, *sub)
                if schema is ScheduleFunction:  # `{function: ...}` names its field
                    path = place
                cases.append((label, config, path))
        if issubclass(schema, OpenModel) or schema is CustomCallbackSchema:
            config = _base_with(schema)
            _put(config, (*place, "extra_param"), CODE)
            cases.append((f"{schema.__name__} extra", config, (*place, "extra_param")))
    return cases


CASES = string_fields()


def test_every_schema_is_walked() -> None:
    reachable: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [ExperimentConfig, *CALLBACK_SCHEMAS.values()]
    while todo:
        schema = todo.pop()
        if schema in reachable:
            continue
        reachable.add(schema)
        for info in schema.model_fields.values():
            todo.extend(_models(info.annotation))
    missing = reachable - set(_PLACES) - {CallbackSchema}
    assert not missing, f"give these schemas a place in _PLACES: {missing}"


def test_bases_are_valid(tmp_path: Path) -> None:
    for schema in _PLACES:
        config = _base_with(schema)
        assert check(tmp_path, config, allow=True) == [], schema.__name__
        # Under the flag only the import path a base itself needs is refused.
        refused = [p.message for p in check(tmp_path, config)]
        code = schema in (CustomCallbackSchema, ScheduleFunction, FunctionData)
        assert len(refused) == code and all("(x.y:" in m for m in refused), refused


@pytest.mark.parametrize(
    ("label", "config", "path"), CASES, ids=[case[0] for case in CASES]
)
def test_an_import_path_in_any_string_field_is_refused(
    tmp_path: Path, label: str, config: dict[str, Any], path: tuple[str | int, ...]
) -> None:
    problems = check(tmp_path, config)
    place = describe(path, config)
    here = [p for p in problems if p.where == place and p.line > 0]
    assert here, f"{label}: nothing at {place}: {[p.format() for p in problems]}"
    if not [p for p in check(tmp_path, config, allow=True) if p.where == place]:
        # The schema takes the string: only the flag stands in the way.
        assert any(REFUSED in p.message and CODE in p.message for p in here), label


def test_the_walk_covers_many_fields(tmp_path: Path) -> None:
    # The count can only fall if a schema or field is lost from the walk.
    assert len(CASES) >= 50
    accepted = refused = 0
    for _, config, path in CASES:
        place = describe(path, config)
        if [p for p in check(tmp_path, config, allow=True) if p.where == place]:
            continue
        accepted += 1
        flagged = check(tmp_path, config)
        refused += any(p.where == place and REFUSED in p.message for p in flagged)
    assert accepted >= 45
    assert refused == accepted


# ---------------------------------------------------------------------------
# Names: layers, nested configs, activations, schedules
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "where", "says"),
    [
        (
            {"type": "TFSMLayer", "filepath": "saved", "call_endpoint": "serve"},
            "model.layers[0] (TFSMLayer).type",
            "layer TFSMLayer loads a TensorFlow SavedModel from a file",
        ),
        (
            {"type": "Lambda", "function": "builtins.len"},
            "model.layers[0] (Lambda).type",
            "layer Lambda runs a Python function",
        ),
        (
            {"type": "JaxLayer"},
            "model.layers[0] (JaxLayer).type",
            "layer JaxLayer runs JAX functions",
        ),
        (
            {"type": "StringLookup", "vocabulary": "vocab.txt"},
            "model.layers[0] (StringLookup).vocabulary",
            "StringLookup.vocabulary 'vocab.txt' is a file the layer reads",
        ),
        (
            {"type": "TextVectorization", "vocabulary": "../words"},
            "model.layers[0] (TextVectorization).vocabulary",
            "is a file the layer reads",
        ),
        (
            {"type": "Dense", "units": 4, "activation": "os:getcwd"},
            "model.layers[0] (Dense).activation",
            "names user code (os:getcwd)",
        ),
        (
            {"type": "Dense", "units": 4, "activation": "relu7"},
            "model.layers[0] (Dense).activation",
            "is not a Keras built-in known to cbrun, refused by --no-user-code / "
            "CBRUN_NO_USER_CODE; did you mean 'relu'?",
        ),
        (
            {"type": "Dense", "units": 4, "kernel_constraint": "evil"},
            "model.layers[0] (Dense).kernel_constraint",
            "constraint 'evil' is not a Keras built-in",
        ),
        (
            {
                "type": "Dense",
                "units": 4,
                "kernel_initializer": {
                    "class_name": "GlorotUniform",
                    "module": "os",
                    "config": {},
                },
            },
            "model.layers[0] (Dense).kernel_initializer.module",
            "module 'os' is not Keras",
        ),
        (
            {
                "type": "Dense",
                "units": 4,
                "kernel_regularizer": {"class_name": "system", "config": {}},
            },
            "model.layers[0] (Dense).kernel_regularizer.class_name",
            "regularizer 'system' is not a Keras built-in",
        ),
        (
            {
                "type": "Bidirectional",
                "layer": {
                    "class_name": "LSTM",
                    "config": {"units": 2},
                    "registered_name": "my_pkg>Evil",
                },
            },
            "model.layers[0] (Bidirectional).layer.registered_name",
            "registered_name 'my_pkg>Evil' names a custom object",
        ),
        (
            {
                "type": "RNN",
                "cell": {
                    "module": "keras.layers",
                    "class_name": "LSTMCell",
                    "config": {"units": 2, "activation": "evil"},
                },
            },
            "model.layers[0] (RNN).cell.config.activation",
            "activation 'evil' is not a Keras built-in",
        ),
        (
            {
                "type": "TimeDistributed",
                "layer": {"class_name": "TFSMLayer", "config": {"filepath": "x"}},
            },
            "model.layers[0] (TimeDistributed).layer.class_name",
            "layer TFSMLayer loads a TensorFlow SavedModel",
        ),
        (
            {
                "type": "Bidirectional",
                "layer": {
                    "class_name": "LSTM",
                    "config": {
                        "units": 2,
                        "recurrent_initializer": {
                            "class_name": "Orthogonal",
                            "module": "keras.initializers",
                            "registered_name": "Custom>Orthogonal",
                        },
                    },
                },
            },
            "model.layers[0] (Bidirectional).layer.config.recurrent_initializer"
            ".registered_name",
            "names a custom object",
        ),
        (
            {
                "type": "Dense",
                "units": 4,
                "activation": {
                    "module": "builtins",
                    "class_name": "function",
                    "config": "getcwd",
                    "registered_name": "function",
                },
            },
            "model.layers[0] (Dense).activation.config",
            "activation 'getcwd' is not a Keras built-in",
        ),
        (
            {
                "type": "Pipeline",
                "layers": [
                    {"class_name": "Rescaling", "config": {"scale": 0.5}},
                    {"class_name": "Lambda", "config": {"function": "x"}},
                ],
            },
            "model.layers[0] (Pipeline).layers[1].class_name",
            "layer Lambda runs a Python function",
        ),
        (
            {"type": "Dense", "units": 4, "registered_name": "my_pkg>Dense"},
            "model.layers[0] (Dense).registered_name",
            "`registered_name` 'my_pkg>Dense' in a {type: ...} mapping",
        ),
        (
            {"type": "SpectralNormalization", "layer": "TFSMLayer"},
            "model.layers[0] (SpectralNormalization).layer",
            "layer TFSMLayer loads a TensorFlow SavedModel",
        ),
        (
            {
                "type": "GRU",
                "units": 2,
                "recurrent_activation": {"class_name": "function", "config": {}},
            },
            "model.layers[0] (GRU).recurrent_activation.config",
            "activation {} is not a Keras built-in",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_refused_names_and_layers_via_the_cli(
    tmp_path: Path, layer: dict[str, Any], where: str, says: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(with_layers(layer), sort_keys=False))
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stdout.splitlines() if f": {where}: " in line]
    assert lines, result.stdout
    (line,) = lines
    assert line.startswith(f"{path}:") and line.split(":")[1].isdigit()
    assert says in line and REFUSED in line, line
    assert "remove it or run where the config is trusted" in line or (
        "run where the config is trusted" in line
    )
    assert "Traceback" not in result.output
    # Without the flag the same config is not refused for this.
    result = runner.invoke(cli, ["validate", str(path)])
    assert REFUSED not in result.stdout


def test_keras_serialized_builtins_pass(tmp_path: Path) -> None:
    """What Keras writes for built-ins (from `serialize_keras_object`) is fine."""
    layer = {
        "type": "Bidirectional",
        "layer": {
            "module": "keras.layers",
            "class_name": "LSTM",
            "config": {
                "units": 2,
                "activation": "tanh",
                "dtype": {
                    "module": "keras",
                    "class_name": "DTypePolicy",
                    "config": {"name": "float32"},
                    "registered_name": None,
                },
                "kernel_initializer": {
                    "module": "keras.initializers",
                    "class_name": "GlorotUniform",
                    "config": {"seed": None},
                    "registered_name": None,
                },
                "recurrent_activation": {
                    "module": "builtins",
                    "class_name": "function",
                    "config": "sigmoid",
                    "registered_name": "function",
                },
                "kernel_constraint": "max_norm",
            },
            "registered_name": None,
        },
    }
    dense = {
        "type": "Dense",
        "units": 4,
        "kernel_regularizer": "l2",
        "bias_initializer": "zeros",
    }
    lookup = {"type": "StringLookup", "vocabulary": ["a", "b"]}
    config = with_layers(layer, dense, lookup)
    assert check(tmp_path, config) == []


def test_compile_names(tmp_path: Path) -> None:
    config = yaml.safe_load(yaml.safe_dump(BASE))
    config["compile"]["optimizer"] = {
        "type": "Adam",
        "learning_rate": {
            "type": "ExponentialDecay",
            "initial_learning_rate": 0.01,
            "decay_steps": 10,
            "decay_rate": 0.9,
        },
    }
    config["compile"]["loss"] = {"type": "Huber", "reduction": "sum"}
    assert check(tmp_path, config) == []
    config["compile"]["loss"]["reduction"] = CODE
    (problem,) = check(tmp_path, config)
    assert problem.where == "compile.loss.reduction" and REFUSED in problem.message


def test_a_schedule_type_not_in_the_table_is_refused_always(tmp_path: Path) -> None:
    config = yaml.safe_load(yaml.safe_dump(BASE))
    config["compile"]["optimizer"] = {
        "type": "Adam",
        "learning_rate": {"type": "my_pkg.schedules:Warmup"},
    }
    for allow in (True, False):
        (problem,) = check(tmp_path, config, allow=allow)
        assert problem.where == "compile.optimizer.learning_rate.type"
        at = line_of(tmp_path / "config.yaml", "my_pkg.schedules:Warmup")
        assert (problem.line, problem.column) == at, problem.format()
        assert "unknown learning rate schedule 'my_pkg.schedules:Warmup'" in (
            problem.message
        )
        assert "CosineDecay" in problem.message
    config["compile"]["optimizer"]["learning_rate"]["type"] = "ExponentialDecy"
    (problem,) = check(tmp_path, config, allow=True)
    assert "did you mean 'ExponentialDecay'?" in problem.message
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = CliRunner().invoke(cli, ["validate", "--no-user-code", str(path)])
    assert result.exit_code == 1
    line, column = line_of(path, "ExponentialDecy")
    assert f"{path}:{line}:{column}: " in result.stdout
    assert "did you mean" in result.stdout


# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------


def _npz(folder: Path, path: str) -> Path:
    config = yaml.safe_load(yaml.safe_dump(BASE))
    config["data"] = {"source": "npz", "path": path}
    file = folder / "config.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    return file


def _problems(file: Path, allow: bool) -> list[str]:
    try:
        load_config(file, (), display="config.yaml", allow_user_code=allow)
    except ConfigError as exc:
        return [p.format() for p in exc.problems]
    return []


def test_data_paths_stay_in_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    (folder / "data").mkdir(parents=True)
    outside = tmp_path / "secret.npz"
    outside.write_bytes(b"")
    (folder / "data" / "link.npz").symlink_to(outside)
    (folder / "data" / "ok.npz").write_bytes(b"")
    (folder / "up").symlink_to(tmp_path)
    cases = {
        str(outside): "is absolute",
        "~/x.npz": "is absolute",
        "../secret.npz": "goes up out of the config's folder with '..'",
        "data/link.npz": "goes through a symlink out of the config's folder",
        "up/secret.npz": "goes through a symlink out of the config's folder",
    }
    for value, says in cases.items():
        file = _npz(folder, value)
        assert _problems(file, allow=True) == [], value
        (line,) = _problems(file, allow=False)
        at = line_of(file, "path: ")
        assert line.startswith(f"config.yaml:{at[0]}:{at[1] + 6}: "), line
        assert f"data.path: path {shown(value)} {says}" in line, line
        assert f"put the file inside {folder.resolve()}" in line
    for value in ("data/ok.npz", "data/../data/ok.npz", "missing.npz"):
        assert _problems(_npz(folder, value), allow=False) == [], value


def test_csv_test_path_model_path_and_cache_path_are_confined(tmp_path: Path) -> None:
    config = yaml.safe_load(yaml.safe_dump(BASE))
    config["data"] = {"source": "csv", "path": "a.csv", "test_path": "../b.csv"}
    config["model"] = {"path": "/models/m.keras"}
    file = tmp_path / "sub" / "config.yaml"
    file.parent.mkdir()
    # Validate names a missing table: both are there, one outside the folder.
    (file.parent / "a.csv").write_text("x,target\n1,0\n")
    (tmp_path / "b.csv").write_text("x,target\n1,0\n")
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    lines = _problems(file, allow=False)
    assert [line.split(": ")[1] for line in lines] == ["data.test_path", "model.path"]
    assert _problems(file, allow=True) == []
    config["data"] = {"source": "keras", "name": "mnist", "load_args": {}}
    config["data"]["load_args"]["path"] = "../../etc/mnist.npz"
    config["model"] = BASE["model"]
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    (line,) = _problems(file, allow=False)
    assert "data.load_args.path" in line and "Keras cache" in line


# ---------------------------------------------------------------------------
# Train: refused before Keras; model.path in safe mode
# ---------------------------------------------------------------------------


def test_train_refuses_tfsmlayer_before_importing_tensorflow(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    layer = {"type": "TFSMLayer", "filepath": "saved", "call_endpoint": "serve"}
    path.write_text(yaml.safe_dump(with_layers(layer), sort_keys=False))
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from cbrun.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['train', '--no-user-code', {str(path)!r},"
        f" '--runs-dir', {str(tmp_path / 'runs')!r}])\n"
        "print(r.exit_code)\n"
        "print(r.output)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    exit_code, *output = result.stdout.strip().splitlines()
    assert exit_code == "1", result.stdout + result.stderr
    assert "layer TFSMLayer loads a TensorFlow SavedModel" in "\n".join(output)
    assert output[-1] == "False False"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_installed_cli_refuses_lambda_and_import_paths(tmp_path: Path) -> None:
    cbrun = Path(sys.executable).with_name("cbrun")
    if not cbrun.exists():
        found = shutil.which("cbrun")
        assert found, "the cbrun script is not installed"
        cbrun = Path(found)
    layer = {"type": "Lambda", "function": "os:system"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(with_layers(layer), sort_keys=False))
    result = subprocess.run(
        [str(cbrun), "validate", "--no-user-code", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.count(REFUSED) == 2
    assert "(Lambda).type: layer Lambda runs a Python function" in result.stdout
    assert "(Lambda).function: names user code (os:system)" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.keras
def test_train_refuses_a_saved_model_with_a_lambda(tmp_path: Path) -> None:
    code = (
        "import keras\n"
        "m = keras.Sequential([keras.Input((64,)), "
        "keras.layers.Lambda(lambda x: x * 2), keras.layers.Dense(10)])\n"
        f"m.save({str(tmp_path / 'lam.keras')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    config = yaml.safe_load(yaml.safe_dump(BASE))
    config["model"] = {"path": "lam.keras"}
    config["fit"] = {"epochs": 1}
    config["callbacks"] = []
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert _problems(path, allow=False) == []  # inside the folder: allowed
    result = subprocess.run(
        [
            Path(sys.executable).with_name("cbrun"),
            "train",
            "--no-user-code",
            str(path),
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    # A BuildError at model.path: a config problem, exit 1, at its line.
    assert result.returncode == 1, result.stderr
    line, column = line_of(path, "lam.keras")
    assert f"{path}:{line}:{column}: model.path: model.path 'lam.keras' needs " in (
        result.stderr + result.stdout
    )
    assert "Keras's safe_mode refuses to load" in result.stderr + result.stdout
    assert "`Lambda` layer" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_refused_layer_table_is_shown_in_messages() -> None:
    assert set(REFUSED_LAYERS) >= {
        "Lambda",
        "TFSMLayer",
        "JaxLayer",
        "FlaxLayer",
        "TorchModuleWrapper",
    }


@pytest.mark.keras
@pytest.mark.slow
def test_resume_keeps_the_path_rule_when_run_json_names_the_folder(
    tmp_path, monkeypatch
):
    """run.json names the config's folder; a hostile one must not widen it."""
    import json

    import numpy as np

    from cbrun import api
    from cbrun.training.resume import ResumeError
    from tests.conftest import MINIMAL

    project = tmp_path / "project"
    project.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(48, 4)),
        "y_train": rng.integers(0, 3, size=48),
        "x_test": rng.normal(size=(12, 4)),
        "y_test": rng.integers(0, 3, size=12),
    }
    np.savez(project / "data.npz", **arrays)
    np.savez(tmp_path / "secret.npz", **arrays)
    config = project / "config.yaml"
    config.write_text(
        MINIMAL.replace(
            "data: {source: sklearn, name: iris}",
            "data: {source: npz, path: data.npz}",
        )
    )
    monkeypatch.chdir(project)
    result = api.train(config, runs_dir=project / "runs", verbose=False)
    record_path = result.run_dir / "run.json"
    record = json.loads(record_path.read_text())
    record["status"] = "interrupted"  # As a killed run leaves it, resumable.

    record["config_file"] = "/etc/cbrun.yaml"
    record_path.write_text(json.dumps(record))
    with pytest.raises(ResumeError, match="outside the working directory"):
        api.resume(result.run_dir, allow_user_code=False)

    # Inside the working directory, the data paths are held to the folder.
    run_config = result.run_dir / "config.yaml"
    run_config.write_text(
        run_config.read_text().replace("path: data.npz", "path: ../secret.npz")
    )
    record["config_file"] = str(config)
    record_path.write_text(json.dumps(record))
    with pytest.raises(ResumeError, match=r"data\.path: .*no-user-code"):
        api.resume(result.run_dir, allow_user_code=False)


def test_an_import_path_among_a_sweeps_choices_is_refused(tmp_path):
    config = _copy(BASE)
    config["sweep"] = {
        "space": {"compile.optimizer": {"choice": ["adam", "os:system"]}},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(ConfigError) as refused:
        load_config(path, allow_user_code=False)
    assert any(
        "sweep.space" in p.where and "no-user-code" in p.message
        for p in refused.value.problems
    ), [p.format() for p in refused.value.problems]
