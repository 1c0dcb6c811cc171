"""What every collected test carries, and how a check records what it judged.

Every test pytest runs is part of the verdict: a check parametrized over `target` judges one service; any other
test is an environment-wide check. Its scope (service, check id, severity, the configuration sections its probes
read) rides on `user_properties`, so it reaches the xdist controller with each report, as values: never parsed
back out of a test id. The `verify` fixture records findings; how each phase ended is noted for the controller,
which decides the outcome in one place (`deploycheck.outcomes`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deploycheck.evidence.registry import REGISTRY
from deploycheck.findings import CheckFailed, Finding, Inconclusive, Outcome
from deploycheck.outcomes import Ending
from deploycheck_plugins import reporting
from deploycheck_plugins.targets import (
    environment_key,
    is_running,
    probes_of,
    redactor_key,
    run_key,
    service_of,
    settings_key,
)

SCOPE_PROPERTY = "deploycheck_scope"  # {"service", "check", "severity", "sections"}
FINDING_PROPERTY = "deploycheck_finding"  # Finding.to_dict(), redacted
ENDING_PROPERTY = "deploycheck_ending"  # how a phase that did not pass ended (an Ending value)
INCONCLUSIVE_PROPERTY = "deploycheck_inconclusive"  # the phase stopped as inconclusive: shown as such
NOT_APPLICABLE_OUTPUT = "deploycheck_not_applicable"  # xdist workeroutput: the skipped findings of deselected checks
not_applicable_key = pytest.StashKey[list[dict[str, Any]]]()  # Finding.to_dict() of each check not applicable
flow_check_key = pytest.StashKey[str]()  # the flow a test runs (set by plugins/flows.py): its check id is flows.<name>
_RECORDED = "_deploycheck_recorded"  # set on the exception `verify` raises for the finding it just recorded
_Reason = tuple[str, dict[str, Any]]  # why a check does not apply: (message, source)


def check_id(item: pytest.Item) -> str:
    """`checks/test_health.py::test_liveness` -> `health.liveness`: the stable id of a check in verdict.json. A flow
    is `flows.<its name>` wherever it is written (a team's `test_checkout.py`, `@pytest.mark.flow(name=...)`)."""
    flow = item.stash.get(flow_check_key, None)
    module = "flows" if flow is not None else Path(str(item.path)).stem.removeprefix("test_")
    name = flow if flow is not None else getattr(item, "originalname", item.name).removeprefix("test_")
    return ".".join(re.sub(r"[^a-z0-9_]+", "_", part.lower()) or "_" for part in (module, name))


def scope_of(item: pytest.Item | pytest.TestReport) -> dict[str, Any]:
    """The scope a test was given at collection: plain values that travel with its reports."""
    return property_of(item, SCOPE_PROPERTY) or {}


def property_of(holder: pytest.Item | pytest.TestReport, name: str) -> Any:
    """The last value of a user property (reports carry them as a list of pairs)."""
    return dict(getattr(holder, "user_properties", ())).get(name)


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: only what will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not is_running(config):
        return
    environment = config.stash[environment_key]
    settings = config.stash[settings_key]
    not_applicable: dict[pytest.Item, Finding] = {}
    for item in items:
        service = service_of(item)
        check = check_id(item)
        if settings.shadow:
            severity = "shadow"  # --shadow: the whole run is a trial
        elif item.get_closest_marker("advisory"):
            severity = "warning"
        elif service is not None:
            severity = environment.services[service].severity_of(check)
        else:
            severity = "critical"
        scope = {"service": service, "check": check, "severity": severity, "sections": _sections_read(item, service)}
        item.user_properties.append((SCOPE_PROPERTY, scope))
        why = why_not_applicable(config, item, service)
        if why is not None:
            message, source = why
            not_applicable[item] = Finding(
                Outcome.SKIPPED,
                message,
                source=source,
                check=check,
                severity=severity,
                test=item.nodeid,
                service=service,
            )
    if not_applicable:
        # Known now, without setting anything up: not run at all (a test item costs about a millisecond, and
        # hundreds at scale), but listed in the verdict as skipped, with the reason.
        items[:] = [item for item in items if item not in not_applicable]
        config.hook.pytest_deselected(items=list(not_applicable))
    redact = config.stash[redactor_key]
    recorded = {item: redact.scrub_document(finding.to_dict()) for item, finding in not_applicable.items()}
    reporting.report_not_applicable(config, recorded)
    found = list(recorded.values())
    config.stash[not_applicable_key] = found
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller reads it when the worker is done
        config.workeroutput[NOT_APPLICABLE_OUTPUT] = found


def why_not_applicable(config: pytest.Config, item: pytest.Item, service: str | None) -> _Reason | None:
    """Why the check cannot apply to this run, known from the configuration alone."""
    run, at_time = config.stash[run_key], config.stash[settings_key].at
    probes = [REGISTRY.probe(name) for name in probes_of(item)]
    if at_time is not None and {probe.kind for probe in probes} != {"metrics"}:
        # The past is in Prometheus's history; health, the cluster, the database and flows are only now.
        at = datetime.fromtimestamp(at_time, UTC).isoformat(timespec="seconds")
        return "--at judges the metric checks only, as of a past moment", {"kind": "replay", "at": at}
    for probe in probes:
        source = {"kind": "configuration", "missing": probe.section}
        if probe.scope == "environment" and probe.plan(run.configured, None, run.settings) is None:
            return f"no `{probe.section}` configured for {run.configured.name}", source
        services = run.configured.services
        if probe.scope == "service" and service and services[service].section(probe.section) is None:
            return f"{run.configured.name}/{service}: no `{probe.section}` configured for this service", source
    return None


def _sections_read(item: pytest.Item, service: str | None) -> list[tuple[str | None, str]]:
    """(service or None for the environment, section) for every configuration section the check's probes read."""
    read: set[tuple[str | None, str]] = set()
    for probe in (REGISTRY.probe(name) for name in probes_of(item)):
        read.add((None if probe.scope == "environment" else service, probe.section))
        read.update((service, section) for section in probe.also_judges if service is not None)
    return sorted(read, key=lambda pair: (pair[0] or "", pair[1]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport | None:
    """A check that recorded its finding and raised it: the finding's message is the whole story. pytest's own
    report would render a traceback into `verify` (milliseconds a check, and noise in every report)."""
    excinfo = call.excinfo
    if excinfo is None or call.when != "call" or not getattr(excinfo.value, _RECORDED, False):
        return None
    sections = [(f"Captured {key} {when}", content) for when, key, content in item._report_sections]
    return pytest.TestReport(
        item.nodeid,
        item.location,
        dict.fromkeys(item.keywords, 1),
        "failed",
        str(excinfo.value),  # JUnit, Allure and the terminal show the finding's message as it is
        call.when,
        sections,
        call.duration,
        call.start,
        call.stop,
        user_properties=item.user_properties,
    )


@pytest.hookimpl(wrapper=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_ending(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and call.excinfo is not None:
        # A fresh list: the report must not share (and later see) the item's growing list.
        ending = _ending(call.excinfo)
        report.user_properties = [*report.user_properties, (ENDING_PROPERTY, ending.value)]
        if call.excinfo.errisinstance(Inconclusive):
            report.user_properties.append((INCONCLUSIVE_PROPERTY, True))
    return report


def _ending(excinfo: pytest.ExceptionInfo[BaseException]) -> Ending:
    if getattr(excinfo.value, _RECORDED, False):
        return Ending.RECORDED
    if excinfo.errisinstance(Inconclusive):
        return Ending.INCONCLUSIVE
    if excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        return Ending.ASSERTION
    return Ending.ERROR


def pytest_report_teststatus(
    report: pytest.TestReport,
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.failed and property_of(report, INCONCLUSIVE_PROPERTY):
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None


@pytest.fixture
def verify(request: pytest.FixtureRequest) -> Callable[[Finding], Finding]:
    """Record a finding as this check's evidence; fail the check if the rule was broken, and stop it as
    inconclusive if the evidence was missing."""
    redact = request.config.stash[redactor_key]
    scope = scope_of(request.node)

    def record(finding: Finding) -> Finding:
        __tracebackhide__ = True  # a failure points at the check's own line, not at this helper
        finding = finding.but(
            check=scope.get("check") or check_id(request.node),
            severity=scope.get("severity", "critical"),
            test=request.node.nodeid,
            service=scope.get("service"),
        )
        data = redact.scrub_document(finding.to_dict())  # the one place a recorded finding is redacted
        request.node.user_properties.append((FINDING_PROPERTY, data))
        reporting.attach_finding(request.config, data)
        error: Exception | None = None
        if finding.outcome is Outcome.FAILED:
            error = CheckFailed(data["message"])
        elif finding.outcome is Outcome.INCONCLUSIVE:
            error = Inconclusive(data["message"])
        if error is not None:
            setattr(error, _RECORDED, True)
            raise error
        return finding

    return record
