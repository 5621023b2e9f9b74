"""Every top-level example config trains, in full, to a working model.

A new user's first runs are the configs in ``configs/``; each states near its
top the result a working model reaches, in one machine-readable comment::

    # expect: test accuracy >= 0.93

(``test <metric> >= <floor>``, or ``<=`` for a loss; ``<metric>`` as written in
run.json's ``test_metrics``). Each config is trained once, in full, through the
real CLI in this one pytest process (``cbrun train CONFIG --runs-dir TMP``),
and its run.json must meet that floor. Where cheap, the behaviour the config
exists to show is checked too: ReduceLROnPlateau cutting the rate after a
plateau, EarlyStopping stopping, ModelCheckpoint keeping the best, the
LambdaCallback's lines, the loggers' files, RemoteMonitor's posts (to a real
HTTP server on 127.0.0.1 started here, the config's ``root`` pointed at it).

``configs/distributed/`` and ``configs/keras_cache/`` are not examples of this
kind: they need a cluster, another backend or downloaded datasets.

The training tests are marked slow and keras; the check that every config
states a floor is neither, so it also runs in the fast TensorFlow-free suite.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.http_sink import Post, http_sink

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
EXAMPLES = sorted(CONFIGS.glob("*.yaml"))

TRAINS = [pytest.mark.slow, pytest.mark.keras]

EXPECT_FORM = "# expect: test <metric> >= <floor>"
EXPECT_LINE = re.compile(
    r"^# expect: test (?P<metric>\w+) (?P<op>>=|<=) (?P<value>\d+(?:\.\d*)?)\s*$"
)
# Test metrics are float32 values: 27/30 correct is 0.8999999761581421.
FLOAT32_SLACK = 1e-6


# --- The floor each config states -------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """``test <metric> <op> <value>`` from a config's ``# expect:`` line."""

    metric: str
    op: str
    value: float

    def met_by(self, actual: float) -> bool:
        if self.op == ">=":
            return actual >= self.value - FLOAT32_SLACK
        return actual <= self.value + FLOAT32_SLACK

    def __str__(self) -> str:
        return f"test {self.metric} {self.op} {self.value:g}"


def read_expectation(path: Path) -> Expectation:
    """The one ``# expect:`` line of a config file.

    Raises:
        AssertionError: There is none, more than one, or one not in the form.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    stated = [line for line in lines if line.lstrip().startswith("# expect")]
    if not stated:
        raise AssertionError(
            f"{path.name} has no '# expect:' comment. Every example config in "
            f"configs/ states the result a working model reaches on its data, "
            f"as one line near its top: '{EXPECT_FORM}' (or '<=' for a loss), "
            f"e.g. '# expect: test accuracy >= 0.9', <metric> as in run.json's "
            f"test_metrics."
        )
    if len(stated) > 1:
        raise AssertionError(
            f"{path.name} has {len(stated)} '# expect:' lines; write one: "
            + " | ".join(stated)
        )
    match = EXPECT_LINE.match(stated[0].strip())
    if match is None:
        raise AssertionError(
            f"{path.name}: {stated[0].strip()!r} is not in the form "
            f"'{EXPECT_FORM}' (or '<=' for a loss), e.g. "
            f"'# expect: test accuracy >= 0.9'"
        )
    return Expectation(match["metric"], match["op"], float(match["value"]))


def test_there_are_example_configs():
    assert len(EXAMPLES) >= 8, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_a_runs_resolved_config_validates_again_to_the_same_experiment(path: Path):
    """--resume reads the run's config.yaml: defaults written out must validate."""
    from cbrun.config.loading import load_config, load_mapping
    from cbrun.training.records import resolved_data

    loaded = load_config(path)
    resolved = resolved_data(loaded.experiment)
    again = load_mapping(resolved, base_dir=path.parent).experiment
    assert again == loaded.experiment


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_states_its_floor(path: Path):
    read_expectation(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n", "has no '# expect:' comment"),
        ("# expect: accuracy 0.9\n", "is not in the form"),
        ("# expect: test accuracy > 0.9\n", "is not in the form"),
        ("# expect: test loss <= 0.3\n# expect: test loss <= 0.2\n", "2 '# expect:'"),
    ],
)
def test_a_missing_or_malformed_floor_is_explained(tmp_path, text, message):
    path = tmp_path / "new.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AssertionError, match=re.escape(message)):
        read_expectation(path)


def test_floors_compare_as_written():
    floor = Expectation("accuracy", ">=", 0.9)
    assert floor.met_by(0.8999999761581421)  # 27/30 in float32
    assert not floor.met_by(0.8666666746139526)
    ceiling = Expectation("loss", "<=", 0.3)
    assert ceiling.met_by(0.3) and not ceiling.met_by(0.31)


# --- A real HTTP server for RemoteMonitor ------------------------------------


@pytest.fixture(scope="module")
def http_server() -> Iterator[ThreadingHTTPServer]:
    with http_sink() as server:
        yield server


# --- Each config trained once, through the CLI -------------------------------


@dataclass
class Trained:
    """One example config's full run through ``cbrun train``."""

    path: Path
    run_dir: Path
    record: Any
    history: dict[str, list[float]]
    stdout: str
    stderr: str
    seconds: float
    posts: list[Post] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.history["loss"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, http_server) -> Callable[[str], Trained]:
    """``trained(stem)``: the run of ``configs/<stem>.yaml``, trained on first use."""
    from click.testing import CliRunner

    import cbrun.cli
    from cbrun.runs.manifest import load_record

    runs: dict[str, Trained] = {}

    def get(stem: str) -> Trained:
        if stem in runs:
            return runs[stem]
        path = CONFIGS / f"{stem}.yaml"
        runs_dir = tmp_path_factory.mktemp(f"runs-{stem}")
        args = ["train", str(path), "--runs-dir", str(runs_dir)]
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        types = [callback.get("type") for callback in config.get("callbacks") or []]
        server_posts: list[Post] = http_server.posts
        if "RemoteMonitor" in types:
            port = http_server.server_address[1]
            args += ["--set", f"callbacks.RemoteMonitor.root=http://127.0.0.1:{port}"]
        del server_posts[:]
        start = time.monotonic()
        result = CliRunner().invoke(cbrun.cli.cli, args)
        seconds = time.monotonic() - start
        shown = (
            f"cbrun {' '.join(args)}\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}"
        )
        if result.exc_info is not None and result.exit_code != 0:
            shown += "".join(traceback.format_exception(*result.exc_info))
        assert result.exit_code == 0, shown
        run_dirs = [p.parent for p in runs_dir.glob("*/*/run.json")]
        assert len(run_dirs) == 1, (run_dirs, shown)
        run_dir = run_dirs[0]
        history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
        runs[stem] = Trained(
            path,
            run_dir,
            load_record(run_dir),
            history,
            result.stdout,
            result.stderr,
            seconds,
            list(server_posts),
        )
        print(
            f"{stem}: trained in {seconds:.1f}s, test {runs[stem].record.test_metrics}"
        )
        return runs[stem]

    return get


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=TRAINS) for p in EXAMPLES], ids=lambda p: p.stem
)
def test_example_trains_to_its_floor(trained, path: Path):
    expected = read_expectation(path)  # before training: a missing floor fails fast
    run = trained(path.stem)
    metrics = run.record.test_metrics
    assert metrics, f"{path.name}: run.json has no test_metrics"
    assert expected.metric in metrics, (
        f"{path.name} expects test {expected.metric!r}, but run.json's "
        f"test_metrics has {sorted(metrics)}"
    )
    actual = metrics[expected.metric]
    assert actual is not None and expected.met_by(actual), (
        f"{path.name}: test {expected.metric} is {actual}, the config promises "
        f"{expected} ({run.run_dir})"
    )


# --- What each config exists to show ----------------------------------------


@pytest.mark.slow
@pytest.mark.keras
def test_reduce_lr_cuts_the_rate_after_a_plateau_and_the_loss_drops_again(trained):
    run = trained("reduce_lr")
    rates = run.history["learning_rate"]
    val_loss = run.history["val_loss"]
    cuts = [i for i in range(1, len(rates)) if rates[i] < rates[i - 1] * (1 - 1e-6)]
    assert cuts, f"the learning rate never changed: {rates}"
    first = cuts[0]  # the first epoch (0-based) trained at the lower rate
    assert first >= 4, f"cut at epoch {first + 1}, before any plateau: {val_loss}"
    # A plateau (patience 2): the two epochs before the cut did not improve on
    # the best before them, ...
    assert min(val_loss[first - 2 : first]) >= min(val_loss[: first - 2]) - 1e-4
    # ... and the lower rate got past it.
    best_before = min(val_loss[:first])
    assert min(val_loss[first:]) < best_before * 0.95, (best_before, val_loss)
    assert run.record.best["epoch"] > 1, run.record.best
    assert "ReduceLROnPlateau reducing learning rate" in run.stdout


@pytest.mark.slow
@pytest.mark.keras
def test_earlystop_stops_early(trained):
    run = trained("earlystop")
    record = run.record
    assert record.status == "stopped_early", record.stop_reason
    assert record.epochs_run == run.epochs < 500
    assert "EarlyStopping" in (record.stop_reason or "")
    assert record.best["monitor"] == "val_accuracy"
    assert record.best["epoch"] == record.epochs_run - 3  # patience 3


@pytest.mark.slow
@pytest.mark.keras
def test_checkpoint_keeps_the_best_model_and_every_epochs_weights(trained):
    import keras
    import numpy as np

    run = trained("checkpoint")
    folder = run.run_dir / "checkpoints"
    weights = sorted(folder.glob("weights.*.weights.h5"))
    assert [p.name[8:10] for p in weights] == [
        f"{epoch:02d}" for epoch in range(1, run.epochs + 1)
    ]
    best = run.record.best
    assert best["monitor"] == "val_accuracy"
    assert best["value"] == pytest.approx(max(run.history["val_accuracy"]))
    # Kept, not overwritten by the last epoch: the config trains past its best.
    assert best["epoch"] < run.epochs, best
    model = keras.models.load_model(folder / "best.keras")
    [at_best] = folder.glob(f"weights.{best['epoch']:02d}-*.weights.h5")
    reference = keras.models.clone_model(model)
    reference.load_weights(at_best)
    for kept, saved in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, saved)
    final = keras.models.load_model(run.run_dir / "model.keras")
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(model.get_weights(), final.get_weights(), strict=True)
    )


@pytest.mark.slow
@pytest.mark.keras
def test_custom_callback_stops_at_its_target_accuracy(trained):
    run = trained("custom_callback")
    accuracy = run.history["accuracy"]
    assert run.record.status == "stopped_early"
    assert accuracy[-1] >= 0.99
    assert all(value < 0.99 for value in accuracy[:-1])
    assert len(accuracy) < 50


@pytest.mark.slow
@pytest.mark.keras
def test_lr_scheduler_follows_its_schedule(trained):
    from cbrun.config.expressions import parse_schedule

    run = trained("lr_scheduler")
    config = yaml.safe_load(run.path.read_text(encoding="utf-8"))
    schedule = parse_schedule(config["callbacks"][0]["schedule"])
    lr = config["compile"]["optimizer"]["learning_rate"]
    expected = []
    for epoch in range(run.epochs):
        lr = schedule(epoch, lr)
        expected.append(lr)
    rates = run.history["learning_rate"]
    assert rates == pytest.approx(expected, rel=1e-6)
    assert rates[-1] < rates[0]
    assert "LearningRateScheduler setting learning rate" in run.stdout


@pytest.mark.slow
@pytest.mark.keras
def test_lambda_prints_one_line_per_epoch(trained):
    run = trained("lambda")
    lines = [line for line in run.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == run.epochs
    last = run.history
    assert lines[-1] == (
        f"epoch {run.epochs:2d}: accuracy {last['accuracy'][-1]:.4f}, "
        f"loss {last['loss'][-1]:.4f}, val_accuracy {last['val_accuracy'][-1]:.4f}, "
        f"val_loss {last['val_loss'][-1]:.4f}"
    )
    assert "training ended; last epoch: accuracy" in run.stdout


@pytest.mark.slow
@pytest.mark.keras
def test_logging_writes_csv_and_tensorboard_files(trained):
    from tensorboard.backend.event_processing import event_accumulator

    run = trained("logging")
    with (run.run_dir / "log.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(row["epoch"]) for row in rows] == list(range(run.epochs))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [float(row[key]) for row in rows] == pytest.approx(
            run.history[key], rel=1e-6
        )
    board = run.run_dir / "tensorboard"
    accumulator = event_accumulator.EventAccumulator(
        str(board / "train"), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    tags = accumulator.Tags()["tensors"]
    assert "epoch_loss" in tags and "epoch_accuracy" in tags, tags
    assert len(accumulator.Tensors("epoch_loss")) == run.epochs
    histograms = [tag for tag in tags if "histogram" in tag]
    assert histograms, f"histogram_freq: 1 wrote no histograms: {tags}"
    assert any((board / "validation").glob("events.out.tfevents.*"))
    assert f"tensorboard --logdir {board}" in run.stderr


@pytest.mark.slow
@pytest.mark.keras
def test_remote_monitor_posts_every_epoch_to_the_server(trained):
    run = trained("remote_monitor")
    posts = [post for post in run.posts if post.path == "/publish/epoch/end/"]
    assert len(posts) == run.epochs
    bodies = [json.loads(post.body) for post in posts]
    assert [body["epoch"] for body in bodies] == list(range(run.epochs))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        sent = [body[key] for body in bodies]
        assert all(
            math.isclose(a, b, rel_tol=1e-6)
            for a, b in zip(sent, run.history[key], strict=True)
        )
