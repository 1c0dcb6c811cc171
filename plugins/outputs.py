"""Listeners of the verdict hook that show the verdict: the verdict file, the Markdown summary (also appended to
`$GITHUB_STEP_SUMMARY` when set), the Prometheus text file of `--metrics-file`, the terminal table.

Each is `trylast`, so it shows what actions added to the document. A file that cannot be written is reported
plainly and makes the run's status pytest's "internal error" (3), never 1, which a pipeline would read as a
failed deployment.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from deploycheck import narrowing
from deploycheck.files import write_atomically
from deploycheck.reports import summary, textfile
from deploycheck.verdict import Verdict, describe_action, table_rows
from deploycheck_plugins.targets import is_running, settings_key

document_key = pytest.StashKey[dict[str, Any]]()
write_error_key = pytest.StashKey[str]()  # why a report file could not be written
usage_error_key = pytest.StashKey[str]()  # the usage error that stopped the run at collection (plugins/usage_errors.py)


@pytest.hookimpl(trylast=True)  # after deploycheck_plugins.targets has resolved the options
def pytest_configure(config: pytest.Config) -> None:
    """Refuse, before anything runs, report paths that cannot be written."""
    if hasattr(config, "workerinput") or not is_running(config):
        return
    settings = config.stash[settings_key]
    files = [("--verdict-file", settings.verdict_file), ("--summary-file", settings.summary_file)]
    if settings.metrics_file is not None:
        files.append(("--metrics-file", settings.metrics_file))
    for flag, path in files:
        problem = _unwritable(path)
        if problem:
            raise pytest.UsageError(f"{flag} {path} (from {settings.origin(flag)}): cannot write there: {problem}")


@pytest.hookimpl(trylast=True)
def pytest_deploycheck_verdict(config: pytest.Config, document: dict[str, Any]) -> None:
    config.stash[document_key] = document
    settings = config.stash[settings_key]
    markdown = summary.render(document)
    files = [(settings.verdict_file, json.dumps(document, indent=2) + "\n"), (settings.summary_file, markdown)]
    if settings.metrics_file is not None:
        files.append((settings.metrics_file, textfile.render(document)))
    for path, text in files:
        try:
            write_atomically(path, text)
        except OSError as error:
            config.stash[write_error_key] = f"cannot write {path}: {error.strerror or error}"
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:  # GitHub Actions' job summary page: appended to, as each step may add its part
        try:
            with open(step_summary, "a", encoding="utf-8") as page:
                page.write(markdown)
        except OSError as error:
            document["warnings"].append(f"cannot append to $GITHUB_STEP_SUMMARY: {error.strerror or error}")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The table, read from the verdict document (the same figures a pipeline sees)."""
    document = config.stash.get(document_key, None)
    if document is None:
        return
    settings = config.stash[settings_key]
    write = terminalreporter.write_line
    terminalreporter.section(f"deploycheck verdict: {document['environment']}", sep="=")
    usage_error = config.stash.get(usage_error_key, None)
    if usage_error:  # first: the run did not happen, and the lines below only say so at length
        write(f"deploycheck: usage error, nothing was judged: {usage_error}", red=True, bold=True)
    write(f"{'service':<24} {'verdict':<13} {'passed':>6} {'failed':>6} {'inconcl.':>8} {'skipped':>7}")
    for service, body in table_rows(document).items():
        counts = body["counts"]
        write(
            f"{service:<24} {body['verdict'] or 'advisory':<13} {counts['passed']:>6} {counts['failed']:>6} "
            f"{counts['inconclusive']:>8} {counts['skipped']:>7}",
            **_colour(body["verdict"]),
        )
    for line in document["reasons"]:
        write("  - " + line)
    for action in document["actions"]:
        write(f"  action: {describe_action(action)}")
    for warning in document["warnings"]:
        write("  warning: " + warning, yellow=True)
    for item in document["not_judged"] if not usage_error else ():
        write(f"  not judged: {item['service'] or 'environment'}: {item['section']} ({item['why']})")
    for line in _not_applicable(document):
        write("  " + line)
    failure = config.stash.get(write_error_key, None)
    if failure:
        write(f"deploycheck: {failure} (exit status 3)", red=True, bold=True)
        return
    shadow = document.get("shadow")
    if shadow:
        write(f"SHADOW: the checks on trial would have made it {shadow['verdict']} -> {shadow['action']}", bold=True)
        for check in shadow["checks"]:
            if check["would_have"] != "passed":
                write(
                    f"  would have {check['would_have']}: {check['service'] or 'environment'} {check['check']}: "
                    f"{check['message']}"
                )
    write(
        f"VERDICT: {document['verdict']} -> {document['action']}{_narrowed(document)} "
        f"(exit status {document['exit_status']}); "
        f"verdict file: {settings.verdict_file}",
        bold=True,
        **_colour(document["verdict"]),
    )


def _narrowed(document: dict[str, Any]) -> str:
    note = narrowing.describe(document.get("narrowed"))
    return f" ({note})" if note else ""


def _not_applicable(document: dict[str, Any]) -> list[str]:
    """One line per reason the checks left out at collection were not run (each is a skipped finding)."""
    why: dict[str, tuple[set[str], set[str]]] = {}
    for body in table_rows(document).values():
        for finding in body["findings"]:
            source = finding["source"]
            if finding["outcome"] == "skipped" and source.get("kind") in ("configuration", "replay"):
                reason = f"no `{source['missing']}` configured" if "missing" in source else finding["message"]
                checks, services = why.setdefault(reason, (set(), set()))
                checks.add(finding["check"])
                services.add(finding["service"] or "environment")
    return [
        f"not run ({reason}, {len(services)} service{'s' * (len(services) != 1)}): {', '.join(sorted(checks))}"
        for reason, (checks, services) in why.items()
    ]


def _colour(verdict: str | None) -> dict[str, bool]:
    if verdict is None:  # only advisory findings: reported, not decided
        return {}
    return {{"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow"}[Verdict(verdict).value]: True}


def _unwritable(path: Path) -> str | None:
    if path.is_dir():
        return "it is a directory"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".deploycheck-"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None
