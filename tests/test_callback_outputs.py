"""Callbacks cannot delete or overwrite what cbrun did not give them.

Design section 12: callback outputs never name cbrun's own files or the run
dir, a folder a callback deletes (``BackupAndRestore.backup_dir``, Orbax's
``directory``) is one cbrun creates, and under ``--no-user-code`` outputs stay
inside the run dir. ``cbrun validate`` says so with a position; the build
checks again against the real run dir. The training tests run real Keras on
iris, and one kills a real run and resumes it.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cbrun.config.callback_outputs import OWN_NAMES
from cbrun.config.callbacks import CALLBACK_SCHEMAS
from cbrun.config.loading import load_config
from cbrun.errors import ConfigError, Problem
from tests.conftest import REPO, wait_for_epochs

HEAD = """\
data: {source: sklearn, name: iris}
model:
  layers:
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 2, validation_split: 0.2, verbose: 0}
callbacks:
"""
CALLBACK_LINE = 11  # the line of the first item under HEAD

# Every (callback, path field), read from the schemas: a new one is covered.
PATH_FIELDS = [
    (name, field)
    for name, schema in CALLBACK_SCHEMAS.items()
    for field in schema.path_fields
]


def item(kind: str, field: str, value: str) -> str:
    """One ``callbacks`` item in flow style, the path as a double-quoted string."""
    quoted = json.dumps(value)  # JSON escapes are YAML double-quoted escapes
    return f"  - {{type: {kind}, {field}: {quoted}}}\n"


def problems_of(
    path: Path, *overrides: str, allow_user_code: bool = True
) -> list[Problem]:
    try:
        loaded = load_config(
            path, overrides, display=path.name, allow_user_code=allow_user_code
        )
    except ConfigError as exc:
        return exc.problems
    return loaded.warnings


def errors_at(problems: list[Problem], field: str, saying: str = "") -> list[Problem]:
    """The errors at a callback's ``field`` whose message holds ``saying``.

    (ModelCheckpoint adds its own about the file suffix.)
    """
    return [
        p
        for p in problems
        if p.severity == "error"
        and p.where.endswith(f".{field}")
        and saying in p.message
    ]


@pytest.fixture
def config_with(tmp_path: Path) -> Callable[..., Path]:
    """Write HEAD plus the given callback items as ``tmp_path/c.yaml``."""

    def write(*items: str) -> Path:
        path = tmp_path / "c.yaml"
        path.write_text(HEAD + "".join(items), encoding="utf-8")
        return path

    return write


def test_the_own_names_are_the_layouts():
    from cbrun.runs import layout

    assert OWN_NAMES == layout.OWN_NAMES
    assert OWN_NAMES[0] == layout.RUN_FILE  # table_checks tells a run dir by it
    assert layout.BACKUP_DIR in OWN_NAMES and layout.LOCK_FILE in OWN_NAMES


def test_every_path_field_is_covered():
    assert ("CSVLogger", "filename") in PATH_FIELDS
    assert ("BackupAndRestore", "backup_dir") in PATH_FIELDS
    assert len(PATH_FIELDS) >= 5


@pytest.mark.parametrize(("kind", "field"), PATH_FIELDS)
@pytest.mark.parametrize("own", OWN_NAMES)
@pytest.mark.parametrize("spelling", ["{}", "./{}", "sub/../{}", "{}/inner"])
def test_no_callback_writes_over_cbrun_files(config_with, kind, field, own, spelling):
    value = spelling.format(own)
    problems = problems_of(config_with(item(kind, field, value)))
    (error,) = errors_at(problems, field, "is cbrun's own")
    assert error.line == CALLBACK_LINE
    assert error.where == f"callbacks[0] ({kind}).{field}"
    assert f"is cbrun's own {own!r}" in error.message
    assert repr(value) in error.message  # the value received
    assert "choose another name" in error.message  # the fix


@pytest.mark.parametrize(
    "own", ["Config.YAML", "RUN.json", ".run.json.1f2e.tmp", ".model.1f2e3d4c.keras"]
)
def test_own_names_are_compared_ignoring_case_and_with_temp_files(config_with, own):
    problems = problems_of(config_with(item("CSVLogger", "filename", own)))
    assert errors_at(problems, "filename", "is cbrun's own")


@pytest.mark.parametrize(("kind", "field"), PATH_FIELDS)
@pytest.mark.parametrize("value", [".", "./", "x/..", "a/b/../..", "./."])
def test_no_callback_is_given_the_run_dir(config_with, kind, field, value):
    problems = problems_of(config_with(item(kind, field, value)))
    assert len(errors_at(problems, field, "names the run directory itself")) == 1


@pytest.mark.parametrize(("kind", "field"), PATH_FIELDS)
def test_an_empty_path_is_refused(config_with, kind, field):
    assert errors_at(problems_of(config_with(item(kind, field, ""))), field)


@pytest.mark.parametrize(("kind", "field"), PATH_FIELDS)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("log\0.csv", "NUL character"),
        ("\0", "NUL character"),
        ("logs/a\nb", "control character"),
        ("a\x1b[31m", "control character"),
        ("x" * 256, "longer than 255 bytes"),
        ("\ud800", ""),  # pydantic or cbrun: not encodable
    ],
)
def test_characters_no_file_system_takes(config_with, kind, field, value, reason):
    problems = problems_of(config_with(item(kind, field, value)))
    errors = errors_at(problems, field, reason)
    assert errors and all(e.line == CALLBACK_LINE for e in errors), problems


def test_a_nul_from_set_names_the_set(config_with):
    path = config_with(item("CSVLogger", "filename", "log.csv"))
    problems = problems_of(path, 'callbacks.0.filename="a\\0b"')
    (error,) = errors_at(problems, "filename", "NUL character")
    assert error.where.startswith("--set callbacks.0.filename=")


@pytest.mark.parametrize(("kind", "field"), PATH_FIELDS)
@pytest.mark.parametrize(
    "value", ["../out", "a/../../out", "..", "/tmp/out", "//tmp/out", "/"]
)
def test_confined_outputs_stay_inside_the_run_dir(config_with, kind, field, value):
    path = config_with(item(kind, field, value))
    problems = problems_of(path, allow_user_code=False)
    assert len(errors_at(problems, field, "refused by --no-user-code")) == 1


@pytest.mark.parametrize(("kind", "field"), PATH_FIELDS)
def test_absolute_paths_are_allowed_without_the_flag(config_with, kind, field):
    value = "/tmp/cbrun-test-out/x" + (".keras" if kind == "ModelCheckpoint" else "")
    assert not errors_at(problems_of(config_with(item(kind, field, value))), field)


@pytest.mark.parametrize(("kind", "field"), PATH_FIELDS)
@pytest.mark.parametrize(
    "value",
    ["out", "a/../b", "deep/er/out", "backups", "history.csv", "models/model", "x/run"],
)
def test_plain_paths_inside_pass_even_confined(config_with, kind, field, value):
    value += ".keras" if kind == "ModelCheckpoint" else ""
    path = config_with(item(kind, field, value))
    assert not errors_at(problems_of(path, allow_user_code=False), field)


def test_relative_escape_is_refused_without_the_flag_too(config_with):
    path = config_with(item("CSVLogger", "filename", "../log.csv"))
    assert errors_at(problems_of(path), "filename", "leaves the run directory")


@pytest.mark.parametrize(
    ("other", "field", "value"),
    [
        ("CSVLogger", "filename", "bk/log.csv"),
        ("TensorBoard", "log_dir", "bk"),
        ("TensorBoard", "log_dir", "./bk/tb"),
        ("BackupAndRestore", "backup_dir", "bk/inner"),
    ],
)
def test_nothing_else_lives_in_a_folder_a_callback_deletes(
    config_with, other, field, value
):
    path = config_with(
        item(other, field, value), item("BackupAndRestore", "backup_dir", "bk")
    )
    problems = [p for p in problems_of(path) if p.severity == "error"]
    assert any(
        p.where == f"callbacks[0] ({other}).{field}"
        and "the folder BackupAndRestore (callbacks[1]) deletes" in p.message
        for p in problems
    ), problems


def test_validate_command_in_a_subprocess(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        HEAD
        + "  - {type: CSVLogger, filename: config.yaml}\n"
        + "  - {type: BackupAndRestore, backup_dir: .}\n"
        + '  - {type: TensorBoard, log_dir: "tb\\0"}\n'
        + "  - {type: ModelCheckpoint, filepath: /abs/m.keras}\n"
    )
    cbrun = REPO / ".venv" / "bin" / "cbrun"
    result = subprocess.run(
        [str(cbrun), "validate", "--no-user-code", "c.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "Traceback" not in out
    assert (
        "c.yaml:11:33: callbacks[0] (CSVLogger).filename: 'config.yaml' is "
        "cbrun's own 'config.yaml'" in out
    )
    assert "c.yaml:12:42: callbacks[1] (BackupAndRestore).backup_dir: '.' names" in out
    assert "c.yaml:13:34: callbacks[2] (TensorBoard).log_dir: 'tb\\x00'" in out
    assert (
        "c.yaml:14:39: callbacks[3] (ModelCheckpoint).filepath: '/abs/m.keras' is"
        in out
    )


# --- The build checks again, against the real run dir -------------------------

keras_tests = pytest.mark.keras


def _build(schema_data: dict[str, Any], run_dir: Path, resumed: int | None = None):
    from cbrun.config.callbacks import callback_schema
    from cbrun.keras.callbacks import BuildContext, build_callbacks

    schema = callback_schema(schema_data["type"])
    assert schema is not None
    context = BuildContext(run_dir, 120, 8, resumed_epochs=resumed)
    return build_callbacks([schema.model_validate(schema_data)], context)


def _a_run_dir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    run_dir = tmp_path / "runs" / "x" / "20260101-000000"
    run_dir.mkdir(parents=True)
    files = {name: f"{name} of the run" for name in ("run.json", "config.yaml")}
    for name, text in files.items():
        (run_dir / name).write_text(text)
    return run_dir, files


@keras_tests
@pytest.mark.parametrize(
    "value",
    [
        "{run}",
        "{run}/",
        "{run}/sub/..",
        "{run}/config.yaml",
        "{run}/run.json",
        "{run}/backup",
        "{link}",
        "{link}/history.json",
        "{other}/run.json",
        ".",
        "config.yaml",
        "a\0b",
    ],
)
@pytest.mark.parametrize(("kind", "field"), PATH_FIELDS)
def test_the_build_refuses_what_validate_cannot_see(tmp_path, kind, field, value):
    from cbrun.errors import BuildError

    if kind == "OrbaxCheckpoint":
        pytest.skip("needs the orbax-checkpoint package")
    run_dir, files = _a_run_dir(tmp_path)
    other, _ = _a_run_dir(tmp_path / "other")
    link = tmp_path / "link"
    link.symlink_to(run_dir)
    path = value.format(run=run_dir, link=link, other=other)
    data = {"type": kind, field: path}
    with pytest.raises(BuildError) as caught:
        _build(data, run_dir)
    assert caught.value.path == ("callbacks", 0, field)
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (run_dir / name).read_text() == text


@keras_tests
def test_the_build_refuses_an_existing_backup_dir_and_creates_none(tmp_path):
    from cbrun.errors import BuildError

    run_dir, _ = _a_run_dir(tmp_path)
    existing = tmp_path / "mine"
    existing.mkdir()
    with pytest.raises(BuildError, match="already exists before the run starts"):
        _build({"type": "BackupAndRestore", "backup_dir": str(existing)}, run_dir)
    ((_, callback),) = _build({"type": "BackupAndRestore", "backup_dir": "bk"}, run_dir)
    assert not (run_dir / "bk").exists()  # made when training begins, not before
    assert type(callback).__name__ == "OwnedBackupAndRestore"


@keras_tests
def test_a_resume_accepts_only_its_own_backup_folder(tmp_path):
    from cbrun.errors import BuildError
    from cbrun.keras.backup import OWNER_FILE, claim_folder

    run_dir, _ = _a_run_dir(tmp_path)
    inside = run_dir / "bk"
    inside.mkdir()
    _build({"type": "BackupAndRestore", "backup_dir": "bk"}, run_dir, resumed=1)
    with pytest.raises(BuildError, match="already exists"):
        _build({"type": "BackupAndRestore", "backup_dir": "bk"}, run_dir)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(BuildError, match="cbrun did not create it for this run"):
        _build({"type": "BackupAndRestore", "backup_dir": str(outside)}, run_dir, 1)
    claimed = tmp_path / "claimed"
    claim_folder(claimed, run_dir, resuming=False)
    assert (claimed / OWNER_FILE).is_file()
    _build({"type": "BackupAndRestore", "backup_dir": str(claimed)}, run_dir, 1)
    other_run, _ = _a_run_dir(tmp_path / "other")
    with pytest.raises(BuildError, match="cbrun did not create it for this run"):
        _build({"type": "BackupAndRestore", "backup_dir": str(claimed)}, other_run, 1)


# --- Real training -------------------------------------------------------------


def _train(tmp_path: Path, callbacks: str, **kwargs: Any) -> Any:
    from cbrun.api import train

    config = tmp_path / "c.yaml"
    items = textwrap.indent(textwrap.dedent(callbacks), "  ")
    config.write_text(HEAD + items, encoding="utf-8")
    return train(config, runs_dir=tmp_path / "runs", echo=lambda _: None)


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
@keras_tests
def test_train_refuses_an_existing_absolute_backup_dir(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "sentinel.txt").write_text("keep me")
    before = _tree(precious)
    with pytest.raises(ConfigError) as caught:
        _train(
            tmp_path, f"  - {{type: BackupAndRestore, backup_dir: {str(precious)!r}}}\n"
        )
    (problem,) = caught.value.problems
    assert problem.where == "callbacks[0] (BackupAndRestore).backup_dir"
    assert (problem.line, problem.column) == (CALLBACK_LINE, 42)
    assert "already exists before the run starts" in problem.message
    assert _tree(precious) == before
    (run_json,) = (tmp_path / "runs").glob("*/*/run.json")
    assert json.loads(run_json.read_text())["status"] == "failed"


@pytest.mark.slow
@keras_tests
def test_train_refuses_an_earlier_run_dir_as_backup_dir(tmp_path):
    first = _train(tmp_path, "  - {type: CSVLogger, filename: log.csv}\n")
    earlier = Path(first.run_dir)
    before = _tree(earlier)
    with pytest.raises(ConfigError, match="already exists"):
        _train(tmp_path, f"  - {{type: BackupAndRestore, backup_dir: '{earlier}'}}\n")
    assert _tree(earlier) == before


@pytest.mark.slow
@keras_tests
@pytest.mark.parametrize("value", [".", "./", "x/.."])
def test_train_refuses_the_run_dir_as_backup_dir(tmp_path, value):
    with pytest.raises(ConfigError, match="names the run directory itself"):
        _train(tmp_path, f"  - {{type: BackupAndRestore, backup_dir: '{value}'}}\n")
    assert not (tmp_path / "runs").exists()  # refused before a run dir was made
    assert (tmp_path / "c.yaml").is_file()


@pytest.mark.slow
@keras_tests
@pytest.mark.parametrize("own", ["config.yaml", "run.json", "history.json"])
def test_train_refuses_csv_logger_over_a_run_file(tmp_path, own):
    with pytest.raises(ConfigError) as caught:
        _train(tmp_path, f"  - {{type: CSVLogger, filename: {own}}}\n")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (CALLBACK_LINE, 33)
    assert f"is cbrun's own {own!r}" in problem.message


@pytest.mark.slow
@keras_tests
def test_a_valid_backup_dir_is_created_used_and_removed(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "sentinel.txt").write_text("keep me")
    outside = parent / "backup-of-run"
    result = _train(
        tmp_path,
        f"""\
          - {{type: BackupAndRestore, backup_dir: mine}}
          - {{type: BackupAndRestore, backup_dir: '{outside}'}}
          - {{type: CSVLogger, filename: log.csv}}
        """,
    )
    run_dir = Path(result.run_dir)
    assert result.status == "completed"
    assert not (run_dir / "mine").exists()  # Keras removed what cbrun created
    assert not outside.exists()
    assert (parent / "sentinel.txt").read_text() == "keep me"
    assert (run_dir / "log.csv").is_file()
    assert {"run.json", "config.yaml", "history.json", "model.keras"} <= {
        p.name for p in run_dir.iterdir()
    }


@pytest.mark.slow
@keras_tests
def test_an_absolute_backup_dir_survives_kill_9_and_resume(tmp_path):
    from tests.test_fault_tolerance import SLOW_CONFIG, cbrun, finish, wait_for_backup

    outside = tmp_path / "outside" / "backup"
    config = tmp_path / "slow.yaml"
    config.write_text(
        SLOW_CONFIG
        + f"  - {{type: BackupAndRestore, backup_dir: '{outside}'}}\n"
        + "  - {type: TensorBoard, log_dir: tb}\n"
    )
    runs_dir = tmp_path / "runs"
    process = cbrun("train", str(config), "--runs-dir", str(runs_dir))
    run_dir = wait_for_epochs(runs_dir, 1, process)
    wait_for_backup(run_dir, process)
    process.kill()
    process.wait()
    assert (outside / "latest.weights.h5").is_file()

    # A fresh run may not take the folder of the killed one...
    code, _, err = finish(cbrun("train", str(config), "--runs-dir", str(runs_dir)))
    assert code == 1, err
    assert "already exists before the run starts" in err
    assert "Traceback" not in err
    # ...but the killed run's resume may, and removes it when it ends well.
    code, _, err = finish(cbrun("train", "--resume", str(run_dir)))
    assert code == 0, err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert not outside.exists()
    assert outside.parent.is_dir()
