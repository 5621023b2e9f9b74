"""Regular files only, read with a bound; data files quoted at most 80 characters.

A config or a data file may be a FIFO (a read blocks forever), a device
(``/dev/zero`` never ends), a folder or a socket: each is refused at once with
what it is. A data file may be a private key a hostile config points at, and
messages reach public CI logs: no message quotes more than 80 characters of a
data file, and a file that is not CSV or NPZ is described, not quoted.
"""

from __future__ import annotations

import difflib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from cbrun.atomic import (
    CorruptFileError,
    FileTooLargeError,
    NotRegularFileError,
    open_regular,
    read_json,
    read_regular_bounded,
)
from cbrun.config.data import DataConfig
from cbrun.config.loading import load_config
from cbrun.config.yaml_loader import MAX_FILE_BYTES, read_config_text
from cbrun.errors import BuildError, ConfigError
from cbrun.keras.data import load_data
from cbrun.keras.data.keras_cache import CacheFile, check_cache_files
from cbrun.suggest import DATA_QUOTE_LENGTH, describe_start, shown_names
from tests.conftest import MINIMAL

CBRUN = Path(sys.executable).with_name("cbrun")
# A hang fails the test instead of stalling the suite.
PROMPT_SECONDS = 20
# Training imports TensorFlow first, which takes seconds on a busy machine.
TRAIN_SECONDS = 180
SECRET = "SECRETxTOKENx7f3a9c"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABlwAAAAdzc2gtcn\n"
    f"NhAAAAAwEAAQAAAYEA{SECRET}q0Jm4mZ7rWbVw3yZtJ0kL9pQ2sX8vN1cR5tY6uH3gF\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
# Secret files whose first line is not PEM: the refusal must come from line 1.
SECRET_FILES = {
    "pem": PRIVATE_KEY,
    "pem_encrypted": (
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        f"DEK-Info: AES-128-CBC,{SECRET}\n\nMIIEpAIBAAKCAQEA\n"
    ),
    "putty": (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n"
        f"Private-Lines: 1\nAAAAIH{SECRET},AAAA\n"
    ),
    "aws": f"[default]\naws_access_key_id = AKIA\naws_secret_access_key = {SECRET}\n",
    "comment_with_commas": f"# key for ci, do not share\n{SECRET},{SECRET}\n",
    "env_nul": f"HOME=/root\0TOKEN={SECRET}\0",
}


def data_config(**fields: Any) -> Any:
    return TypeAdapter(DataConfig).validate_python(fields)


def data_error(base_dir: Path, **fields: Any) -> BuildError:
    with pytest.raises(BuildError) as caught:
        load_data(data_config(**fields), seed=0, base_dir=base_dir)
    return caught.value


def longest_quote(message: str, content: str) -> int:
    """The longest run of ``content`` that ``message`` holds, raw or escaped."""
    longest = 0
    for text in (content, repr(content)[1:-1]):
        matcher = difflib.SequenceMatcher(None, message, text, autojunk=False)
        match = matcher.find_longest_match(0, len(message), 0, len(text))
        longest = max(longest, match.size)
    return longest


def run_cbrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CBRUN), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=PROMPT_SECONDS,
        check=False,
    )


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO no one writes to: a read of it would block forever.

    Should a regression block on it in this process, a writer comes after
    PROMPT_SECONDS and closes at once, so the test fails instead of hanging.
    """
    path = tmp_path / "pipe"
    os.mkfifo(path)
    done = threading.Event()

    def unblock() -> None:
        if done.wait(PROMPT_SECONDS):
            return
        while not done.is_set():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                time.sleep(0.05)

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    start = time.monotonic()
    yield path
    done.set()
    thread.join()
    assert time.monotonic() - start < PROMPT_SECONDS


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    yield path
    server.close()


# --- the primitive -------------------------------------------------------------


def test_regular_file_is_read_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_regular_bounded(path, 10) == b"x" * 10
    with pytest.raises(FileTooLargeError, match="file is larger than 9 bytes"):
        read_regular_bounded(path, 9)
    with open_regular(path) as stream:
        assert stream.read() == b"x" * 10


def test_zero_sized_proc_file_is_bounded_by_its_content() -> None:
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc")
    assert status.stat().st_size == 0  # st_size says nothing
    assert read_regular_bounded(status, 100_000).startswith(b"Name:")
    with pytest.raises(FileTooLargeError):
        read_regular_bounded(status, 10)


def test_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"ok")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert read_regular_bounded(tmp_path / "link", 2) == b"ok"


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        ("fifo", "a FIFO"),
        ("dev_zero", "a character device"),
        ("folder", "a directory"),
        ("unix_socket", "a socket"),
    ],
)
def test_anything_but_a_regular_file_is_refused(
    request: pytest.FixtureRequest, tmp_path: Path, make: str, kind: str
) -> None:
    if make == "dev_zero":
        path = tmp_path / "zero"
        path.symlink_to("/dev/zero")
    elif make == "folder":
        path = tmp_path
    else:
        path = request.getfixturevalue(make)
    for read in (lambda: read_regular_bounded(path, 100), lambda: open_regular(path)):
        with pytest.raises(NotRegularFileError) as caught:
            read()
        assert caught.value.kind == kind
        assert str(caught.value) == f"{path}: is {kind}, not a regular file"
        assert isinstance(caught.value, OSError)  # `except OSError` still holds
    with pytest.raises(CorruptFileError, match=f"is {kind}, not a regular file"):
        read_json(path)


def test_read_json_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"a": 1}')
    assert read_json(path, limit=8) == {"a": 1}
    with pytest.raises(CorruptFileError, match="larger than 7 bytes"):
        read_json(path, limit=7)
    path.write_text("[" * 100_000)
    with pytest.raises(CorruptFileError, match="nested too deeply"):
        read_json(path)


# --- config files --------------------------------------------------------------


def test_validate_refuses_a_fifo_promptly(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.yaml")
    result = run_cbrun("validate", "x.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "x.yaml: is a FIFO, not a regular file" in result.stderr + result.stdout


def test_train_refuses_a_fifo_config_promptly(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.yaml")
    result = run_cbrun("train", "x.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "x.yaml: is a FIFO, not a regular file" in result.stderr + result.stdout
    assert not (tmp_path / "runs").exists()


def test_validate_refuses_dev_zero_behind_a_yaml_name(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").symlink_to("/dev/zero")
    result = run_cbrun("validate", "x.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "x.yaml: is a character device, not a regular file" in (
        result.stderr + result.stdout
    )


def test_validate_refuses_a_folder_named_like_a_config(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").mkdir()
    result = run_cbrun("validate", "x.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "x.yaml: " in result.stderr + result.stdout
    with pytest.raises(ConfigError, match="is a directory, not a config file"):
        load_config(tmp_path / "x.yaml")


def test_load_config_refuses_a_fifo(fifo: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(fifo, display="pipe.yaml")
    assert str(caught.value) == "pipe.yaml: is a FIFO, not a regular file"


def test_config_size_limit_counts_bytes_read_not_st_size(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    exact = MINIMAL + "#" * (MAX_FILE_BYTES - len(MINIMAL) - 1) + "\n"
    path.write_text(exact, encoding="utf-8")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert read_config_text(path) == exact
    path.write_text(exact + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_config_text(path, "config.yaml")
    assert str(caught.value).startswith(
        f"config.yaml: file is larger than {MAX_FILE_BYTES} bytes"
    )


def test_config_name_with_a_nul_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot contain a NUL character"):
        load_config(Path("a\0b.yaml"))


# --- data files: not regular ---------------------------------------------------


@pytest.mark.parametrize("field", ["path", "test_path"])
def test_data_path_with_a_nul_is_refused_by_validate(
    write_config: Any, field: str
) -> None:
    data = '{source: csv, path: "a\\0b.csv"}'
    if field == "test_path":
        data = '{source: csv, path: a.csv, test_path: "a\\0b.csv"}'
    path = write_config(MINIMAL.replace("{source: sklearn, name: iris}", data))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"data.{field}" in str(caught.value)
    assert "cannot contain a NUL character" in str(caught.value)


def test_data_path_with_a_nul_is_a_build_error(tmp_path: Path) -> None:
    # load_data is also reached with configs built in Python.
    from cbrun.config.data import NpzData

    config = NpzData.model_construct(source="npz", path="a\0b.npz")
    with pytest.raises(BuildError, match="cannot be read"):
        load_data(config, seed=0, base_dir=tmp_path)


def test_data_fifo_is_refused(fifo: Path) -> None:
    for source in ("csv", "npz"):
        error = data_error(fifo.parent, source=source, path=fifo.name)
        assert error.path == ("data", "path")
        assert f"{fifo} is a FIFO, not a regular file" in error.message


def test_data_device_and_socket_are_refused(tmp_path: Path, unix_socket: Path) -> None:
    (tmp_path / "d.npz").symlink_to("/dev/zero")
    error = data_error(tmp_path, source="npz", path="d.npz")
    assert "/dev/zero is a character device, not a regular file" in error.message
    assert "path: 'd.npz'" in error.message
    error = data_error(tmp_path, source="csv", path=unix_socket.name)
    assert "is a socket, not a regular file" in error.message


def test_csv_test_path_fifo_is_refused(tmp_path: Path, fifo: Path) -> None:
    (tmp_path / "train.csv").write_text("a,target\n1,0\n2,1\n")
    error = data_error(tmp_path, source="csv", path="train.csv", test_path=fifo.name)
    assert error.path == ("data", "test_path")
    assert "is a FIFO, not a regular file" in error.message


def test_keras_cache_entry_that_is_a_fifo_is_refused(fifo: Path) -> None:
    files = [CacheFile("missing.npz", "https://example.org/a"), CacheFile("pipe", "u")]
    with pytest.raises(BuildError) as caught:
        check_cache_files(fifo.parent, files)
    assert f"{fifo} is a FIFO, not a regular file, in the Keras cache" in (
        caught.value.message
    )
    check_cache_files(fifo.parent, files[:1])  # a missing file is downloaded


def write_train_config(folder: Path, name: str, data: str) -> str:
    text = MINIMAL.replace("data: {source: sklearn, name: iris}", f"data: {data}")
    (folder / f"{name}.yaml").write_text(text.replace("epochs: 2", "epochs: 1"))
    return f"{name}.yaml"


@pytest.mark.keras
def test_train_refuses_special_and_secret_data_files(tmp_path: Path) -> None:
    """One `cbrun train` of several configs: exit codes, messages, no leak."""
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "zero.npz").symlink_to("/dev/zero")
    (tmp_path / "id_key.csv").write_text(PRIVATE_KEY)
    (tmp_path / "id_key.npz").write_text(PRIVATE_KEY)
    configs = [
        write_train_config(tmp_path, "fifo", "{source: csv, path: pipe.csv}"),
        write_train_config(tmp_path, "zero", "{source: npz, path: zero.npz}"),
        write_train_config(tmp_path, "keynpz", "{source: npz, path: id_key.npz}"),
    ]
    # A key named as a CSV is refused by validate (which train runs first).
    keycsv = write_train_config(tmp_path, "keycsv", "{source: csv, path: id_key.csv}")
    refused = subprocess.run(
        [str(CBRUN), "validate", keycsv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=TRAIN_SECONDS,
        check=False,
    )
    assert refused.returncode == 1
    assert "it starts like a PEM key or certificate" in refused.stdout
    assert SECRET not in refused.stdout + refused.stderr
    # One process trains the configs in turn: one TensorFlow import.
    result = subprocess.run(
        [str(CBRUN), "train", *configs, "--runs-dir", "runs"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=TRAIN_SECONDS,
        check=False,
    )
    # Exit 1 for each (the worst of them), as for a missing data file (which
    # validate names before training: tests/test_review_data.py).
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    expected = {
        "fifo.yaml": "pipe.csv is a FIFO, not a regular file",
        "zero.yaml": "/dev/zero is a character device, not a regular file",
        "keynpz.yaml": "it starts like a PEM key or certificate",
    }
    for config, text in expected.items():
        assert any(line.startswith(config) and text in line for line in lines), config
    outputs = [result.stdout, result.stderr]
    outputs += [p.read_text() for p in tmp_path.glob("runs/**/*") if p.is_file()]
    for output in outputs:
        assert SECRET not in output
        assert "b3BlbnNzaC1rZXkt" not in output


# --- data files: bounded quoting -----------------------------------------------


@pytest.mark.parametrize("name", sorted(SECRET_FILES))
@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_secret_files_are_not_quoted(tmp_path: Path, name: str, suffix: str) -> None:
    content = SECRET_FILES[name]
    (tmp_path / f"key{suffix}").write_text(content)
    error = data_error(tmp_path, source=suffix[1:], path=f"key{suffix}")
    assert SECRET not in error.message
    assert longest_quote(error.message, content) <= DATA_QUOTE_LENGTH
    for later_line in content.splitlines()[1:]:
        if len(later_line) > 12:
            assert later_line not in error.message


def test_headerless_tsv_row_is_not_quoted_whole(tmp_path: Path) -> None:
    row = "\t".join(f"{i}.{i * 7919 % 10007:05d}" for i in range(1500))
    assert len(row) > 12_000
    (tmp_path / "data.csv").write_text((row + "\n") * 3)
    error = data_error(tmp_path, source="csv", path="data.csv")
    message = error.message
    assert error.path == ("data", "path")
    assert len(message) < 400 + len(str(tmp_path))
    assert longest_quote(message, row) <= DATA_QUOTE_LENGTH
    assert f"{tmp_path / 'data.csv'}, line 1 has no comma" in message
    assert "no column 'target'" in message
    assert "tab-separated" in message


def wide(prefix: str, count: int = 1500) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]


@pytest.mark.parametrize(
    ("case", "lines", "fields", "expected"),
    [
        (
            "headerless comma CSV",
            [",".join(f"{i}.5" for i in range(3000))] * 3,
            {},
            "line 1 looks like data, not column names",
        ),
        (
            "a 12 KB column name and no target",
            ["x" * 12_000 + ",a", "1,2"],
            {"target": "label"},
            "has no column 'label'",
        ),
        (
            "many columns, no target",
            [",".join(wide("column")), ",".join("1" * 1500)],
            {"target": "column01499x"},
            "did you mean",
        ),
        (
            "a 12 KB cell",
            ["a,target", "1,0", "y" * 12_000 + ",1"],
            {},
            "is not a number",
        ),
        (
            "a 12 KB column name and a bad cell",
            ["z" * 12_000 + ",target", "q" * 12_000 + ",1"],
            {},
            "is not a number",
        ),
        ("a repeated 12 KB name", [("w" * 12_000 + ",") * 2 + "target"], {}, "twice"),
    ],
)
def test_csv_messages_quote_at_most_80_characters(
    tmp_path: Path, case: str, lines: list[str], fields: dict[str, Any], expected: str
) -> None:
    content = "\n".join(lines) + "\n"
    (tmp_path / "d.csv").write_text(content)
    error = data_error(tmp_path, source="csv", path="d.csv", **fields)
    assert expected in error.message, case
    assert longest_quote(error.message, content) <= DATA_QUOTE_LENGTH, case
    assert len(error.message) < 500 + len(str(tmp_path)), case


def test_csv_test_file_with_many_other_columns_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("a,target\n1,0\n2,1\n")
    header = ",".join([*wide("extra_column_name_"), "target"])
    test = header + "\n" + "1," * 1500 + "0\n"
    (tmp_path / "test.csv").write_text(test)
    error = data_error(tmp_path, source="csv", path="train.csv", test_path="test.csv")
    assert "lacks 'a' and has extra 'extra_column_name" in error.message
    assert "(1500 in all)" in error.message
    assert longest_quote(error.message, test) <= DATA_QUOTE_LENGTH


def test_npz_with_many_long_array_names_is_bounded(tmp_path: Path) -> None:
    arrays: dict[str, Any] = {name: np.zeros(1) for name in wide("a" * 200, 50)}
    np.savez(tmp_path / "d.npz", **arrays)
    error = data_error(tmp_path, source="npz", path="d.npz")
    assert "has no array 'x_train'" in error.message
    assert "(50 in all)" in error.message
    assert len(error.message) < 400 + len(str(tmp_path))


@pytest.mark.parametrize(
    ("content", "described"),
    [
        (b"\x00\x01binary\xff" * 100, "binary data"),
        (b"\x1f\x8b\x08gzip", "gzip-compressed data"),
        (b"plain text that is no archive\n" * 10, "text"),
        (b"", "nothing (the file is empty)"),
    ],
)
def test_npz_that_is_no_archive_is_described(
    tmp_path: Path, content: bytes, described: str
) -> None:
    (tmp_path / "d.npz").write_bytes(content)
    error = data_error(tmp_path, source="npz", path="d.npz")
    assert f"it starts like {described}, not a zip archive" in error.message
    assert "plain text" not in error.message


def test_binary_csv_is_described_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"a,target\x00" + SECRET.encode() * 10)
    error = data_error(tmp_path, source="csv", path="d.csv")
    assert "does not look like CSV text (it starts like binary data)" in error.message
    assert SECRET not in error.message


def test_shown_names_stays_within_its_limit() -> None:
    assert shown_names(["a", "b"], quote=False) == "a, b"
    for names in (["n" * 500], ["n" * 500, "b"], wide("c", 300), ["\x1b[31m"] * 40):
        text = shown_names(names)
        assert len(text) <= DATA_QUOTE_LENGTH
        assert "\x1b" not in text  # control characters are escaped


def test_describe_start_never_quotes() -> None:
    assert describe_start(PRIVATE_KEY.encode()) == "a PEM key or certificate"
    assert describe_start(b"caf\xc3") == "text"  # cut inside a character
    assert describe_start(b"caf\xe9, latin-1") == "text that is not UTF-8"
    utf16 = "a,target\n".encode("utf-16")
    assert describe_start(utf16) == "UTF-16 text, not UTF-8"


@pytest.mark.keras
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_model_path_that_is_not_a_regular_file_is_refused(tmp_path, fifo, kind):
    from click.testing import CliRunner

    from cbrun.cli import cli

    target = tmp_path / "start.keras"
    target.symlink_to(fifo if kind == "fifo" else "/dev/zero")
    config = tmp_path / "config.yaml"
    config.write_text(
        MINIMAL.replace(
            "model:\n  layers:\n    - {type: Dense, units: 3, activation: softmax}",
            "model: {path: start.keras}",
        )
    )
    result = CliRunner().invoke(cli, ["validate", "--deep", str(config)])
    assert result.exit_code == 1
    what = "a FIFO" if kind == "fifo" else "a character device"
    assert f"model.path: cannot load model.path 'start.keras': is {what}" in (
        result.stdout
    )
