"""Reading a 100k-row mixed-type CSV: cbrun's ``inputs: columns`` against pyarrow.

cbrun reads ``inputs: columns`` tables with pyarrow's CSV reader, so the
baseline is what a script does with the same reader to get NumPy columns
for Keras: ``pyarrow.csv.read_csv`` then ``to_numpy`` of each column (the
string columns become arrays of Python ``str``, as Keras's lookups take
them). Also shown: pyarrow's read alone (no NumPy), and cbrun with its
default seeded 80/20 test split. Goal: cbrun's loader (``test_size: 0``,
the same work as the baseline) within 1.2x of the baseline, median of
alternating runs.

Run: ``.venv/bin/python bench/bench_csv.py [--rows N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL = 1.2


def write_table(path: Path, rows: int) -> None:
    """A seeded mixed table: 4 numeric columns, 2 string columns, a 0/1 target."""
    rng = np.random.default_rng(0)
    cities = np.array(["Berlin", "Lisbon", "Oslo", "Quito", "Lagos", "Osaka"])
    columns = {
        "age": rng.integers(18, 90, rows).astype(str),
        "income": np.char.mod("%.2f", rng.normal(50_000, 15_000, rows)),
        "score": np.char.mod("%.5f", rng.random(rows)),
        "visits": rng.integers(0, 40, rows).astype(str),
        "city": cities[rng.integers(0, len(cities), rows)],
        "plan": np.where(rng.random(rows) < 0.3, "premium", "basic"),
        "target": rng.integers(0, 2, rows).astype(str),
    }
    lines = [",".join(columns)]
    lines += [",".join(row) for row in zip(*columns.values(), strict=True)]
    path.write_text("\n".join(lines) + "\n")


def pyarrow_read(path: Path) -> Any:
    import pyarrow.csv as pacsv

    return pacsv.read_csv(path)


def pyarrow_numpy(path: Path) -> dict[str, np.ndarray]:
    table = pyarrow_read(path)
    return {
        name: column.to_numpy(zero_copy_only=False)
        for name, column in zip(table.column_names, table.columns, strict=True)
    }


def cbrun_loader(path: Path, test_size: float) -> Callable[[], Any]:
    from pydantic import TypeAdapter

    from cbrun.config.data import DataConfig
    from cbrun.keras.data import csv as csv_source

    config = TypeAdapter(DataConfig).validate_python(
        {
            "source": "csv",
            "path": path.name,
            "inputs": "columns",
            "test_size": test_size,
        }
    )
    return lambda: csv_source.load(config, seed=0, base_dir=path.parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mixed.csv"
        write_table(path, args.rows)
        size = path.stat().st_size / 1e6
        variants: dict[str, Callable[[], Any]] = {
            "pyarrow read_csv (no NumPy)": lambda: pyarrow_read(path),
            "pyarrow read_csv + to_numpy (baseline)": lambda: pyarrow_numpy(path),
            "cbrun inputs: columns, test_size: 0": cbrun_loader(path, 0),
            "cbrun inputs: columns, test_size: 0.2": cbrun_loader(path, 0.2),
        }
        for variant in variants.values():
            variant()  # warm up: imports, page cache
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):  # alternating, so drift hits all alike
            for name, variant in variants.items():
                start = time.perf_counter()
                variant()
                seconds[name].append(time.perf_counter() - start)
    print(
        f"{args.rows} rows, 7 columns (2 of strings), {size:.1f} MB; "
        f"median of {args.repeats} alternating runs"
    )
    baseline = statistics.median(seconds["pyarrow read_csv + to_numpy (baseline)"])
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"  {name:<42} {median * 1e3:8.1f} ms  {median / baseline:5.2f}x")
    cbrun = statistics.median(seconds["cbrun inputs: columns, test_size: 0"])
    verdict = "PASS" if cbrun / baseline <= GOAL else "FAIL"
    print(f"goal: cbrun <= {GOAL}x the baseline: {cbrun / baseline:.2f}x {verdict}")


if __name__ == "__main__":
    main()
