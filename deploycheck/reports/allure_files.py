"""The files that describe a whole run to Allure 2: `environment.properties` (the environment panel, the verdict
first), `executor.json` (who ran it: GitHub Actions, GitLab CI, Jenkins or a person; its `reportName` titles the
overview with the verdict), `categories.json` (product failures apart from evidence that could not be gathered),
and the `history/` of the previous report, so trends show.

Categories match the status trace the reporting plugin writes for every judged check: it starts with
`deploycheck check <id> <outcome>`, so a category says what kind of check broke without parsing messages.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deploycheck.verdict import describe_action

TRACE_PREFIX = "deploycheck check"


def trace_header(check: str, outcome: str) -> str:
    """The first line of the status trace of a judged check: what `categories.json` matches."""
    return f"{TRACE_PREFIX} {check} {outcome}"


def _category(name: str, statuses: list[str], checks: str, outcome: str) -> dict[str, Any]:
    return {
        "name": name,
        "matchedStatuses": statuses,
        "traceRegex": rf"(?s){TRACE_PREFIX} (?:{checks})\S* {outcome}\b.*",
    }


# Product failures first (the service broke a rule), then what could not be judged, then the suite's own errors.
CATEGORIES: list[dict[str, Any]] = [
    _category("Product failure: SLO broken", ["failed"], r"latency\.|errors\.|resources\.|alerts\.", "failed"),
    _category("Product failure: wrong version", ["failed"], r"version\.|database\.migration", "failed"),
    _category("Product failure: flow broken", ["failed"], r"flows\.", "failed"),
    _category("Product failure: service unhealthy", ["failed"], r"health\.", "failed"),
    _category("Product failure: rollout or database", ["failed"], r"rollout\.|kubernetes\.|database\.", "failed"),
    _category("Product failure: other check", ["failed"], r"[a-z0-9_]+\.", "failed"),
    _category("Evidence could not be gathered (inconclusive)", ["broken", "failed"], r"[a-z0-9_]+\.", "inconclusive"),
    {"name": "Suite error (not a judgement of the service)", "matchedStatuses": ["broken"]},
]


def environment_properties(document: Mapping[str, Any], facts: Mapping[str, str | None]) -> str:
    """The environment panel, verdict first. `facts`: services, git revision, run id, deploy time, report."""
    verdict = f"{document['verdict']} -> {document['action']}"
    if document.get("shadow"):
        verdict += f" (shadow run: would have been {document['shadow']['verdict']})"
    rows: list[tuple[str, str]] = [
        ("Verdict", verdict),
        ("Reasons", " | ".join(document.get("reasons") or []) or "every deciding check passed"),
        ("Actions", " | ".join(describe_action(action) for action in document.get("actions") or []) or "none"),
        ("Environment", str(document["environment"])),
        ("Expected version", str(document.get("expected_version") or "not given")),
    ]
    rows += [(name, value or "not known") for name, value in facts.items()]
    rows.append(("Checked", f"{document['started_at']} to {document['finished_at']}"))
    return "".join(f"{_escape(name, key=True)}={_escape(value)}\n" for name, value in rows)


def executor(document: Mapping[str, Any], environ: Mapping[str, str], report_url: str | None = None) -> dict[str, Any]:
    """executor.json from the CI's variables; its reportName puts the verdict in the report's title."""
    title = f"deploycheck {document['environment']}: {document['verdict']} -> {document['action']}"
    ci = ci_run(environ)
    found = {
        "name": ci["name"],
        "type": ci["type"],
        "url": ci.get("url"),
        "buildOrder": ci.get("order"),
        "buildName": ci.get("build") or title,
        "buildUrl": ci.get("build_url"),
        "reportUrl": report_url,
        "reportName": title,
    }
    return {key: value for key, value in found.items() if value}


def ci_run(environ: Mapping[str, str]) -> dict[str, str]:
    """Which CI runs the suite, from the variables each sets: name, type, url, order, build, build_url, revision,
    run_id. A local run has only name and type."""
    get = environ.get
    if get("GITHUB_ACTIONS") == "true":
        repository = f"{get('GITHUB_SERVER_URL', 'https://github.com')}/{get('GITHUB_REPOSITORY', '')}"
        found = {
            "name": "GitHub Actions",
            "type": "github",
            "url": repository,
            "order": get("GITHUB_RUN_NUMBER"),
            "build": f"{get('GITHUB_WORKFLOW', 'workflow')} #{get('GITHUB_RUN_NUMBER', '?')}",
            "build_url": f"{repository}/actions/runs/{get('GITHUB_RUN_ID', '')}",
            "revision": get("GITHUB_SHA"),
            "run_id": get("GITHUB_RUN_ID"),
        }
    elif get("GITLAB_CI") == "true":
        found = {
            "name": "GitLab CI",
            "type": "gitlab",
            "url": get("CI_PROJECT_URL"),
            "order": get("CI_PIPELINE_IID"),
            "build": f"{get('CI_PROJECT_NAME', 'pipeline')} #{get('CI_PIPELINE_IID', '?')} {get('CI_JOB_NAME', '')}",
            "build_url": get("CI_JOB_URL") or get("CI_PIPELINE_URL"),
            "revision": get("CI_COMMIT_SHA"),
            "run_id": get("CI_PIPELINE_ID"),
        }
    elif get("JENKINS_URL") or get("BUILD_URL"):
        found = {
            "name": "Jenkins",
            "type": "jenkins",
            "url": get("JENKINS_URL"),
            "order": get("BUILD_NUMBER"),
            "build": f"{get('JOB_NAME', 'job')} #{get('BUILD_NUMBER', '?')}",
            "build_url": get("BUILD_URL"),
            "revision": get("GIT_COMMIT"),
            "run_id": get("BUILD_TAG") or get("BUILD_NUMBER"),
        }
    else:
        found = {"name": "deploycheck (local run)", "type": "local"}
    return {key: value.strip() for key, value in found.items() if value and value.strip()}


def write_run_files(results: Path, properties: str, executor_data: Mapping[str, Any]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "environment.properties").write_text(properties, encoding="iso-8859-1")
    (results / "executor.json").write_text(json.dumps(executor_data, indent=2) + "\n", encoding="utf-8")
    (results / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")


_EMBEDDED = re.compile(r"d\('(history/[\w.-]+\.json)','([A-Za-z0-9+/=]*)'\)")


def carry_history(previous_report: Path, results: Path) -> list[str]:
    """Copy the history of the previous report into the new results, for trends. A multi-file report keeps it in
    `history/`; a single-file one embeds it in index.html. Returns the files copied (none for a first run)."""
    target = results / "history"
    copied: list[str] = []
    folder = previous_report / "history"
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            target.mkdir(parents=True, exist_ok=True)
            (target / path.name).write_bytes(path.read_bytes())
            copied.append(path.name)
        return copied
    index = previous_report / "index.html"
    if index.is_file():
        for name, data in _EMBEDDED.findall(index.read_text(encoding="utf-8", errors="replace")):
            target.mkdir(parents=True, exist_ok=True)
            (results / name).write_bytes(base64.b64decode(data))
            copied.append(Path(name).name)
    return copied


def _escape(text: str, key: bool = False) -> str:
    """Java properties: backslash escapes, and anything outside ASCII as \\uXXXX."""
    out = text.replace("\\", "\\\\").replace("\n", " ").replace("\r", " ")
    if key:
        out = out.replace(" ", "\\ ").replace("=", "\\=").replace(":", "\\:")
    return "".join(c if ord(c) < 0x7F else _unicode_escape(c) for c in out)


def _unicode_escape(character: str) -> str:
    """\\uXXXX, as a surrogate pair beyond the BMP (as Java reads it)."""
    units = character.encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2))
