"""The verdict as metrics, in the Prometheus text format, for the node exporter's textfile collector: a dashboard
shows the last deploy's verdict, when it was decided, and how each check ended.

    deploycheck_verdict{environment="production",verdict="FAIL"} 1      (one series per verdict, the decided one 1)
    deploycheck_verdict_timestamp_seconds{environment="production"} 1.7642484e+09
    deploycheck_exit_status{environment="production"} 1
    deploycheck_check_outcome{environment=...,service="orders",check="latency.p95",severity=...,outcome="failed"} 1

The collector reads a file at any moment, so it is written whole (the writer renames a finished file into place).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
OUTCOMES = ("passed", "failed", "inconclusive", "skipped")


def render(document: Mapping[str, Any]) -> str:
    environment = document["environment"]
    env = f'environment="{_escape(environment)}"'
    lines = [
        "# HELP deploycheck_verdict The verdict of the last deploycheck run: 1 for the verdict decided, 0 otherwise.",
        "# TYPE deploycheck_verdict gauge",
        *(
            f'deploycheck_verdict{{{env},verdict="{verdict}"}} {int(document["verdict"] == verdict)}'
            for verdict in VERDICTS
        ),
        "# HELP deploycheck_verdict_timestamp_seconds When the last verdict was decided (unix seconds).",
        "# TYPE deploycheck_verdict_timestamp_seconds gauge",
        f"deploycheck_verdict_timestamp_seconds{{{env}}} {datetime.fromisoformat(document['finished_at']).timestamp()}",
        "# HELP deploycheck_exit_status The exit status of the last run (0 promote, 1 roll back, 6 hold, ...).",
        "# TYPE deploycheck_exit_status gauge",
        f"deploycheck_exit_status{{{env}}} {document['exit_status']}",
        "# HELP deploycheck_check_outcome How each check of the last run ended: 1 for its outcome.",
        "# TYPE deploycheck_check_outcome gauge",
    ]
    groups = [*document["services"].items(), ("", document.get("environment_checks") or {"findings": []})]
    seen: set[str] = set()
    for service, group in groups:
        for finding in group["findings"]:
            labels = (
                f'{env},service="{_escape(finding.get("service") or service)}",'
                f'check="{_escape(finding["check"])}",severity="{_escape(finding["severity"])}"'
            )
            if labels in seen:  # a check that recorded several findings: the first decides its row
                continue
            seen.add(labels)
            lines += [
                f'deploycheck_check_outcome{{{labels},outcome="{outcome}"}} {int(finding["outcome"] == outcome)}'
                for outcome in OUTCOMES
            ]
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
