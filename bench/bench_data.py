"""Section 5: data loading and feeding, per source, in-process.

A child process (bench/probe_data.py) times, for the sklearn (digits), npz
(an mnist.npz-like file of uint8 28x28 images, scaled by 1/255) and csv
(the regression CSV of section 1) sources: cbrun's loader against loading
the same arrays by hand, and, on cbrun's arrays, ``fit`` on NumPy arrays
(cbrun's default ``feed: numpy``) against cbrun's ``tf.data`` pipeline with
``prefetch`` (the opt-in ``feed: tf.data``). Reported: the loaders alone (7
alternating loads each), and in the training runs the load time, time to
first batch (load + ``fit``'s start-up to the end of the first batch) and the
median epoch (from the second on), wall and CPU.

No timing goal is set for this section: the tables say which loader and
which feed is faster; a difference smaller than the one between the two
NumPy-fed variants (same feed, same arrays) is called noise. The summary
says whether the opt-in ``feed: auto`` picks the faster feed (PASS) or not.
A cbrun loader whose fastest load is more than 1.5x (and 20 ms) slower than
the fastest by hand is marked SLOW and profiled with cProfile.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_harness import (
    BENCH,
    ERROR,
    Summary,
    format_table,
    load_average,
    milliseconds,
    progress,
    ratio,
    run_child,
    section_header,
    times,
    warn,
)
from bench_workloads import Sizes, data_configs

SECTION = "5. data"
VARIANT_LABELS = {
    "cbrun_numpy": "cbrun loader, NumPy arrays to fit",
    "hand_numpy": "by hand, NumPy arrays to fit",
    "cbrun_tfdata": "cbrun loader, tf.data + prefetch",
}
SLOW_LOADER = 1.5
LOAD_REPEATS = 7
SLOW_MARGIN_S = 0.02


def run_probe(
    env: dict[str, str], configs: dict[str, Path], rounds: int, profile: Sequence[str]
) -> dict[str, Any] | None:
    """Run bench/probe_data.py; return its report, or None if it failed."""
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-data-") as tmp:
        out = Path(tmp, "probe.json")
        argv = [sys.executable, str(BENCH / "probe_data.py"), "--rounds", str(rounds)]
        argv += ["--load-repeats", str(LOAD_REPEATS)]
        argv += [f"--config={source}={path}" for source, path in configs.items()]
        argv += [f"--profile-load={source}" for source in profile]
        sample = run_child([*argv, "--out", str(out)], env)
        if sample.returncode != 0 or not out.is_file():
            warn(f"the data probe exited {sample.returncode}:", sample.stderr)
            return None
        report: dict[str, Any] = json.loads(out.read_text())
        return report


def variant_stats(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Medians over the rounds: load, first batch, steady epoch wall and CPU."""
    steady = [e for r in runs for e in r["epochs"][1:]]
    return {
        "load_s": statistics.median(r["load_s"] for r in runs),
        "load_min_s": min(r["load_s"] for r in runs),
        "first_batch_s": statistics.median(r["first_batch_s"] for r in runs),
        "fit_to_first_batch_s": statistics.median(
            r["fit_to_first_batch_s"] for r in runs
        ),
        "epoch_s": statistics.median(e["epoch_s"] for e in steady),
        "epoch_cpu_s": statistics.median(e["cpu_s"] for e in steady),
        "samples": runs[0]["samples"],
    }


def same_arrays(runs: Sequence[dict[str, Any]]) -> bool:
    """Whether every variant of a source saw the same arrays (checksums)."""
    return len({tuple(r["checksum"]) for r in runs}) == 1


def faster_feed(epoch_ratio: float, noise: float) -> str:
    """``tf.data``, ``numpy``, or ``neither`` when within the noise.

    The noise is how far apart the two NumPy-fed variants are (same feed,
    same arrays: any difference between them is the machine's).
    """
    if abs(epoch_ratio - 1) <= noise:
        return f"neither (within noise {noise:.0%})"
    return "tf.data" if epoch_ratio < 1 else "numpy"


def compare(
    stats: dict[str, dict[str, float]], loads: dict[str, list[float]], auto: str
) -> dict[str, Any]:
    """cbrun against by hand; NumPy against tf.data; which feed is faster.

    The loaders are compared on ``loads`` (each alone, alternating): inside
    the training runs a load of large arrays also pays for the memory the
    previous run left behind.
    """
    cbrun, hand, tfdata = (stats[v] for v in VARIANT_LABELS)
    load_cbrun, load_hand = (
        loads.get("cbrun") or [math.nan],
        loads.get("hand") or [math.nan],
    )
    epoch_ratio = ratio(tfdata["epoch_s"], cbrun["epoch_s"])
    first_ratio = ratio(tfdata["first_batch_s"], cbrun["first_batch_s"])
    noise = abs(ratio(cbrun["epoch_s"], hand["epoch_s"]) - 1)
    return {
        "loads_alone_ms": {k: [v * 1e3 for v in vs] for k, vs in loads.items()},
        "load_cbrun_over_hand": ratio(
            statistics.median(load_cbrun), statistics.median(load_hand)
        ),
        "first_batch_cbrun_over_hand": ratio(
            cbrun["first_batch_s"], hand["first_batch_s"]
        ),
        "epoch_cbrun_over_hand": ratio(cbrun["epoch_s"], hand["epoch_s"]),
        "epoch_tfdata_over_numpy": epoch_ratio,
        "first_batch_tfdata_over_numpy": first_ratio,
        "epoch_noise": noise,
        "faster_feed_per_epoch": faster_feed(epoch_ratio, noise),
        "auto_feed": auto,
        # Within the noise either pick is as good.
        "auto_feed_result": "PASS"
        if faster_feed(epoch_ratio, noise) == auto or abs(epoch_ratio - 1) <= noise
        else "MISS",
        "load_min_cbrun_over_hand": ratio(min(load_cbrun), min(load_hand)),
        # Judged on the fastest load of each: the least disturbed by the machine.
        "slow_loader": min(load_cbrun) > SLOW_LOADER * min(load_hand)
        and min(load_cbrun) - min(load_hand) > SLOW_MARGIN_S,
    }


def print_source(source: str, stats: dict[str, Any], same: bool) -> None:
    rows = [
        [
            source,
            label,
            milliseconds(stats[v]["load_s"]),
            milliseconds(stats[v]["load_min_s"]),
            milliseconds(stats[v]["first_batch_s"]),
            milliseconds(stats[v]["epoch_s"]),
            milliseconds(stats[v]["epoch_cpu_s"]),
        ]
        for v, label in VARIANT_LABELS.items()
    ]
    header = ["source", "variant", "load in run", "min", "to 1st batch"]
    print(format_table([*header, "epoch med", "CPU/epoch"], rows))
    if not same:
        warn(f"{source}: the variants did not load the same arrays (checksums differ)")


def print_comparisons(comparisons: dict[str, dict[str, Any]]) -> None:
    rows = [
        [
            source,
            times(c["load_cbrun_over_hand"]),
            times(c["load_min_cbrun_over_hand"]),
            times(c["first_batch_cbrun_over_hand"]),
            times(c["epoch_cbrun_over_hand"]),
            times(c["epoch_tfdata_over_numpy"]),
            times(c["first_batch_tfdata_over_numpy"]),
            c["faster_feed_per_epoch"],
        ]
        for source, c in comparisons.items()
    ]
    header = ["source", "loaders c/h", "min c/h", "1st batch c/h", "epoch c/h"]
    print(
        format_table(
            [*header, "epoch tf.data/np", "1st batch tf.data/np", "faster feed"], rows
        )
    )
    print(
        "c/h: cbrun's loader over by hand; loaders: each loader alone, "
        f"{LOAD_REPEATS} alternating loads (median, min); 1st batch and epoch: "
        "in the training runs, NumPy feed both (their epoch ratio is the noise); "
        "tf.data/np: the tf.data pipeline over NumPy arrays (cbrun's loader both)"
    )


def run(
    env: dict[str, str],
    rounds: int,
    sizes: Sizes,
    profile: bool,
    summary: Summary,
) -> dict[str, Any]:
    """Probe, print the tables, profile slow loaders."""
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-datacfg-") as folder:
        configs = data_configs(Path(folder), sizes)
        progress(f"data: {rounds} rounds of 3 sources x 3 variants")
        report = run_probe(env, configs, rounds, [])
        results: dict[str, Any] = section_header(
            f"{SECTION} loading and feeding, in-process ({rounds} round(s) of 3 "
            f"alternating variants, {sizes.data_epochs} epochs, batch 64, no "
            f"validation; npz {sizes.npz_train} images, csv {sizes.csv_rows} rows)",
            load,
        )
        if report is None:
            summary.add(SECTION, "probe", "failed", "", ERROR)
            return {**results, "result": ERROR}
        comparisons = analyse(report, results)
        for source, c in comparisons.items():
            add_summary(summary, source, c)
        slow = [s for s, c in comparisons.items() if c["slow_loader"]]
        if profile and slow:
            profiled = run_probe(env, configs, 0, slow)
            results["profiles"] = (profiled or {}).get("profiles", {})
            print_profiles(results["profiles"])
    results["runs"] = report["runs"]
    return results


def analyse(report: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """Print a table per source and the comparisons; fill ``results``."""
    comparisons = {}
    for source in dict.fromkeys(r["source"] for r in report["runs"]):
        runs = [r for r in report["runs"] if r["source"] == source]
        stats = {
            v: variant_stats([r for r in runs if r["variant"] == v])
            for v in VARIANT_LABELS
        }
        same = same_arrays(runs)
        print_source(source, stats, same)
        auto = str(runs[0].get("auto_feed", "numpy"))
        comparisons[source] = compare(
            stats, report.get("loads", {}).get(source, {}), auto
        )
        results[source] = {"stats": stats, "same_arrays": same, **comparisons[source]}
        print()
    print_comparisons(comparisons)
    return comparisons


def add_summary(summary: Summary, source: str, c: dict[str, Any]) -> None:
    """Informational rows: loader ratio, and the faster feed."""
    summary.add(
        SECTION,
        f"{source}: loader alone, cbrun / by hand",
        f"{times(c['load_cbrun_over_hand'])} (min "
        f"{times(c['load_min_cbrun_over_hand'])}, 1st batch "
        f"{times(c['first_batch_cbrun_over_hand'])})",
        "(for information)",
        "SLOW" if c["slow_loader"] else "",
    )
    summary.add(
        SECTION,
        f"{source}: faster feed per epoch; opt-in feed: auto picks",
        f"{c['faster_feed_per_epoch']} (tf.data/np "
        f"{times(c['epoch_tfdata_over_numpy'])}); picks {c['auto_feed']}",
        "(keep the faster)",
        c["auto_feed_result"],
    )


def print_profiles(profiles: dict[str, list[str]]) -> None:
    for source, lines in profiles.items():
        print(f"\n   cProfile of cbrun's {source} loader (one load, by own time):")
        for line in lines:
            print(f"     {line}")
