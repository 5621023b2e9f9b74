"""Section 3: ``cbrun train --smoke configs/*.yaml``, as CI runs it.

One process smoke-runs every config in configs/ (two epochs of two batches,
every callback fired). Its per-config seconds (taken after the one TensorFlow
import) are read from its JUnit XML report, which has milliseconds where the
console line has tenths. Goal: at most 3 s per config (median over the runs).
The total wall time, CPU time and peak RSS of the process are shown too, and
what the process spends outside the configs (start-up, the TensorFlow
import, clean-up). configs/remote_monitor.yaml posts to localhost:9000; no
server is started, so RemoteMonitor warns and goes on, as in a CI job
without one.

A missed goal is profiled with cProfile on a smoke run of that config alone.
"""

from __future__ import annotations

import statistics
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_harness import (
    ERROR,
    MISS,
    REPO,
    Contender,
    Sample,
    Stats,
    Summary,
    at_most,
    format_table,
    load_average,
    measure,
    megabytes,
    run_child,
    sample_lists,
    seconds,
    section_header,
    warn,
)
from bench_profiling import cbrun_cumulative, profile_table, with_cprofile

SECTION = "3. smoke"
PER_CONFIG_GOAL_S = 3.0


def configs() -> list[str]:
    """configs/*.yaml, relative to the repository (the children's cwd)."""
    return sorted(str(p.relative_to(REPO)) for p in REPO.glob("configs/*.yaml"))


def per_config_seconds(report: Path) -> dict[str, float]:
    """Config to seconds, from one run's JUnit XML (empty if it is missing)."""
    if not report.is_file():
        return {}
    cases = ET.parse(report).getroot().iter("testcase")
    return {case.get("name", "?"): float(case.get("time", "nan")) for case in cases}


def run(
    cbrun: list[str],
    env: dict[str, str],
    repeats: int,
    profile: bool,
    summary: Summary,
) -> dict[str, Any]:
    """Measure, print the table, judge each config, profile the misses."""
    files = configs()
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-smoke-") as tmp:

        def argv(run: int) -> list[str]:
            report = Path(tmp, f"smoke{run}.xml")
            return [*cbrun, "train", "--smoke", *files, "--junit-xml", str(report)]

        smoke = Contender("cbrun train --smoke", argv(0), argv_for=argv)
        samples = measure([smoke], repeats, env)[smoke.name]
        timings = [
            per_config_seconds(Path(tmp, f"smoke{r}.xml")) for r in range(repeats)
        ]
    results: dict[str, Any] = section_header(
        f"{SECTION} (cbrun train --smoke on {len(files)} configs/*.yaml, "
        f"{repeats} run(s); goal <= {PER_CONFIG_GOAL_S:g} s per config)",
        load,
    )
    results["process"] = {**asdict(Stats.of(samples)), **sample_lists(samples)}
    results["configs"] = config_table(files, timings, samples)
    judge(results, summary)
    if profile:
        for name, entry in results["configs"].items():
            if entry["result"] == MISS:
                entry["profile"] = profile_config(cbrun, env, name)
    return results


def config_table(
    files: list[str], timings: list[dict[str, float]], samples: list[Sample]
) -> dict[str, Any]:
    """Print one row per config and the process totals; return the entries."""
    failed = any(s.returncode for s in samples)
    rows, entries = [], {}
    for name in files:
        values = [t[name] for t in timings if name in t]
        median = statistics.median(values) if values else float("nan")
        result = ERROR if failed or not values else at_most(median, PER_CONFIG_GOAL_S)
        entries[name] = {"seconds": values, "median_s": median, "result": result}
        rows.append(
            [name, seconds(median), seconds(max(values, default=float("nan"))), result]
        )
    print(format_table(["config", "median", "max", "result"], rows))
    stats = Stats.of(samples)
    inside = statistics.median(sum(t.values()) for t in timings) if timings[0] else 0.0
    print(
        f"process: wall median {seconds(stats.wall_median_s)} (min "
        f"{seconds(stats.wall_min_s)}), CPU median {seconds(stats.cpu_median_s)}, "
        f"peak RSS {megabytes(stats.rss_median_mb)}; configs together "
        f"{seconds(inside)}, the rest (start-up, TensorFlow import, clean-up) "
        f"{seconds(stats.wall_median_s - inside)}"
    )
    if failed:
        warn("a smoke run failed:", next(s.stdout for s in samples if s.returncode))
    return entries


def judge(results: dict[str, Any], summary: Summary) -> None:
    """Summary rows: the slowest config, and the process total for information."""
    entries = results["configs"]
    slowest = max(entries, key=lambda n: entries[n]["median_s"], default=None)
    verdicts = [e["result"] for e in entries.values()]
    overall = ERROR if ERROR in verdicts else (MISS if MISS in verdicts else "PASS")
    if slowest is not None:
        summary.add(
            SECTION,
            f"per config (slowest: {Path(slowest).name})",
            seconds(entries[slowest]["median_s"]),
            f"<= {PER_CONFIG_GOAL_S:g} s each",
            overall,
        )
    process = results["process"]
    summary.add(
        SECTION,
        f"whole process, {len(entries)} configs",
        seconds(process["wall_median_s"]),
        "(for information)",
        "",
    )


def profile_config(
    cbrun: list[str], env: dict[str, str], config: str
) -> dict[str, Any]:
    """cProfile one smoke run of ``config`` alone; print cbrun's heaviest calls."""
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-prof-") as tmp:
        out = Path(tmp, "smoke.prof")
        sample = run_child(
            with_cprofile([*cbrun, "train", "--smoke", config], out), env
        )
        if not out.is_file():
            warn(f"cProfile of the smoke run of {config} wrote nothing:", sample.stderr)
            return {}
        import pstats

        table = profile_table(pstats.Stats(str(out)))
    heavy = cbrun_cumulative(table)
    print(
        f"   cProfile of cbrun train --smoke {config} (cumulative, cbrun's functions):"
    )
    for key, value in heavy:
        print(f"     {value * 1e3:9.0f} ms  {key}")
    return {"cbrun_cumulative_ms": {k: v * 1e3 for k, v in heavy}}
