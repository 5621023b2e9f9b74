"""Write the tiny example data of configs/images.yaml and configs/text.yaml.

Deterministic (a fixed seed, PNGs written byte by byte with zlib), so running
it again gives the same files: ``python scripts/make_example_data.py``.

* ``configs/data/images/<class>/*.png``: 24x24 RGB pictures of three
  patterns a small CNN tells apart: horizontal stripes, vertical stripes and
  a checkerboard, each with its own random colours, phase and noise.
* ``configs/data/text/<class>/*.txt``: short sentences about the weather,
  cooking or sport, from three small vocabularies.

The bench (bench/bench_images.py) and the tests call :func:`write_images`
for folders of any size.
"""

from __future__ import annotations

import random
import struct
import zlib
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


def main() -> None:
    """Write the example folders the configs name."""
    write_images(REPO / "configs" / "data" / "images", 30, seed=0)
    write_texts(REPO / "configs" / "data" / "text", 30, seed=0)


if __name__ == "__main__":
    main()
