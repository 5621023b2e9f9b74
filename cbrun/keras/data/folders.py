"""What the ``images`` and ``text`` loaders share: folders in, batched streams out.

The pipelines are the ones ``keras.utils.image_dataset_from_directory`` /
``text_dataset_from_directory`` return, called as a keras-io script calls
them (``validation_split=fit.validation_split, subset="both", seed=seed,
shuffle=True, batch_size=fit.batch_size``), so a run and the hand-written
script see the same files in the same order and get the same history.

Splits, all from the one seeded file order Keras makes:

* ``fit.validation_split`` alone: Keras's split, as in the script.
* ``test_size`` alone: Keras's split, its "validation" part being the test set.
* both: Keras splits off ``validation_split + test_size`` of the files (its
  training part is the training set); that held-out part, in Keras's fixed
  (unshuffled) order, gives its first ``int(validation_split * files)``
  files to validation and the rest to test. Three disjoint sets, each
  reproducible from the seed.
* ``test_path``: a second call on that folder, unshuffled, with the training
  folder's class names (so label indexes agree).

``bad_files: skip`` leaves the files :mod:`cbrun.config.folder_checks`
found unreadable out of Keras's file lists and builds the pipelines with
Keras's own (private) ``paths_and_labels_to_dataset``. Files that pass
those checks but still fail to decode are found first, in one decoding pass
over every file (opt-in cost: about the time of one epoch's reading), so a
bad file drops that file, never its batch, and the count is exact.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cbrun.config.folder_checks import FolderReport, inspect_folders
from cbrun.errors import BuildError
from cbrun.keras.data.common import Dataset, Streams


@dataclass
class FolderKind:
    """How one folder source calls Keras.

    Attributes:
        name: The source name, for messages (``images``).
        extensions: The file extensions the utility lists.
        utility: ``keras.utils.*_dataset_from_directory``.
        options: The keyword arguments of the utility beyond the shared ones.
        probe: Read (and decode) one file as the utility does, for
            ``bad_files: skip``; it raises on a file the pipeline would fail on.
        rebuild: Build an unbatched ``(x, label)`` dataset from a file list as
            the utility does:
            ``rebuild(paths, labels, num_classes, shuffle, buffer, seed)``.
        shape: What one sample is, for the description (``64x64 rgb``).
        scale: Multiply the inputs by this, or None.
    """

    name: str
    extensions: tuple[str, ...]
    utility: Callable[..., Any]
    options: dict[str, Any]
    probe: Callable[[Any], Any]
    rebuild: Callable[..., Any]
    shape: str = ""
    scale: float | None = None


@dataclass
class _Part:
    """One split: the pipeline Keras made, its file list, and their folder."""

    dataset: Any
    files: list[str]
    root: Path


def load_folders(
    config: Any,
    kind: FolderKind,
    *,
    seed: int,
    base_dir: Path,
    batch_size: int,
    validation_split: float,
) -> Dataset:
    """Build the train/validation/test streams of an ``images`` or ``text`` section.

    Raises:
        BuildError: A folder problem ``validate`` reports too, or a split
            that leaves a part without files.
    """
    report = inspect_folders(config, base_dir)
    if report.errors:
        first = report.errors[0]
        raise BuildError(first.message, first.where)
    assert report.train is not None  # no errors: the folder was listed
    class_names = report.train.class_names
    test_size = 0.0 if config.test_path is not None else (config.test_size or 0.0)
    common = {
        "label_mode": config.label_mode,
        "class_names": config.class_names,
        "batch_size": batch_size,
        **kind.options,
    }
    train, validation, test = _split(
        kind,
        base_dir / Path(config.path).expanduser(),
        common,
        seed=seed,
        validation_split=validation_split,
        test_size=test_size,
        total=report.train.count,
    )
    if config.test_path is not None:
        options = {**common, "class_names": class_names}
        test_root = base_dir / Path(config.test_path).expanduser()
        # A seed, though unshuffled: without one Keras draws one from NumPy's
        # global generator, which would shift what the run draws next.
        test = _call(kind, test_root, options, shuffle=False, seed=seed)
    skipped: list[str] = []
    if config.bad_files == "skip":
        skipped = _skip_bad_files(
            kind, report, class_names, (train, validation, test), batch_size, seed
        )
    if kind.scale is not None:
        for part in (train, validation, test):
            if part is not None:
                part.dataset = _scaled(part.dataset, kind.scale)
    labels = _class_indexes(train.files, train.root, class_names)
    streams = Streams(
        train=train.dataset,
        validation=None if validation is None else validation.dataset,
        test=None if test is None else test.dataset,
        train_samples=len(train.files),
        train_labels=labels,
    )
    if config.bad_files == "error":
        # Damage only a decoder finds (a GIF's pixel data) fails mid-epoch;
        # the run then names the files instead of quoting the decoder alone.
        listed = [
            path for part in (train, validation, test) if part for path in part.files
        ]
        streams.find_bad_files = functools.partial(
            _shown_undecodable, listed, kind.probe, base_dir
        )
    return Dataset(
        x_train=None,  # type: ignore[arg-type]  # a stream has no arrays
        y_train=None,  # type: ignore[arg-type]
        x_test=None,
        y_test=None,
        task="classification",
        num_classes=len(class_names),
        description=_describe(
            kind, config.path, (train, validation, test), class_names, skipped
        ),
        streams=streams,
    )


def _split(
    kind: FolderKind,
    root: Path,
    options: dict[str, Any],
    *,
    seed: int,
    validation_split: float,
    test_size: float,
    total: int,
) -> tuple[_Part, _Part | None, _Part | None]:
    """Train, validation and test parts of one folder (see the module docstring)."""
    held_out = validation_split + test_size
    if held_out >= 1:
        raise BuildError(
            f"fit.validation_split ({validation_split}) + test_size ({test_size}) "
            f"= {held_out:g} leaves no training files; make the sum less than 1",
            ("data", "test_size"),
        )
    if not held_out:
        return _call(kind, root, options, shuffle=True, seed=seed), None, None
    where = ("data", "test_size") if test_size else ("fit", "validation_split")
    n_validation = int(validation_split * total)
    if validation_split and not n_validation:
        raise BuildError(
            f"fit.validation_split {validation_split} of {total} files is no file; "
            f"raise it to at least {1 / total:.3g} or add files",
            ("fit", "validation_split"),
        )
    train, rest = _call(
        kind,
        root,
        {**options, "validation_split": held_out, "subset": "both"},
        shuffle=True,
        seed=seed,
        where=where,
    )
    if not test_size:
        return train, rest, None
    if not validation_split:
        return train, None, rest
    if len(rest.files) <= n_validation:
        raise BuildError(
            f"test_size {test_size} of {total} files is no file; raise it to at "
            f"least {1 / total:.3g} or add files",
            ("data", "test_size"),
        )
    import tensorflow as tf

    batch_size = options["batch_size"]
    samples = rest.dataset.unbatch()
    n_test = len(rest.files) - n_validation
    # unbatch() forgets the size; Keras wants it to count steps without warning.
    validation = _Part(
        _batched(
            samples.take(n_validation).apply(
                tf.data.experimental.assert_cardinality(n_validation)
            ),
            batch_size,
        ),
        rest.files[:n_validation],
        root,
    )
    test = _Part(
        _batched(
            samples.skip(n_validation).apply(
                tf.data.experimental.assert_cardinality(n_test)
            ),
            batch_size,
        ),
        rest.files[n_validation:],
        root,
    )
    return train, validation, test


def _call(
    kind: FolderKind,
    root: Path,
    options: dict[str, Any],
    *,
    shuffle: bool,
    seed: int | None = None,
    where: tuple[str, ...] = ("data", "path"),
) -> Any:
    """Call the Keras utility; its "Found N files" lines stay out of the log.

    Returns:
        One :class:`_Part`, or two for ``subset="both"``.
    """
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            made = kind.utility(str(root), shuffle=shuffle, seed=seed, **options)
    except ValueError as error:
        raise BuildError(
            f"Keras cannot read {root} as {kind.name}: {error}", where
        ) from None
    parts = made if isinstance(made, list) else [made]
    if all(hasattr(part, "file_paths") for part in parts):
        lists = [list(part.file_paths) for part in parts]
    else:  # text_dataset_from_directory does not say which files it took
        lists = _file_lists(kind, root, options, shuffle=shuffle, seed=seed)
    found = tuple(
        _Part(part, files, root) for part, files in zip(parts, lists, strict=True)
    )
    return found if isinstance(made, list) else found[0]


def _file_lists(
    kind: FolderKind,
    root: Path,
    options: dict[str, Any],
    *,
    shuffle: bool,
    seed: int | None,
) -> list[list[str]]:
    """The files of each part in Keras's order, listed as the utility lists them.

    The same (private) Keras functions the utility calls, with its arguments:
    the files, their seeded shuffle and the split are the utility's.
    """
    from keras.src.utils import dataset_utils

    with contextlib.redirect_stdout(io.StringIO()):
        paths, labels, _ = dataset_utils.index_directory(
            str(root),
            "inferred",
            formats=kind.extensions,
            class_names=options.get("class_names"),
            shuffle=shuffle,
            seed=seed,
            verbose=False,
        )
        split = options.get("validation_split")
        if not split:
            return [list(paths)]
        return [
            list(
                dataset_utils.get_training_or_validation_split(
                    paths, labels, split, subset
                )[0]
            )
            for subset in ("training", "validation")
        ]


def _batched(dataset: Any, batch_size: int) -> Any:
    import tensorflow as tf

    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _scaled(dataset: Any, scale: float) -> Any:
    """Multiply each batch's inputs by ``scale`` (float32), as a Rescaling layer."""
    import tensorflow as tf

    factor = tf.constant(scale, tf.float32)
    return dataset.map(
        lambda x, y: (x * factor, y), num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(tf.data.AUTOTUNE)


def _skip_bad_files(
    kind: FolderKind,
    report: FolderReport,
    class_names: list[str],
    parts: Sequence[_Part | None],
    batch_size: int,
    seed: int,
) -> list[str]:
    """Rebuild each part without the unreadable files; return those left out.

    Unreadable: what validate found (signatures, ends, UTF-8), and what
    TensorFlow then fails to decode in one pass over the other files (so
    the count is exact and each part keeps a known size).
    """
    import tensorflow as tf

    listed = [path for part in parts if part is not None for path in part.files]
    bad = {str(path) for path in report.bad_files}
    bad |= _undecodable([path for path in listed if path not in bad], kind.probe)
    _refuse_emptied_classes(parts, bad)
    for index, part in enumerate(parts):
        if part is None:
            continue
        kept = [path for path in part.files if path not in bad]
        if not kept:
            raise BuildError(
                f"every file of a split is unreadable ({len(part.files)} files); "
                "fix the files",
                ("data", "bad_files"),
            )
        labels = _class_indexes(kept, part.root, class_names).astype(np.int32)
        shuffle = index == 0  # only the training part is shuffled, as in Keras
        dataset = kind.rebuild(
            kept, labels, len(class_names), shuffle, batch_size * 8, seed
        )
        part.dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
        part.files = kept
    return [path for path in listed if path in bad]


def _refuse_emptied_classes(parts: Sequence[_Part | None], bad: set[str]) -> None:
    """Refuse a class folder whose every file is unreadable, as validate does.

    Validate refuses it when the damage shows in the files' headers; damage
    only decoding finds shows here. Keras would keep the class's label with
    no sample.

    Raises:
        BuildError: At ``data.bad_files``, naming the class folder.
    """
    by_class: dict[Path, list[str]] = {}
    for part in parts:
        if part is not None:
            for path in part.files:
                folder = part.root / Path(path).relative_to(part.root).parts[0]
                by_class.setdefault(folder, []).append(path)
    for folder, files in by_class.items():
        if all(path in bad for path in files):
            count = f"{len(files)} file" + ("" if len(files) == 1 else "s")
            raise BuildError(
                f"all {count} of class folder {folder} cannot be decoded, so "
                "bad_files: skip would leave the class without samples; fix "
                "them, remove the folder, or leave it out with class_names",
                ("data", "bad_files"),
            )


def _undecodable(paths: list[str], probe: Callable[[Any], Any]) -> set[str]:
    """The files ``probe`` (a read and decode, as Keras's map does) fails on."""
    import tensorflow as tf

    if not paths:
        return set()
    decoded = (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(lambda path: (path, probe(path)), num_parallel_calls=tf.data.AUTOTUNE)
        .ignore_errors()
    )
    read = {path.decode() for path, _ in decoded.as_numpy_iterator()}
    return set(paths) - read


def _shown_undecodable(
    paths: list[str], probe: Callable[[Any], Any], base_dir: Path
) -> list[str]:
    """The files of ``paths`` that do not decode, as the config's folder sees them."""
    shown = []
    for path in sorted(_undecodable(paths, probe)):
        relative = os.path.relpath(path, base_dir)
        shown.append(path if relative.startswith("..") else relative)
    return shown


def _class_indexes(files: list[str], root: Path, class_names: list[str]) -> Any:
    """The class index of each training file, from its class folder's name."""
    index = {name: position for position, name in enumerate(class_names)}
    labels = [index[Path(path).relative_to(root).parts[0]] for path in files]
    return np.asarray(labels, dtype=np.int64)


def _describe(
    kind: FolderKind,
    path: str,
    parts: tuple[_Part, _Part | None, _Part | None],
    class_names: list[str],
    skipped: list[str],
) -> str:
    """The log line, e.g. ``images data/flowers: 120 train, 30 validation, ...``.

    The rest: ``20 test, 3 classes (a, b, c), 64x64 rgb``.
    """
    train, validation, test = parts
    counts = [f"{len(train.files)} train"]
    if validation is not None:
        counts.append(f"{len(validation.files)} validation")
    counts.append(f"{len(test.files)} test" if test is not None else "no test")
    shown = ", ".join(class_names[:10]) + (", ..." if len(class_names) > 10 else "")
    text = (
        f"{kind.name} {path}: {', '.join(counts)}, {len(class_names)} classes ({shown})"
    )
    if kind.shape:
        text += f", {kind.shape}"
    if skipped:
        names = ", ".join(Path(path).name for path in skipped[:3])
        more = ", ..." if len(skipped) > 3 else ""
        files = "file" if len(skipped) == 1 else "files"
        text += f", {len(skipped)} unreadable {files} skipped ({names}{more})"
    return text
