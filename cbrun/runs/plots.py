"""``cbrun plot`` and ``history.png``: metrics per epoch, one panel per metric.

Panels follow the callbacks tutorial: accuracy-like metrics on top, the
losses below them, the learning rate last (log scale, only when it changed).
Each panel holds a metric and its ``val_`` twin. A star marks run.json's best
epoch on the monitored metric, a dotted line the last epoch of an early stop.
Several runs are overlaid, one colour per run (train solid, validation
dashed), labelled ``name/stamp``.

matplotlib is imported only inside the drawing function, and only its
object-oriented API (``Figure``, Agg canvas) is used: no pyplot state, no
display needed.

Example:
    ::

        plot_runs([Path("runs/mnist/20261126-150248")], Path("mnist.png"),
                  metrics=["loss", "accuracy"])
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cbrun.atomic import CorruptFileError, MissingFileError, write_bytes_atomic
from cbrun.runs.layout import HISTORY_PLOT
from cbrun.runs.listing import RunsError, RunSummary, require_run_dir, summarize
from cbrun.runs.manifest import STOPPED_EARLY, has_skipped_epochs, load_history
from cbrun.runs.printable import printable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DPI",
    "LEARNING_RATE_KEYS",
    "PANEL_HEIGHT",
    "PANEL_WIDTH",
    "Panel",
    "default_output",
    "draw_history_plot",
    "plot_runs",
    "save_history_plot",
]

LEARNING_RATE_KEYS: Final = ("learning_rate", "lr")
PANEL_WIDTH: Final = 640
"""Figure width in pixels (6.4 in at :data:`DPI`)."""
PANEL_HEIGHT: Final = 240
"""Height of one panel in pixels (2.4 in at :data:`DPI`)."""
DPI: Final = 100
_VAL: Final = "val_"
_MARKER_LIMIT: Final = 30  # draw point markers when a curve has this few epochs


@dataclass(frozen=True)
class Panel:
    """One subplot.

    Attributes:
        title: The y-axis label: the metric's base name (``loss`` for
            ``loss`` and ``val_loss``) or the learning rate key.
        keys: The history keys drawn in it.
        learning_rate: Whether it is the learning rate panel (log scale
            when every value is positive).
    """

    title: str
    keys: tuple[str, ...]
    learning_rate: bool = False


@dataclass(frozen=True)
class _Run:
    """What a plot shows of one run (from its files, or from a live run)."""

    run_dir: Path
    label: str
    status: str
    best: Mapping[str, Any] | None
    epochs_run: int | None
    history: Mapping[str, Sequence[float | None]]
    # A staged run's stages after the first: (name, first epoch, 1-based).
    stage_starts: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, summary: RunSummary, history: dict[str, list[float | None]]) -> _Run:
        record = summary.record
        return cls(
            summary.run_dir,
            summary.label,
            summary.status,
            summary.best,
            summary.epochs_run,
            history,
            _starts_of_records(record.stages if record is not None else None),
        )


def _starts_of_records(stages: Any) -> tuple[tuple[str, int], ...]:
    """The stages after the first, from run.json's records (read as is)."""
    starts: list[tuple[str, int]] = []
    for stage in stages if isinstance(stages, list) else []:
        if not isinstance(stage, dict):
            continue
        name, first = stage.get("name"), stage.get("first_epoch")
        if isinstance(first, int) and not isinstance(first, bool) and first > 1:
            starts.append((str(name), first))
    return tuple(starts)


def _starts_of_epochs(stages: Sequence[str] | None) -> tuple[tuple[str, int], ...]:
    """The stages after the first, from the stage of each epoch."""
    names = list(stages or [])
    return tuple(
        (name, epoch)
        for epoch, name in enumerate(names, start=1)
        if epoch > 1 and name != names[epoch - 2]
    )


def plot_runs(
    run_dirs: Sequence[Path], output: Path, metrics: Sequence[str] | None = None
) -> Path:
    """Draw the history of one or more runs into one image.

    Args:
        run_dirs: Run dirs; several are overlaid with a legend.
        output: The image file; its suffix picks the format (``.png``,
            ``.svg``, ``.pdf``, ...). Its folder must exist.
        metrics: Panels to draw, in this order: base names (``loss`` draws
            ``loss`` and ``val_loss``), exact keys (``val_loss`` alone) or
            ``learning_rate``. Defaults to every metric, tutorial order.

    Returns:
        ``output``.

    Raises:
        RunsError: A path is not a run dir, a run has no history yet or a
            corrupt one (not a bounded mapping of lists of numbers), a metric
            is unknown (the message lists those that exist), or ``output``
            cannot be written or drawn.
    """
    if not run_dirs:
        raise RunsError("no run dir given; pass one or more RUN_DIRs")
    _check_output(Path(output))
    runs = [_load_run(require_run_dir(d)) for d in run_dirs]
    panels = select_panels(runs, metrics) if metrics else default_panels(runs)
    if not panels:
        raise RunsError(f"nothing to plot: the history of {runs[0].run_dir} is empty")
    _render(runs, panels, Path(output))
    return Path(output)


def save_history_plot(run_dir: Path) -> Path | None:
    """Write ``run_dir/history.png`` with every metric; never raises.

    Called at the end of training. Any problem (no history yet, an odd or
    corrupt history, matplotlib failing) is swallowed: the plot is a
    convenience and must not turn a finished run into a failure.

    Args:
        run_dir: The run dir.

    Returns:
        The image written, or None when there was nothing to plot or it failed.
    """
    try:
        return _save_history_plot(_load_run(Path(run_dir)))
    except Exception:  # by contract: a plot never fails the run
        return None


def draw_history_plot(
    run_dir: Path,
    history: Mapping[str, Sequence[float]],
    *,
    name: str,
    status: str,
    best: Mapping[str, Any] | None,
    stages: Sequence[str] | None = None,
) -> Path | None:
    """Write ``run_dir/history.png`` of a run that has just trained; never raises.

    Like :func:`save_history_plot`, from values in memory instead of the run's
    files, so that it can draw while the run still evaluates and saves.

    Args:
        run_dir: The run dir.
        history: Metric name to one value per epoch.
        name: The experiment name.
        status: The run's final status.
        best: ``{monitor, value, epoch}``, or None.
        stages: A staged run's stage of each epoch: a line marks each change.

    Returns:
        The image written, or None when there was nothing to plot or it failed.
    """
    try:
        epochs = max((len(v) for v in history.values()), default=0)
        label = f"{name}/{Path(run_dir).name}"
        starts = _starts_of_epochs(stages)
        run = _Run(Path(run_dir), label, status, best, epochs, history, starts)
        return _save_history_plot(run)
    except Exception:  # by contract: a plot never fails the run
        return None


def _save_history_plot(run: _Run) -> Path | None:
    panels = default_panels([run])
    if not any(_finite(run.history.get(k, [])) for p in panels for k in p.keys):
        return None
    output = run.run_dir / HISTORY_PLOT
    _render([run], panels, output)
    return output


def default_output(run_dirs: Sequence[Path]) -> Path:
    """Where ``cbrun plot`` writes without ``-o``.

    One run: its own ``history.png`` (redrawn). Several: ``runs.png`` in the
    current folder.
    """
    if len(run_dirs) == 1:
        return Path(run_dirs[0]) / HISTORY_PLOT
    return Path("runs.png")


def default_panels(runs: Sequence[_Run]) -> list[Panel]:
    """All metrics: accuracy-like first, then losses, then the learning rate.

    The learning rate gets a panel only if it changed in some run.
    """
    keys = _all_keys(runs)
    metrics: list[Panel] = []
    losses: list[Panel] = []
    rates: list[Panel] = []
    for base in dict.fromkeys(_base(k) for k in keys if k not in LEARNING_RATE_KEYS):
        panel = Panel(base, tuple(k for k in (base, _VAL + base) if k in keys))
        (losses if base == "loss" or base.endswith("_loss") else metrics).append(panel)
    for key in LEARNING_RATE_KEYS:
        if key in keys and any(
            len(set(_finite(r.history.get(key, [])))) > 1 for r in runs
        ):
            rates.append(Panel(key, (key,), learning_rate=True))
    return metrics + losses + rates


def select_panels(runs: Sequence[_Run], metrics: Sequence[str]) -> list[Panel]:
    """The panels for the metrics asked for, in that order.

    Raises:
        RunsError: A metric is in no run's history; the message lists them.
    """
    keys = _all_keys(runs)
    panels: list[Panel] = []
    for name in metrics:
        if name in LEARNING_RATE_KEYS and name in keys:
            panel = Panel(name, (name,), learning_rate=True)
        elif name in keys or _VAL + name in keys:
            wanted = (name,) if name.startswith(_VAL) else (name, _VAL + name)
            panel = Panel(_base(name), tuple(k for k in wanted if k in keys))
        else:
            raise _unknown_metric(name, keys, runs)
        if panel not in panels:
            panels.append(panel)
    return panels


def _unknown_metric(name: str, keys: list[str], runs: Sequence[_Run]) -> RunsError:
    from cbrun.suggest import did_you_mean

    names = list(dict.fromkeys([*(_base(k) for k in keys), *keys]))
    where = runs[0].run_dir if len(runs) == 1 else f"{len(runs)} runs"
    # "the history of X has: ..." first, so did-you-mean's "?" ends the line.
    return RunsError(
        f"unknown metric {name!r}: the history of {printable(where)} has: "
        f"{printable(', '.join(keys))}{did_you_mean(name, names)}"
    )


def _load_run(run_dir: Path) -> _Run:
    try:
        history = load_history(run_dir)
    except MissingFileError:
        raise RunsError(
            f"{run_dir} has no history yet (no epoch finished): nothing to plot"
        ) from None
    except CorruptFileError as exc:
        # Exit 2 like a missing history: this run dir cannot be plotted.
        raise RunsError(
            f"cannot plot {printable(run_dir)}: {printable(exc.reason)} "
            f"({exc.path.name}); `cbrun show {printable(run_dir)}` shows what is there"
        ) from None
    return _Run.of(summarize(run_dir), history)


def _check_output(output: Path) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = output.suffix[1:].lower()
    if suffix not in formats:
        raise RunsError(
            f"cannot write a plot to {output}: give a file name ending in "
            f".png (or one of {', '.join('.' + f for f in sorted(formats))})"
        )
    if not output.parent.is_dir():
        raise RunsError(f"cannot write {output}: folder {output.parent} does not exist")


def _render(runs: Sequence[_Run], panels: Sequence[Panel], output: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    size = (PANEL_WIDTH / DPI, PANEL_HEIGHT * len(panels) / DPI)
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        for index, run in enumerate(runs):
            _draw_run(ax, panel, run, index, single=len(runs) == 1)
        _style(ax, panel, runs)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlabel("epoch")
    if len(runs) == 1:
        fig.suptitle(_text(runs[0].label), fontsize="medium")
    else:
        fig.suptitle("solid: train, dashed: validation", fontsize="small")
    # Drawn in memory, then written whole (temp file + rename), as run.json
    # is: a reader (or a run killed while drawing) never sees half a picture,
    # and a picture that cannot be drawn leaves the old one.
    image = io.BytesIO()
    try:
        fig.savefig(image, dpi=DPI, format=output.suffix[1:].lower() or "png")
        write_bytes_atomic(output, image.getvalue())
    except OSError as exc:
        raise RunsError(f"cannot write {output} ({exc.strerror or exc})") from None
    except (ValueError, OverflowError) as exc:
        # Values matplotlib cannot scale (e.g. -1e308 and 1e308 in one panel).
        raise RunsError(f"cannot draw {output}: {printable(exc)}") from None


def _text(text: str) -> str:
    """``text`` for a title or legend: escaped, and ``$`` not read as TeX math."""
    return printable(text).replace("$", r"\$")


def _draw_run(ax: Axes, panel: Panel, run: _Run, index: int, single: bool) -> None:
    """Draw one run's curves and markers in one panel.

    One run: a colour per curve, each labelled with its key. Several runs: a
    colour per run, only its first curve labelled (with the run's label),
    validation dashed.
    """
    labelled = False
    for n, key in enumerate(panel.keys):
        values = run.history.get(key)
        if not values:
            continue
        # validation_freq > 1: val_* is null between the epochs validated;
        # those are joined and marked (a NaN loss at the end stays a gap).
        sparse = has_skipped_epochs(values)
        points = [
            (epoch, math.nan if v is None else float(v))
            for epoch, v in enumerate(values, start=1)
            if not sparse or (v is not None and math.isfinite(v))
        ]
        xs, ys = [x for x, _ in points], [y for _, y in points]
        label = _text(key if single else run.label)
        label = label if single or not labelled else "_nolegend_"
        labelled = True
        ax.plot(
            xs,
            ys,
            color=f"C{n}" if single else f"C{index % 10}",
            linestyle="--" if key.startswith(_VAL) else "-",
            marker="o" if sparse or len(ys) <= _MARKER_LIMIT else None,
            markersize=3,
            label=label,
        )
    _mark_best(ax, panel, run, "C3" if single else f"C{index % 10}", single)
    _mark_early_stop(ax, run, "0.4" if single else f"C{index % 10}")
    _mark_stages(ax, run, "0.55" if single else f"C{index % 10}", single)


def _mark_stages(ax: Axes, run: _Run, color: str, single: bool) -> None:
    """A dash-dot line before the first epoch of each stage after the first."""
    for name, first in run.stage_starts:
        label = f"stage {_text(name)} @{first}" if single else "_nolegend_"
        ax.axvline(first - 0.5, color=color, linestyle="-.", linewidth=1, label=label)


def _mark_best(ax: Axes, panel: Panel, run: _Run, color: str, single: bool) -> None:
    best = run.best
    if not best or best.get("monitor") not in panel.keys:
        return
    epoch = best.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        return
    value = best.get("value")
    if not isinstance(value, int | float):
        series = run.history.get(str(best["monitor"]), [])
        value = series[epoch - 1] if epoch <= len(series) else None
    if value is None or not math.isfinite(value):
        return
    what = f"best {_text(best['monitor'])}" if single else "best"
    ax.plot(
        [epoch],
        [value],
        marker="*",
        markersize=11,
        color=color,
        markeredgecolor="black",
        linestyle="none",
        label=f"{what} @{epoch}",
    )


def _mark_early_stop(ax: Axes, run: _Run, color: str) -> None:
    if run.status != STOPPED_EARLY:
        return
    last = run.epochs_run or max(map(len, run.history.values()), default=0)
    if last > 0:
        ax.axvline(last, color=color, linestyle=":", label=f"early stop @{last}")


def _style(ax: Axes, panel: Panel, runs: Sequence[_Run]) -> None:
    ax.set_ylabel(_text(panel.title))
    ax.grid(alpha=0.3)
    if panel.learning_rate and _all_positive(panel, runs):
        ax.set_yscale("log")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _all_positive(panel: Panel, runs: Sequence[_Run]) -> bool:
    values = [
        v for r in runs for k in panel.keys for v in _finite(r.history.get(k, []))
    ]
    return bool(values) and min(values) > 0


def _all_keys(runs: Sequence[_Run]) -> list[str]:
    return list(dict.fromkeys(k for r in runs for k in r.history))


def _base(key: str) -> str:
    return key[len(_VAL) :] if key.startswith(_VAL) else key


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]
