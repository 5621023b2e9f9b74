"""The ``cbrun`` command line: parse, call, print, exit code.

Heavy imports (Keras, TensorFlow) happen inside the commands that need them,
so ``--help``, ``validate``, ``callbacks`` and ``schema`` stay fast.

The group and ``main`` are in :mod:`cbrun.cli.app`; the commands register
themselves on it from :mod:`cbrun.cli.training_commands` and
:mod:`cbrun.cli.result_commands`.
"""

from cbrun.cli import result_commands, training_commands  # noqa: F401 (register)
from cbrun.cli.app import cli, main

__all__ = ["cli", "main"]
