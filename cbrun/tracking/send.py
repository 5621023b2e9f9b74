"""``cbrun track``: recorded runs sent to MLflow afterwards, once each.

Each run dir is read with the hardened readers (run.json, history.json,
config.yaml) and looked up in the experiment by its run-dir id tag
(``cbrun.run_dir_id``): an MLflow run that was ended is left alone
("already tracked"); one that a failed attempt left open (half-logged) is
deleted and sent again. run.json then gets ``tracking`` and loses
``tracking_error``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbrun.atomic import write_json_atomic
from cbrun.errors import CbrunError, ExitCode
from cbrun.runs import manifest as runs
from cbrun.runs.layout import CONFIG_FILE, RUN_FILE
from cbrun.runs.listing import (
    RunsError,
    find_run_dirs,
    is_run_dir,
    is_sweep_folder,
    subfolders,
)
from cbrun.runs.lock import RunLockedError, run_lock
from cbrun.runs.reading import load_yaml
from cbrun.runs.sweep_layout import TRIALS_DIR
from cbrun.runs.sweeps import find_sweep_dirs, load_sweep_record
from cbrun.tracking import MlflowSettings, TrackerUnreachable, default_uri
from cbrun.tracking.params import config_params, run_dir_id, trial_params
from cbrun.tracking.runlog import close_run, log_epochs, open_run
from cbrun.tracking.store import client, error_line, experiment_id, find_tracked
from cbrun.tracking.sweep import close_sweep_run, open_sweep_run

SENT, ALREADY, SKIPPED, FAILED = "sent", "already tracked", "skipped", "failed"


class NotRunsError(CbrunError):
    """A folder given to ``cbrun track`` holds no run (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass
class Sent:
    """What became of one run dir.

    Attributes:
        run_dir: The run dir.
        outcome: ``sent``, ``already tracked``, ``skipped`` or ``failed``.
        detail: The MLflow run id, or why it was skipped or failed.
    """

    run_dir: Path
    outcome: str
    detail: str


def find_runs(targets: Sequence[Path]) -> list[Path]:
    """The run dirs of run dirs, sweep dirs (their trials) and runs dirs.

    Raises:
        NotRunsError: A target is none of these, or holds no run.
    """
    found: list[Path] = []
    for target in targets:
        target = Path(target)
        if is_run_dir(target):
            found.append(target)
            continue
        if is_sweep_folder(target):
            found += _trials(target)
            continue
        try:
            plain = find_run_dirs(target)
            sweeps = find_sweep_dirs(target)
        except RunsError as exc:
            raise NotRunsError(str(exc)) from None
        inside = sorted(plain) + [t for s in sorted(sweeps) for t in _trials(s)]
        if not inside:
            raise NotRunsError(
                f"{target} holds no run: give a run dir (with run.json), a sweep "
                "dir or a runs dir"
            )
        found += inside
    return list(dict.fromkeys(found))


def _trials(sweep_dir: Path) -> list[Path]:
    folder = Path(sweep_dir) / TRIALS_DIR
    return sorted(
        (d for d in subfolders(folder) if is_run_dir(d)),
        key=lambda d: (len(d.name), d.name),
    )


def send_runs(
    run_dirs: Iterable[Path],
    tracking_uri: str | None,
    experiment: str | None,
    report: Callable[[Sent], None],
) -> list[Sent]:
    """Send each run unless MLflow has it; report each outcome as it is known.

    Args:
        run_dirs: From :func:`find_runs`.
        tracking_uri: The store; default the run's config's
            ``tracking.mlflow.tracking_uri``, else ``MLFLOW_TRACKING_URI``,
            else mlflow.db beside its runs dir.
        experiment: Default the config's, else the run's name.
        report: Called with each outcome.

    Raises:
        TrackerUnreachable: The store cannot be reached (exit 3).
    """
    clients: dict[str, Any] = {}
    parents: dict[tuple[str, str, Path], str | None] = {}
    results = []
    for run_dir in run_dirs:
        result = _send_one(Path(run_dir), tracking_uri, experiment, clients, parents)
        report(result)
        results.append(result)
    return results


def _send_one(
    run_dir: Path,
    tracking_uri: str | None,
    experiment: str | None,
    clients: dict[str, Any],
    parents: dict[tuple[str, str, Path], str | None],
) -> Sent:
    try:
        record = runs.load_record(run_dir)
    except CbrunError as exc:
        return Sent(run_dir, SKIPPED, f"unreadable run.json: {exc}")
    if record.status == runs.RUNNING:
        return Sent(run_dir, SKIPPED, "still running")
    resolved = _resolved(run_dir)
    settings = _settings(run_dir, record, resolved, tracking_uri, experiment)
    mlflow_client = clients.get(settings.tracking_uri)
    try:
        if mlflow_client is None:
            mlflow_client = client(settings.tracking_uri)
            experiment_id(mlflow_client, settings.experiment, settings.tracking_uri)
            clients[settings.tracking_uri] = mlflow_client
    except Exception as exc:
        raise TrackerUnreachable(
            f"cannot reach the MLflow store {settings.tracking_uri}: "
            f"{error_line(exc)}; check the URI (--tracking-uri) and the server"
        ) from None
    try:
        with run_lock(run_dir):
            return _send_locked(
                mlflow_client, settings, run_dir, record, resolved, parents
            )
    except RunLockedError:
        return Sent(run_dir, SKIPPED, "in use by another process")
    except Exception as exc:
        return Sent(run_dir, FAILED, error_line(exc))


def _send_locked(
    mlflow_client: Any,
    settings: MlflowSettings,
    run_dir: Path,
    record: runs.RunRecord,
    resolved: dict[str, Any],
    parents: dict[tuple[str, str, Path], str | None],
) -> Sent:
    exp = experiment_id(mlflow_client, settings.experiment, settings.tracking_uri)
    found = find_tracked(mlflow_client, exp, run_dir_id(run_dir, record.started_at))
    if found is not None and _complete(found, record):
        run_id = found.info.run_id
        _write_tracking(run_dir, record, settings, run_id)
        return Sent(run_dir, ALREADY, run_id)
    if found is not None:  # half-logged by an attempt that failed
        mlflow_client.delete_run(found.info.run_id)
    params, _ = config_params(resolved)
    if record.trial is not None:
        params.update(trial_params(record.trial.get("params") or {}))
    parent = None
    if record.trial is not None:  # trials/<number>/ in the sweep dir
        sweep_dir = run_dir.absolute().parent.parent
        key = (settings.tracking_uri, settings.experiment, sweep_dir)
        if key not in parents:
            parents[key] = _sweep_parent(mlflow_client, settings, sweep_dir)
        parent = parents[key]
    opened = open_run(mlflow_client, settings, run_dir, record, params, parent)
    try:
        history: dict[str, list[float | None]] = runs.load_history(run_dir)
    except CbrunError:
        history = {}
    log_epochs(mlflow_client, opened.run_id, history)
    record = _write_tracking(run_dir, record, settings, opened.run_id)
    close_run(mlflow_client, opened.run_id, run_dir, record, settings.log_model)
    return Sent(run_dir, SENT, opened.run_id)


def _sweep_parent(
    mlflow_client: Any, settings: MlflowSettings, sweep_dir: Path
) -> str | None:
    """The parent run of a trial's sweep, found or made; None without sweep.json.

    A sweep that has ended gets its status and files at once; a running one
    keeps its run open for its live trials.
    """
    try:
        sweep = load_sweep_record(sweep_dir)
    except CbrunError:
        return None
    run_id = open_sweep_run(
        mlflow_client, settings, sweep_dir, sweep.name, sweep.started_at, {}
    )
    if sweep.status != "running":
        close_sweep_run(mlflow_client, run_id, sweep_dir, sweep.status)
    return run_id


def _complete(found: Any, record: runs.RunRecord) -> bool:
    """Whether an earlier attempt logged the run to the end it has now.

    An attempt cut short leaves the MLflow run open; a run resumed since
    it was logged has another status now. Either is sent again.
    """
    ended = found.info.status != "RUNNING"
    return bool(ended and found.data.tags.get("cbrun.status") == record.status)


def _write_tracking(
    run_dir: Path, record: runs.RunRecord, settings: MlflowSettings, run_id: str
) -> runs.RunRecord:
    """run.json with ``tracking`` set and ``tracking_error`` cleared (lock held)."""
    tracking = {
        "mlflow_run_id": run_id,
        "tracking_uri": settings.tracking_uri,
        "experiment": settings.experiment,
    }
    if record.tracking == tracking and record.tracking_error is None:
        return record
    record = runs.load_record(run_dir).model_copy(
        update={"tracking": tracking, "tracking_error": None}
    )
    write_json_atomic(run_dir / RUN_FILE, record.to_dict())
    return record


def _resolved(run_dir: Path) -> dict[str, Any]:
    """config.yaml's data, or ``{}`` if it cannot be read."""
    try:
        data = load_yaml(run_dir / CONFIG_FILE)
    except CbrunError:
        return {}
    return data if isinstance(data, dict) else {}


def _settings(
    run_dir: Path,
    record: runs.RunRecord,
    resolved: dict[str, Any],
    tracking_uri: str | None,
    experiment: str | None,
) -> MlflowSettings:
    section = (resolved.get("tracking") or {}).get("mlflow") or {}
    if not isinstance(section, dict):
        section = {}
    # runs/<name>/<stamp>/, or runs/<name>/sweep-<time>/trials/<n>/
    parents = run_dir.absolute().parents
    runs_dir = parents[min(3 if record.trial is not None else 1, len(parents) - 1)]
    uri = tracking_uri or section.get("tracking_uri") or default_uri(runs_dir)
    return MlflowSettings(
        tracking_uri=str(uri),
        experiment=str(experiment or section.get("experiment") or record.name),
        run_name=section.get("run_name") or None,
        log_model=section.get("log_model") is True,
    )
