"""Fast commands never import TensorFlow, Keras or MLflow (click's test_imports)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import CONFIGS, REPO, python_output

PROBE = """
import json, sys
from cbrun.cli import main
sys.argv = ["cbrun", *{args!r}]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
HEAVY = {{"tensorflow", "keras", "jax", "torch", "mlflow"}}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["validate", str(CONFIGS)],
        ["validate", "--help"],
        ["callbacks"],
        ["callbacks", "ModelCheckpoint"],
        ["schema"],
        ["train", "--help"],
    ],
)
def test_command_imports_no_tensorflow(args):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    assert report["heavy"] == []


def test_config_package_imports_no_tensorflow():
    code = (
        "import pkgutil, sys, cbrun.config\n"
        "for m in pkgutil.walk_packages(cbrun.config.__path__, 'cbrun.config.'):\n"
        "    __import__(m.name)\n"
        "import cbrun.runs.manifest, cbrun.runs.layout, cbrun.atomic\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tensorflow', 'keras'}))"
    )
    stdout = python_output(code)
    assert stdout.strip() == "[]"
