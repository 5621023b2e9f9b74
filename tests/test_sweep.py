"""``cbrun sweep``: real tiny sweeps on Optuna and Keras (design section 10).

Trials, records and best.yaml; pruning; a failing trial; kill -9 and
--resume; two workers on one study (journal file, SQLite); Ctrl-C; and the
bad input that is refused before any trial (exit 2, or 1 for the config).
"""

from __future__ import annotations

import csv
import fcntl
import json
import signal
import subprocess
import textwrap
import traceback
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner

import cbrun
from cbrun.cli import cli
from cbrun.errors import CbrunError
from cbrun.runs.sweep_layout import (
    BEST_CONFIG,
    HISTORY_PICTURE,
    IMPORTANCE_PICTURE,
    PARALLEL_PICTURE,
    SWEEP_FILE,
    TRIALS_TABLE,
)
from tests.conftest import run_python, wait_for_record
from tests.conftest import start_cbrun as cbrun_process

heavy = [pytest.mark.slow, pytest.mark.keras]

# A tiny iris model: a trial takes about a second once TensorFlow is loaded.
BASE = """\
name: {name}
seed: {seed}
data: {{source: sklearn, name: iris, test_size: 0.2}}
model:
  layers:
    - {{type: Dense, units: 8, activation: relu}}
    - {{type: Dense, units: 3, activation: softmax}}
compile:
  optimizer: {{type: {optimizer}, learning_rate: 0.01}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {{epochs: {epochs}, batch_size: 16, validation_split: 0.2, verbose: 0}}
callbacks:
  - {{type: TerminateOnNaN}}
sweep:
{sweep}
"""

SEARCH = """\
  metric: val_accuracy
  trials: 4
  sampler: random
  space:
    compile.optimizer.learning_rate: {float: [1.0e-3, 1.0e-1], log: true}
    model.layers.0.units: {int: [4, 16], step: 4}
"""


def sweep_config(
    folder: Path,
    sweep: str = SEARCH,
    *,
    name: str = "iris-sweep",
    seed: int = 7,
    epochs: int = 3,
    optimizer: str = "Adam",
) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        BASE.format(
            name=name, seed=seed, epochs=epochs, optimizer=optimizer, sweep=sweep
        ),
        encoding="utf-8",
    )
    return path


def sweep_json(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / SWEEP_FILE).read_text())


def run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def table(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / TRIALS_TABLE, newline="") as handle:
        return list(csv.DictReader(handle))


def trial_dirs(sweep_dir: Path) -> dict[int, Path]:
    return {int(p.name): p for p in (sweep_dir / "trials").iterdir()}


def invoke(*args: object) -> tuple[int, str]:
    """The CLI in-process as ``cbrun.cli.main`` runs it: exit code and output.

    A domain error becomes its exit code and ``cbrun: <message>``; any other
    exception fails the test with its traceback.
    """
    result = CliRunner().invoke(cli, [str(a) for a in args])
    exc = result.exception
    if exc is None or isinstance(exc, SystemExit):
        return result.exit_code, result.output
    if isinstance(exc, CbrunError):
        return int(exc.exit_code), f"{result.output}cbrun: {exc}\n"
    raise AssertionError("".join(traceback.format_exception(exc)))


def finish(process: subprocess.Popen, timeout: float = 150) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return process.returncode, out, err


# --- a real sweep: trials, records, best.yaml ---------------------------------


@pytest.mark.slow
@pytest.mark.keras
def test_a_sweep_records_every_trial_and_best_yaml_retrains_the_best(tmp_path):
    config = sweep_config(tmp_path)
    seen = []
    result = cbrun.sweep(
        config, runs_dir=tmp_path / "runs", on_trial=seen.append, echo=lambda _: None
    )
    sweep_dir = result.sweep_dir
    assert sweep_dir.parent == tmp_path / "runs" / "iris-sweep"
    assert sweep_dir.name.startswith("sweep-")
    assert [o.number for o in seen] == [0, 1, 2, 3]

    dirs = trial_dirs(sweep_dir)
    assert sorted(dirs) == [0, 1, 2, 3]
    for number, run_dir in dirs.items():
        record = run_json(run_dir)
        assert record["status"] == "completed"
        assert record["trial"]["number"] == number
        assert set(record["trial"]["params"]) == {
            "compile.optimizer.learning_rate",
            "model.layers.0.units",
        }
        # The trial's own config.yaml has its params and no sweep section.
        written = yaml.safe_load((run_dir / "config.yaml").read_text())
        params = record["trial"]["params"]
        assert written.get("sweep") is None
        assert written["model"]["layers"][0]["units"] == params["model.layers.0.units"]

    record = sweep_json(sweep_dir)
    assert record["status"] == "completed"
    assert record["counts"] == {"complete": 4}
    assert record["trials_planned"] == 4
    assert (record["metric"], record["direction"]) == ("val_accuracy", "maximize")
    assert record["storage"] == "journal.log"
    rows = table(sweep_dir)
    assert [row["number"] for row in rows] == ["0", "1", "2", "3"]
    assert {row["state"] for row in rows} == {"complete"}
    best = record["best"]
    values = {int(row["number"]): float(row["value"]) for row in rows}
    assert best["value"] == max(values.values())
    assert best["run_dir"] == f"trials/{best['number']}"
    for picture in (HISTORY_PICTURE, PARALLEL_PICTURE, IMPORTANCE_PICTURE):
        assert (sweep_dir / picture).stat().st_size > 1000

    # best.yaml validates and trains to the best trial's value.
    best_yaml = sweep_dir / BEST_CONFIG
    assert cbrun.validate(best_yaml).valid
    assert "sweep" not in yaml.safe_load(best_yaml.read_text())
    again = cbrun.train(best_yaml, runs_dir=tmp_path / "again", echo=lambda _: None)
    assert max(again.history["val_accuracy"]) == pytest.approx(best["value"], abs=1e-6)
    trial_history = json.loads((dirs[best["number"]] / "history.json").read_text())
    assert again.history["val_loss"] == pytest.approx(
        trial_history["val_loss"], abs=1e-6
    )


@pytest.mark.slow
@pytest.mark.keras
def test_relative_data_paths_are_made_absolute_for_the_sweep_dir(tmp_path):
    import numpy as np
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "iris.npz", x_train=x.astype("float32"), y_train=y)
    config = sweep_config(tmp_path, SEARCH.replace("trials: 4", "trials: 1"))
    config.write_text(
        config.read_text().replace(
            "{source: sklearn, name: iris, test_size: 0.2}",
            "{source: npz, path: data/iris.npz, test_size: 0.2}",
        )
    )
    result = cbrun.sweep(config, runs_dir=tmp_path / "runs", echo=lambda _: None)
    assert [o.state for o in result.outcomes] == ["complete"]
    data_file = str(tmp_path / "data" / "iris.npz")
    best = yaml.safe_load((result.sweep_dir / BEST_CONFIG).read_text())
    assert best["data"]["path"] == data_file
    trial = yaml.safe_load((result.outcomes[0].run_dir / "config.yaml").read_text())
    assert trial["data"]["path"] == data_file
    assert cbrun.validate(result.sweep_dir / BEST_CONFIG).valid
    # With user code refused, absolute paths are refused: they stay relative
    # to the config's folder, where the trials are validated and find it.
    confined = cbrun.sweep(
        config, runs_dir=tmp_path / "runs", echo=lambda _: None, allow_user_code=False
    )
    assert [o.state for o in confined.outcomes] == ["complete"]
    best = yaml.safe_load((confined.sweep_dir / BEST_CONFIG).read_text())
    assert best["data"]["path"] == "data/iris.npz"


@pytest.mark.slow
@pytest.mark.keras
def test_train_of_a_sweep_config_trains_the_base_config(tmp_path):
    config = sweep_config(tmp_path)
    result = cbrun.train(config, runs_dir=tmp_path / "runs", echo=lambda _: None)
    assert result.status == "completed"
    # Its config.yaml keeps the section in the file's own words, and validates.
    written = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert written["sweep"]["space"]["model.layers.0.units"]["int"] == [4, 16]
    assert cbrun.validate(result.run_dir / "config.yaml").valid


# --- pruning and failing trials -----------------------------------------------

# Later trials are worse: seeded (sampler seed = config seed = 2), the random
# sampler draws the good rate three times, then the useless 1e-9, which the
# median pruner (n_startup_trials=2, n_warmup_steps=1) stops after epoch 2.
PRUNED = """\
  metric: val_loss
  trials: 5
  sampler: random
  pruner: median
  space:
    compile.optimizer.learning_rate: {choice: [0.05, 1.0e-9]}
"""


@pytest.mark.slow
@pytest.mark.keras
def test_the_median_pruner_stops_a_worse_trial_after_an_epoch(tmp_path):
    config = sweep_config(tmp_path, PRUNED, name="prune", seed=2, epochs=4)
    result = cbrun.sweep(config, runs_dir=tmp_path / "runs", echo=lambda _: None)
    outcomes = {o.number: o for o in result.outcomes}
    pruned = [o for o in outcomes.values() if o.state == "pruned"]
    assert pruned, [(o.number, o.params, o.status) for o in outcomes.values()]
    for outcome in pruned:
        assert outcome.params["compile.optimizer.learning_rate"] == 1e-9
        record = run_json(outcome.run_dir)
        assert record["status"] == "pruned"
        assert record["epochs_run"] == 2
        assert record["stop_reason"].startswith(
            "pruned by the median pruner after epoch 2"
        )
        history = json.loads((outcome.run_dir / "history.json").read_text())
        assert len(history["val_loss"]) == 2  # kept, up to the pruned epoch
        code, output = invoke("train", "--resume", outcome.run_dir)
        assert code == 0  # ended: nothing to resume
        assert "already finished (pruned, 2 epochs)" in output
    counts = sweep_json(result.sweep_dir)["counts"]
    assert counts["pruned"] == len(pruned)
    assert counts["complete"] + counts["pruned"] == 5
    assert {row["status"] for row in table(result.sweep_dir)} >= {"pruned"}


NAN = """\
  metric: val_accuracy
  trials: 3
  sampler: grid
  pruner: none
  space:
    compile.optimizer.learning_rate: {choice: [0.05, 1.0e+12]}
"""


@pytest.mark.slow
@pytest.mark.keras
def test_a_nan_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    config = sweep_config(tmp_path, NAN, name="nan", optimizer="SGD")
    said: list[str] = []
    result = cbrun.sweep(config, runs_dir=tmp_path / "runs", echo=said.append)
    assert result.status == "completed"
    assert "the grid is done" in said  # 2 points, though 3 trials were asked
    by_rate = {o.params["compile.optimizer.learning_rate"]: o for o in result.outcomes}
    assert sorted(by_rate) == [0.05, 1e12]
    failed = by_rate[1e12]
    assert (failed.status, failed.state) == ("terminated_nan", "fail")
    assert run_json(failed.run_dir)["status"] == "terminated_nan"
    assert by_rate[0.05].state == "complete"
    record = sweep_json(result.sweep_dir)
    assert record["counts"] == {"complete": 1, "fail": 1}
    assert record["best"]["params"] == {"compile.optimizer.learning_rate": 0.05}
    rows = {
        row["compile.optimizer.learning_rate"]: row for row in table(result.sweep_dir)
    }
    assert rows["1000000000000.0"]["status"] == "terminated_nan"
    assert rows["1000000000000.0"]["state"] == "fail"

    # A sweep whose every trial failed is a failed command (exit 3).
    only_nan = NAN.replace("0.05, 1.0e+12", "1.0e+12")
    config = sweep_config(tmp_path, only_nan, name="all-nan", optimizer="SGD")
    code, output = invoke("sweep", config, "--runs-dir", tmp_path / "runs")
    assert code == 3, output
    assert "trial 0: terminated_nan in " in output
    assert "no complete trial: no best.yaml" in output


# Each value is valid alone (validate checks them one by one); one pair is not.
PAIRS = """\
  metric: loss
  trials: 4
  sampler: grid
  pruner: none
  space:
    fit.validation_split: {choice: [0.2, 0.0]}
    callbacks.EarlyStopping.monitor: {choice: [loss, val_loss]}
"""


@pytest.mark.slow
@pytest.mark.keras
def test_an_invalid_pair_of_values_fails_its_trial_and_the_sweep_goes_on(tmp_path):
    config = sweep_config(tmp_path, PAIRS, name="pairs", epochs=2)
    text = config.read_text().replace(
        "  - {type: TerminateOnNaN}", "  - {type: EarlyStopping, monitor: loss}"
    )
    config.write_text(text)
    assert cbrun.validate(config).valid
    result = cbrun.sweep(config, runs_dir=tmp_path / "runs", echo=lambda _: None)
    (invalid,) = [o for o in result.outcomes if o.state == "fail"]
    assert invalid.params == {
        "fit.validation_split": 0.0,
        "callbacks.EarlyStopping.monitor": "val_loss",
    }
    assert invalid.status == "invalid"
    assert invalid.run_dir is None
    assert "'val_loss' is logged only with validation data" in invalid.message
    assert sorted(trial_dirs(result.sweep_dir)) == sorted(
        o.number for o in result.outcomes if o is not invalid
    )
    assert sweep_json(result.sweep_dir)["counts"] == {"complete": 3, "fail": 1}
    row = table(result.sweep_dir)[invalid.number]
    assert (row["state"], row["status"], row["run_dir"]) == ("fail", "invalid", "")


@pytest.mark.slow
@pytest.mark.keras
def test_no_trial_starts_after_the_timeout(tmp_path):
    config = sweep_config(tmp_path, name="timed")
    said: list[str] = []
    result = cbrun.sweep(
        config, runs_dir=tmp_path / "runs", timeout=0.01, echo=said.append
    )
    assert [o.number for o in result.outcomes] == [0]
    assert "timeout: 0.01 s passed; no new trial" in said
    record = sweep_json(result.sweep_dir)
    assert (record["status"], record["counts"]) == ("completed", {"complete": 1})


# --- kill -9, --resume, signals -------------------------------------------------

SLOW = """\
  metric: val_accuracy
  trials: 3
  sampler: random
  space:
    model.layers.0.units: {int: [4, 16], step: 4}
"""


@pytest.mark.slow
@pytest.mark.keras
def test_kill_9_then_resume_fails_the_killed_trial_and_runs_no_number_twice(
    tmp_path,
):
    config = sweep_config(tmp_path, SLOW, name="killed", epochs=60)
    runs = tmp_path / "runs"
    process = cbrun_process("sweep", str(config), "--runs-dir", str(runs))
    run_dir, _ = wait_for_record(
        runs,
        "killed/sweep-*/trials/*/run.json",
        process,
        lambda r: r["epochs_run"] >= 1 and r["status"] == "running",
        "no trial reached its first epoch",
    )
    process.kill()
    process.communicate(timeout=30)
    killed = int(run_dir.name)
    sweep_dir = run_dir.parent.parent
    assert sweep_json(sweep_dir)["status"] == "running"  # what a kill leaves

    result = cbrun.sweep(resume_dir=sweep_dir, echo=lambda _: None)
    assert result.status == "completed"
    record = sweep_json(sweep_dir)
    assert record["status"] == "completed"
    assert record["counts"] == {"complete": 2, "fail": 1}
    dirs = trial_dirs(sweep_dir)
    assert sorted(dirs) == [0, 1, 2]  # no number run twice, none lost
    for number, folder in dirs.items():
        assert run_json(folder)["trial"]["number"] == number
    dead = run_json(dirs[killed])
    assert dead["status"] == "failed"
    assert "the sweep process" in dead["error"]
    assert "was killed at epoch" in dead["error"]
    rows = {int(row["number"]): row for row in table(sweep_dir)}
    assert (rows[killed]["state"], rows[killed]["status"]) == ("fail", "failed")
    assert [o.number for o in result.outcomes] == [n for n in (0, 1, 2) if n > killed]


@pytest.mark.slow
@pytest.mark.keras
@pytest.mark.parametrize(("name", "exit_code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_the_sweep_with_its_code_and_truthful_statuses(
    tmp_path, name, exit_code
):
    config = sweep_config(tmp_path, SLOW, name="stopped", epochs=60)
    runs = tmp_path / "runs"
    process = cbrun_process("sweep", str(config), "--runs-dir", str(runs))
    run_dir, _ = wait_for_record(
        runs,
        "stopped/sweep-*/trials/*/run.json",
        process,
        lambda r: r["epochs_run"] >= 1 and r["status"] == "running",
        "no trial reached its first epoch",
    )
    process.send_signal(getattr(signal, name))
    code, _, err = finish(process)
    assert code == exit_code, err
    assert f"continue it with: cbrun sweep --resume {run_dir.parent.parent}" in err
    assert run_json(run_dir)["status"] == "interrupted"
    sweep_dir = run_dir.parent.parent
    record = sweep_json(sweep_dir)
    assert record["status"] == "interrupted"
    assert record["error"] == f"interrupted by {name}"
    assert record["counts"].get("fail") == 1
    assert "running" not in record["counts"]
    row = table(sweep_dir)[-1]
    assert (row["state"], row["status"]) == ("fail", "interrupted")


# --- workers sharing one study ------------------------------------------------


@pytest.mark.slow
@pytest.mark.keras
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_workers_share_one_study_without_duplicates(tmp_path, kind):
    config = sweep_config(tmp_path, SLOW, name="shared", epochs=15)
    storage = (
        str(tmp_path / "study.log")
        if kind == "journal"
        else f"sqlite:///{tmp_path / 'study.db'}"
    )
    args = ["sweep", str(config), "--storage", storage, "--study", "s", "--trials"]
    workers = [
        cbrun_process(*args, "4", "--runs-dir", str(tmp_path / f"w{n}"))
        for n in range(2)
    ]
    for worker in workers:
        code, _, err = finish(worker)
        assert code == 0, err
    numbers: list[int] = []
    for n in range(2):
        (sweep_dir,) = (tmp_path / f"w{n}" / "shared").iterdir()
        numbers += trial_dirs(sweep_dir)
        for number, folder in trial_dirs(sweep_dir).items():
            assert run_json(folder)["trial"]["number"] == number
    # Each worker ran trials; together every number once. Two workers that
    # ask at the very same moment may start one trial past the total.
    assert all(any((tmp_path / f"w{n}").rglob("run.json")) for n in range(2))
    assert sorted(numbers) == list(range(len(numbers)))
    assert 4 <= len(numbers) <= 5
    study = optuna.load_study(study_name="s", storage=_storage(storage))
    assert len(study.trials) == len(numbers)


def _storage(url: str):
    if "://" in url:
        return url
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(url))


# --- smoke ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.keras
def test_smoke_runs_two_smoke_trials_in_a_temporary_folder(tmp_path):
    config = sweep_config(tmp_path, epochs=50)
    result = CliRunner().invoke(cli, ["sweep", "--smoke", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["trial 0", "trial 1"]
    assert "study iris-sweep: 2 complete" in result.stdout
    assert "(temporary, removed; give --runs-dir to keep it)" in result.stdout


# --- bad input, refused before any trial -----------------------------------------


def test_a_config_without_a_sweep_section_is_refused(tmp_path):
    plain = sweep_config(tmp_path, "").with_name("plain.yaml")
    text = (tmp_path / "iris-sweep.yaml").read_text().replace("sweep:\n", "")
    plain.write_text(text)
    code, output = invoke("sweep", plain, "--runs-dir", tmp_path / "runs")
    assert code == 1
    assert f"{plain}:1:1: no sweep section: add a sweep: section; see " in output
    assert not (tmp_path / "runs").exists()


def test_resume_of_a_folder_that_is_no_sweep_is_a_usage_error(tmp_path):
    code, output = invoke("sweep", "--resume", tmp_path)
    assert code == 2
    assert f"--resume {tmp_path}: not a sweep dir (it has no sweep.json)" in output
    (tmp_path / SWEEP_FILE).write_text('{"kind": "sweep", "status": 3}')
    code, output = invoke("sweep", "--resume", tmp_path)
    assert code == 2
    assert "sweep.json is corrupt" in output


def test_a_second_resume_at_once_is_refused(tmp_path):
    (tmp_path / SWEEP_FILE).write_text(
        json.dumps(
            {
                "name": "x",
                "status": "running",
                "study": "x",
                "storage": "journal.log",
                "config_file": "/nowhere/x.yaml",
                "config_hash": "0",
                "metric": "val_loss",
                "direction": "minimize",
                "trials_planned": 2,
                "started_at": "2026-11-30T17:00:00+00:00",
            }
        )
    )
    with open(tmp_path / ".lock", "w") as held:  # as another process holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        code, output = invoke("sweep", "--resume", tmp_path)
    assert code == 2
    assert "is in use by another cbrun process" in output


def test_a_storage_that_cannot_be_opened_is_named(tmp_path):
    config = sweep_config(tmp_path)
    url = f"sqlite:///{tmp_path}/missing/folder/s.db"
    code, output = invoke("sweep", config, "--storage", url, "--runs-dir", tmp_path)
    assert code == 2
    assert f"cannot open the sweep storage {url}: " in output
    assert not (tmp_path / "iris-sweep").exists()  # refused before a sweep dir
    path = tmp_path / "no" / "such" / "journal.log"
    code, output = invoke("sweep", config, "--storage", path, "--runs-dir", tmp_path)
    assert code == 2
    assert f"cannot open the sweep storage {path}: " in output


def test_another_config_on_the_same_study_is_refused(tmp_path):
    journal = tmp_path / "study.log"
    study = optuna.create_study(study_name="s", storage=_storage(str(journal)))
    study.set_user_attr("cbrun_config_hash", "a" * 64)
    config = sweep_config(tmp_path)
    runs = tmp_path / "runs"
    code, output = invoke(
        "sweep", config, "--storage", journal, "--study", "s", "--runs-dir", runs
    )
    assert code == 2
    assert f"study 's' in {journal} was made from another config (hash " in output
    assert "hash aaaaaaaaaaaa, this one " in output
    assert not runs.exists()


def test_without_optuna_sweep_says_what_to_install(tmp_path):
    config = sweep_config(tmp_path)
    code = textwrap.dedent(
        f"""\
        import sys
        sys.modules["optuna"] = None  # as if it were not installed
        sys.argv = ["cbrun", "sweep", {str(config)!r}]
        from cbrun.cli import main
        main()
        """
    )
    result = run_python(code)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "cbrun: cbrun sweep needs Optuna: pip install 'cbrun[sweep]'"
    )


def test_sweep_needs_a_config_or_resume_not_both(tmp_path):
    code, output = invoke("sweep")
    assert code == 2
    assert "give a CONFIG, or --resume SWEEP_DIR (not both)" in output
    code, output = invoke("sweep", "x.yaml", "--resume", tmp_path)
    assert code == 2


@pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("cmaes") is not None,
    reason="cmaes is installed",
)
def test_the_cmaes_sampler_without_its_package_says_what_to_install(tmp_path):
    config = sweep_config(tmp_path, SEARCH.replace("random", "cmaes"))
    code, output = invoke("sweep", config, "--runs-dir", tmp_path / "runs")
    assert code == 2
    assert "sampler cmaes needs the cmaes package: pip install cmaes" in output
    assert not (tmp_path / "runs").exists()
