"""What ``cbrun sweep`` prints: one line per trial, then the best and where.

Optuna-free, so the CLI can format without importing the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cbrun.sweeper.runner import SweepResult
    from cbrun.sweeper.trials import TrialOutcome

_PARAM_CHARS = 40
_MESSAGE_CHARS = 160


def trial_line(outcome: TrialOutcome) -> str:
    """``trial 3: 0.9632 (completed) in 4.1 s; lr=0.0012, units=64``."""
    if outcome.state == "complete":
        what = f"{outcome.value:.6g} ({outcome.status})"
    else:
        what = outcome.status
    line = f"trial {outcome.number}: {what} in {outcome.seconds:.1f} s; "
    line += ", ".join(f"{k}={_short(v)}" for k, v in outcome.params.items())
    if outcome.message and outcome.state == "fail":
        text = outcome.message.strip().splitlines()
        line += f"\n  {text[0][:_MESSAGE_CHARS] if text else ''}"
    return line


def closing_lines(result: SweepResult, temporary: bool = False) -> list[str]:
    """The study's counts, its best trial, and the sweep dir's files."""
    record = result.record
    counts = ", ".join(f"{n} {state}" for state, n in sorted(record.counts.items()))
    lines = [f"study {record.study}: {counts or 'no trials'}"]
    best = record.best
    if best is None:
        lines.append("no complete trial: no best.yaml")
    else:
        params = ", ".join(f"{k}={_short(v)}" for k, v in best.params.items())
        lines.append(
            f"best: trial {best.number}, {record.metric} {best.value:.6g}; {params}"
        )
    where = f"sweep dir: {result.sweep_dir}"
    if temporary:
        where += " (temporary, removed; give --runs-dir to keep it)"
    elif best is not None:
        where += f"\ntrain the best again: cbrun train {result.sweep_dir}/best.yaml"
    lines.append(where)
    return lines


def _short(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= _PARAM_CHARS else text[: _PARAM_CHARS - 3] + "..."
