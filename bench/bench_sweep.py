"""Sweep overhead: ``cbrun sweep`` against the same study written by hand.

Run: ``python bench/bench_sweep.py [--trials 10] [--rounds 3]``.

Each round runs, as whole processes and alternating which goes first,
``cbrun sweep configs/sweep.yaml --trials N`` and
``python bench/handwritten_sweep.py --trials N`` (Optuna + Keras in one
script: same seeds, space, sampler and pruner; see its docstring). Printed:

- the median wall time of each and their ratio (goal: at most 1.05x);
- per trial, cbrun's bookkeeping: (cbrun's trial seconds - the script's)
  over the script's trial seconds, from cbrun's trials.csv and the script's
  study.json, trial by trial (the same trial numbers train the same
  params), trial 0 left out: cbrun imports TensorFlow in its first trial,
  the script before its loop (goal: under 2 %);
- whether both ran the same study: the trials' states and values must
  match, else the comparison is not fair and a warning says so.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CBRUN = REPO / ".venv" / "bin" / "cbrun"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


def timed(command: list[str]) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=REPO)
    return time.perf_counter() - start


def cbrun_trials(runs_dir: Path) -> list[dict[str, str]]:
    (table,) = runs_dir.glob("*/sweep-*/trials.csv")
    with table.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def main() -> int:
    args = parse_args()
    walls: dict[str, list[float]] = {"cbrun": [], "script": []}
    cbrun_seconds: list[float] = []
    script_seconds: list[float] = []
    fair = True
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="cbrun-bench-sweep-") as tmp:
            runs_dir, out = Path(tmp) / "runs", Path(tmp) / "script"
            cbrun = [
                str(CBRUN),
                "sweep",
                "configs/sweep.yaml",
                "--trials",
                str(args.trials),
                "--runs-dir",
                str(runs_dir),
            ]
            script = [
                sys.executable,
                "bench/handwritten_sweep.py",
                "--trials",
                str(args.trials),
                "--out",
                str(out),
            ]
            order = [("cbrun", cbrun), ("script", script)]
            for name, command in order if round_ % 2 == 0 else order[::-1]:
                walls[name].append(timed(command))
            rows = cbrun_trials(runs_dir)
            study = json.loads((out / "study.json").read_text())
            # Trial 0 holds cbrun's TensorFlow import; the script's is outside.
            cbrun_seconds += [float(row["seconds"]) for row in rows][1:]
            script_seconds += study["trial_seconds"][1:]
            ours = [(r["state"].upper(), _rounded(r["value"])) for r in rows]
            theirs = [(t["state"], _rounded(t["value"])) for t in study["trials"]]
            if ours != theirs:
                fair = False
                print(f"round {round_}: different studies")
                print(f"  cbrun  {ours}\n  script {theirs}")
        print(
            f"round {round_ + 1}: cbrun {walls['cbrun'][-1]:.1f} s, "
            f"script {walls['script'][-1]:.1f} s",
            flush=True,
        )
    cbrun_wall = statistics.median(walls["cbrun"])
    script_wall = statistics.median(walls["script"])
    ratio = cbrun_wall / script_wall
    per_trial = statistics.mean(cbrun_seconds) - statistics.mean(script_seconds)
    share = per_trial / statistics.mean(script_seconds)
    print(
        f"\n{args.trials} trials, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"whole process: cbrun {cbrun_wall:.1f} s, script {script_wall:.1f} s, "
        f"{ratio:.3f}x (goal <= 1.05x: {'ok' if ratio <= 1.05 else 'MISSED'})"
    )
    print(
        f"per trial: cbrun {statistics.mean(cbrun_seconds):.2f} s, script "
        f"{statistics.mean(script_seconds):.2f} s, bookkeeping "
        f"{per_trial * 1000:.0f} ms = {share:.1%} "
        f"(goal < 2 %: {'ok' if share < 0.02 else 'MISSED'})"
    )
    if not fair:
        print("warning: the two ran different studies; the comparison is not fair")
    return 0


def _rounded(value: object) -> float | None:
    if value in (None, ""):
        return None
    return round(float(value), 6)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
