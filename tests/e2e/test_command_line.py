"""The command lines the README shows work as typed: an option's value in either form (`--opt value` or
`--opt=value`), from the project or from any other directory, with pytest or with run_smoke_tests.sh."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, write_environment


@pytest.fixture
def staging(start_demo, tmp_path):
    running = start_demo("orders")
    return write_environment(tmp_path / "environments", "staging", {"orders": {"url": running.urls["orders"]}})


def run(command: list[str], cwd, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env}
    environ.pop("EXPECTED_VERSION", None)
    return subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.parametrize("form", ["space", "equals"])
def test_pytest_from_the_project_with_existing_paths_as_values(staging, tmp_path, form):
    verdict = tmp_path / "out" / "verdict.json"
    verdict.parent.mkdir()
    verdict.write_text("{}")  # an existing file, as a pipeline's workspace may hold from an earlier run
    options = {
        "--environments-dir": str(staging),
        "--verdict-file": str(verdict),
        "--summary-file": str(tmp_path / "s.md"),
    }
    args = [
        part for flag, value in options.items() for part in ([flag, value] if form == "space" else [f"{flag}={value}"])
    ]
    result = run([sys.executable, "-m", "pytest", "--env", "staging", *args], cwd=REPO)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(verdict.read_text())["verdict"] == "PASS"
    assert "tests/" not in result.stdout  # only the suite's checks were collected, not the project's own tests


def test_pytest_from_another_directory_naming_the_checks(staging, tmp_path):
    verdict = tmp_path / "verdict.json"
    result = run(
        [sys.executable, "-m", "pytest", "--env", "staging", "--environments-dir", str(staging), "--verdict-file",
         "verdict.json", "--summary-file", "summary.md", str(REPO / "checks")],
        cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(verdict.read_text())["environment"] == "staging"  # relative to where it was run


@pytest.mark.parametrize("form", ["space", "equals"])
def test_run_smoke_tests_from_another_directory(staging, tmp_path, form):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "verdict.json").write_text("{}")
    options = ["--environments-dir", str(staging)] if form == "space" else [f"--environments-dir={staging}"]
    result = run(
        [str(REPO / "run_smoke_tests.sh"), "staging", "orders", *options, "--verdict-file", "verdict.json"],
        cwd=workspace,
        DEPLOYCHECK_NO_VENV="1",
        PYTHON=sys.executable,
        DEPLOYCHECK_REPORTS_DIR=str(tmp_path / "reports"),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((workspace / "verdict.json").read_text())["verdict"] == "PASS"


def test_the_plugin_is_inert_in_a_project_that_does_not_ask_for_it(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_something():\n    assert 1 + 1 == 2\n")
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout and "deploycheck" not in result.stdout
    assert not (tmp_path / "reports").exists()


def test_pytest_from_outside_any_project_runs_the_suites_checks(staging, tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "test_not_a_check.py").write_text("def test_unrelated():\n    assert False\n")
    command = [sys.executable, "-m", "pytest", "--env", "staging", "--environments-dir", str(staging)]
    result = run([*command, "--verdict-file", "verdict.json", "--summary-file", "summary.md"], cwd=workspace)

    assert result.returncode == 0, result.stdout + result.stderr
    verdict = json.loads((workspace / "verdict.json").read_text())
    judged = {f["check"] for f in verdict["services"]["orders"]["findings"] if f["outcome"] != "skipped"}
    assert judged == {"health.liveness", "health.readiness"}  # the suite's checks; no version was expected
