"""``--no-user-code``: what a config you did not write may not do.

The flag (or ``CBRUN_NO_USER_CODE=1``) is for CI jobs that check configs from
pull requests they do not trust (design section 12):

* every name must be a Keras built-in from cbrun's tables, and layers that
  run code or read graphs or files are refused (:mod:`cbrun.config.allow_list`);
* data files and ``model.path`` must stay inside the config's folder tree: no
  absolute path, no ``..`` out of it, no symlink that resolves outside.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cbrun.config.allow_list import Refusal, refused_names
from cbrun.config.folder_checks import escaping_link
from cbrun.errors import ConfigPath
from cbrun.suggest import shown

ENV_VAR = "CBRUN_NO_USER_CODE"
FIX = "remove it or run where the config is trusted"

# Files read from the config's folder (relative paths resolve against it).
CONFINED_PATHS: tuple[ConfigPath, ...] = (
    ("data", "path"),
    ("data", "test_path"),
    ("model", "path"),
)
# Sources whose path is a folder: every file below it must stay inside too.
FOLDERS = ("images", "text")
# `load_args.path` names a file in the Keras cache, not in the config's folder.
CACHE_PATH: ConfigPath = ("data", "load_args", "path")


def user_code_refused(flag: bool) -> bool:
    """Whether user code is refused: by the flag or by the environment."""
    return flag or os.environ.get(ENV_VAR, "").lower() in ("1", "true", "yes")


def refusal_message(refusal: Refusal) -> str:
    """The message of one refusal: what, why, and the fix."""
    fix = refusal.fix or FIX
    return f"{refusal.what}, refused by --no-user-code / {ENV_VAR}; {fix}"


def refusals(data: Mapping[str, Any], base_dir: Path) -> list[Refusal]:
    """Everything in a validated config that ``--no-user-code`` refuses.

    Args:
        data: The plain config, as the schemas accepted it.
        base_dir: The config's folder, which relative paths resolve against.

    Returns:
        At most one refusal per place, in the order found.
    """
    found: dict[ConfigPath, Refusal] = {}
    for refusal in (*refused_names(data), *_escaping_paths(data, base_dir)):
        found.setdefault(refusal.where, refusal)
    return list(found.values())


def _at(data: Mapping[str, Any], where: ConfigPath) -> Any:
    current: Any = data
    for part in where:
        current = current.get(part) if isinstance(current, dict) else None
    return current


def _escaping_paths(data: Mapping[str, Any], base_dir: Path) -> Iterator[Refusal]:
    for where in CONFINED_PATHS:
        value = _at(data, where)
        reason = escapes(value, base_dir) if isinstance(value, str) else None
        if reason:
            yield Refusal(
                where,
                f"{where[-1]} {shown(value)} {reason}",
                fix=f"put the file inside {_shown_dir(base_dir)} and give its "
                "path relative to the config, or run where the config is trusted",
            )
        elif (
            isinstance(value, str)
            and where[0] == "data"
            and _at(data, ("data", "source")) in FOLDERS
        ):
            folder = base_dir / Path(value).expanduser()
            link = escaping_link(folder, base_dir)
            if link is not None:
                yield Refusal(
                    where,
                    f"{where[-1]} {shown(value)} holds "
                    f"{shown(str(link.relative_to(folder)))}, a symlink out of the "
                    "config's folder",
                    fix="copy the files into the folder instead of linking them, "
                    "or run where the config is trusted",
                )
    cached = _at(data, CACHE_PATH)
    if isinstance(cached, str) and (
        Path(cached).expanduser().is_absolute() or ".." in Path(cached).parts
    ):
        yield Refusal(
            CACHE_PATH,
            f"path {shown(cached)} leaves the Keras cache folder (datasets/)",
            fix="give a file name, or run where the config is trusted",
        )


def _shown_dir(base_dir: Path) -> str:
    try:
        return str(base_dir.resolve())
    except (OSError, RuntimeError):
        return str(base_dir)


def escapes(value: str, base_dir: Path) -> str | None:
    """Why a path leaves the config's folder tree, or ``None`` if it stays.

    The path is resolved as the data loaders resolve it: ``~`` expanded,
    relative to ``base_dir``, symlinks followed.

    Args:
        value: The path as the config gives it.
        base_dir: The config's folder.

    Returns:
        E.g. ``"is absolute"``, or ``None``.
    """
    try:
        root = base_dir.resolve()
        given = Path(value).expanduser()
        if given.is_absolute():
            return "is absolute, outside the config's folder"
        resolved = (root / given).resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        return f"cannot be resolved ({type(exc).__name__})"
    if resolved.is_relative_to(root):
        return None
    if ".." in given.parts:
        return "goes up out of the config's folder with '..'"
    target = shown(str(resolved))
    return f"goes through a symlink out of the config's folder, to {target}"
