"""The ``cbrun`` command line: parse, call, print, exit code.

Heavy imports (Keras, TensorFlow) happen inside the commands that need them,
so ``--help``, ``validate``, ``callbacks`` and ``schema`` stay fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cbrun import __version__
from cbrun.errors import CbrunError, ConfigError, ExitCode

if TYPE_CHECKING:
    from cbrun.api import Report
    from cbrun.cluster import Cluster


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


# Shared by validate and train: the same overrides mean the same config.
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value, e.g. fit.epochs=3 or callbacks.EarlyStopping.patience=5.",
)


def format_option(choices: tuple[str, str], help_text: str) -> Any:
    """``--format``: people's form first (the default), then ``json``."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help=help_text,
    )


# --track: the trackers a run may also be shown in (cbrun.tracking.TRACKERS).
track_option = click.option(
    "--track",
    type=click.Choice(["mlflow"]),
    help="Also log to MLflow: URI from MLFLOW_TRACKING_URI, else "
    "sqlite:///mlflow.db beside the runs dir; the config's tracking.mlflow "
    "settings apply (pip install 'cbrun[mlflow]').",
)

NO_USER_CODE_HELP = (
    "Refuse configs that name code to import (package.module:name); also set by "
    "CBRUN_NO_USER_CODE=1. For configs you do not trust."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cbrun")
def cli() -> None:
    """Keras training runs from one reviewable YAML file.

    \b
    Examples:
      cbrun train configs/earlystop.yaml   a real run into runs/earlystop/<time>/
      cbrun validate configs/              check every config, no TensorFlow
      cbrun callbacks EarlyStopping        one callback's parameters
      cbrun schema -o cbrun.schema.json    JSON Schema for your editor
    """


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
        targets, overrides, deep=deep, allow_user_code=_allow_user_code(no_user_code)
    )
    if output_format == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    sys.exit(ExitCode.OK if report.valid else ExitCode.INVALID_CONFIG)


def _allow_user_code(no_user_code: bool) -> bool | None:
    """--no-user-code refuses; without it the API decides (CBRUN_NO_USER_CODE)."""
    return False if no_user_code else None


def _print_report(report: Report) -> None:
    """FILE:LINE:COL lines on stdout, the count on stderr."""
    for file in report.files:
        for problem in file.problems:
            click.echo(problem.format())
        if file.valid:
            click.echo(f"{file.file}: ok")
    total, invalid = len(report.files), len(report.invalid)
    if invalid:
        _echo_err(f"{invalid} of {total} config(s) invalid")
    else:
        _echo_err(f"{total} config(s) valid")


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
    allow = _allow_user_code(no_user_code)
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


def _error_line(exc: Exception) -> str:
    """``cbrun: <message>``, control characters escaped.

    Messages quote files cbrun did not write (a config from a pull request, a
    run dir): no raw escape sequence may reach the terminal or a CI log.
    """
    from cbrun.runs.printable import printable_lines

    return f"cbrun: {printable_lines(str(exc))}"


def _say(message: str) -> None:
    """Cbrun's own lines during a run: on stderr, apart from Keras's stdout."""
    click.echo(f"cbrun: {message}", err=True)


def _command() -> list[str]:
    """The command line as typed, for run.json."""
    return ["cbrun", *sys.argv[1:]]


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
        _echo_err(problem.format())
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
            _echo_err(_error_line(exc))
            sys.exit(exc.exit_code)
    worst = ExitCode.OK
    for config in loaded:
        try:
            api.train(
                config,
                runs_dir=runs_dir,
                verbose=verbose,
                echo=_say,
                cluster=cluster,
                command=_command(),
                track=track,
            )
        except ConfigError as exc:
            _echo_err(str(exc))
            worst = max(worst, ExitCode.INVALID_CONFIG)
        except CbrunError as exc:
            if exc.exit_code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
                raise
            _echo_err(_error_line(exc))
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
            echo=_say,
            allow_user_code=allow_user_code,
            cluster=cluster,
            command=_command(),
        )
    except AlreadyFinished as exc:
        _echo_err(_error_line(exc))
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
        command=_command(),
    )
    click.echo(smoke.summary(results, time.perf_counter() - start))
    if junit_xml is not None:
        smoke.write_junit_xml(results, junit_xml)
        _echo_err(f"wrote {junit_xml}")
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
            echo=_say,
            on_trial=lambda outcome: click.echo(trial_line(outcome)),
            allow_user_code=_allow_user_code(no_user_code),
            command=_command(),
            track=track,
        )
    click.echo("\n".join(closing_lines(result, temporary)))
    sys.exit(ExitCode.OK if result.record.best else ExitCode.TRAINING_FAILED)


@cli.command()
@click.argument("name", required=False)
def callbacks(name: str | None) -> None:
    """List the callbacks a config can use, or one callback's parameters.

    \b
    Examples:
      cbrun callbacks
      cbrun callbacks ModelCheckpoint
    """
    from cbrun.config import catalog

    if name is None:
        click.echo(catalog.table())
        return
    details = catalog.details(name)
    if details is None:
        raise click.UsageError(
            f"unknown callback {name!r}{catalog.did_you_mean_callback(name)}; "
            "`cbrun callbacks` lists them"
        )
    click.echo(details)


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of stdout.",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of a config file, for editors' YAML plugins.

    \b
    Examples:
      cbrun schema -o cbrun.schema.json
      # then, first line of a config:
      # yaml-language-server: $schema=../cbrun.schema.json
    """
    from cbrun.config.json_schema import config_json_schema

    text = json.dumps(config_json_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    if not output.parent.is_dir():
        raise click.UsageError(
            f"cannot write {output}: folder {output.parent} does not exist; "
            "create it first or pick another -o"
        )
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"cannot write {output}: {exc.strerror}") from None
    _echo_err(f"wrote {output}")


@cli.command("runs")
@click.argument(
    "runs_dir",
    required=False,
    default=Path("runs"),
    type=click.Path(path_type=Path),
    metavar="[RUNS_DIR]",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="NAME",
    help="Only runs and sweeps of this experiment; a pattern such as 'mnist*' "
    "works. Repeatable.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    # cbrun.runs.listing.LISTED_STATUSES, spelt out to keep --help import-free.
    type=click.Choice(
        [
            "running",
            "completed",
            "stopped_early",
            "terminated_nan",
            "failed",
            "interrupted",
            "pruned",
            "dead",
            "corrupt",
        ]
    ),
    help="Only runs with this status. Repeatable. dead: running, but its "
    "process on this machine is gone; corrupt: run.json is unreadable. A "
    "sweep is listed if it or any of its trials has it, with those trials.",
)
@format_option(
    ("table", "json"),
    "table: aligned columns; json: a list of objects for tools (a sweep "
    'has "kind": "sweep" and its trials nested).',
)
@click.option(
    "--trials/--no-trials",
    default=True,
    show_default=True,
    help="List each sweep's trials under it, indented; --no-trials: one row a "
    "sweep (the table only: json always nests them).",
)
def runs_command(
    runs_dir: Path,
    names: tuple[str, ...],
    statuses: tuple[str, ...],
    output_format: str,
    trials: bool,
) -> None:
    """List the runs and sweeps, newest first: status, epochs, best value.

    Reads only each run's run.json: fast, and no TensorFlow. RUNS_DIR
    (default: runs) holds <name>/<time>/ run dirs and <name>/sweep-<time>/
    sweeps; it may also be one experiment's folder, one run dir or one
    sweep. A sweep is one row (trials finished of planned, best trial) with
    its trials under it. A running run whose process is gone is listed as
    dead (resume it with cbrun train --resume RUN_DIR), a run with an
    unreadable run.json as corrupt.

    \b
    Examples:
      cbrun runs
      cbrun runs /tmp/runs --name 'mnist*' --status stopped_early
      cbrun runs --status dead
      cbrun runs --no-trials
      cbrun runs --format json
    """
    from cbrun.runs.overview import (
        entries_as_json,
        filter_entries,
        format_entries,
        list_entries,
        nothing_listed,
    )

    entries = list_entries(runs_dir)
    shown = filter_entries(entries, names, statuses)
    if output_format == "json":
        click.echo(entries_as_json(shown))
    elif shown:
        click.echo(format_entries(shown, trials=trials))
    if not shown:
        _echo_err(nothing_listed(runs_dir, entries, names, statuses))


@cli.command("show")
@click.argument("run_dir", type=click.Path(path_type=Path), metavar="RUN_OR_SWEEP_DIR")
@format_option(
    ("text", "json"),
    "text: for people; json: the object cbrun runs --format json lists for it.",
)
def show_command(run_dir: Path, output_format: str) -> None:
    """Show one run (summary, config.yaml, files) or one sweep.

    RUN_OR_SWEEP_DIR is a folder holding run.json, as `cbrun runs` lists
    them, or a sweep's folder (sweep.json): its study, best trial and a
    table of its trials with their params. A corrupt run.json or sweep.json
    or a missing history is reported, not fatal.

    \b
    Examples:
      cbrun show runs/earlystop/20261126-150248
      cbrun show runs/sweep/sweep-20261130-170000
      cbrun show /tmp/runs/mnist/20261126-093000-1 --format json
    """
    from cbrun.runs.show import show

    click.echo(show(run_dir, "json" if output_format == "json" else "text"))


@cli.command("plot")
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path),
    metavar="RUN_DIR...",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The image (.png, .svg, .pdf, ...). Default: RUN_DIR/history.png "
    "for one run, runs.png for several.",
)
@click.option(
    "--metrics",
    metavar="NAMES",
    help="Comma-separated panels, in this order: loss,accuracy (each with its "
    "val_ curve), val_loss (alone), learning_rate. Default: all, accuracy-like "
    "first, then losses, then the learning rate if it changed.",
)
def plot_command(
    run_dirs: tuple[Path, ...], output: Path | None, metrics: str | None
) -> None:
    """Plot metrics per epoch: one panel each, train and validation curves.

    The learning rate gets its own panel (log scale) when it changed. A star
    marks the best epoch of the monitored metric, a dotted line an early
    stop. Several runs are overlaid, one colour each, labelled name/time.

    \b
    Examples:
      cbrun plot runs/earlystop/20261126-150248
      cbrun plot runs/earlystop/* -o earlystop.png --metrics loss,accuracy
    """
    from cbrun.runs.plots import default_output, plot_runs

    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    written = plot_runs(list(run_dirs), output or default_output(run_dirs), names)
    _echo_err(f"wrote {written}")


@cli.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
def compare_command(run_a: Path, run_b: Path) -> None:
    """Compare two runs: config differences, then metrics side by side.

    Config differences come from each run's config.yaml as dotted keys
    (fit.epochs: 10 -> 20, callbacks[0].patience: 3 -> 5). Metrics: status,
    epochs run, duration, best value, the final value of every history
    metric and the test metrics, with B - A.

    \b
    Examples:
      cbrun compare runs/earlystop/20261126-150248 runs/earlystop/20261126-151002
    """
    from cbrun.runs.compare import compare_runs

    click.echo(compare_runs(run_a, run_b))


@cli.command("track")
@click.argument(
    "targets",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path),
    metavar="RUN_DIR...",
)
@click.option(
    "--tracking-uri",
    metavar="URI",
    help="The MLflow store (default: the run's tracking.mlflow.tracking_uri, "
    "else MLFLOW_TRACKING_URI, else sqlite:///mlflow.db beside the runs dir).",
)
@click.option(
    "--experiment",
    metavar="NAME",
    help="The MLflow experiment (default: the config's, else the run's name).",
)
def track_command(
    targets: tuple[Path, ...], tracking_uri: str | None, experiment: str | None
) -> None:
    """Send recorded runs to MLflow, once each (a run MLflow has is skipped).

    RUN_DIR may be a run dir, a sweep dir (its trials) or a runs dir (every
    run and trial in it). Runs still training are skipped. Each run dir's
    run.json then holds its MLflow run id. Exit codes: 0 every run sent or
    skipped, 2 a folder holds no run or MLflow is missing, 3 the store cannot
    be reached or a run could not be sent.

    \b
    Examples:
      cbrun track runs/earlystop/20261126-150248
      cbrun track runs --tracking-uri sqlite:///mlflow.db
      cbrun track runs/digits-sweep/sweep-20261130-170000 --experiment digits
    """
    from cbrun.runs.printable import printable
    from cbrun.tracking import require_mlflow
    from cbrun.tracking.send import FAILED, find_runs, send_runs

    try:
        run_dirs = find_runs(targets)
        require_mlflow()
        sent = send_runs(
            run_dirs,
            tracking_uri,
            experiment,
            lambda s: click.echo(printable(f"{s.outcome}: {s.run_dir} ({s.detail})")),
        )
    except CbrunError as exc:
        _echo_err(_error_line(exc))
        sys.exit(exc.exit_code)
    failed = any(s.outcome == FAILED for s in sent)
    sys.exit(ExitCode.TRAINING_FAILED if failed else ExitCode.OK)


# Commands whose output is their whole result: a reader that stops early
# (`| head`) got what it asked for. validate and train keep their verdict.
_OUTPUT_COMMANDS = frozenset({"callbacks", "schema", "runs", "show", "compare"})


def _output_only() -> bool:
    """Whether this invocation only prints (help, version, a listing)."""
    args = sys.argv[1:]
    if any(a in ("--help", "-h", "--version") for a in args):
        return True
    command = next((a for a in args if not a.startswith("-")), None)
    return command in _OUTPUT_COMMANDS


def main() -> None:
    """Run the CLI, turning domain errors into messages and exit codes."""
    try:
        cli.main(standalone_mode=False)
    except SystemExit:
        # click turns EPIPE (`cbrun callbacks | head -1`) into exit 1 after
        # wrapping stdout; the reader closed the pipe having what it wanted.
        # (The wrapper's class name changed in click 8.2; match either.)
        pacified = type(sys.stdout).__name__.endswith("PacifyFlushWrapper")
        if pacified and _output_only():
            sys.exit(ExitCode.OK)
        raise
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Abort as exc:
        # click turns a KeyboardInterrupt into Abort; a SIGTERM's keeps 143.
        cause = exc.__cause__ or exc.__context__
        name = getattr(cause, "signal_name", None)
        _echo_err(f"Interrupted ({name})." if name else "Aborted.")
        sys.exit(getattr(cause, "exit_code", ExitCode.INTERRUPTED))
    except CbrunError as exc:
        _echo_err(_error_line(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        # A SIGTERM outside a run arrives as a KeyboardInterrupt carrying 143.
        name = getattr(exc, "signal_name", "SIGINT")
        _echo_err(f"Interrupted ({name}).")
        sys.exit(getattr(exc, "exit_code", ExitCode.INTERRUPTED))
    except Exception as exc:
        signals = sys.modules.get("cbrun.training.signals")
        stop = signals.stopped_by() if signals is not None else None
        if stop is not None:
            # A library wrapped the signal's exception (pydantic does while it
            # builds a schema): the signal, not the wrapper, is the story.
            _echo_err(f"Interrupted ({stop.signal_name}).")
            sys.exit(stop.exit_code)
        # A bug in cbrun or an unexpected library error: one line, and the way
        # to get the whole story, instead of a traceback.
        if "--verbose" in sys.argv:
            raise
        _echo_err(
            f"cbrun: unexpected {type(exc).__name__}: {exc}; rerun with --verbose "
            "for the traceback, and please report it"
        )
        sys.exit(ExitCode.TRAINING_FAILED)
