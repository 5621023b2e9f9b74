"""``cbrun train --smoke``: every config for two short epochs, in one process.

What CI runs on a repository's configs: each config is validated, built and
trained for two epochs of two batches with every callback firing, into a
temporary runs dir. One line per config, a summary, and optionally a JUnit XML
report for CI systems.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cbrun.config.loading import find_configs, load_config
from cbrun.errors import CbrunError, ConfigError, ExitCode
from cbrun.training.reporting import silent


@dataclass(frozen=True)
class SmokeResult:
    """One config's smoke run.

    Attributes:
        config: The config file as given.
        ok: Whether it validated, built and trained.
        seconds: Wall time for this config (after the one TensorFlow import).
        message: The whole error, or the run's final status.
        exit_code: What a real ``train`` of it would exit with.
    """

    config: str
    ok: bool
    seconds: float
    message: str
    exit_code: ExitCode = ExitCode.OK

    @property
    def first_line(self) -> str:
        """The first line of the message, for the one-line report."""
        return self.message.strip().splitlines()[0] if self.message.strip() else ""


def _smoke_one(
    path: Path,
    overrides: Sequence[str],
    runs_dir: Path,
    command: Sequence[str],
    allow_user_code: bool,
) -> SmokeResult:
    from cbrun.training.lifecycle import train

    start = time.perf_counter()
    try:
        loaded = load_config(path, overrides, allow_user_code=allow_user_code)
        result = train(loaded, runs_dir, command=list(command), echo=silent, smoke=True)
    except ConfigError as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        message = "\n".join(p.format() for p in errors or exc.problems)
        return SmokeResult(
            str(path), False, time.perf_counter() - start, message, exc.exit_code
        )
    except CbrunError as exc:
        if exc.exit_code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            raise
        return SmokeResult(
            str(path), False, time.perf_counter() - start, str(exc), exc.exit_code
        )
    return SmokeResult(str(path), True, time.perf_counter() - start, result.status)


def _backend_of(path: Path, overrides: Sequence[str]) -> str | None:
    """The config's backend, or None when it does not load (reported later)."""
    try:
        return load_config(path, overrides).experiment.backend
    except CbrunError:
        return None


def run_smoke(
    targets: Sequence[str],
    overrides: Sequence[str],
    runs_dir: Path | None,
    command: Sequence[str],
    report: Callable[[SmokeResult], None],
    *,
    allow_user_code: bool = True,
) -> list[SmokeResult]:
    """Smoke-run every config; report each result as soon as it is known.

    Keras picks its backend once per process, so the configs of the most
    common backend run here and each other backend's configs run in one
    child process (``cbrun train --smoke``) whose lines are read back.

    Args:
        targets: Config files and folders.
        overrides: ``--set`` strings applied to every config.
        runs_dir: Where runs go; a temporary folder (removed after) if None.
        command: The command line, for run.json.
        report: Called with each result.
        allow_user_code: False fails configs that name code to import.

    Returns:
        The results, in order of running. Targets that name no config are
        failures.
    """
    files, problems = find_configs(targets)
    results = [
        SmokeResult(p.file, False, 0.0, p.message, ExitCode.INVALID_CONFIG)
        for p in problems
    ]
    for result in results:
        report(result)
    groups: dict[str | None, list[Path]] = {}
    for path in files:
        groups.setdefault(_backend_of(path, overrides), []).append(path)
    here = max(
        (b for b in groups if b is not None),
        key=lambda b: len(groups[b]),
        default="tensorflow",
    )
    temporary = runs_dir is None
    folder = Path(tempfile.mkdtemp(prefix="cbrun-smoke-")) if temporary else runs_dir
    assert folder is not None
    try:
        in_process = groups.pop(here, []) + groups.pop(None, [])
        if in_process:
            _import_keras_once(here)
        for path in in_process:
            result = _smoke_one(path, overrides, folder, command, allow_user_code)
            results.append(result)
            report(result)
        for paths in groups.values():
            for result in _smoke_in_child(paths, overrides, folder, allow_user_code):
                results.append(result)
                report(result)
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
    return results


_LINE = re.compile(r"^(ok|FAILED)\s+(\S+)\s+([0-9.]+)s(?:\s+(.*))?$")


def _smoke_in_child(
    paths: Sequence[Path],
    overrides: Sequence[str],
    runs_dir: Path,
    allow_user_code: bool,
) -> list[SmokeResult]:
    """Smoke-run configs of another backend in a child ``cbrun`` process."""
    args = [sys.executable, "-m", "cbrun", "train", "--smoke", "--runs-dir"]
    args += [str(runs_dir), *(f"--set={o}" for o in overrides)]
    if not allow_user_code:
        args.append("--no-user-code")
    child = subprocess.run(
        [*args, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = {}
    for line in child.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            ok = match[1] == "ok"
            code = ExitCode.OK if ok else ExitCode.TRAINING_FAILED
            found[match[2]] = SmokeResult(
                match[2], ok, float(match[3]), match[4] or "", code
            )
    tail = (child.stderr.strip().splitlines() or ["no output"])[-1]
    return [
        found.get(
            str(path),
            SmokeResult(
                str(path),
                False,
                0.0,
                f"the child process for this backend failed: {tail}",
                ExitCode.TRAINING_FAILED,
            ),
        )
        for path in paths
    ]


def _import_keras_once(backend: str) -> None:
    """Import Keras before the first config, so per-config times exclude it."""
    from cbrun.keras.env import import_keras

    # Each config reports a missing backend itself.
    with contextlib.suppress(CbrunError):
        import_keras(backend)


def format_line(result: SmokeResult) -> str:
    """One line per config: ``ok``/``FAILED``, the file, seconds, first error line."""
    mark = "ok    " if result.ok else "FAILED"
    line = f"{mark}  {result.config}  {result.seconds:.1f}s"
    return line if result.ok else f"{line}  {result.first_line}"


def summary(results: Sequence[SmokeResult], seconds: float) -> str:
    """The closing line: counts and total time."""
    failed = sum(not r.ok for r in results)
    passed = len(results) - failed
    return f"{passed} passed, {failed} failed in {seconds:.1f}s"


def exit_code(results: Sequence[SmokeResult]) -> ExitCode:
    """Non-zero when any config failed: the worst of their exit codes."""
    codes = [r.exit_code for r in results if not r.ok]
    return max(codes, default=ExitCode.OK)


def write_junit_xml(results: Sequence[SmokeResult], path: Path) -> None:
    """Write a JUnit XML report, one test case per config."""
    suite = ET.Element(
        "testsuite",
        name="cbrun smoke",
        tests=str(len(results)),
        failures=str(sum(not r.ok for r in results)),
        errors="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="cbrun.training.smoke",
            name=result.config,
            time=f"{result.seconds:.3f}",
        )
        if not result.ok:
            failure = ET.SubElement(case, "failure", message=result.first_line)
            failure.text = result.message
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
