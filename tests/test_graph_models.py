"""Graph models: named inputs and layers, outputs, ``call:``, ``trainable: false``.

The TF-free checks (references, order, cycles, dangling layers) run through
``load_config``; the training tests build real tiny graphs with Keras.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cbrun.config.loading import load_config
from cbrun.errors import ConfigError, Problem

DATA = "data: {source: sklearn, name: digits, scale: 0.0625}\n"
COMPILE = "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"


def problems(tmp_path: Path, model: str, rest: str = COMPILE) -> list[Problem]:
    path = tmp_path / "config.yaml"
    path.write_text(DATA + textwrap.dedent(model) + rest, encoding="utf-8")
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        return list(exc.problems)
    return loaded.warnings


def test_a_valid_residual_graph_has_no_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model:
          inputs: [{name: pixels}]
          layers:
            - {name: h1, type: Dense, units: 8}
            - {name: h2, type: Dense, units: 8}
            - {name: sum, type: Add, inputs: [h1, h2]}
            - {name: out, type: Dense, units: 10, activation: softmax}
          outputs: out
        """,
    )
    assert found == []


def test_unknown_later_defined_and_duplicate_names_at_their_lines(
    tmp_path: Path,
) -> None:
    found = problems(
        tmp_path,
        """\
        model:
          inputs: [{name: pixels}, {name: extra}]
          layers:
            - {name: h1, type: Dense, units: 8, inputs: pixel}
            - {name: h2, type: Dense, units: 8, inputs: [h1, h3]}
            - {name: h3, type: Dense, units: 8, inputs: extra}
            - {name: h1, type: Dense, units: 8, inputs: h3}
            - {name: out, type: Dense, units: 10, inputs: h2}
          outputs: [out, outt]
        """,
    )
    by_line = {p.line: p for p in found if p.severity == "error"}
    assert "unknown input or layer 'pixel'" in by_line[5].message
    assert "did you mean 'pixels'?" in by_line[5].message
    assert by_line[5].where == "model.layers[0] (Dense).inputs"
    assert "'h3' is defined later, at line 7" in by_line[6].message
    assert by_line[6].where == "model.layers[1] (Dense).inputs[1]"
    assert "'h1' is already used at line 5" in by_line[8].message
    assert "output 'outt' is not an input or layer" in by_line[10].message
    assert "did you mean 'out'?" in by_line[10].message


def test_a_cycle_is_named_as_one(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model:
          layers:
            - {name: a, type: Dense, units: 8, inputs: c}
            - {name: b, type: Dense, units: 8, inputs: a}
            - {name: c, type: Dense, units: 8, inputs: b}
            - {name: out, type: Dense, units: 10, inputs: c}
        """,
    )
    (cycle,) = [p for p in found if "cycle" in p.message]
    assert "a -> c -> b -> a" in cycle.message or "a -> b -> c -> a" in cycle.message
    assert cycle.line == 4
    assert not [p for p in found if "defined later" in p.message]


def test_dangling_layers_and_unused_inputs(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model:
          inputs: [{name: pixels}, {name: extra}]
          layers:
            - {name: h1, type: Dense, units: 8, inputs: pixels}
            - {name: side, type: Dense, units: 8}
            - {type: Dense, units: 4}
            - {name: out, type: Dense, units: 10, inputs: h1}
        """,
    )
    messages = {p.line: p.message for p in found}
    assert "input 'extra' is not used by any layer" in messages[3]
    assert "layer 'side' does not lead to any output" in messages[6]
    assert "layer 2 (unnamed) is left dangling" in messages[7]


def test_several_inputs_need_the_first_layer_to_name_its_input(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model:
          inputs: [{name: a}, {name: b}]
          layers:
            - {type: Dense, units: 8}
            - {name: out, type: Concatenate, inputs: [a, b]}
        """,
    )
    assert any("there are 2 (a, b)" in p.message for p in found)


def test_a_sequential_model_is_not_a_graph(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model:
          layers:
            - {type: Dense, units: 8, trainable: false}
            - {type: Dense, units: 10, activation: softmax}
        """,
    )
    assert found == []


# Training real graphs.


def _train(tmp_path: Path, text: str) -> tuple[dict[str, list[float]], Path]:
    from tests.test_train_runs import train_path, write

    path = write(tmp_path, text)
    result = train_path(path, tmp_path / "runs")
    run_dir = Path(result.run_dir)
    history = json.loads((run_dir / "history.json").read_text())
    return history, run_dir


@pytest.fixture(scope="module")
def residual_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    tmp_path = tmp_path_factory.mktemp("residual")
    return _train(
        tmp_path,
        """\
        name: residual
        data: {source: sklearn, name: digits, scale: 0.0625}
        model:
          layers:
            - {name: h1, type: Dense, units: 16, activation: relu}
            - {name: frozen, type: Dense, units: 16, trainable: false}
            - {name: skip, type: Add, inputs: [h1, frozen]}
            - {name: drop, type: Dropout, rate: 0.5, call: {training: false}}
            - {name: out, type: Dense, units: 10, activation: softmax}
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy,
                  metrics: [accuracy]}
        fit: {epochs: 3, batch_size: 64}
        """,
    )


@pytest.mark.keras
def test_a_residual_graph_trains_and_keeps_the_frozen_layer(residual_run) -> None:
    import keras

    history, run_dir = residual_run
    assert len(history["loss"]) == 3
    assert history["loss"][-1] < history["loss"][0]
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    assert [layer.name for layer in model.layers][:2] == ["input", "h1"]
    assert model.get_layer("frozen").trainable is False
    assert model.get_layer("skip").__class__.__name__ == "Add"
    # the frozen kernel is still the seeded initial one: retrain nothing
    trainable = {w.path for w in model.trainable_weights}
    assert not any(path.startswith("frozen/") for path in trainable)
    assert any(path.startswith("h1/") for path in trainable)


@pytest.mark.keras
def test_call_arguments_reach_the_layer(tmp_path: Path) -> None:
    import keras

    from cbrun.config.loading import load_config
    from cbrun.keras.data import load_data
    from cbrun.keras.model import build_model

    path = tmp_path / "c.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            data: {source: synthetic, samples: 8, shape: [4], classes: 2}
            model:
              inputs: [{name: x}]
              layers:
                - {name: drop, type: Dropout, rate: 0.5, call: {training: true}}
            compile: {loss: mse}
            """
        )
    )
    config = load_config(path).experiment
    data = load_data(config.data, seed=1, base_dir=tmp_path)
    model = build_model(config, data)
    x = np.ones((64, 4), dtype="float32")
    # Called without `training`, the node's own training=True drops units out
    # (Keras 3 lets a `training` given to the model override it, as in fit).
    out = keras.ops.convert_to_numpy(model(x))
    assert set(np.unique(out)) == {0.0, 2.0}


@pytest.mark.keras
def test_a_missing_named_input_in_the_data_is_a_build_error(tmp_path: Path) -> None:
    from cbrun.config.loading import load_config
    from cbrun.errors import BuildError
    from cbrun.keras.data import load_data
    from cbrun.keras.model import build_model

    path = tmp_path / "c.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            data: {source: synthetic, samples: 8, shape: [4], classes: 2}
            model:
              inputs: [{name: a}, {name: b}]
              layers:
                - {name: both, type: Concatenate, inputs: [a, b]}
            compile: {loss: mse}
            """
        )
    )
    config = load_config(path).experiment
    data = load_data(config.data, seed=1, base_dir=tmp_path)
    with pytest.raises(BuildError) as caught:
        build_model(config, data)
    assert caught.value.path == ("model", "inputs")
    assert "the model has 2 inputs but the data gives one array" in str(caught.value)


@pytest.mark.keras
def test_a_builders_path_param_resolves_against_the_configs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cbrun.config.loading import load_config
    from cbrun.keras.data import load_data
    from cbrun.keras.imports import add_import_root
    from cbrun.keras.model import build_model

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "vocab.txt").write_text("a\nb\n")
    (tmp_path / "path_builder.py").write_text(
        textwrap.dedent(
            """\
            import keras

            SEEN = {}


            def build(vocab, plain):
                SEEN.update(vocab=vocab, plain=plain)
                return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            """
        )
    )
    path = tmp_path / "c.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            data: {source: synthetic, samples: 8, shape: [4], classes: 2}
            model:
              build: path_builder:build
              params: {vocab: {path: data/vocab.txt}, plain: data/vocab.txt}
            compile: {loss: mse}
            """
        )
    )
    monkeypatch.chdir(Path("/"))  # somewhere else: the config's folder counts
    add_import_root(tmp_path)
    config = load_config(path).experiment
    data = load_data(config.data, seed=1, base_dir=tmp_path)
    build_model(config, data, base_dir=tmp_path)
    import path_builder  # type: ignore[import-not-found]

    assert path_builder.SEEN["vocab"] == str(tmp_path / "data" / "vocab.txt")
    assert Path(path_builder.SEEN["vocab"]).read_text() == "a\nb\n"
    assert path_builder.SEEN["plain"] == "data/vocab.txt"  # as written


def test_a_function_value_that_is_no_import_path(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model:
          layers:
            - {type: Dense, units: 10, kernel_initializer: {function: nope}}
        """,
    )
    (problem,) = found
    assert problem.where == "model.layers[0] (Dense).kernel_initializer.function"
    assert "function 'nope' is not an import path" in problem.message
