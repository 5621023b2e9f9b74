"""Write the tiny example data of the configs (images, text, a table, a series).

Deterministic (a fixed seed, PNGs written byte by byte with zlib), so running
it again gives the same files: ``python scripts/make_example_data.py``; with
``--tables`` it writes the table and the series instead (byte for byte the
committed files, with the NumPy it was made with: ``Generator`` streams may
change between NumPy versions, and the tests compare the bytes).

* ``configs/data/images/<class>/*.png``: 24x24 RGB pictures of three
  patterns a small CNN tells apart: horizontal stripes, vertical stripes and
  a checkerboard, each with its own random colours, phase and noise.
* ``configs/data/text/<class>/*.txt``: short sentences about the weather,
  cooking or sport, from three small vocabularies.

* ``configs/data/tabular.csv`` (configs/tabular.yaml): 400 rows of a
  heart-disease-like table, numbers and strings; the label is a noisy
  threshold of age, sex, cholesterol, chest pain type and thal.
* ``configs/data/series.csv`` (configs/timeseries.yaml): 1,200 steps of two
  sines and noise, and a slow temperature column.

The bench (bench/bench_images.py) and the tests call :func:`write_images`
for folders of any size.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE_CLASSES = ("checks", "hstripes", "vstripes")
TEXT_CLASSES = ("cooking", "sport", "weather")
SIDE = 24


def png_bytes(pixels: list[list[tuple[int, int, int]]]) -> bytes:
    """Encode rows of RGB pixels as a PNG (8-bit truecolour, no filter)."""
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(
        b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in pixels
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def pattern(kind: str, rng: random.Random, side: int = SIDE) -> bytes:
    """One picture of a class: its pattern in two random colours, plus noise."""
    ink = tuple(rng.randrange(128, 256) for _ in range(3))
    paper = tuple(rng.randrange(0, 96) for _ in range(3))
    period = rng.choice((4, 6, 8))
    phase = rng.randrange(period)
    rows = []
    for y in range(side):
        row = []
        for x in range(side):
            if kind == "hstripes":
                on = (y + phase) % period < period // 2
            elif kind == "vstripes":
                on = (x + phase) % period < period // 2
            else:
                on = ((x + phase) // (period // 2) + (y // (period // 2))) % 2 == 0
            base = ink if on else paper
            row.append(
                tuple(max(0, min(255, c + rng.randrange(-24, 25))) for c in base)
            )
        rows.append(row)
    return png_bytes(rows)


def write_images(
    folder: Path, per_class: int, *, seed: int = 0, side: int = SIDE
) -> None:
    """Write ``per_class`` PNGs of each pattern into ``folder/<class>/``."""
    rng = random.Random(seed)
    for kind in IMAGE_CLASSES:
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            path = folder / kind / f"{kind}_{index:05d}.png"
            path.write_bytes(pattern(kind, rng, side))


_WORDS = {
    "weather": (
        "rain sun cloud wind storm snow fog cold warm forecast humid breeze "
        "thunder sky drizzle frost"
    ),
    "cooking": (
        "oven pan salt garlic onion simmer bake recipe butter flour sauce "
        "stir roast pepper dough boil"
    ),
    "sport": (
        "goal match team score coach league player referee stadium win race "
        "ball season cup sprint tackle"
    ),
}
_GLUE = ["the", "a", "and", "with", "today", "then", "very", "some", "after"]


def write_texts(folder: Path, per_class: int, *, seed: int = 0) -> None:
    """Write ``per_class`` short texts of each topic into ``folder/<class>/``."""
    rng = random.Random(seed)
    for topic in TEXT_CLASSES:
        words = _WORDS[topic].split()
        (folder / topic).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            sentence = [
                rng.choice(words) if rng.random() < 0.6 else rng.choice(_GLUE)
                for _ in range(rng.randrange(6, 14))
            ]
            text = " ".join(sentence).capitalize() + ".\n"
            (folder / topic / f"{topic}_{index:03d}.txt").write_text(
                text, encoding="utf-8"
            )


# The table and the series share one generator, the table first.
TABLES_SEED = 14


def table_and_series_text(seed: int = TABLES_SEED) -> tuple[str, str]:
    """The text of ``tabular.csv`` and ``series.csv``, from one seeded generator.

    The files were generated before this function was committed; it was
    reconstructed from them (the draws in order, and a target rule that
    gives every committed label), and the tests check it writes their bytes.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = 400
    age = rng.integers(29, 78, rows)
    sex = rng.integers(0, 2, rows)
    chol = rng.integers(150, 360, rows)
    thal = rng.choice(["normal", "fixed", "reversible"], rows, p=[0.5, 0.15, 0.35])
    cp = rng.choice(["typical", "atypical", "nonanginal", "asymptomatic"], rows)
    score = (
        0.07 * (age - 50)
        + 0.012 * (chol - 240)
        + 0.4 * sex
        + 1.2 * (cp == "asymptomatic")
        + 0.8 * (thal == "fixed")
        + 1.8 * (thal == "reversible")
        - 1.2
    )
    target = (score + rng.normal(0, 0.6, rows) > 0).astype(int)
    table = _csv_text(
        ["age", "sex", "cp", "chol", "thal", "target"],
        zip(age, sex, cp, chol, thal, target, strict=True),
    )
    step = np.arange(1200)
    signal = (
        np.sin(2 * np.pi * step / 50)
        + 0.5 * np.sin(2 * np.pi * step / 13)
        + rng.normal(0, 0.05, len(step))
    )
    temperature = (
        10 + 5 * np.sin(2 * np.pi * step / 200) + rng.normal(0, 0.3, len(step))
    )
    series = _csv_text(
        ["step", "signal", "temperature"],
        (
            (i, f"{value:.5f}", f"{degrees:.3f}")
            for i, value, degrees in zip(step, signal, temperature, strict=True)
        ),
    )
    return table, series


def _csv_text(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    """Rows as ``csv.writer`` writes them (its line ends are CRLF)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_tables(folder: Path, seed: int = TABLES_SEED) -> None:
    """Write ``tabular.csv`` and ``series.csv`` into ``folder``."""
    table, series = table_and_series_text(seed)
    folder.mkdir(parents=True, exist_ok=True)
    # Bytes, so the CRLF line ends are written as they are on every system.
    (folder / "tabular.csv").write_bytes(table.encode("utf-8"))
    (folder / "series.csv").write_bytes(series.encode("utf-8"))


def main(argv: list[str] | None = None) -> None:
    """Write the example folders the configs name (``--tables``: the CSVs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tables",
        action="store_true",
        help="write configs/data/tabular.csv and series.csv instead",
    )
    if parser.parse_args(argv).tables:
        write_tables(REPO / "configs" / "data")
        return
    write_images(REPO / "configs" / "data" / "images", 30, seed=0)
    write_texts(REPO / "configs" / "data" / "text", 30, seed=0)


if __name__ == "__main__":
    main()
