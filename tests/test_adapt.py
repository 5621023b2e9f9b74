"""``adapt: true``: preprocessing layers fitted on the training split only.

- ``cbrun validate`` (no TensorFlow): a Normalization with neither adapt nor
  mean/variance, ``adapt`` on a layer that cannot adapt, ``adapt`` beside the
  state it computes; the list of adaptable layers is the installed Keras's.
- A run adapts before fit, on the samples Keras's fit trains on: the data are
  built so that the training split, Keras's validation split (the last 20 %)
  and the test arrays have clearly different means, and the saved
  model.keras holds the training split's mean, not the file's.
- A layer after others sees their outputs (a later layer sees earlier ones
  adapted); lookups in a graph of named inputs get the training split's
  vocabulary, built before the layers after them (a one-hot width).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cbrun.config.loading import load_config
from cbrun.config.preprocessing_checks import ADAPTED_STATE
from cbrun.errors import ConfigError
from cbrun.runs.manifest import load_record

# --- validate ------------------------------------------------------------------

HEAD = """\
data: {source: sklearn, name: iris}
model:
  layers:
"""
TAIL = """\
    - {type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""


def problems(folder: Path, layer: str) -> list[str]:
    path = folder / "config.yaml"
    path.write_text(HEAD + f"    - {layer}\n" + TAIL, encoding="utf-8")
    try:
        loaded = load_config(path, display=path.name)
    except ConfigError as exc:
        return [p.format() for p in exc.problems]
    return [p.format() for p in loaded.warnings]


def test_a_normalization_without_adapt_or_mean_is_an_error_with_the_fix(tmp_path):
    (problem,) = problems(tmp_path, "{type: Normalization}")
    assert problem.startswith("config.yaml:4:14: model.layers[0] (Normalization).type")
    assert "identity layer" in problem
    assert "add adapt: true" in problem and "mean: and variance:" in problem


@pytest.mark.parametrize(
    "layer",
    [
        "{type: Normalization, adapt: true}",
        "{type: Normalization, mean: [1, 2, 3, 4], variance: [1, 1, 1, 1]}",
        "{type: StringLookup, vocabulary: [a, b]}",
    ],
)
def test_a_layer_with_its_state_passes(tmp_path, layer):
    assert problems(tmp_path, layer) == []


def test_adapt_on_a_layer_that_cannot_adapt_names_the_ones_that_can(tmp_path):
    (problem,) = problems(tmp_path, "{type: Dense, units: 4, adapt: true}")
    assert problem.startswith("config.yaml:4:38: model.layers[0] (Dense).adapt: ")
    assert "Dense cannot adapt" in problem
    assert ", ".join(sorted(ADAPTED_STATE)) in problem


def test_adapt_beside_mean_and_variance_is_an_error(tmp_path):
    (problem,) = problems(
        tmp_path, "{type: Normalization, adapt: true, mean: 0, variance: 1}"
    )
    assert "model.layers[0] (Normalization).adapt" in problem
    assert "remove adapt, or remove mean and variance" in problem


def test_a_lookup_without_vocabulary_or_adapt_is_a_warning(tmp_path):
    (problem,) = problems(tmp_path, "{type: IntegerLookup}")
    assert "warning: this IntegerLookup has neither adapt: true nor vocabulary" in (
        problem
    )


@pytest.mark.keras
def test_the_adaptable_layers_are_the_keras_layers_with_an_adapt_method():
    import keras

    with_adapt = {
        name
        for name in dir(keras.layers)
        if isinstance(getattr(keras.layers, name), type)
        and callable(getattr(getattr(keras.layers, name), "adapt", None))
    }
    assert with_adapt == set(ADAPTED_STATE)


def _array(tensor: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor))


# --- a run adapts on the training split ------------------------------------------

CONFIG = """\
    seed: 1
    data: {source: npz, path: data.npz}
    model:
      layers:
        - {type: Normalization, adapt: true}
        - {type: Dense, units: 1, kernel_initializer: ones, use_bias: false}
        - {type: Normalization, adapt: true}
        - {type: Dense, units: 2, activation: softmax}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    fit: {epochs: 3, batch_size: 16, validation_split: 0.2, verbose: 0}
    """


@pytest.fixture(scope="module")
def adapted_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train CONFIG on data whose three parts have far apart means."""
    from cbrun.training.lifecycle import train

    folder = tmp_path_factory.mktemp("adapt")
    rng = np.random.default_rng(7)
    train_part = rng.normal((10.0, -3.0), 1.0, size=(80, 2))
    validation_part = rng.normal((-50.0, 40.0), 1.0, size=(20, 2))
    x = np.concatenate([train_part, validation_part]).astype("float32")
    x_test = rng.normal((100.0, 100.0), 1.0, size=(30, 2)).astype("float32")
    np.savez(
        folder / "data.npz",
        x_train=x,
        y_train=(x[:, 0] > 0).astype("int64"),
        x_test=x_test,
        y_test=(x_test[:, 0] > 100).astype("int64"),
    )
    config = folder / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    lines: list[str] = []
    result = train(
        load_config(config),
        folder / "runs",
        command=["cbrun", "train", str(config)],
        echo=lines.append,
    )
    import keras

    model = keras.saving.load_model(result.run_dir / "model.keras")
    return {"x": x, "x_test": x_test, "lines": lines, "model": model, "result": result}


@pytest.mark.keras
def test_the_saved_normalization_holds_the_training_split_mean_only(adapted_run):
    x, model = adapted_run["x"], adapted_run["model"]
    first = model.layers[0]
    mean = _array(first.mean).reshape(-1)
    variance = _array(first.variance).reshape(-1)
    np.testing.assert_allclose(mean, x[:80].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(variance, x[:80].var(axis=0), rtol=1e-4)
    # The whole file's mean (validation rows too), or the test rows', differ.
    assert np.abs(mean - x.mean(axis=0)).min() > 5
    assert np.abs(mean - adapted_run["x_test"].mean(axis=0)).min() > 50


@pytest.mark.keras
def test_a_later_layer_is_adapted_on_what_the_layers_above_give(adapted_run):
    x, model = adapted_run["x"], adapted_run["model"]
    train = x[:80]
    # Normalized by the first layer, then summed by the ones-kernel Dense.
    reaching = ((train - train.mean(axis=0)) / train.std(axis=0)).sum(axis=1)
    second = model.layers[2]
    np.testing.assert_allclose(
        _array(second.mean).reshape(-1), [reaching.mean()], atol=1e-4
    )
    np.testing.assert_allclose(
        _array(second.variance).reshape(-1), [reaching.var()], rtol=1e-3
    )


@pytest.mark.keras
def test_the_history_equals_a_hand_written_script_adapting_on_x_80(adapted_run):
    """The keras-io way: adapt on the training rows, then fit with the split."""
    import keras

    keras.utils.set_random_seed(1)
    x = adapted_run["x"]
    y = (x[:, 0] > 0).astype("int64")
    train = x[:80]
    model = keras.Sequential([keras.Input(shape=(2,))])
    first = keras.layers.Normalization()
    first.adapt(train)
    model.add(first)
    model.add(keras.layers.Dense(1, kernel_initializer="ones", use_bias=False))
    second = keras.layers.Normalization()
    second.adapt(model.predict(train, verbose=0))
    model.add(second)
    model.add(keras.layers.Dense(2, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(
        x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0
    ).history
    ours = adapted_run["result"].history
    assert set(ours) == set(history)
    for key, values in history.items():
        np.testing.assert_allclose(ours[key], values, rtol=1e-6, atol=1e-6)


@pytest.mark.keras
def test_each_adapted_layer_is_one_log_line_before_the_run_dir(adapted_run):
    lines = adapted_run["lines"]
    adapted = [line for line in lines if line.startswith("adapted ")]
    assert adapted == [
        "adapted normalization (Normalization) on 80 training samples",
        "adapted normalization_1 (Normalization) on 80 training samples",
    ]
    assert lines.index(adapted[-1]) < next(
        i for i, line in enumerate(lines) if line.startswith("run dir: ")
    )
    assert load_record(adapted_run["result"].run_dir).status == "completed"


# --- graphs of named inputs, streams ---------------------------------------------

COLORS_TRAIN = ["red", "blue", "red", "green"] * 10  # 40 training rows
COLORS_HELD_OUT = ["violet"] * 10  # Keras's validation split: the last 20 %


def _columns() -> tuple[Any, Any]:
    """A Dataset of named columns: a number and a string, 50 rows."""
    from cbrun.keras.data.common import Dataset

    colors = np.array(COLORS_TRAIN + COLORS_HELD_OUT).reshape(-1, 1)
    age = np.arange(50, dtype="float32").reshape(-1, 1)
    y = np.zeros(50, dtype="int64")
    x = {"age": age, "color": colors}
    return Dataset(x, y, None, None, "classification", 2, "columns"), x


def _graph(adapter: Any) -> Any:
    """A graph as cbrun's builder makes it: adapt each layer before its call."""
    import keras

    inputs = {
        "age": keras.Input(shape=(1,), name="age"),
        "color": keras.Input(shape=(1,), dtype="string", name="color"),
    }
    lookup = keras.layers.StringLookup(output_mode="one_hot", name="color_l")
    adapter.adapt_in_graph(lookup, inputs["color"], inputs, ("model", "layers", 0))
    norm = keras.layers.Normalization(name="age_n")
    adapter.adapt_in_graph(norm, inputs["age"], inputs, ("model", "layers", 1))
    both = keras.layers.Concatenate()([lookup(inputs["color"]), norm(inputs["age"])])
    dense = keras.layers.Dense(2, kernel_initializer="ones", name="d")(both)
    after = keras.layers.Normalization(name="after")
    adapter.adapt_in_graph(after, dense, inputs, ("model", "layers", 3))
    return keras.Model(inputs, after(dense))


@pytest.mark.keras
def test_graph_lookups_get_the_training_vocabulary_before_the_layers_after_them():
    from cbrun.keras.adapt import Adapter

    data, _ = _columns()
    lines: list[str] = []
    adapter = Adapter.for_training(
        data, validation_split=0.2, validation_data=None, echo=lines.append
    )
    model = _graph(adapter)
    lookup = model.get_layer("color_l")
    assert sorted(lookup.get_vocabulary()) == ["[UNK]", "blue", "green", "red"]
    # The one-hot width is the vocabulary's: the Dense after it was built on it.
    assert model.get_layer("d").kernel.shape == (4 + 1, 2)
    np.testing.assert_allclose(
        _array(model.get_layer("age_n").mean).reshape(-1), [19.5]
    )
    # The last Normalization sees one-hot + normalized age through the Dense.
    age = (np.arange(40) - 19.5) / np.arange(40).std()
    np.testing.assert_allclose(
        _array(model.get_layer("after").mean).reshape(-1),
        [1 + age.mean()] * 2,
        atol=1e-5,
    )
    assert lines == [
        "adapted color_l (StringLookup) on 40 training samples",
        "adapted age_n (Normalization) on 40 training samples",
        "adapted after (Normalization) on 40 training samples",
    ]


@pytest.mark.keras
def test_with_validation_data_every_training_sample_is_adapted_on():
    from cbrun.keras.adapt import Adapter

    data, _ = _columns()
    adapter = Adapter.for_training(
        data, validation_split=0.2, validation_data="test", echo=None
    )
    model = _graph(adapter)
    assert "violet" in model.get_layer("color_l").get_vocabulary()
    assert adapter.samples == 50


@pytest.mark.keras
def test_a_stream_is_adapted_on_its_training_pipeline_only():
    import tensorflow as tf

    from cbrun.keras.adapt import Adapter
    from cbrun.keras.data.common import Dataset, Streams

    texts = np.array(["the red fox", "a blue fox", "red red dog"])
    train = tf.data.Dataset.from_tensor_slices((texts, np.zeros(3))).batch(2)
    held = tf.data.Dataset.from_tensor_slices((np.array(["quokka"]), [0.0])).batch(2)
    streams = Streams(train, held, held, train_samples=3)
    data = Dataset(None, None, None, None, "classification", 2, "text", streams)
    adapter = Adapter.for_training(
        data, validation_split=0.0, validation_data=None, echo=None
    )
    import keras

    vectorize = keras.layers.TextVectorization(name="words")
    adapter.adapt(vectorize, None, ("model", "layers", 0))
    vocabulary = vectorize.get_vocabulary()
    assert vocabulary[:3] == ["", "[UNK]", "red"]  # most frequent first
    assert set(vocabulary[3:]) == {"fox", "the", "a", "blue", "dog"}
    assert "quokka" not in vocabulary


@pytest.mark.keras
def test_a_layer_that_cannot_take_the_values_fails_at_its_config_place():
    import keras

    from cbrun.errors import BuildError
    from cbrun.keras.adapt import Adapter

    data, _ = _columns()
    adapter = Adapter.for_training(
        data, validation_split=0.2, validation_data=None, echo=None
    )
    with pytest.raises(BuildError) as caught:
        adapter.adapt(
            keras.layers.IntegerLookup(name="ints"),
            None,
            ("model", "layers", 2),
            "color",
        )
    assert caught.value.path == ("model", "layers", 2)
    assert caught.value.message.startswith(
        "adapting ints (IntegerLookup) on the training split failed: "
    )


# --- the adapted state kept for --resume --------------------------------------------


@pytest.mark.keras
def test_saved_states_restore_every_adaptable_layer_without_adapting(tmp_path):
    import keras

    from cbrun.keras.adapt import Adapter

    words = np.array([["red fox"], ["blue fox"], ["red dog"], ["fox"]])
    numbers = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 40.0], [4.0, 80.0]])
    kinds = {
        "string": lambda: keras.layers.StringLookup(
            name="string", output_mode="one_hot"
        ),
        "integer": lambda: keras.layers.IntegerLookup(name="integer"),
        "text": lambda: keras.layers.TextVectorization(
            name="text", output_mode="tf_idf"
        ),
        "norm": lambda: keras.layers.Normalization(name="norm"),
        "bins": lambda: keras.layers.Discretization(name="bins", num_bins=3),
    }
    values = {
        "string": np.array([["a"], ["b"], ["b"], ["c"]]),
        "integer": np.array([[3], [5], [5], [9]]),
        "text": words[:, 0],
        "norm": numbers,
        "bins": numbers[:, :1],
    }
    adapter = Adapter(None, 4)
    adapted = {}
    for name, make in kinds.items():
        adapter.inputs = values[name]
        adapted[name] = make()
        adapter.adapt(adapted[name], None, ("model", "layers", 0))
    saved = adapter.save(tmp_path / "backup")
    assert saved == tmp_path / "backup" / "adapted.npz"
    lines: list[str] = []
    restoring = Adapter.restoring(saved, echo=lines.append)
    for name, make in kinds.items():
        fresh = make()
        restoring.adapt(fresh, None, ("model", "layers", 0))
        x = values[name]
        np.testing.assert_allclose(
            _array(fresh(x)), _array(adapted[name](x)), err_msg=name
        )
    assert lines[0] == "restored string (StringLookup) as adapted when the run began"
    assert restoring.states == {}  # nothing adapted: the file stays as it was
    assert restoring.save(tmp_path / "other") is None


@pytest.mark.keras
def test_a_state_file_without_the_layer_says_the_config_changed(tmp_path):
    import keras

    from cbrun.errors import BuildError
    from cbrun.keras.adapt import Adapter

    adapter = Adapter(np.array([[1.0], [3.0]]), 2)
    adapter.adapt(keras.layers.Normalization(name="a"), None, ("model", "layers", 0))
    saved = adapter.save(tmp_path)
    assert saved is not None
    with pytest.raises(BuildError, match="holds no state for it \\(it has a\\)"):
        Adapter.restoring(saved).adapt(
            keras.layers.Normalization(name="b"), None, ("model", "layers", 1)
        )


RESUME_CONFIG = """\
name: colors
seed: 3
data: {{source: csv, path: {path}, target: y, inputs: columns, test_size: 0.2}}
model:
  inputs: [{{name: color, dtype: string}}]
  layers:
    - {{name: lookup, type: StringLookup, output_mode: one_hot, adapt: true,
       inputs: color}}
    - {{name: out, type: Dense, units: 2, activation: softmax}}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
fit: {{epochs: 3000, batch_size: 1, validation_split: 0.2, verbose: 0}}
"""


def _write_colors(path: Path, extra: tuple[str, ...] = ()) -> None:
    colors = ["red", "blue", "green", "amber"] * 10
    rows = [f"{color},{index % 2}" for index, color in enumerate(colors)]
    rows += [f"{color},0" for color in extra]
    path.write_text("color,y\n" + "\n".join(rows) + "\n", encoding="utf-8")


@pytest.mark.slow
@pytest.mark.keras
def test_resume_restores_the_vocabulary_the_run_began_with(tmp_path):
    """Killed, the file gets new values, resumed: the vocabulary is the first one.

    Adapting again would learn a wider one-hot than the backed-up Dense
    kernel takes; the resumed run restores the saved state instead.
    """
    from tests.conftest import start_cbrun, wait_for_record

    table = tmp_path / "colors.csv"
    _write_colors(table)
    config = tmp_path / "colors.yaml"
    config.write_text(RESUME_CONFIG.format(path=table), encoding="utf-8")
    runs = tmp_path / "runs"
    process = start_cbrun("train", str(config), "--runs-dir", str(runs))
    run_dir, _ = wait_for_record(
        runs,
        "*/*/run.json",
        process,
        lambda record: bool(record.get("backup_epoch")),
        "no backup",
    )
    process.kill()
    _, first_err = process.communicate(timeout=60)
    assert "adapted lookup (StringLookup) on " in first_err
    assert (run_dir / "backup" / "adapted.npz").is_file()
    done = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    _write_colors(table, extra=("zebra", "yak", "quokka") * 20)

    resumed = start_cbrun(
        "train", "--resume", str(run_dir), "--set", f"fit.epochs={done['epoch'] + 1}"
    )
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    assert "restored lookup (StringLookup) as adapted when the run began" in err
    assert "adapted lookup" not in err
    import keras

    model = keras.saving.load_model(run_dir / "model.keras")
    vocabulary = set(model.get_layer("lookup").get_vocabulary())
    assert vocabulary == {"[UNK]", "red", "blue", "green", "amber"}
    assert not (run_dir / "backup").exists()
