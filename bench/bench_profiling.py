"""Profiling for missed goals: ``python -X importtime`` and cProfile of children.

Each helper prints a few indented lines under the table it explains and
returns the same numbers for the JSON.
"""

from __future__ import annotations

import json
import os
import pstats
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_harness import REPO, run_child, warn

IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


# --- python -X importtime ----------------------------------------------------


def with_importtime(argv: Sequence[str]) -> list[str]:
    """Insert ``-X importtime`` into a Python command line or a console script."""
    rest = argv[1:] if argv[0] == sys.executable else argv
    return [sys.executable, "-X", "importtime", *rest]


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """Return (self_us, cumulative_us, depth, module) per line of importtime."""
    rows = []
    for line in stderr.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match:
            own, cumulative, indent, module = match.groups()
            rows.append((int(own), int(cumulative), len(indent) // 2, module))
    return rows


def by_package(rows: Sequence[tuple[int, int, int, str]]) -> dict[str, int]:
    """Self import time in microseconds per top-level package."""
    packages: dict[str, int] = {}
    for own, _, _, module in rows:
        root = module.split(".")[0]
        packages[root] = packages.get(root, 0) + own
    return packages


def importtime_report(
    label: str, argv: Sequence[str], env: dict[str, str]
) -> dict[str, Any]:
    """Print and return the imports that dominate ``argv``'s start-up."""
    sample = run_child(with_importtime(argv), env)
    rows = parse_importtime(sample.stderr)
    total_us = sum(own for own, _, _, _ in rows)
    top = sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:8]
    heavy = sorted(by_package(rows).items(), key=lambda kv: -kv[1])[:8]
    print(f"   profile of {label} (python -X importtime, one run):")
    print(f"     all imports: {total_us / 1e6:.3f} s of {sample.wall_s:.3f} s wall")
    print(
        "     top-level imports (cumulative): "
        + ", ".join(f"{m} {c / 1e3:.0f} ms" for _, c, _, m in top)
    )
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


def extra_imports(
    argv: Sequence[str], reference: Sequence[str], env: dict[str, str]
) -> dict[str, Any]:
    """Print and return the packages ``argv`` imports that ``reference`` does not."""
    ours = parse_importtime(run_child(with_importtime(argv), env).stderr)
    theirs = parse_importtime(run_child(with_importtime(reference), env).stderr)
    known = {module.split(".")[0] for _, _, _, module in theirs}
    extra = {k: v for k, v in by_package(ours).items() if k not in known}
    heavy = sorted(extra.items(), key=lambda kv: -kv[1])
    ours_s = sum(r[0] for r in ours) / 1e6
    theirs_s = sum(r[0] for r in theirs) / 1e6
    total_ms = sum(extra.values()) / 1e3
    print(
        f"   imports (python -X importtime, one run each): cbrun {ours_s:.2f} s, "
        f"hand-written {theirs_s:.2f} s; packages only cbrun imports: "
        f"{total_ms:.0f} ms"
    )
    print("     " + ", ".join(f"{name} {us / 1e3:.0f} ms" for name, us in heavy[:12]))
    return {
        "cbrun_imports_s": ours_s,
        "hand_imports_s": theirs_s,
        "extra_total_ms": total_ms,
        "extra_package_self_ms": {k: v / 1e3 for k, v in heavy},
    }


# --- cbrun's config handling -------------------------------------------------

CONFIG_COST = """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
import cbrun.cli
from cbrun.config.loading import load_config
imported = time.perf_counter()
load_config(Path(sys.argv[1]))
first = time.perf_counter()
load_config(Path(sys.argv[1]))
again = time.perf_counter()
print(json.dumps({"import_cli_and_config_s": imported - start,
                  "first_load_s": first - imported, "next_load_s": again - first}))
"""


def config_cost(config: Path, env: dict[str, str]) -> dict[str, Any]:
    """Time importing cbrun's CLI and config modules, and loading ``config``.

    In a child process: the import of ``cbrun.cli`` and
    ``cbrun.config.loading`` (YAML with positions, the pydantic schemas), the
    first ``load_config`` (parse, validate, cross-field checks) and a second
    one (schemas already built).
    """
    sample = run_child([sys.executable, "-c", CONFIG_COST, str(config)], env)
    if sample.returncode != 0:
        warn("timing the config handling failed:", sample.stderr)
        return {}
    cost: dict[str, Any] = json.loads(sample.stdout)
    print(
        f"   config handling (one child, in-process timers): importing cbrun.cli "
        f"and cbrun.config {cost['import_cli_and_config_s'] * 1e3:.0f} ms, "
        f"load_config {cost['first_load_s'] * 1e3:.0f} ms (again: "
        f"{cost['next_load_s'] * 1e3:.0f} ms)"
    )
    return cost


# --- cProfile ----------------------------------------------------------------


def with_cprofile(argv: Sequence[str], out: Path) -> list[str]:
    """Run a Python command line (or a console script) under ``-m cProfile``."""
    rest = argv[1:] if argv[0] == sys.executable else argv
    return [sys.executable, "-m", "cProfile", "-o", str(out), *rest]


def short_path(file: str) -> str:
    """A source path without the site-packages or checkout prefix."""
    if "site-packages/" in file:
        return file.split("site-packages/")[-1]
    return file.removeprefix(str(REPO) + os.sep)


def profile_table(stats: pstats.Stats) -> dict[str, tuple[float, float]]:
    """Function ``file:name`` to (own seconds, cumulative seconds)."""
    table: dict[str, tuple[float, float]] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (file, line, function), (_cc, _nc, own, cumulative, _) in raw.items():
        path = short_path(file)
        # cbrun's own functions with their line: two classes' on_epoch_end differ.
        key = (
            f"{path}:{line}:{function}"
            if path.startswith("cbrun/")
            else (f"{path}:{function}")
        )
        old_own, old_cumulative = table.get(key, (0.0, 0.0))
        table[key] = (old_own + own, max(old_cumulative, cumulative))
    return table


def cbrun_cumulative(
    table: dict[str, tuple[float, float]], limit: int = 20
) -> list[tuple[str, float]]:
    """cbrun's own functions by cumulative time, the largest first."""
    ours = [(k, v[1]) for k, v in table.items() if k.startswith("cbrun/")]
    return sorted(ours, key=lambda kv: -kv[1])[:limit]


def cprofile_cbrun(
    argv: Sequence[str], env: dict[str, str], tmp: Path
) -> dict[str, Any]:
    """Print cbrun's functions by cumulative time in one profiled run of ``argv``.

    The chain from ``cli.main`` down to ``fit`` is the run itself; below it
    are the steps cbrun adds (config loading, run dir, history.png, ...).
    """
    out = tmp / "cbrun.prof"
    sample = run_child(with_cprofile(argv, out), env)
    if not out.is_file():
        warn("cProfile of cbrun wrote nothing:", sample.stderr)
        return {}
    heavy = cbrun_cumulative(profile_table(pstats.Stats(str(out))))
    print(
        f"   cProfile of one cbrun run ({sample.wall_s:.1f} s under the profiler): "
        "cbrun's functions by cumulative time"
    )
    for key, value in heavy:
        print(f"     {value * 1e3:9.0f} ms  {key}")
    return {"cbrun_cumulative_ms": {k: v * 1e3 for k, v in heavy}}


def cprofile_text(stats: pstats.Stats, sort: str, limit: int) -> list[str]:
    """The first ``limit`` rows of a pstats listing, paths shortened."""
    table = profile_table(stats)
    index = 0 if sort == "tottime" else 1
    rows = sorted(table.items(), key=lambda kv: -kv[1][index])[:limit]
    return [
        f"{own * 1e3:9.1f} ms own {cumulative * 1e3:9.1f} ms cum  {key}"
        for key, (own, cumulative) in rows
    ]
