"""The layout's import rules, read from every module's imports with ``ast``.

design section 6: ``config/`` and ``runs/`` stay TensorFlow-free and know
nothing of the Keras side, training or the CLI; only ``cbrun/keras/``
imports Keras and its backends; only ``cli/`` imports click; the shared
top-level modules depend on nothing of cbrun but errors. A new arrow that
goes the wrong way fails here, naming the file and line.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import REPO, python_output

PACKAGE = REPO / "cbrun"
HEAVY = ("keras", "tensorflow", "jax", "torch")
# Modules every layer may use: leaves that import nothing of cbrun but errors.
SHARED = ("cbrun.errors", "cbrun.atomic", "cbrun.suggest", "cbrun.cluster")
# runs/ reads config.yaml with the loader `cbrun validate` uses: one YAML
# reader with one set of limits. It is a leaf over the shared modules
# (test_the_yaml_loader_is_a_leaf).
RUNS_MAY_USE = ("cbrun.config.yaml_loader",)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = REPO) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in the file, at any depth."""
    found = []
    package = module_name(path, root).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this package
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            found.append((node.lineno, base))
    return found


def is_under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def forbidden(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``, or None if it may."""
    if imported == "cbrun":  # the package root: its version, its lazy API
        return None
    if imported.split(".")[0] == "click" and not is_under(importer, "cbrun.cli"):
        return "only cbrun/cli/ imports click (the core reports via a callback)"
    if imported.split(".")[0] in HEAVY and not is_under(importer, "cbrun.keras"):
        return "only the Keras side, cbrun/keras/, imports Keras and its backends"
    if imported.split(".")[0] == "optuna" and not is_under(importer, "cbrun.sweeper"):
        return "only the sweep engine, cbrun/sweeper/, imports Optuna"
    if imported.split(".")[0] == "mlflow" and not is_under(importer, "cbrun.tracking"):
        return "only the tracking package, cbrun/tracking/, imports MLflow"
    if is_under(importer, "cbrun.tracking") and is_under(
        imported,
        "cbrun.keras",
        "cbrun.training",
        "cbrun.sweeper",
        "cbrun.api",
        "cbrun.cli",
    ):
        return "tracking/ is a view of run dirs: it uses config/, runs/ and shared"
    if (
        is_under(imported, "cbrun.tracking")
        and not is_under(importer, "cbrun.tracking")
        and importer != "cbrun.api"
        and not is_under(importer, "cbrun.cli", "cbrun.training", "cbrun.sweeper")
    ):
        return "only the API, the CLI, training/ and the sweep engine use tracking/"
    if is_under(importer, "cbrun.sweeper") and is_under(
        imported, "cbrun.keras", "cbrun.api", "cbrun.cli"
    ):
        return "the sweep engine runs trials through training/, below API and CLI"
    if (
        is_under(imported, "cbrun.sweeper")
        and not is_under(importer, "cbrun.sweeper", "cbrun.cli")
        and importer != "cbrun.api"
    ):
        return "only the API and the CLI use the sweep engine"
    ours = is_under(imported, "cbrun")
    if (
        ours
        and is_under(importer, "cbrun.config")
        and not is_under(imported, "cbrun.config", *SHARED)
    ):
        return "config/ is the bottom layer: it imports only config/ and shared"
    if (
        ours
        and is_under(importer, "cbrun.runs")
        and not is_under(imported, "cbrun.runs", *SHARED, *RUNS_MAY_USE)
    ):
        return "runs/ reads run dirs on its own: only runs/ and shared modules"
    if is_under(importer, "cbrun.keras"):
        if is_under(imported, "cbrun.runs") and imported != "cbrun.runs.layout":
            return "the Keras side may know the run-dir layout, not runs/ internals"
        if is_under(imported, "cbrun.training", "cbrun.api", "cbrun.cli"):
            return "the Keras side is below training/, the API and the CLI"
    if is_under(importer, "cbrun.training") and is_under(
        imported, "cbrun.api", "cbrun.cli"
    ):
        return "training/ is below the API and the CLI"
    if importer in SHARED and ours and imported != "cbrun.errors":
        return "shared modules import nothing of cbrun but errors"
    return None


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        for line, imported in imports_of(path):
            reason = forbidden(importer, imported)
            if reason:
                where = path.relative_to(REPO)
                found.append(f"{where}:{line}: imports {imported}: {reason}")
    return found


def test_no_import_goes_the_wrong_way():
    assert violations() == []


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("cbrun.config.checks", "cbrun.keras.model"),
        ("cbrun.config.loading", "keras"),
        ("cbrun.runs.listing", "cbrun.config.suggest"),
        ("cbrun.runs.plots", "click"),
        ("cbrun.keras.backup", "cbrun.runs.manifest"),
        ("cbrun.keras.callbacks", "cbrun.training.plan"),
        ("cbrun.training.lifecycle", "click"),
        ("cbrun.training.lifecycle", "tensorflow"),
        ("cbrun.training.smoke", "cbrun.api"),
        ("cbrun.atomic", "cbrun.runs.layout"),
        ("cbrun.training.lifecycle", "optuna"),
        ("cbrun.keras.pruning", "optuna"),
        ("cbrun.training.lifecycle", "cbrun.sweeper.runner"),
        ("cbrun.sweeper.runner", "cbrun.keras.pruning"),
        ("cbrun.sweeper.runner", "cbrun.api"),
        ("cbrun.training.lifecycle", "mlflow"),
        ("cbrun.runs.listing", "mlflow.entities"),
        ("cbrun.tracking.live", "cbrun.training.lifecycle"),
        ("cbrun.tracking.live", "cbrun.keras.recorder"),
        ("cbrun.runs.listing", "cbrun.tracking"),
        ("cbrun.config.tracking", "cbrun.tracking.params"),
    ],
)
def test_each_rule_catches_its_arrow(importer, imported):
    assert forbidden(importer, imported) is not None


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("cbrun.cli", "click"),
        ("cbrun.cli.result_commands", "click"),
        ("cbrun.keras.model", "keras"),
        ("cbrun.keras.backup", "cbrun.runs.layout"),
        ("cbrun.training.assemble", "cbrun.keras.data"),
        ("cbrun.runs.listing", "cbrun.suggest"),
        ("cbrun.api", "cbrun.training.lifecycle"),
        ("cbrun.sweeper.study", "optuna"),
        ("cbrun.sweeper.runner", "cbrun.training.lifecycle"),
        ("cbrun.api", "cbrun.sweeper.runner"),
        ("cbrun.tracking.store", "mlflow"),
        ("cbrun.tracking.send", "cbrun.runs.manifest"),
        ("cbrun.tracking", "cbrun.config.tracking"),
        ("cbrun.api", "cbrun.tracking.live"),
        ("cbrun.cli", "cbrun.tracking.send"),
        ("cbrun.cli.result_commands", "cbrun.tracking.send"),
        ("cbrun.cli.training_commands", "cbrun.sweeper.runner"),
        ("cbrun.sweeper.runner", "cbrun.tracking.live"),
    ],
)
def test_the_intended_arrows_are_allowed(importer, imported):
    assert forbidden(importer, imported) is None


def test_relative_imports_are_resolved(tmp_path):
    folder = tmp_path / "cbrun" / "runs"
    folder.mkdir(parents=True)
    module = folder / "x.py"
    module.write_text("from ..keras import model\nfrom . import layout\n")
    assert [m for _, m in imports_of(module, tmp_path)] == ["cbrun.keras", "cbrun.runs"]


def test_import_cbrun_loads_neither_keras_nor_the_schemas():
    code = (
        "import json, sys, cbrun\n"
        "assert callable(cbrun.train) and cbrun.__version__\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tensorflow', 'keras', 'pydantic', 'yaml', 'click'} or "
        "m.startswith('cbrun.config'))))"
    )
    stdout = python_output(code)
    assert json.loads(stdout) == []


def test_cli_commands_stay_thin():
    """A command parses, calls the API, prints and exits: no logic of its own."""
    commands = [
        node
        for path in sorted((PACKAGE / "cli").glob("*.py"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef)
        and any("command" in ast.unparse(d) for d in node.decorator_list)
    ]
    assert len(commands) >= 8
    for command in commands:
        body = command.body[1:] if ast.get_docstring(command) else command.body
        lines = body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]
        assert lines <= 30, f"cli.{command.name}: {lines} lines of body"


def test_the_yaml_loader_is_a_leaf():
    """What runs/ may borrow from config/ needs nothing else of config/."""
    for name in RUNS_MAY_USE:
        path = PACKAGE / Path(*name.split(".")[1:]).with_suffix(".py")
        ours = [m for _, m in imports_of(path) if is_under(m, "cbrun")]
        assert all(is_under(m, *SHARED) for m in ours), (name, ours)
