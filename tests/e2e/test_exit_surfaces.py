"""The exit status where an engine has no third state: `--inconclusive-exit N` turns INCONCLUSIVE's 6 into N for
the process while the verdict file keeps saying INCONCLUSIVE (6), and never touches PASS or FAIL. And the GitHub
Actions composite action, whose script maps INCONCLUSIVE to a neutral step with the verdict as its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, write_environment


@pytest.fixture
def environments(start_demo, tmp_path):
    running = start_demo("api-gateway", faults={})
    services = {
        "api-gateway": {"url": running.urls["api-gateway"]},
        # nothing here can be judged: no deciding check runs, so the service is INCONCLUSIVE
        "ghost": {"url": "http://127.0.0.1:9", "health": None, "ready": None, "version": None},
    }
    return write_environment(tmp_path / "environments", "staging", services)


@pytest.mark.parametrize(
    ("service", "extra", "ret", "verdict"),
    [
        ("ghost", [], 6, "INCONCLUSIVE"),
        ("ghost", ["--inconclusive-exit", "1"], 1, "INCONCLUSIVE"),
        ("ghost", ["--inconclusive-exit", "0"], 0, "INCONCLUSIVE"),
        ("api-gateway", ["--inconclusive-exit", "1"], 0, "PASS"),
        ("api-gateway", ["--inconclusive-exit", "0", "--expected-version", "v9"], 1, "FAIL"),
    ],
)
def test_inconclusive_exit_maps_only_inconclusive(environments, run_suite, service, extra, ret, verdict):
    run = run_suite(environments, "--env", "staging", "--service", service, *extra)

    assert run.ret == ret, run.stdout
    assert run.verdict is not None
    assert run.verdict["verdict"] == verdict
    assert run.verdict["exit_status"] == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 6}[verdict]


def test_an_exit_status_out_of_range_is_a_usage_error(environments, run_suite):
    run = run_suite(environments, "--env", "staging", "--inconclusive-exit", "300")

    assert run.ret == 4
    assert "--inconclusive-exit (from --inconclusive-exit): an exit status is 0 to 255, got 300" in run.stdout


def github_action_script() -> str:
    action = yaml.safe_load((REPO / "integrations" / "github" / "action.yml").read_text())
    return action["runs"]["steps"][0]["run"]


@pytest.mark.parametrize(
    ("service", "inconclusive", "status", "verdict"),
    [
        ("api-gateway", "neutral", 0, "PASS"),
        ("ghost", "neutral", 0, "INCONCLUSIVE"),  # neutral: the step succeeds, the output says hold
        ("ghost", "fail", 6, "INCONCLUSIVE"),
    ],
)
def test_the_github_action_outputs_the_verdict_and_keeps_inconclusive_neutral(
    environments, tmp_path, service, inconclusive, status, verdict
):
    """The composite action's own script, run as GitHub runs it (bash -eo pipefail) against the demo."""
    outputs, summary = tmp_path / "outputs", tmp_path / "summary"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # `python` is this project's
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "DEPLOYCHECK_ENVIRONMENTS_DIR": str(environments),
        "DEPLOYCHECK_ENV": "staging",
        "DEPLOYCHECK_SERVICES": service,
        "EXPECTED_VERSION": "",  # the input left empty: the script unsets it
        "INCONCLUSIVE": inconclusive,
    }
    script = tmp_path / "action.sh"
    script.write_text(github_action_script())

    ran = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip

    assert ran.returncode == status, ran.stdout + ran.stderr
    assert outputs.read_text() == f"verdict={verdict}\n"
    assert summary.read_text().startswith(f"## deploycheck: {verdict}")
    assert ("::warning title=deploycheck::INCONCLUSIVE" in ran.stdout) == (status == 0 and verdict == "INCONCLUSIVE")
