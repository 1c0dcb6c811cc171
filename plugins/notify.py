"""Notifications: a listener of the verdict hook that calls the environment's webhooks (`notifications.webhooks`)
for the verdicts each asks for (FAIL and INCONCLUSIVE unless it says otherwise), once, on the controller.

`trylast`, and registered before the writers of `deploycheck_plugins.outputs` (among `trylast` implementations,
the first registered runs first), so it runs after the actions (a rollback is in the message) and before the verdict
file, the summary and the terminal table, which then show what was sent under `notifications`. A webhook that
fails or times out never changes the verdict or the exit status.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from deploycheck.reports import notifications
from deploycheck_plugins.targets import environment_key, redactor_key

REPORT_URL_VARIABLE = "DEPLOYCHECK_REPORT_URL"  # where the report will be: set by the runner script or the CI job


@pytest.hookimpl(trylast=True)
def pytest_deploycheck_verdict(config: pytest.Config, document: dict[str, Any]) -> None:
    section = config.stash[environment_key].notifications
    if section is None or not section.webhooks:
        return
    report_url = os.environ.get(REPORT_URL_VARIABLE) or _ci_url()
    hooks, bodies = [], []
    for index, hook in enumerate(section.webhooks):
        if not notifications.wanted(hook.verdicts, document):
            continue
        build = notifications.slack_body if hook.format == "slack" else notifications.json_body
        hooks.append((f"webhooks[{index}]", hook.format, hook.url, dict(hook.headers), hook.timeout))
        bodies.append(build(document, report_url))
    if not hooks:
        return
    redact = config.stash[redactor_key]
    document["notifications"] = [redact.scrub_document(record) for record in notifications.send(hooks, bodies)]


@pytest.hookimpl(trylast=True)  # after the verdict table
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from deploycheck_plugins.outputs import document_key

    document = config.stash.get(document_key, None)
    for record in (document or {}).get("notifications") or ():
        if record["sent"]:
            terminalreporter.write_line(
                f"  notified: {record['webhook']} ({record['format']}), HTTP {record['status']}"
            )
        else:
            terminalreporter.write_line(
                f"  notification NOT sent: {record['webhook']} ({record['format']}): {record['error']} "
                "(the verdict stands)",
                yellow=True,
            )


def _ci_url() -> str | None:
    from deploycheck.reports.allure_files import ci_run

    return ci_run(os.environ).get("build_url")
