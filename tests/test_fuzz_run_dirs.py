"""Bounded fuzzing of the readers of run dirs: explain, never crash.

One real run dir is trained once per module (iris, two epochs); every input
is a copy of it (as trained, or as a killed run, with or without a backup)
with run.json, history.json, config.yaml or the backup's JSON mutated: bytes
flipped, inserted or cut, a value swapped for a hostile one (a huge integer,
deep nesting, a list for a string, NaN, escape sequences, a long string), a
key renamed, or config.yaml replaced by an alias bomb, deep nesting or a tag.
Then ``runs``, ``show``, ``plot`` and ``compare`` (the CLI, in-process) and
the read side of ``train --resume`` (``prepare_resume``, what
``cbrun.api.resume`` runs before it imports TensorFlow or trains) must:

- exit with a code of design section 4 that the command may give
  (tests/test_hostile_run_dirs.py ``EXITS``), with no traceback and no
  "unexpected" error;
- never print a control character raw;
- keep listing the pristine run beside the mutated one.

The whole file runs in well under a minute; raise ``max_examples`` locally to
search longer.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cbrun
from cbrun.errors import CbrunError
from cbrun.runs.layout import (
    BACKUP_DIR,
    BACKUP_METADATA_FILE,
    BACKUP_WEIGHTS_FILE,
    CALLBACK_STATE_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    RUN_FILE,
)
from cbrun.training.resume import prepare_resume
from tests.conftest import MINIMAL
from tests.test_hostile_run_dirs import (
    ALIAS_BOMB,
    CLEAR,
    ESCAPES,
    TITLE,
    Outcome,
    assert_clean,
    invoke,
)

pytestmark = [pytest.mark.keras, pytest.mark.slow]

SETTINGS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
FILES = (RUN_FILE, HISTORY_FILE, CONFIG_FILE)
METADATA = f"{BACKUP_DIR}/{BACKUP_METADATA_FILE}"
STATE = f"{BACKUP_DIR}/{CALLBACK_STATE_FILE}"
# A backup of epoch 1 as Keras and cbrun.keras.backup write it; the weights
# are not read before TensorFlow, so any bytes do.
BACKUP = {
    f"{BACKUP_DIR}/{BACKUP_WEIGHTS_FILE}": b"weights",
    METADATA: b'{"epoch": 1, "batch": -1}',
    STATE: json.dumps(
        {
            "epoch": 1,
            "callbacks": {
                "0": {"wait": 0, "best": "inf", "type": "EarlyStopping"},
                "1": {"best": 0.5, "type": "ModelCheckpoint"},
            },
        }
    ).encode(),
}
MARK = "@@HOSTILE@@"


def deep(levels: int, opening: str = "[", closing: str = "]") -> str:
    return opening * levels + closing * levels


# JSON text json.dumps would not write (or would escape) as it stands.
HOSTILE_JSON = [
    "1" + "0" * 5000,
    "9" * 19,
    str(2**63),
    str(2**40),
    "-1",
    "0",
    "1e999",
    "-1e999",
    "NaN",
    "-Infinity",
    "true",
    "null",
    "[]",
    "{}",
    '["a", "b"]',
    '{"monitor": ["x"], "value": 1, "epoch": 1}',
    '{"monitor": "loss", "value": true, "epoch": 1}',
    deep(40),
    deep(100_000),
    deep(40, '{"a":', "}"),
    json.dumps(ESCAPES),
    json.dumps(CLEAR * 50),
    json.dumps(TITLE, ensure_ascii=False),
    '"' + "x" * 200_000 + '"',
    '"\\ud800"',
    '"$\\\\frac{"',
]
HOSTILE_STRINGS = [ESCAPES, CLEAR, TITLE, "", "$x$", "\\", "x" * 10_000, "\x00", "val_"]
HOSTILE_YAML = [
    ALIAS_BOMB,
    "a: " + deep(10_000),
    "a: " + deep(40),
    "a: !!python/object/apply:os.system [echo hi]",
    "a: !!python/name:os.system",
    "a: 1" + "0" * 5000,
    "a: *undefined",
    "{a: 1",
    "a: 1\n---\nb: 2",
    '"\\e]0;pwned\\a": "\\e[2J"',
    "- just\n- a list",
    "",
    "a: 2001-13-45",
    "? [a, b]\n: 1",
]


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The three files of a real run dir: iris trained for two epochs."""
    runs_dir = tmp_path_factory.mktemp("fuzz") / "runs"
    result = cbrun.train(
        yaml.safe_load(MINIMAL) | {"name": "iris"},
        runs_dir=runs_dir,
        echo=lambda line: None,
        command=["cbrun", "train"],
    )
    assert result.status == "completed"
    return {name: (result.run_dir / name).read_bytes() for name in FILES}


@pytest.fixture(scope="module")
def pristine(seed: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy run dir, compared with and listed beside every mutated one."""
    run_dir = tmp_path_factory.mktemp("pristine") / "runs" / "iris" / "20261126-150000"
    write_run(run_dir, seed)
    return run_dir


def write_run(run_dir: Path, files: dict[str, bytes]) -> None:
    run_dir.mkdir(parents=True)
    for name, content in files.items():
        (run_dir / name).parent.mkdir(exist_ok=True)
        (run_dir / name).write_bytes(content)


# --------------------------------------------------------------------------- #
# Mutations: each returns the file's new bytes from its seed bytes
# --------------------------------------------------------------------------- #


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in parsed JSON: the root, each key's value, each item."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(data: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = replaced(data[path[0]], path[1:], new)
    return copy


@st.composite
def value_swap(draw: st.DrawFn, original: bytes) -> bytes:
    """One value of run.json or history.json replaced by hostile JSON text."""
    data = json.loads(original)
    places = list(paths(data))
    place = places[draw(st.integers(0, len(places) - 1))]
    raw = draw(st.sampled_from(HOSTILE_JSON))
    text = json.dumps(replaced(data, place, MARK)).replace(json.dumps(MARK), raw)
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def key_rename(draw: st.DrawFn, original: bytes) -> bytes:
    """One key renamed, e.g. a metric name full of escape sequences."""
    data = json.loads(original)
    places = [p for p in paths(data) if p and isinstance(p[-1], str)]
    place = places[draw(st.integers(0, len(places) - 1))]
    new_key = draw(st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=20))
    parent = data
    for key in place[:-1]:
        parent = parent[key]
    parent[new_key] = parent.pop(place[-1])
    return json.dumps(data, ensure_ascii=draw(st.booleans())).encode()


@st.composite
def byte_edit(draw: st.DrawFn, original: bytes) -> bytes:
    """Bytes flipped, inserted (escape sequences among them) or cut."""
    content = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(content)))
        kind = draw(st.sampled_from(["flip", "insert", "truncate"]))
        if kind == "flip" and at < len(content):
            content[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            inserted = draw(
                st.sampled_from([s.encode() for s in HOSTILE_STRINGS])
                | st.binary(max_size=8)
            )
            content[at:at] = inserted
        else:
            del content[at:]
    return bytes(content)


@st.composite
def yaml_edit(draw: st.DrawFn, original: bytes) -> bytes:
    """config.yaml replaced by, or appended with, hostile YAML."""
    hostile = draw(st.sampled_from(HOSTILE_YAML))
    if draw(st.booleans()):
        return hostile.encode()
    return original + b"\n" + hostile.encode()


@st.composite
def mutated_run(draw: st.DrawFn, seed: dict[str, bytes]) -> dict[str, bytes]:
    """The seed's files, one or two of them mutated.

    The seed is as trained (completed), or made a killed run with no backup
    or with a backup of epoch 1: --resume then reads every file.
    """
    files = dict(seed)
    kind = draw(st.sampled_from(["completed", "killed", "backed up"]))
    if kind != "completed":
        record = json.loads(files[RUN_FILE])
        epochs = 0 if kind == "killed" else 1
        record.update(
            status="interrupted", epochs_run=epochs, backup_epoch=epochs, pid=None
        )
        files[RUN_FILE] = json.dumps(record).encode()
    if kind == "backed up":
        files.update(BACKUP)
    mutable = [*FILES, METADATA, STATE] if kind == "backed up" else FILES
    names = st.lists(st.sampled_from(mutable), min_size=1, max_size=2, unique=True)
    for name in draw(names):
        edits = [byte_edit(files[name])]
        if name == CONFIG_FILE:
            edits.append(yaml_edit(files[name]))
        else:
            edits += [value_swap(files[name]), key_rename(files[name])]
        files[name] = draw(st.one_of(edits))
    return files


# --------------------------------------------------------------------------- #
# The properties
# --------------------------------------------------------------------------- #


def resume_outcome(run_dir: Path) -> Outcome:
    """What ``train --resume`` does before TensorFlow: a refusal or a go."""
    try:
        prepare_resume(run_dir, (), allow_user_code=False)
    except CbrunError as exc:
        return Outcome(int(exc.exit_code), f"cbrun: {exc}\n")
    except Exception as exc:
        raise AssertionError("".join(traceback.format_exception(exc))) from None
    return Outcome(0, "")


def check_readers(run_dir: Path, pristine: Path, *, plot: bool) -> None:
    runs_dir = run_dir.parent.parent
    shutil.copytree(pristine, runs_dir / "iris" / pristine.name)
    table = invoke("runs", runs_dir)
    assert_clean("runs", table)
    assert f"iris/{pristine.name}  " in table.output
    listing = invoke("runs", runs_dir, "--format", "json")
    assert_clean("runs", listing)
    rows = {row["stamp"]: row for row in json.loads(listing.output)}
    assert rows[pristine.name]["status"] == "completed"
    assert isinstance(rows[run_dir.name]["status"], str)
    assert_clean("show", invoke("show", run_dir))
    assert_clean("compare", invoke("compare", pristine, run_dir))
    assert_clean("compare", invoke("compare", run_dir, run_dir))
    if plot:
        assert_clean("plot", invoke("plot", run_dir, "-o", runs_dir / "x.png"))
    assert_clean("resume", resume_outcome(run_dir))


def _check(files: dict[str, bytes], pristine: Path, *, plot: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "runs" / "iris" / "20261126-160000"
        write_run(run_dir, files)
        check_readers(run_dir, pristine, plot=plot)


def test_the_seed_itself_passes(seed: dict[str, bytes], pristine: Path) -> None:
    _check(seed, pristine, plot=True)


@settings(SETTINGS, max_examples=150)
@given(data=st.data())
def test_mutated_run_dirs_are_listed_shown_compared_or_refused(
    data: st.DataObject, seed: dict[str, bytes], pristine: Path
) -> None:
    _check(data.draw(mutated_run(seed)), pristine, plot=False)


@settings(SETTINGS, max_examples=40)
@given(data=st.data())
def test_mutated_run_dirs_are_plotted_or_refused(
    data: st.DataObject, seed: dict[str, bytes], pristine: Path
) -> None:
    _check(data.draw(mutated_run(seed)), pristine, plot=True)
