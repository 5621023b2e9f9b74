"""``cbrun compare RUN_A RUN_B``: what differs in config and in results.

The config differences come from each run's resolved ``config.yaml``, as
dotted keys (``fit.epochs: 10 -> 20``, ``callbacks[0].patience: 3 -> 5``).
The metrics are set side by side: status, epochs run, duration, the best
monitored value, the last value of every history metric and the test
metrics, with ``B - A`` for numbers. Every file is read with the hardened
readers (:mod:`cbrun.runs.reading`): a hostile config.yaml (an alias bomb)
or history.json is a note, and every string is escaped before printing.

Example:
    ::

        print(compare_runs(Path("runs/mnist/20261126-150248"),
                           Path("runs/mnist/20261126-153011")))
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from cbrun.atomic import CorruptFileError, MissingFileError
from cbrun.runs.layout import CONFIG_FILE
from cbrun.runs.listing import (
    CORRUPT,
    RunSummary,
    format_duration,
    format_value,
    require_run_dir,
    summarize,
)
from cbrun.runs.manifest import last_recorded, load_history
from cbrun.runs.printable import printable, printable_lines
from cbrun.runs.reading import load_yaml, parse_yaml

__all__ = ["compare_runs", "config_differences", "flatten"]

ABSENT: Final = "(absent)"
_VALUE_CHARS: Final = 80  # a config value is shown up to this many characters
_MISSING: Final = object()  # a value one run does not have (shown as "-")
_Row = tuple[str, str, str, str]


def compare_runs(a: Path, b: Path) -> str:
    """Describe the config and metric differences between two runs.

    Args:
        a: The first run dir (``A``, the baseline).
        b: The second run dir (``B``).

    Returns:
        The text to print, without a trailing newline.

    Raises:
        RunsError: ``a`` or ``b`` is not a run dir.
    """
    run_a, run_b = require_run_dir(a), require_run_dir(b)
    summary_a, summary_b = summarize(run_a), summarize(run_b)
    notes = [
        f"{side}: {s.error}"  # why run.json is unreadable
        for side, s in (("A", summary_a), ("B", summary_b))
        if s.status == CORRUPT
    ]
    config_a = _load_config(run_a, "A", notes)
    config_b = _load_config(run_b, "B", notes)
    history_a = _load_history(run_a, "A", notes)
    history_b = _load_history(run_b, "B", notes)
    sections = [
        f"A: {run_a} ({summary_a.label})\nB: {run_b} ({summary_b.label})",
        _config_section(config_a, config_b),
        _metrics_section(summary_a, summary_b, history_a, history_b),
    ]
    if notes:
        sections.append("\n".join(notes))
    return printable_lines("\n\n".join(sections))


def config_differences(a: Any, b: Any) -> list[str]:
    """List what differs between two parsed configs, one ``key: a -> b`` per leaf.

    Keys are dotted, list items indexed: ``callbacks[0].patience: 3 -> 5``.
    A key on one side only shows ``(absent)`` on the other. Order: A's keys,
    each key only B has right after the key it follows in B.

    Args:
        a: The first config (parsed YAML).
        b: The second config.

    Returns:
        One line per differing leaf; empty when the configs are equal.
    """
    flat_a, flat_b = flatten(a), flatten(b)
    lines = []
    for key in _merged_order(list(flat_a), list(flat_b)):
        old = _show(flat_a[key]) if key in flat_a else ABSENT
        new = _show(flat_b[key]) if key in flat_b else ABSENT
        if (
            key not in flat_a
            or key not in flat_b
            or not _same(flat_a[key], flat_b[key])
        ):
            lines.append(f"{_key(key)}: {old} -> {new}")
    return lines


def _merged_order(keys_a: list[str], keys_b: list[str]) -> list[str]:
    """A's keys in order, with B's other keys after their predecessor in B.

    Linear: each key has at most one follower (the next key in B), so B's
    keys form chains hanging from A's keys (or from the start, ``None``).
    """
    known = set(keys_a)
    follower: dict[str | None, str] = {}
    previous: str | None = None
    for key in keys_b:
        if key not in known:
            follower[previous] = key
        previous = key
    merged: list[str] = []
    for anchor in [None, *keys_a]:
        if anchor is not None:
            merged.append(anchor)
        while anchor in follower:
            anchor = follower[anchor]
            merged.append(anchor)
    return merged


def _key(key: str) -> str:
    text = printable(key or "(config)")
    return text if len(text) <= 2 * _VALUE_CHARS else text[: 2 * _VALUE_CHARS] + "..."


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings and lists into ``{dotted.key[0].name: leaf}``.

    Empty mappings and lists are leaves (``{}``, ``[]``).

    Args:
        value: Parsed YAML.
        prefix: The key of ``value`` itself.
    """
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value:
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}[{index}]"))
        return flat
    return {prefix: value}


def _load_config(run_dir: Path, side: str, notes: list[str]) -> Any:
    try:
        return load_yaml(run_dir / CONFIG_FILE)
    except MissingFileError:
        notes.append(f"{side}: no {CONFIG_FILE} in {run_dir}")
    except CorruptFileError as exc:
        notes.append(f"{side}: {exc.path} unreadable: {exc.reason}")
    return None


def _load_history(
    run_dir: Path, side: str, notes: list[str]
) -> dict[str, list[float | None]]:
    try:
        return load_history(run_dir)
    except MissingFileError:
        notes.append(f"{side}: no history yet (no epoch finished)")
    except CorruptFileError as exc:
        notes.append(f"{side}: {exc}")
    return {}


def _config_section(a: Any, b: Any) -> str:
    if a is None or b is None:
        return "config: cannot compare (see below)"
    lines = config_differences(a, b)
    if not lines:
        return "config: identical"
    body = "\n".join(f"  {line}" for line in lines)
    return f"config ({len(lines)} difference{'s' if len(lines) != 1 else ''}):\n{body}"


def _metrics_section(
    a: RunSummary,
    b: RunSummary,
    history_a: dict[str, list[float | None]],
    history_b: dict[str, list[float | None]],
) -> str:
    rows: list[_Row] = [
        ("status", a.status, b.status, ""),
        _number_row("epochs run", _or_missing(a.epochs_run), _or_missing(b.epochs_run)),
        ("duration", format_duration(a.duration), format_duration(b.duration), ""),
        *_best_rows(a.best or {}, b.best or {}),
    ]
    for key in dict.fromkeys([*history_a, *history_b]):
        last_a, last_b = _last(history_a, key), _last(history_b, key)
        rows.append(_number_row(f"final {key}", last_a, last_b))
    tests_a, tests_b = a.test_metrics or {}, b.test_metrics or {}
    for key in dict.fromkeys([*tests_a, *tests_b]):
        test_a, test_b = tests_a.get(key, _MISSING), tests_b.get(key, _MISSING)
        rows.append(_number_row(f"test {key}", test_a, test_b))
    rows = [(printable(r[0]), printable(r[1]), printable(r[2]), r[3]) for r in rows]
    return "metrics:\n" + _table([("", "A", "B", "B - A"), *rows])


def _best_rows(best_a: dict[str, Any], best_b: dict[str, Any]) -> list[_Row]:
    if not best_a and not best_b:
        return []
    monitors = {best.get("monitor") for best in (best_a, best_b) if best}
    if len(monitors) > 1:
        return [("best", _best_text(best_a), _best_text(best_b), "")]
    monitor = monitors.pop()
    return [
        _number_row(
            f"best {monitor}",
            best_a.get("value", _MISSING),
            best_b.get("value", _MISSING),
        ),
        _number_row(
            "best epoch", best_a.get("epoch", _MISSING), best_b.get("epoch", _MISSING)
        ),
    ]


def _best_text(best: dict[str, Any]) -> str:
    value = format_value(best.get("value"))
    return f"{best.get('monitor')}={value} @{best.get('epoch')}"


def _number_row(label: str, a: Any, b: Any) -> _Row:
    """A row of two values (``-`` where missing, ``nan`` where null) and B - A."""
    return (label, _cell(a), _cell(b), _delta(a, b))


def _cell(value: Any) -> str:
    return "-" if value is _MISSING else format_value(value)


def _or_missing(value: Any) -> Any:
    return _MISSING if value is None else value


def _delta(a: Any, b: Any) -> str:
    if not (_is_number(a) and _is_number(b)):
        return ""
    diff = b - a
    if not math.isfinite(diff):
        return ""
    return "0" if diff == 0 else f"{diff:+.4g}"


def _last(history: dict[str, list[float | None]], key: str) -> Any:
    """The last epoch's value (of a ``validation_freq`` list: the last given)."""
    values = history.get(key)
    return last_recorded(values) if values else _MISSING


def _table(rows: Sequence[_Row]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  "
        + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _show(value: Any) -> str:
    """Render a config leaf like YAML flow style: ``10``, ``adam``, ``null``, ``[]``."""
    if isinstance(value, str):
        plain = value and value.strip() == value and _yaml_scalar(value) == value
        text = value if plain else json.dumps(value, ensure_ascii=False)
    elif value is None or isinstance(value, bool | int | float | list | dict):
        text = json.dumps(value)
    else:
        text = str(value)
    text = printable(text)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


def _yaml_scalar(text: str) -> Any:
    """What ``text`` reads as when written unquoted (bounded, like the file)."""
    if len(text) > _VALUE_CHARS:
        return None  # shown quoted: no need to know
    try:
        return parse_yaml(text, Path(CONFIG_FILE))
    except CorruptFileError:
        return None


def _same(a: Any, b: Any) -> bool:
    """Equal, with ``1 == 1.0`` but ``True != 1`` (YAML keeps them apart)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
