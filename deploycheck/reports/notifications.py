"""Telling the team: the verdict as a webhook body, Slack-compatible or plain JSON, and sending it.

Each webhook is one POST through the project's HTTP probe, whose timeout bounds the whole request (connect, TLS,
sending, answer), so a webhook that hangs costs at most its timeout, and which trusts by the suite's one TLS rule
(`deploycheck.tls`: SSL_CERT_FILE, REQUESTS_CA_BUNDLE, certifi). Whatever happens is returned as a record for
the verdict document: a webhook that fails never changes the verdict, it is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deploycheck import narrowing
from deploycheck.kinds.http.session import HttpRequest, fetch_all
from deploycheck.reports import run_notes
from deploycheck.reports.evidence import source_line, value_text
from deploycheck.text import one_line

MAX_FINDINGS = 20  # a chat message stays readable; the report has the rest
ICON = {"PASS": ":white_check_mark:", "FAIL": ":x:", "INCONCLUSIVE": ":warning:"}


def not_passed(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The deciding findings that failed or were inconclusive: what a reader must act on."""
    groups = [*document["services"].values(), document.get("environment_checks") or {"findings": []}]
    return [
        finding
        for group in groups
        for finding in group["findings"]
        if finding["outcome"] in ("failed", "inconclusive") and finding["severity"] == "critical"
    ]


def json_body(document: Mapping[str, Any], report_url: str | None) -> dict[str, Any]:
    """The generic webhook body: the verdict, why, what was done, and where to read more."""
    return {
        "verdict": document["verdict"],
        "action": document["action"],
        "exit_status": document["exit_status"],
        "environment": document["environment"],
        "expected_version": document["expected_version"],
        "finished_at": document["finished_at"],
        "reasons": document["reasons"],
        "notes": run_notes.notes(document),  # narrowed, cancelled, acted without --approve: as the terminal says
        "narrowed": document.get("narrowed"),
        "cancelled": document.get("cancelled"),
        "findings": [
            {
                key: finding.get(key)
                for key in ("service", "check", "outcome", "message", "observed", "limit", "unit", "source")
            }
            for finding in not_passed(document)[:MAX_FINDINGS]
        ],
        "actions": document["actions"],
        "report_url": report_url,
    }


def slack_body(document: Mapping[str, Any], report_url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook message (also read by Mattermost, Rocket.Chat): `text` alone says it all."""
    verdict = document["verdict"]
    head = f"{ICON.get(verdict, '')} deploycheck {document['environment']}: *{verdict}* -> {document['action']}"
    narrowed = narrowing.describe(document.get("narrowed"))  # as the terminal's verdict line says it
    lines = [head.strip() + (f" ({narrowed})" if narrowed else "")]
    if document.get("cancelled"):
        lines.append(run_notes.cancelled(document["cancelled"]))
        lines += run_notes.left_behind(document["cancelled"])
    for finding in not_passed(document)[:MAX_FINDINGS]:
        lines.append(
            f"• {finding.get('service') or 'environment'} {finding['check']} {finding['outcome']}: "
            f"{one_line(finding['message'], 300)} (observed {value_text(finding.get('observed'))}, "
            f"limit {value_text(finding.get('limit'))}; {source_line(finding.get('source') or {})})"
        )
    for action in document["actions"]:
        allowed = run_notes.approval(action)
        line = f"action: {action.get('action')} {action.get('service') or ''} {action.get('result') or ''}"
        lines.append(" ".join(line.split()) + (f" ({allowed})" if allowed else ""))
    if report_url:
        lines.append(f"report: {report_url}")
    return {"text": "\n".join(lines)}


def wanted(verdicts: Sequence[str], document: Mapping[str, Any]) -> bool:
    return document["verdict"] in verdicts


def send(
    hooks: Sequence[tuple[str, str, str, Mapping[str, str], float]], bodies: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """POST each body to its webhook, all at once. `hooks`: (name, format, url, headers, timeout_s). One record
    per webhook: name, format, sent (true only for a 2xx answer), status or error, elapsed_ms. The URL is not in
    it: a webhook URL is itself a credential."""
    requests = [
        HttpRequest("POST", url, timeout, json=body, headers=dict(headers))
        for (_, _, url, headers, timeout), body in zip(hooks, bodies, strict=True)
    ]
    records = []
    for (name, kind, *_), answer in zip(hooks, fetch_all(requests), strict=True):
        record: dict[str, Any] = {"webhook": name, "format": kind, "elapsed_ms": answer.elapsed_ms}
        if answer.error is not None:
            record.update(sent=False, error=answer.error)
        else:
            status = answer.value.status
            record.update(sent=200 <= status < 300, status=status)
            if not record["sent"]:
                record["error"] = f"answered HTTP {status}: {one_line(answer.value.body, 200)}"
        records.append(record)
    return records
