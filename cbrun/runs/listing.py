"""``cbrun runs``: find the run directories under a runs dir and summarise them.

Listing reads only each run's ``run.json`` (never ``history.json``), so
hundreds of runs list in a fraction of a second. It never fails on one bad
run: a ``run.json`` that is not a bounded regular file of valid JSON holding
a run record (see :mod:`cbrun.runs.reading`) makes a row with status
``corrupt`` and the reason, and a ``running`` run whose process is gone on
this machine is ``dead``. Every string from a run dir is escaped before it
is printed (:func:`cbrun.runs.printable.printable`).

This module also holds what ``show``, ``plot`` and ``compare`` share: the
:class:`RunsError` for paths that are not run dirs, :func:`require_run_dir`
and the number and duration formats.

Example:
    ::

        rows = filter_runs(list_runs(Path("runs")), statuses=["dead"])
        print(format_table(rows))
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from cbrun.atomic import RunFileError
from cbrun.errors import CbrunError, ExitCode
from cbrun.runs.layout import RUN_FILE, STAMP_FORMAT
from cbrun.runs.manifest import RUNNING, STATUSES, RunRecord, load_record
from cbrun.runs.printable import dumps_output_json, printable
from cbrun.runs.sweep_layout import SWEEP_FILE, SWEEP_PREFIX, TRIALS_DIR

__all__ = [
    "CORRUPT",
    "DEAD",
    "LISTED_STATUSES",
    "RUN_DIR_CONTENT",
    "RunSummary",
    "RunsError",
    "empty_message",
    "filter_runs",
    "find_run_dirs",
    "footer_lines",
    "format_duration",
    "format_table",
    "format_value",
    "is_run_dir",
    "is_sweep_folder",
    "list_runs",
    "reason_cell",
    "render_table",
    "require_run_dir",
    "row_cells",
    "rows_as_json",
    "subfolders",
    "summarize",
]

DEAD: Final = "dead"
CORRUPT: Final = "corrupt"
LISTED_STATUSES: Final = (*STATUSES, DEAD, CORRUPT)
"""Every status a listed run can have: run.json's, plus dead and corrupt."""

RUN_DIR_CONTENT: Final = (
    "a run dir is RUNS_DIR/<name>/<YYYYmmdd-HHMMSS>/ as `cbrun train` creates "
    "it, holding run.json, history.json and config.yaml"
)
_REASON_WIDTH: Final = 72
_HEADERS: Final = (
    "RUN",
    "STARTED",
    "STATUS",
    "EPOCHS",
    "BEST",
    "TEST",
    "DURATION",
    "REASON",
)
_RIGHT_ALIGNED: Final = frozenset({"EPOCHS", "DURATION"})


class _Named(Protocol):
    """Anything listed under an experiment name: a run or a sweep."""

    @property
    def name(self) -> str: ...


class RunsError(CbrunError):
    """A path given to ``runs``, ``show``, ``plot`` or ``compare`` is wrong.

    Exit code 2 (usage): the path is not a runs dir or a run dir, or a named
    metric does not exist. The message names the path and what was expected.
    """

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class RunSummary:
    """One run as ``cbrun runs`` lists it.

    Attributes:
        run_dir: The run directory, as found under the runs dir given.
        name: The experiment name (from run.json, else the parent folder).
        stamp: The run folder's name, ``YYYYmmdd-HHMMSS[-N]``.
        status: run.json's status, or ``dead`` (running, but its process is
            gone) or ``corrupt`` (run.json unreadable).
        recorded_status: The status written in run.json; None when corrupt.
        started_at: ISO 8601 start time, or None.
        ended_at: ISO 8601 end time, or None.
        epochs_run: Epochs finished, or None when corrupt.
        stop_reason: Why training stopped, or None.
        best: ``{monitor, value, epoch}`` (epochs from 1), or None.
        test_metrics: Metric name to test value (None if not finite), or None.
        duration: Seconds from start to end; for a running run until now,
            for a dead one until run.json's last write; None if unknown.
        error: The error of a failed run, or why run.json is corrupt.
        record: The parsed run.json, or None when corrupt.
        sort_time: POSIX time used to order runs, newest first.
    """

    run_dir: Path
    name: str
    stamp: str
    status: str
    recorded_status: str | None
    started_at: str | None
    ended_at: str | None
    epochs_run: int | None
    stop_reason: str | None
    best: dict[str, Any] | None
    test_metrics: dict[str, float | None] | None
    duration: float | None
    error: str | None
    record: RunRecord | None
    sort_time: float

    @property
    def label(self) -> str:
        """``name/stamp``, the run's short name in tables and legends."""
        return f"{self.name}/{self.stamp}"

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form; the same keys for every run, corrupt too."""
        return {
            "run_dir": str(self.run_dir),
            "name": self.name,
            "stamp": self.stamp,
            "status": self.status,
            "recorded_status": self.recorded_status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "epochs_run": self.epochs_run,
            "stop_reason": self.stop_reason,
            "best": self.best,
            "test_metrics": self.test_metrics,
            "duration_seconds": (
                None if self.duration is None else round(self.duration, 3)
            ),
            "error": self.error,
            # A staged run's stages as run.json has them; None otherwise.
            "stages": None if self.record is None else self.record.stages,
        }


def list_runs(runs_dir: Path, now: float | None = None) -> list[RunSummary]:
    """Summarise every run under ``runs_dir``, newest first.

    Args:
        runs_dir: ``RUNS_DIR`` (holding ``<name>/<stamp>/``), one ``<name>``
            folder, or a single run dir.
        now: POSIX time for the duration of running runs. Defaults to now.

    Returns:
        One summary per run; empty when the folder holds no runs.

    Raises:
        RunsError: ``runs_dir`` does not exist or is not a folder.
    """
    now = time.time() if now is None else now
    host = socket.gethostname()
    rows = [summarize(d, now=now, host=host) for d in find_run_dirs(runs_dir)]
    rows.sort(key=lambda r: (r.sort_time, str(r.run_dir)), reverse=True)
    return rows


def find_run_dirs(runs_dir: Path) -> list[Path]:
    """Return the run dirs (folders holding run.json) at most two levels down.

    Dotfiles and dot-folders are skipped, and so are sweep folders: a
    sweep's trials are listed under their sweep (:mod:`cbrun.runs.sweeps`),
    never as runs of their own. Order is unspecified.

    Args:
        runs_dir: As for :func:`list_runs`.

    Raises:
        RunsError: ``runs_dir`` does not exist or is not a folder.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.exists():
        raise RunsError(
            f"runs dir {runs_dir} does not exist{_sibling_hint(runs_dir)}; pass "
            "the folder given to `cbrun train --runs-dir` (default: runs)"
        )
    if not runs_dir.is_dir():
        raise RunsError(f"{runs_dir} is not a folder; {RUN_DIR_CONTENT}")
    return folders_down(runs_dir, is_run_dir, besides=is_sweep_folder)


def folders_down(
    root: Path, wanted: Callable[[Path], bool], *, besides: Callable[[Path], bool]
) -> list[Path]:
    """The ``wanted`` folders at most two levels down, ``root`` included.

    A runs dir holds ``<name>/<stamp>/`` run dirs and ``<name>/sweep-<stamp>/``
    sweeps; ``besides`` names the other kind, which is never searched.

    Args:
        root: Where to look.
        wanted: Whether a folder is one to return.
        besides: Whether a folder is of the other kind.
    """
    if wanted(root):
        return [root]
    if besides(root):
        return []
    found: list[Path] = []
    for child in subfolders(root):
        if wanted(child):
            found.append(child)
        elif not besides(child):
            found.extend(filter(wanted, subfolders(child)))
    return found


def summarize(
    run_dir: Path, now: float | None = None, host: str | None = None
) -> RunSummary:
    """Summarise one run dir from its run.json; never raises on a bad file.

    Args:
        run_dir: A folder holding run.json.
        now: POSIX time for the duration of a running run. Defaults to now.
        host: This machine's host name. Defaults to ``socket.gethostname()``.

    Returns:
        The summary; status ``corrupt`` if run.json is missing, not a bounded
        regular file, not JSON or not a run record.
    """
    run_dir = Path(run_dir)
    try:
        record = load_record(run_dir)
    except RunFileError as exc:
        return _corrupt_summary(run_dir, exc.reason)
    now = time.time() if now is None else now
    host = socket.gethostname() if host is None else host
    status = record.status
    if status == RUNNING and _is_dead(record, host):
        status = DEAD
    started = iso_timestamp(record.started_at)
    return RunSummary(
        run_dir=run_dir,
        name=record.name,
        stamp=run_dir.name,
        status=status,
        recorded_status=record.status,
        started_at=record.started_at,
        ended_at=record.ended_at,
        epochs_run=record.epochs_run,
        stop_reason=record.stop_reason,
        best=dict(record.best) if record.best is not None else None,
        test_metrics=record.test_metrics,
        duration=_duration(record, status, started, run_dir, now),
        error=record.error,
        record=record,
        sort_time=started if started is not None else _fallback_time(run_dir),
    )


def filter_runs(
    rows: Sequence[RunSummary],
    names: Sequence[str] = (),
    statuses: Sequence[str] = (),
) -> list[RunSummary]:
    """Keep the runs whose name matches any of ``names`` and status any of ``statuses``.

    Args:
        rows: The runs.
        names: Experiment names or shell patterns (``mnist*``); empty keeps all.
        statuses: Statuses from :data:`LISTED_STATUSES`; empty keeps all.

    Returns:
        The matching runs, in the given order.
    """
    return [
        r
        for r in rows
        if (not names or any(fnmatch.fnmatchcase(r.name, n) for n in names))
        and (not statuses or r.status in statuses)
    ]


def empty_message(
    runs_dir: Path,
    rows: Sequence[_Named],
    names: Sequence[str] = (),
    statuses: Sequence[str] = (),
    noun: str = "runs",
) -> str:
    """Explain why nothing is listed: no runs at all, or none matches the filters.

    Args:
        runs_dir: The folder listed.
        rows: All its runs (or runs and sweeps), before filtering.
        names: The ``--name`` filters given.
        statuses: The ``--status`` filters given.
        noun: What ``rows`` are, in the message.
    """
    if not rows:
        return f"no runs in {runs_dir}"
    filters = " ".join(
        [*(f"--name {n}" for n in names), *(f"--status {s}" for s in statuses)]
    )
    known = sorted({printable(r.name) for r in rows})
    hint = ""
    if names and len(names) == 1:
        from cbrun.suggest import did_you_mean

        hint = did_you_mean(names[0], known)
    return (
        f"none of the {len(rows)} {noun} in {runs_dir} match {filters}{hint} "
        f"(names: {', '.join(known)})"
    )


def format_table(rows: Sequence[RunSummary]) -> str:
    """Render runs as an aligned table, with hints for dead and corrupt runs.

    Columns are always the same: RUN (name/stamp), STARTED, STATUS, EPOCHS,
    BEST (monitor=value @epoch), TEST (metric=value ...), DURATION and REASON
    (stop reason, error, or why run.json is corrupt). Numbers have 4
    significant digits; ``-`` marks a missing value, ``nan`` a non-finite one.

    Args:
        rows: The runs, in display order.

    Returns:
        The table and, after a blank line, what to do about dead or corrupt
        runs; no trailing newline.
    """
    return render_table([row_cells(r) for r in rows], footer_lines(rows))


def render_table(cells: Sequence[list[str]], footer: Sequence[str] = ()) -> str:
    """Align rows of cells (already escaped) under the ``cbrun runs`` headers.

    Args:
        cells: One list of 8 cells per row, as :func:`row_cells` makes them.
        footer: Lines printed after a blank line, if any.

    Returns:
        The table, no trailing newline.
    """
    widths = [
        max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(_HEADERS)
    ]
    lines = [_join_row(list(_HEADERS), widths)]
    lines.extend(_join_row(c, widths) for c in cells)
    return "\n".join(lines + (["", *footer] if footer else []))


def rows_as_json(rows: Sequence[RunSummary]) -> str:
    """Render runs as a JSON list of objects, keys as in :meth:`RunSummary.as_dict`.

    Control characters in strings are JSON escapes (``\\u001b``), C1 too;
    a NaN or infinity read from a run file is ``null``.
    """
    return dumps_output_json([r.as_dict() for r in rows])


def require_run_dir(path: Path) -> Path:
    """Check that ``path`` is a run dir (a folder holding run.json).

    Args:
        path: The path given on the command line.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        RunsError: It does not exist, is not a folder or has no run.json;
            the message says what a run dir holds and, for a folder of runs,
            how to list them.
    """
    path = Path(path)
    if not path.exists():
        raise RunsError(
            f"{path} does not exist{_sibling_hint(path)}; {RUN_DIR_CONTENT}"
        )
    if not path.is_dir():
        raise RunsError(f"{path} is not a run dir but a file; {RUN_DIR_CONTENT}")
    if not is_run_dir(path):
        raise RunsError(
            f"{path} is not a run dir (no {RUN_FILE}); {_inside_hint(path)}"
        )
    return path


def format_value(value: Any) -> str:
    """Format a metric value with 4 significant digits; ``nan`` for null."""
    if value is None:
        return "nan"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def format_duration(seconds: float | None) -> str:
    """Format seconds as ``45s``, ``1m23s`` or ``2h05m07s``; ``-`` for None."""
    if seconds is None:
        return "-"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_best(best: dict[str, Any] | None) -> str:
    """Format ``{monitor, value, epoch}`` as ``val_loss=0.1234 @7``; ``-`` for None."""
    if not best:
        return "-"
    text = f"{best.get('monitor', '?')}={format_value(best.get('value'))}"
    return f"{text} @{best['epoch']}" if best.get("epoch") is not None else text


def format_metrics(metrics: dict[str, Any] | None, sep: str = " ") -> str:
    """Format ``{name: value}`` as ``accuracy=0.9778 loss=0.1358``; ``-`` if empty."""
    if not metrics:
        return "-"
    return sep.join(f"{k}={format_value(v)}" for k, v in metrics.items())


def format_started(started_at: str | None) -> str:
    """Format an ISO start time as ``2026-11-26 15:02`` (its own local time)."""
    if not started_at:
        return "-"
    try:
        return datetime.fromisoformat(started_at).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return started_at


def resume_command(run_dir: Path) -> str:
    """Return the command that continues a dead or interrupted run."""
    return f"cbrun train --resume {run_dir}"


def is_run_dir(folder: Path) -> bool:
    """Whether ``folder`` holds a run.json (of any kind: it may be corrupt)."""
    # Any run.json makes a run dir: a folder, FIFO or dangling link there is
    # then reported as corrupt instead of hiding the run. os.path.lexists is
    # False on any OSError (Path.exists raises PermissionError).
    return os.path.lexists(os.path.join(folder, RUN_FILE))


def is_sweep_folder(folder: Path) -> bool:
    """Whether ``folder`` is a sweep's (sweep.json, or ``sweep-*`` with ``trials/``).

    Like :func:`is_run_dir`, any sweep.json counts (a broken one makes a
    ``corrupt`` sweep, not hidden trials), and so does a sweep folder whose
    sweep.json is missing: its trials still belong to it.
    """
    if os.path.lexists(os.path.join(folder, SWEEP_FILE)):
        return True
    return Path(folder).name.startswith(SWEEP_PREFIX) and os.path.isdir(
        os.path.join(folder, TRIALS_DIR)
    )


def subfolders(folder: Path) -> Iterator[Path]:
    """Yield the folders in ``folder``, dot-folders skipped; none if unreadable."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir():
                yield Path(folder, entry.name)


def _corrupt_summary(run_dir: Path, reason: str) -> RunSummary:
    return RunSummary(
        run_dir=run_dir,
        name=run_dir.absolute().parent.name,
        stamp=run_dir.name,
        status=CORRUPT,
        recorded_status=None,
        started_at=None,
        ended_at=None,
        epochs_run=None,
        stop_reason=None,
        best=None,
        test_metrics=None,
        duration=None,
        error=f"{RUN_FILE}: {reason}",
        record=None,
        sort_time=_fallback_time(run_dir),
    )


def _is_dead(record: RunRecord, host: str) -> bool:
    """True if the run's process is known to be gone (same host, no such pid)."""
    if record.host != host or record.pid is None or os.name == "nt":
        # Another machine: can't tell. Windows: os.kill(pid, 0) would kill it.
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: alive, another user's process
        return False
    return False


def _duration(
    record: RunRecord, status: str, started: float | None, run_dir: Path, now: float
) -> float | None:
    if started is None:
        return None
    end = iso_timestamp(record.ended_at)
    if end is None and status == RUNNING:
        end = now
    elif end is None and status == DEAD:
        with contextlib.suppress(OSError):
            end = (run_dir / RUN_FILE).stat().st_mtime
    return None if end is None else end - started


def iso_timestamp(iso: str | None) -> float | None:
    """POSIX time of a record's ISO time, or None if absent or unreadable."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (ValueError, OverflowError, OSError):  # year 1 or 9999 near UTC's edge
        return None


def _fallback_time(run_dir: Path) -> float:
    """Order a run without a start time by its folder's stamp, else its mtime."""
    stamp = run_dir.name.split("-")
    with contextlib.suppress(ValueError):
        return datetime.strptime("-".join(stamp[:2]), STAMP_FORMAT).timestamp()
    try:
        return run_dir.stat().st_mtime
    except OSError:
        return 0.0


def row_cells(
    row: RunSummary, label: str | None = None, best: str | None = None
) -> list[str]:
    """The cells of one run's row in the ``cbrun runs`` table, escaped.

    Args:
        row: The run.
        label: The RUN cell; defaults to ``name/stamp``.
        best: The BEST cell; defaults to the run's monitored best.
    """
    cells = [
        row.label if label is None else label,
        format_started(row.started_at),
        row.status,
        "-" if row.epochs_run is None else str(row.epochs_run),
        format_best(row.best) if best is None else best,
        format_metrics(row.test_metrics),
        format_duration(row.duration),
    ]
    return [*map(printable, cells), reason_cell(row.stop_reason or row.error)]


def reason_cell(text: str | None) -> str:
    """The REASON cell: the first line of ``text``, escaped and shortened."""
    reason = (text or "").strip()
    reason = printable(reason.split("\n")[0]) if reason else "-"
    if len(reason) > _REASON_WIDTH:
        reason = reason[: _REASON_WIDTH - 3] + "..."
    return reason


def _join_row(cells: list[str], widths: list[int]) -> str:
    padded = [
        c.rjust(w) if h in _RIGHT_ALIGNED else c.ljust(w)
        for c, w, h in zip(cells, widths, _HEADERS, strict=True)
    ]
    return "  ".join(padded).rstrip()


def footer_lines(rows: Sequence[RunSummary]) -> list[str]:
    """What to do about the dead and corrupt runs among ``rows``, escaped."""
    lines = []
    for row in rows:
        if row.status == DEAD:
            lines.append(
                f"{row.label}: dead (pid {row.record.pid if row.record else '?'} is "
                f"gone); continue it with: {resume_command(row.run_dir)}"
            )
        elif row.status == CORRUPT:
            lines.append(f"{row.label}: {row.error}; see: cbrun show {row.run_dir}")
    return [printable(line) for line in lines]


def _sibling_hint(path: Path) -> str:
    from cbrun.suggest import did_you_mean

    parent = path.parent
    if not parent.is_dir():
        return ""
    return printable(did_you_mean(path.name, (p.name for p in subfolders(parent))))


def _inside_hint(path: Path) -> str:
    if is_sweep_folder(path):
        return printable(
            f"it is a sweep: `cbrun show {path}` shows it, and its trials are "
            f"run dirs in {Path(path, TRIALS_DIR)}/<number>/"
        )
    runs = find_run_dirs(path)
    if not runs:
        sweeps = sorted(filter(is_sweep_folder, subfolders(path)))
        if sweeps:
            return printable(
                f"it holds {len(sweeps)} sweep(s), e.g. {sweeps[-1]}; "
                f"`cbrun show {sweeps[-1]}` shows one"
            )
        return RUN_DIR_CONTENT
    example = sorted(runs)[-1]
    return (
        f"it holds {len(runs)} run(s), e.g. {printable(example)}; "
        f"`cbrun runs {path}` lists them"
    )
