"""The verdict: built on the controller only (never on xdist workers) from every test report, written to
`verdict.json`, shown as a table at the end of the run, and turned into the exit status.

Modelled on pytest's own junitxml: a writer object in `config.stash`, registered in `pytest_configure` and
removed in `pytest_unconfigure`; it listens to `pytest_runtest_logreport`, which the xdist controller re-fires
for every worker's report, so the same verdict comes out with `-n` as without.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from deploycheck.findings import Finding, Outcome
from deploycheck.verdict import RunReport, Verdict, to_markdown
from plugins.checks import CHECK_PROPERTY, ERROR_PROPERTY, FINDING_PROPERTY, TARGET_PROPERTY
from plugins.targets import environment_key, redactor_key, settings_key

verdict_key = pytest.StashKey["VerdictWriter"]()

# pytest's own statuses that say the run itself did not happen as asked: they stay as pytest set them.
_PYTEST_OWN = (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(trylast=True)  # after plugins.targets has loaded the environment
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or environment_key not in config.stash:
        return  # workers only send reports; --list-services runs nothing
    writer = VerdictWriter(config)
    config.stash[verdict_key] = writer
    config.pluginmanager.register(writer, "deploycheck-verdict")


def pytest_unconfigure(config: pytest.Config) -> None:
    writer = config.stash.get(verdict_key, None)
    if writer is not None:
        del config.stash[verdict_key]
        config.pluginmanager.unregister(writer)


class VerdictWriter:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = config.stash[settings_key]
        self.environment = config.stash[environment_key]
        self.redact = config.stash[redactor_key]
        self.started_at = datetime.now(UTC)
        self.findings: dict[str, list[Finding]] = {name: [] for name in self.environment.services}
        self.document: dict[str, Any] | None = None  # verdict.json as written (redacted)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = _properties(report)
        if TARGET_PROPERTY not in properties:
            return
        service = properties[TARGET_PROPERTY].split("/", 1)[1]
        self.findings.setdefault(service, []).extend(_findings(report, properties))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        report = RunReport(
            environment=self.environment.name,
            expected_version=self.settings.expected_version,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            findings=self.findings,
        )
        self.document = self.redact.scrub_document(report.to_json())
        path = self.settings.verdict_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document, indent=2) + "\n", encoding="utf-8")
        path.with_name("summary.md").write_text(to_markdown(self.document), encoding="utf-8")
        if exitstatus not in _PYTEST_OWN:
            session.exitstatus = report.verdict.exit_status

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The table, read from the verdict document just written (the same figures a pipeline sees)."""
        if self.document is None:
            return
        write = terminalreporter.write_line
        terminalreporter.section(f"deploycheck verdict: {self.environment.name}", sep="=")
        write(f"{'service':<24} {'verdict':<13} {'passed':>6} {'failed':>6} {'inconcl.':>8} {'skipped':>7}")
        for service, body in self.document["services"].items():
            counts = body["counts"]
            write(
                f"{service:<24} {body['verdict']:<13} {counts['passed']:>6} {counts['failed']:>6} "
                f"{counts['inconclusive']:>8} {counts['skipped']:>7}",
                **_colour(Verdict(body["verdict"])),
            )
        for line in self.document["reasons"]:
            write("  - " + line)
        verdict = Verdict(self.document["verdict"])
        write(
            f"VERDICT: {verdict.value} -> {verdict.action} (exit status {verdict.exit_status}); "
            f"verdict file: {self.settings.verdict_file}",
            bold=True,
            **_colour(verdict),
        )


def _colour(verdict: Verdict) -> dict[str, bool]:
    return {{"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow"}[verdict.value]: True}


def _properties(report: pytest.TestReport) -> dict[str, Any]:
    """user_properties as a dict; findings may repeat, so they are collected separately."""
    return {name: value for name, value in report.user_properties if name != FINDING_PROPERTY}


def _findings(report: pytest.TestReport, properties: dict[str, Any]) -> list[Finding]:
    """The findings one report stands for. Recorded findings win; otherwise the report's outcome is mapped:
    a skip is skipped, a failed assertion failed, anything else that broke is inconclusive."""
    recorded = [
        Finding.from_dict(value)  # type: ignore[arg-type]  # a plain dict, as verify recorded it
        for name, value in report.user_properties
        if name == FINDING_PROPERTY
    ]
    if report.when == "call" and recorded:
        return recorded
    check = properties[CHECK_PROPERTY]
    if report.skipped:
        if report.when == "call" or report.when == "setup":
            return [Finding(Outcome.SKIPPED, _skip_reason(report), check=check, test=report.nodeid)]
        return []
    if report.failed:
        kind = properties.get(ERROR_PROPERTY, "error")
        outcome = Outcome.FAILED if kind == "assertion" and report.when == "call" else Outcome.INCONCLUSIVE
        prefix = "" if report.when == "call" else f"{report.when} error: "
        return [Finding(outcome, prefix + _crash_message(report), check=check, test=report.nodeid)]
    if report.when == "call":
        return [Finding(Outcome.PASSED, "passed", check=check, test=report.nodeid)]
    return []


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    return message.strip().splitlines()[0] if message.strip() else "no message"
