"""Benchmark cbrun as users run it: whole processes, wall time and peak RSS.

Run from the repository root (``make bench`` runs the first form)::

    python bench/bench_cli.py              # 7 runs per measurement
    python bench/bench_cli.py --quick      # 3 runs per measurement
    python bench/bench_cli.py --json OUT   # results to OUT (default bench/results.json)

It measures:

1. CLI start-up, goal 0.5 s each: ``cbrun --help``, ``cbrun callbacks``,
   ``cbrun schema``, ``cbrun validate configs/earlystop.yaml`` (also peak RSS
   <= 120 MB) and one ``cbrun validate`` call on 100 generated variants of
   configs/earlystop.yaml (goal 1.5 s). References: ``python -c pass`` and
   ``python -c "import yaml, pydantic, click"``.
2. Training overhead: ``cbrun train configs/earlystop.yaml`` against
   bench/handwritten_earlystop.py, the same run in plain Keras. Goal: median
   wall time and median peak RSS of cbrun within 1.05x of the hand-written
   script. Both must stop at the same epoch, or the comparison is not fair
   (a warning is printed).
3. cbrun's per-epoch bookkeeping: the time in ``RunRecorder.on_epoch_end``
   (history.json and run.json, each written atomically with fsync) as a share
   of the epoch time, in-process, over 20 epochs of configs/earlystop.yaml with
   EarlyStopping's patience raised to 100. Goal: below 1%. For information,
   the same for every other callback fit receives (those cbrun adds, such as
   BackupAndRestore, and those of the config).

Every child process is timed with ``time.perf_counter`` around spawn and
``os.wait4``, whose rusage gives that child's own peak RSS (``ru_maxrss``).
Contenders of a group run alternately, run by run, after one untimed warm-up
round; the table shows the median and minimum of the runs and the ratios.
A goal that is missed prints MISS and, unless ``--no-profile``, what dominates
(``python -X importtime`` for processes, cProfile for the bookkeeping). Timing
never fails the script: it exits 0 unless a benchmarked command itself fails.

cbrun is run through the ``cbrun`` script beside ``sys.executable`` when there
is one, else as ``python -m cbrun`` with PYTHONPATH set to this checkout.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONFIG = Path("configs/earlystop.yaml")  # relative to REPO, the children's cwd
HANDWRITTEN = REPO / "bench" / "handwritten_earlystop.py"
DEFAULT_JSON = REPO / "bench" / "results.json"
FULL_REPEATS = 7
QUICK_REPEATS = 3
VALIDATE_MANY = 100
PROBE_EPOCHS = 20
TRAIN_RATIO_GOAL = 1.05
BOOKKEEPING_SHARE_GOAL = 0.01
MB = 1_000_000
EPOCH_LINE = re.compile(r"^Epoch (\d+)/", re.MULTILINE)
IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


# --- running one child -------------------------------------------------------


@dataclass
class Sample:
    """One finished child process.

    Attributes:
        wall_s: Wall time from spawn to reaped, in seconds.
        cpu_s: Its user plus system CPU time, in seconds.
        rss_bytes: The child's peak resident set size.
        returncode: Its exit code.
        stdout: Its standard output.
        stderr: Its standard error.
    """

    wall_s: float
    cpu_s: float
    rss_bytes: int
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)


def maxrss_bytes(ru_maxrss: int) -> int:
    """Convert ``ru_maxrss`` to bytes: KiB on Linux, bytes on macOS."""
    return ru_maxrss if sys.platform == "darwin" else ru_maxrss * 1024


def run_child(argv: Sequence[str], env: dict[str, str]) -> Sample:
    """Run ``argv`` in the repository root; time it and read its own rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
        out.seek(0)
        err.seek(0)
        return Sample(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            rss_bytes=maxrss_bytes(usage.ru_maxrss),
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def cbrun_command() -> tuple[list[str], dict[str, str]]:
    """Return how to start cbrun, and the environment for every child."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    script = Path(sys.executable).with_name("cbrun")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], env
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    return [sys.executable, "-m", "cbrun"], env


# --- contenders and their statistics -----------------------------------------


@dataclass
class Goal:
    """Upper bounds for one contender; None means no bound."""

    wall_s: float | None = None
    rss_mb: float | None = None

    def describe(self) -> str:
        parts = []
        if self.wall_s is not None:
            parts.append(f"wall <= {self.wall_s:g} s")
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
            (e.g. a fresh output folder per run).
    """

    name: str
    argv: list[str]
    goal: Goal = field(default_factory=Goal)
    argv_for: Callable[[int], list[str]] | None = None

    def command(self, run: int) -> list[str]:
        return self.argv_for(run) if self.argv_for else self.argv


@dataclass
class Stats:
    """Median and minimum over the measured runs of one contender."""

    wall_median_s: float
    wall_min_s: float
    cpu_median_s: float
    rss_median_mb: float
    rss_min_mb: float
    runs: int
    failures: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Stats:
        walls = [s.wall_s for s in samples]
        rss = [s.rss_bytes / MB for s in samples]
        return cls(
            wall_median_s=statistics.median(walls),
            wall_min_s=min(walls),
            cpu_median_s=statistics.median(s.cpu_s for s in samples),
            rss_median_mb=statistics.median(rss),
            rss_min_mb=min(rss),
            runs=len(samples),
            failures=sum(s.returncode != 0 for s in samples),
        )


def verdict(stats: Stats, goal: Goal) -> str:
    """PASS, MISS, ERROR (a run failed) or empty (no goal)."""
    if stats.failures:
        return "ERROR"
    if goal.wall_s is None and goal.rss_mb is None:
        return ""
    ok = (goal.wall_s is None or stats.wall_median_s <= goal.wall_s) and (
        goal.rss_mb is None or stats.rss_median_mb <= goal.rss_mb
    )
    return "PASS" if ok else "MISS"


def measure(
    contenders: Sequence[Contender], repeats: int, env: dict[str, str]
) -> dict[str, list[Sample]]:
    """Run every contender ``repeats`` times, alternating, after a warm-up round."""
    for contender in contenders:
        run_child(contender.command(-1), env)  # warm-up: page cache, .pyc files
    samples: dict[str, list[Sample]] = {c.name: [] for c in contenders}
    for run in range(repeats):
        for contender in contenders:
            sample = run_child(contender.command(run), env)
            samples[contender.name].append(sample)
            if sample.returncode != 0:
                warn(f"{contender.name} exited {sample.returncode}:", sample.stderr)
        progress(f"round {run + 1}/{repeats} done")
    return samples


def warn(message: str, detail: str = "") -> None:
    tail = "\n".join(detail.strip().splitlines()[-8:])
    print(f"WARNING: {message}" + (f"\n{tail}" if tail else ""), file=sys.stderr)


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# --- the table -----------------------------------------------------------------

NAME_WIDTH = 40
HEADER = (
    f"{'measurement':<{NAME_WIDTH}} {'wall med':>9} {'wall min':>9} "
    f"{'RSS med':>9} {'ratio':>7}  {'goal':<28} result"
)


def row(name: str, stats: Stats, ratio: float, goal: str, result: str) -> str:
    return (
        f"{name:<{NAME_WIDTH}} {stats.wall_median_s:8.3f}s {stats.wall_min_s:8.3f}s "
        f"{stats.rss_median_mb:6.1f} MB {ratio:6.2f}x  {goal:<28} {result}"
    ).rstrip()


def ratio_row(name: str, value: float, goal: float | None) -> tuple[str, str]:
    """A row with only a ratio; judged against ``goal`` when there is one."""
    result = "" if goal is None else ("PASS" if value <= goal else "MISS")
    goal_text = "(for information)" if goal is None else f"<= {goal:g}x"
    line = (
        f"{name:<{NAME_WIDTH}} {'':>9} {'':>9} {'':>9} {value:6.3f}x  "
        f"{goal_text:<28} {result}"
    )
    return line.rstrip(), result


def section(title: str) -> None:
    print(f"\n== {title} ==")
    print(HEADER)
    print("-" * len(HEADER))


# --- 1. CLI start-up -------------------------------------------------------------


def write_variants(folder: Path, count: int) -> None:
    """Write ``count`` valid variants of configs/earlystop.yaml into ``folder``."""
    text = (REPO / CONFIG).read_text(encoding="utf-8")
    edits = {
        r"^name: earlystop$": "name: bench_{i:03d}",
        r"^seed: 42$": "seed: {i}",
        r"units: 128": "units: {units}",
        r"^  batch_size: 32$": "  batch_size: {batch}",
        r"^    patience: 3$": "    patience: {patience}",
    }
    for i in range(count):
        values = {"i": i, "units": 32 + i, "batch": 16 + i % 48, "patience": i % 10}
        variant = text
        for pattern, replacement in edits.items():
            variant, found = re.subn(
                pattern, replacement.format(**values), variant, count=1, flags=re.M
            )
            if not found:
                raise SystemExit(f"{CONFIG} changed: no line matches {pattern!r}")
        (folder / f"bench_{i:03d}.yaml").write_text(variant, encoding="utf-8")


def startup_contenders(cbrun: list[str], variants: Path) -> list[Contender]:
    quick = Goal(wall_s=0.5)
    return [
        Contender("python -c pass", [sys.executable, "-c", "pass"]),
        Contender(
            "python -c 'import yaml,pydantic,click'",
            [sys.executable, "-c", "import yaml, pydantic, click"],
        ),
        Contender("cbrun --help", [*cbrun, "--help"], quick),
        Contender("cbrun callbacks", [*cbrun, "callbacks"], quick),
        Contender("cbrun schema", [*cbrun, "schema"], quick),
        Contender(
            "cbrun validate earlystop.yaml",
            [*cbrun, "validate", str(CONFIG)],
            Goal(wall_s=0.5, rss_mb=120),
        ),
        Contender(
            f"cbrun validate ({VALIDATE_MANY} configs)",
            [*cbrun, "validate", str(variants)],
            Goal(wall_s=1.5),
        ),
    ]


def bench_startup(
    cbrun: list[str], env: dict[str, str], repeats: int, profile: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-") as tmp:
        variants = Path(tmp)
        write_variants(variants, VALIDATE_MANY)
        contenders = startup_contenders(cbrun, variants)
        samples = measure(contenders, repeats, env)
        section(f"1. CLI start-up ({repeats} runs each, alternating)")
        base = Stats.of(samples[contenders[1].name]).wall_median_s
        results: dict[str, Any] = {}
        for contender in contenders:
            stats = Stats.of(samples[contender.name])
            result = verdict(stats, contender.goal)
            ratio = stats.wall_median_s / base
            print(row(contender.name, stats, ratio, contender.goal.describe(), result))
            results[contender.name] = {
                "argv": contender.argv,
                **asdict(stats),
                "ratio_to_import_baseline": ratio,
                "goal": asdict(contender.goal),
                "result": result,
                "wall_s": [s.wall_s for s in samples[contender.name]],
                "rss_mb": [s.rss_bytes / MB for s in samples[contender.name]],
            }
        print(
            "ratio: median wall time / that of python -c 'import yaml,pydantic,click'"
        )
        if profile:
            for contender in contenders:
                if results[contender.name]["result"] == "MISS":
                    report = importtime_report(contender.name, contender.argv, env)
                    results[contender.name]["profile"] = report
    return results


# --- profiling: python -X importtime -------------------------------------------


def with_importtime(argv: Sequence[str]) -> list[str]:
    """Insert ``-X importtime`` into a Python command line."""
    if argv[0] == sys.executable:
        return [sys.executable, "-X", "importtime", *argv[1:]]
    return [sys.executable, "-X", "importtime", *argv]  # a cbrun script


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """Return (self_us, cumulative_us, depth, module) per line of importtime."""
    rows = []
    for line in stderr.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match:
            own, cumulative, indent, module = match.groups()
            rows.append((int(own), int(cumulative), len(indent) // 2, module))
    return rows


def importtime_report(
    label: str, argv: Sequence[str], env: dict[str, str]
) -> dict[str, Any]:
    """Print and return the imports that dominate ``argv``'s start-up."""
    sample = run_child(with_importtime(argv), env)
    rows = parse_importtime(sample.stderr)
    total_us = sum(own for own, _, _, _ in rows)
    top = sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:8]
    packages: dict[str, int] = {}
    for own, _, _, module in rows:
        root = module.split(".")[0]
        packages[root] = packages.get(root, 0) + own
    heavy = sorted(packages.items(), key=lambda kv: -kv[1])[:8]
    print(f"\n   profile of {label} (python -X importtime, one run):")
    print(f"     all imports: {total_us / 1e6:.3f} s of {sample.wall_s:.3f} s wall")
    print("     top-level imports (cumulative): " + top_list(top))
    print(
        "     by package (self time): "
        + ", ".join(f"{name} {us / 1e3:.0f} ms" for name, us in heavy)
    )
    return {
        "wall_s": sample.wall_s,
        "imports_s": total_us / 1e6,
        "top_level_cumulative_ms": {m: c / 1e3 for _, c, _, m in top},
        "package_self_ms": {name: us / 1e3 for name, us in heavy},
    }


def top_list(rows: Sequence[tuple[int, int, int, str]]) -> str:
    return ", ".join(
        f"{module} {cumulative / 1e3:.0f} ms" for _, cumulative, _, module in rows
    )


def extra_imports(
    argv: Sequence[str], reference: Sequence[str], env: dict[str, str]
) -> dict[str, Any]:
    """Print and return the packages ``argv`` imports that ``reference`` does not."""
    ours = parse_importtime(run_child(with_importtime(argv), env).stderr)
    theirs = parse_importtime(run_child(with_importtime(reference), env).stderr)
    known = {module.split(".")[0] for _, _, _, module in theirs}
    extra: dict[str, int] = {}
    for own, _, _, module in ours:
        root = module.split(".")[0]
        if root not in known:
            extra[root] = extra.get(root, 0) + own
    heavy = sorted(extra.items(), key=lambda kv: -kv[1])
    total_ms = sum(extra.values()) / 1e3
    print(
        f"\n   packages cbrun train imports beyond the hand-written script "
        f"(python -X importtime, self time): {total_ms:.0f} ms in total"
    )
    print("     " + ", ".join(f"{name} {us / 1e3:.0f} ms" for name, us in heavy[:12]))
    return {"total_ms": total_ms, "package_self_ms": {k: v / 1e3 for k, v in heavy}}


# --- profiling: cProfile of two processes ----------------------------------------


def with_cprofile(argv: Sequence[str], out: Path) -> list[str]:
    """Run a Python command line (or a console script) under ``-m cProfile``."""
    rest = argv[1:] if argv[0] == sys.executable else argv
    return [sys.executable, "-m", "cProfile", "-o", str(out), *rest]


def short_path(file: str) -> str:
    if "site-packages/" in file:
        return file.split("site-packages/")[-1]
    return file.removeprefix(str(REPO) + os.sep)


def profile_table(path: Path) -> dict[str, tuple[float, float]]:
    """Function ``file:name`` to (own seconds, cumulative seconds)."""
    table: dict[str, tuple[float, float]] = {}
    stats: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    for (file, _line, function), (_cc, _nc, own, cumulative, _) in stats.items():
        key = f"{short_path(file)}:{function}"
        old_own, old_cumulative = table.get(key, (0.0, 0.0))
        table[key] = (old_own + own, max(old_cumulative, cumulative))
    return table


def cprofile_diff(
    ours: Sequence[str], reference: Sequence[str], env: dict[str, str], tmp: Path
) -> dict[str, Any]:
    """Print where cbrun train spends time that the hand-written script does not."""
    tables = []
    for label, argv in (("cbrun", ours), ("hand", reference)):
        out = tmp / f"{label}.prof"
        sample = run_child(with_cprofile(argv, out), env)
        if not out.is_file():
            warn(f"cProfile of {label} wrote nothing:", sample.stderr)
            return {}
        tables.append(profile_table(out))
    cbrun, hand = tables
    own_diff = {k: v[0] - hand.get(k, (0.0, 0.0))[0] for k, v in cbrun.items()}
    top = sorted(own_diff.items(), key=lambda kv: -kv[1])[:10]
    epoch_ends = sorted(
        ((k, v[1]) for k, v in cbrun.items() if k.endswith(":on_epoch_end")),
        key=lambda kv: -kv[1],
    )[:6]
    print("\n   cProfile, one run each: own time cbrun minus hand-written, top 10")
    for key, seconds in top:
        print(f"     {seconds * 1e3:+9.0f} ms  {key}")
    print("   cProfile: cumulative on_epoch_end per callback in cbrun train")
    for key, seconds in epoch_ends:
        print(f"     {seconds * 1e3:9.0f} ms  {key}")
    return {
        "own_time_diff_ms": {k: v * 1e3 for k, v in top},
        "on_epoch_end_cumulative_ms": {k: v * 1e3 for k, v in epoch_ends},
    }


# --- 2. training overhead --------------------------------------------------------


def last_epoch(stdout: str) -> int | None:
    epochs = EPOCH_LINE.findall(stdout)
    return int(epochs[-1]) if epochs else None


def training_contenders(cbrun: list[str], tmp: Path) -> list[Contender]:
    def cbrun_argv(run: int) -> list[str]:
        return [*cbrun, "train", str(CONFIG), "--runs-dir", str(tmp / f"cbrun{run}")]

    def hand_argv(run: int) -> list[str]:
        return [sys.executable, str(HANDWRITTEN), "--out", str(tmp / f"hand{run}")]

    return [
        Contender("hand-written Keras", hand_argv(0), argv_for=hand_argv),
        Contender("cbrun train earlystop.yaml", cbrun_argv(0), argv_for=cbrun_argv),
    ]


def check_same_epochs(samples: dict[str, list[Sample]]) -> dict[str, list[int | None]]:
    epochs = {
        name: [last_epoch(s.stdout) for s in runs] for name, runs in samples.items()
    }
    seen = {e for runs in epochs.values() for e in runs}
    if len(seen) != 1 or None in seen:
        warn(
            "the runs did not all stop at the same epoch, so they did different "
            f"work and the comparison is not fair: {epochs}"
        )
    return epochs


def bench_training(
    cbrun: list[str], env: dict[str, str], repeats: int, profile: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-train-") as tmp:
        contenders = training_contenders(cbrun, Path(tmp))
        samples = measure(contenders, repeats, env)
    hand, ours = (Stats.of(samples[c.name]) for c in contenders)
    epochs = check_same_epochs(samples)
    hand_walls, our_walls = (walls(samples, c) for c in contenders)
    wall_ratio = ours.wall_median_s / hand.wall_median_s
    rss_ratio = ours.rss_median_mb / hand.rss_median_mb
    paired = statistics.median(
        o / h for o, h in zip(our_walls, hand_walls, strict=True)
    )
    section(f"2. Training overhead ({repeats} runs each, alternating)")
    for contender, stats, ratio, goal in (
        (contenders[0], hand, 1.0, "(reference)"),
        (contenders[1], ours, wall_ratio, "see the ratios below"),
    ):
        stopped = sorted({e for e in epochs[contender.name] if e is not None})
        result = "ERROR" if stats.failures else f"stopped at epoch {stopped}"
        print(row(contender.name, stats, ratio, goal, result))
    wall_line, wall_result = ratio_row(
        "  wall: median cbrun / median hand", wall_ratio, TRAIN_RATIO_GOAL
    )
    rss_line, rss_result = ratio_row(
        "  peak RSS: median cbrun / median hand", rss_ratio, TRAIN_RATIO_GOAL
    )
    print(wall_line)
    print(rss_line)
    print(ratio_row("  wall: median of run-pair ratios", paired, None)[0])
    print(
        ratio_row(
            "  wall: min cbrun / min hand", ours.wall_min_s / hand.wall_min_s, None
        )[0]
    )
    cpu_ratio = ours.cpu_median_s / hand.cpu_median_s
    print(ratio_row("  CPU user+sys: median cbrun / hand", cpu_ratio, None)[0])
    results: dict[str, Any] = {
        "hand_written": {**asdict(hand), "wall_s": hand_walls},
        "cbrun": {**asdict(ours), "wall_s": our_walls},
        "rss_mb": {
            c.name: [s.rss_bytes / MB for s in samples[c.name]] for c in contenders
        },
        "epochs": epochs,
        "wall_ratio": wall_ratio,
        "rss_ratio": rss_ratio,
        "paired_wall_ratio": paired,
        "cpu_ratio": cpu_ratio,
        "goal_ratio": TRAIN_RATIO_GOAL,
        "wall_result": "ERROR" if hand.failures or ours.failures else wall_result,
        "rss_result": "ERROR" if hand.failures or ours.failures else rss_result,
    }
    if profile and "MISS" in (wall_result, rss_result):
        with tempfile.TemporaryDirectory(prefix="cbrun-bench-prof-") as tmp:
            hand_argv, cbrun_argv = (
                c.command(0) for c in training_contenders(cbrun, Path(tmp))
            )
            results["profile"] = {
                "cbrun_train": importtime_report("cbrun train", cbrun_argv, env),
                "extra_imports": extra_imports(cbrun_argv, hand_argv, env),
                "cprofile": cprofile_diff(cbrun_argv, hand_argv, env, Path(tmp)),
            }
    return results


def walls(samples: dict[str, list[Sample]], contender: Contender) -> list[float]:
    return [s.wall_s for s in samples[contender.name]]


# --- 3. per-epoch bookkeeping, in-process ------------------------------------------

RECORDER = "RunRecorder"


class Probe:
    """Per-epoch timings of one in-process run, filled by wrapped callbacks.

    Each epoch is a dict: ``epoch_s`` (from its start to the next epoch's
    start or the end of fit), ``callbacks`` (class name to seconds in its
    ``on_epoch_end`` and, when it overrides them, its batch hooks), and, inside
    RunRecorder only, ``history_s``, ``run_json_s`` and ``fsync_s``.
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.started = 0.0
        self.in_recorder = False

    def epoch_begins(self) -> None:
        self.close_epoch()
        self.started = time.perf_counter()
        self.current = {
            "epoch_s": 0.0,
            "callbacks": {},
            "history_s": 0.0,
            "run_json_s": 0.0,
            "fsync_s": 0.0,
        }
        self.epochs.append(self.current)

    def close_epoch(self) -> None:
        if self.current is not None:
            self.current["epoch_s"] = time.perf_counter() - self.started
        self.current = None

    def add_callback(self, name: str, seconds: float) -> None:
        if self.current is not None:
            spent = self.current["callbacks"]
            spent[name] = spent.get(name, 0.0) + seconds

    def adder(self, key: str) -> Callable[[float], None]:
        """Add to ``key`` of this epoch, for calls made inside RunRecorder."""

        def add(seconds: float) -> None:
            if self.current is not None and self.in_recorder:
                self.current[key] += seconds

        return add


def timed(function: Callable[..., Any], add: Callable[[float], None]) -> Any:
    """Wrap ``function`` so that each call adds its duration through ``add``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            add(time.perf_counter() - start)

    return wrapper


def epoch_timer(keras: Any, probe: Probe) -> Any:
    """A callback, first in the list, that marks epoch starts and the end of fit."""

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            probe.epoch_begins()

        def on_train_end(self, logs: Any = None) -> None:
            probe.close_epoch()

    return EpochTimer()


def wrap_callback(
    callback: Any, probe: Probe, is_default: Callable[[Any], bool], profiler: Any
) -> None:
    """Time ``callback``'s epoch-end and overridden batch hooks, per instance.

    Default (not overridden) batch hooks stay untouched: Keras only dispatches
    batch hooks asynchronously when no callback overrides them.
    """
    name = type(callback).__name__

    def add(seconds: float) -> None:
        probe.add_callback(name, seconds)

    for hook in ("on_train_batch_end", "on_test_batch_end"):
        if not is_default(getattr(callback, hook)):
            setattr(callback, hook, timed(getattr(callback, hook), add))
    on_epoch_end = callback.on_epoch_end

    def timed_epoch_end(epoch: int, logs: Any = None) -> None:
        probe.in_recorder = name == RECORDER
        if profiler and probe.in_recorder:
            profiler.enable()
        start = time.perf_counter()
        try:
            on_epoch_end(epoch, logs)
        finally:
            add(time.perf_counter() - start)
            if profiler and probe.in_recorder:
                profiler.disable()
            probe.in_recorder = False

    callback.on_epoch_end = timed_epoch_end


def recorder_probe(out: Path, epochs: int, profile: bool) -> None:
    """Train in this process with every callback timed; write JSON to ``out``.

    Runs in a child process of the benchmark (``--recorder-probe``), so the
    benchmark itself never imports TensorFlow.
    """
    sys.path.insert(0, str(REPO))
    from cbrun.keras_env import import_keras

    keras = import_keras("tensorflow")
    try:
        from keras.src.utils.python_utils import is_default
    except ImportError:  # a Keras that moved it: the same test

        def is_default(method: Any) -> bool:
            return getattr(method, "_is_default", False)

    from cbrun.config.loading import load_config
    from cbrun.runs import atomic, manifest
    from cbrun.train import train

    probe = Probe()
    profiler = cProfile.Profile() if profile else None
    manifest.write_history = timed(manifest.write_history, probe.adder("history_s"))
    manifest.RunManifest.update = timed(  # type: ignore[method-assign]
        manifest.RunManifest.update, probe.adder("run_json_s")
    )
    atomic.os.fsync = timed(os.fsync, probe.adder("fsync_s"))
    original_fit = keras.Model.fit
    seen: dict[str, Any] = {}

    def fit(self: Any, *args: Any, callbacks: Any = None, **kwargs: Any) -> Any:
        callbacks = list(callbacks or [])
        seen["sync_batch_hooks"] = sorted(
            type(c).__name__
            for c in callbacks
            if not is_default(c.on_train_batch_end)
            or not is_default(c.on_test_batch_end)
        )
        seen["callbacks"] = [type(c).__name__ for c in callbacks]
        for callback in callbacks:
            wrap_callback(callback, probe, is_default, profiler)
        timer = epoch_timer(keras, probe)
        return original_fit(self, *args, callbacks=[timer, *callbacks], **kwargs)

    keras.Model.fit = fit
    overrides = [f"fit.epochs={epochs}", "callbacks.0.patience=100"]
    loaded = load_config(REPO / CONFIG, overrides=overrides)
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-probe-") as runs_dir:
        train(loaded, Path(runs_dir), command=["bench"], echo=lambda _: None)
    report: dict[str, Any] = {
        "epochs": probe.epochs,
        "config_callbacks": [c.type for c in loaded.experiment.callbacks],
        **seen,
    }
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
        report["cprofile"] = text.getvalue().strip()
    out.write_text(json.dumps(report), encoding="utf-8")


def run_probe(env: dict[str, str], profile: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-") as tmp:
        out = Path(tmp) / "probe.json"
        argv = [sys.executable, __file__, "--recorder-probe", str(out)]
        sample = run_child(argv + (["--probe-profile"] if profile else []), env)
        if sample.returncode != 0 or not out.is_file():
            warn(f"the recorder probe exited {sample.returncode}:", sample.stderr)
            return {"epochs": [], "failed": True}
        report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return report


def callback_rows(
    epochs: Sequence[dict[str, Any]], config_callbacks: Sequence[str]
) -> list[tuple[str, float, float]]:
    """Return (label, median ms per epoch, median share of the epoch) rows."""
    names = sorted(
        {n for e in epochs for n in e["callbacks"]}, key=lambda n: n != RECORDER
    )
    rows = []
    for name in names:
        spent = [e["callbacks"].get(name, 0.0) for e in epochs]
        label = name + (" (from the config)" if name in config_callbacks else "")
        rows.append((label, *median_ms_share(spent, epochs)))
    added = [
        sum(s for n, s in e["callbacks"].items() if n not in config_callbacks)
        for e in epochs
    ]
    rows.append(("all callbacks cbrun adds", *median_ms_share(added, epochs)))
    return rows


def median_ms_share(
    spent: Sequence[float], epochs: Sequence[dict[str, Any]]
) -> tuple[float, float]:
    shares = [s / e["epoch_s"] for s, e in zip(spent, epochs, strict=True)]
    return statistics.median(spent) * 1e3, statistics.median(shares)


def collect_probes(
    env: dict[str, str], repeats: int
) -> tuple[list[Any], dict[str, Any]]:
    """Run the probe ``repeats`` times; return all timed epochs and the last report."""
    epochs: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    for run in range(repeats):
        report = run_probe(env)
        if report.get("failed"):
            return [], report
        epochs.extend(e for e in report["epochs"] if e["epoch_s"] > 0)
        progress(f"probe {run + 1}/{repeats} done")
    return epochs, report


def bench_bookkeeping(
    env: dict[str, str], repeats: int, profile: bool
) -> dict[str, Any]:
    epochs, report = collect_probes(env, repeats)
    print(
        f"\n== 3. Per-epoch bookkeeping, in-process ({repeats} runs x "
        f"{PROBE_EPOCHS} epochs of earlystop.yaml, patience 100) =="
    )
    if not epochs:
        print("no epochs recorded: the probe failed (see the warnings)")
        return {"result": "ERROR"}
    recorder = [e["callbacks"].get(RECORDER, 0.0) for e in epochs]
    total_share = sum(recorder) / sum(e["epoch_s"] for e in epochs)
    rows = callback_rows(epochs, report.get("config_callbacks", []))
    median_share = next((r[2] for r in rows if r[0] == RECORDER), math.nan)
    result = "PASS" if median_share < BOOKKEEPING_SHARE_GOAL else "MISS"
    if math.isnan(median_share):
        warn(
            f"no {RECORDER} among the callbacks fit received: {report.get('callbacks')}"
        )
        result = "ERROR"
    epoch_ms = statistics.median(e["epoch_s"] for e in epochs) * 1e3
    print(
        f"{'callback hooks (epoch end, overridden batch hooks)':<52} "
        f"{'ms/epoch':>9} {'share':>7}  {'goal':<10} result"
    )
    for label, ms, share in rows:
        goal, verdict_text = ("< 1%", result) if label == RECORDER else ("", "")
        print(f"{label:<52} {ms:9.2f} {share:7.2%}  {goal:<10} {verdict_text}".rstrip())
    parts = {
        k: statistics.median(e[k] for e in epochs) * 1e3
        for k in ("history_s", "run_json_s", "fsync_s")
    }
    print(
        f"RunRecorder: history.json {parts['history_s']:.2f} ms + run.json "
        f"{parts['run_json_s']:.2f} ms (medians), of which fsync "
        f"{parts['fsync_s']:.2f} ms; min {min(recorder) * 1e3:.2f} ms, max "
        f"{max(recorder) * 1e3:.2f} ms; {total_share:.2%} of all epoch time"
    )
    print(f"epoch time: median {epoch_ms:.1f} ms; share = median of per-epoch ratios")
    if report.get("sync_batch_hooks"):
        print(
            "batch hooks overridden by "
            + ", ".join(report["sync_batch_hooks"])
            + ": Keras calls every callback's batch hooks synchronously"
        )
    results: dict[str, Any] = {
        "epoch_median_ms": epoch_ms,
        "recorder_parts_median_ms": parts,
        "callbacks": [
            {"callback": label, "median_ms": ms, "median_share": share}
            for label, ms, share in rows
        ],
        "recorder_median_share": median_share,
        "recorder_total_share": total_share,
        "goal_share": BOOKKEEPING_SHARE_GOAL,
        "result": result,
        "fit_callbacks": report.get("callbacks"),
        "sync_batch_hooks": report.get("sync_batch_hooks"),
        "epochs": epochs,
    }
    if profile and result == "MISS":
        profiled = run_probe(env, profile=True)
        text = profiled.get("cprofile", "(the profiled probe failed)")
        print("\n   cProfile of RunRecorder.on_epoch_end (all epochs), by own time:")
        print("\n".join("     " + line for line in text.splitlines()))
        results["cprofile"] = text
    return results


# --- main ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark cbrun's start-up, training overhead and bookkeeping."
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_REPEATS} runs, not {FULL_REPEATS}"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="OUT")
    parser.add_argument(
        "--no-profile", action="store_true", help="do not profile missed goals"
    )
    parser.add_argument("--recorder-probe", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--probe-profile", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def environment(cbrun: Sequence[str], repeats: int) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cbrun_command": list(cbrun),
        "repeats": repeats,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_at_start": os.getloadavg(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args.recorder_probe:
        recorder_probe(args.recorder_probe, PROBE_EPOCHS, args.probe_profile)
        return 0
    repeats = QUICK_REPEATS if args.quick else FULL_REPEATS
    profile = not args.no_profile
    cbrun, env = cbrun_command()
    print(f"cbrun benchmark: {' '.join(cbrun)}, {repeats} runs per measurement")
    results = {"environment": environment(cbrun, repeats)}
    results["startup"] = bench_startup(cbrun, env, repeats, profile)
    results["training"] = bench_training(cbrun, env, repeats, profile)
    results["bookkeeping"] = bench_bookkeeping(env, repeats, profile)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults: {args.json}")
    return 1 if has_error(results) else 0


def has_error(results: Any) -> bool:
    """Tell whether any ``*result`` in ``results`` is ERROR (a command failed)."""
    if isinstance(results, dict):
        return any(
            (key.endswith("result") and value == "ERROR") or has_error(value)
            for key, value in results.items()
        )
    return False


if __name__ == "__main__":
    sys.exit(main())
