"""What every benchmark section shares: child processes, rounds, statistics, tables.

Whole-process measurements start each child from bench/bench_spawner.py (a
small process, so that the child's peak RSS is its own) with ``fork`` +
``exec`` and reap it with ``os.wait4``, whose rusage is that child's own: wall
time is ``time.perf_counter()`` around fork and reap, CPU time is user +
system, and peak RSS is ``ru_maxrss`` (KiB on Linux). MB means 10^6 bytes.

Contenders of a group alternate run by run (after one untimed warm-up round),
so that drift in the machine's load hits all of them alike; the tables show
medians, minimums and the ratios of medians.
"""

from __future__ import annotations

import compileall
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
MB = 1_000_000
PASS, MISS, ERROR, INFO = "PASS", "MISS", "ERROR", ""


# --- one child process -------------------------------------------------------


@dataclass
class Sample:
    """One finished child process.

    Attributes:
        wall_s: Wall time from spawn to reaped, in seconds.
        cpu_s: Its user plus system CPU time, in seconds.
        rss_bytes: Its peak resident set size.
        returncode: Its exit code.
        stdout: Its standard output.
        stderr: Its standard error.
        detached: Processes it left running when it exited (waited for).
        detached_cpu_s: Their CPU time.
        all_done_s: Wall time until the last of them ended.
    """

    wall_s: float
    cpu_s: float
    rss_bytes: int
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    detached: int = 0
    detached_cpu_s: float = 0.0
    all_done_s: float = 0.0


def maxrss_bytes(ru_maxrss: int) -> int:
    """Convert ``ru_maxrss`` to bytes: KiB on Linux, bytes on macOS."""
    return ru_maxrss if sys.platform == "darwin" else ru_maxrss * 1024


class Spawner:
    """bench/bench_spawner.py, started once: it starts every child process.

    Children started from it report their own peak RSS instead of at least
    this (growing) process's peak; see that module's docstring.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def run(self, argv: Sequence[str], env: dict[str, str], cwd: Path) -> Sample:
        """Run ``argv`` in ``cwd`` to completion through the spawner."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, str(BENCH / "bench_spawner.py")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with tempfile.TemporaryDirectory(prefix="cbrun-bench-out-") as tmp:
            out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
            request = {
                "argv": list(argv),
                "env": env,
                "cwd": str(cwd),
                "stdout": str(out),
                "stderr": str(err),
            }
            self.proc.stdin.write(json.dumps(request) + "\n")
            reply = json.loads(self.proc.stdout.readline())
            return Sample(
                wall_s=reply["wall_s"],
                cpu_s=reply["cpu_s"],
                rss_bytes=maxrss_bytes(reply["maxrss"]),
                returncode=reply["status"],
                stdout=out.read_text("utf-8", "replace"),
                stderr=err.read_text("utf-8", "replace"),
                detached=reply.get("detached", 0),
                detached_cpu_s=reply.get("detached_cpu_s", 0.0),
                all_done_s=reply.get("all_done_s", reply["wall_s"]),
            )


SPAWNER = Spawner()


def run_child(argv: Sequence[str], env: dict[str, str], cwd: Path = REPO) -> Sample:
    """Run ``argv`` in ``cwd``; time it and read its own rusage.

    The child is started by bench/bench_spawner.py with ``fork`` + ``exec``
    and reaped with ``os.wait4``: wall time from just before the fork to the
    reaping, CPU time user + sys, peak RSS ``ru_maxrss``.
    """
    return SPAWNER.run(argv, env, cwd)


def cbrun_command() -> tuple[list[str], dict[str, str]]:
    """Return how to start cbrun, and the environment for every child.

    The ``cbrun`` script beside ``sys.executable`` when there is one, else
    ``python -m cbrun`` with PYTHONPATH set to this checkout.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    script = Path(sys.executable).with_name("cbrun")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], env
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    return [sys.executable, "-m", "cbrun"], env


def compile_cbrun() -> Path:
    """Byte-compile the cbrun package the benchmark runs; return its folder.

    A normal machine has the ``.pyc`` files after cbrun's first run. With
    PYTHONDONTWRITEBYTECODE=1 (set on this project's machine) an editable
    install would compile the ~70 modules ``cbrun train`` imports from source
    in every process, tens of ms that a hand-written one-file script does not
    pay.
    """
    spec = importlib.util.find_spec("cbrun")
    package = Path(spec.origin).parent if spec and spec.origin else REPO / "cbrun"
    compileall.compile_dir(package, quiet=1)
    return package


# --- contenders, rounds and statistics ---------------------------------------


@dataclass
class Goal:
    """Upper bounds for one contender; None means no bound."""

    wall_s: float | None = None
    rss_mb: float | None = None

    def describe(self) -> str:
        """The goal as a table cell, ``(reference)`` without bounds."""
        parts = []
        if self.wall_s is not None:
            parts.append(f"<= {self.wall_s:g} s")
        if self.rss_mb is not None:
            parts.append(f"RSS <= {self.rss_mb:g} MB")
        return ", ".join(parts) or "(reference)"


@dataclass
class Contender:
    """A command to measure.

    Attributes:
        name: Its label in the table.
        argv: The command line.
        goal: Its goal, if any.
        argv_for: Builds the command line for run ``i`` instead of ``argv``
            (e.g. a fresh output folder per run; the warm-up run is -1).
    """

    name: str
    argv: list[str]
    goal: Goal = field(default_factory=Goal)
    argv_for: Callable[[int], list[str]] | None = None

    def command(self, run: int) -> list[str]:
        """The command line of run ``run``."""
        return self.argv_for(run) if self.argv_for else self.argv


@dataclass
class Stats:
    """Medians and minimums over the measured runs of one contender."""

    wall_median_s: float
    wall_min_s: float
    cpu_median_s: float
    cpu_min_s: float
    rss_median_mb: float
    rss_min_mb: float
    runs: int
    failures: int
    detached_median: float = 0.0
    detached_cpu_median_s: float = 0.0
    all_done_median_s: float = 0.0

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Stats:
        """Summarise ``samples`` (at least one)."""
        walls = [s.wall_s for s in samples]
        cpus = [s.cpu_s for s in samples]
        rss = [s.rss_bytes / MB for s in samples]
        return cls(
            wall_median_s=statistics.median(walls),
            wall_min_s=min(walls),
            cpu_median_s=statistics.median(cpus),
            cpu_min_s=min(cpus),
            rss_median_mb=statistics.median(rss),
            rss_min_mb=min(rss),
            runs=len(samples),
            failures=sum(s.returncode != 0 for s in samples),
            detached_median=statistics.median(s.detached for s in samples),
            detached_cpu_median_s=statistics.median(s.detached_cpu_s for s in samples),
            all_done_median_s=statistics.median(s.all_done_s for s in samples),
        )


def verdict(stats: Stats, goal: Goal) -> str:
    """PASS, MISS, ERROR (a run failed) or empty (no goal)."""
    if stats.failures:
        return ERROR
    if goal.wall_s is None and goal.rss_mb is None:
        return INFO
    ok = (goal.wall_s is None or stats.wall_median_s <= goal.wall_s) and (
        goal.rss_mb is None or stats.rss_median_mb <= goal.rss_mb
    )
    return PASS if ok else MISS


def at_most(value: float, goal: float) -> str:
    """PASS when ``value <= goal``, else MISS (NaN is an ERROR)."""
    if value != value:  # NaN: nothing was measured
        return ERROR
    return PASS if value <= goal else MISS


def measure(
    contenders: Sequence[Contender],
    repeats: int,
    env: dict[str, str],
    cwd: Path = REPO,
) -> dict[str, list[Sample]]:
    """Run every contender ``repeats`` times, alternating, after a warm-up round."""
    for contender in contenders:
        run_child(contender.command(-1), env, cwd)  # page cache, .pyc files
    samples: dict[str, list[Sample]] = {c.name: [] for c in contenders}
    for run in range(repeats):
        for contender in contenders:
            sample = run_child(contender.command(run), env, cwd)
            samples[contender.name].append(sample)
            if sample.returncode != 0:
                warn(f"{contender.name} exited {sample.returncode}:", sample.stderr)
        progress(f"round {run + 1}/{repeats} done ({load_text()})")
    return samples


def sample_lists(samples: Sequence[Sample]) -> dict[str, list[float]]:
    """Every run's wall, CPU and RSS, for the JSON."""
    return {
        "wall_s": [s.wall_s for s in samples],
        "cpu_s": [s.cpu_s for s in samples],
        "rss_mb": [s.rss_bytes / MB for s in samples],
        "detached_cpu_s": [s.detached_cpu_s for s in samples],
        "all_done_s": [s.all_done_s for s in samples],
    }


def median_or_nan(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0 or NaN."""
    return numerator / denominator if denominator else float("nan")


# --- the machine's load ------------------------------------------------------


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where unsupported)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def load_text() -> str:
    """``load 1.23 1.10 0.98`` for progress lines and headers."""
    return "load " + " ".join(f"{v:.2f}" for v in load_average())


# --- output ------------------------------------------------------------------


def warn(message: str, detail: str = "") -> None:
    """Print a warning and the last lines of ``detail`` to stderr."""
    tail = "\n".join(detail.strip().splitlines()[-8:])
    print(f"WARNING: {message}" + (f"\n{tail}" if tail else ""), file=sys.stderr)


def progress(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def section_header(title: str, load_at_start: list[float]) -> dict[str, Any]:
    """Print a section title with the load averages; return them for the JSON.

    Sections print after measuring (progress lines go to stderr meanwhile),
    so the header shows the load when the section started and now.
    """
    now = load_average()

    def text(load: list[float]) -> str:
        return "/".join(f"{v:.2f}" for v in load) or "n/a"

    print(
        f"\n== {title} ==\n[load average 1/5/15 min: {text(load_at_start)} at start, "
        f"{text(now)} at end; {os.cpu_count()} CPUs]"
    )
    return {
        "title": title,
        "load_average_at_start": load_at_start,
        "load_average_at_end": now,
    }


NUMBER = re.compile(r"^(-|[-+]?\d[\d.,]*(s| ms| MB|x|%)?)$")


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Align ``rows`` under ``header``: numeric columns right, others left."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    numeric = [
        bool(rows) and all(NUMBER.match(row[i]) for row in rows)
        for i in range(len(header))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if numeric[i] else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * max([len(line(header)), *(len(line(r)) for r in rows)])
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def seconds(value: float) -> str:
    """``1.234s``, or ``-`` for NaN."""
    return "-" if value != value else f"{value:.3f}s"


def megabytes(value: float) -> str:
    """``123.4 MB``, or ``-`` for NaN."""
    return "-" if value != value else f"{value:.1f} MB"


def times(value: float) -> str:
    """A ratio as ``1.023x``, or ``-`` for NaN."""
    return "-" if value != value else f"{value:.3f}x"


def percent(value: float) -> str:
    """A share as ``0.42%``, or ``-`` for NaN."""
    return "-" if value != value else f"{value:.2%}"


def milliseconds(value_s: float) -> str:
    """Seconds shown as ``12.34 ms``, or ``-`` for NaN."""
    return "-" if value_s != value_s else f"{value_s * 1e3:.2f} ms"


@dataclass
class Summary:
    """Every judged goal of the run, for the closing table and the JSON."""

    rows: list[dict[str, str]] = field(default_factory=list)

    def add(self, section: str, item: str, measured: str, goal: str, result: str):
        """Record one judged (or informational) measurement."""
        self.rows.append(
            {
                "section": section,
                "item": item,
                "measured": measured,
                "goal": goal,
                "result": result,
            }
        )

    def print(self) -> None:
        """Print the closing table."""
        print("\n== Summary: every goal ==")
        header = ["section", "measurement", "measured", "goal", "result"]
        rows = [
            [r["section"], r["item"], r["measured"], r["goal"], r["result"]]
            for r in self.rows
        ]
        print(format_table(header, rows))
        misses = sum(r["result"] == MISS for r in self.rows)
        passes = sum(r["result"] == PASS for r in self.rows)
        errors = sum(r["result"] == ERROR for r in self.rows)
        print(f"{passes} PASS, {misses} MISS, {errors} ERROR")
