"""Tiny stand-ins for dataset files, so data tests run offline and fast."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cbrun.config.keras_names import KERAS_DATASET_FACTS

REPO = Path(__file__).resolve().parent.parent

# Where keras.datasets.fashion_mnist reads its IDX files, below $KERAS_HOME.
FASHION_DIR = KERAS_DATASET_FACTS["fashion_mnist"]["cache_subdir"]
FASHION_FILES = tuple(KERAS_DATASET_FACTS["fashion_mnist"]["files"])


def fake_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` random 28x28 uint8 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = (np.arange(n) % 10).astype(np.uint8)
    return x, y


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the gzipped IDX format of (fashion-)MNIST."""
    # Magic: two zero bytes, 0x08 (unsigned byte), then the number of dimensions.
    header = bytes([0, 0, 8, array.ndim])
    dims = b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + dims + array.astype(np.uint8).tobytes())


def write_fashion_mnist(
    keras_home: Path, n_train: int = 6, n_test: int = 4
) -> dict[str, np.ndarray]:
    """Write fake fashion-mnist IDX files where ``keras.datasets`` reads them.

    Returns:
        The arrays written: ``x_train, y_train, x_test, y_test``.
    """
    folder = keras_home / FASHION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = fake_images(n_train, seed=1)
    x_test, y_test = fake_images(n_test, seed=2)
    # The IDX file names say what they hold: train-labels-idx1-ubyte.gz etc.
    arrays = {
        "train-labels": y_train,
        "train-images": x_train,
        "t10k-labels": y_test,
        "t10k-images": x_test,
    }
    assert sorted(name.split("-idx")[0] for name in FASHION_FILES) == sorted(arrays)
    for name in FASHION_FILES:
        _write_idx(folder / name, arrays[name.split("-idx")[0]])
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def write_mnist_npz(path: Path, n_train: int = 20, n_test: int = 10, **extra) -> dict:
    """Write a small file in the ``mnist.npz`` layout (plus ``extra`` arrays).

    Returns:
        Every array written, by name.
    """
    x_train, y_train = fake_images(n_train, seed=3)
    x_test, y_test = fake_images(n_test, seed=4)
    arrays = {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> Path:
    """Write a CSV file with a header row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# Runs in a fresh interpreter: KERAS_HOME must be set before Keras is imported.
_KERAS_SCRIPT = """
import json, sys
from pathlib import Path
from pydantic import TypeAdapter
from cbrun.keras.data import load_data
from cbrun.config.data import DataConfig
from cbrun.errors import BuildError

results = []
for data in json.loads(sys.argv[1]):
    config = TypeAdapter(DataConfig).validate_python(data)
    try:
        ds = load_data(config, seed=0, base_dir=Path("."))
    except BuildError as error:
        results.append({"error": error.message, "path": list(error.path)})
    else:
        results.append({
            "x_train": ds.x_train.tolist(), "y_train": ds.y_train.tolist(),
            "x_test": ds.x_test.tolist(), "y_test": ds.y_test.tolist(),
            "dtypes": [str(a.dtype) for a in (ds.x_train, ds.y_train)],
            "task": ds.task, "num_classes": ds.num_classes,
            "description": ds.description,
        })
print("RESULTS:" + json.dumps(results))
"""


def load_in_subprocess(
    keras_home: Path, configs: list[dict], timeout: float = 120
) -> list[dict]:
    """Run ``load_data`` on each ``data`` config in a Python with ``keras_home``.

    Downloads go to a closed local port, so a missing file fails fast and the
    test never depends on the network.

    Returns:
        Per config, the loaded arrays as lists, or ``{"error", "path"}``.
    """
    dead_proxy = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "KERAS_HOME": str(keras_home),
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": str(REPO),
        "http_proxy": dead_proxy,
        "https_proxy": dead_proxy,
        "HTTP_PROXY": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "no_proxy": "",
        "NO_PROXY": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", _KERAS_SCRIPT, json.dumps(configs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS:")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULTS:"))
