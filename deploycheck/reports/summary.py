"""reports/summary.md: the verdict table (`deploycheck.verdict.to_markdown`), then each deciding finding that
failed or was inconclusive, with what was observed against what limit and the evidence it came from. The same
text goes to `$GITHUB_STEP_SUMMARY`, the job summary page of GitHub Actions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploycheck.reports.evidence import source_line, value_text
from deploycheck.reports.notifications import not_passed
from deploycheck.verdict import to_markdown


def render(document: dict[str, Any]) -> str:
    text = to_markdown(document)
    findings = not_passed(document)
    if findings:
        text += "\n### Failed and inconclusive checks\n\n"
        text += "| service | check | outcome | observed | limit | source | message |\n"
        text += "|---|---|---|---|---|---|---|\n"
        text += "".join(_row(finding) for finding in findings)
    sent = document.get("notifications") or []
    if sent:
        text += "\nNotifications:\n"
        text += "".join(
            f"- {record['webhook']} ({record['format']}): "
            f"{'sent, HTTP ' + str(record.get('status')) if record['sent'] else 'NOT sent: ' + record['error']}\n"
            for record in sent
        )
    return text


def _row(finding: Mapping[str, Any]) -> str:
    cells = [
        finding.get("service") or "environment",
        finding["check"],
        finding["outcome"],
        value_text(finding.get("observed"), finding.get("unit")),
        value_text(finding.get("limit"), finding.get("unit")),
        source_line(finding.get("source") or {}),
        finding["message"],
    ]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |\n"


def _cell(text: str) -> str:
    """A table cell: one line, pipes escaped, long values cut (the verdict file has them whole)."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= 300 else text[:299] + "…"
