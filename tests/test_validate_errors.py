"""Bad input to `cbrun validate`: every case has an exact position and message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cbrun.cli import cli
from cbrun.config.loading import load_config
from cbrun.errors import ConfigError
from tests.conftest import MINIMAL, python_output
from tests.hang_guard import fails_after


def problems(path: Path, *overrides: str) -> list[str]:
    """Return the formatted problems of a config, with the folder stripped."""
    try:
        loaded = load_config(path, overrides, display=path.name)
    except ConfigError as exc:
        return [p.format() for p in exc.problems]
    return [p.format() for p in loaded.warnings]


def test_minimal_config_is_valid(write_config):
    assert problems(write_config(MINIMAL)) == []


@pytest.mark.parametrize(
    ("callback", "expected"),
    [
        (
            "{type: EarlyStopping, patiense: 3}",
            "config.yaml:11:27: callbacks[0] (EarlyStopping).patiense: unknown "
            "parameter; did you mean 'patience'?",
        ),
        (
            "{type: EarlyStopping, patience: three}",
            "config.yaml:11:37: callbacks[0] (EarlyStopping).patience: expected an "
            "integer, got 'three'",
        ),
        (
            "{type: EarlyStopping, patience: -1}",
            "config.yaml:11:37: callbacks[0] (EarlyStopping).patience: must be at "
            "least 0, got -1",
        ),
        (
            "{type: ReduceLROnPlateau, factor: 1.5}",
            "config.yaml:11:39: callbacks[0] (ReduceLROnPlateau).factor: must be "
            "less than 1.0, got 1.5",
        ),
        (
            "{type: ReduceLROnPlateau, epsilon: 0.001}",
            "config.yaml:11:31: callbacks[0] (ReduceLROnPlateau).epsilon: `epsilon` "
            "is from the TF 2.0 API: Keras 3 silently ignores `epsilon`; write "
            "`min_delta` instead",
        ),
        (
            "{type: ModelCheckpoint}",
            "config.yaml:11:5: callbacks[0] (ModelCheckpoint).filepath: required; "
            "add `filepath: ...`",
        ),
        (
            "{type: EarlyStoping}",
            "config.yaml:11:5: callbacks[0] (EarlyStoping): unknown callback type "
            "'EarlyStoping'; did you mean 'EarlyStopping'? (or package.module:Class "
            "for your own)",
        ),
        (
            "{type: EarlyStopping, mode: maximum}",
            "config.yaml:11:33: callbacks[0] (EarlyStopping).mode: expected one of "
            "'auto', 'min', 'max', got 'maximum'; did you mean 'max'?",
        ),
        (
            "{type: TensorBoard, write_grads: true}",
            "config.yaml:11:25: callbacks[0] (TensorBoard).write_grads: "
            "`write_grads` is from the TF 2.0 API: Keras 3 removed `write_grads`; "
            "delete it (gradient histograms are not written any more)",
        ),
        (
            "{type: ProgbarLogger, count_mode: steps}",
            "config.yaml:11:27: callbacks[0] (ProgbarLogger).count_mode: "
            "`count_mode` is from the TF 2.0 API: Keras 3 removed `count_mode` (the "
            "bar counts steps); delete it",
        ),
        (
            "{type: LearningRateScheduler, schedule: 'epochs * 2'}",
            "config.yaml:11:45: callbacks[0] (LearningRateScheduler).schedule: "
            "unknown name 'epochs'; did you mean 'epoch'?",
        ),
        (
            "{type: 'my pkg:Thing'}",
            "config.yaml:11:5: callbacks[0] (my pkg:Thing): unknown callback type "
            "'my pkg:Thing' (or package.module:Class for your own)",
        ),
    ],
)
def test_callback_errors(write_config, callback, expected):
    path = write_config(MINIMAL + f"callbacks:\n  - {callback}\n")
    found = problems(path)
    assert found[0].startswith(expected), found


def test_key_named_like_the_callback_type_does_not_move_errors(write_config):
    # A tagged union put the tag (EarlyStopping) into every error's location,
    # where it matched this key: patience was reported inside it, as 1.
    callback = "{type: EarlyStopping, patience: -1, EarlyStopping: {patience: 1}}"
    path = write_config(MINIMAL + f"callbacks:\n  - {callback}\n")
    assert problems(path) == [
        "config.yaml:11:37: callbacks[0] (EarlyStopping).patience: must be at "
        "least 0, got -1",
        "config.yaml:11:41: callbacks[0] (EarlyStopping).EarlyStopping: unknown "
        "parameter; known: monitor, min_delta, patience, verbose, mode, baseline, "
        "restore_best_weights, start_from_epoch",
    ]


def test_validate_loads_only_the_callback_schemas_a_config_names():
    # Building every schema was most of `cbrun validate`'s time.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from cbrun.config.loading import load_config\n"
        "load_config(Path('configs/earlystop.yaml'))\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    stdout = python_output(code)
    loaded = set(stdout.split())
    assert "cbrun.config.callbacks.early_stopping" in loaded
    others = {
        "cbrun.config.callbacks.model_checkpoint",
        "cbrun.config.callbacks.tensorboard",
        "cbrun.config.callbacks.learning_rate_scheduler",
        "cbrun.config.expressions",
    }
    assert not loaded & others


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("{source: sklearn, name: iris}", "{source: sklern, name: iris}"),
            "config.yaml:1:7: data: unknown data source 'sklern'; did you mean "
            "'sklearn'? (one of sklearn, keras, npz, csv, synthetic, timeseries, "
            "function, images, text)",
        ),
        (
            ("name: iris", "name: irs"),
            "config.yaml:1:31: data.name: expected one of 'digits', 'iris', 'wine', "
            "'breast_cancer', got 'irs'; did you mean 'iris'?",
        ),
        (
            ("type: Dense", "type: Dence"),
            "config.yaml:4:14: model.layers[0] (Dence).type: unknown layer type "
            "'Dence'; did you mean 'Dense'?",
        ),
        (
            ("optimizer: adam", "optimizer: adamm"),
            "config.yaml:6:14: compile.optimizer: unknown optimizer 'adamm'; did "
            "you mean 'adam'?",
        ),
        (
            ("validation_split: 0.2", "validation_split: 1.2"),
            "config.yaml:9:36: fit.validation_split: must be less than 1.0, got 1.2",
        ),
        (
            ("fit: {epochs: 2", "fit: {epochz: 2"),
            "config.yaml:9:7: fit.epochz: unknown key; did you mean 'epochs'?",
        ),
        (
            ("data:", "name: ../escape\ndata:"),
            "config.yaml:1:7: name: expected one folder name",
        ),
        (
            ("data:", "name: a/b\ndata:"),
            "config.yaml:1:7: name: expected one folder name",
        ),
        (
            ("loss: sparse_categorical_crossentropy", "loss: sparse_categorical"),
            "config.yaml:7:9: compile.loss: unknown loss 'sparse_categorical'; did "
            "you mean 'sparse_categorical_crossentropy'?",
        ),
    ],
)
def test_section_errors(write_config, edit, expected):
    path = write_config(MINIMAL.replace(*edit))
    found = problems(path)
    assert any(line.startswith(expected) for line in found), found


def test_every_problem_is_reported_not_just_the_first(write_config):
    text = MINIMAL.replace("optimizer: adam", "optimizer: adamm").replace(
        "epochs: 2", "epochs: 0"
    )
    path = write_config(text + "callbacks:\n  - {type: EarlyStopping, patiense: 1}\n")
    found = problems(path)
    assert len(found) == 3, found
    assert [line.split(":")[1] for line in found] == ["6", "9", "11"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "",
            "config.yaml: the file is empty; a config needs at least `data` and "
            "`model`",
        ),
        ("- 1\n- 2\n", "config.yaml: the top level must be a mapping"),
        ("a: [1, 2\n", "config.yaml:2:1: YAML syntax error: expected ',' or ']'"),
        (
            "a: !!python/object/apply:os.system [ls]\n",
            "config.yaml:1:4: YAML tag !!python/object/apply:os.system is not allowed",
        ),
        ("a: 1\na: 2\n", "config.yaml:2:1: duplicate key 'a' (first at line 1)"),
        ("[" * 5000 + "]" * 5000, "config.yaml:1:65: nesting deeper than 64 levels"),
    ],
)
def test_file_level_errors(write_config, text, expected):
    found = problems(write_config(text))
    assert found[0].startswith(expected), found


def test_alias_bomb_is_refused_by_the_value_bound(write_config):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(8):
        prev, cur = chr(97 + i), chr(98 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = write_config("\n".join(lines) + "\n")
    with fails_after():  # 9**9 values unbounded; milliseconds with the bound
        found = problems(path)
    assert len(found) == 1 and len(found[0]) < 300
    assert "expands to more than" in found[0]


def test_non_utf8_bytes_are_located(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"name: ok\ndata: \xff\xfe\n")
    assert problems(path) == [
        "config.yaml:2:7: byte 0xff is not valid UTF-8; save the file as UTF-8"
    ]


def test_missing_file_and_directory(tmp_path):
    assert problems(tmp_path / "nope.yaml") == [
        "nope.yaml: no such file; check the path (or run `ls` on its folder)"
    ]
    assert problems(tmp_path)[0].endswith("is a directory, not a config file")


def test_file_stem_that_is_no_run_name_asks_for_name(write_config):
    path = write_config(MINIMAL, name="my config.yaml")
    assert problems(path) == [
        "my config.yaml: the file name 'my config' cannot be a run name (one folder "
        "name of letters, digits, '.', '_' and '-'); add `name: ...` to the config"
    ]


def test_cli_exit_codes_and_stream_split(write_config, tmp_path):
    good = write_config(MINIMAL, name="good.yaml")
    bad = write_config(MINIMAL.replace("adam", "adamm"), name="bad.yaml")
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", str(good)])
    assert result.exit_code == 0
    assert result.stdout == f"{good}: ok\n"
    assert result.stderr == "1 config(s) valid\n"
    result = runner.invoke(cli, ["validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:6:14: compile.optimizer: unknown optimizer 'adamm'" in result.stdout
    assert result.stderr == "1 of 2 config(s) invalid\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(cli, ["validate", str(empty)])
    assert result.exit_code == 1
    assert result.stdout == f"{empty}: no *.yaml or *.yml files in this directory\n"
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument 'CONFIG_OR_DIR...'" in result.stderr


def test_cli_json_format(write_config):
    bad = write_config(MINIMAL.replace("adam", "adamm"))
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(bad)])
    assert result.exit_code == 1
    import json

    document = json.loads(result.stdout)
    assert document["valid"] is False
    (problem,) = document["files"][0]["problems"]
    assert (problem["line"], problem["column"]) == (6, 14)
    assert problem["where"] == "compile.optimizer"
    assert problem["severity"] == "error"


def test_no_user_code_refuses_every_import_path(write_config, monkeypatch):
    text = MINIMAL.replace("optimizer: adam", "optimizer: my_pkg.opt:Fast") + (
        "callbacks:\n"
        "  - {type: my_pkg.callbacks:Stop, target: 0.9}\n"
        "  - {type: LambdaCallback, on_epoch_end: builtins:print}\n"
        "  - {type: LearningRateScheduler, schedule: {function: my_pkg.s:warm}}\n"
    )
    path = write_config(text)
    assert problems(path) == []  # Allowed by default, never imported here.
    with pytest.raises(ConfigError) as info:
        load_config(path, (), display="config.yaml", allow_user_code=False)
    refused = [p.format() for p in info.value.problems]
    assert [line.split(": ")[1] for line in refused] == [
        "compile.optimizer",
        "callbacks[0] (my_pkg.callbacks:Stop).type",
        "callbacks[1] (LambdaCallback).on_epoch_end",
        "callbacks[2] (LearningRateScheduler).schedule",
    ]
    assert (
        "names user code (my_pkg.opt:Fast), refused by --no-user-code" in (refused[0])
    )
    monkeypatch.setenv("CBRUN_NO_USER_CODE", "1")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout.count("refused by --no-user-code") == 4


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (
            "backend: torch\ndistribute: {strategy: data_parallel}\n",
            "config.yaml:2:24: distribute.strategy: strategy data_parallel needs "
            "backend: jax, but the backend is torch; the pairs that work: mirrored "
            "with backend tensorflow, data_parallel with backend jax",
        ),
        (
            "backend: jax\ndistribute: {strategy: mirrored}\n",
            "config.yaml:2:24: distribute.strategy: strategy mirrored needs backend: "
            "tensorflow, but the backend is jax",
        ),
        (
            "distribute: {strategy: multi_worker_mirrored}\n",
            "config.yaml:1:24: distribute.strategy: multi_worker_mirrored does not "
            "work with Keras 3 (fit fails on PerReplica values; keras-team/keras "
            "issue 20585); use `strategy: data_parallel` with `backend: jax`",
        ),
        (
            "distribute: {strategy: mirored}\n",
            "config.yaml:1:24: distribute.strategy: expected one of 'mirrored', "
            "'data_parallel', got 'mirored'; did you mean 'mirrored'?",
        ),
        (
            "backend: pytorch\n",
            "config.yaml:1:10: backend: expected one of 'tensorflow', 'jax', "
            "'torch', got 'pytorch'; did you mean 'torch'?",
        ),
    ],
)
def test_backend_and_strategy_pairs(write_config, head, expected):
    found = problems(write_config(head + MINIMAL))
    assert found[0].startswith(expected), found


def test_tensorboard_profiling_is_refused_on_torch(write_config):
    text = (
        "backend: torch\n"
        + MINIMAL
        + ("callbacks:\n  - {type: TensorBoard, profile_batch: 2}\n")
    )
    assert problems(write_config(text)) == [
        "config.yaml:12:40: callbacks[0] (TensorBoard).profile_batch: TensorBoard "
        "profiling does not exist on the torch backend; set profile_batch: 0"
    ]


def test_did_you_mean_keeps_the_case_the_user_wrote() -> None:
    from cbrun.suggest import closest

    # Keras has the metric string 'accuracy' and the class 'Accuracy'.
    assert closest("acuracy", ["Accuracy", "accuracy"]) == "accuracy"
    assert closest("Acuracy", ["accuracy", "Accuracy"]) == "Accuracy"
    assert closest("adam", ["Adam"]) == "Adam"


def test_values_are_shown_as_yaml_writes_them(write_config) -> None:
    path = write_config(MINIMAL.replace("epochs: 2", "epochs: yes"))
    [found] = problems(path)
    assert found.endswith(
        "fit.epochs: expected an integer, got true (YAML reads unquoted yes, no, "
        "on, off as booleans)"
    ), found
    path = write_config(MINIMAL.replace("epochs: 2", "epochs: null"))
    assert problems(path)[0].endswith("got null"), problems(path)
