"""The verdict: decided on the controller only (never on xdist workers) from every test report, then handed to
the listeners of `pytest_deploycheck_verdict` (the writers of `plugins/outputs.py`, later actions), and turned
into the exit status.

Modelled on pytest's own junitxml: a collector object in `config.stash`, registered in `pytest_configure` and
removed in `pytest_unconfigure`; it listens to `pytest_runtest_logreport`, which the xdist controller re-fires
for every worker's report, so the same verdict comes out with `-n` as without.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from deploycheck.findings import Finding, Outcome
from deploycheck.kinds.metrics.probes import probe_traffic_refused
from deploycheck.outcomes import Ending, Phase, combine
from deploycheck.text import one_line
from deploycheck.verdict import RunReport, process_exit_status
from deploycheck_plugins import cancellation
from deploycheck_plugins.checks import (
    ENDING_PROPERTY,
    FINDING_PROPERTY,
    NOT_APPLICABLE_OUTPUT,
    not_applicable_key,
    property_of,
    scope_of,
)
from deploycheck_plugins.outputs import usage_error_key, write_error_key
from deploycheck_plugins.targets import environment_key, is_running, redactor_key, settings_key

collector_key = pytest.StashKey["VerdictCollector"]()

# pytest's own statuses that say the run itself did not happen as asked: they stay as pytest set them.
_PYTEST_OWN = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)
MESSAGE_CHARS = 500


@pytest.hookimpl(trylast=True)  # after deploycheck_plugins.targets has loaded the environment
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not is_running(config) or _runs_nothing(config):
        return  # workers only send reports; --collect-only, --fixtures and --markers run no check
    collector = VerdictCollector(config)
    config.stash[collector_key] = collector
    config.pluginmanager.register(collector, "deploycheck-verdict")


def _runs_nothing(config: pytest.Config) -> bool:
    option = config.option
    return any(getattr(option, name, False) for name in ("collectonly", "showfixtures", "show_fixtures_per_test"))


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.stash.get(collector_key, None)
    if collector is not None:
        del config.stash[collector_key]
        config.pluginmanager.unregister(collector)


class VerdictCollector:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = config.stash[settings_key]
        self.environment = config.stash[environment_key]
        self.redact = config.stash[redactor_key]
        self.started_at = datetime.now(UTC)
        self.findings: dict[str | None, list[Finding]] = {name: [] for name in self.environment.services}
        self.judged: set[tuple[str | None, str]] = set()  # (service, section) a check that ran has judged
        self._phases: dict[str, list[pytest.TestReport]] = defaultdict(list)
        self.document: dict[str, Any] | None = None
        self.watched: dict[str, Any] | None = None  # the rounds of --watch, when it ran
        self._not_applicable: dict[str, dict[str, Any]] = {}  # test id -> skipped finding of a deselected check

    def add_watch(self, result: Any) -> None:
        """The rounds of --watch, and one finding per watched rule (redacted like every other finding)."""
        for (service, _), finding in result.final().items():
            self.findings.setdefault(service, []).append(
                Finding.from_dict(self.redact.scrub_document(finding.to_dict()))
            )
        self.watched = self.redact.scrub_document(result.to_json())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._phases[report.nodeid].append(report)
        if report.when == "teardown":
            self._decide(report.nodeid)

    @pytest.hookimpl(optionalhook=True)  # an xdist hook: called on the controller as each worker finishes
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {})  # every worker collected the same checks: keep one copy each
        for data in output.get(NOT_APPLICABLE_OUTPUT, ()):
            self._not_applicable.setdefault(data["test"], data)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a check file that does not even import ran none of its checks
            message = self.redact(one_line(str(report.longrepr), MESSAGE_CHARS))
            check = ".".join(["collection", _slug(report.nodeid) or "session"])
            finding = Finding(Outcome.INCONCLUSIVE, f"cannot collect {report.nodeid}: {message}", check=check)
            self.findings.setdefault(None, []).append(finding.but(test=report.nodeid))

    def _decide(self, nodeid: str) -> None:
        reports = self._phases.pop(nodeid)
        last = reports[-1]
        scope = scope_of(last)
        service = scope.get("service")
        template = Finding(
            Outcome.PASSED,
            "",
            check=scope.get("check") or f"unscoped.{_slug(nodeid)}",
            severity=scope.get("severity", "critical"),
            test=nodeid,
            service=service,
        )
        recorded = [
            Finding.from_dict(value)  # type: ignore[arg-type]  # a plain dict, as `verify` recorded it
            for name, value in last.user_properties
            if name == FINDING_PROPERTY
        ]
        findings = combine(template, [self._phase(report) for report in reports], recorded)
        self.findings.setdefault(service, []).extend(findings)
        if any(finding.outcome is not Outcome.SKIPPED for finding in findings):
            self.judged.update((owner, section) for owner, section in scope.get("sections", ()))

    def _phase(self, report: pytest.TestReport) -> Phase:
        if report.passed:
            return Phase(report.when, Ending.PASSED)
        if report.skipped:
            return Phase(report.when, Ending.SKIPPED, self.redact(_skip_reason(report)))
        ending = Ending(property_of(report, ENDING_PROPERTY) or Ending.ERROR)
        return Phase(report.when, ending, self.redact(_crash_message(report)))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for nodeid in list(self._phases):  # interrupted: tests that started and never finished
            self._decide(nodeid)
        for data in self.config.stash.get(not_applicable_key, []):  # collected here, without xdist
            self._not_applicable.setdefault(data["test"], data)
        for data in self._not_applicable.values():  # redacted where they were made, as every finding
            self.findings.setdefault(data["service"], []).append(Finding.from_dict(data))
        reported = {finding.test for found in self.findings.values() for finding in found}
        cancelled = cancellation.cancelled(self.config, reported, exitstatus in _PYTEST_OWN)  # flows it cut short
        for finding in cancelled.findings if cancelled else ():
            self.findings.setdefault(finding.service, []).append(finding)
        stopped = None
        if exitstatus in _PYTEST_OWN:
            stopped = (int(exitstatus), f"the run stopped before its end ({pytest.ExitCode(exitstatus).name})")
            if usage_error_key in self.config.stash:
                stopped = (stopped[0], f"{stopped[1]}: {self.config.stash[usage_error_key]}")
            if cancelled is not None:
                stopped = (stopped[0], f"{stopped[1]}: {cancelled.reason}")
        report = RunReport(
            environment=self.environment.name,
            expected_version=self.settings.expected_version,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            findings={name: found for name, found in self.findings.items() if name is not None},
            environment_findings=self.findings.get(None, []),
            not_judged=self._not_judged(),
            stopped=stopped,
            watch=self.watched,
            shadow_run=self.settings.shadow,
            warnings=self._warnings(),
        )
        self.document = report.to_json()  # every finding was redacted once, when it was made
        if cancelled is not None:
            self.document["cancelled"] = cancelled.section()
        self.config.hook.pytest_deploycheck_verdict(config=self.config, document=self.document)
        if write_error_key in self.config.stash:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        elif exitstatus not in _PYTEST_OWN:
            session.exitstatus = process_exit_status(self.document, self.settings.inconclusive_exit)

    def _warnings(self) -> list[str]:
        """What weakens the evidence without deciding anything, or was configured and could not apply."""
        warnings = []
        for name, service in self.environment.services.items():
            if not service.tls.verify and service.url.startswith("https://"):
                warnings.append(
                    f"{name}: TLS certificates are not verified (tls.verify: false): its answers could come from anyone"
                )
            asked = self.settings.probe_traffic or (service.metrics.probe_traffic if service.metrics else None)
            why_not = probe_traffic_refused(self.environment, service) if asked else None
            if why_not:
                warnings.append(f"{name}: probe traffic was not sent: {why_not}")
        return warnings

    def _not_judged(self) -> list[dict[str, Any]]:
        """Configured sections that no check of this run judged: listed, so a PASS never hides them."""
        configured: list[tuple[str | None, str]] = [(None, section) for section in _sections(self.environment)]
        for name, service in self.environment.services.items():
            configured += [(name, section) for section in _sections(service)]
        unjudged = [
            {"service": service, "section": section, "why": "configured, but no check of this run judged it"}
            for service, section in configured
            if (service, section) not in self.judged
        ]
        return unjudged + self._unknown_severities()

    def _unknown_severities(self) -> list[dict[str, Any]]:
        """A `severity` entry that names no check of this run changes nothing: say so, never silently."""
        ran = {finding.check for found in self.findings.values() for finding in found}
        known = ran | {check.split(".", 1)[0] for check in ran}
        return [
            {"service": name, "section": f"severity.{check}", "why": "no check of this run has this id or group"}
            for name, service in self.environment.services.items()
            for check in service.severity
            if check not in known
        ]


ACTING_SECTIONS = ("rollback", "notifications")  # what acts on the verdict: never evidence a check judges


def _sections(configured: Any) -> list[str]:
    core = [section for section in ("health", "ready", "version") if getattr(configured, section, None) is not None]
    later = [section for section in configured.configured_sections() if section not in ACTING_SECTIONS]
    flows = [f"flows.{flow}" for flow in getattr(configured, "flows", ())]  # a skipped flow is not a judged one
    return core + later + flows


def _slug(nodeid: str) -> str:
    return "_".join(part for part in "".join(c if c.isalnum() else " " for c in nodeid.lower()).split())


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return one_line(str(longrepr[2]).removeprefix("Skipped: "), MESSAGE_CHARS)
    return one_line(str(longrepr), MESSAGE_CHARS)


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    # A fixture that does not exist has no crash line; its error string names it ("fixture 'x' not found").
    message = crash.message if crash is not None else getattr(report.longrepr, "errorstring", str(report.longrepr))
    return one_line(message, MESSAGE_CHARS) or "no message"
