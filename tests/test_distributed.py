"""Distribution on existing engines, with real processes on 127.0.0.1.

- ``data_parallel``: two JAX processes joined through Keras's distribution
  API train in lockstep; only process 0 writes; the losses equal a
  single-process run with the same global batch.
- ``mirrored``: tf.distribute.MirroredStrategy over two logical CPU devices.
- A process that never joins makes the other stop in bounded time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from tests.conftest import REPO, wait_for_epochs

pytest.importorskip("jax")
pytestmark = [pytest.mark.slow, pytest.mark.keras]

DATA_PARALLEL = """\
name: dp
backend: jax
distribute: {strategy: data_parallel}
data: {source: synthetic, task: classification, samples: 640, shape: [8], classes: 2}
model:
  layers:
    - {type: Dense, units: 16, activation: relu}
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 3, batch_size: 64, verbose: 0, shuffle: false}
callbacks:
  - {type: CSVLogger, filename: log.csv}
"""

# Tolerance between 2 processes and 1: the same global batch, reduced in a
# different order across processes, agrees to float32 rounding.
LOSS_TOLERANCE = 1e-5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **extra,
    }


def cbrun(args: list[str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cbrun", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(**extra),
        cwd=REPO,
    )


def data_parallel_job(
    config: Path, runs_dirs: list[Path], port: int, **extra: str
) -> list[subprocess.Popen]:
    """Start processes 0 and 1 of a two-process data_parallel job."""
    return [
        cbrun(
            [
                "train",
                str(config),
                "--runs-dir",
                str(runs_dirs[i]),
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            **extra,
        )
        for i in range(2)
    ]


def runs_in(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.glob("*/*/run.json"))


@pytest.fixture(scope="module")
def dp_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dp") / "dp.yaml"
    path.write_text(DATA_PARALLEL)
    return path


def test_two_processes_train_in_lockstep_and_only_process_0_writes(tmp_path, dp_config):
    port = free_port()
    runs = [tmp_path / "runs0", tmp_path / "runs1"]
    processes = data_parallel_job(dp_config, runs, port)
    results = [p.communicate(timeout=300) for p in processes]
    codes = [p.returncode for p in processes]
    assert codes == [0, 0], results
    (run_dir,) = runs_in(runs[0])
    assert runs_in(runs[1]) == []  # Process 1 wrote nothing.
    assert not runs[1].exists()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["distribute"]["strategy"] == "data_parallel"
    assert record["distribute"]["processes"] == 2
    for name in ("history.json", "config.yaml", "model.keras", "log.csv"):
        assert (run_dir / name).is_file(), name
    two = json.loads((run_dir / "history.json").read_text())["loss"]

    single = cbrun(["train", str(dp_config), "--runs-dir", str(tmp_path / "one")])
    _, err = single.communicate(timeout=300)
    assert single.returncode == 0, err
    (one_dir,) = runs_in(tmp_path / "one")
    one = json.loads((one_dir / "history.json").read_text())["loss"]
    assert len(one) == len(two) == 3
    assert two == pytest.approx(one, abs=LOSS_TOLERANCE)


def test_a_process_that_never_joins_stops_the_other_in_bounded_time(
    tmp_path, dp_config
):
    port = free_port()
    process = cbrun(
        [
            "train",
            str(dp_config),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--coordinator",
            f"127.0.0.1:{port}",
            "--num-processes",
            "2",
            "--process-id",
            "0",
        ],
        CBRUN_JOIN_TIMEOUT="5",
    )
    _, err = process.communicate(timeout=120)
    # JAX's coordination service ends the process from C++ (SIGABRT); cbrun's
    # line before joining says what it waited for.
    assert process.returncode != 0, err
    assert (
        f"process 0: joining 2 processes at 127.0.0.1:{port}; a process that is "
        "not there within 5 s ends the job (CBRUN_JOIN_TIMEOUT)"
    ) in err
    assert "DEADLINE_EXCEEDED" in err
    assert not list((tmp_path / "runs").glob("*/*/run.json"))


MIRRORED_SCRIPT = """
import sys
import time
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
from cbrun.cli import main

sys.argv = ["cbrun", "train", sys.argv[1], "--runs-dir", sys.argv[2]]
main()
"""


def test_mirrored_over_two_logical_cpus(tmp_path):
    config = tmp_path / "mirrored.yaml"
    config.write_text(
        DATA_PARALLEL.replace("backend: jax", "backend: tensorflow").replace(
            "{strategy: data_parallel}",
            "{strategy: mirrored, devices: ['/cpu:0', '/cpu:1']}",
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(config), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = runs_in(tmp_path / "runs")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["distribute"]["strategy"] == "mirrored"
    assert len(record["distribute"]["devices"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--coordinator", "no-port"],
            "--coordinator must be HOST:PORT (e.g. 10.0.0.1:12345 or node-0:12345), "
            "got 'no-port'",
        ),
        (
            ["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
            "--process-id 2 is outside 0..1 for --num-processes 2",
        ),
        (
            ["--num-processes", "2"],
            "2 processes need --coordinator HOST:PORT (process 0's address)",
        ),
    ],
)
def test_bad_cluster_options_are_usage_errors(dp_config, args, message):
    result = CliRunner().invoke(cli, ["train", str(dp_config), *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_cluster_options_need_a_data_parallel_config(tmp_path):
    config = tmp_path / "plain.yaml"
    config.write_text(
        DATA_PARALLEL.replace("backend: jax\n", "").replace(
            "distribute: {strategy: data_parallel}\n", ""
        )
    )
    result = CliRunner().invoke(
        cli,
        ["train", str(config), "--coordinator", "h:1", "--num-processes", "2"],
    )
    assert result.exit_code == 2
    assert "needs `distribute: {strategy: data_parallel}`" in result.stderr


def test_cluster_from_environment_variables():
    from cbrun.cluster import parse_cluster

    cluster = parse_cluster(
        None,
        None,
        None,
        {
            "CBRUN_COORDINATOR": "node-0:1234",
            "CBRUN_NUM_PROCESSES": "4",
            "CBRUN_PROCESS_ID": "3",
            "CBRUN_JOIN_TIMEOUT": "30",
        },
    )
    assert (cluster.coordinator, cluster.num_processes, cluster.process_id) == (
        "node-0:1234",
        4,
        3,
    )
    assert cluster.join_timeout == 30
    assert not cluster.is_writer


def test_smoke_runs_each_backend_in_its_own_process(tmp_path, dp_config):
    tensorflow_config = tmp_path / "tf.yaml"
    tensorflow_config.write_text(
        DATA_PARALLEL.replace("backend: jax\n", "").replace(
            "distribute: {strategy: data_parallel}\n", ""
        )
    )
    process = cbrun(["train", "--smoke", str(tensorflow_config), str(dp_config)])
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, out + err
    lines = [line for line in out.splitlines() if line.startswith(("ok", "FAILED"))]
    assert [line.split()[:2] for line in lines] == [
        ["ok", str(tensorflow_config)],
        ["ok", str(dp_config)],
    ]
    assert "2 passed, 0 failed" in out


def test_a_process_that_dies_mid_run_fails_the_job_in_bounded_time(tmp_path):
    config = tmp_path / "long.yaml"
    config.write_text(
        DATA_PARALLEL.replace("epochs: 3", "epochs: 500").replace(
            "samples: 640", "samples: 2560"
        )
    )
    port = free_port()
    processes = data_parallel_job(
        config,
        [tmp_path / "runs0", tmp_path / "runs1"],
        port,
        CBRUN_HEARTBEAT_TIMEOUT="10",
    )
    run_dir = wait_for_epochs(tmp_path / "runs0", 2, processes[0])
    processes[1].kill()
    processes[1].wait()
    start = time.monotonic()
    processes[0].communicate(timeout=120)
    assert time.monotonic() - start < 60
    assert processes[0].returncode != 0
    record = json.loads((run_dir / "run.json").read_text())
    # The collective with the dead peer fails; the run says so.
    assert record["status"] == "failed"
    assert record["error"]
