"""The commands that read: callbacks, schema, runs, show, plot, compare, track."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cbrun.cli.app import cli
from cbrun.cli.common import echo_err, error_line, format_option
from cbrun.errors import CbrunError, ExitCode


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
    echo_err(f"wrote {output}")


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
        echo_err(nothing_listed(runs_dir, entries, names, statuses))


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
    echo_err(f"wrote {written}")


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
        echo_err(error_line(exc))
        sys.exit(exc.exit_code)
    failed = any(s.outcome == FAILED for s in sent)
    sys.exit(ExitCode.TRAINING_FAILED if failed else ExitCode.OK)
