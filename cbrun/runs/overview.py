"""``cbrun runs``: runs and sweeps together, each sweep's trials under it.

A sweep (``runs/<name>/sweep-<stamp>/``) is one row among the runs, placed
by its start time, newest first; its trials follow it, indented and by
number, and are never listed as runs of their own
(:func:`cbrun.runs.listing.find_run_dirs` skips sweep folders). With no
sweep under the runs dir the table and the JSON are exactly
:func:`cbrun.runs.listing.format_table`'s and ``rows_as_json``'s.

Filters: ``--name`` matches a sweep by its experiment name, and keeps all
its trials. ``--status`` applies to trials as to runs: a sweep is listed
when its own status matches or any of its trials does, with only the
matching trials (``--status pruned`` shows each sweep's pruned trials).

Example:
    ::

        entries = filter_entries(list_entries(Path("runs")), statuses=["failed"])
        print(format_entries(entries))
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from pathlib import Path

from cbrun.runs.listing import (
    CORRUPT,
    DEAD,
    RunSummary,
    empty_message,
    filter_runs,
    footer_lines,
    format_best,
    format_duration,
    format_started,
    format_value,
    list_runs,
    reason_cell,
    render_table,
    row_cells,
)
from cbrun.runs.printable import dumps_output_json, printable
from cbrun.runs.sweeps import (
    FINISHED_STATES,
    SweepSummary,
    TrialSummary,
    list_sweeps,
)

__all__ = [
    "Entry",
    "entries_as_json",
    "filter_entries",
    "format_entries",
    "list_entries",
    "nothing_listed",
]

Entry = RunSummary | SweepSummary
_TRIAL_INDENT = "  "


def list_entries(runs_dir: Path, now: float | None = None) -> list[Entry]:
    """Every run and sweep under ``runs_dir``, newest first.

    Args:
        runs_dir: ``RUNS_DIR``, one ``<name>`` folder, one run dir or one
            sweep folder.
        now: POSIX time for running durations. Defaults to now.

    Raises:
        RunsError: ``runs_dir`` does not exist or is not a folder.
    """
    entries: list[Entry] = [*list_runs(runs_dir, now), *list_sweeps(runs_dir, now)]
    entries.sort(key=lambda e: (e.sort_time, str(_folder(e))), reverse=True)
    return entries


def filter_entries(
    entries: Sequence[Entry],
    names: Sequence[str] = (),
    statuses: Sequence[str] = (),
) -> list[Entry]:
    """Keep what matches ``names`` and ``statuses`` (see the module docstring).

    Returns:
        The matching runs and sweeps, in the given order; a sweep keeps only
        its trials whose status matches.
    """
    kept: list[Entry] = []
    for entry in entries:
        if isinstance(entry, RunSummary):
            kept.extend(filter_runs([entry], names, statuses))
            continue
        if names and not any(fnmatch.fnmatchcase(entry.name, n) for n in names):
            continue
        trials = [t for t in entry.trials if not statuses or t.status in statuses]
        if not statuses or entry.status in statuses or trials:
            kept.append(dataclasses.replace(entry, trials=tuple(trials)))
    return kept


def format_entries(entries: Sequence[Entry], trials: bool = True) -> str:
    """Render runs and sweeps as one aligned table, hints after a blank line.

    A sweep's row: RUN ``name/sweep-stamp``, its status, BEST the study's
    best trial (``val_accuracy=0.9722 trial 3``), REASON ``sweep: 12/20
    trials (10 complete, 2 pruned)`` or why it failed. Each trial's row,
    indented (``  trial 3``), is a run's row whose BEST is the sweep
    metric's best value over the trial's epochs.

    Args:
        entries: Runs and sweeps, in display order.
        trials: List each sweep's trials under it; False for one row a sweep.
    """
    cells: list[list[str]] = []
    footer = footer_lines([e for e in entries if isinstance(e, RunSummary)])
    for entry in entries:
        if isinstance(entry, RunSummary):
            cells.append(row_cells(entry))
            continue
        cells.append(_sweep_cells(entry))
        footer.extend(_sweep_footer(entry))
        if trials:
            cells.extend(_trial_cells(entry, t) for t in entry.trials)
    return render_table(cells, footer)


def entries_as_json(entries: Sequence[Entry]) -> str:
    """Render runs and sweeps as a JSON list, newest first.

    A run is :meth:`RunSummary.as_dict` (no ``kind`` key, as before sweeps);
    a sweep is :meth:`SweepSummary.as_dict`, with ``"kind": "sweep"`` and its
    trials nested under ``trials``. Control characters are JSON escapes; a
    NaN or infinity read from a run file is ``null``.
    """
    return dumps_output_json([e.as_dict() for e in entries])


def nothing_listed(
    runs_dir: Path,
    entries: Sequence[Entry],
    names: Sequence[str] = (),
    statuses: Sequence[str] = (),
) -> str:
    """Explain why nothing is listed, as :func:`listing.empty_message` does."""
    noun = (
        "runs and sweeps"
        if any(isinstance(e, SweepSummary) for e in entries)
        else "runs"
    )
    return empty_message(runs_dir, entries, names, statuses, noun=noun)


def _folder(entry: Entry) -> Path:
    return entry.run_dir if isinstance(entry, RunSummary) else entry.sweep_dir


def _sweep_cells(sweep: SweepSummary) -> list[str]:
    record = sweep.record
    best = "-"
    if record is not None and record.best is not None:
        value = format_value(record.best.value)
        best = f"{record.metric}={value} trial {record.best.number}"
    planned = "?" if sweep.planned is None else str(sweep.planned)
    reason = f"sweep: {sweep.finished}/{planned} trials"
    counts = _counts(sweep)
    reason += f" ({counts})" if counts else ""
    if sweep.error:
        reason += f"; {sweep.error.strip()}"  # the REASON cell keeps line 1
    cells = [
        sweep.label,
        format_started(record.started_at if record else None),
        sweep.status,
        "-",
        best,
        "-",
        format_duration(sweep.duration),
    ]
    return [*map(printable, cells), reason_cell(reason)]


def _counts(sweep: SweepSummary) -> str:
    """``10 complete, 2 pruned``: the study's nonzero counts, finished first."""
    counts = sweep.record.counts if sweep.record is not None else {}
    order = [*FINISHED_STATES, *sorted(set(counts) - set(FINISHED_STATES))]
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))


def _trial_cells(sweep: SweepSummary, trial: TrialSummary) -> list[str]:
    best = None
    if trial.value is not None and sweep.record is not None:
        best = format_best(
            {
                "monitor": sweep.record.metric,
                "value": trial.value,
                "epoch": trial.value_epoch,
            }
        )
    return row_cells(trial.run, label=_TRIAL_INDENT + trial.label, best=best)


def _sweep_footer(sweep: SweepSummary) -> list[str]:
    lines = []
    resume = f"cbrun sweep --resume {sweep.sweep_dir}"
    if sweep.status == CORRUPT:
        lines.append(f"{sweep.label}: {sweep.error}; see: cbrun show {sweep.sweep_dir}")
    elif sweep.status == DEAD:
        lines.append(f"{sweep.label}: dead (its process is gone); continue: {resume}")
    for trial in sweep.trials:
        where = f"{sweep.label} {trial.label}"
        if trial.status == DEAD and sweep.status != DEAD:
            lines.append(f"{where}: dead (its process is gone); continue: {resume}")
        elif trial.status == CORRUPT:
            lines.append(
                f"{where}: {trial.run.error}; see: cbrun show {trial.run.run_dir}"
            )
    return [printable(line) for line in lines]
