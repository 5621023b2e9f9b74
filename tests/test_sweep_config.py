"""The ``sweep:`` section, checked by `cbrun validate` without TensorFlow or Optuna.

Every bad input of issue 15's sweep section has an exact position (the space
key's line, a choice item's own line, a bound), the value and the fix; the
engine's entry points (:func:`sweep_objective`, :func:`apply_params`) are
checked here too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.config.json_schema import config_json_schema
from cbrun.config.loading import load_config, load_mapping
from cbrun.config.sweep_apply import apply_params
from cbrun.config.sweep_checks import sweep_objective, sweep_problems
from cbrun.errors import ConfigError
from tests.conftest import CONFIGS, REPO, run_python
from tests.hang_guard import fails_after

# 14 lines: the sweep section's own lines start at line 15.
BASE = """\
data: {source: sklearn, name: digits, scale: 0.0625}
model:
  layers:
    - {type: Flatten}
    - {type: Dense, units: 32, activation: relu}
    - {type: Dense, units: 10, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.001}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 5, batch_size: 32, validation_split: 0.1}
callbacks:
  - {type: EarlyStopping, monitor: val_accuracy, patience: 2}
sweep:
"""
SWEEP_YAML = CONFIGS / "sweep.yaml"


def config_text(sweep: str, base: str = BASE) -> str:
    return base + textwrap.indent(textwrap.dedent(sweep), "  ")


def problems(path: Path, *overrides: str) -> list[str]:
    """The formatted problems of a config, errors and warnings, file name only."""
    try:
        loaded = load_config(path, overrides, display=path.name)
    except ConfigError as exc:
        return [p.format() for p in exc.problems]
    return [p.format() for p in loaded.warnings]


def sweep_of(tmp_path: Path, sweep: str, base: str = BASE) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text(config_text(sweep, base), encoding="utf-8")
    return problems(path)


# --- The good config --------------------------------------------------------------


def test_the_example_sweep_config_is_valid():
    assert problems(SWEEP_YAML) == []
    loaded = load_config(SWEEP_YAML)
    assert loaded.experiment.sweep is not None
    assert set(loaded.experiment.sweep.space) == {
        "compile.optimizer.learning_rate",
        "model.layers.1.units",
        "callbacks.EarlyStopping.patience",
    }


def test_a_valid_sweep_over_many_fields(tmp_path):
    sweep = """\
    metric: val_loss
    sampler: grid
    space:
      seed: {int: [0, 3]}
      fit.epochs: {int: [3, 9], step: 3}
      fit.validation_batch_size: {choice: [16, 32]}
      compile.optimizer: {choice: [adam, sgd, rmsprop]}
      compile.optimizer.learning_rate: {float: [0.001, 0.01], step: 0.003}
      model.layers.1.activation: {choice: [relu, tanh]}
      model.layers.1.units: {int: [8, 64], step: 8}
      callbacks.0.patience: {choice: [1, 2]}
      callbacks.EarlyStopping.min_delta: {float: [0.0, 0.01], step: 0.005}
      distribute.strategy: {choice: [mirrored]}
    """
    assert sweep_of(tmp_path, sweep) == []


# --- Space keys that address nothing ---------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "fit.batch_sise",
            "addresses nothing: fit has no 'batch_sise'; did you mean "
            "'fit.batch_size'?",
        ),
        (
            "fitt.epochs",
            "addresses nothing: the config has no 'fitt'; did you mean 'fit.epochs'?",
        ),
        (
            "model.layers.1.unitz",
            "addresses nothing: model.layers[1] (Dense) has no 'unitz'; did you "
            "mean 'model.layers.1.units'?",
        ),
        (
            "model.layers.1.use_bias",
            "addresses nothing: model.layers[1] (Dense) has no 'use_bias'; a "
            "Dense's parameters are known only to Keras, so write `use_bias: ...` "
            "in it first; it has type, units, activation",
        ),
        (
            "model.layers.7.units",
            "addresses nothing: model.layers has 3 items; index 7 is out of range",
        ),
        (
            "model.layers.first.units",
            "addresses nothing: model.layers is a list; 'first' is not an index",
        ),
        (
            "callbacks.EarlyStoping.patience",
            "addresses nothing: callbacks has no callback of type 'EarlyStoping'; "
            "did you mean 'callbacks.EarlyStopping.patience'?",
        ),
        (
            "callbacks.EarlyStopping.patiense",
            "addresses nothing: callbacks[0] (EarlyStopping) has no 'patiense'; "
            "did you mean 'callbacks.EarlyStopping.patience'?",
        ),
        (
            "fit.epochs.value",
            "addresses nothing: fit.epochs is 5, not a mapping; it has no 'value'",
        ),
        (
            "fit.steps_per_epoch.value",
            "addresses nothing: fit.steps_per_epoch is not set (null), so it has "
            "no 'value'",
        ),
        (
            "compile.loss.delta",
            "addresses nothing: compile.loss is the name "
            "'sparse_categorical_crossentropy'; write it as {type: "
            "SparseCategoricalCrossentropy, delta: ...} to sweep its delta",
        ),
        (
            "distribute.stratgy",
            "addresses nothing: distribute has no 'stratgy'; did you mean "
            "'distribute.strategy'?",
        ),
        (
            "fit..epochs",
            "it is not a dotted key like fit.batch_size or "
            "callbacks.EarlyStopping.patience",
        ),
        (
            "sweep.trials",
            "'sweep' cannot be swept: a sweep cannot search its own settings; set "
            "them in the sweep section itself",
        ),
        (
            "name",
            "'name' cannot be swept: the run name names the sweep's folder "
            "(runs/<name>/sweep-<time>/); trials are told apart by their number",
        ),
        (
            "backend",
            "'backend' cannot be swept: all trials run in one process, whose Keras "
            "backend is fixed when Keras is imported; set `backend` in the config "
            "instead",
        ),
    ],
)
def test_a_space_key_that_addresses_nothing_is_placed_at_the_key(
    tmp_path, key, message
):
    sweep = f"""\
    space:
      {key}: {{choice: [1]}}
    """
    assert sweep_of(tmp_path, sweep) == [
        f"config.yaml:16:5: sweep.space.{key}: {message}"
    ]


def test_a_key_through_an_optimizer_name_says_how_to_write_the_object(tmp_path):
    base = BASE.replace("{type: Adam, learning_rate: 0.001}", "adam   ")
    sweep = """\
    space:
      compile.optimizer.learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
    """
    assert sweep_of(tmp_path, sweep, base) == [
        "config.yaml:16:5: sweep.space.compile.optimizer.learning_rate: addresses "
        "nothing: compile.optimizer is the name 'adam'; write it as {type: Adam, "
        "learning_rate: 0.001} to sweep its learning rate"
    ]


def test_two_callbacks_of_one_type_must_be_picked_by_index(tmp_path):
    base = BASE.replace(
        "sweep:\n",
        "  - {type: EarlyStopping, monitor: val_loss, patience: 2}\nsweep:\n",
    )
    sweep = """\
    space:
      callbacks.EarlyStopping.patience: {choice: [1]}
    """
    assert sweep_of(tmp_path, sweep, base) == [
        "config.yaml:17:5: sweep.space.callbacks.EarlyStopping.patience: addresses "
        "nothing: 2 callbacks have type 'EarlyStopping'; pick one by index, e.g. "
        "callbacks.0.patience"
    ]


# --- Candidate values the field refuses --------------------------------------------


def test_a_choice_of_an_unknown_optimizer_is_reported_at_that_items_line(tmp_path):
    sweep = """\
    space:
      compile.optimizer:
        choice:
          - adam
          - adamm
          - sgd
    """
    assert sweep_of(tmp_path, sweep) == [
        "config.yaml:19:11: sweep.space.compile.optimizer.choice[1]: choice item "
        "'adamm': compile.optimizer: unknown optimizer 'adamm'; did you mean 'adam'?"
    ]


def test_a_choice_of_a_wrong_type_is_reported_at_the_item(tmp_path):
    sweep = """\
    space:
      fit.batch_size: {choice: [16, "x", 0]}
    """
    assert sweep_of(tmp_path, sweep) == [
        "config.yaml:16:35: sweep.space.fit.batch_size.choice[1]: choice item "
        "'x': fit.batch_size: expected an integer, got 'x'",
        "config.yaml:16:40: sweep.space.fit.batch_size.choice[2]: choice item 0: "
        "fit.batch_size: must be greater than 0, got 0",
    ]


def test_a_float_range_over_an_integer_field_says_to_sweep_ints(tmp_path):
    sweep = """\
    space:
      fit.batch_size: {float: [16, 64]}
    """
    assert sweep_of(tmp_path, sweep) == [
        "config.yaml:16:30: sweep.space.fit.batch_size.float[0]: low bound 16.0: "
        "fit.batch_size: expected an integer, got 16.0; sweep an integer field "
        "with {int: [16, 64]}",
        "config.yaml:16:34: sweep.space.fit.batch_size.float[1]: high bound 64.0: "
        "fit.batch_size: expected an integer, got 64.0; sweep an integer field "
        "with {int: [16, 64]}",
    ]


def test_each_bound_is_checked_and_a_stepped_range_at_its_largest_value(tmp_path):
    sweep = """\
    space:
      compile.optimizer.learning_rate: {float: [0.0, 0.1]}
      callbacks.EarlyStopping.patience: {int: [0, 10], step: 4}
    """
    assert sweep_of(tmp_path, sweep) == [
        "config.yaml:16:47: sweep.space.compile.optimizer.learning_rate.float[0]: "
        "low bound 0.0: compile.optimizer.learning_rate: learning_rate must be > "
        "0, got 0.0",
        # 0 + 2 * 4 = 8 is the largest value the range reaches, not 10.
        "config.yaml:17:49: sweep.space.callbacks.EarlyStopping.patience.int[1]: "
        "warning: largest value 8 (low + k * step): callbacks[0] "
        "(EarlyStopping).patience: patience is 8 but fit.epochs is 5; "
        "EarlyStopping will never act",
    ]


def test_a_candidate_that_drops_the_metric_is_reported(tmp_path):
    sweep = """\
    metric: val_accuracy
    space:
      fit.validation_split: {choice: [0.0, 0.2]}
    """
    assert sweep_of(tmp_path, sweep) == [
        "config.yaml:17:37: sweep.space.fit.validation_split.choice[0]: choice "
        "item 0.0: callbacks[0] (EarlyStopping).monitor: 'val_accuracy' is logged "
        "only with validation data; set fit.validation_split (e.g. 0.1) or "
        "fit.validation_data: test, or monitor 'accuracy'",
        "config.yaml:17:37: sweep.space.fit.validation_split.choice[0]: choice "
        "item 0.0: the sweep's metric 'val_accuracy' would not be logged (the run "
        "would log loss, accuracy)",
    ]


# --- The section's own schema ----------------------------------------------------


@pytest.mark.parametrize(
    ("sweep", "expected"),
    [
        (
            "space: {fit.epochs: {int: [8, 2]}}",
            "config.yaml:15:29: sweep.space.fit.epochs.int: low 8 is above high 2; "
            "write [low, high]",
        ),
        (
            "space: {compile.optimizer.learning_rate: {float: [0, 0.1], log: true}}",
            "config.yaml:15:52: sweep.space.compile.optimizer.learning_rate.float: "
            "`log` needs bounds above 0, got low 0.0",
        ),
        (
            "space: {fit.epochs: {int: [0, 4], log: true}}",
            "config.yaml:15:29: sweep.space.fit.epochs.int: `log` needs bounds "
            "above 0, got low 0",
        ),
        (
            "sampler: tpee\nspace: {fit.epochs: {int: [3, 4]}}",
            "config.yaml:15:12: sweep.sampler: expected one of 'tpe', 'random', "
            "'grid', 'cmaes', 'qmc', got 'tpee'; did you mean 'tpe'?",
        ),
        (
            "pruner: medain\nspace: {fit.epochs: {int: [3, 4]}}",
            "config.yaml:15:11: sweep.pruner: expected one of 'median', "
            "'hyperband', 'successive_halving', 'none', got 'medain'; did you mean "
            "'median'?",
        ),
        (
            "trials: 0\nspace: {fit.epochs: {int: [3, 4]}}",
            "config.yaml:15:11: sweep.trials: must be greater than 0, got 0",
        ),
        (
            "space: {fit.epochs: {range: [1, 4]}}",
            "config.yaml:15:23: sweep.space.fit.epochs: a space item is one of "
            "{float: [lo, hi]}, {int: [lo, hi]} or {choice: [...]}, got a mapping",
        ),
        (
            "space: {fit.epochs: {choice: [1, [2]]}}",
            "config.yaml:15:32: sweep.space.fit.epochs.choice: choice item 1 is a "
            "list; Optuna stores only numbers, strings, booleans and null",
        ),
    ],
)
def test_the_sections_own_mistakes_are_placed(tmp_path, sweep, expected):
    assert sweep_of(tmp_path, sweep) == [expected]


def test_grid_over_a_float_range_is_placed_at_that_range(tmp_path):
    sweep = """\
    sampler: grid
    space:
      fit.epochs: {int: [3, 4]}
      compile.optimizer.learning_rate: {float: [1.0e-4, 1.0e-2]}
      callbacks.EarlyStopping.min_delta: {float: [0.0, 0.01], step: 0.005}
    """
    assert sweep_of(tmp_path, sweep) == [
        "config.yaml:18:39: sweep.space.compile.optimizer.learning_rate.float: "
        "the grid sampler (sweep.sampler: grid) needs finitely many values; add a "
        "`step` to this float range, or use a choice"
    ]


# --- The metric ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sweep", "expected"),
    [
        (
            "metric: val_acuracy",
            "config.yaml:15:11: sweep.metric: 'val_acuracy' is not logged by this "
            "run; it logs loss, accuracy, val_loss, val_accuracy; did you mean "
            "'val_accuracy'?",
        ),
        (
            "metric: learning_rate",
            "config.yaml:15:11: sweep.metric: 'learning_rate' is not logged by "
            "this run; it logs loss, accuracy, val_loss, val_accuracy",
        ),
        (
            "metric: val_loss\ndirection: maximize",
            "config.yaml:16:14: sweep.direction: warning: maximize 'val_loss', "
            "which is better lower? usually direction: minimize",
        ),
    ],
)
def test_a_metric_the_run_does_not_log_is_placed(tmp_path, sweep, expected):
    assert sweep_of(tmp_path, sweep + "\nspace: {fit.epochs: {int: [3, 4]}}") == [
        expected
    ]


def test_a_val_metric_without_validation_says_how_to_get_it(tmp_path):
    base = BASE.replace(", validation_split: 0.1", "").replace(
        "monitor: val_accuracy", "monitor: accuracy"
    )
    assert sweep_of(
        tmp_path, "metric: val_accuracy\nspace: {fit.epochs: {int: [3, 4]}}", base
    ) == [
        "config.yaml:15:11: sweep.metric: 'val_accuracy' is logged only with "
        "validation data; set fit.validation_split (e.g. 0.1) or "
        "fit.validation_data: test, or sweep.metric: accuracy"
    ]


# --- What the engine uses --------------------------------------------------------


def objective_of(text: str) -> tuple[str, str]:
    return sweep_objective(load_mapping(yaml.safe_load(text)).experiment)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (None, ("val_accuracy", "maximize")),
        (("monitor: val_accuracy", "monitor: val_loss"), ("val_loss", "minimize")),
        (("patience: 2}", "patience: 2, mode: max}"), ("val_accuracy", "maximize")),
        (
            ("monitor: val_accuracy", "monitor: val_loss, mode: max"),
            ("val_loss", "maximize"),
        ),
        (
            (
                "callbacks:\n  - {type: EarlyStopping, monitor: val_accuracy, "
                "patience: 2}\n",
                "",
            ),
            ("val_loss", "minimize"),
        ),
        (
            ("sweep:\n", "sweep:\n  metric: accuracy\n"),
            ("accuracy", "maximize"),
        ),
        (
            ("sweep:\n", "sweep:\n  metric: loss\n  direction: maximize\n"),
            ("loss", "maximize"),
        ),
    ],
)
def test_sweep_objective_defaults_to_the_runs_monitor(edit, expected):
    text = config_text("space: {fit.epochs: {int: [3, 4]}}")
    if edit:
        assert edit[0] in text
        text = text.replace(*edit)
    assert objective_of(text) == expected


def test_sweep_objective_without_validation_is_loss():
    text = BASE.replace(", validation_split: 0.1", "").replace("sweep:\n", "")
    text = text.split("callbacks:")[0]
    assert objective_of(text) == ("loss", "minimize")


def test_apply_params_sets_each_key_and_drops_the_sweep():
    data = yaml.safe_load(SWEEP_YAML.read_text(encoding="utf-8"))
    before = json.dumps(data, sort_keys=True)
    trial = apply_params(
        data,
        {
            "compile.optimizer.learning_rate": 0.003,
            "model.layers.1.units": 64,
            "callbacks.EarlyStopping.patience": 5,
        },
    )
    assert json.dumps(data, sort_keys=True) == before  # not modified
    assert "sweep" not in trial
    assert trial["compile"]["optimizer"] == {"type": "Adam", "learning_rate": 0.003}
    assert trial["model"]["layers"][1]["units"] == 64
    assert trial["callbacks"][0]["patience"] == 5
    experiment = load_mapping(trial).experiment
    assert experiment.sweep is None
    assert experiment.fit.batch_size == 32


def test_apply_params_refuses_a_bad_key_as_set_does():
    data = yaml.safe_load(SWEEP_YAML.read_text(encoding="utf-8"))
    with pytest.raises(ConfigError) as caught:
        apply_params(data, {"callbacks.ReduceLROnPlateau.factor": 0.5})
    [problem] = caught.value.problems
    assert problem.where == "--set callbacks.ReduceLROnPlateau.factor=0.5"
    assert problem.message == (
        "no callback of type 'ReduceLROnPlateau' in this config (it has: EarlyStopping)"
    )
    with pytest.raises(ConfigError, match="not a dotted key"):
        apply_params(data, {"fit..epochs": 1})


def test_a_sweep_with_five_keys_of_five_choices_is_checked_quickly(tmp_path):
    sweep = """\
    space:
      compile.optimizer.learning_rate: {choice: [0.1, 0.01, 0.001, 0.0001, 1.0e-5]}
      model.layers.1.units: {choice: [16, 32, 64, 128, 256]}
      callbacks.EarlyStopping.patience: {choice: [0, 1, 2, 3, 4]}
      fit.batch_size: {choice: [8, 16, 32, 64, 128]}
      model.layers.1.activation: {choice: [relu, tanh, gelu, elu, selu]}
    """
    path = tmp_path / "config.yaml"
    path.write_text(config_text(sweep), encoding="utf-8")
    loaded = load_config(path)
    # 3125 combinations; the keys are checked one by one (about 2 ms).
    with fails_after():
        assert sweep_problems(loaded.experiment, loaded.data, loaded.source) == []


def test_too_many_candidates_are_counted_not_checked(tmp_path):
    epochs = ", ".join(str(n) for n in range(3, 253))
    sweep = f"space:\n  fit.epochs: {{choice: [{epochs}]}}\n"
    assert sweep_of(tmp_path, sweep) == [
        "config.yaml:15:3: sweep.space: warning: checked the first 200 candidate "
        "values; 50 more are not checked"
    ]


# --- Through the CLI ----------------------------------------------------------------


def test_cli_validate_reports_sweep_problems_with_exit_1(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        config_text("space:\n  compile.optimizer: {choice: [adam, adamm]}\n"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:16:40: sweep.space.compile.optimizer.choice[1]: choice item "
        "'adamm': compile.optimizer: unknown optimizer 'adamm'; did you mean "
        "'adam'?\n"
    )
    assert result.stderr == "1 of 1 config(s) invalid\n"


def test_cli_validate_of_a_sweep_set_from_the_command_line():
    result = CliRunner().invoke(
        cli, ["validate", str(SWEEP_YAML), "--set", "sweep.metric=val_los"]
    )
    assert result.exit_code == 1
    assert result.stdout == (
        f"{SWEEP_YAML}: --set sweep.metric=val_los: sweep.metric: 'val_los' is not "
        "logged by this run; it logs loss, accuracy, val_loss, val_accuracy; did "
        "you mean 'val_loss'?\n"
    )


def test_cli_validate_json_places_a_sweep_problem(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        config_text("space:\n  fit.batch_sise: {int: [16, 64]}\n"), encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1
    [problem] = json.loads(result.stdout)["files"][0]["problems"]
    assert problem == {
        "file": str(path),
        "line": 16,
        "column": 5,
        "where": "sweep.space.fit.batch_sise",
        "message": "addresses nothing: fit has no 'batch_sise'; did you mean "
        "'fit.batch_size'?",
        "severity": "error",
    }


def test_the_installed_command_validates_the_sweep_config(tmp_path):
    cbrun = Path(sys.executable).parent / "cbrun"
    ok = subprocess.run(
        [str(cbrun), "validate", "configs/sweep.yaml"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (
        0,
        "configs/sweep.yaml: ok\n",
        "1 config(s) valid\n",
    )
    bad = subprocess.run(
        [
            str(cbrun),
            "validate",
            "configs/sweep.yaml",
            "--set",
            "sweep.trials=0",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == (
        "configs/sweep.yaml: --set sweep.trials=0: sweep.trials: must be greater "
        "than 0, got 0\n"
    )
    assert "Traceback" not in bad.stderr


# --- Imports: no TensorFlow, Keras or Optuna; the checks only for a sweep ---------

PROBE = """
import json, sys
from cbrun.cli import main
sys.argv = ["cbrun", "validate", {target!r}]
try:
    main()
except SystemExit as exc:
    code = exc.code
HEAVY = {{"tensorflow", "keras", "jax", "torch", "optuna"}}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
checks = "cbrun.config.sweep_checks" in sys.modules
print(json.dumps({{"code": code, "heavy": heavy, "checks": checks}}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("target", "checks"),
    [("configs/sweep.yaml", True), ("configs/earlystop.yaml", False)],
)
def test_validate_imports_no_tensorflow_nor_optuna(target, checks):
    result = run_python(PROBE.format(target=target))
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": [], "checks": checks}, result.stderr


# --- The JSON Schema -------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = config_json_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def test_the_json_schema_accepts_the_sweep_config(validator):
    document = yaml.safe_load(SWEEP_YAML.read_text(encoding="utf-8"))
    assert list(validator.iter_errors(document)) == []


@pytest.mark.parametrize(
    ("space", "why"),
    [
        ({"fit.epochs": {"range": [1, 2]}}, "no kind"),
        ({"fit.epochs": {"int": [1, 2], "choice": [1]}}, "two kinds"),
        ({"fit.epochs": {"int": [1]}}, "one bound"),
        ({"fit.epochs": {"int": [1.5, 2]}}, "a float in an int range"),
        ({"fit.epochs": {"choice": [{"a": 1}]}}, "a mapping choice"),
        ({"sweep.trials": {"choice": [1]}}, "the sweep itself"),
        ({"name": {"choice": ["a"]}}, "the run name"),
        ({"fit..epochs": {"choice": [1]}}, "an empty segment"),
        ({}, "an empty space"),
    ],
)
def test_the_json_schema_refuses_bad_space_items(validator, space, why):
    document = yaml.safe_load(SWEEP_YAML.read_text(encoding="utf-8"))
    document["sweep"]["space"] = space
    assert list(validator.iter_errors(document)), why


STAGED = BASE.replace(
    "callbacks:",
    "stages:\n  - {name: head, fit: {epochs: 2}}\n"
    "  - {name: tail, compile: {optimizer: {type: Adam, learning_rate: 0.0001}}, "
    "fit: {epochs: 3}}\ncallbacks:",
)


def test_sweeping_fit_epochs_that_every_stage_overrides_is_refused(tmp_path):
    found = sweep_of(tmp_path, "space:\n  fit.epochs: {choice: [2, 4]}\n", STAGED)
    assert found == [
        "config.yaml:19:5: sweep.space.fit.epochs: changes no stage: every stage "
        "sets its own fit.epochs ('head' (stages.0): 2, 'tail' (stages.1): 3), "
        "which wins over the top-level one, so every trial would train as long; "
        "sweep a stage's epochs instead, e.g. stages.1.fit.epochs"
    ]
    assert (
        sweep_of(tmp_path, "space:\n  stages.1.fit.epochs: {choice: [3, 4]}\n", STAGED)
        == []
    )


def test_sweeping_fit_epochs_some_stages_take_warns(tmp_path):
    staged = STAGED.replace("  - {name: head, fit: {epochs: 2}}", "  - {name: head}")
    found = sweep_of(tmp_path, "space:\n  fit.epochs: {choice: [2, 4]}\n", staged)
    assert found == [
        "config.yaml:19:5: sweep.space.fit.epochs: warning: sets the epochs of "
        "'head' only: 'tail' (stages.1): 3 keeps its own fit.epochs; to sweep it, "
        "e.g. stages.1.fit.epochs"
    ]
