"""Section 2: CLI start-up, whole processes.

``cbrun --help``, ``cbrun schema``, ``cbrun validate`` of one config and of 100
generated variants of configs/earlystop.yaml in one call, ``cbrun runs`` over
500 fake run dirs, and ``cbrun callbacks``, against the references
``python -c pass`` and ``python -c "import yaml, pydantic, click"`` (cbrun's
unavoidable imports). A missed goal is profiled with ``python -X importtime``.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_harness import (
    MISS,
    Contender,
    Goal,
    Stats,
    Summary,
    format_table,
    load_average,
    measure,
    megabytes,
    ratio,
    sample_lists,
    seconds,
    section_header,
    times,
    verdict,
)
from bench_profiling import importtime_report
from bench_workloads import (
    EARLYSTOP,
    FAKE_RUNS,
    VALIDATE_MANY,
    write_fake_runs,
    write_variants,
)

SECTION = "2. start-up"
IMPORT_BASELINE = "python -c 'import yaml,pydantic,click'"


def contenders(cbrun: list[str], variants: Path, runs: Path) -> list[Contender]:
    """The commands, each with its goal (references have none)."""
    return [
        Contender("python -c pass", [sys.executable, "-c", "pass"]),
        Contender(
            IMPORT_BASELINE, [sys.executable, "-c", "import yaml, pydantic, click"]
        ),
        Contender("cbrun --help", [*cbrun, "--help"], Goal(wall_s=0.5)),
        Contender(
            "cbrun validate earlystop.yaml",
            [*cbrun, "validate", str(EARLYSTOP)],
            Goal(wall_s=0.5, rss_mb=120),
        ),
        Contender(
            f"cbrun validate ({VALIDATE_MANY} configs)",
            [*cbrun, "validate", str(variants)],
            Goal(wall_s=1.5),
        ),
        Contender(
            f"cbrun runs ({FAKE_RUNS} run dirs)",
            [*cbrun, "runs", str(runs)],
            Goal(wall_s=1.0),
        ),
        Contender("cbrun schema", [*cbrun, "schema"], Goal(wall_s=0.5)),
        Contender("cbrun callbacks", [*cbrun, "callbacks"], Goal(wall_s=0.5)),
    ]


def run(
    cbrun: list[str],
    env: dict[str, str],
    repeats: int,
    profile: bool,
    summary: Summary,
) -> dict[str, Any]:
    """Measure, print the table, judge the goals, profile the misses."""
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-startup-") as tmp:
        variants, runs = Path(tmp, "variants"), Path(tmp, "runs")
        variants.mkdir()
        runs.mkdir()
        write_variants(variants, VALIDATE_MANY)
        write_fake_runs(runs, FAKE_RUNS)
        group = contenders(cbrun, variants, runs)
        samples = measure(group, repeats, env)
        results: dict[str, Any] = section_header(
            f"{SECTION} ({repeats} runs each, alternating)", load
        )
        results["commands"] = table(group, samples, summary)
        if profile:
            for contender in group:
                entry = results["commands"][contender.name]
                if entry["result"] == MISS:
                    entry["profile"] = importtime_report(
                        contender.name, contender.argv, env
                    )
    return results


def table(
    group: list[Contender], samples: dict[str, Any], summary: Summary
) -> dict[str, Any]:
    """Print one row per command; return the JSON entries."""
    base = Stats.of(samples[IMPORT_BASELINE])
    rows, results = [], {}
    for contender in group:
        stats = Stats.of(samples[contender.name])
        result = verdict(stats, contender.goal)
        wall_ratio = ratio(stats.wall_median_s, base.wall_median_s)
        rows.append(
            [
                contender.name,
                seconds(stats.wall_median_s),
                seconds(stats.wall_min_s),
                seconds(stats.cpu_median_s),
                megabytes(stats.rss_median_mb),
                times(wall_ratio),
                contender.goal.describe(),
                result,
            ]
        )
        if contender.goal.wall_s is not None:
            summary.add(
                SECTION,
                contender.name,
                f"{seconds(stats.wall_median_s)} wall, "
                f"{megabytes(stats.rss_median_mb)}",
                contender.goal.describe(),
                result,
            )
        results[contender.name] = {
            "argv": contender.argv,
            **asdict(stats),
            "ratio_to_import_baseline": wall_ratio,
            "goal": asdict(contender.goal),
            "result": result,
            **sample_lists(samples[contender.name]),
        }
    header = ["command", "wall med", "wall min", "CPU med", "RSS med", "vs imports"]
    print(format_table([*header, "goal", "result"], rows))
    print(f"vs imports: median wall / that of {IMPORT_BASELINE}")
    return results
