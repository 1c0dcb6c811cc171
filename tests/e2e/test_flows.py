"""The key user flows end to end: the suite's own flows (`smoke/`) and a declared flow, run against the demo's
API; each fault mode fails the flow it breaks, naming the step; what a flow creates is gone afterwards (checked in
the demo's own store); mutating flows run only where allowed; no password or token in any output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import REPO, write_checks, write_environment

FLOWS = ("login", "create_order", "process_payment", "generate_report")
CHECKS = tuple(f"flows.{flow}" for flow in FLOWS)
SMOKE_USER = "smoke-e2e"
SMOKE_PASSWORD = "e2e-Pa55word-never-shown"  # the demo creates this account from the same variables
TOKEN_PREFIX = "dtk_"  # the demo's bearer tokens start so


@pytest.fixture
def flow_demo(start_demo, tmp_path, monkeypatch):
    """The demo's api-gateway (in the given fault modes) and an environment whose services run the given flows."""
    monkeypatch.setenv("SMOKE_USER", SMOKE_USER)
    monkeypatch.setenv("SMOKE_PASSWORD", SMOKE_PASSWORD)

    def start(*modes: str, flows: tuple[str, ...] = FLOWS, **top: Any):
        running = start_demo("api-gateway", faults={"api-gateway": list(modes)})
        services = {"api-gateway": {"url": running.urls["api-gateway"], "flows": list(flows)}}
        # A test environment that allows what the flows do; `requires_approval=None` leaves the key out (true).
        top = {"allow_mutating_flows": True, "requires_approval": False, **top}
        top = {key: value for key, value in top.items() if value is not None}
        return write_environment(tmp_path / "environments", "staging", services, **top), running

    return start


def run_flows(run_suite, environments, *args: str, workers: int = 0):
    return run_suite(environments, "--env", "staging", *args, workers=workers, checks=[REPO / "smoke"])


def findings(run) -> dict[str, dict[str, Any]]:
    assert run.verdict is not None, run.stdout
    return {finding["check"]: finding for finding in run.verdict["services"]["api-gateway"]["findings"]}


def left_behind(running, run) -> dict[str, int]:
    """What the run's flows left in the demo's store: rows that carry its run id."""
    run_ids = {finding["source"].get("run_id") for finding in findings(run).values()} - {None}
    assert len(run_ids) == 1, run_ids  # one run id for the whole run, also under -n 2
    answer = httpx.get(f"{running.admin_url}/store/api-gateway", params={"reference": run_ids.pop()}, timeout=5)
    return answer.json()["left"]


def test_every_flow_passes_on_a_healthy_demo_and_leaves_nothing_behind(flow_demo, run_suite, workers):
    environments, running = flow_demo()
    run = run_flows(run_suite, environments, workers=workers)

    assert run.ret == 0, run.stdout
    assert run.outcomes() == {("api-gateway", check): "passed" for check in CHECKS}
    payment = findings(run)["flows.process_payment"]
    steps = [(step["name"], step["phase"], step["status"]) for step in payment["observed"]["steps"]]
    assert steps[-2:] == [("refund the payment", "cleanup", 204), ("delete the order", "cleanup", 204)]
    assert ("pay the order", "step", 201) in steps
    assert all(step["ms"] > 0 for step in payment["observed"]["steps"])
    assert left_behind(running, run) == {"orders": 0, "payments": 0, "reports": 0}


@pytest.mark.parametrize(
    ("mode", "flow", "step"),
    [
        ("order_unreadable", "create_order", "read the order back"),
        ("payment_declined", "process_payment", "pay the order"),
        ("payment_error", "process_payment", "pay the order"),
        ("report_empty", "generate_report", "wait for the report"),
        ("report_slow", "generate_report", "wait for the report"),
    ],
)
def test_a_fault_fails_the_flow_it_breaks_naming_the_step(flow_demo, run_suite, mode, flow, step):
    environments, running = flow_demo(mode)
    run = run_flows(run_suite, environments)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("api-gateway", f"flows.{flow}"): "failed"}
    message = findings(run)[f"flows.{flow}"]["message"]
    assert f"step {step!r}" in message, message
    # Halfway through, and still nothing left: the cleanups ran after the failure.
    assert left_behind(running, run) == {"orders": 0, "payments": 0, "reports": 0}


def test_a_flow_failing_halfway_is_cleaned_up_under_xdist_too(flow_demo, run_suite, tmp_path):
    environments, running = flow_demo("payment_error")
    results = tmp_path / "allure-results"
    run = run_flows(run_suite, environments, "--alluredir", str(results), workers=2)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("api-gateway", "flows.process_payment"): "failed"}
    assert "step 'pay the order': POST /v1/payments answered 500" in findings(run)["flows.process_payment"]["message"]
    assert left_behind(running, run) == {"orders": 0, "payments": 0, "reports": 0}
    # In the Allure report, each step is a step of its test: the failed one failed, the cleanups after it.
    payment = next(
        result
        for path in results.glob("*-result.json")
        if "flows.process_payment" in (result := json.loads(path.read_text()))["name"]
    )
    steps = [(step["name"].split(":")[0], step["name"].split(": ")[1], step["status"]) for step in payment["steps"]]
    assert ("step", "pay the order", "failed") in steps
    assert steps[-1] == ("cleanup", "delete the order", "passed"), steps


def test_refused_login_fails_every_flow_saying_it_could_not_start(flow_demo, run_suite):
    environments, _ = flow_demo("login_rejected")
    run = run_flows(run_suite, environments)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("api-gateway", check): "failed" for check in CHECKS}
    found = findings(run)
    assert "step 'log in': POST /v1/auth/token answered 401" in found["flows.login"]["message"]
    assert f"could not start: logging in as {SMOKE_USER} failed" in found["flows.create_order"]["message"]


def test_a_service_that_is_down_fails_its_flows(flow_demo, run_suite):
    environments, _ = flow_demo("down", flows=("login", "create_order"))
    run = run_flows(run_suite, environments)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {
        ("api-gateway", "flows.login"): "failed",
        ("api-gateway", "flows.create_order"): "failed",
    }
    assert "could not connect" in findings(run)["flows.login"]["message"]


def test_a_failed_cleanup_says_what_it_left(flow_demo, run_suite):
    environments, running = flow_demo("delete_fails", flows=("create_order",))
    run = run_flows(run_suite, environments)

    assert run.ret == 1, run.stdout
    message = findings(run)["flows.create_order"]["message"]
    assert "cleanup failed, left behind: 'delete the order': DELETE /v1/orders/ord_" in message, message
    assert left_behind(running, run) == {"orders": 1, "payments": 0, "reports": 0}


def test_mutating_flows_run_only_where_allowed(flow_demo, run_suite):
    environments, _ = flow_demo(allow_mutating_flows=False)
    run = run_flows(run_suite, environments)

    assert run.ret == 0, run.stdout
    assert run.outcomes() == {("api-gateway", c): "passed" if c == "flows.login" else "skipped" for c in CHECKS}
    assert "pass --allow-mutating to run it" in findings(run)["flows.create_order"]["message"]
    not_judged = {(item["service"], item["section"]) for item in run.verdict["not_judged"]}
    assert {("api-gateway", f"flows.{flow}") for flow in FLOWS[1:]} <= not_judged  # skipped: listed, never passed
    assert ("api-gateway", "flows.login") not in not_judged

    allowed = run_flows(run_suite, environments, "--allow-mutating", "-k", "create_order")
    assert allowed.outcomes() == {("api-gateway", "flows.create_order"): "passed"}, allowed.stdout
    # It changed data without --approve: the verdict names the file that let it.
    approval = findings(allowed)["flows.create_order"]["source"]["approval"]
    assert approval.startswith("not required: ") and approval.endswith("staging.yaml sets requires_approval: false")


@pytest.mark.parametrize("requires_approval", [True, None], ids=["set", "unset: the default"])
def test_production_needs_approval_for_mutating_flows(flow_demo, run_suite, requires_approval):
    environments, _ = flow_demo(flows=("create_order",), requires_approval=requires_approval)
    run = run_flows(run_suite, environments)

    assert run.outcomes() == {("api-gateway", "flows.create_order"): "skipped"}, run.stdout
    assert "requires approval: pass --approve" in findings(run)["flows.create_order"]["message"]
    approved = run_flows(run_suite, environments, "--approve")
    assert approved.outcomes() == {("api-gateway", "flows.create_order"): "passed"}, approved.stdout
    assert findings(approved)["flows.create_order"]["source"]["approval"] == "given: --approve"


CRUD = {
    "mutating": True,
    "headers": {"Authorization": "Bearer ${token}"},
    "steps": [
        {
            "name": "log in",
            "method": "POST",
            "path": "/v1/auth/token",
            "form": {"grant_type": "password", "username": "${SMOKE_USER}", "password": "${SMOKE_PASSWORD}"},
            "save": {"token": "access_token"},
        },
        {
            "name": "create an order",
            "method": "POST",
            "path": "/v1/orders",
            "body": {"items": [{"sku": "SMOKE-TEST", "qty": 1, "price": 1.0}], "reference": "smoke-${run_id}"},
            "expect": {"status": 201, "fields": {"reference": "smoke-${run_id}"}, "max_ms": 2000},
            "save": {"order_id": "id"},
        },
        {"name": "read it back", "path": "/v1/orders/${order_id}", "expect": {"fields": {"id": "${order_id}"}}},
    ],
    "cleanup": [{"name": "delete it", "method": "DELETE", "path": "/v1/orders/${order_id}", "expect": {"status": 204}}],
}


def test_a_declared_flow_with_a_saved_token_and_a_cleanup(flow_demo, run_suite, workers):
    environments, running = flow_demo(flows=("crud",), declared_flows={"crud": CRUD})
    run = run_flows(run_suite, environments, workers=workers)

    assert run.ret == 0, run.stdout
    assert run.outcomes() == {("api-gateway", "flows.crud"): "passed"}
    steps = findings(run)["flows.crud"]["observed"]["steps"]
    assert [(step["name"], step["status"]) for step in steps] == [
        ("log in", 200),
        ("create an order", 201),
        ("read it back", 200),
        ("delete it", 204),
    ]
    assert left_behind(running, run) == {"orders": 0, "payments": 0, "reports": 0}


def test_a_declared_flow_fails_at_its_step_and_still_cleans_up(flow_demo, run_suite):
    environments, running = flow_demo("order_unreadable", flows=("crud",), declared_flows={"crud": CRUD})
    run = run_flows(run_suite, environments)

    assert run.not_passed() == {("api-gateway", "flows.crud"): "failed"}, run.stdout
    assert "step 'read it back': GET /v1/orders/ord_" in findings(run)["flows.crud"]["message"]
    assert left_behind(running, run) == {"orders": 0, "payments": 0, "reports": 0}


def test_a_flow_no_one_provides_is_a_usage_error_said_first(flow_demo, run_suite, workers):
    environments, _ = flow_demo(flows=("login", "checkout"))
    run = run_flows(run_suite, environments, workers=workers)

    assert run.ret == 4, run.stdout
    assert "services.api-gateway.flows[1]: no flow 'checkout'" in run.stdout
    # Said first, not after a line for each configured section that no check judged (the run never began).
    said = [line for line in run.stdout.splitlines() if "no flow 'checkout'" in line or "not judged" in line]
    assert said and "not judged" not in said[0], run.stdout


def test_no_password_or_token_in_any_output(flow_demo, run_suite, tmp_path):
    # A failing run shows the most: tracebacks with locals (-l), the failing steps' answers, the summary.
    environments, _ = flow_demo("payment_error", flows=(*FLOWS, "crud"), declared_flows={"crud": CRUD})
    summary = tmp_path / "summary.md"
    run = run_flows(run_suite, environments, "-l", "-v", "--summary-file", str(summary))
    assert run.ret == 1, run.stdout

    texts = {"terminal": run.stdout, "verdict": str(run.verdict), "summary": summary.read_text()}
    for name, text in texts.items():
        assert SMOKE_PASSWORD not in text, name
        assert TOKEN_PREFIX not in text, name  # every bearer token of the demo starts so
        assert "Bearer ***" in text or "Bearer" not in text, name
    assert "'log in'" in texts["verdict"] and "pay the order" in texts["terminal"]  # the steps were shown


def test_without_prefetch_each_flow_runs_in_its_own_test(flow_demo, run_suite, monkeypatch):
    monkeypatch.setenv("DEPLOYCHECK_PREFETCH", "0")  # flows run one after another, inside their tests
    environments, running = flow_demo("payment_error")
    run = run_flows(run_suite, environments)

    assert run.ret == 1, run.stdout
    assert run.not_passed() == {("api-gateway", "flows.process_payment"): "failed"}
    assert "step 'pay the order'" in findings(run)["flows.process_payment"]["message"]
    assert left_behind(running, run) == {"orders": 0, "payments": 0, "reports": 0}
    # In its own test too, a flow that changed data names the file that let it run without --approve.
    approval = findings(run)["flows.create_order"]["source"]["approval"]
    assert approval.endswith("staging.yaml sets requires_approval: false")


TEAM_FLOWS = """import pytest


@pytest.mark.flow(name="checkout")
def test_buy_something(step, flow_client):
    step("list the items", "GET", "/v1/items", client=flow_client, expect=201)


@pytest.mark.flow
def test_browse(step, flow_client):
    step("list the items", "GET", "/v1/items", client=flow_client)
"""


def test_a_teams_own_flow_is_flows_name_wherever_it_lives(flow_demo, run_suite, tmp_path, workers):
    # The flow's own name, not its file's: `severity: {flows.checkout: warning}` applies to it.
    environments, _ = flow_demo(flows=("checkout", "browse"))
    document = yaml.safe_load((environments / "staging.yaml").read_text())
    document["services"]["api-gateway"]["severity"] = {"flows.checkout": "warning"}
    (environments / "staging.yaml").write_text(yaml.safe_dump(document))
    checks = write_checks(tmp_path / "team", test_checkout=TEAM_FLOWS)
    run = run_suite(environments, "--env", "staging", workers=workers, checks=[checks])

    assert run.outcomes() == {("api-gateway", "flows.checkout"): "failed", ("api-gateway", "flows.browse"): "passed"}
    assert findings(run)["flows.checkout"]["severity"] == "warning"
    assert run.ret == 0, run.stdout  # the failing flow is advisory here, as configured
    assert not [item for item in run.verdict["not_judged"] if item["section"].startswith("severity.")]


def typo_flow() -> dict[str, Any]:
    """CRUD with one saved name misspelt where it is used (`${orderid}` for `${order_id}`)."""
    flow = json.loads(json.dumps(CRUD))
    flow["steps"][2]["path"] = "/v1/orders/${orderid}"
    return flow


def test_validate_and_the_run_refuse_a_flow_that_could_not_run_before_any_request(flow_demo, run_suite, workers):
    declared = {"crud": typo_flow(), "login": {"steps": [{"name": "home", "path": "/health"}]}}
    environments, running = flow_demo(flows=("crud", "checkout"), declared_flows=declared)
    validated = subprocess.run(
        [sys.executable, "-m", "deploycheck", "validate", "staging", "--environments-dir", str(environments)],
        capture_output=True,
        text=True,
        cwd=environments,
        timeout=60,
    )
    expected = [
        "services.api-gateway.flows[1]: no flow 'checkout'",
        "declared_flows.crud.steps[2].path: ${orderid} has no value here",
        "(did you mean ${order_id}?)",
        "declared_flows.login: a flow written in Python has this name",
    ]
    assert validated.returncode == 4, validated.stdout + validated.stderr
    for text in expected:
        assert text in validated.stderr, validated.stderr
    assert re.search(r"staging\.yaml:\d+:\d+: declared_flows\.crud\.steps\[2\]\.path", validated.stderr)

    run = run_flows(run_suite, environments, workers=workers)
    assert run.ret == 4, run.stdout
    for text in expected:  # all at once, as validate says them
        assert text in run.stdout, run.stdout
    answer = httpx.get(f"{running.admin_url}/store/api-gateway", params={"reference": "smoke-"}, timeout=5).json()
    assert answer["left"] == {"orders": 0, "payments": 0, "reports": 0}  # nothing was sent
    # The usage error is the first thing said, not after a table of checks that never ran.
    first = next(line for line in run.stdout.splitlines() if "ERROR" in line or "not judged" in line)
    assert "ERROR" in first, run.stdout
