"""Where callbacks write: never over cbrun's own files, never outside when confined.

Callbacks write files (CSVLogger, ModelCheckpoint, TensorBoard) and some
delete them: Keras's ``BackupAndRestore`` removes its ``backup_dir`` when
training ends, Orbax prunes old checkpoints in its ``directory``. A config
could therefore overwrite the run's record (``filename: config.yaml``) or
delete the run dir (``backup_dir: .``). The rules, judged on the path as
written, normalised against the run dir (design section 12):

- always: a path holds no character a file system refuses (NUL), no control
  character, no name longer than a file system allows; a relative path stays
  inside the run dir, is not the run dir itself and does not start with one
  of cbrun's own names (:data:`OWN_NAMES`); no other output lies inside a
  folder a callback deletes;
- confined (``--no-user-code``): no absolute path either.

Whether a path exists is decided when the callbacks are built
(``cbrun.keras.callbacks``), which checks these rules again against the real
run dir. This module imports nothing of Keras: ``cbrun validate`` uses it.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Iterator
from typing import Any, Final

from cbrun.config.callbacks import CallbackSchema, CustomCallbackSchema
from cbrun.config.experiment import ExperimentConfig
from cbrun.config.problems import make_problem
from cbrun.config.yaml_loader import SourceMap
from cbrun.errors import ConfigPath, Problem
from cbrun.suggest import shown

__all__ = [
    "DELETING_FIELDS",
    "OWN_NAMES",
    "callback_output_problems",
    "character_problem",
    "own_name_problem",
    "relative_path_problem",
]

OWN_NAMES: Final = (
    "run.json",
    "history.json",
    "config.yaml",
    "model.keras",
    "history.png",
    "backup",
    ".lock",
)
"""What cbrun writes at the top of a run dir; ``cbrun.runs.layout.OWN_NAMES``
(config/ may not import runs/; a test keeps the two equal)."""

DELETING_FIELDS: Final = {
    "BackupAndRestore": "backup_dir",
    "OrbaxCheckpoint": "directory",
}
"""Callback type to the field naming a folder that callback deletes from:
``BackupAndRestore`` removes it when training ends, Orbax prunes it."""

_NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows alike
_PATH_MAX = 4096


def character_problem(value: str) -> str | None:
    """Why no file system can hold ``value``, or None.

    Args:
        value: A path as written in the config.
    """
    if "\0" in value:
        return "contains a NUL character, which no file system accepts"
    control = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        return f"contains the control character {control!r}; write plain characters"
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a character that cannot be encoded as UTF-8"
    if len(encoded) > _PATH_MAX:
        return f"is longer than {_PATH_MAX} bytes"
    if any(len(part) > _NAME_MAX for part in encoded.split(b"/")):
        return f"has a folder or file name longer than {_NAME_MAX} bytes"
    return None


def own_name_problem(relative: str) -> str | None:
    """Why a path relative to the run dir names the run dir or cbrun's files.

    Args:
        relative: The path relative to the run dir, as written (it is
            normalised here: ``./x/../config.yaml`` is ``config.yaml``).

    Returns:
        The reason, or None if the path is free for a callback.
    """
    normal = posixpath.normpath(relative)
    if normal == ".":
        return (
            "names the run directory itself; a callback may delete or fill it. "
            "Write a name inside it, e.g. logs"
        )
    first = normal.split("/")[0].casefold()
    for own in OWN_NAMES:
        # Also the temp files cbrun writes and removes beside its own
        # (.run.json.<hex>.tmp, .model.<hex>.keras); names are compared
        # ignoring case, as some file systems do.
        stem = own.lstrip(".").split(".")[0]
        if first == own or first.startswith((f".{own}.", f".{stem}.")):
            return (
                f"is cbrun's own {own!r} in the run directory (cbrun's files: "
                f"{', '.join(OWN_NAMES)}); choose another name"
            )
    return None


def relative_path_problem(value: str, *, confined: bool) -> str | None:
    """Why a callback may not write to ``value`` (before the run dir is known).

    Args:
        value: The path as written; relative paths resolve inside the run dir.
        confined: Refuse absolute paths too (``--no-user-code``).

    Returns:
        The reason, or None.
    """
    reason = character_problem(value)
    if reason is not None:
        return reason
    if posixpath.isabs(value):
        if confined:
            return (
                "is an absolute path, refused by --no-user-code: callback "
                "outputs stay inside the run directory; write a relative path"
            )
        return None
    normal = posixpath.normpath(value)
    if normal == ".." or normal.startswith("../"):
        return (
            "leaves the run directory; relative paths resolve inside it (write "
            "an absolute path to put files elsewhere)"
            if not confined
            else "leaves the run directory, refused by --no-user-code; write a "
            "path inside it"
        )
    return own_name_problem(normal)


def _outputs(
    config: ExperimentConfig,
) -> Iterator[tuple[ConfigPath, CallbackSchema, str, str]]:
    """``(path, callback, field, value)`` for every output path of every callback."""
    for index, callback in enumerate(config.callbacks):
        if isinstance(callback, CustomCallbackSchema):
            continue  # its parameters are its own; user code is refused if confined
        for field in callback.path_fields:
            value = getattr(callback, field)
            if isinstance(value, str):
                yield ("callbacks", index, field), callback, field, value


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def callback_output_problems(
    experiment: ExperimentConfig, data: Any, source: SourceMap, *, confined: bool
) -> list[Problem]:
    """Every problem with where the config's callbacks write.

    Args:
        experiment: The validated config.
        data: The data it was validated from (for positions and names).
        source: Where each value came from.
        confined: ``--no-user-code``: outputs must stay inside the run dir.

    Returns:
        Errors, and a warning for a path two callbacks share.
    """
    problems: list[Problem] = []

    def add(path: ConfigPath, value: str, reason: str, severity: str = "error") -> None:
        message = f"{shown(value)} {reason}"
        problems.append(make_problem(source, data, path, message, severity=severity))

    clean: list[tuple[ConfigPath, CallbackSchema, str, str]] = []
    for path, callback, field, value in _outputs(experiment):
        reason = relative_path_problem(value, confined=confined)
        if reason is not None:
            add(path, value, reason)
        else:
            clean.append((path, callback, field, posixpath.normpath(value)))
    deleting = [
        (path, callback.type, normal)
        for path, callback, field, normal in clean
        if DELETING_FIELDS.get(callback.type) == field
    ]
    seen: set[str] = set()
    for path, callback, field, normal in clean:
        for folder_path, kind, folder in deleting:
            if folder_path != path and _inside(normal, folder):
                add(
                    path,
                    getattr(callback, field),
                    f"is inside {shown(folder)}, the folder {kind} "
                    f"({folder_path[0]}[{folder_path[1]}]) deletes; give "
                    f"{kind} a folder of its own",
                )
        if normal in seen and field != "filepath":
            add(
                path,
                getattr(callback, field),
                "is also used by another callback",
                severity="warning",
            )
        seen.add(normal)
    return problems
