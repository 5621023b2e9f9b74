"""Schema of ``keras.callbacks.BackupAndRestore``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.base import SaveFreq
from cbrun.config.callbacks.base import CallbackSchema


class BackupAndRestoreSchema(CallbackSchema):
    """Back up training state so an interrupted ``fit`` can resume.

    A relative ``backup_dir`` resolves inside the run dir. Keras removes the
    folder when training ends, so it must not exist when a run starts: cbrun
    creates it (a ``--resume`` finds the one it created for that run). Every
    run already has cbrun's own backup in ``backup/``; this callback adds a
    second one where you choose.

    Args:
        backup_dir: Where to keep the backup; required.
        save_freq: ``"epoch"`` or a number of batches. Defaults to
            ``"epoch"``.
        double_checkpoint: Keep the previous backup too, in case the newest
            is corrupt. Defaults to False.
        delete_checkpoint: Delete the backup when training ends well.
            Defaults to True.

    Example:
        ``{type: BackupAndRestore, backup_dir: my_backup}``
    """

    keras_class: ClassVar[str | None] = "BackupAndRestore"
    path_fields: ClassVar[tuple[str, ...]] = ("backup_dir",)
    summary: ClassVar[str] = "Back up training state so fit can resume."

    type: Literal["BackupAndRestore"]
    backup_dir: str = Field(min_length=1, description="Where to keep the backup.")
    save_freq: SaveFreq = Field(
        "epoch", description="`epoch`, or back up every N batches."
    )
    double_checkpoint: bool = Field(
        False, description="Keep the previous backup as well."
    )
    delete_checkpoint: bool = Field(
        True, description="Delete the backup when training ends well."
    )
