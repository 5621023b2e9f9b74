"""``cbrun show SWEEP_DIR``: a sweep's summary, its best trial and its trials.

Reads sweep.json and each trial's run.json through :mod:`cbrun.runs.sweeps`
(bounded, strict, never failing on a bad file); a corrupt sweep.json is
shown as ``status: corrupt`` with the reason, followed by what the trials
and files still say, as ``show`` treats a corrupt run. Every line is
escaped (:func:`cbrun.runs.printable.printable_lines`).
"""

from __future__ import annotations

from typing import Final

from cbrun.runs.listing import (
    CORRUPT,
    DEAD,
    format_duration,
    format_started,
    format_value,
    reason_cell,
)
from cbrun.runs.printable import printable, printable_lines
from cbrun.runs.sweep_layout import BEST_CONFIG, SweepRecord
from cbrun.runs.sweeps import (
    FINISHED_STATES,
    SweepSummary,
    TrialSummary,
    format_param,
)

__all__ = ["short_names", "show_sweep"]

_INDENT: Final = "  "


def show_sweep(sweep: SweepSummary, files: str) -> str:
    """Describe one sweep: summary, best trial, trials table, files.

    Args:
        sweep: The sweep, from :func:`cbrun.runs.sweeps.summarize_sweep`.
        files: The files section (as ``show`` lists a run's files).

    Returns:
        The text to print, without a trailing newline.
    """
    sections = ["\n".join(_summary_lines(sweep))]
    if sweep.record is not None and sweep.record.best is not None:
        sections.append(_best_section(sweep, sweep.record))
    sections.extend([_trials_section(sweep), files])
    hint = _next_step(sweep)
    if hint:
        sections.append(hint)
    return printable_lines("\n\n".join(sections))


def _summary_lines(s: SweepSummary) -> list[str]:
    r = s.record
    status = s.status
    if status == DEAD:
        status += " (sweep.json says running, but its process is gone)"
    fields: list[tuple[str, str | None]] = [
        ("sweep", str(s.sweep_dir)),
        ("name", s.name),
        ("status", status),
    ]
    if r is None:
        fields.append(("error", s.error))
    else:
        fields.extend(
            [
                ("error", r.error),
                ("study", r.study),
                ("storage", r.storage),
                ("metric", f"{r.metric} ({r.direction})"),
                ("trials", _progress(s, r)),
                ("started", format_started(r.started_at)),
                ("ended", format_started(r.ended_at) if r.ended_at else None),
                ("duration", format_duration(s.duration)),
                ("config", r.config_file),
                ("command", " ".join(r.command) or None),
            ]
        )
    return [f"{k + ':':<10} {printable(v)}" for k, v in fields if v]


def _progress(s: SweepSummary, r: SweepRecord) -> str:
    """``4 of 20 finished: 3 complete, 1 pruned; 1 running``."""
    done = [f"{r.counts[k]} {k}" for k in FINISHED_STATES if r.counts.get(k)]
    other = [
        f"{n} {k}"
        for k, n in sorted(r.counts.items())
        if k not in FINISHED_STATES and n
    ]
    text = f"{s.finished} of {r.trials_planned} finished"
    text += f": {', '.join(done)}" if done else ""
    return text + (f"; {', '.join(other)}" if other else "")


def _best_section(s: SweepSummary, r: SweepRecord) -> str:
    best = r.best
    assert best is not None  # checked by the caller
    params = ", ".join(f"{k}={format_param(v)}" for k, v in best.params.items())
    run_dir = (
        str(s.sweep_dir / best.run_dir) if best.run_dir else "run by another worker"
    )
    lines = [
        f"best trial: {best.number}",
        f"{_INDENT}{'value:':<8} {r.metric}={format_value(best.value)}",
        f"{_INDENT}{'params:':<8} {params or '-'}",
        f"{_INDENT}{'run dir:':<8} {run_dir}",
    ]
    return "\n".join(printable(line) for line in lines)


def _trials_section(s: SweepSummary) -> str:
    if not s.trials:
        return "trials: none in trials/ yet"
    keys = _param_keys(s)
    # Lower case like the params: the metric's name as the config writes it.
    metric = "value" if s.record is None else printable(s.record.metric)
    short = short_names(keys)
    headers = ["#", "STATUS", metric, *(printable(short[k]) for k in keys)]
    headers.extend(["EPOCHS", "DURATION", "REASON"])
    rows = [headers, *(_trial_row(t, keys) for t in s.trials)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    right = {0, len(headers) - 3, len(headers) - 2}  # #, EPOCHS, DURATION
    lines = [
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    shortened = [k for k in keys if short[k] != k]
    width = max((len(printable(short[k])) for k in shortened), default=0)
    legend = [f"{printable(short[k]):<{width}} = {printable(k)}" for k in shortened]
    table = "\n".join(_INDENT + x for x in lines)
    if legend:  # a block of its own, below the table
        table += "\n\n" + "\n".join(_INDENT + x for x in legend)
    return "trials (in trials/, by number):\n" + table


def short_names(keys: list[str]) -> dict[str, str]:
    """Each ``--set`` key's shortest dotted tail that no other key ends with.

    ``compile.optimizer.learning_rate`` becomes ``learning_rate`` unless
    another key ends the same; a table of 5 params then fits a terminal.
    """
    names = {}
    for key in keys:
        parts = key.split(".")
        names[key] = key
        for n in range(1, len(parts)):
            tail = ".".join(parts[-n:])
            if not any(o != key and f".{o}".endswith(f".{tail}") for o in keys):
                names[key] = tail
                break
    return names


def _param_keys(s: SweepSummary) -> list[str]:
    """The params of every trial, in the order they first appear."""
    keys: dict[str, None] = {}
    for trial in s.trials:
        keys.update(dict.fromkeys(trial.params))
    return list(keys)


def _trial_row(t: TrialSummary, keys: list[str]) -> list[str]:
    run = t.run
    cells = [
        "?" if t.number is None else str(t.number),
        t.status,
        "-" if t.value is None else format_value(t.value),
        *(format_param(t.params[k]) if k in t.params else "-" for k in keys),
        "-" if run.epochs_run is None else str(run.epochs_run),
        format_duration(run.duration),
    ]
    return [*map(printable, cells), reason_cell(run.stop_reason or run.error)]


def _next_step(s: SweepSummary) -> str:
    if s.status == CORRUPT:
        return (
            "sweep.json is not a complete sweep record (written by another tool, "
            "or the disk was full); the trials and files above are what it left"
        )
    hints = []
    if s.status in ("interrupted", "failed", DEAD):
        hints.append(f"continue it with: cbrun sweep --resume {s.sweep_dir}")
    if (s.sweep_dir / BEST_CONFIG).is_file():
        hints.append(f"train the best config: cbrun train {s.sweep_dir / BEST_CONFIG}")
    return "\n".join(hints)
