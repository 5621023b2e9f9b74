"""``cbrun plot`` and history.png: real PNG files, decoded and measured."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from cbrun.runs.layout import HISTORY_PLOT, RUN_FILE
from cbrun.runs.listing import RunsError
from cbrun.runs.manifest import COMPLETED, STOPPED_EARLY
from cbrun.runs.plots import (
    _load_run,
    default_output,
    default_panels,
    draw_history_plot,
    plot_runs,
    save_history_plot,
)
from tests.test_runs_listing import HISTORY, make_run

BEST = {"monitor": "val_accuracy", "value": 0.85, "epoch": 2}


def image(path: Path) -> Image.Image:
    """Decode ``path``; fail unless it is a valid, non-blank PNG."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        img.load()
        rgb = img.convert("RGB")
    assert max(ImageStat.Stat(rgb).var) > 0, "the image is blank"
    return rgb


@pytest.fixture
def run_a(tmp_path: Path) -> Path:
    return make_run(
        tmp_path / "runs",
        "mnist",
        0,
        status=STOPPED_EARLY,
        history=HISTORY,
        best=BEST,
        epochs_run=3,
    )


@pytest.fixture
def run_b(tmp_path: Path) -> Path:
    history = {k: [v * 0.9 for v in values] * 2 for k, values in HISTORY.items()}
    return make_run(tmp_path / "runs", "mnist", 1, history=history, best=BEST)


def test_one_run_one_panel_per_metric_in_tutorial_order(run_a: Path, tmp_path: Path):
    panels = default_panels([_load_run(run_a)])
    assert [(p.title, p.keys) for p in panels] == [
        ("accuracy", ("accuracy", "val_accuracy")),
        ("loss", ("loss", "val_loss")),
        ("learning_rate", ("learning_rate",)),
    ]
    output = plot_runs([run_a], tmp_path / "a.png")
    assert output == tmp_path / "a.png"
    assert image(output).size == (640, 3 * 240)


def test_two_runs_overlaid_with_the_metrics_asked_for(
    run_a: Path, run_b: Path, tmp_path: Path
):
    output = plot_runs([run_a, run_b], tmp_path / "ab.png", ["loss", "accuracy"])
    assert image(output).size == (640, 2 * 240)
    one = plot_runs([run_a], tmp_path / "a.png", ["loss", "accuracy"])
    assert image(one).tobytes() != image(output).tobytes()


def test_exact_keys_and_val_only_panels(run_a: Path, tmp_path: Path):
    output = plot_runs([run_a], tmp_path / "v.png", ["val_loss", "learning_rate"])
    assert image(output).size == (640, 2 * 240)


def test_constant_learning_rate_gets_no_panel(tmp_path: Path):
    history = {"loss": [1.0, 0.5], "learning_rate": [0.01, 0.01]}
    run_dir = make_run(tmp_path, history=history)
    assert [p.title for p in default_panels([_load_run(run_dir)])] == ["loss"]
    assert image(save_history_plot(run_dir) or Path()).size == (640, 240)


def test_best_and_early_stop_markers_are_drawn(tmp_path: Path):
    marked = make_run(
        tmp_path, "m", 0, history=HISTORY, best=BEST, status=STOPPED_EARLY
    )
    plain = make_run(tmp_path, "m", 1, history=HISTORY, status=COMPLETED)
    metrics = ["accuracy"]
    with_markers = image(plot_runs([marked], tmp_path / "m.png", metrics))
    without = image(plot_runs([plain], tmp_path / "p.png", metrics))
    # Same curves; the title differs only in the stamp's minute, the markers
    # change many more pixels than that.
    changed = ImageChops.difference(with_markers, without).convert("L")
    assert changed.point(lambda v: 255 if v else 0).histogram()[255] > 500


def test_unknown_metric_lists_those_that_exist(run_a: Path, tmp_path: Path):
    with pytest.raises(RunsError) as err:
        plot_runs([run_a], tmp_path / "x.png", ["acuracy"])
    message = str(err.value)
    assert message.startswith("unknown metric 'acuracy': the history of ")
    assert message.endswith(
        "has: accuracy, loss, val_accuracy, val_loss, learning_rate; "
        "did you mean 'accuracy'?"
    )
    assert not (tmp_path / "x.png").exists()


def test_run_without_history_cannot_be_plotted(tmp_path: Path):
    run_dir = make_run(tmp_path)
    with pytest.raises(RunsError, match="has no history yet"):
        plot_runs([run_dir], tmp_path / "x.png")
    assert save_history_plot(run_dir) is None


def test_not_a_run_dir(tmp_path: Path):
    with pytest.raises(
        RunsError, match=re.escape(f"{tmp_path} is not a run dir (no run.json)")
    ):
        plot_runs([tmp_path], tmp_path / "x.png")


def test_output_must_be_an_image_file_in_an_existing_folder(
    run_a: Path, tmp_path: Path
):
    with pytest.raises(RunsError, match=r"ending in \.png"):
        plot_runs([run_a], tmp_path / "plot.txt")
    with pytest.raises(RunsError, match="does not exist"):
        plot_runs([run_a], tmp_path / "missing" / "plot.png")


def test_save_history_plot_writes_history_png(run_a: Path):
    output = save_history_plot(run_a)
    assert output == run_a / HISTORY_PLOT
    assert image(output).size == (640, 3 * 240)


@pytest.mark.parametrize(
    "history",
    [
        {"loss": [None, None]},
        {},
        {"loss": []},
    ],
)
def test_save_history_plot_returns_none_when_nothing_to_plot(
    tmp_path: Path, history: dict[str, Any]
):
    assert save_history_plot(make_run(tmp_path, history=history)) is None
    assert not (tmp_path / HISTORY_PLOT).exists()


@pytest.mark.parametrize(
    "history",
    [
        {"loss": [0.5]},  # one epoch
        {"loss": [1.0, None, 0.2], "val_loss": [0.9]},  # NaN, ragged
        {"val_accuracy": [0.5, 0.6]},  # validation only
        {"loss": [1.0, 2.0], "lr": [0.1, 0.0]},  # TF 2.0 name, zero: no log scale
        {"loss": [1e30, -1e30, 0.0], "learning_rate": [1e-3, 1e-5, 1e-7]},
    ],
)
def test_save_history_plot_copes_with_odd_histories(
    tmp_path: Path, history: dict[str, Any]
):
    run_dir = make_run(tmp_path, history=history)
    output = save_history_plot(run_dir)
    assert output is not None
    image(output)


def test_save_history_plot_never_raises(tmp_path: Path):
    corrupt_history = make_run(tmp_path, "a", 0)
    (corrupt_history / "history.json").write_text('{"loss": [1, "x"]}')
    assert save_history_plot(corrupt_history) is None
    corrupt_record = make_run(tmp_path, "b", 0, history={"loss": [1.0, 0.5]})
    (corrupt_record / RUN_FILE).write_text("{")
    assert save_history_plot(corrupt_record) == corrupt_record / HISTORY_PLOT
    assert save_history_plot(tmp_path / "missing") is None


def test_draw_history_plot_from_memory_equals_the_plot_from_the_files(run_a: Path):
    from_files = image(save_history_plot(run_a) or Path())
    (run_a / HISTORY_PLOT).unlink()
    output = draw_history_plot(
        run_a, HISTORY, name="mnist", status=STOPPED_EARLY, best=BEST
    )
    assert output == run_a / HISTORY_PLOT
    assert ImageChops.difference(from_files, image(output)).getbbox() is None


def test_draw_history_plot_never_raises(tmp_path: Path):
    kwargs: dict[str, Any] = {"name": "x", "status": COMPLETED, "best": None}
    assert draw_history_plot(tmp_path, {}, **kwargs) is None
    assert draw_history_plot(tmp_path / "missing", {"loss": [1.0]}, **kwargs) is None
    assert draw_history_plot(tmp_path, {"loss": ["x"]}, **kwargs) is None  # type: ignore[list-item]
    assert not (tmp_path / HISTORY_PLOT).exists()


def test_default_output(run_a: Path, run_b: Path):
    assert default_output([run_a]) == run_a / HISTORY_PLOT
    assert default_output([run_a, run_b]) == Path("runs.png")
