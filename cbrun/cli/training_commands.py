"""``cbrun validate``, ``train`` and ``sweep``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cbrun.cli.app import cli
from cbrun.cli.common import (
    NO_USER_CODE_HELP,
    allow_user_code,
    command_line,
    echo_err,
    error_line,
    format_option,
    print_report,
    say,
    set_option,
    track_option,
)
from cbrun.errors import CbrunError, ConfigError, ExitCode

if TYPE_CHECKING:
    from cbrun.cluster import Cluster


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="CONFIG_OR_DIR...")
@set_option
@format_option(
    ("text", "json"), "text: FILE:LINE:COL lines; json: one document for tools."
)
@click.option("--no-user-code", is_flag=True, help=NO_USER_CODE_HELP)
@click.option(
    "--deep",
    is_flag=True,
    help="Also import Keras and your code and build the data shapes, model, "
    "optimizer and callbacks (no training).",
)
def validate(
    targets: tuple[str, ...],
    overrides: tuple[str, ...],
    output_format: str,
    deep: bool,
    no_user_code: bool,
) -> None:
    """Check config files without importing TensorFlow or running their code.

    Reports every problem of every file as FILE:LINE:COL: where: what, with
    the fix. Directories are searched for *.yaml and *.yml. Exit code 0 when
    all are valid, 1 when any is not.

    \b
    Examples:
      cbrun validate configs/
      cbrun validate configs/earlystop.yaml --set fit.epochs=3
      cbrun validate configs/ --format json
      cbrun validate --deep configs/custom_callback.yaml
    """
    from cbrun import api

    report = api.validate(
        targets, overrides, deep=deep, allow_user_code=allow_user_code(no_user_code)
    )
    if output_format == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    sys.exit(ExitCode.OK if report.valid else ExitCode.INVALID_CONFIG)


@cli.command()
@click.argument("targets", nargs=-1, metavar="CONFIG_OR_DIR...")
@set_option
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Runs go to RUNS_DIR/<name>/<timestamp>/.",
)
@click.option("--verbose", is_flag=True, help="TensorFlow's logs and full tracebacks.")
@click.option(
    "--smoke",
    is_flag=True,
    help="Two epochs of two batches per config, every callback fired, into a "
    "temporary runs dir unless --runs-dir is given; one line per config.",
)
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --smoke: write a JUnit XML report for CI.",
)
@click.option("--no-user-code", is_flag=True, help=NO_USER_CODE_HELP)
@click.option(
    "--coordinator",
    metavar="HOST:PORT",
    help="data_parallel: process 0's address, the same for every process "
    "(or CBRUN_COORDINATOR).",
)
@click.option(
    "--num-processes",
    type=int,
    help="data_parallel: processes in the job (or CBRUN_NUM_PROCESSES).",
)
@click.option(
    "--process-id",
    type=int,
    help="data_parallel: this process, 0..N-1; 0 writes the run dir "
    "(or CBRUN_PROCESS_ID).",
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(path_type=Path),
    help="Continue this killed, crashed or interrupted run from its last "
    "finished epoch (only fit.epochs and fit.verbose may be --set).",
)
@track_option
@click.pass_context
def train(
    ctx: click.Context,
    targets: tuple[str, ...],
    overrides: tuple[str, ...],
    runs_dir: Path,
    verbose: bool,
    smoke: bool,
    junit_xml: Path | None,
    resume_dir: Path | None,
    no_user_code: bool,
    coordinator: str | None,
    num_processes: int | None,
    process_id: int | None,
    track: str | None,
) -> None:
    """Train the model of each config, one run directory per run.

    Every config is validated first; an invalid one stops everything before
    TensorFlow is imported (exit 1). Keras's progress goes to stdout, cbrun's
    own lines to stderr. Exit codes: 0 done (an early stop is done), 1 invalid
    config, 3 training failed or stopped on NaN, 130 Ctrl-C, 143 SIGTERM.

    \b
    Examples:
      cbrun train configs/earlystop.yaml
      cbrun train configs/earlystop.yaml --set fit.epochs=5 --runs-dir /tmp/runs
      cbrun train --smoke configs/*.yaml --junit-xml smoke.xml
      cbrun train --resume runs/earlystop/20261126-150248 --set fit.epochs=50
      cbrun train configs/earlystop.yaml --track mlflow
      cbrun train configs/data_parallel.yaml --coordinator node-0:1234 \\
          --num-processes 2 --process-id 0
    """
    if junit_xml is not None and not smoke:
        raise click.UsageError("--junit-xml needs --smoke")
    if resume_dir is not None and (targets or smoke):
        raise click.UsageError("--resume takes no config files and no --smoke")
    if resume_dir is None and not targets:
        raise click.UsageError("Missing argument 'CONFIG_OR_DIR...'.")
    if track and (smoke or resume_dir is not None):
        raise click.UsageError("--track goes with new runs: not --smoke or --resume")
    from cbrun.cluster import parse_cluster
    from cbrun.training.signals import signals_unwind

    try:
        cluster = parse_cluster(coordinator, num_processes, process_id)
    except CbrunError as exc:
        raise click.UsageError(str(exc)) from None
    allow = allow_user_code(no_user_code)
    with signals_unwind():  # SIGTERM while configs load: exit 143, not killed.
        if resume_dir is not None:
            _resume(resume_dir, overrides, verbose, allow, cluster)
        elif smoke:
            explicit = ctx.get_parameter_source("runs_dir")
            commandline = explicit is click.core.ParameterSource.COMMANDLINE
            given = runs_dir if commandline else None
            _smoke(targets, overrides, given, junit_xml, allow)
        else:
            _train(targets, overrides, runs_dir, verbose, allow, cluster, track)


def _train(
    targets: tuple[str, ...],
    overrides: tuple[str, ...],
    runs_dir: Path,
    verbose: bool,
    allow_user_code: bool | None,
    cluster: Cluster,
    track: str | None = None,
) -> None:
    """Check every config first (no TensorFlow yet), then train them in turn."""
    from cbrun import api
    from cbrun.tracking import require_mlflow

    loaded, report = api.load_configs(
        targets, overrides, allow_user_code=allow_user_code
    )
    for problem in report.problems:
        echo_err(problem.format())
    if not report.valid:
        sys.exit(ExitCode.INVALID_CONFIG)
    try:
        for config in loaded:
            cluster.check_fits(config.experiment.distribute, config.path)
    except CbrunError as exc:
        raise click.UsageError(str(exc)) from None
    tracked = [c.experiment.tracking for c in loaded]
    if track or any(t is not None and t.mlflow is not None for t in tracked):
        try:
            require_mlflow()  # before any run starts
        except CbrunError as exc:
            echo_err(error_line(exc))
            sys.exit(exc.exit_code)
    worst = ExitCode.OK
    for config in loaded:
        try:
            api.train(
                config,
                runs_dir=runs_dir,
                verbose=verbose,
                echo=say,
                cluster=cluster,
                command=command_line(),
                track=track,
            )
        except ConfigError as exc:
            echo_err(str(exc))
            worst = max(worst, ExitCode.INVALID_CONFIG)
        except CbrunError as exc:
            if exc.exit_code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
                raise
            echo_err(error_line(exc))
            worst = max(worst, exc.exit_code)
    sys.exit(worst)


def _resume(
    run_dir: Path,
    overrides: tuple[str, ...],
    verbose: bool,
    allow_user_code: bool | None,
    cluster: Cluster,
) -> None:
    from cbrun import api
    from cbrun.training.resume import AlreadyFinished

    try:
        api.resume(
            run_dir,
            overrides,
            verbose=verbose,
            echo=say,
            allow_user_code=allow_user_code,
            cluster=cluster,
            command=command_line(),
        )
    except AlreadyFinished as exc:
        echo_err(error_line(exc))
        sys.exit(ExitCode.OK)


def _smoke(
    targets: tuple[str, ...],
    overrides: tuple[str, ...],
    runs_dir: Path | None,
    junit_xml: Path | None,
    allow_user_code: bool | None,
) -> None:
    import time

    from cbrun import api
    from cbrun.training import smoke

    start = time.perf_counter()
    results = api.smoke(
        targets,
        overrides,
        runs_dir=runs_dir,
        report=lambda result: click.echo(smoke.format_line(result)),
        allow_user_code=allow_user_code,
        command=command_line(),
    )
    click.echo(smoke.summary(results, time.perf_counter() - start))
    if junit_xml is not None:
        smoke.write_junit_xml(results, junit_xml)
        echo_err(f"wrote {junit_xml}")
    sys.exit(smoke.exit_code(results))


@cli.command("sweep")
@click.argument("config", required=False, type=click.Path(path_type=Path))
@set_option
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    help="Trials in the whole study (default: sweep.trials).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Start no trial after this many seconds (default: sweep.timeout).",
)
@click.option(
    "--storage",
    metavar="URL",
    help="Share a study between workers: a journal file path (on a shared "
    "file system) or sqlite:///FILE, postgresql://... Default: a journal file "
    "in the sweep dir.",
)
@click.option(
    "--study",
    metavar="NAME",
    help="The study's name in --storage (default: the config's name).",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The sweep goes to RUNS_DIR/<name>/sweep-<time>/ (default: runs).",
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(path_type=Path),
    metavar="SWEEP_DIR",
    help="Continue this killed or interrupted sweep to its trial count.",
)
@click.option(
    "--smoke",
    is_flag=True,
    help="Two trials, each two epochs of two batches, in a temporary runs dir "
    "unless --runs-dir is given.",
)
@click.option("--no-user-code", is_flag=True, help=NO_USER_CODE_HELP)
@click.option(
    "--verbose",
    is_flag=True,
    help="TensorFlow's and Optuna's logs and each trial's own lines.",
)
@track_option
def sweep_command(
    config: Path | None,
    overrides: tuple[str, ...],
    trials: int | None,
    timeout: float | None,
    storage: str | None,
    study: str | None,
    runs_dir: Path | None,
    resume_dir: Path | None,
    smoke: bool,
    no_user_code: bool,
    verbose: bool,
    track: str | None,
) -> None:
    """Search the config's sweep: space with Optuna, one run dir per trial.

    Trials run in this process until the study has its trials (every worker's
    counted) or the timeout passes; each is a normal run dir in
    runs/<name>/sweep-<time>/trials/<number>/. One line per trial, then the
    best trial; sweep.json, trials.csv, best.yaml and pictures are in the
    sweep dir. Exit codes: 0 done (some trials may have failed), 1 invalid
    config, 2 usage (no Optuna, bad storage, another config's study), 3 no
    trial of the study completed, 130 Ctrl-C, 143 SIGTERM.

    \b
    Examples:
      cbrun sweep configs/sweep.yaml
      cbrun sweep configs/sweep.yaml --trials 50 --timeout 3600
      cbrun sweep --smoke configs/sweep.yaml
      cbrun sweep --resume runs/digits-sweep/sweep-20261130-170000
      cbrun sweep configs/sweep.yaml --storage sqlite:///sweep.db --study lr
      cbrun sweep configs/sweep.yaml --track mlflow
    """
    if (config is None) == (resume_dir is None):
        raise click.UsageError("give a CONFIG, or --resume SWEEP_DIR (not both)")
    if resume_dir is not None and (overrides or smoke):
        raise click.UsageError("--resume continues a sweep as is: no --set, --smoke")
    from cbrun import api
    from cbrun.sweeper.lines import closing_lines, trial_line
    from cbrun.training.signals import signals_unwind

    temporary = smoke and runs_dir is None and resume_dir is None
    with signals_unwind():  # SIGTERM between trials: exit 143, not killed.
        result = api.sweep(
            config,
            runs_dir=None if temporary else (runs_dir or Path("runs")),
            overrides=overrides,
            trials=trials,
            timeout=timeout,
            storage=storage,
            study=study,
            smoke=smoke,
            resume_dir=resume_dir,
            verbose=verbose,
            echo=say,
            on_trial=lambda outcome: click.echo(trial_line(outcome)),
            allow_user_code=allow_user_code(no_user_code),
            command=command_line(),
            track=track,
        )
    click.echo("\n".join(closing_lines(result, temporary)))
    sys.exit(ExitCode.OK if result.record.best else ExitCode.TRAINING_FAILED)
