"""``cbrun show RUN_DIR``: one run's summary, resolved config and files.

Reads run.json, history.json (only its keys and length) and config.yaml
with the hardened readers (:mod:`cbrun.runs.reading`); any of them may be
missing, corrupt or hostile, and the output then says so instead of failing.
Every line is escaped (:func:`cbrun.runs.printable.printable_lines`).
:func:`show` also opens a sweep's folder (:mod:`cbrun.runs.sweep_show`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Final, Literal

from cbrun.atomic import CorruptFileError, MissingFileError
from cbrun.runs.layout import CONFIG_FILE
from cbrun.runs.listing import (
    CORRUPT,
    DEAD,
    RunSummary,
    format_best,
    format_duration,
    format_metrics,
    format_started,
    is_run_dir,
    is_sweep_folder,
    require_run_dir,
    resume_command,
    summarize,
)
from cbrun.runs.manifest import INTERRUPTED, RunRecord, load_history
from cbrun.runs.printable import (
    dumps_output_json,
    printable,
    printable_lines,
)
from cbrun.runs.reading import MAX_CONFIG_BYTES, read_bounded
from cbrun.suggest import shorten

__all__ = ["files_section", "show", "show_run"]

_INDENT: Final = "  "
_NAMES_SHOWN: Final = 30  # history keys listed by name; more are counted


def show(path: Path, output_format: Literal["text", "json"] = "text") -> str:
    """Describe a run dir or a sweep's folder, whichever ``path`` is.

    Args:
        path: A run dir (holding run.json) or a sweep folder (holding
            sweep.json and ``trials/``).
        output_format: ``text`` for people; ``json`` for tools: the object
            ``cbrun runs --format json`` lists for that run or sweep.

    Returns:
        The text to print, without a trailing newline.

    Raises:
        RunsError: ``path`` is neither.
    """
    path = Path(path)
    if is_run_dir(path) or not is_sweep_folder(path):
        if output_format == "text":
            return show_run(path)
        data = summarize(require_run_dir(path)).as_dict()
    else:
        from cbrun.runs.sweep_show import show_sweep
        from cbrun.runs.sweeps import summarize_sweep

        sweep = summarize_sweep(path)
        if output_format == "text":
            return show_sweep(sweep, files_section(path))
        data = sweep.as_dict()
    return dumps_output_json(data)


def show_run(run_dir: Path) -> str:
    """Describe one run: its summary, its resolved config and its files.

    Args:
        run_dir: A run dir (a folder holding run.json).

    Returns:
        The text to print, without a trailing newline.

    Raises:
        RunsError: ``run_dir`` is not a run dir.
    """
    run_dir = require_run_dir(run_dir)
    summary = summarize(run_dir)
    sections = [
        "\n".join([*_summary_lines(summary), _history_line(run_dir)]),
        _config_section(run_dir),
        files_section(run_dir),
    ]
    hint = _next_step(summary)
    if hint:
        sections.append(hint)
    return printable_lines("\n\n".join(sections))


def _summary_lines(s: RunSummary) -> list[str]:
    status = s.status
    if s.status == DEAD:
        status += " (run.json says running, but its process is gone)"
    fields: list[tuple[str, str | None]] = [
        ("run", str(s.run_dir)),
        ("name", s.name),
        ("status", status),
    ]
    if s.record is not None:
        fields.extend(_record_fields(s, s.record))
    else:
        fields.append(("error", s.error))
    # One line each: a multi-line error shows its line breaks as \n.
    return [f"{k + ':':<10} {printable(v)}" for k, v in fields if v]


def _record_fields(s: RunSummary, r: RunRecord) -> list[tuple[str, str | None]]:
    versions = ", ".join(f"{k} {v}" for k, v in r.versions.items() if v)
    return [
        ("trial", _trial_text(r.trial)),
        ("reason", r.stop_reason),
        ("error", r.error),
        ("started", format_started(r.started_at)),
        ("ended", format_started(r.ended_at) if r.ended_at else None),
        ("duration", format_duration(s.duration)),
        ("epochs", str(r.epochs_run)),
        ("resumed", f"{len(r.resumes)} time(s)" if r.resumes else None),
        ("stages", _stages_text(r.stages)),
        ("best", format_best(s.best) if s.best else None),
        ("test", format_metrics(s.test_metrics) if s.test_metrics else None),
        ("seed", None if r.seed is None else str(r.seed)),
        ("config", r.config_file),
        ("command", " ".join(r.command) or None),
        ("host", f"{r.host or '?'} (pid {r.pid})" if r.pid else r.host),
        ("versions", versions),
    ]


def _stages_text(stages: list[Any] | None) -> str | None:
    """``head: epochs 1-3 of 1-10 (EarlyStopping); fine_tune: epochs 4-6``."""
    if not stages:
        return None
    parts: list[str] = []
    for stage in stages:
        if not isinstance(stage, dict):
            continue  # run.json is read as is: skip what is no stage record
        name = shorten(str(stage.get("name")), 64)
        first, last = _count(stage.get("first_epoch")), _count(stage.get("last_epoch"))
        planned = _count(stage.get("epochs"))
        end = None if first is None or planned is None else first + planned - 1
        if last is None:
            text = f"{name}: from epoch {first}" + (f" to {end}" if end else "")
        else:
            text = f"{name}: epochs {first}-{last}"
            if end is not None and last < end:
                text += f" of {first}-{end}"
        reason = stage.get("stop_reason")
        if reason:  # its cause: EarlyStopping, SIGINT after 11 epochs, ...
            text += f" ({shorten(str(reason).split(':')[0], 40)})"
        parts.append(text)
    return "; ".join(parts) or None


def _count(value: Any) -> int | None:
    """An epoch number from run.json, or None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _trial_text(trial: dict[str, Any] | None) -> str | None:
    """``3 of its sweep (lr=0.001, units=64)`` for a sweep's trial."""
    if not trial:
        return None
    from cbrun.runs.sweeps import format_param

    params = trial.get("params")
    items = params.items() if isinstance(params, dict) else ()
    text = f"{format_param(trial.get('number'))} of its sweep"
    shown = ", ".join(f"{k}={format_param(v)}" for k, v in items)
    return f"{text} ({shown})" if shown else text


def _history_line(run_dir: Path) -> str:
    try:
        history = load_history(run_dir)
    except MissingFileError:
        return f"{'history:':<10} none yet (no epoch finished)"
    except CorruptFileError as exc:
        return f"{'history:':<10} unreadable: {exc.reason}"
    epochs = max((len(v) for v in history.values()), default=0)
    names = [printable(k) for k in list(history)[:_NAMES_SHOWN]]
    if len(history) > _NAMES_SHOWN:
        names.append(f"and {len(history) - _NAMES_SHOWN} more")
    return f"{'history:':<10} {epochs} epochs of {', '.join(names) or 'nothing'}"


def _config_section(run_dir: Path) -> str:
    try:
        text = read_bounded(run_dir / CONFIG_FILE, MAX_CONFIG_BYTES).decode("utf-8")
    except MissingFileError:
        return f"{CONFIG_FILE}: missing"
    except CorruptFileError as exc:
        return f"{CONFIG_FILE}: unreadable: {exc.reason}"
    except UnicodeDecodeError as exc:
        return f"{CONFIG_FILE}: unreadable: not UTF-8 text (byte {exc.start})"
    lines = text.rstrip().split("\n")  # not splitlines: it splits at \x1c, \x85 too
    body = "\n".join(_INDENT + line.removesuffix("\r") for line in lines)
    return f"{CONFIG_FILE}:\n{body}"


def files_section(run_dir: Path) -> str:
    """``files:`` and one line per file or folder (with its file count)."""
    lines = ["files:"]
    try:
        entries = sorted(
            (e for e in os.scandir(run_dir) if not e.name.startswith(".")),
            key=lambda e: e.name,
        )
    except OSError as exc:
        return f"files: cannot be listed ({exc.strerror or exc})"
    width = max((len(printable(e.name)) + 1 for e in entries), default=0)
    for entry in entries:
        name = printable(entry.name)
        if _is_dir(entry):
            count = _count_files(Path(entry.path))
            lines.append(f"{_INDENT}{name + '/':<{width}}  {count} file(s)")
        else:
            lines.append(f"{_INDENT}{name:<{width}}  {_size(entry)}")
    return "\n".join(lines)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def _size(entry: os.DirEntry[str]) -> str:
    size = 0.0
    with contextlib.suppress(OSError):
        size = float(entry.stat().st_size)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size = size / 1000
    return f"{size:.1f} GB"


def _next_step(s: RunSummary) -> str:
    if s.status in (DEAD, INTERRUPTED):
        return f"continue it with: {resume_command(s.run_dir)}"
    if s.status == CORRUPT:
        return (
            "run.json is not a complete record (written by another tool, or the "
            "disk was full); the files above are what the run left"
        )
    return ""
