"""The sweep's pictures: Optuna's matplotlib plots of the study.

Drawn once, when the sweep ends. A picture that cannot be drawn (too few
trials, a plot's own limits) is one line of warning, never a failed sweep.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from cbrun.runs.sweep_layout import (
    HISTORY_PICTURE,
    IMPORTANCE_PICTURE,
    PARALLEL_PICTURE,
)
from cbrun.training.reporting import Echo


def draw_pictures(study: optuna.Study, sweep_dir: Path, echo: Echo) -> list[Path]:
    """Draw the optimization history, parallel coordinates and importances.

    Args:
        study: The study (every worker's trials).
        sweep_dir: Where the PNGs go.
        echo: Told, in one line each, what could not be drawn.

    Returns:
        The pictures written.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display, also in a worker thread
    from optuna.visualization import matplotlib as plots

    complete = study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
    )
    wanted: list[tuple[str, Callable[..., Any], int]] = [
        (HISTORY_PICTURE, plots.plot_optimization_history, 1),
        (PARALLEL_PICTURE, plots.plot_parallel_coordinate, 1),
        (IMPORTANCE_PICTURE, plots.plot_param_importances, 2),
    ]
    written = []
    for name, plot, needed in wanted:
        if len(complete) < needed:
            echo(f"{name} not drawn: it needs {needed} complete trial(s)")
            continue
        try:
            _draw(plot, study, sweep_dir / name)
            written.append(sweep_dir / name)
        except Exception as exc:
            text = str(exc).strip().splitlines()
            echo(f"{name} not drawn: {text[0] if text else type(exc).__name__}")
    return written


def _draw(plot: Callable[..., Any], study: optuna.Study, path: Path) -> None:
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's ExperimentalWarning
        axes = plot(study)
    figure = _figure(axes)
    try:
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)


def _figure(axes: Any) -> Any:
    """The figure of what a plot returned: Axes, or an array of them."""
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.figure
