"""A run narrowed by -k, -m, --deselect or test files on the command line says so in its verdict line and in
verdict.json: how many of the checks that apply to its services ran, and what narrowed it (serial and -n 2)."""

from __future__ import annotations

import jsonschema
import pytest

from deploycheck.verdict import schema
from tests.conftest import REPO, write_environment

pytest_plugins = ["tests.webhook_receiver"]

APPLICABLE = 6  # health.liveness, health.readiness, version.matches_expected for each of two services


@pytest.fixture
def environments(start_demo, tmp_path):
    running = start_demo("api-gateway", "orders")
    services = {name: {"url": url} for name, url in running.urls.items()}
    return write_environment(tmp_path / "environments", "staging", services)


@pytest.mark.parametrize(
    ("narrowing", "by", "ran"),
    [
        (["-k", "liveness"], "-k liveness", 2),
        (["-k", "version or readiness"], "-k 'version or readiness'", 4),
        (
            ["--deselect", "checks/test_health.py::test_readiness"],
            "--deselect checks/test_health.py::test_readiness",
            4,
        ),
    ],
    ids=["-k", "-k expression", "--deselect"],
)
def test_a_narrowed_pass_says_how_many_applicable_checks_ran(environments, run_suite, workers, narrowing, by, ran):
    run = run_suite(environments, "--env", "staging", *narrowing, workers=workers)

    assert run.ret == 0, run.stdout  # it still promotes: the person who narrowed it asked for exactly this
    assert run.verdict["narrowed"] == {"by": [by], "ran": ran, "applicable": APPLICABLE}
    note = f"{ran} of {APPLICABLE} applicable checks ran: narrowed by {by}"
    assert f"VERDICT: PASS -> promote ({note}) (exit status 0)" in run.stdout
    jsonschema.validate(run.verdict, schema())


def test_leaving_out_only_checks_that_cannot_apply_is_no_narrowing(environments, run_suite, workers):
    # The database and metric checks cannot apply (no such section): -k leaving them out narrows nothing.
    run = run_suite(environments, "--env", "staging", "-k", "not database and not latency", workers=workers)

    assert run.ret == 0, run.stdout
    assert "narrowed" not in run.verdict
    assert "VERDICT: PASS -> promote (exit status 0)" in run.stdout


def test_a_test_file_on_the_command_line_narrows_to_what_it_holds(environments, run_suite, workers, tmp_path):
    summary = tmp_path / "summary.md"
    health = REPO / "checks" / "test_health.py"
    run = run_suite(environments, "--env", "staging", "--summary-file", str(summary), workers=workers, checks=[health])

    assert run.ret == 0, run.stdout
    assert run.verdict["narrowed"] == {"by": [str(health)], "ran": 4, "applicable": None}
    assert f"PASS -> promote (4 checks ran: narrowed by {health}; checks outside it were not collected)" in run.stdout
    assert f"Narrowed: 4 checks ran: narrowed by {health}" in summary.read_text()
    jsonschema.validate(run.verdict, schema())


def test_webhooks_say_the_run_was_narrowed_as_the_terminal_does(start_demo, run_suite, receiver, tmp_path, workers):
    running = start_demo("api-gateway", "orders")
    hooks = [
        {"url": f"{receiver.url}/slack", "format": "slack", "verdicts": ["PASS"]},
        {"url": f"{receiver.url}/json", "verdicts": ["PASS"]},
    ]
    services = {name: {"url": url} for name, url in running.urls.items()}
    environments = write_environment(tmp_path / "environments", "staging", services, notifications={"webhooks": hooks})
    run = run_suite(environments, "--env", "staging", "-k", "liveness", workers=workers)

    note = f"2 of {APPLICABLE} applicable checks ran: narrowed by -k liveness"
    assert run.ret == 0 and f"VERDICT: PASS -> promote ({note})" in run.stdout, run.stdout
    (slack,) = receiver.bodies("/slack")
    assert slack["text"].splitlines()[0] == f":white_check_mark: deploycheck staging: *PASS* -> promote ({note})"
    (generic,) = receiver.bodies("/json")
    assert generic["notes"] == [note]
    assert generic["narrowed"] == run.verdict["narrowed"] == {"by": ["-k liveness"], "ran": 2, "applicable": 6}
