"""What a table file is when it is not the CSV text (or Parquet) its source reads.

A spreadsheet saved as ``.xlsx`` and named in a ``csv`` source, or a binary
file under a ``.csv`` name, is described from its first bytes (never quoted)
with the fix, in one wording that ``cbrun validate`` (without TensorFlow)
and training share, so both stop at the data path's line with the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cbrun.atomic import open_regular
from cbrun.errors import ConfigPath
from cbrun.suggest import describe_start

Report = Callable[..., None]

# Enough of the start to tell text from a binary file, and an Excel
# workbook's first ZIP entries from another archive's.
SNIFF_BYTES = 4096
PARQUET_MAGIC = b"PAR1"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc: old Office files
_ZIP = b"PK\x03\x04"
# Starts describe_start calls fine to read as CSV: the reader says the rest.
_READABLE = ("text", "text that is not UTF-8", "nothing (the file is empty)")


def describe_table_start(head: bytes, name: str) -> str:
    """Say what a file that should be a table looks like, without quoting it.

    Args:
        head: The file's first bytes (:data:`SNIFF_BYTES` of them).
        name: The file's name, whose suffix helps tell a workbook.

    Returns:
        E.g. ``a ZIP archive, as an Excel .xlsx workbook is``, ``a Parquet
        file``, or what :func:`cbrun.suggest.describe_start` says.
    """
    suffix = Path(name).suffix.lower()
    if head.startswith(PARQUET_MAGIC):
        return "a Parquet file"
    if head.startswith(_OLE2):
        return "an old Office file, as an Excel .xls workbook is"
    if head.startswith(_ZIP):
        if b"opendocument.spreadsheet" in head or suffix == ".ods":
            return "a ZIP archive, as an OpenDocument .ods spreadsheet is"
        if b"xl/" in head or suffix in (".xlsx", ".xlsm"):
            return "a ZIP archive, as an Excel .xlsx workbook is"
        if b".npy" in head or suffix == ".npz":
            return "a ZIP archive of arrays, as a NumPy .npz file is"
        if b"[Content_Types].xml" in head:  # the first entry of every OOXML file
            return "a ZIP archive, as an Office file (an Excel .xlsx workbook) is"
    return describe_start(head)


def _fix(what: str, source: str) -> str:
    """What to do about a file that looks like ``what``."""
    if what.startswith("UTF-16"):
        return "save it as UTF-8 text"
    if what == "a Parquet file" and source == "csv":
        return "name it .parquet (cbrun reads Parquet by the name's suffix)"
    if "NumPy .npz" in what:
        return "name it .npz" if source == "timeseries" else "use source: npz"
    if what in ("a PEM key or certificate", "an executable"):
        return "fix the path (this is no table)"
    other = "an .npz of arrays" if source == "timeseries" else "Parquet"
    return f"save it as CSV/TSV (UTF-8 text) or {other}"


def not_csv_text(head: bytes, name: str, source: str = "csv") -> str | None:
    """The reason a file named as a CSV/TSV cannot be read as one, or None.

    Text (UTF-8 or not) and an empty file return None: the CSV reader names
    the first byte that is not UTF-8, and an empty file is said as such.

    Args:
        head: The file's first bytes.
        name: The file's name.
        source: ``csv`` or ``timeseries``, whose fixes differ.

    Returns:
        ``the file does not look like CSV text (it starts like ...); <fix>``,
        to follow ``cannot read <file> as CSV: ``.
    """
    what = describe_table_start(head, name)
    if what in _READABLE:
        return None
    return (
        f"the file does not look like CSV text (it starts like {what}); "
        f"{_fix(what, source)}"
    )


def not_parquet(head: bytes, name: str) -> str | None:
    """The reason a ``.parquet`` file cannot be read as Parquet, or None.

    Returns:
        ``it does not start with Parquet's magic bytes PAR1 (it starts like
        ...); <fix>``, to follow ``cannot read <file> as Parquet: ``.
    """
    if head.startswith(PARQUET_MAGIC):
        return None
    what = describe_table_start(head, name)
    fix = (
        "name it .csv (or .tsv)"
        if what == "text"
        else "save it as Parquet, or as CSV/TSV (UTF-8 text) named .csv"
    )
    return (
        f"it does not start with Parquet's magic bytes PAR1 (it starts like "
        f"{what}); {fix}"
    )


def check_table_kind(
    path: Path, where: ConfigPath, report: Report, source: str = "csv"
) -> bool:
    """Report a table that is not CSV text (or not Parquet, by its suffix).

    Reads the first :data:`SNIFF_BYTES` only; a file it cannot open is left
    to training, which says why at the same key.

    Returns:
        Whether a problem was reported (the file needs no further checks).
    """
    try:
        with open_regular(path) as raw:
            head = raw.read(SNIFF_BYTES)
    except OSError:
        return False
    if source == "csv" and path.suffix.lower() == ".parquet":
        reason, kind = not_parquet(head, path.name), "Parquet"
    else:
        reason, kind = not_csv_text(head, path.name, source), "CSV"
    if reason is None:
        return False
    report(where, f"cannot read {path.name} as {kind}: {reason}")
    return True
