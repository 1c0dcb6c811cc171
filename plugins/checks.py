"""What every check item carries: its target and check id (on `user_properties`, so they reach the xdist
controller with each report), the `verify` fixture that records a finding, and how its outcome reads on the
terminal (`INCONCLUSIVE` rather than a plain failure)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from deploycheck.findings import CheckFailed, Finding, Inconclusive, Outcome
from plugins import reporting
from plugins.targets import TARGET, Target, redactor_key

TARGET_PROPERTY = "deploycheck_target"  # "env/service"
CHECK_PROPERTY = "deploycheck_check"  # stable check id, e.g. "health.liveness"
FINDING_PROPERTY = "deploycheck_finding"  # Finding.to_dict()
ERROR_PROPERTY = "deploycheck_error"  # "assertion" (the service failed) or "error" (the check itself broke)


def check_id(item: pytest.Function) -> str:
    """`checks/test_health.py::test_liveness` -> `health.liveness`: the stable id of a check in verdict.json."""
    module = Path(str(item.fspath)).stem.removeprefix("test_")
    return f"{module}.{item.originalname.removeprefix('test_')}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and hasattr(item, "callspec") and TARGET in item.callspec.params:
            item.user_properties.append((TARGET_PROPERTY, item.callspec.id))
            item.user_properties.append((CHECK_PROPERTY, check_id(item)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and call.excinfo is not None:
        kind = "assertion" if call.excinfo.errisinstance(AssertionError) else "error"
        if call.excinfo.errisinstance(Inconclusive):
            kind = "inconclusive"
        report.user_properties.append((ERROR_PROPERTY, kind))
    return report


def pytest_report_teststatus(
    report: pytest.TestReport,
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.when == "call" and report.failed and (ERROR_PROPERTY, "inconclusive") in report.user_properties:
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None


@pytest.fixture
def verify(request: pytest.FixtureRequest, target: Target) -> Callable[[Finding], Finding]:
    """Record a finding as this check's evidence; fail the check if the rule was broken, and stop it as
    inconclusive if the evidence was missing."""
    redact = request.config.stash[redactor_key]
    check = check_id(request.node)
    reporting.label(target.environment, target.service.name, check)

    def record(finding: Finding) -> Finding:
        __tracebackhide__ = True  # a failure points at the check's own line, not at this helper
        finding = finding.but(check=check, severity=target.service.severity_of(check), test=request.node.nodeid)
        data = redact.scrub_document(finding.to_dict())
        request.node.user_properties.append((FINDING_PROPERTY, data))
        reporting.attach_finding(data)
        if finding.outcome is Outcome.FAILED:
            raise CheckFailed(data["message"])
        if finding.outcome is Outcome.INCONCLUSIVE:
            raise Inconclusive(data["message"])
        return finding

    return record
