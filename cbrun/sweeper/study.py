"""The Optuna study of a sweep: storage, sampler, pruner, and its config's hash.

Storage is a journal file in the sweep dir unless ``--storage`` names one:
a journal file path (on a shared file system for many machines) or an RDB
URL (``sqlite:///sweep.db``, ``postgresql://user@host/db``). Workers that
share a study must sweep the same config: the study keeps the hash of the
config that made it (user attr ``cbrun_config_hash``) and refuses another.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage

from cbrun.config.experiment import ExperimentConfig
from cbrun.config.sweep import SweepConfig
from cbrun.runs.sweep_layout import JOURNAL_FILE
from cbrun.sweeper import SweepError
from cbrun.sweeper.space import grid

HASH_ATTR = "cbrun_config_hash"
"""The study's user attr holding the hash of the config that made it."""

# A fresh SQLite file opened by two workers at once may race while its tables
# are created; a short retry lets the second see the first's tables.
_OPEN_ATTEMPTS = 5
_RETRY_SECONDS = 0.5
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


def config_hash(experiment: ExperimentConfig) -> str:
    """sha256 of the resolved config, without the sweep's trials and timeout.

    Workers may ask for more trials or another timeout; anything else that
    differs (data, model, space, seed, ...) makes another study.
    """
    data = experiment.model_dump(mode="json")
    sweep = dict(data.get("sweep") or {})
    sweep.pop("trials", None)
    sweep.pop("timeout", None)
    data["sweep"] = sweep
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def shown_storage(url: str) -> str:
    """The storage as sweep.json records it: an RDB URL's password hidden."""
    return _PASSWORD.sub(r"\1***@", url)


def is_rdb_url(storage: str) -> bool:
    """Whether ``storage`` is an RDB URL rather than a journal file path."""
    return "://" in storage


def open_storage(storage: str | None, sweep_dir: Path) -> tuple[BaseStorage, str]:
    """Open the study's storage.

    Args:
        storage: ``--storage``: a journal file path or an RDB URL; None for
            ``journal.log`` in the sweep dir.
        sweep_dir: The sweep's folder.

    Returns:
        The storage, and how sweep.json records it (``journal.log`` for the
        default, an absolute path for a journal file, the URL without its
        password).

    Raises:
        SweepError: It cannot be opened, naming it and why.
    """
    if storage is None:
        path = sweep_dir / JOURNAL_FILE
        return _journal(path, str(path)), JOURNAL_FILE
    if not is_rdb_url(storage):
        path = Path(storage).absolute()
        return _journal(path, storage), str(path)
    shown = shown_storage(storage)
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return RDBStorage(storage), shown
        except ImportError:
            raise _unopenable(
                shown,
                "its database driver is not installed (for PostgreSQL: "
                "pip install psycopg2-binary)",
            ) from None
        except Exception as exc:
            if attempt + 1 == _OPEN_ATTEMPTS or not _may_race(exc):
                raise _unopenable(shown, _first_line(exc)) from None
            time.sleep(_RETRY_SECONDS)
    raise AssertionError("unreachable")


def _journal(path: Path, given: str) -> JournalStorage:
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a folder; name a file in it")
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise _unopenable(given, exc.strerror or str(exc)) from None


def _may_race(exc: Exception) -> bool:
    """Whether another worker creating the same tables at once explains it."""
    text = str(exc).lower()
    return any(
        sign in text for sign in ("already exists", "locked", "unique constraint")
    )


def _unopenable(storage: str, reason: str) -> SweepError:
    return SweepError(
        f"cannot open the sweep storage {storage}: {reason}; --storage takes a "
        "journal file path (its folder must exist) or a URL such as "
        "sqlite:///sweep.db or postgresql://user@host/db"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_sampler(sweep: SweepConfig) -> None:
    """Refuse, before a sweep dir exists, a sampler whose package is missing.

    Raises:
        SweepError: ``cmaes`` without the cmaes package.
    """
    if sweep.sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise SweepError("sampler cmaes needs the cmaes package: pip install cmaes")


def make_sampler(sweep: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded.

    Optuna's ExperimentalWarning (QMC) is not for the sweep's user: the
    sampler is named in the config, and its output is what the sweep says.

    Raises:
        SweepError: ``cmaes`` without its package installed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(sweep, seed)


def _sampler(sweep: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    name = sweep.sampler
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return _AskTellGrid(grid(sweep.space), seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    check_sampler(sweep)
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


class _AskTellGrid(optuna.samplers.GridSampler):
    """GridSampler without its ``study.stop()`` once the grid is done.

    ``stop`` works only inside ``study.optimize``; the runner asks
    :meth:`is_exhausted` before every trial instead.
    """

    def after_trial(self, *args: Any) -> None:
        """Nothing: see the class docstring."""


def make_pruner(sweep: SweepConfig) -> optuna.pruners.BasePruner:
    """The configured pruner.

    ``median``: a trial stops after an epoch whose value is worse than the
    median of earlier trials at that epoch, once 2 trials have finished
    (``n_startup_trials=2``; Optuna's default of 5 would never prune a
    sweep of 5 trials) and never in the first epoch (``n_warmup_steps=1``:
    a first epoch says little). ``hyperband`` and ``successive_halving``
    take Optuna's defaults (the epoch is the resource); ``none`` never
    prunes.
    """
    name = sweep.pruner
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def sampler_seed(seed: int, shared: bool, existing: int) -> int:
    """The sampler's seed: the config's, varied where repeats would collide.

    A fresh sweep in its own journal uses the config's seed. A resumed study
    (``existing`` trials already) adds their count, so a seeded sampler does
    not propose the first trials' points again; a worker on shared storage
    adds its host and pid, so that workers started together draw apart.
    """
    if not shared:
        return (seed + existing) % 2**32
    salt = f"{seed}:{existing}:{socket.gethostname()}:{os.getpid()}"
    return int(hashlib.sha256(salt.encode()).hexdigest()[:8], 16)


def open_study(
    storage: BaseStorage,
    shown: str,
    name: str,
    direction: Literal["maximize", "minimize"],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    config_digest: str,
) -> optuna.Study:
    """Create the study, or load it when it exists and was made from this config.

    Raises:
        SweepError: The study exists with another config's hash or another
            direction, or the storage fails.
    """
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        recorded = study.user_attrs.get(HASH_ATTR)
        if recorded is None:
            study.set_user_attr(HASH_ATTR, config_digest)
            recorded = config_digest
    except SweepError:
        raise
    except Exception as exc:
        raise SweepError(
            f"cannot open study {name!r} in {shown}: {_first_line(exc)}"
        ) from None
    if recorded != config_digest:
        raise SweepError(
            f"study {name!r} in {shown} was made from another config (hash "
            f"{str(recorded)[:12]}, this one {config_digest[:12]}); workers of one "
            "study must sweep the same config and --set values: pass another "
            "--study NAME for this config"
        )
    if study.direction.name.lower() != direction:
        raise SweepError(
            f"study {name!r} in {shown} is to {study.direction.name.lower()}, "
            f"this config to {direction}; pass another --study NAME"
        )
    return study
