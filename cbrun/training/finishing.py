"""After fit: the test metrics, and model.keras written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cbrun.training.plan import FitPlan


def evaluate_on_test(
    model: Any, plan: FitPlan, data: Any, callbacks: Sequence[Any]
) -> dict[str, float] | None:
    """Evaluate on the test split as a script would after fit; None without one.

    Args:
        model: The trained model.
        plan: The run's fit plan (test batch size and steps, a test dataset).
        data: The loaded data (``x_test``/``y_test``).
        callbacks: Only cbrun's stop check: the config's callbacks belong to
            fit, as in a script that calls ``model.evaluate(x, y)`` after it.
    """
    if plan.test_input is not None:
        evaluated = model.evaluate(
            plan.test_input,
            verbose=0,
            return_dict=True,
            steps=plan.evaluate_steps,
            callbacks=list(callbacks),
        )
    elif data.x_test is not None:
        evaluated = model.evaluate(
            data.x_test,
            data.y_test,
            verbose=0,
            return_dict=True,
            batch_size=plan.test_batch_size,
            steps=plan.evaluate_steps,
            callbacks=list(callbacks),
        )
    else:
        return None
    return {k: float(v) for k, v in evaluated.items()}


def save_whole(model: Any, target: Path) -> None:
    """Save ``model`` to ``target`` whole or not at all: a temp file, then a rename."""
    partial = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.keras")
    try:
        model.save(partial)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
