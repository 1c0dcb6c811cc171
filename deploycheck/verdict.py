"""Findings -> one verdict per service and overall, the action it calls for, and `verdict.json`.

FAIL if any deciding finding failed; else INCONCLUSIVE if any deciding finding was inconclusive or nothing deciding
ran; else PASS. Advisory findings (severity warning) and skips are reported but never decide; findings on trial
(severity shadow) never decide either, and `shadow` says what they would have decided.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from deploycheck import narrowing
from deploycheck.findings import Finding, Outcome

SCHEMA_ID = "https://deploycheck.dev/schemas/verdict/v1.json"
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "schemas" / "verdict-v1.schema.json"
# An action the run was asked for (--rollback, --promote) failed or left the service broken: a person is needed.
ACTION_FAILED_EXIT_STATUS = 7


def schema() -> dict[str, Any]:
    """The JSON Schema of verdict.json, for pipelines and tests that validate it."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"

    @property
    def action(self) -> str:
        return {"PASS": "promote", "FAIL": "rollback", "INCONCLUSIVE": "hold"}[self.value]

    @property
    def exit_status(self) -> int:
        # 0 and 1 keep pytest's meaning (all good / something failed); 2-5 are pytest's own (interrupted,
        # internal error, usage error, no tests), so "hold for a person" takes the next free code.
        return {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 6}[self.value]


def process_exit_status(document: Mapping[str, Any], inconclusive_exit: int | None = None) -> int:
    """The run's exit status: the verdict document's, but INCONCLUSIVE exits `inconclusive_exit` when given
    (--inconclusive-exit), for engines whose only outcomes are success and failure. The document keeps 6 and the
    verdict, so a pipeline that reads it still sees the hold."""
    status = int(document["exit_status"])
    if inconclusive_exit is not None and status == Verdict.INCONCLUSIVE.exit_status:
        return inconclusive_exit
    return status


def decide(findings: Iterable[Finding]) -> Verdict:
    deciding = [finding for finding in findings if finding.deciding]
    if any(finding.outcome is Outcome.FAILED for finding in deciding):
        return Verdict.FAIL
    if not deciding or any(finding.outcome is Outcome.INCONCLUSIVE for finding in deciding):
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def reasons_for(scope: str, findings: Iterable[Finding]) -> list[str]:
    """Why a service got its verdict: the deciding findings that were not passes, or 'nothing ran'."""
    findings = list(findings)
    verdict = decide(findings)
    if verdict is Verdict.PASS:
        return []
    wanted = Outcome.FAILED if verdict is Verdict.FAIL else Outcome.INCONCLUSIVE
    lines = [
        f"{scope}: {f.check} {f.outcome.value}: {f.message}" for f in findings if f.deciding and f.outcome is wanted
    ]
    return lines or [f"{scope}: no deciding check ran"]


@dataclass(frozen=True)
class RunReport:
    environment: str
    expected_version: str | None
    started_at: datetime
    finished_at: datetime
    findings: Mapping[str, list[Finding]]  # service -> findings, every selected service present
    environment_findings: Sequence[Finding] = ()  # checks of the whole environment (tests without a service)
    not_judged: Sequence[Mapping[str, Any]] = ()  # configured sections no check of this run judged
    stopped: tuple[int, str] | None = None  # pytest's own exit status and why, when the run did not finish
    warnings: Sequence[str] = ()  # what weakens the evidence without deciding anything (TLS checks off)
    watch: Mapping[str, Any] | None = None  # the rounds of --watch
    shadow_run: bool = False  # --shadow: nothing decides, the run exits 0, `shadow` says what would have been

    @property
    def verdict(self) -> Verdict:
        groups = [*self.findings.values(), *([self.environment_findings] if self._environment_decides else [])]
        if self.stopped is not None or not groups:
            return Verdict.INCONCLUSIVE
        verdicts = {decide(findings) for findings in groups}
        for verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
            if verdict in verdicts:
                return verdict
        return Verdict.PASS

    @property
    def _environment_decides(self) -> bool:
        """Environment-wide checks decide when one of them is deciding (advisory ones are only reported)."""
        return any(finding.deciding for finding in self.environment_findings)

    def reasons(self) -> list[str]:
        """Why the run got its verdict: why it stopped, then the environment's and each service's reasons."""
        why = [line for service, found in self.findings.items() for line in reasons_for(service, found)]
        if self._environment_decides:
            why = reasons_for("environment", self.environment_findings) + why
        if self.stopped is not None:
            why.insert(0, self.stopped[1])
        return why

    def to_json(self) -> dict[str, Any]:
        verdict = self.verdict
        everything = [*self.environment_findings, *(f for found in self.findings.values() for f in found)]
        why = self.reasons()
        return {
            "$schema": SCHEMA_ID,
            "schema_version": SCHEMA_VERSION,
            "verdict": verdict.value,
            "action": verdict.action,
            "exit_status": self.stopped[0] if self.stopped else 0 if self.shadow_run else verdict.exit_status,
            "environment": self.environment,
            "expected_version": self.expected_version,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": self.finished_at.isoformat(timespec="seconds"),
            "duration_s": round((self.finished_at - self.started_at).total_seconds(), 3),
            "counts": _counts(everything),
            "reasons": why,
            "services": {service: _group(found) for service, found in self.findings.items()},
            "environment_checks": _group(self.environment_findings, optional=True),
            "not_judged": [dict(item) for item in self.not_judged],
            "warnings": list(self.warnings),
            "watch": dict(self.watch) if self.watch is not None else None,
            "actions": [],
            "shadow": self._shadow(everything),
        }

    def _shadow(self, everything: Sequence[Finding]) -> dict[str, Any] | None:
        """What the checks on trial (severity shadow) would have decided, had they decided."""
        trial = [finding for finding in everything if finding.severity == "shadow"]
        if not trial:
            return None

        def deciding(findings: Iterable[Finding]) -> list[Finding]:
            return [f.but(severity="critical") if f.severity == "shadow" else f for f in findings]

        would = replace(
            self,
            findings={service: deciding(found) for service, found in self.findings.items()},
            environment_findings=deciding(self.environment_findings),
            shadow_run=False,
        )
        verdict = would.verdict
        return {
            "verdict": verdict.value,
            "action": verdict.action,
            "exit_status": verdict.exit_status,
            "reasons": would.reasons(),
            "checks": [
                {"service": f.service, "check": f.check, "would_have": f.outcome.value, "message": f.message}
                for f in trial
            ],
        }


def _group(findings: Sequence[Finding], optional: bool = False) -> dict[str, Any]:
    """A service's findings and verdict; an `optional` group (the environment's) has none without a deciding one."""
    return {
        "verdict": None if optional and not any(f.deciding for f in findings) else decide(findings).value,
        "counts": _counts(findings),
        "findings": [finding.to_dict() for finding in findings],
    }


def _counts(findings: Iterable[Finding]) -> dict[str, int]:
    counted = Counter(finding.outcome.value for finding in findings)
    return {outcome.value: counted.get(outcome.value, 0) for outcome in Outcome}


def table_rows(document: Mapping[str, Any]) -> dict[str, Any]:
    """The rows of a verdict table: each service, then the environment-wide checks if there were any."""
    rows = dict(document["services"])
    if document.get("environment_checks", {}).get("findings"):
        rows["(environment)"] = document["environment_checks"]
    return rows


def describe_action(action: Mapping[str, Any]) -> str:
    """One line for what a listener of the verdict did: `record-baseline: file ..., result recorded`."""
    details = ", ".join(f"{key} {value}" for key, value in action.items() if key not in ("action", "services"))
    return f"{action['action']}: {details}"


def to_markdown(document: dict[str, Any]) -> str:
    """A short human summary of a verdict document (e.g. for a CI job summary page)."""
    verdict = document["verdict"]
    lines = [
        f"## deploycheck: {verdict} -> {document['action']} ({document['environment']})",
        *(["", f"Narrowed: {narrowing.describe(document['narrowed'])}."] if document.get("narrowed") else []),
        "",
        f"Expected version: {document['expected_version'] or 'not given'}; "
        f"{document['started_at']} to {document['finished_at']} ({document['duration_s']} s).",
        "",
        "| service | verdict | passed | failed | inconclusive | skipped |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for service, body in table_rows(document).items():
        counts = body["counts"]
        lines.append(
            f"| {service} | {body['verdict'] or 'advisory'} | {counts['passed']} | {counts['failed']} | "
            f"{counts['inconclusive']} | {counts['skipped']} |"
        )
    if document["reasons"]:
        lines += ["", "Why:", *[f"- {reason}" for reason in document["reasons"]]]
    if document.get("actions"):
        lines += ["", "Actions:"]
        lines += [f"- {describe_action(action)}" for action in document["actions"]]
    if document.get("warnings"):
        lines += ["", "Warnings:", *[f"- {warning}" for warning in document["warnings"]]]
    if document.get("not_judged"):
        lines += ["", "Configured but not judged by this run:"]
        lines += [f"- {item['service'] or 'environment'}: {item['section']}" for item in document["not_judged"]]
    return "\n".join(lines) + "\n"
