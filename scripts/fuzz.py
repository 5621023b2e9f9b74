#!/usr/bin/env python
"""Fuzz cbrun's config stage with hypothesis: it must accept or explain, fast.

Inputs are valid configs from ``configs/`` with random mutations (keys renamed,
values swapped for other types, huge and negative numbers, NaN and infinity,
unicode, control characters and very long strings, deep nesting, raw text
edits such as duplicated lines, tabs, tags, anchors and alias bombs), purely
random text and bytes, random ``--set`` strings and random schedule
expressions. For every input:

- ``load_config`` returns a ``LoadedConfig`` or raises ``ConfigError``, and
  ``load_yaml_text`` likewise; nothing else, never a traceback;
- every ``Problem`` has ``line >= 0``, ``column >= 0``, a non-empty message,
  and a line (and column) inside the file;
- one input takes at most ``MAX_SECONDS`` (an input over the limit is run
  again, and fails if it is slow twice: a busy machine can stall any input
  once; ``tests/test_fuzz.py`` checks only hangs); a hang is cut off after
  ``HANG_SECONDS`` and reported;
- output is bounded: one problem at most ``MAX_PROBLEM_CHARS`` characters, one
  file's problems (and the CLI's output for one file) at most
  ``MAX_OUTPUT_CHARS``;
- ``parse_schedule`` and calling the schedule raise nothing but
  ``ExpressionError``;
- ``cbrun validate`` (and ``cbrun train`` on an invalid config) exits 0 or 1
  without an exception.

``tests/test_fuzz.py`` runs a few hundred inputs in seconds. The long run:

    .venv/bin/python scripts/fuzz.py --seconds 300       # time-bounded
    .venv/bin/python scripts/fuzz.py --examples 20000    # count-bounded

It prints the number of inputs run, the slowest and the largest input, and
every failure, and exits 1 if there was any; the minimal reproducer of each
failure is saved under ``--out`` (default ``fuzz-failures/``) as the file that
failed, with the ``--set`` strings and the message beside it
(``--save-slowest`` saves the slowest input there too).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import copy
import math
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

from cbrun.cli import cli
from cbrun.config.callbacks import CALLBACK_SCHEMAS
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.expressions import ExpressionError, parse_schedule
from cbrun.config.loading import LoadedConfig, load_config
from cbrun.config.model import ModelConfig
from cbrun.config.training import CompileConfig, FitConfig
from cbrun.config.yaml_loader import load_yaml_text
from cbrun.errors import ConfigError, Problem

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"

MAX_SECONDS = 2.0
"""Longest time one input may take."""
TIME_LIMITS = True
"""Whether an input over ``MAX_SECONDS`` fails. ``tests/test_fuzz.py`` turns it
off: speed is this script's finding, not a pass/fail test on a shared CI
machine; a hang (``HANG_SECONDS``) fails either way."""
HANG_SECONDS = 20.0
"""An input still running after this long is interrupted and reported."""
MAX_PROBLEM_CHARS = 2_000
"""Longest accepted rendering of one problem (``FILE:LINE:COL: where: what``)."""
MAX_OUTPUT_CHARS = 20_000
"""Longest accepted output for one file."""
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
"""Hypothesis's phases without ``explain``, which traces every line executed
after a failure and so makes inputs several times slower than they are."""


# --------------------------------------------------------------------------- #
# Bookkeeping
# --------------------------------------------------------------------------- #


class FuzzFailure(AssertionError):
    """A property does not hold for one input."""


class InputHang(BaseException):
    """Raised by the alarm when one input runs longer than ``HANG_SECONDS``."""


class TooSlow(FuzzFailure):
    """One input (or one command of it) took longer than its time limit."""


@dataclass
class Stats:
    """What the fuzzing has seen so far, over every target.

    Attributes:
        inputs: Inputs checked.
        by_target: Inputs checked per target.
        outcomes: Configs accepted and rejected (with problems).
        slowest: The slowest input's time, target and a short description.
        slowest_input: The slowest input itself.
        largest: The largest input's size in characters (or bytes) and target.
        failures: Distinct failures: key, message and the reproducer.
        remeasured: Inputs that were slow once, then measured again.
    """

    inputs: int = 0
    by_target: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    slowest: tuple[float, str, str] = (0.0, "", "")
    slowest_input: Any = None
    largest: tuple[int, str, str] = (0, "", "")
    failures: dict[str, tuple[str, Any]] = field(default_factory=dict)
    remeasured: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return a few lines for humans."""
        seconds, target, what = self.slowest
        size, big_target, big_what = self.largest
        per_target = ", ".join(f"{k} {v}" for k, v in sorted(self.by_target.items()))
        return (
            f"inputs run: {self.inputs} ({per_target})\n"
            f"configs: {self.outcomes.get('accepted', 0)} accepted, "
            f"{self.outcomes.get('rejected', 0)} rejected with problems\n"
            f"slowest input: {seconds:.3f} s ({target}: {what})\n"
            f"largest input: {size} characters/bytes ({big_target}: {big_what})\n"
            f"slow once, measured again: {len(self.remeasured)}"
            + "".join(f"\n  {line}" for line in self.remeasured[:10])
            + f"\nfailures: {len(self.failures)}"
        )


STATS = Stats()


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, tuple | list):
        return sum(_size(v) for v in value)
    return 0


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Interrupt the block with :class:`InputHang` after ``seconds``.

    Uses ``SIGALRM``, so only in the main thread of a POSIX process; elsewhere
    the block simply runs (and its time is still measured).
    """

    def _raise(signum: int, frame: object) -> None:
        raise InputHang(f"no result after {seconds} s")

    try:
        previous = signal.signal(signal.SIGALRM, _raise)
    except (ValueError, AttributeError):  # not the main thread, or no SIGALRM
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(
    target: str, value: Any, check: Callable[[], None], limit: float = MAX_SECONDS
) -> None:
    """Run one check, timing it and recording the outcome in :data:`STATS`.

    Raises:
        FuzzFailure: The check failed, raised something unexpected, hung or
            took longer than ``limit`` twice in a row. The input is kept as
            the target's latest reproducer (hypothesis replays the minimal
            one last, so after shrinking it is the minimal one).
    """
    STATS.inputs += 1
    STATS.by_target[target] = STATS.by_target.get(target, 0) + 1
    size = _size(value)
    if size > STATS.largest[0]:
        STATS.largest = (size, target, _describe(value))
    try:
        try:
            elapsed = _timed(check, limit)
        except TooSlow as slow:
            # A stall of the machine (another process, reclaimed memory) can
            # make any input slow once; a slow input is slow every time.
            STATS.remeasured.append(f"{target}: {slow}")
            elapsed = _timed(check, limit)
    except FuzzFailure as failure:
        _record(target, value, str(failure))
        raise
    except InputHang as hang:
        _record(target, value, f"hang: {hang}")
        raise FuzzFailure(f"{target}: hang: {hang}") from None
    except Exception as exc:  # any other exception is the bug
        message = f"unexpected {type(exc).__name__}: {exc}"
        _record(target, value, message + "\n" + traceback.format_exc(limit=-12))
        raise FuzzFailure(f"{target}: {message[:500]}") from exc
    if elapsed > STATS.slowest[0]:
        STATS.slowest = (elapsed, target, _describe(value))
        STATS.slowest_input = value


_SPENT = [0.0]  # seconds spent in cbrun by the input being checked


@contextlib.contextmanager
def _in_cbrun() -> Iterator[None]:
    """Count the block's time toward the input's limit (not the harness's)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _SPENT[0] += time.perf_counter() - start


def _timed(check: Callable[[], None], limit: float) -> float:
    """Run ``check`` under the hang alarm; return cbrun's time, or raise TooSlow."""
    _SPENT[0] = 0.0
    with _alarm(HANG_SECONDS):
        check()
    elapsed = _SPENT[0]
    if TIME_LIMITS and elapsed > limit:
        raise TooSlow(f"took {elapsed:.2f} s (limit {limit} s)")
    return elapsed


def _record(target: str, value: Any, message: str) -> None:
    # One entry per target and kind of failure; the latest input wins.
    first = message.splitlines()[0] if message else ""
    kind = re.sub(r"\d+", "N", re.sub(r"'[^']*'|\"[^\"]*\"|\(.*", "", first))
    frames = re.findall(r'File "[^"]*/(cbrun/[^"]+)", line \d+, in (\w+)', message)
    if frames:
        kind += " at {}:{}".format(*frames[-1])
    STATS.failures[f"{target}: {kind[:150]}"] = (message, value)


def _fail(message: str) -> None:
    raise FuzzFailure(message)


# --------------------------------------------------------------------------- #
# The properties
# --------------------------------------------------------------------------- #

_YAML_BREAKS = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def _widths(text: str | None, raw: bytes) -> list[int]:
    """Return the widest reading of each line, for bounds on positions.

    A line may be counted by ``\\n`` (editors, the UTF-8 check) or by YAML
    1.1's breaks (PyYAML's marks also break at ``\\r``, NEL, LS and PS); a
    column counts characters, after a BOM.
    """
    body = raw.removeprefix(b"\xef\xbb\xbf")
    readings = [[len(line.decode("utf-8", "replace")) for line in body.split(b"\n")]]
    if text is not None:
        readings.append([len(line) for line in text.split("\n")])
        readings.append([len(line) for line in _YAML_BREAKS.split(text)])
    count = max(len(reading) for reading in readings)
    return [
        max(reading[i] if i < len(reading) else 0 for reading in readings)
        for i in range(count)
    ]


def check_problems(problems: Sequence[Problem], text: str | None, raw: bytes) -> None:
    """Check the shape, place and size of problems reported for one file.

    Args:
        problems: What was reported.
        text: The file's text, or ``None`` when it is not UTF-8.
        raw: The file's bytes.
    """
    if not problems:
        _fail("ConfigError without problems")
    widths = _widths(text, raw)
    total = 0
    for problem in problems:
        if not isinstance(problem, Problem):
            _fail(f"not a Problem: {problem!r}")
        if not (isinstance(problem.line, int) and isinstance(problem.column, int)):
            _fail(f"line/column are not ints: {problem!r}")
        if problem.line < 0 or problem.column < 0:
            _fail(f"negative position: {problem!r}")
        if not isinstance(problem.message, str) or not problem.message.strip():
            _fail(f"empty message: {problem!r}")
        if problem.severity not in ("error", "warning"):
            _fail(f"bad severity: {problem!r}")
        if problem.line > len(widths) + 1:
            _fail(f"line {problem.line} beyond the file's {len(widths)} lines")
        if problem.line and problem.line <= len(widths):
            width = widths[problem.line - 1]
            if problem.column > width + 1:
                _fail(f"column {problem.column} beyond the line's {width} characters")
        rendered = problem.format()
        if len(rendered) > MAX_PROBLEM_CHARS:
            _fail(f"a problem of {len(rendered)} characters: {rendered[:300]}...")
        total += len(rendered) + 1
    if total > MAX_OUTPUT_CHARS:
        _fail(f"{len(problems)} problems, {total} characters in all")


class _Workspace:
    """A private folder for the files under test, made once per process."""

    _dir: Path | None = None

    @classmethod
    def file(cls, name: str = "fuzz.yaml") -> Path:
        if cls._dir is None:
            cls._dir = Path(tempfile.mkdtemp(prefix="cbrun-fuzz-"))
            atexit.register(shutil.rmtree, cls._dir, ignore_errors=True)
        return cls._dir / name


def check_config_bytes(raw: bytes, overrides: Sequence[str] = ()) -> None:
    """Write ``raw`` to a file and check ``load_config`` on it (train's stage)."""
    path = _Workspace.file()
    path.write_bytes(raw)
    try:
        text: str | None = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    try:
        with _in_cbrun():
            loaded = load_config(path, overrides, display="fuzz.yaml")
    except ConfigError as exc:
        STATS.outcomes["rejected"] = STATS.outcomes.get("rejected", 0) + 1
        check_problems(exc.problems, text, raw)
        if not any(p.severity == "error" for p in exc.problems):
            _fail("ConfigError with warnings only")
        return
    STATS.outcomes["accepted"] = STATS.outcomes.get("accepted", 0) + 1
    if not isinstance(loaded, LoadedConfig):
        _fail(f"load_config returned {type(loaded).__name__}")
    if loaded.warnings:
        check_problems(loaded.warnings, text, raw)


def check_config_text(text: str, overrides: Sequence[str] = ()) -> None:
    """Check ``load_config`` on ``text`` saved as UTF-8, and ``load_yaml_text``.

    ``load_yaml_text`` is called directly only on small texts: it has no size
    limit of its own (files are limited when read, ``--set`` values by the
    command line), and the time limit is per input.
    """
    check_config_bytes(text.encode("utf-8", "surrogatepass"), overrides)
    if len(text) > 100_000:
        return
    try:
        with _in_cbrun():
            load_yaml_text(text, "fuzz.yaml")
    except ConfigError as exc:
        check_problems(exc.problems, text, text.encode("utf-8", "surrogatepass"))


def check_schedule(text: str, calls: Sequence[tuple[int, float]]) -> None:
    """Parse ``text`` as a schedule and call it; only ExpressionError may escape."""
    try:
        with _in_cbrun():
            schedule = parse_schedule(text)
    except ExpressionError as exc:
        _check_expression_error(exc, text)
        return
    for epoch, lr in calls:
        try:
            with _in_cbrun():
                result = schedule(epoch, lr)
        except ExpressionError as exc:
            _check_expression_error(exc, text)
            continue
        if not (isinstance(result, float) and math.isfinite(result)):
            _fail(f"schedule returned {result!r}")


def _check_expression_error(exc: ExpressionError, text: str) -> None:
    if not exc.message.strip():
        _fail("empty ExpressionError message")
    if not 0 <= exc.offset <= max(len(text), 1000):
        _fail(f"offset {exc.offset} outside the text ({len(text)} characters)")
    if len(exc.message) > MAX_PROBLEM_CHARS:
        _fail(f"an ExpressionError of {len(exc.message)} characters")


def check_cli(raw: bytes, overrides: Sequence[str], json_format: bool) -> None:
    """Run ``cbrun validate`` (and ``train`` when invalid) on ``raw`` in-process."""
    path = _Workspace.file("cli.yaml")
    path.write_bytes(raw)
    args = ["validate", str(path)]
    if json_format:
        args += ["--format", "json"]
    for override in overrides:
        args += ["--set", override]
    exit_code = _invoke(args, "validate", (0, 1))
    if exit_code == 1 and not json_format:
        # An invalid config stops `train` before TensorFlow is imported.
        train = ["train", str(path), *args[2:], "--runs-dir", str(path.parent)]
        _invoke(train, "train", (1,))


def _invoke(args: list[str], command: str, codes: tuple[int, ...]) -> int:
    """Run one command in-process, check its result, return its exit code."""
    start = time.perf_counter()
    with _in_cbrun():
        result = CliRunner().invoke(cli, args)
    elapsed = time.perf_counter() - start
    if TIME_LIMITS and elapsed > MAX_SECONDS:
        raise TooSlow(f"{command}: took {elapsed:.2f} s (limit {MAX_SECONDS} s)")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        trace = "".join(traceback.format_exception(exc, limit=-12))
        _fail(f"{command}: unexpected {type(exc).__name__}: {exc}\n{trace}")
    if result.exit_code not in codes:
        _fail(f"{command}: exit code {result.exit_code}: {result.output[:500]}")
    if "Traceback" in result.output:
        _fail(f"{command}: a traceback in the output: {result.output[:500]}")
    if len(result.output) > MAX_OUTPUT_CHARS:
        _fail(f"{command}: {len(result.output)} characters of output")
    return result.exit_code


# --------------------------------------------------------------------------- #
# Strategies
# --------------------------------------------------------------------------- #


def _seed_configs() -> list[tuple[str, dict[str, Any]]]:
    """The valid configs of ``configs/``, as text and as data."""
    seeds = []
    for path in sorted(CONFIGS.rglob("*.y*ml")):
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        if isinstance(data, dict):
            seeds.append((text, data))
    return seeds


_SEED_CONFIGS = _seed_configs()
SEED_TEXTS = [text for text, _ in _SEED_CONFIGS]
SEEDS = [data for _, data in _SEED_CONFIGS]

_SCHEMA_KEYS = sorted(
    {
        name
        for schema in (
            ExperimentConfig,
            ModelConfig,
            CompileConfig,
            FitConfig,
            *CALLBACK_SCHEMAS.values(),
        )
        for name in schema.model_fields
    }
    | {"source", "name", "path", "scale", "limit", "test_size", "epsilon", "period"}
)
KEY_WORDS = [*_SCHEMA_KEYS, *CALLBACK_SCHEMAS, "callbacks", "data", "model"]

SCHEDULE_TEXTS = [
    "10**10**10",
    "9**9**9**9",
    "2**1024",
    "1e308 * 10",
    "lr * 0.9",
    "0.001 if epoch < 10 else 0.001 * exp(0.1 * (10 - epoch))",
    "exp(epoch)",
    "log(0)",
    "1 / (epoch - epoch)",
    "round(lr, 10**300)",
    "round(lr, 1e308)",
    "min(" + ", ".join(["lr"] * 300) + ")",
    "(" * 300 + "lr" + ")" * 300,
    "-" * 900 + "lr",
    "not " * 200 + "lr",
    "lr" + " + lr" * 300,
    "__import__('os').system('true')",
    "().__class__.__base__",
    "lr if epoch else",
    "lambda: 1",
    "[x for x in ()]",
    "f'{lr}'",
    "epoch > 3",
    "nan",
    "inf - inf",
    "0 ** -1",
    "(-8) ** (1/3)",
    "1 % 0",
    "7 // 0.0",
    "abs(-inf)",
    "lr\n+ 1",
    "  lr",
    "\t",
    "",
    "lr @ 2",
    "lr.real",
    "pow(lr)",
    "exp(x=1)",
    "é" * 999,
    "1" * 5000,
    "0x" + "f" * 900,
]

SPECIAL_STRINGS = [
    "",
    " ",
    "~",
    "null",
    "yes",
    "no",
    "on",
    "1e999",
    "-1e999",
    ".nan",
    "auto",
    "min",
    "max",
    "epoch",
    "val_loss",
    "val_accuracy",
    "accuracy",
    "loss",
    "learning_rate",
    "adam",
    "Adam",
    "test",
    "relu",
    "EarlyStopping",
    "pkg.mod:Class",
    "builtins:print",
    "os:system",
    "a:b:c",
    "checkpoints/{epoch:02d}.keras",
    "ckpt.{epoch:9999999999d}.keras",
    "ckpt.{epoch:99999999999999999999999999d}.keras",
    "ckpt.{epoch:1000000000d}.keras",
    "ckpt.{epoch:,.2000000000f}.keras",
    "ckpt.{val_loss:" + "9" * 5000 + "}.keras",
    "{epoch!r}.keras",
    "{epoch.__class__}.keras",
    "{0}.keras",
    "{}.keras",
    "{.keras",
    "}.keras",
    "{epoch:{loss}}.keras",
    "w.weights.h5",
    "../outside",
    "/absolute/path",
    "http://localhost:9000",
    "\x00",
    "\x1b[31mred",
    "\u202e\u2028\u2029\x85",
    "\ufeff",
    "\ud7ff\ue000\U0010ffff",
    "ünïcödé 🙂",
    *SCHEDULE_TEXTS,
]

_LONG_PIECES = ["a", "é", "🙂", "\x01", "{", "{epoch}", "../", " ", "9", "\n", "'"]


def long_strings() -> st.SearchStrategy[str]:
    """Strings of thousands to hundreds of thousands of characters, cheaply."""
    return st.builds(
        lambda piece, count: piece * count,
        st.sampled_from(_LONG_PIECES),
        st.sampled_from([1_001, 5_000, 60_000, 200_000]) | st.integers(1_000, 20_000),
    )


def texts() -> st.SearchStrategy[str]:
    """Short unicode text with control characters, and special strings."""
    alphabet = st.characters(exclude_categories=["Cs"])
    return st.one_of(
        st.text(alphabet, max_size=30),
        st.sampled_from(SPECIAL_STRINGS),
        st.sampled_from(KEY_WORDS),
    )


def numbers() -> st.SearchStrategy[int | float]:
    """Small, huge, negative and non-finite numbers."""
    return st.one_of(
        st.integers(-5, 200),
        st.integers(),
        st.sampled_from(
            [10**100, -(10**100), 2**63, -(2**63) - 1, 2**32, 10**4000, -(10**4299)]
        ),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 0.5]),
    )


def scalars() -> st.SearchStrategy[Any]:
    """Every kind of YAML scalar a config could hold."""
    return st.one_of(
        st.none(),
        st.booleans(),
        numbers(),
        texts(),
        long_strings(),
    )


def values() -> st.SearchStrategy[Any]:
    """Scalars, lists and mappings, nested a little."""
    keys = st.one_of(texts(), st.integers(), st.none(), st.booleans())
    return st.recursive(
        scalars(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=12,
    )


def _typo(draw: st.DrawFn, key: Any) -> Any:
    word = str(key)
    kind = draw(st.integers(0, 9))
    if kind == 0 and word:
        i = draw(st.integers(0, len(word) - 1))
        return word[:i] + word[i + 1 :]
    if kind == 1 and len(word) > 1:
        i = draw(st.integers(0, len(word) - 2))
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 2:
        return word.upper()
    if kind == 3:
        return word + draw(st.sampled_from(["s", "_", " ", "\t", "\x00", "é", ":"]))
    if kind == 4:
        return draw(st.one_of(st.integers(), st.none(), st.booleans(), st.floats()))
    if kind == 5:
        return draw(long_strings())
    if kind == 6:
        return draw(st.sampled_from(KEY_WORDS))
    return draw(texts())


def _containers(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a dict or list inside ``data``, the root first."""
    found = [path] if isinstance(data, dict | list) else []
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        found += _containers(value, (*path, key))
    return found


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _nest(draw: st.DrawFn, value: Any) -> Any:
    for _ in range(draw(st.integers(1, 150))):
        value = [value] if draw(st.booleans()) else {"a": value}
    return value


def _callback(draw: st.DrawFn) -> dict[str, Any]:
    """A callback of a real type, some of its parameters set to odd values."""
    kind = draw(st.sampled_from([*CALLBACK_SCHEMAS, "examples.callbacks:X"]))
    fields = list(
        CALLBACK_SCHEMAS.get(kind, CALLBACK_SCHEMAS["EarlyStopping"]).model_fields
    )
    item: dict[str, Any] = {"type": kind}
    for name in draw(st.lists(st.sampled_from(fields), max_size=4, unique=True)):
        if name != "type":
            item[name] = draw(
                st.one_of(st.sampled_from(SPECIAL_STRINGS), numbers(), scalars())
            )
    return item


def _mutate(draw: st.DrawFn, data: dict[str, Any]) -> None:
    """Apply one random mutation to ``data`` in place."""
    path = draw(st.sampled_from(_containers(data)))
    container = _get(data, path)
    op = draw(
        st.sampled_from(
            ["rename", "replace", "drop", "add", "nest", "repeat", "known", "callback"]
        )
    )
    small = len(repr(container)) < 20_000  # repeating megabytes is slow to dump
    if op == "callback":
        callbacks = data.get("callbacks")
        if not isinstance(callbacks, list):
            callbacks = data["callbacks"] = []
        callbacks.append(_callback(draw))
        return
    if isinstance(container, dict):
        keys = list(container)
        if op == "add" or not keys:
            container[_typo(draw, draw(st.sampled_from(KEY_WORDS)))] = draw(values())
            return
        key = draw(st.sampled_from(keys))
        if op == "rename":
            new = _typo(draw, key)
            # Keep the order, so the renamed key stays where it was.
            items = [(new if k == key else k, v) for k, v in container.items()]
            container.clear()
            container.update(items)
        elif op == "drop":
            del container[key]
        elif op == "nest":
            container[key] = _nest(draw, container[key])
        elif op == "repeat" and isinstance(container[key], list) and small:
            container[key] = container[key] * draw(st.integers(2, 60))
        elif op == "known":
            container[draw(st.sampled_from(KEY_WORDS))] = draw(values())
        else:
            container[key] = draw(values())
        return
    if not container or op == "add":
        container.append(draw(values()))
        return
    index = draw(st.integers(0, len(container) - 1))
    if op == "drop":
        del container[index]
    elif op == "nest":
        container[index] = _nest(draw, container[index])
    elif op == "repeat" and small:
        container.extend([container[index]] * draw(st.integers(1, 60)))
    else:
        container[index] = draw(values())


@st.composite
def mutated_data(draw: st.DrawFn) -> Any:
    """A config from ``configs/`` with one to six mutations (rarely not a dict)."""
    if draw(st.integers(0, 30)) == 0:
        return draw(values())
    data = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        _mutate(draw, data)
    return data


def _dump(draw: st.DrawFn, data: Any) -> str:
    return yaml.safe_dump(
        data,
        sort_keys=False,
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, None, True])),
        width=draw(st.sampled_from([80, 10**6])),
    )


_FRAGMENTS = [
    "!!python/object:os.system ",
    "!!python/object/apply:os.system ['true'] ",
    "!!python/name:os.system ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!timestamp ",
    "!!timestamp 2001-13-45 ",
    "!!float ",
    "!!int ",
    "!!str ",
    "!!map ",
    "!!seq ",
    "!custom ",
    "!<tag:yaml.org,2002:python/none> ",
    "&a ",
    "*a ",
    "*undefined ",
    "<<: *a\n",
    "<<: [*a, 1]\n",
    "<<: 3\n",
    "? ",
    "? [a, b]\n: 1\n",
    "? {a: 1}\n: 1\n",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    '"',
    "|\n",
    ">-\n",
    "#",
    "%YAML 1.1\n",
    "%YAML 1.3\n",
    "%TAG ! tag:x,2000:\n",
    "---\n",
    "...\n",
    "\t",
    "\r",
    "\r\n",
    "\x00",
    "\x85",
    "\u2028",
    "\ufeff",
    "\\",
    "1" * 5000,
    "0x" + "f" * 5000,
    "0o" + "7" * 5000,
    "0b" + "1" * 20000,
    "1_" * 3000 + "1",
    "190:20:30",
    "1" * 4000 + ".5",
    "2001-12-14t21:59:43.10-05:00",
    "9999-99-99",
]

_ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
)


def _edit(draw: st.DrawFn, text: str) -> str:
    """Apply one raw text edit."""
    kind = draw(st.integers(0, 11))
    lines = text.split("\n")
    if kind == 0 and lines:
        i = draw(st.integers(0, len(lines) - 1))
        return "\n".join([*lines[: i + 1], *lines[i:]])
    pos = draw(st.integers(0, len(text)))
    if kind == 1:
        return text[:pos] + "\t" + text[pos:]
    if kind == 2 and text:
        end = min(len(text), pos + draw(st.integers(1, 3)))
        return text[:pos] + text[end:]
    if kind == 3:
        return text[:pos] + draw(st.sampled_from(_FRAGMENTS)) + text[pos:]
    if kind == 4:
        # At the start of a line, where tags, anchors and keys go.
        i = draw(st.integers(0, len(lines)))
        return "\n".join([*lines[:i], draw(st.sampled_from(_FRAGMENTS)), *lines[i:]])
    if kind == 5:
        return text.replace("\n", draw(st.sampled_from(["\r\n", "\r", "\u2028"])))
    if kind == 6:
        return _ALIAS_BOMB + text
    if kind == 7:
        return text[:pos]
    if kind == 8:
        return "\ufeff" + text
    if kind == 9:
        return text[:pos] + draw(st.text(max_size=5)) + text[pos:]
    if kind == 10:
        # A value anchored, then reused: anchors and aliases in a real config.
        return re.sub(r": (\w+)\n", r": &v \1\n", text, count=1) + "alias: *v\n"
    return text + draw(st.sampled_from(_FRAGMENTS))


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """A mutated config dumped as YAML, then edited as raw text."""
    # Repeated long strings can dump to many megabytes; past the size limit
    # only the first bytes matter.
    text = _dump(draw, draw(mutated_data()))[:2_000_000]
    for _ in range(draw(st.integers(0, 3))):
        text = _edit(draw, text)
    return text


_YAML_TOKENS = [
    *_FRAGMENTS[:60],
    "\n",
    "  ",
    " ",
    "a",
    "data",
    "model",
    "callbacks",
    "type",
    "1",
    "-1",
    "1.5",
    "null",
    "true",
    "x",
    "é",
]


def random_texts() -> st.SearchStrategy[str]:
    """Arbitrary text, and text built from YAML's punctuation and cbrun's keys."""
    return st.one_of(
        st.text(max_size=300),
        st.lists(st.sampled_from(_YAML_TOKENS), max_size=80).map("".join),
    )


@st.composite
def random_bytes(draw: st.DrawFn) -> bytes:
    """Bytes: random, a config in another encoding, or UTF-8 with bad bytes."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=300))
    text = draw(config_texts())
    if kind == 1:
        encoding = draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252"]))
        return text.encode(encoding, errors="replace")
    raw = draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + text.encode("utf-8")
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(raw)))
        bad = draw(
            st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\x80", b"\xed\xa0"])
        )
        raw = raw[:pos] + bad + raw[pos:]
    return raw


_KEY_PARTS = [
    *KEY_WORDS,
    "0",
    "1",
    "5",
    "-1",
    "00",
    "99999999999999999999",
    "9" * 5000,
    "\u00b2",
    "\u0663",
    "\u2460",
    "\U0001d7d9",
    "",
    " ",
    "x",
    "a-b",
    "é",
]


def override_texts() -> st.SearchStrategy[str]:
    """``--set`` strings: dotted keys with indexes and types, any value."""
    key = st.lists(
        st.sampled_from(_KEY_PARTS) | st.text(max_size=6), min_size=1, max_size=6
    ).map(".".join)
    value = st.one_of(
        st.sampled_from(
            [
                "3",
                "",
                "null",
                "[1, 2]",
                "{a: 1}",
                ".nan",
                ".inf",
                "1e999",
                "'x'",
                "!!python/object:os.system",
                "&a [*a]",
                ": :",
                "- x\n- y",
                "a: 1\na: 2",
                "1" * 5000,
                "x" * 100_000,
                "---\n---",
                "0x" + "f" * 5000,
                "\udcff\udc80",
                "a\x00b",
                *SCHEDULE_TEXTS,
            ]
        ),
        texts(),
        values().map(lambda v: yaml.safe_dump(v, width=10**6)),
    )
    separator = st.sampled_from(["=", "=", "=", "", "==", " = "])
    return st.one_of(
        st.builds(lambda k, s, v: k + s + v, key, separator, value),
        st.text(max_size=40),
    )


def overrides() -> st.SearchStrategy[list[str]]:
    """Zero to four ``--set`` strings."""
    return st.lists(override_texts(), max_size=4)


def _expression(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ops = ["+", "-", "*", "/", "//", "%", "**", "<", "==", "and", "or", "@", "<<"]
    names = st.sampled_from(
        ["exp", "log", "sqrt", "min", "max", "pow", "round", "floor", "abs", "eval"]
    )
    return st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(ops), inner),
        st.builds(lambda a: f"({a})", inner),
        st.builds(
            lambda op, a: f"{op}{a}", st.sampled_from(["-", "+", "not ", "~"]), inner
        ),
        st.builds(lambda a, b, c: f"{a} if {b} else {c}", inner, inner, inner),
        st.builds(
            lambda f, args: f"{f}({', '.join(args)})",
            names,
            st.lists(inner, max_size=3),
        ),
    )


def schedule_texts() -> st.SearchStrategy[str]:
    """Expressions: valid, forbidden, huge, deeply nested, and random text."""
    atoms = st.one_of(
        st.sampled_from(
            [
                "epoch",
                "lr",
                "pi",
                "e",
                "inf",
                "nan",
                "x",
                "0",
                "1",
                "10",
                "1e308",
                "1e-308",
                "0.0",
                "1_000",
                "0x10",
                "1j",
                "'s'",
                "None",
                "True",
                "()",
            ]
        ),
        st.integers().map(str),
        st.floats().map(repr),
    )
    nested = st.integers(1, 400).flatmap(
        lambda n: st.sampled_from(
            [
                "(" * n + "lr" + ")" * n,
                "-" * n + "lr",
                "not " * n + "lr",
                "lr" + " + lr" * n,
                "2**" * n + "2",
                "10**" * min(n, 40) + "10",
                "exp(" * n + "1" + ")" * n,
                "min(lr, " * n + "lr" + ")" * n,
                "[" * n + "]" * n,
                "lr if epoch else " * n + "lr",
                "epoch < " * n + "lr",
            ]
        )
    )
    return st.one_of(
        st.recursive(atoms, _expression, max_leaves=20),
        nested,
        st.sampled_from(SCHEDULE_TEXTS),
        st.text(max_size=200),
        st.text(
            st.sampled_from("()+-*/%<>=!~ .0123456789elpxirnotandf,"), max_size=300
        ),
    )


def schedule_calls() -> st.SearchStrategy[list[tuple[int, float]]]:
    """Arguments Keras would pass: an epoch index and the current rate."""
    epochs = st.one_of(st.sampled_from([0, 1, 9, 10, 11, 1000]), st.integers(0, 10**6))
    rates = st.one_of(
        st.sampled_from([0.001, 0.0, 1.0, 1e308, 5e-324, -1.0]),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    return st.lists(st.tuples(epochs, rates), min_size=1, max_size=4)


# --------------------------------------------------------------------------- #
# Targets: a strategy and a check each
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Target:
    """One thing to fuzz: how to draw an input and how to check it."""

    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]
    max_seconds: float = MAX_SECONDS

    def run(self, value: Any) -> None:
        """Check one input, timed and recorded (see :func:`_run`)."""
        _run(self.name, value, lambda: self.check(value), self.max_seconds)


TARGETS: dict[str, Target] = {
    target.name: target
    for target in [
        Target(
            "mutated_config",
            st.tuples(config_texts(), st.just([]) | overrides()),
            lambda a: check_config_text(a[0], a[1]),
        ),
        Target("random_text", random_texts(), check_config_text),
        Target("random_bytes", random_bytes(), check_config_bytes),
        Target(
            "overrides",
            st.tuples(st.sampled_from(SEED_TEXTS), overrides()),
            lambda a: check_config_text(a[0], a[1]),
        ),
        Target(
            "schedule",
            st.tuples(schedule_texts(), schedule_calls()),
            lambda a: check_schedule(a[0], a[1]),
        ),
        Target(
            "cli",
            st.tuples(
                config_texts().map(lambda t: t.encode("utf-8")) | random_bytes(),
                st.just([]) | overrides(),
                st.booleans(),
            ),
            lambda a: check_cli(a[0], a[1], a[2]),
            max_seconds=2 * MAX_SECONDS,  # validate, then train: each is timed
        ),
    ]
}


def warm_up() -> None:
    """Load every seed config once, so imports are not timed as an input."""
    for text in SEED_TEXTS:
        with contextlib.suppress(ConfigError):
            load_yaml_text(text, "warm-up")
    check_config_text(SEED_TEXTS[0])
    # `train` imports more than `validate`, even for a config it refuses.
    path = _Workspace.file("warm-up.yaml")
    path.write_text("data: 1\n", encoding="utf-8")
    for command in ("validate", "train"):
        CliRunner().invoke(cli, [command, str(path), "--set", "fit.epochs=1"])


# --------------------------------------------------------------------------- #
# The long run
# --------------------------------------------------------------------------- #


def _run_chunk(target: Target, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=PHASES,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @given(target.strategy)
    def chunk(value: Any) -> None:
        target.run(value)

    chunk()


def _save(stem: Path, target: str, value: Any, note: str) -> list[Path]:
    """Write one input: the config as ``stem.yaml``, the rest in ``stem.txt``."""
    config: bytes | None = None
    rest: Any = value
    if target != "schedule":
        first = value[0] if isinstance(value, tuple) else value
        if isinstance(first, str):
            first = first.encode("utf-8", "surrogatepass")
        config, rest = first, value[1:] if isinstance(value, tuple) else None
    written = []
    if config is not None:
        stem.with_suffix(".yaml").write_bytes(config)
        written.append(stem.with_suffix(".yaml"))
    label = "input" if config is None else "input besides the .yaml"
    text = f"{note}\n\n{label}: {rest!r}\n"
    stem.with_suffix(".txt").write_text(text, encoding="utf-8")
    written.append(stem.with_suffix(".txt"))
    return written


def save_inputs(out: Path, *, slowest: bool = False) -> list[Path]:
    """Write each failure's reproducer (and the slowest input) under ``out``.

    A config input becomes ``NN-target.yaml`` (the exact bytes), with the
    message and the ``--set`` strings in ``NN-target.txt``; a schedule is
    written as its ``repr`` in the ``.txt`` file. The slowest input goes to
    ``slowest-target.yaml``/``.txt``.

    Returns:
        The files written.
    """
    if not STATS.failures and not slowest:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, (key, (message, value)) in enumerate(STATS.failures.items(), 1):
        target = key.split(":", 1)[0]
        stem = out / f"{number:02d}-{target}"
        written += _save(stem, target, value, f"{key}\n\n{message}")
    seconds, target, _ = STATS.slowest
    if slowest and STATS.slowest_input is not None:
        note = f"slowest input: {seconds:.3f} s"
        written += _save(out / f"slowest-{target}", target, STATS.slowest_input, note)
    return written


def fuzz(
    targets: Sequence[str], examples: int | None, seconds: float | None, chunk: int
) -> None:
    """Run the targets in turns until ``examples`` inputs or ``seconds`` pass."""
    warm_up()
    if examples is not None:  # every target gets its share of a small run
        chunk = max(1, min(chunk, -(-examples // len(targets))))
    start = time.monotonic()
    progress = start
    while True:
        for name in targets:
            elapsed = time.monotonic() - start
            if seconds is not None and elapsed >= seconds:
                return
            if examples is not None and STATS.inputs >= examples:
                return
            size = chunk if examples is None else min(chunk, examples - STATS.inputs)
            with contextlib.suppress(FuzzFailure, BaseExceptionGroup):
                _run_chunk(TARGETS[name], size)
            if time.monotonic() - progress > 30:
                progress = time.monotonic()
                print(
                    f"[{progress - start:6.0f} s] {STATS.inputs} inputs, "
                    f"{len(STATS.failures)} failures",
                    flush=True,
                )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, fuzz, print the summary; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, help="stop after this many inputs")
    parser.add_argument("--seconds", type=float, help="stop after this long")
    parser.add_argument(
        "--target",
        action="append",
        choices=sorted(TARGETS),
        help="fuzz only this target (repeatable); default all",
    )
    parser.add_argument(
        "--chunk", type=int, default=100, help="inputs per turn of one target"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("fuzz-failures"),
        help="folder for the reproducers of failures (default: fuzz-failures)",
    )
    parser.add_argument(
        "--save-slowest", action="store_true", help="save the slowest input too"
    )
    args = parser.parse_args(argv)
    if args.examples is None and args.seconds is None:
        args.examples = 2_000
    # Hypothesis warns when it writes the repr of a huge failing input.
    warnings.simplefilter("ignore")
    started = time.monotonic()
    try:
        fuzz(args.target or list(TARGETS), args.examples, args.seconds, args.chunk)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    print(f"ran for {time.monotonic() - started:.0f} s")
    print(STATS.summary())
    for key, (message, _) in STATS.failures.items():
        print(f"\nFAILURE {key}\n{message[:2000]}")
    written = save_inputs(args.out, slowest=args.save_slowest)
    if written:
        print(f"\nsaved: {', '.join(str(p) for p in written)}")
    return 1 if STATS.failures else 0


if __name__ == "__main__":
    sys.exit(main())
