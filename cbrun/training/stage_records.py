"""run.json's record of a staged run's stages, and where ``--resume`` continues.

No TensorFlow: :func:`start_point` reads run.json's ``stages`` (one entry per
stage begun) and the backup's epoch, and says which stage to fit first and
whether the backup must first be restored in the stage before it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class StageRecord:
    """run.json's entry for a stage begun (epochs numbered from 1).

    Attributes:
        name: The stage's name.
        epochs: Its planned number of epochs.
        first_epoch: The first epoch it trains.
        last_epoch: The last epoch it trained, once it ended (the last one
            finished when the run was cut short inside it); else None.
        stop_reason: Why it ended before its epochs were done, else None.
        interrupted: The run was cut short inside it (a signal, an error):
            ``--resume`` continues inside it, as in a stage still running.
    """

    name: str
    epochs: int
    first_epoch: int
    last_epoch: int | None = None
    stop_reason: str | None = None
    interrupted: bool = False

    @classmethod
    def from_json(cls, data: Any) -> StageRecord | None:
        """Read an entry of run.json's ``stages``; None if it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            record = cls(**data)
        except TypeError:
            return None
        counts = (record.epochs, record.first_epoch)
        if not all(_is_count(v) for v in counts) or not isinstance(record.name, str):
            return None
        if record.last_epoch is not None and not _is_count(record.last_epoch):
            return None
        if not isinstance(record.interrupted, bool):
            return None
        return record

    def done_by(self, epochs: int) -> bool:
        """Whether the stage had ended within the first ``epochs`` epochs."""
        return (
            self.last_epoch is not None
            and self.last_epoch <= epochs
            and not self.interrupted
        )


def _parsed(records: Sequence[Any]) -> list[StageRecord]:
    """run.json's ``stages`` entries that read as stage records."""
    parsed = (StageRecord.from_json(data) for data in records)
    return [record for record in parsed if record is not None]


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class StartPoint:
    """Where a staged run starts training.

    Attributes:
        stage: The index of the first stage to fit.
        stage_start: The 0-based epoch that stage began at (a resumed stage
            began before ``epoch``).
        epoch: Epochs already trained (the backup's).
        restore_in: A stage whose setup the backup was saved in, to restore
            into before ``stage`` begins (a resume between two stages); None.
        records: run.json's entries of the stages begun before ``stage``.
    """

    stage: int
    stage_start: int
    epoch: int
    restore_in: int | None
    records: list[StageRecord]


def start_point(records: Sequence[Any], epoch: int, stages: int) -> StartPoint:
    """Where a (resumed) staged run continues, from run.json's ``stages``.

    Args:
        records: run.json's ``stages`` entries (empty for a new run).
        epoch: Epochs the backup holds.
        stages: How many stages the config has.

    The backup of ``epoch`` was saved in the stage that trained that epoch:
    inside a stage, the run continues there (the backup restores its
    optimizer); at the end of a stage, the backup is restored in that
    stage's setup and the next stage begins as it would have.
    """
    kept = _parsed(records)
    if epoch == 0 or not kept:
        return StartPoint(0, 0, 0, None, [])
    done = 0
    while done < len(kept) and kept[done].done_by(epoch):
        done += 1
    if done < len(kept) and kept[done].first_epoch - 1 < epoch:
        inside = kept[done]
        return StartPoint(done, inside.first_epoch - 1, epoch, None, kept[:done])
    # Between stages: the last finished one trained epoch `epoch`.
    last = done - 1
    finished = [dataclasses.replace(r) for r in kept[:done]]
    return StartPoint(min(done, stages), epoch, epoch, max(last, 0), finished)


def stage_names(records: Sequence[Any], epochs: int) -> list[str]:
    """The stage of each of the first ``epochs`` epochs, from run.json's ``stages``."""
    names: list[str] = []
    for record in _parsed(records):
        end = record.last_epoch if record.last_epoch is not None else epochs
        names += [record.name] * max(0, min(end, epochs) - (record.first_epoch - 1))
    return names[:epochs]
