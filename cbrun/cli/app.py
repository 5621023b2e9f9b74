"""The ``cbrun`` group and ``main``: domain errors and signals to exit codes."""

from __future__ import annotations

import sys

import click

from cbrun import __version__
from cbrun.cli.common import echo_err, error_line
from cbrun.errors import CbrunError, ExitCode


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
        echo_err(f"Interrupted ({name})." if name else "Aborted.")
        sys.exit(getattr(cause, "exit_code", ExitCode.INTERRUPTED))
    except CbrunError as exc:
        echo_err(error_line(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        # A SIGTERM outside a run arrives as a KeyboardInterrupt carrying 143.
        name = getattr(exc, "signal_name", "SIGINT")
        echo_err(f"Interrupted ({name}).")
        sys.exit(getattr(exc, "exit_code", ExitCode.INTERRUPTED))
    except Exception as exc:
        signals = sys.modules.get("cbrun.training.signals")
        stop = signals.stopped_by() if signals is not None else None
        if stop is not None:
            # A library wrapped the signal's exception (pydantic does while it
            # builds a schema): the signal, not the wrapper, is the story.
            echo_err(f"Interrupted ({stop.signal_name}).")
            sys.exit(stop.exit_code)
        # A bug in cbrun or an unexpected library error: one line, and the way
        # to get the whole story, instead of a traceback.
        if "--verbose" in sys.argv:
            raise
        echo_err(
            f"cbrun: unexpected {type(exc).__name__}: {exc}; rerun with --verbose "
            "for the traceback, and please report it"
        )
        sys.exit(ExitCode.TRAINING_FAILED)
