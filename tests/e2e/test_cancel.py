"""A cancelled run loses nothing: the demo with a flow blocked halfway (waiting for a report that takes 30 s), and the
run killed by SIGTERM or SIGHUP, as CI, a Job's deadline or an evicted pod would. What the flow created is gone from
the demo (its cleanups ran), verdict.json is INCONCLUSIVE saying which signal cancelled it and what each interrupted
flow left behind (a cleanup that fails during the cancellation is listed), and the run exits 2 (interrupted)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from deploycheck.verdict import schema
from tests.conftest import REPO, set_faults, write_environment
from tests.e2e.test_flows import CRUD

pytest_plugins = ["tests.webhook_receiver"]

SMOKE_USER = "smoke-cancel"
SMOKE_PASSWORD = "cancel-Pa55word-never-shown"
REFERENCE = "smoke-"  # what the flow creates carries smoke-<run id>: the demo is this test's own
STUCK = {  # CRUD's first steps, then a report that takes 30 s
    **CRUD,
    "steps": [
        CRUD["steps"][0],  # log in
        {**CRUD["steps"][1], "expect": {"status": 201}},  # create an order, however slow a loaded machine makes it
        {
            "name": "ask for a report",
            "method": "POST",
            "path": "/v1/reports",
            "body": {"kind": "orders", "reference": "smoke-${run_id}"},
            "expect": {"status": 202},
            "save": {"report_id": "id"},
        },
        {  # report_slow: 30 s, far longer than the test waits: the run is cancelled here
            "name": "wait for the report",
            "path": "/v1/reports/${report_id}",
            "until": {"status": "done"},
            "within": "120s",
        },
    ],
    "cleanup": [
        {"name": "delete the order", "method": "DELETE", "path": "/v1/orders/${order_id}", "expect": {"status": 204}},
        {
            "name": "delete the report",
            "method": "DELETE",
            "path": "/v1/reports/${report_id}",
            "expect": {"status": 204},
        },
    ],
}
NOTHING = {"orders": 0, "payments": 0, "reports": 0}


def store(running) -> dict[str, int]:
    answer = httpx.get(f"{running.admin_url}/store/api-gateway", params={"reference": REFERENCE}, timeout=5)
    return answer.json()["left"]


def cancel_mid_flow(
    running,
    environments: Path,
    tmp_path: Path,
    number: signal.Signals,
    workers: int,
    before_signal=lambda: None,
    again: signal.Signals | None = None,
    group: bool = False,
    entry_point: bool = False,
) -> tuple[int, str, dict[str, Any]]:
    """Run the flow, wait (polling the demo) until it has created its order and report and is waiting, signal
    the run (the pytest process a pipeline started, or with `entry_point` the run_smoke_tests.sh that started it;
    the workers are its business), and return how it ended."""
    verdict = tmp_path / "verdict.json"
    env = None
    if entry_point:
        env = {
            **os.environ,
            "DEPLOYCHECK_NO_VENV": "1",
            "PYTHON": sys.executable,
            "DEPLOYCHECK_REPORTS_DIR": str(tmp_path),
        }
        command = [str(REPO / "run_smoke_tests.sh"), "staging", "--environments-dir", str(environments), "--"]
    else:
        command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO)]
        command += ["--environments-dir", str(environments), "--env", "staging", "--verdict-file", str(verdict)]
        command += [str(REPO / "smoke")]
    command += [*(["-n", str(workers)] if workers else []), "-p", "no:cacheprovider"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=group
    )
    try:
        deadline = time.monotonic() + 90
        while store(running)["reports"] < 1 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[0].decode()
        assert store(running) == {"orders": 1, "payments": 0, "reports": 1}  # mid-flow: created, not yet removed
        before_signal()
        if group:  # as a CI runner stopping a job: every process of the group, workers included, at once
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)
        if again is not None:  # an impatient CI: a second signal must not cut the cleanups short
            process.send_signal(again)
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert verdict.exists(), output.decode()
    return process.returncode, output.decode(), json.loads(verdict.read_text())


@pytest.fixture
def stuck_flow(start_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("SMOKE_USER", SMOKE_USER)
    monkeypatch.setenv("SMOKE_PASSWORD", SMOKE_PASSWORD)
    running = start_demo("api-gateway", faults={"api-gateway": ["report_slow"]})
    services = {"api-gateway": {"url": running.urls["api-gateway"], "flows": ["stuck"]}}
    environments = write_environment(
        tmp_path / "environments",
        "staging",
        services,
        allow_mutating_flows=True,
        requires_approval=False,
        declared_flows={"stuck": STUCK},
    )
    return running, environments


@pytest.mark.parametrize(
    ("number", "workers", "prefetch", "again", "group"),
    [
        (signal.SIGTERM, 0, "1", None, False),
        (signal.SIGTERM, 2, "1", None, False),  # to the controller only: it passes the signal on to its workers
        (signal.SIGTERM, 2, "1", None, True),  # to every process at once: each worker has it twice, then
        (signal.SIGHUP, 0, "1", signal.SIGTERM, False),
        (signal.SIGTERM, 0, "0", None, False),  # the flow runs inside its own test, not in a thread before the tests
        (signal.SIGTERM, 2, "0", None, False),
    ],
    ids=[
        "SIGTERM-serial",
        "SIGTERM-xdist-2",
        "SIGTERM-xdist-2-process-group",
        "SIGHUP-then-SIGTERM-serial",
        "SIGTERM-in-its-test",
        "SIGTERM-in-its-test-xdist-2",
    ],
)
def test_a_cancelled_run_cleans_up_and_says_so(
    stuck_flow, tmp_path, monkeypatch, number, workers, prefetch, again, group
):
    monkeypatch.setenv("DEPLOYCHECK_PREFETCH", prefetch)
    running, environments = stuck_flow
    status, output, document = cancel_mid_flow(
        running, environments, tmp_path, number, workers, again=again, group=group
    )

    assert status == 2, output  # pytest's "interrupted"
    assert store(running) == NOTHING  # the cleanups ran: the order and the report are gone
    assert (document["verdict"], document["action"], document["exit_status"]) == ("INCONCLUSIVE", "hold", 2)
    assert f"cancelled by {number.name}" in document["reasons"][0], document["reasons"]
    assert document["cancelled"]["signal"] == number.name
    flows = document["cancelled"]["flows"]
    assert len(flows) == 1, json.dumps(flows, indent=1)
    [flow] = flows
    assert (flow["service"], flow["flow"], flow["check"]) == ("api-gateway", "stuck", "flows.stuck")
    assert flow["interrupted"] and flow["stopped_at"] == "wait for the report", (flow, output)
    assert [(step["name"], step["status"]) for step in flow["cleanups"]] == [
        ("delete the order", 204),  # a declared flow's cleanups run in the order written
        ("delete the report", 204),
    ]
    assert flow["left_behind"] == []
    assert SMOKE_PASSWORD not in output + json.dumps(document)
    jsonschema.validate(document, schema())


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-2"])
def test_a_signal_to_run_smoke_tests_sh_alone_reaches_the_run(stuck_flow, tmp_path, workers):
    # CI stopping a job, or a container whose PID 1 is the script: only the script is signalled.
    running, environments = stuck_flow
    status, output, document = cancel_mid_flow(
        running, environments, tmp_path, signal.SIGTERM, workers, entry_point=True
    )

    assert status == 2, output  # the script exits as pytest did
    assert store(running) == NOTHING  # the flow's cleanups ran
    assert document["cancelled"]["signal"] == "SIGTERM"
    assert f"verdict        {tmp_path}/verdict.json" in output  # and the script still lists the reports


def cancel_with_failing_cleanups(running, environments: Path, tmp_path: Path, workers: int):
    """SIGTERM mid-flow, every DELETE (the flow's cleanups) answering 500 from just before the signal."""
    failing = lambda: set_faults(running, "api-gateway", ["report_slow", "delete_fails"])  # noqa: E731
    return cancel_mid_flow(running, environments, tmp_path, signal.SIGTERM, workers, before_signal=failing)


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-2"])
def test_a_cleanup_that_fails_during_the_cancellation_is_listed(stuck_flow, tmp_path, workers):
    running, environments = stuck_flow
    status, output, document = cancel_with_failing_cleanups(running, environments, tmp_path, workers)

    assert status == 2, output
    assert store(running) == {"orders": 1, "payments": 0, "reports": 1}  # the cleanups could not remove them
    [flow] = document["cancelled"]["flows"]
    left = flow["left_behind"]
    assert len(left) == 2 and all("answered 500" in what for what in left), left
    assert any(what.startswith("'delete the order': DELETE /v1/orders/ord_") for what in left), left
    assert "left data behind" in document["reasons"][0], document["reasons"]
    finding = next(f for f in document["services"]["api-gateway"]["findings"] if f["check"] == "flows.stuck")
    assert finding["outcome"] == "failed" and "cleanup failed, left behind" in finding["message"], finding


def test_webhooks_say_the_run_was_cancelled_and_what_it_left_behind(stuck_flow, receiver, tmp_path, workers):
    running, environments = stuck_flow
    file = environments / "staging.yaml"
    configured = yaml.safe_load(file.read_text())
    hooks = [{"url": f"{receiver.url}/slack", "format": "slack"}, {"url": f"{receiver.url}/json"}]
    file.write_text(yaml.safe_dump({**configured, "notifications": {"webhooks": hooks}}, sort_keys=False))
    status, output, document = cancel_with_failing_cleanups(running, environments, tmp_path, workers)

    assert status == 2, output
    said = "cancelled by SIGTERM; 1 flow interrupted, 1 left data behind (listed under `cancelled`)"
    assert said in document["reasons"][0], document["reasons"]  # as the terminal and summary.md say it
    (slack,) = receiver.bodies("/slack")
    lines = slack["text"].splitlines()
    assert lines[0] == ":warning: deploycheck staging: *INCONCLUSIVE* -> hold" and lines[1] == said, lines
    left = [line for line in lines if line.startswith("flow stuck (api-gateway) left behind: ")]
    assert len(left) == 2 and all("answered 500" in line for line in left), lines
    (generic,) = receiver.bodies("/json")
    assert generic["notes"] == [said]
    assert generic["cancelled"] == document["cancelled"] and generic["cancelled"]["signal"] == "SIGTERM"
    assert SMOKE_PASSWORD not in json.dumps(receiver.received)


def test_the_handlers_before_the_run_are_back_after_it(start_demo, pytester, tmp_path):
    # pytest.main in a program: the program's own SIGTERM and SIGHUP handlers are its own again afterwards.
    def programs_own(number, frame):
        raise AssertionError("not called")

    before = {number: signal.signal(number, programs_own) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        running = start_demo("orders")
        environments = write_environment(
            tmp_path / "environments", "staging", {"orders": {"url": running.urls["orders"]}}
        )
        result = pytester.runpytest_inprocess(
            "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO), "--environments-dir", str(environments),
            "--env", "staging", "--verdict-file", str(tmp_path / "verdict.json"), "--assert=plain",
            str(REPO / "checks" / "test_health.py"),
        )  # fmt: skip
        assert result.ret == 0, result.stdout.str()
        assert signal.getsignal(signal.SIGTERM) is programs_own
        assert signal.getsignal(signal.SIGHUP) is programs_own
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
