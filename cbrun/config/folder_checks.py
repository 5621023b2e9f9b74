"""TensorFlow-free checks of the ``images`` and ``text`` folders.

``cbrun validate`` and the loaders both call :func:`inspect_folders`: it
lists the class subfolders as Keras's ``*_dataset_from_directory`` does (a
sorted, recursive walk of each class folder, files chosen by extension) and
looks at every listed file cheaply (:mod:`cbrun.config.folder_files`), so
that a file TensorFlow could not read is named before training instead of
failing an epoch half-way.

A folder of 10,000 files takes well under a second (``os.scandir``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cbrun.config.data_folders import IMAGE_EXTENSIONS, TEXT_EXTENSIONS
from cbrun.config.folder_files import image_problem, text_problem
from cbrun.errors import ConfigPath
from cbrun.suggest import closest, shown, shown_names

# Bad or ignored files named in one message; the rest are counted.
_NAMED_FILES = 5


@dataclass(frozen=True)
class FolderIssue:
    """One problem with the folders, at the config key it concerns."""

    where: ConfigPath
    message: str
    severity: str = "error"


@dataclass
class ClassFolders:
    """The files of one folder (``path`` or ``test_path``), by class.

    Attributes:
        root: The folder.
        class_names: The classes used, in label order.
        files: Class name -> the files Keras will list (accepted extensions).
        ignored: Files Keras will not list (other extensions, files beside
            the class folders), hidden files left out.
    """

    root: Path
    class_names: list[str]
    files: dict[str, list[Path]] = field(default_factory=dict)
    ignored: list[Path] = field(default_factory=list)

    @property
    def count(self) -> int:
        """The number of files Keras will list."""
        return sum(len(files) for files in self.files.values())


@dataclass
class FolderReport:
    """What :func:`inspect_folders` found.

    Attributes:
        issues: Errors and warnings, each at its config key.
        bad_files: Unreadable files (train and test) -> why, in walk order.
        train: The training folder's listing, or None if it cannot be listed.
        test: The test folder's listing, or None.
    """

    issues: list[FolderIssue] = field(default_factory=list)
    bad_files: dict[Path, str] = field(default_factory=dict)
    train: ClassFolders | None = None
    test: ClassFolders | None = None

    @property
    def errors(self) -> list[FolderIssue]:
        """The issues that stop a run."""
        return [issue for issue in self.issues if issue.severity == "error"]


def check_folders(section: Any, base_dir: Path, report: Callable[..., None]) -> None:
    """The ``validate`` checker of ``images`` and ``text`` (DATA_FILE_CHECKS)."""
    for issue in inspect_folders(section, base_dir).issues:
        report(issue.where, issue.message, severity=issue.severity)


def inspect_folders(section: Any, base_dir: Path) -> FolderReport:
    """List and check the folders of an ``images`` or ``text`` section.

    Args:
        section: The validated ``ImagesData`` or ``TextData``.
        base_dir: The config's folder; relative paths start there.

    Returns:
        The listings, the unreadable files, and every problem found.
    """
    found = FolderReport()
    extensions = IMAGE_EXTENSIONS if section.source == "images" else TEXT_EXTENSIONS
    found.train = _list_folder(
        section.path, base_dir, section.class_names, extensions, ("data", "path"), found
    )
    if found.train is None:
        return found
    if section.label_mode == "binary" and len(found.train.class_names) != 2:
        found.issues.append(
            FolderIssue(
                ("data", "label_mode"),
                f"label_mode: binary needs exactly 2 classes; {found.train.root} has "
                f"{len(found.train.class_names)} "
                f"({shown_names(found.train.class_names)}): use label_mode: int or "
                "categorical, or choose two with class_names",
            )
        )
    if section.test_path is not None:
        found.test = _list_folder(
            section.test_path,
            base_dir,
            section.class_names,
            extensions,
            ("data", "test_path"),
            found,
        )
        if found.test is not None:
            _same_classes(found.train, found.test, section.class_names, found)
    read = image_problem if section.source == "images" else text_problem
    for where, listing in (("path", found.train), ("test_path", found.test)):
        if listing is not None:
            _check_files(listing, read, section, ("data", where), found)
    return found


def _list_folder(
    value: str,
    base_dir: Path,
    class_names: list[str] | None,
    extensions: tuple[str, ...],
    where: ConfigPath,
    found: FolderReport,
) -> ClassFolders | None:
    """List one folder's class subfolders and their files, reporting problems."""
    given = Path(value).expanduser()
    root = base_dir / given
    relative = "" if given.is_absolute() else f", relative to {base_dir.absolute()}"
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        found.issues.append(
            FolderIssue(
                where,
                f"{root} {state} ({where[-1]}: {shown(value)}{relative}); give a "
                "folder with one subfolder per class",
            )
        )
        return None
    try:
        subfolders, loose = _subfolders(root)
    except OSError as error:
        found.issues.append(
            FolderIssue(where, f"cannot list {root}: {error.strerror or error}")
        )
        return None
    if not subfolders:
        kinds = "/".join(extensions)
        beside = f" (it holds {len(loose)} files directly)" if loose else ""
        found.issues.append(
            FolderIssue(
                where,
                f"{root} has no class subfolders{beside}; put each class's files "
                f"({kinds}) in a subfolder named after the class, e.g. "
                f"{root / 'cats'}/",
            )
        )
        return None
    names = subfolders if class_names is None else class_names
    if class_names is not None and where[-1] == "path":
        for index, name in enumerate(class_names):
            if name not in subfolders:
                hint = closest(name, subfolders)
                mean = f"; did you mean {hint!r}?" if hint else ""
                found.issues.append(
                    FolderIssue(
                        ("data", "class_names", index),
                        f"{root} has no subfolder {shown(name)}{mean} (its "
                        f"subfolders: {shown_names(subfolders)})",
                    )
                )
    listing = ClassFolders(root, list(names))
    listing.ignored.extend(loose)
    for name in names:
        if name not in subfolders:
            continue  # reported above (path) or by _same_classes (test_path)
        files, ignored = _class_files(root / name, extensions)
        listing.files[name] = files
        listing.ignored.extend(ignored)
        if not files:
            other = f" (only {len(ignored)} files of other kinds)" if ignored else ""
            found.issues.append(
                FolderIssue(
                    where,
                    f"class folder {root / name} has no {'/'.join(extensions)} "
                    f"files{other}; add some, remove the folder, or leave it out "
                    "with class_names",
                )
            )
    if listing.ignored:
        found.issues.append(
            FolderIssue(
                where,
                f"{_files(len(listing.ignored))} in {root} "
                f"{'is' if len(listing.ignored) == 1 else 'are'} not a "
                f"{'/'.join(extensions)} file in a class folder, so Keras leaves "
                f"{'it' if len(listing.ignored) == 1 else 'them'} out: "
                f"{_named(listing.ignored, root)}",
                severity="warning",
            )
        )
    return listing


def _subfolders(root: Path) -> tuple[list[str], list[Path]]:
    """The class subfolders (sorted, not hidden) and the files beside them."""
    folders: list[str] = []
    loose: list[Path] = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():  # Keras follows a symlink to a class folder
                folders.append(entry.name)
            else:
                loose.append(Path(entry.path))
    return sorted(folders), sorted(loose)


def _class_files(
    folder: Path, extensions: tuple[str, ...]
) -> tuple[list[Path], list[Path]]:
    """A class folder's files Keras lists (recursively) and those it ignores."""
    listed: list[Path] = []
    ignored: list[Path] = []
    for path in _walk(folder):
        if path.name.lower().endswith(extensions):
            listed.append(path)
        elif not path.name.startswith("."):
            ignored.append(path)
    return listed, ignored


def _walk(folder: Path) -> Iterator[Path]:
    """Every non-folder entry below ``folder``, as ``os.walk`` (no symlinked dirs)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif not (entry.is_symlink() and entry.is_dir()):
            yield Path(entry.path)


def _same_classes(
    train: ClassFolders,
    test: ClassFolders,
    class_names: list[str] | None,
    found: FolderReport,
) -> None:
    """The test folder must hold the training classes (all of them, no others)."""
    try:
        test_subfolders, _ = _subfolders(test.root)
    except OSError:
        return
    missing = [name for name in train.class_names if name not in test_subfolders]
    extra = (
        []
        if class_names is not None
        else [name for name in test_subfolders if name not in train.class_names]
    )
    if not (missing or extra):
        return
    parts = []
    if missing:
        parts.append(f"it lacks {shown_names(missing)}")
    if extra:
        parts.append(f"it has {shown_names(extra)}, which {train.root} has not")
    found.issues.append(
        FolderIssue(
            ("data", "test_path"),
            f"the test folder {test.root} must have the same class subfolders as "
            f"{train.root} ({shown_names(train.class_names)}): {'; '.join(parts)}",
        )
    )


def _check_files(
    listing: ClassFolders,
    read: Callable[[Path], str | None],
    section: Any,
    where: ConfigPath,
    found: FolderReport,
) -> None:
    """Look at every listed file; name the ones TensorFlow could not read."""
    bad = {}
    for files in listing.files.values():
        for path in files:
            why = read(path)
            if why is not None:
                bad[path] = why
    if not bad:
        return
    found.bad_files.update(bad)
    shown_bad = "; ".join(
        f"{path.relative_to(listing.root)} {why}"
        for path, why in list(bad.items())[:_NAMED_FILES]
    )
    more = f"; and {len(bad) - _NAMED_FILES} more" if len(bad) > _NAMED_FILES else ""
    kind = "images" if section.source == "images" else "UTF-8 text files"
    if section.bad_files == "skip":
        _check_emptied(listing, bad, kind, where, found)
        found.issues.append(
            FolderIssue(
                where,
                f"{len(bad)} of the {_files(listing.count)} in {listing.root} "
                f"cannot be read as {kind} and will be skipped (bad_files: skip): "
                f"{shown_bad}{more}",
                severity="warning",
            )
        )
        return
    found.issues.append(
        FolderIssue(
            where,
            f"{len(bad)} of the {_files(listing.count)} in {listing.root} "
            f"cannot be read as {kind}: {shown_bad}{more}; fix or remove them, or set "
            "bad_files: skip to train without them",
        )
    )


def _check_emptied(
    listing: ClassFolders,
    bad: dict[Path, str],
    kind: str,
    where: ConfigPath,
    found: FolderReport,
) -> None:
    """A class whose every file is skipped is as an empty class folder: refused.

    Keras would keep its label with no sample, and the run would train a
    class it never sees, saying nothing.
    """
    for name, files in listing.files.items():
        if files and all(path in bad for path in files):
            found.issues.append(
                FolderIssue(
                    where,
                    f"all {_files(len(files))} of class folder "
                    f"{listing.root / name} cannot be read as {kind}, so "
                    "bad_files: skip would leave the class without samples; fix "
                    "them, remove the folder, or leave it out with class_names",
                )
            )


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _named(paths: list[Path], root: Path) -> str:
    """The first few paths relative to ``root``, and how many more."""
    names = [str(path.relative_to(root)) for path in paths[:_NAMED_FILES]]
    more = f" and {len(paths) - _NAMED_FILES} more" if len(paths) > _NAMED_FILES else ""
    return ", ".join(names) + more


def escaping_link(folder: Path, root: Path) -> Path | None:
    """The first symlink below ``folder`` that leads out of ``root``, if any.

    For ``--no-user-code``: Keras follows a symlinked class folder and reads
    symlinked files, so a folder inside the config's folder could still
    read files from anywhere.

    Args:
        folder: The data folder (``path`` or ``test_path``), resolved or not.
        root: The config's folder.

    Returns:
        The symlink (as found below ``folder``), or None.
    """
    try:
        top = root.resolve()
    except (OSError, RuntimeError):
        return None
    pending = [folder]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                found = list(entries)
        except OSError:
            continue
        for entry in found:
            if entry.is_symlink():
                try:
                    target = Path(entry.path).resolve()
                except (OSError, RuntimeError):
                    return Path(entry.path)
                if not target.is_relative_to(top):
                    return Path(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return None
