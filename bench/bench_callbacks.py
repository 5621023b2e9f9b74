"""Section 4: what callbacks cost per epoch, and cbrun's own bookkeeping.

A child process (bench/probe_callbacks.py) trains in-process, alternating
four variants run by run: plain Keras ``fit`` with no callbacks and with every
tutorial callback (History, BaseLogger, EarlyStopping, LearningRateScheduler,
ReduceLROnPlateau, ModelCheckpoint every epoch, TensorBoard with histograms,
CSVLogger, TerminateOnNaN, ProgbarLogger, LambdaCallback, RemoteMonitor to a
local HTTP server), and ``cbrun.training.lifecycle.train`` of the same two
configs. Plain ``fit`` gets the same inputs and arguments as ``train`` (the
configs' feed: the NumPy arrays, cbrun's default). Two workloads: the digits
MLP of configs/earlystop.yaml (short epochs: the worst case for a per-epoch
cost) and, in a full run, the CNN of section 1.

cbrun's own work is everything ``train`` adds to a plain ``fit``: its
callbacks (ThrottledBackupAndRestore, CallbackStateKeeper, the StopCheck
batch-begin hooks, RunRecorder with history.json and run.json) and, before
and after ``fit``, the run dir with config.yaml, the first run.json, the
final fsynced records, history.png and model.keras. Goal: under 1% of the
epoch time, judged twice per workload: the callbacks' work during the epochs
over the epochs' time, and all of it (start and end of the run included) over
the epochs' time. Shares are per run (sum over sum), medians over the rounds.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_harness import (
    BENCH,
    ERROR,
    MISS,
    Summary,
    at_most,
    format_table,
    load_average,
    milliseconds,
    percent,
    progress,
    ratio,
    run_child,
    section_header,
    times,
    warn,
)
from bench_workloads import TUTORIAL_NAMES, Sizes, callback_configs

SECTION = "4. callbacks"
OWN_GOAL = 0.01
OWN_CALLBACKS = (
    "ThrottledBackupAndRestore",
    "CallbackStateKeeper",
    "StopCheck",
    "RunRecorder",
)
END_PARTS = {
    "run_dir": "run dir",
    "config_yaml": "config.yaml",
    "run_json_start": "first run.json",
    "final_records": "final run.json + history.json (fsync)",
    "history_png": "history.png (its thread's time, during evaluate and save)",
}
INFO_PARTS = {
    "build": "build: data, model, compile",
    "evaluate": "evaluate on test",
    "model_keras": "model.keras, which a hand-written script saves too",
}
VARIANT_LABELS = {
    "keras_none": "Keras fit, no callbacks",
    "keras_tutorial": "Keras fit, tutorial callbacks",
    "cbrun_none": "cbrun train, no callbacks",
    "cbrun_tutorial": "cbrun train, tutorial callbacks",
}


# --- running the probe -------------------------------------------------------


def run_probe(
    env: dict[str, str],
    configs: dict[str, Path],
    rounds: int,
    profile: bool = False,
) -> dict[str, Any] | None:
    """Run bench/probe_callbacks.py; return its report, or None if it failed."""
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-probe-") as tmp:
        out = Path(tmp, "probe.json")
        argv = [
            sys.executable,
            str(BENCH / "probe_callbacks.py"),
            "--none",
            str(configs["none"]),
            "--tutorial",
            str(configs["tutorial"]),
            "--rounds",
            str(rounds),
            "--out",
            str(out),
        ]
        sample = run_child(argv + (["--profile-own"] if profile else []), env)
        if sample.returncode != 0 or not out.is_file():
            warn(f"the callback probe exited {sample.returncode}:", sample.stderr)
            return None
        report: dict[str, Any] = json.loads(out.read_text())
        report["probe_wall_s"] = sample.wall_s
        report["probe_cpu_s"] = sample.cpu_s
        return report


# --- per-variant epoch times -------------------------------------------------


def runs_of(report: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    return [r for r in report["runs"] if r["variant"] == variant]


def epoch_stats(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Median steady epoch (from the second on), its CPU, and the first epoch."""
    steady = [e for r in runs for e in r["epochs"][1:]]
    first = [r["epochs"][0]["epoch_s"] for r in runs if r["epochs"]]
    return {
        "epoch_s": statistics.median(e["epoch_s"] for e in steady),
        "epoch_cpu_s": statistics.median(e["cpu_s"] for e in steady),
        "first_epoch_s": statistics.median(first),
        "fit_s": statistics.median(r["fit_s"] for r in runs),
        "epochs": len(runs[0]["epochs"]),
    }


def print_epoch_table(stats: dict[str, dict[str, float]]) -> None:
    """Per-variant epoch times and the ratios that answer the questions."""
    base = stats["keras_none"]["epoch_s"]
    rows = [
        [
            VARIANT_LABELS[variant],
            milliseconds(s["epoch_s"]),
            milliseconds(s["epoch_cpu_s"]),
            milliseconds(s["first_epoch_s"]),
            times(ratio(s["epoch_s"], base)),
        ]
        for variant, s in stats.items()
    ]
    header = ["variant", "epoch med", "CPU/epoch", "1st epoch", "vs no callbacks"]
    print(format_table(header, rows))
    tutorial = ratio(stats["keras_tutorial"]["epoch_s"], base)
    own = ratio(stats["cbrun_none"]["epoch_s"], base)
    own_tutorial = ratio(
        stats["cbrun_tutorial"]["epoch_s"], stats["keras_tutorial"]["epoch_s"]
    )
    print(
        f"epoch med: median over the epochs from the second on (the first traces "
        f"the step functions). Tutorial callbacks in plain Keras: "
        f"{times(tutorial)} the epoch without callbacks; cbrun train over Keras "
        f"fit: {times(own)} without, {times(own_tutorial)} with the tutorial "
        "callbacks (both feed fit the same inputs, the config's feed: the "
        "NumPy arrays by default; a few % are noise on a busy machine; the "
        "timed hooks below measure cbrun's own work directly)"
    )


# --- cbrun's own work --------------------------------------------------------


def run_shares(run: dict[str, Any]) -> dict[str, float]:
    """One cbrun run: seconds of each own part, over the run, and the totals."""
    epochs = run["epochs"]
    epoch_total = sum(e["epoch_s"] for e in epochs)
    spent: dict[str, float] = {}
    for name in OWN_CALLBACKS:
        spent[name] = sum(e["hooks"].get(name, 0.0) for e in epochs)
    for key in ("history_json", "run_json", "fsync"):
        spent[f"epoch {key}"] = sum(e["parts"].get(key, 0.0) for e in epochs)
    spent["epoch fsync calls"] = sum(e["parts"].get("fsync_n", 0) for e in epochs)
    spent["outside hooks"] = sum(run["outside"].get(n, 0.0) for n in OWN_CALLBACKS)
    for key in (*END_PARTS, *INFO_PARTS):
        spent[key] = run["parts"].get(key, 0.0)
    in_epochs = sum(spent[name] for name in OWN_CALLBACKS)
    at_ends = spent["outside hooks"] + sum(spent[k] for k in END_PARTS)
    per_epoch_shares = [
        sum(e["hooks"].get(n, 0.0) for n in OWN_CALLBACKS) / e["epoch_s"]
        for e in epochs
    ]
    spent["own_in_epochs"] = in_epochs
    spent["own_total"] = in_epochs + at_ends
    shares = {
        f"share {k}": v / epoch_total for k, v in spent.items() if "calls" not in k
    }
    return {
        **spent,
        **shares,
        "epoch_time": epoch_total,
        "epochs": len(epochs),
        "share_in_epochs": shares["share own_in_epochs"],
        "share_total": shares["share own_total"],
        "median_epoch_share": statistics.median(per_epoch_shares),
        "backup_saves": len(run["backup_saves"]),
        "backup_save_s": statistics.median(run["backup_saves"] or [float("nan")]),
        "stopcheck_calls_per_epoch": statistics.median(
            e["calls"].get("StopCheck", 0) for e in epochs
        ),
    }


def median_shares(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Median over the rounds of every value of :func:`run_shares`."""
    per_run = [run_shares(r) for r in runs]
    return {k: statistics.median(p[k] for p in per_run) for k in per_run[0]}


def own_rows(shares: dict[str, float]) -> list[list[str]]:
    """Rows: part, ms per run, ms per epoch, share of the epochs' time."""
    epochs = shares["epochs"]

    def row(label: str, key: str) -> list[str]:
        return [
            label,
            milliseconds(shares[key]),
            milliseconds(shares[key] / epochs),
            percent(shares[f"share {key}"]),
        ]

    saves = (
        f"ThrottledBackupAndRestore ({shares['backup_saves']:.0f} saves, "
        f"{milliseconds(shares['backup_save_s'])} each)"
    )
    calls = shares["stopcheck_calls_per_epoch"]
    rows = [
        row(saves, "ThrottledBackupAndRestore"),
        row("CallbackStateKeeper", "CallbackStateKeeper"),
        row(f"StopCheck ({calls:.0f} batch-begin calls/epoch)", "StopCheck"),
        row("RunRecorder", "RunRecorder"),
        row("  of which history.json", "epoch history_json"),
        row("  of which run.json", "epoch run_json"),
        row(
            f"  fsync in epochs ({shares['epoch fsync calls']:.0f} calls)",
            "epoch fsync",
        ),
        row("= own callbacks during the epochs", "own_in_epochs"),
        row("own callbacks' train begin/end", "outside hooks"),
    ]
    rows += [row(label, key) for key, label in END_PARTS.items()]
    rows.append(row("= all of cbrun's own work", "own_total"))
    rows += [row(f"({label}: not cbrun's own)", k) for k, label in INFO_PARTS.items()]
    return rows


def print_own(variant: str, shares: dict[str, float]) -> None:
    print(
        f"\ncbrun's own work in '{VARIANT_LABELS[variant]}' ({shares['epochs']:.0f} "
        f"epochs, {milliseconds(shares['epoch_time'])} of epochs; medians over the "
        "rounds):"
    )
    header = ["part", "per run", "per epoch", "of epoch time"]
    print(format_table(header, own_rows(shares)))
    print(
        "each row is its own median over the rounds (rows need not add up); "
        f"median over single epochs of the own callbacks' share: "
        f"{percent(shares['median_epoch_share'])} (backups and records are "
        "throttled, so most epochs pay neither)"
    )


# --- the tutorial's callbacks ------------------------------------------------


def tutorial_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Per tutorial callback: median ms per epoch and share of the epoch."""
    names = sorted(
        {n for r in runs for e in r["epochs"] for n in e["hooks"]} - set(OWN_CALLBACKS),
        key=lambda n: (
            -statistics.median(
                e["hooks"].get(n, 0.0) for r in runs for e in r["epochs"]
            )
        ),
    )
    rows = []
    for name in names:
        spent = [e["hooks"].get(name, 0.0) for r in runs for e in r["epochs"]]
        shares = [
            e["hooks"].get(name, 0.0) / e["epoch_s"] for r in runs for e in r["epochs"]
        ]
        rows.append(
            [
                name,
                milliseconds(statistics.median(spent)),
                percent(statistics.median(shares)),
            ]
        )
    return rows


# --- the section -------------------------------------------------------------


def analyse(workload: str, report: dict[str, Any], summary: Summary) -> dict[str, Any]:
    """Print the tables of one workload; judge; return the JSON."""
    stats = {v: epoch_stats(runs_of(report, v)) for v in VARIANT_LABELS}
    print(f"\n-- {workload} --")
    print_epoch_table(stats)
    own = {
        v: median_shares(runs_of(report, v)) for v in ("cbrun_none", "cbrun_tutorial")
    }
    for variant, shares in own.items():
        print_own(variant, shares)
    print("\ntutorial callbacks in 'Keras fit, tutorial callbacks' (all their hooks):")
    print(
        format_table(
            ["callback", "per epoch", "of epoch"],
            tutorial_rows(runs_of(report, "keras_tutorial")),
        )
    )
    results = {"epoch_stats": stats, "own": own}
    base = stats["keras_none"]["epoch_s"]
    summary.add(
        SECTION,
        f"{workload}: epoch with tutorial callbacks / without (Keras fit)",
        times(ratio(stats["keras_tutorial"]["epoch_s"], base)),
        "(for information)",
        "",
    )
    for variant, shares in own.items():
        who = f"{workload}, {VARIANT_LABELS[variant].split(', ')[1]}"
        # The goal is on the per-epoch bookkeeping; the once-per-run work
        # (run dir, final records, history.png) is judged by section 1's
        # whole-process ratio, and shown here for information.
        result = at_most(shares["share_in_epochs"], OWN_GOAL)
        results[f"{variant}_share_in_epochs_result"] = result
        summary.add(
            SECTION,
            f"{who}: own callbacks during epochs",
            percent(shares["share_in_epochs"]),
            f"< {OWN_GOAL:.0%} of epoch time",
            result,
        )
        summary.add(
            SECTION,
            f"{who}: once-per-run work too, over epoch time",
            percent(shares["share_total"]),
            "(for information)",
            "",
        )
    return results


def run(
    env: dict[str, str], rounds: int, sizes: Sizes, profile: bool, summary: Summary
) -> dict[str, Any]:
    """Probe each workload, print and judge; profile cbrun's own work on a miss."""
    load = load_average()
    workloads = {"digits": rounds}
    if sizes.probe_cnn_epochs:  # long epochs: fewer rounds
        workloads["cnn"] = max(1, rounds // 2)
    reports: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cbrun-bench-cbcfg-") as folder:
        configs = {w: callback_configs(Path(folder), w, sizes) for w in workloads}
        for workload, count in workloads.items():
            progress(f"callbacks: {workload}, {count} rounds of 4 variants")
            reports[workload] = run_probe(env, configs[workload], count)
        results: dict[str, Any] = section_header(
            f"{SECTION}: cost per epoch, in-process (rounds of 4 alternating "
            "variants: "
            + ", ".join(
                f"{w} {n} x {epochs_of(w, sizes)} epochs" for w, n in workloads.items()
            )
            + ")",
            load,
        )
        analyse_all(reports, summary, results)
        missed = [w for w in workloads if MISS in results[w].values()]
        if profile and missed:
            profiled = run_probe(env, configs[missed[0]], 1, profile=True)
            results["profiles"] = (profiled or {}).get("profiles", {})
            print_profiles(missed[0], results["profiles"])
    return results


def epochs_of(workload: str, sizes: Sizes) -> int:
    return sizes.probe_epochs if workload == "digits" else sizes.probe_cnn_epochs


def print_profiles(workload: str, profiles: dict[str, list[str]]) -> None:
    titles = {
        "own_callbacks": "cbrun's own callbacks' hooks (by own time)",
        "history_png": "history.png (draw_history_plot, by own time)",
    }
    for key, lines in profiles.items():
        print(f"\n   cProfile of {titles.get(key, key)}, {workload}, one round:")
        for line in lines:
            print(f"     {line}")


def analyse_all(
    reports: dict[str, Any], summary: Summary, results: dict[str, Any]
) -> None:
    """Analyse every workload's report into ``results``."""
    print("tutorial callbacks: " + ", ".join(TUTORIAL_NAMES))
    for workload, report in reports.items():
        if report is None:
            summary.add(SECTION, f"{workload}: probe", "failed", "", ERROR)
            results[workload] = {"result": ERROR}
            continue
        results[workload] = analyse(workload, report, summary)
        results[workload]["runs"] = report["runs"]
