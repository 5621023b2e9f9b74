"""When Keras raises in training, cbrun keeps the line that says why.

TensorFlow's ``InvalidArgumentError`` starts with "Graph execution error:",
then the node and the stack frames where the op was defined; Keras's own
sentence ("Received a label value of -1 which is outside the valid range of
[0, 2)") comes after them. The CLI's message and run.json's ``error`` keep
that sentence, without ``--verbose``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbrun.errors import ExitCode
from cbrun.training.reporting import MESSAGE_LIMIT, first_line, informative_lines
from tests.conftest import start_cbrun

_GRAPH_ERROR = """Graph execution error:

Detected at node compile_loss/sparse_categorical_crossentropy/Xent defined at \
(most recent call last):
  File "/tmp/script.py", line 6, in <module>

  File "/venv/keras/src/backend/tensorflow/nn.py", line 1438, in \
sparse_categorical_crossentropy

Received a label value of -1 which is outside the valid range of [0, 2).  \
Label values: 1 -1 1
\t [[{{node compile_loss/sparse_categorical_crossentropy/Xent}}]] \
[Op:__inference_multi_step_on_iterator_538]"""


def test_the_graph_error_header_node_and_frames_are_skipped() -> None:
    assert informative_lines(_GRAPH_ERROR) == [
        "Received a label value of -1 which is outside the valid range of "
        "[0, 2).  Label values: 1 -1 1"
    ]


def test_a_data_pipeline_error_keeps_the_decoder_sentence() -> None:
    text = (
        "Graph execution error:\n\nDetected at node decode_image/DecodeImage "
        "defined at (most recent call last):\n<stack traces unavailable>\n"
        "Invalid GIF data (size 97), failed to slurp gif file: Image EOF "
        "detected before image complete\n\t [[{{node decode_image/DecodeImage}}]]"
        "\n\t [[IteratorGetNext]] [Op:__inference_multi_step_on_iterator_2114]"
    )
    assert first_line(ValueError(text)) == (
        "Invalid GIF data (size 97), failed to slurp gif file: Image EOF "
        "detected before image complete"
    )


def test_a_plain_message_is_its_first_line_and_is_cut() -> None:
    assert first_line(ValueError("first\nsecond")) == "first"
    assert first_line(ValueError("")) == "ValueError"
    long = first_line(ValueError("x" * 5000))
    assert len(long) == MESSAGE_LIMIT and long.endswith("...")


def test_a_layer_call_error_keeps_the_layer_and_keras_sentence() -> None:
    # As Keras 3 raises it: a header, the sentence in bold, the arguments.
    text = (
        "Exception encountered when calling Dense.call().\n\n"
        "\x1b[1mdtype='string' is not a valid dtype for Keras type promotion."
        "\x1b[0m\n\nArguments received by Dense.call():\n"
        "  \u2022 inputs=tf.Tensor(shape=(2, 1), dtype=string)\n"
        "  \u2022 training=None"
    )
    assert first_line(ValueError(text)) == (
        "Dense.call(): dtype='string' is not a valid dtype for Keras type promotion."
    )


def test_an_error_with_only_noise_is_named_by_its_type() -> None:
    assert first_line(RuntimeError("Graph execution error:\n\n")) == "RuntimeError"


LOADER = """\
import numpy as np
import tensorflow as tf


def load():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = np.where(x[:, 0] > 0, 1, -1)
    return {"train": tf.data.Dataset.from_tensor_slices((x, y)).batch(16)}
"""


@pytest.fixture(scope="module")
def minus_one_labels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Labels -1 and 1 with sparse_categorical_crossentropy, reaching fit.

    A stream from the user's function: cbrun's own label check reads array
    labels before fit, so this is what only Keras sees.
    """
    folder = tmp_path_factory.mktemp("labels")
    (folder / "minus_one.py").write_text(LOADER, encoding="utf-8")
    config = folder / "labels.yaml"
    config.write_text(
        "data: {source: function, function: minus_one:load}\n"
        "model:\n"
        "  layers:\n"
        "    - {type: Dense, units: 2, activation: softmax}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
        "fit: {epochs: 1, verbose: 0}\n",
        encoding="utf-8",
    )
    return folder, config


@pytest.mark.keras
def test_keras_label_error_reaches_the_cli_and_run_json(
    minus_one_labels: tuple[Path, Path],
) -> None:
    folder, config = minus_one_labels
    runs = folder / "runs"
    process = start_cbrun("train", str(config), "--runs-dir", str(runs))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == ExitCode.TRAINING_FAILED, stderr
    assert "label value of -1" in stderr
    assert "Graph execution error" not in stderr
    assert "Traceback" not in stderr
    (record_path,) = runs.glob("*/*/run.json")
    record = json.loads(record_path.read_text())
    assert record["status"] == "failed"
    assert "label value of -1" in record["error"]
    assert record["error"].startswith("InvalidArgumentError: Received a label")
    assert len(record["error"]) < 400


TEST_SPLIT_LOADER = """\
import numpy as np
import tensorflow as tf


def load():
    x = np.linspace(-1, 1, 32, dtype="float32").reshape(-1, 1)
    good = (x[:, 0] > 0).astype("int64")
    bad = np.where(x[:, 0] > 0, 1, -1)
    return {
        "train": tf.data.Dataset.from_tensor_slices((x, good)).batch(8),
        "test": tf.data.Dataset.from_tensor_slices((x, bad)).batch(8),
    }
"""


@pytest.mark.keras
def test_a_keras_error_while_evaluating_keeps_its_line_too(tmp_path: Path) -> None:
    from cbrun.config.loading import load_config
    from cbrun.runs.manifest import load_record
    from cbrun.training.lifecycle import train
    from cbrun.training.outcome import TrainingFailed

    (tmp_path / "test_split.py").write_text(TEST_SPLIT_LOADER, encoding="utf-8")
    config = tmp_path / "evaluate.yaml"
    config.write_text(
        "data: {source: function, function: test_split:load}\n"
        "model: {layers: [{type: Dense, units: 2, activation: softmax}]}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
        "fit: {epochs: 1, verbose: 0}\n",
        encoding="utf-8",
    )
    with pytest.raises(TrainingFailed) as caught:
        train(
            load_config(config),
            tmp_path / "runs",
            command=["cbrun", "train", str(config)],
            echo=lambda line: None,
        )
    assert "after training: InvalidArgumentError: Received a label value of -1" in (
        str(caught.value)
    )
    (record_path,) = (tmp_path / "runs").glob("*/*/run.json")
    record = load_record(record_path.parent)
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.startswith("after training: InvalidArgumentError: Received")
