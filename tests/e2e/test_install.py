"""deploycheck as a team installs it: the wheel built from this repository, installed into a fresh virtual
environment, `python -m deploycheck init` in an empty folder, then `pytest` there against the bundled demo; the
built-in checks and flows run from the installed packages beside the team's own. And inert where not asked for.

The fresh environment takes its dependencies from this project's own environment (a .pth file naming its
site-packages) and installs the wheel with `--no-index`, so the test needs no registry beyond the build's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO

SOURCES = ("pyproject.toml", "README.md", "deploycheck", "plugins", "demo", "checks", "smoke", "integrations")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def run(command: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtual environment with the freshly built wheel installed."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"  # a copy: building writes build/ and *.egg-info, never into the shared checkout
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=IGNORED)
        else:
            shutil.copyfile(REPO / name, source / name)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "wheels"), "."], source)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((base / "wheels").glob("deploycheck-*.whl"))
    made = run([sys.executable, "-m", "venv", str(base / "venv")], base)
    assert made.returncode == 0, made.stderr
    python = base / "venv" / "bin" / "python"
    site = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base).stdout.strip()
    )
    (site / "deploycheck-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installing = run([str(python), "-m", "pip", "install", "--no-index", "-q", str(wheel)], base)
    assert installing.returncode == 0, installing.stdout + installing.stderr
    return python


def test_an_initialised_repository_runs_built_in_and_own_checks_from_the_wheel(installed, tmp_path):
    team = tmp_path / "team"
    init = run([str(installed), "-m", "deploycheck", "init", str(team)], tmp_path)
    assert init.returncode == 0, init.stderr
    for expected in ("environments/local.yaml", "checks/test_team_example.py", "smoke/test_flows.py", "pytest.ini",
                     ".gitlab-ci.yml", ".github/actions/deploycheck/action.yml", "ci/tekton/task.yaml",
                     "ci/argo-rollouts/analysis-template.yaml", "environments/environment-v1.schema.json"):  # fmt: skip
        assert (team / expected).is_file(), expected
    assert (
        (team / "environments/local.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=./environment-v1.schema.json")
    )

    validated = run([str(installed), "-m", "deploycheck", "validate"], team)
    assert validated.returncode == 0 and "environments/local.yaml: ok (2 services" in validated.stdout, validated.stderr

    suite = run([str(installed), "-m", "pytest"], team)  # deploycheck_env = local in pytest.ini: the bundled demo

    assert suite.returncode == 0, suite.stdout + suite.stderr
    verdict = json.loads((team / "reports" / "verdict.json").read_text())
    assert verdict["verdict"] == "PASS"
    judged = {(service, f["check"]): f for service, body in verdict["services"].items() for f in body["findings"]}
    assert {key: f["outcome"] for key, f in judged.items() if f["outcome"] != "skipped"} == {
        ("api-gateway", "team_example.health_is_fast"): "passed",  # the team's own check
        ("api-gateway", "flows.browse_items"): "passed",  # the team's own flow
        ("api-gateway", "flows.login"): "passed",  # a built-in flow
        ("api-gateway", "health.liveness"): "passed",
        ("api-gateway", "health.readiness"): "passed",
        ("api-gateway", "version.matches_expected"): "passed",
        ("orders", "team_example.health_is_fast"): "passed",
        ("orders", "health.liveness"): "passed",
        ("orders", "health.readiness"): "passed",
        ("orders", "version.matches_expected"): "passed",
    }
    # The built-in ones ran from the installed packages (the ones that interpreter imports), not from this checkout.
    imported = run([str(installed), "-c", "import deploycheck_checks; print(*deploycheck_checks.__path__)"], team)
    assert "site-packages/deploycheck_checks\n" in imported.stdout, imported.stdout + imported.stderr
    assert str(REPO) not in suite.stdout

    again = run([str(installed), "-m", "deploycheck", "init", str(team)], tmp_path)
    assert "kept" in again.stdout and "wrote" not in again.stdout  # never overwrites a team's files


def test_the_installed_plugin_stays_out_of_another_projects_tests(installed, tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (tmp_path / "test_other.py").write_text("def test_other():\n    assert 1 + 1 == 2\n")
    # Fixtures named as the suite's own (`target`, `verify`) are that project's: never parametrized over services.
    (tmp_path / "test_named_alike.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture(params=['a', 'b'])\ndef target(request):\n    return request.param\n\n"
        "@pytest.fixture\ndef verify():\n    return str.upper\n\n"
        "def test_named_alike(target, verify):\n    assert verify(target) in ('A', 'B')\n"
    )

    other = run([str(installed), "-m", "pytest", "-q"], tmp_path)

    assert other.returncode == 0, other.stdout + other.stderr
    assert "3 passed" in other.stdout and "deploycheck verdict" not in other.stdout
    assert not (tmp_path / "reports").exists()
