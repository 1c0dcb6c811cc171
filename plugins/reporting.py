"""Allure, for reviewing a deploy: what each check shows, and the files that describe the whole run.

Per check (on the process that runs it, a worker under xdist):
- labels for reading: suites environment -> service -> kind of check (`health`, `latency`, ...), the same as
  behaviors (epic, feature, story), so both trees read the way a reviewer asks: "what broke in production, on which
  service, what kind of check"; the node id says none of that;
- the Allure severity follows the check's deciding severity (critical -> critical, warning -> minor,
  shadow -> trivial), so "critical" filters exactly what decides the verdict;
- a title from the finding ("orders: version.matches_expected: ... serves v2.3.1, expected v9.9.9"), parameters
  service and environment, and the status message is the finding's message, never an exception's type;
- attachments: the judgement (observed vs limit) and the evidence behind it, one renderer per evidence kind
  (`deploycheck.reports.evidence`), redacted.

Per run (on the controller, a `trylast` listener of the verdict hook): `environment.properties` with the verdict,
action and reasons first, `executor.json` (CI variables; its report name carries the verdict), `categories.json`.

Without allure-pytest, or without `--alluredir`, nothing here does anything.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from deploycheck.reports import allure_files, evidence
from deploycheck.text import one_line
from deploycheck_plugins.targets import environment_key, redactor_key, settings_key

allure: ModuleType | None
try:
    import allure
    from allure_commons.model2 import StatusDetails
except ImportError:  # allure-pytest is a dependency, but the suite must not break without it
    allure = None

SEVERITY = {"critical": "critical", "warning": "minor", "shadow": "trivial"}
TITLE_MESSAGE_CHARS = 140


def attach_finding(config: pytest.Config, finding: dict[str, Any]) -> None:
    """Attach the evidence behind a recorded finding to the running test. The finding was redacted where it was
    made, and the attachments are made of its values only. Nothing to do (nor to render) without --alluredir."""
    if allure is None or config.pluginmanager.get_plugin("allure_listener") is None:
        return
    types = {"text": allure.attachment_type.TEXT, "json": allure.attachment_type.JSON}
    outcome = finding.get("outcome")
    if not _steps(finding):
        _check_steps(finding)
    for item in evidence.attachments(finding):
        allure.attach(item.body, name=f"{item.name} ({outcome})", attachment_type=types[item.kind])


class _StepBroke(AssertionError):
    """Marks a replayed step as failed in Allure (its context manager records the exception, then we drop it)."""


def _check_steps(finding: dict[str, Any]) -> None:
    """A check's two steps: the evidence gathered (from where, how long it took), then the rule and how it ended."""
    assert allure is not None
    took = f" in {finding['duration_ms']:g} ms" if isinstance(finding.get("duration_ms"), int | float) else ""
    source = finding.get("source")
    with allure.step(one_line(f"evidence: {evidence.source_line(source or {})}{took}", TITLE_MESSAGE_CHARS)):
        pass
    try:
        with allure.step(one_line(f"{finding.get('outcome')}: {finding.get('message')}", TITLE_MESSAGE_CHARS)):
            if finding.get("outcome") != "passed":
                raise _StepBroke(str(finding.get("message")))
    except _StepBroke:
        pass


def _steps(finding: dict[str, Any]) -> bool:
    """A flow's recorded steps as Allure steps, in the order they ran (cleanups last), each with what came back;
    a failed one shows failed. Flows run before their test does, so the steps are replayed from the finding. Says
    whether the finding had steps."""
    assert allure is not None
    observed = finding.get("observed")
    steps = observed.get("steps") if isinstance(observed, dict) else None
    for step in steps if isinstance(steps, list) else ():
        title = f"{step.get('phase', 'step')}: {step.get('name')}: {step.get('request')} -> {step.get('status')}"
        title += f" in {step.get('ms')} ms" if step.get("ms") is not None else ""
        try:
            with allure.step(one_line(title, TITLE_MESSAGE_CHARS)):
                shown = {key: value for key, value in step.items() if key not in ("name", "phase", "passed")}
                body = json.dumps(shown, indent=2, default=str)
                allure.attach(body, name="exchange", attachment_type=allure.attachment_type.JSON)
                if not step.get("passed", True):
                    raise _StepBroke(str(step.get("error") or "the step did not answer as expected"))
        except _StepBroke:
            pass
    return isinstance(steps, list)


# ---------------------------------------------------------------------------------------------------------------
# Per check


# tryfirst: the outermost wrapper, so Allure's own wrapper has handled the report when this runs.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    result = _allure_result(item.config)
    if result is None:
        return report
    from deploycheck_plugins.checks import FINDING_PROPERTY, scope_of  # checks imports this module

    scope = scope_of(item)
    if not scope:
        return report
    if call.when == "setup":
        _describe(item, scope)
    findings = [cast(dict[str, Any], v) for n, v in item.user_properties if n == FINDING_PROPERTY]
    deciding = [f for f in findings if f.get("outcome") in ("failed", "inconclusive")]
    if call.when == "call" and findings:
        _show(item, result, (deciding or findings)[-1], failed=call.excinfo is not None)
    return report


def _show(item: pytest.Item, result: Any, finding: dict[str, Any], failed: bool) -> None:
    """The title from the finding; for a check that did not pass, its message as the status message (not
    "deploycheck.findings.CheckFailed: ..."), and a trace that says what kind of check ended how (for
    categories.json) and what was observed against what limit."""
    assert allure is not None
    service = finding.get("service") or "environment"
    allure.dynamic.title(f"{service}: {finding['check']}: {one_line(finding['message'], TITLE_MESSAGE_CHARS)}")
    if failed and result.statusDetails is not None:
        trace = allure_files.trace_header(finding["check"], finding["outcome"]) + "\n" + evidence.judgement(finding)
        result.statusDetails = StatusDetails(message=finding["message"], trace=_redact(item.config, trace))


def _describe(item: pytest.Item, scope: dict[str, Any]) -> None:
    """Labels, severity, parameters and a first title: set for every test, also one skipped at setup."""
    assert allure is not None
    labels, parameters, title = _description(item, scope)
    for name, value in labels:
        allure.dynamic.label(name, value)
    for name, value in parameters:
        allure.dynamic.parameter(name, value)
    allure.dynamic.title(title)


def _description(item: pytest.Item, scope: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str]:
    """(labels, parameters, title) of a check in Allure."""
    environment = item.config.stash[environment_key].name
    service = scope.get("service") or "environment"
    check = scope.get("check") or item.name
    kind = check.split(".", 1)[0]
    labels = [
        ("parentSuite", environment),
        ("suite", service),
        ("subSuite", kind),
        ("epic", environment),
        ("feature", service),
        ("story", kind),
        *(("tag", tag) for tag in (environment, service, kind)),
        ("severity", SEVERITY.get(scope.get("severity", "critical"), "normal")),
    ]
    return labels, [("environment", environment), ("service", service)], f"{service}: {check}"


def report_not_applicable(config: pytest.Config, items: dict[pytest.Item, dict[str, Any]]) -> None:
    """The checks deselected as not applicable (each with its skipped finding), written as skipped Allure results,
    so the report lists what the verdict lists. Written by one process only: every xdist worker deselects them."""
    if allure is None or config.pluginmanager.get_plugin("allure_listener") is None or config.option.collectonly:
        return
    if getattr(config, "workerinput", {}).get("workerid", "gw0") != "gw0":
        return
    import allure_commons
    from allure_commons.model2 import Label, Parameter, TestResult
    from allure_commons.utils import host_tag, md5, now, platform_label, represent, thread_tag, uuid4
    from allure_pytest.utils import allure_full_name, get_history_id

    from deploycheck_plugins.checks import scope_of  # checks imports this module

    for item, finding in items.items():
        labels, extra, title = _description(item, scope_of(item))
        callspec = getattr(item, "callspec", None)
        params = dict(callspec.params) if callspec is not None else {}
        parameters = [Parameter(name=name, value=represent(value)) for name, value in params.items()]
        parameters += [Parameter(name=name, value=represent(value)) for name, value in extra]
        module = getattr(getattr(item, "module", None), "__name__", "")
        labels += [("host", host_tag()), ("thread", thread_tag()), ("framework", "pytest")]
        labels += [("language", platform_label()), ("package", module)]  # as allure-pytest labels a test it ran
        full_name = allure_full_name(item)
        moment = now()
        result = TestResult(
            name=f"{title}: {one_line(finding['message'], TITLE_MESSAGE_CHARS)}",
            status="skipped",
            statusDetails=StatusDetails(message=finding["message"]),
            uuid=uuid4(),
            fullName=full_name,
            testCaseId=md5(full_name),
            historyId=get_history_id(full_name, parameters, original_values=params),
            labels=[Label(name=name, value=value) for name, value in labels],
            parameters=parameters,
            start=moment,
            stop=moment,
        )
        allure_commons.plugin_manager.hook.report_result(result=result)


def _allure_result(config: pytest.Config) -> Any:
    """The Allure result of the running test, when allure-pytest writes results (--alluredir)."""
    if allure is None:
        return None
    listener = config.pluginmanager.get_plugin("allure_listener")
    if listener is None:
        return None
    return listener.allure_logger.get_test(None)


def _redact(config: pytest.Config, text: str) -> str:
    redact = config.stash.get(redactor_key, None)
    return redact(text) if redact is not None else text


# ---------------------------------------------------------------------------------------------------------------
# Per run


@pytest.hookimpl(trylast=True)  # after the actions, which the environment panel lists
def pytest_deploycheck_verdict(config: pytest.Config, document: dict[str, Any]) -> None:
    results = getattr(config.option, "allure_report_dir", None)
    if allure is None or not results:
        return
    settings = config.stash[settings_key]
    redact = config.stash[redactor_key]
    ci = allure_files.ci_run(os.environ)
    facts = {
        "Services": ", ".join(config.stash[environment_key].services),
        "Git revision": os.environ.get("DEPLOYCHECK_GIT_REVISION") or ci.get("revision") or _git_revision(),
        "Run id": ci.get("run_id") or _flow_run_id(config),
        "Deploy time": _iso(settings.deployed_at),
        "Report": os.environ.get("DEPLOYCHECK_REPORT_URL"),
    }
    properties = redact(allure_files.environment_properties(document, facts))
    executor = redact.scrub_document(
        allure_files.executor(document, os.environ, os.environ.get("DEPLOYCHECK_REPORT_URL"))
    )
    try:
        allure_files.write_run_files(Path(results), properties, executor)
    except OSError as error:
        document["warnings"].append(f"cannot write the Allure run files in {results}: {error.strerror or error}")


def _git_revision() -> str | None:
    """The revision of the checked-out suite, when it runs from a git work tree (bounded: never a hang)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _flow_run_id(config: pytest.Config) -> str | None:
    from deploycheck_plugins.flows import run_id_key

    return config.stash.get(run_id_key, None)


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
