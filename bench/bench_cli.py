"""Benchmark cbrun as users run it; print tables, write every sample as JSON.

Run from any folder with the Python that has cbrun's dependencies (``make
bench`` runs the first form)::

    python bench/bench_cli.py                          # everything, 10-20 min
    python bench/bench_cli.py --quick                  # fewer runs, smaller data
    python bench/bench_cli.py --only startup,smoke     # some sections
    python bench/bench_cli.py --json OUT               # default bench/results.json

Sections (``--only`` names), each described in its module:

1. ``training`` (bench_training.py): ``cbrun train`` against the same run
   written by hand in Keras (bench/handwritten.py), whole processes, on the
   digits MLP of configs/earlystop.yaml, a small CNN on synthetic 28x28
   images and an MLP regression on a CSV, both fed alike (NumPy arrays,
   cbrun's default; ``--training-feed tf.data`` for the opt-in pipeline).
   Goals: wall <= 1.03x, peak RSS <= 1.05x.
2. ``startup`` (bench_startup.py): ``cbrun --help`` 0.5 s, ``validate`` of one
   config 0.5 s and of 100 configs 1.5 s, ``runs`` over 500 run dirs 1.0 s,
   ``schema`` 0.5 s (and ``callbacks`` 0.5 s).
3. ``smoke`` (bench_smoke.py): ``cbrun train --smoke configs/*.yaml``, at
   most 3 s per config after the TensorFlow import.
4. ``callbacks`` (bench_callbacks.py): per-epoch time without callbacks and
   with all of the tutorial's; cbrun's own work under 1% of epoch time.
5. ``data`` (bench_data.py): time to first batch and epoch time of the
   sklearn, npz and csv sources against loading by hand, and NumPy arrays
   against tf.data with prefetch (judged: the opt-in ``feed: auto`` picks
   the faster).

Contenders alternate run by run after an untimed warm-up; tables show
medians (and minimums), ratios of medians and CPU-time ratios, and every
section header the load average (the machine may be busy). Timing never
fails the script: a missed goal prints MISS and, unless ``--no-profile``,
what dominates. It exits 1 only when a benchmarked command fails (ERROR).
The JSON is rewritten after every section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import bench_callbacks
import bench_data
import bench_smoke
import bench_startup
import bench_training
from bench_harness import (
    BENCH,
    ERROR,
    Summary,
    cbrun_command,
    compile_cbrun,
    load_average,
)
from bench_workloads import FULL, QUICK, Sizes

DEFAULT_JSON = BENCH / "results.json"
SECTIONS = ("training", "startup", "smoke", "callbacks", "data")
# Runs (or rounds) per section: a full run, and --quick.
FULL_REPEATS = {"training": 5, "startup": 7, "smoke": 3, "callbacks": 4, "data": 3}
QUICK_REPEATS = {"training": 2, "startup": 3, "smoke": 1, "callbacks": 2, "data": 1}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark cbrun: training overhead, start-up, smoke runs, "
        "callback cost and data loading."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer runs per measurement and smaller workloads (a few minutes)",
    )
    parser.add_argument(
        "--only",
        type=sections_list,
        default=list(SECTIONS),
        metavar="LIST",
        help="comma-separated sections to run: " + ",".join(SECTIONS),
    )
    parser.add_argument(
        "--repeats", type=int, metavar="N", help="runs (or rounds) per measurement"
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, metavar="OUT", help="results file"
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="do not profile missed goals"
    )
    parser.add_argument(
        "--training-feed",
        choices=["numpy", "tf.data"],
        default="numpy",
        help="section 1: how cbrun (data.feed) and the hand-written script "
        "(--feed) both feed fit: numpy, cbrun's default, or the opt-in tf.data",
    )
    return parser.parse_args(argv)


def sections_list(text: str) -> list[str]:
    """Parse ``--only``: known section names, in the benchmark's order."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown) or '(none)'}; choose from "
            + ",".join(SECTIONS)
        )
    return [name for name in SECTIONS if name in names]


def version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def environment(
    cbrun: Sequence[str], repeats: dict[str, int], sizes: Sizes, training_feed: str
) -> dict[str, Any]:
    """What the numbers depend on: machine, versions, load, settings."""
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": {
            d: version(d) for d in ("cbrun", "keras", "tensorflow-cpu", "tensorflow")
        },
        "cbrun_command": list(cbrun),
        "repeats": repeats,
        "sizes": asdict(sizes),
        "training_feed": training_feed,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_at_start": load_average(),
    }


def run_section(
    name: str,
    cbrun: list[str],
    env: dict[str, str],
    repeats: int,
    sizes: Sizes,
    profile: bool,
    summary: Summary,
    training_feed: str = "numpy",
) -> dict[str, Any]:
    """Run one section by name."""
    if name == "training":
        return bench_training.run(
            cbrun, env, repeats, sizes, profile, summary, training_feed
        )
    if name == "startup":
        return bench_startup.run(cbrun, env, repeats, profile, summary)
    if name == "smoke":
        return bench_smoke.run(cbrun, env, repeats, profile, summary)
    if name == "callbacks":
        return bench_callbacks.run(env, repeats, sizes, profile, summary)
    return bench_data.run(env, repeats, sizes, profile, summary)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sizes = QUICK if args.quick else FULL
    repeats = dict(QUICK_REPEATS if args.quick else FULL_REPEATS)
    if args.repeats:
        repeats = dict.fromkeys(repeats, args.repeats)
    cbrun, env = cbrun_command()
    compile_cbrun()
    print(
        f"cbrun benchmark ({'quick' if args.quick else 'full'}): {' '.join(cbrun)}; "
        f"sections {','.join(args.only)}; runs "
        + ", ".join(f"{s} {repeats[s]}" for s in args.only)
    )
    summary = Summary()
    started = time.perf_counter()
    results: dict[str, Any] = {
        "environment": environment(cbrun, repeats, sizes, args.training_feed)
    }
    for name in args.only:
        results[name] = run_section(
            name,
            cbrun,
            env,
            repeats[name],
            sizes,
            not args.no_profile,
            summary,
            args.training_feed,
        )
        write_json(args.json, results, summary, started)
    summary.print()
    print(
        f"load average at the end: {load_average()}; "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    print(f"results: {args.json}")
    return 1 if any(row["result"] == ERROR for row in summary.rows) else 0


def write_json(
    path: Path, results: dict[str, Any], summary: Summary, started: float
) -> None:
    """Write everything so far (after each section, so a crash keeps it)."""
    results["summary"] = summary.rows
    results["environment"]["load_average_now"] = load_average()
    results["environment"]["elapsed_s"] = time.perf_counter() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
