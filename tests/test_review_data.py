"""A new user's data mistakes and edge cases, found in review (issue 14)."""

from __future__ import annotations

import shutil

from cbrun.config.loading import load_config
from cbrun.runs import manifest as runs
from cbrun.training.records import write_resolved_config
from cbrun.training.resume import prepare_resume
from tests.conftest import CONFIGS

TEXT_CONFIG = """\
name: words
data: {source: text, path: text, test_size: 0.2}
model:
  inputs: [{name: text, shape: [], dtype: string}]
  layers:
    - {name: words, type: TextVectorization, max_tokens: 50,
       output_sequence_length: 8, adapt: true, inputs: text}
    - {name: embedded, type: Embedding, input_dim: 50, output_dim: 4}
    - {name: pooled, type: GlobalAveragePooling1D}
    - {name: out, type: Dense, units: 3, activation: softmax}
  outputs: out
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 3, batch_size: 8}
"""


def test_resume_finds_a_relative_folder_beside_the_original_config(tmp_path):
    """The run's config.yaml says `path: text`, relative to the original config.

    Its checks must look beside that config, not inside the run dir.
    """
    project = tmp_path / "project"
    shutil.copytree(CONFIGS / "data" / "text", project / "text")
    config = project / "words.yaml"
    config.write_text(TEXT_CONFIG, encoding="utf-8")
    loaded = load_config(config)
    run_dir = tmp_path / "runs" / "words" / "20260101-000000"
    run_dir.mkdir(parents=True)
    write_resolved_config(run_dir, loaded)
    manifest = runs.RunManifest(run_dir)
    manifest.start("words", config, 1, ["cbrun", "train", str(config)])
    manifest.finish(runs.INTERRUPTED, stop_reason="SIGINT after 0 epochs")

    resumed, point = prepare_resume(run_dir, ())

    assert point.epoch == 0
    assert resumed.base_dir.resolve() == project.resolve()
    assert resumed.experiment.data == loaded.experiment.data
