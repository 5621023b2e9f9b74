"""The sweep engine: ``cbrun sweep`` on Optuna's ask/tell API (design section 10).

Named ``sweeper``, not ``sweep``: a subpackage ``cbrun.sweep`` would replace
the API function ``cbrun.sweep`` on the package once imported.

The only package that imports Optuna, and only inside its modules, so that
``import cbrun.sweeper`` works without it and :func:`require_optuna` can say
what to install. Trials run through :mod:`cbrun.training` like any run:

- ``space``: the ``sweep.space`` section as ``trial.suggest_*`` calls;
- ``study``: the storage (a journal file by default), sampler, pruner and
  the study itself, refusing a study made from another config;
- ``pruning``: a trial's per-epoch report to the pruner;
- ``trials``: one trial: its config, its run, its value;
- ``records``: ``sweep.json``, ``trials.csv``, ``best.yaml``;
- ``pictures``: Optuna's matplotlib plots of the study;
- ``resume``: reading a sweep dir back and failing its killed trials;
- ``runner``: the loop that asks, runs and tells until the study is full.
"""

from __future__ import annotations

from cbrun.errors import CbrunError, ExitCode

OPTUNA_MISSING = "cbrun sweep needs Optuna: pip install 'cbrun[sweep]'"


class SweepError(CbrunError):
    """A sweep cannot start or continue: bad storage, study or sweep dir (exit 2)."""

    exit_code = ExitCode.USAGE


def require_optuna() -> None:
    """Check that Optuna can be imported, before anything heavy.

    Raises:
        SweepError: It is not installed (or blocked), naming what to install.
    """
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise SweepError(OPTUNA_MISSING) from None


__all__ = ["OPTUNA_MISSING", "SweepError", "require_optuna"]
