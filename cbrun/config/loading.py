"""Load a config file: YAML with positions, overrides, schemas, cross checks."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cbrun.config.backend_checks import backend_checks
from cbrun.config.callback_outputs import callback_output_problems
from cbrun.config.checks import cross_checks
from cbrun.config.data_checks import data_file_checks
from cbrun.config.experiment import RUN_NAME_PATTERN, ExperimentConfig
from cbrun.config.graph_checks import graph_checks
from cbrun.config.overrides import apply_overrides
from cbrun.config.preprocessing_checks import preprocessing_checks
from cbrun.config.problems import (
    first_problems,
    make_problem,
    problems_from_validation,
)
from cbrun.config.stage_checks import check_stages
from cbrun.config.sweep import check_sweep
from cbrun.config.tracking import check_tracking
from cbrun.config.user_code import refusal_message, refusals
from cbrun.config.yaml_loader import SourceMap, load_yaml_file
from cbrun.errors import ConfigError, Problem

CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass
class LoadedConfig:
    """A validated config and everything needed to report on it.

    Attributes:
        path: The config file.
        experiment: The validated config, with ``name`` filled in.
        data: The plain data it was validated from (overrides applied).
        source: Where each value came from.
        warnings: Problems that do not stop a run.
        overrides: The ``--set`` strings applied.
        import_root: The folder user code is imported from and relative data
            paths resolve against; defaults to the config file's folder.
    """

    path: Path
    experiment: ExperimentConfig
    data: dict[str, Any]
    source: SourceMap
    warnings: list[Problem] = field(default_factory=list)
    overrides: tuple[str, ...] = ()
    import_root: Path | None = None

    @property
    def base_dir(self) -> Path:
        """Where user code and relative data paths are found."""
        return self.import_root or self.path.parent

    @property
    def name(self) -> str:
        """The run name (``name`` or the file's stem)."""
        assert self.experiment.name is not None
        return self.experiment.name


def _whole_file(file: str, message: str) -> ConfigError:
    return ConfigError([Problem(file, 0, 0, "", message)])


def _default_name(path: Path, file: str) -> str:
    stem = path.stem
    if re.match(RUN_NAME_PATTERN, stem):
        return stem
    raise _whole_file(
        file,
        f"the file name {stem!r} cannot be a run name (one folder name of letters, "
        "digits, '.', '_' and '-'); add `name: ...` to the config",
    )


def load_config(
    path: Path,
    overrides: Sequence[str] = (),
    display: str | None = None,
    *,
    allow_user_code: bool = True,
    base_dir: Path | None = None,
) -> LoadedConfig:
    """Load and check one config file.

    Args:
        path: The YAML file.
        overrides: ``--set KEY=VALUE`` strings, applied in order.
        display: The file name used in messages; defaults to ``str(path)``.
        allow_user_code: False refuses configs that name code to import.
        base_dir: Where relative data paths start (and user code is
            imported from); defaults to the file's folder. A run's
            config.yaml keeps its original config's folder (``--resume``).

    Returns:
        The validated config, with any warnings.

    Raises:
        ConfigError: With every problem found (and the warnings), in file order.
    """
    file = display or str(path)
    document = load_yaml_file(path, file)
    loaded = _checked(
        path,
        file,
        document.data,
        document.source,
        overrides,
        allow_user_code,
        base_dir=base_dir,
    )
    loaded.import_root = base_dir
    return loaded


def load_mapping(
    data: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    base_dir: Path | None = None,
    display: str = "<mapping>",
    allow_user_code: bool = True,
) -> LoadedConfig:
    """Check a config given as a Python mapping, as :func:`load_config` checks a file.

    Problems name ``display`` as their file, without line numbers.

    Args:
        data: The config, as YAML would load it (it is not modified).
        overrides: ``--set KEY=VALUE`` strings, applied in order.
        base_dir: Where user code and relative data paths are found;
            defaults to the current folder.
        display: The file name used in messages.
        allow_user_code: False refuses configs that name code to import.

    Raises:
        ConfigError: With every problem found, as :func:`load_config`.
    """
    folder = Path.cwd() if base_dir is None else Path(base_dir)
    try:
        loaded = _checked(
            folder / display,
            display,
            copy.deepcopy(dict(data)),
            SourceMap(display),
            overrides,
            allow_user_code,
            default_name="run",
        )
    except ConfigError as exc:
        raise ConfigError(_unplaced(exc.problems)) from None
    loaded.import_root = folder
    loaded.warnings = _unplaced(loaded.warnings)
    return loaded


def _unplaced(problems: Sequence[Problem]) -> list[Problem]:
    """A mapping has no lines: problems name the place by its keys alone."""
    return [dataclasses.replace(p, line=0, column=0) for p in problems]


def _checked(
    path: Path,
    file: str,
    data: Any,
    source: SourceMap,
    overrides: Sequence[str],
    allow_user_code: bool,
    default_name: str | None = None,
    base_dir: Path | None = None,
) -> LoadedConfig:
    """Validate a loaded document: overrides, schemas, cross checks."""
    folder = path.parent if base_dir is None else base_dir
    if data is None:
        raise _whole_file(
            file, "the file is empty; a config needs at least `data` and `model`"
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"{type(data).__name__}"
        raise _whole_file(
            file,
            f"the top level must be a mapping (`data:`, `model:`, ...), got {kind}",
        )
    data = apply_overrides(data, source, overrides)
    try:
        experiment = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, data, source)) from None
    problems = cross_checks(experiment, data, source)
    problems += check_sweep(experiment, data, source)
    problems += check_tracking(experiment, data, source)
    problems += backend_checks(experiment, data, source)
    problems += graph_checks(experiment, data, source)
    problems += preprocessing_checks(experiment, data, source)
    problems += check_stages(experiment, data, source)
    refused = [] if allow_user_code else list(refusals(data, folder))
    if not any(refusal.where[:1] == ("data",) for refusal in refused):
        # A refused data path (one leading out of the config's folder) is
        # never opened, not even to check a file's first bytes.
        problems += data_file_checks(experiment, data, source, folder)
    problems += callback_output_problems(
        experiment, data, source, confined=not allow_user_code
    )
    problems += [
        make_problem(
            source, data, refusal.where, refusal_message(refusal), key=refusal.key
        )
        for refusal in refused
    ]
    problems.sort(key=lambda p: (p.line, p.column))
    if any(p.severity == "error" for p in problems):
        raise ConfigError(first_problems(problems))
    if experiment.name is None:
        name = default_name or _default_name(path, file)
        experiment = experiment.model_copy(update={"name": name})
    return LoadedConfig(
        path=path,
        experiment=experiment,
        data=data,
        source=source,
        warnings=problems,
        overrides=tuple(overrides),
    )


def find_configs(targets: Iterable[str]) -> tuple[list[Path], list[Problem]]:
    """Expand files and directories into config files.

    Directories are searched recursively for ``*.yaml`` and ``*.yml``.

    Returns:
        The files, in a stable order, and problems for targets that name
        nothing usable (a missing path, a directory without configs).
    """
    files: list[Path] = []
    problems: list[Problem] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in CONFIG_SUFFIXES and p.is_file()
            )
            if not found:
                problems.append(
                    Problem(
                        target, 0, 0, "", "no *.yaml or *.yml files in this directory"
                    )
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem(target, 0, 0, "", "no such file or directory"))
    return list(dict.fromkeys(files)), problems
